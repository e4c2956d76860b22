/* Unit tests of render/peaks (memg's peak numbering, thinning, legend) and render/cli. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "render/cli.h"
#include "render/peaks.h"

Test(render_peaks, kb_floor_rounds_down)
{
	cr_assert_eq(kb_floor(0), 0);
	cr_assert_eq(kb_floor(1023), 0);
	cr_assert_eq(kb_floor(1024), 1);
	cr_assert_eq(kb_floor(2049), 2);
	cr_assert_eq(kb_floor(-1), -1);
	cr_assert_eq(kb_floor(-1024), -1);
	cr_assert_eq(kb_floor(-1025), -2);
	cr_assert_eq(kb_floor(-205824), -201);
}

struct got {
	char what[64][32];
	unsigned long mark[64];
	int labelled[64];
	double time[64];
	size_t n;
};

/* An unlinked temporary file. */
static int spill(void)
{
	char path[] = "/tmp/tg-peaks-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

static void add(struct peaks *ps, double t, size_t series, unsigned long seq, long long kb)
{
	char what[32];
	struct tg_err err;
	int n = snprintf(what, sizeof what, "s%zu#%lu", series, seq);
	struct peak p = {t, series, seq, kb, kb, what, (size_t)n, 0, 0};

	cr_assert_eq(peaks_add(ps, &p, &err), 0, "%s", err.msg);
}

static int collect(void *ctx, const struct peak *p, struct tg_err *err)
{
	struct got *g = ctx;

	(void)err;
	cr_assert_lt(g->n, 64);
	snprintf(g->what[g->n], sizeof g->what[0], "%.*s", (int)p->what_len, p->what);
	g->mark[g->n] = p->mark;
	g->labelled[g->n] = p->labelled;
	g->time[g->n++] = p->time;
	return 0;
}

Test(render_peaks, numbered_in_time_order)
{
	int fd = spill();
	struct peaks *ps = peaks_new(fd, 60, 500);
	struct got g = {.n = 0};
	struct tg_err err;

	add(ps, 3.0, 0, 0, 250);
	add(ps, 5.0, 0, 1, 300);
	add(ps, 5.0, 0, 2, 300); /* same time, same thread: file order */
	add(ps, 1.0, 1, 0, -300);
	add(ps, 5.0, 1, 7, 900); /* same time, later thread */
	cr_assert_eq(peaks_count(ps), 5);
	cr_assert_eq(peaks_merge(ps, collect, &g, &err), 0, "%s", err.msg);
	cr_assert_eq(g.n, 5);
	const char *want[] = {"s1#0", "s0#0", "s0#1", "s0#2", "s1#7"};
	for (size_t i = 0; i < g.n; i++) {
		cr_assert_str_eq(g.what[i], want[i]);
		cr_assert_eq(g.mark[i], i + 1);
	}
	peaks_free(ps);
	close(fd);
}

Test(render_peaks, labels_thinned_per_thread)
{
	int fd = spill();
	struct peaks *ps = peaks_new(fd, 60, 500);
	struct got g = {.n = 0};
	struct tg_err err;

	add(ps, 0, 0, 0, 300);	 /* first of thread 0: labelled */
	add(ps, 10, 0, 1, 400);	 /* 10 s, 100 KB away: not */
	add(ps, 20, 0, 2, 1000); /* 700 KB from the last label: labelled */
	add(ps, 81, 0, 3, 1000); /* 61 s after the last label: labelled */
	add(ps, 30, 1, 0, 300);	 /* first of thread 1: labelled */
	add(ps, 85, 1, 1, 300);	 /* 55 s: not */
	cr_assert_eq(peaks_merge(ps, collect, &g, &err), 0);
	/* in mark order: t = 0, 10, 20, 30, 81, 85 */
	int want[] = {1, 0, 1, 1, 1, 0};
	for (size_t i = 0; i < g.n; i++)
		cr_assert_eq(g.labelled[i], want[i], "peak %zu", i + 1);
	peaks_free(ps);
	close(fd);
}

struct order_check {
	double last;
	unsigned long n;
};

static int check_order(void *ctx, const struct peak *p, struct tg_err *err)
{
	struct order_check *c = ctx;

	(void)err;
	cr_assert_geq(p->time, c->last);
	cr_assert_eq(p->mark, ++c->n);
	c->last = p->time;
	return 0;
}

/* Many peaks, many threads: the merge needs no more than a buffer per thread. */
Test(render_peaks, large_merge_in_order)
{
	int fd = spill();
	struct peaks *ps = peaks_new(fd, 60, 500);
	struct order_check c = {-1, 0};
	struct tg_err err;

	for (size_t s = 0; s < 50; s++)
		for (unsigned long i = 0; i < 4000; i++)
			add(ps, (double)i * 0.37 + (double)s * 0.011, s, i, 1000);
	cr_assert_eq(peaks_merge(ps, check_order, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(c.n, 200000);
	peaks_free(ps);
	close(fd);
}

Test(render_cli, time_arguments)
{
	struct cli_time t;
	struct tg_err err;

	cr_assert_eq(cli_time("--time-from", "1394031433.5", &t, &err), 0);
	cr_assert(!t.relative);
	cr_assert_float_eq(cli_time_resolve(&t, 0), 1394031433.5, 1e-6);
	cr_assert_eq(cli_time("--time-from", "+30", &t, &err), 0);
	cr_assert_float_eq(cli_time_resolve(&t, 1000.25), 1030.25, 1e-9);
	setenv("TZ", "UTC", 1);
	tzset();
	cr_assert_eq(cli_time("--time-to", "2014-03-05 14:57:13", &t, &err), 0);
	cr_assert_float_eq(cli_time_resolve(&t, 0), 1394031433.0, 1e-6);
	cr_assert_eq(cli_time("--time-to", "2014-03-05T14:57:13.25", &t, &err), 0);
	cr_assert_float_eq(cli_time_resolve(&t, 0), 1394031433.25, 1e-6);
	cr_assert_eq(cli_time("--time-to", "yesterday", &t, &err), -1);
	cr_assert_eq(err.code, TG_E_USAGE);
	cr_assert_not_null(strstr(err.msg, "--time-to"));
	cr_assert_eq(cli_time("--time-to", "nan", &t, &err), -1);
	cr_assert_eq(cli_time("--time-to", "+-3", &t, &err), -1);
}
