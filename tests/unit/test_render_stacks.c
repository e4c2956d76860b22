/* Unit tests of render/frames, render/calltree and render/replay: call stacks rebuilt
 * from THREAD.stack and THREAD.mem, with each call's own time and memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/calltree.h"
#include "render/frames.h"
#include "render/replay.h"

static char *write_temp(const char *data)
{
	char *path = strdup("/tmp/tg-test-stacks-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	return path;
}

Test(render_frames, interned_once_with_nul_bytes)
{
	struct frames *fr = frames_new();
	uint32_t a = frames_intern(fr, "f.py", 4, "g", 1, 3);
	uint32_t b = frames_intern(fr, "f.py", 4, "g", 1, 4);
	uint32_t c = frames_intern(fr, "f\0py", 4, "g", 1, 3);

	cr_assert_eq(frames_intern(fr, "f.py", 4, "g", 1, 3), a);
	cr_assert_neq(a, b);
	cr_assert_neq(a, c);
	for (int i = 0; i < 5000; i++) {
		char name[16];
		int n = snprintf(name, sizeof name, "fn%d", i);
		cr_assert_eq(frames_intern(fr, "x", 1, name, (size_t)n, 0), (uint32_t)(3 + i));
	}
	cr_assert_eq(frames_intern(fr, "x", 1, "fn77", 4, 0), 80);
	cr_assert_eq(frames_count(fr), 5003);
	cr_assert_eq(frames_get(fr, c)->file_len, 4);
	cr_assert_eq(memcmp(frames_get(fr, c)->file, "f\0py", 4), 0);
	frames_free(fr);
}

struct walked {
	char text[64][64];
	size_t n;
};

static int collect(void *ctx, const uint32_t *frames, size_t n, const double *w, struct tg_err *err)
{
	struct walked *x = ctx;
	int len = 0;

	(void)err;
	for (size_t i = 0; i < n; i++)
		len += snprintf(x->text[x->n] + len, sizeof x->text[0] - (size_t)len, "%s%u",
				i ? ";" : "", frames[i]);
	snprintf(x->text[x->n] + len, sizeof x->text[0] - (size_t)len, " %g %g", w[0], w[1]);
	x->n++;
	return 0;
}

Test(render_calltree, depth_first_in_order_of_first_sight)
{
	struct calltree *t = calltree_new();
	struct walked x = {.n = 0};
	struct tg_err err;
	uint32_t a = calltree_child(t, CALLTREE_NONE, 1);
	uint32_t ab = calltree_child(t, a, 2);
	uint32_t ac = calltree_child(t, a, 3);
	uint32_t abd = calltree_child(t, ab, 4);
	uint32_t e = calltree_child(t, CALLTREE_NONE, 5);

	cr_assert_eq(calltree_child(t, a, 2), ab);
	calltree_add(t, a, 0, 1);
	calltree_add(t, abd, 0, 2);
	calltree_add(t, ac, 0, 3);
	calltree_add(t, e, 0, 4);
	calltree_add(t, abd, 0, 0.5);
	calltree_add(t, abd, 1, -7);
	calltree_add(t, ab, 1, 9);
	calltree_add(t, ab, 1, -9); /* weights that cancel out: not walked */
	cr_assert_eq(calltree_walk(t, collect, &x, &err), 0);
	cr_assert_eq(x.n, 4); /* ab has no weight of its own */
	cr_assert_str_eq(x.text[0], "1 1 0");
	cr_assert_str_eq(x.text[1], "1;2;4 2.5 -7");
	cr_assert_str_eq(x.text[2], "1;3 3 0");
	cr_assert_str_eq(x.text[3], "5 4 0");
	cr_assert_eq(calltree_size(t), 5);
	calltree_free(t);
}

/* a (1.0 .. 2.0, +300) calls b (1.1 .. 1.4, +100) twice-nested c (1.2 .. 1.3, +40); then
 * a second b (1.5 .. 1.6, -20); d at 3.0 has no return. */
Test(render_replay, self_time_and_memory)
{
	char *stack = write_temp("1.0#m.py:1:a\n"
				 " 1.1#m.py:5:b\n"
				 "  1.2#m.py:9:c\n"
				 " 1.5#m.py:5:b\n"
				 "3.0#m.py:20:d\n");
	char *mem = write_temp("1.3#m.py:10:c=>40\n"
			       "1.4#m.py:7:b=>100\n"
			       "1.6#m.py:7:b=>-20\n"
			       "2.0#m.py:3:a=>300\n");
	struct frames *fr = frames_new();
	struct tg_err err;
	struct replay *r = replay_open(mem, stack, fr, PAIR_STRICT, &err);
	struct replay_event ev;
	int opens = 0, closes = 0, rc;
	double self_a = -1, self_b1 = -1;
	long long sd_a = 0, sd_b1 = 0, sd_c = 0;

	cr_assert_not_null(r, "%s", err.msg);
	while ((rc = replay_next(r, &ev, &err)) == 1) {
		const struct frame *f = frames_get(fr, ev.frame);
		if (ev.kind == PAIR_OPEN) {
			opens++;
			continue;
		}
		closes++;
		if (strcmp(f->func, "a") == 0) {
			self_a = ev.self_time;
			sd_a = ev.self_delta;
			cr_assert_float_eq(ev.duration, 1.0, 1e-9);
		} else if (strcmp(f->func, "b") == 0 && self_b1 < 0) {
			self_b1 = ev.self_time;
			sd_b1 = ev.self_delta;
			cr_assert_eq(f->line, 5);
		} else if (strcmp(f->func, "c") == 0) {
			sd_c = ev.self_delta;
		} else if (strcmp(f->func, "d") == 0) {
			cr_assert(!ev.has_return);
			cr_assert_eq(ev.delta, 0);
		}
	}
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_eq(opens, 5);
	cr_assert_eq(closes, 5);
	cr_assert_float_eq(self_a, 1.0 - 0.3 - 0.1, 1e-9);
	cr_assert_float_eq(self_b1, 0.3 - 0.1, 1e-9);
	cr_assert_eq(sd_c, 40);
	cr_assert_eq(sd_b1, 60);
	cr_assert_eq(sd_a, 300 - 100 + 20);
	cr_assert_float_eq(replay_last_time(r), 3.0, 1e-9);
	replay_close(r);
	frames_free(fr);
	unlink(stack);
	unlink(mem);
	free(stack);
	free(mem);
}

/* Recursion: the inner call of f is "nested", so NET can count f once. */
Test(render_replay, recursion_is_marked_nested)
{
	char *stack = write_temp("1#r.py:1:f\n 2#r.py:1:f\n  3#r.py:1:f\n");
	char *mem = write_temp("4#r.py:2:f=>10\n5#r.py:2:f=>30\n6#r.py:2:f=>70\n");
	struct frames *fr = frames_new();
	struct tg_err err;
	struct replay *r = replay_open(mem, stack, fr, 0, &err);
	struct replay_event ev;
	int nested = 0, outer = 0;

	cr_assert_not_null(r);
	while (replay_next(r, &ev, &err) == 1) {
		if (ev.kind != PAIR_CLOSE)
			continue;
		if (ev.nested) {
			nested++;
			continue;
		}
		outer++;
		cr_assert_eq(ev.delta, 70);
	}
	cr_assert_eq(nested, 2);
	cr_assert_eq(outer, 1);
	cr_assert_eq(frames_count(fr), 1);
	replay_close(r);
	frames_free(fr);
	unlink(stack);
	unlink(mem);
	free(stack);
	free(mem);
}

/* Times going backwards are raised so that every call lies inside its caller. */
Test(render_replay, times_made_monotonic)
{
	char *stack = write_temp("5.0#t.py:1:a\n 4.0#t.py:2:b\n");
	char *mem = write_temp("4.5#t.py:3:b=>0\n6.0#t.py:4:a=>0\n");
	struct frames *fr = frames_new();
	struct tg_err err;
	struct replay *r = replay_open(mem, stack, fr, 0, &err);
	struct replay_event ev;
	double last = 0;

	cr_assert_not_null(r);
	while (replay_next(r, &ev, &err) == 1) {
		cr_assert_geq(ev.at, last);
		cr_assert_geq(ev.self_time, 0);
		last = ev.at;
	}
	replay_close(r);
	frames_free(fr);
	unlink(stack);
	unlink(mem);
	free(stack);
	free(mem);
}
