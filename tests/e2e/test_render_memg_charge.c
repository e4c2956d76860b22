/* End-to-end tests of memg's default lines (issue 14, 3): the memory charged to each group
 * of threads so far, from process.charge.  Threads whose names differ only by numbers are
 * summed into one line (200 request threads of 150 KB each: one line rising to 30000 KB),
 * a second run's totals continue the first's, the --series largest groups are drawn and the
 * rest summed into one "other threads (K)" line; a recording without process.charge (the
 * original ThreadGraph's, an older tgattach's) gets the change at each return, and says so. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define T0 1700000000.0

static void touch_stack(const char *dir, const char *name, double t)
{
	struct buf path = BUF_INIT, text = BUF_INIT;

	buf_addf(&path, "%s/%s.stack", dir, name);
	buf_addf(&text, "%.6f#/srv/app.py:1:run\n", t);
	rrun_write(buf_cstr(&path), text.data, text.len);
	buf_free(&path);
	buf_free(&text);
}

struct charge_line {
	double t;
	long bytes;
	char name[64];
};

static int by_time(const void *a, const void *b)
{
	const struct charge_line *x = a, *y = b;
	return (x->t > y->t) - (x->t < y->t);
}

/* 200 request threads charged 150 KB each, one every 50 ms; workers a..o charged up to
 * (w + 1) MB in 10 steps; MainThread 10 KB; lines in time order, as tgattach writes
 * them; then a second run: worker-o 5000 KB more, a line naming no thread file, a line
 * earlier than the one before it, and malformed lines. */
static char *charge_recording(int with_charge)
{
	char *dir = rrun_tmpdir();
	struct buf text = BUF_INIT, path = BUF_INIT;
	struct charge_line *l = calloc(400, sizeof *l);
	size_t n = 0;

	cr_assert_not_null(l);
	for (int i = 0; i < 200; i++, n++) {
		snprintf(l[n].name, sizeof l[n].name, "Thread-%d (process_request_thread)",
			 1000 + i);
		touch_stack(dir, l[n].name, T0 + i * 0.05);
		l[n].t = T0 + i * 0.05 + 0.001;
		l[n].bytes = 150 * 1024;
	}
	touch_stack(dir, "MainThread", T0);
	l[n++] = (struct charge_line){T0 + 1, 10 * 1024, "MainThread"};
	for (int w = 0; w < 15; w++) {
		char name[64];
		snprintf(name, sizeof name, "worker-%c", 'a' + w);
		touch_stack(dir, name, T0);
		for (int k = 1; k <= 10; k++, n++) {
			l[n].t = T0 + k;
			l[n].bytes = (w + 1) * 1024 * 1024 / 10 * k;
			snprintf(l[n].name, sizeof l[n].name, "%s", name);
		}
	}
	qsort(l, n, sizeof *l, by_time);
	buf_addstr(&text, "# a run: TIME#BYTES#THREAD\n");
	for (size_t i = 0; i < n; i++)
		buf_addf(&text, "%.6f#%ld#%s\n", l[i].t, l[i].bytes, l[i].name);
	buf_addstr(&text, "# a run: TIME#BYTES#THREAD\n");
	buf_addf(&text, "%.6f#%d#worker-o\n", T0 + 12, 5000 * 1024);
	buf_addf(&text, "%.6f#%d#gone-thread\n", T0 + 12, 1024); /* no thread file */
	buf_addf(&text, "%.6f#%d#MainThread\n", T0 + 11, 0);	 /* back in time */
	/* malformed: skipped and counted, never drawn */
	buf_addstr(&text, "garbage\n1700000001#2\nnan#5#MainThread\n"
			  "1700000001#99999999999999999999#MainThread\n"
			  "1700000001#1#\n-5#1#MainThread\n1700000001#0x10#MainThread\n");
	if (with_charge) {
		buf_addf(&path, "%s/process.charge", dir);
		rrun_write(buf_cstr(&path), text.data, text.len);
	}
	buf_reset(&path);
	buf_reset(&text);
	buf_addf(&path, "%s/process.mem", dir);
	buf_addf(&text, "%.6f#%d\n%.6f#%d\n", T0, 50 << 20, T0 + 12, 90 << 20);
	rrun_write(buf_cstr(&path), text.data, text.len);
	free(l);
	buf_free(&text);
	buf_free(&path);
	return dir;
}

static void render(const char *rec, const char *out, const char *extra, struct rrun *r)
{
	const char *args[] = {"render", "memg", rec, "-o", out, extra, NULL};
	rrun_tool(r, NULL, args);
	cr_assert_eq(r->status, 0, "exit %d: %s", r->status, buf_cstr(&r->err));
}

/* Runs the SVG checker (svgplots or ticks) on OUT/memg.svg; its output in *got. */
static void check(const char *what, const char *out, struct buf *got)
{
	struct buf svg = BUF_INIT;
	struct rrun r;

	buf_addf(&svg, "%s/memg.svg", out);
	const char *args[] = {what, buf_cstr(&svg), NULL};
	rrun_check(&r, args);
	cr_assert_eq(r.status, 0, "%s: %s", what, buf_cstr(&r.err));
	buf_reset(got);
	buf_addstr(got, buf_cstr(&r.out));
	rrun_free(&r);
	buf_free(&svg);
}

/* OUT/memg.svg holds text. */
static int svg_has(const char *out, const char *text)
{
	struct buf path = BUF_INIT, svg = BUF_INIT;

	buf_addf(&path, "%s/memg.svg", out);
	rrun_read(buf_cstr(&path), &svg);
	int has = strstr(buf_cstr(&svg), text) != NULL;
	buf_free(&path);
	buf_free(&svg);
	return has;
}

static void drop(char *rec, char *out)
{
	rrun_rmtree(rec);
	rrun_rmtree(out);
	free(rec);
	free(out);
}

Test(render_memg_charge, groups_summed_runs_continued_rest_in_other, .timeout = 60)
{
	char *rec = charge_recording(1), *out = rrun_tmpdir();
	struct buf got = BUF_INIT;
	struct rrun r;

	render(rec, out, NULL, &r);
	cr_assert_not_null(strstr(buf_cstr(&r.err), "1 line of process.charge names no thread"),
			   "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "7 malformed lines skipped"), "%s",
			   buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "1 line of process.charge earlier than"), "%s",
			   buf_cstr(&r.err));
	rrun_free(&r);
	check("svgplots", out, &got);
	/* ranked by what they reached: the requests (30000 KB), worker-o (15 MB + 5000 KB),
	 * then worker-n ... worker-e; worker-d..a and MainThread summed */
	const char *k = buf_cstr(&got);
	cr_assert(strncmp(k,
			  "Thread-N (process_request_thread) (200 threads)\nworker-o\nworker-n\n",
			  66) == 0,
		  "key:\n%s", k);
	cr_assert_not_null(strstr(k, "\nworker-e\nother threads (5)\n"), "key:\n%s", k);
	cr_assert_null(strstr(k, "worker-d"), "key:\n%s", k);
	check("ticks", out, &got);
	double lo, hi;
	const char *y = strstr(buf_cstr(&got), "\ny ");
	cr_assert(y && sscanf(y, "\ny %*d %lf %lf", &lo, &hi) == 2, "%s", buf_cstr(&got));
	/* the y axis reaches the sums (KB), not one thread's 150 */
	cr_assert(hi >= 30000 && hi <= 40000 && lo <= 0, "y axis %g .. %g", lo, hi);
	buf_free(&got);
	drop(rec, out);
}

Test(render_memg_charge, without_process_charge_the_change_at_each_return, .timeout = 60)
{
	char *rec = charge_recording(0), *out = rrun_tmpdir();
	struct buf mem = BUF_INIT, path = BUF_INIT;
	struct rrun r;

	buf_addf(&path, "%s/MainThread.mem", rec);
	buf_addf(&mem, "%.6f#/srv/app.py:1:run=>%d\n", T0 + 1, 300 * 1024);
	rrun_write(buf_cstr(&path), mem.data, mem.len);
	render(rec, out, NULL, &r);
	cr_assert_not_null(strstr(buf_cstr(&r.err), "no process.charge"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	cr_assert(svg_has(out, "memory change at each return"));
	buf_free(&mem);
	buf_free(&path);
	drop(rec, out);
}

Test(render_memg_charge, spikes_on_request, .timeout = 60)
{
	char *rec = charge_recording(1), *out = rrun_tmpdir();
	struct rrun r;

	render(rec, out, "--spikes", &r);
	rrun_free(&r);
	cr_assert(svg_has(out, "memory change at each return"));
	render(rec, out, "-q", &r);
	rrun_free(&r);
	cr_assert(svg_has(out, "memory charged to the threads so far"));
	drop(rec, out);
}

/* The default graph of 216 threads, kept in build/render-look for a person to look at:
 * one line for the 200 requests, eleven workers, one grey "other threads (5)" line. */
Test(render_memg_charge, png_to_look_at, .timeout = 60)
{
	char *rec = charge_recording(1), *out = rrun_tmpdir();
	struct buf png = BUF_INIT;
	struct rrun r;

	const char *args[] = {"render", "memg", rec, "-o", out, "--format", "png", "-q", NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	buf_addf(&png, "%s/memg.png", out);
	rrun_assert_png(buf_cstr(&png), 1920, 1080);
	rrun_keep_for_looking(buf_cstr(&png), "memg-charge-216-threads.png");
	rrun_free(&r);
	buf_free(&png);
	drop(rec, out);
}

/* DIR/PID of a tree: meta (parent=, when given), process.mem, a .stack per thread, and
 * process.charge: thread k of `names` charged (k + 1) * 100 KB more each second at
 * offset + s, for 10 s. */
static void tree_proc(const char *dir, long pid, long parent, const char *const *names,
		      double offset)
{
	struct buf path = BUF_INIT, text = BUF_INIT;

	buf_addf(&path, "%s/%ld", dir, pid);
	cr_assert_eq(mkdir(buf_cstr(&path), 0755), 0);
	buf_addstr(&path, "/meta");
	buf_addf(&text, "run=1\npid=%ld\n", pid);
	if (parent)
		buf_addf(&text, "parent=%ld\n", parent);
	rrun_write(buf_cstr(&path), text.data, text.len);
	buf_reset(&path);
	buf_reset(&text);
	buf_addf(&path, "%s/%ld/process.mem", dir, pid);
	buf_addf(&text, "%.6f#%d\n%.6f#%d\n", T0, 50 << 20, T0 + 11, 60 << 20);
	rrun_write(buf_cstr(&path), text.data, text.len);
	buf_reset(&path);
	buf_reset(&text);
	buf_addf(&path, "%s/%ld", dir, pid);
	buf_addstr(&text, "# a run: TIME#BYTES#THREAD\n");
	for (int s = 1; s <= 10; s++)
		for (int k = 0; names[k]; k++)
			buf_addf(&text, "%.6f#%d#%s\n", T0 + s + offset, (k + 1) * 100 * 1024 * s,
				 names[k]);
	for (int k = 0; names[k]; k++)
		touch_stack(buf_cstr(&path), names[k], T0);
	buf_addstr(&path, "/process.charge");
	rrun_write(buf_cstr(&path), text.data, text.len);
	buf_free(&path);
	buf_free(&text);
}

/* In a tree each process has its charge file; the summed "other threads" line takes
 * threads of both, so the files are read merged by time: the line never goes back. */
Test(render_memg_charge, a_tree_is_merged_by_time, .timeout = 60)
{
	char *rec = rrun_tmpdir(), *out = rrun_tmpdir();
	const char *parent[] = {"alpha", "beta", "gamma", NULL};
	const char *child[] = {"delta", "epsilon", NULL};
	struct buf svg = BUF_INIT;
	struct rrun r;

	tree_proc(rec, 4100, 0, parent, 0);
	tree_proc(rec, 4200, 4100, child, 0.5);
	const char *args[] = {"render", "memg", rec, "-o", out, "--series", "1", "-q", NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	buf_addf(&svg, "%s/memg.svg", out);
	/* the largest group is 4100:gamma (3 MB); the other four threads, of both, summed */
	const char *mono[] = {"monotonic", buf_cstr(&svg), "other threads (4)", NULL};
	rrun_check(&r, mono);
	cr_assert_eq(r.status, 0, "%s%s", buf_cstr(&r.err), buf_cstr(&r.out));
	rrun_free(&r);
	buf_free(&svg);
	drop(rec, out);
}
