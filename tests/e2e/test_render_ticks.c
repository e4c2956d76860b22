/* End-to-end test of memg's axes (issue 14, 3): on recordings of very different time spans
 * and memory ranges, and on a narrow --time-from/--time-to window far from the start, no
 * axis repeats a tick label (a 10 MB process whose RSS moved 200 KB once had twelve "10"
 * labels on its MB axis: the labels and the data were rounded to whole units) and no two x
 * labels touch.  The SVG is read by tests/e2e/test_render_check.py ticks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define T0 1700000000.0

struct tick_case {
	const char *what;
	double span;   /* s, from the first event to the last */
	double rss_mb; /* the process's RSS at the start */
	long rss_kb;   /* its growth over the span */
	long max_kb;   /* the thread's returns: 0 .. max_kb KB (below --peak: no peak labels) */
	const char *from, *to;
};

static const struct tick_case cases[] = {
    {"3 ms, a 10 MB process growing 200 KB", 0.003, 10, 200, 6, NULL, NULL},
    {"1.5 s, 1000 MB growing 100 KB", 1.5, 1000, 100, 2, NULL, NULL},
    {"100 s", 100, 50, 30000, 150, NULL, NULL},
    {"7100 s (still seconds)", 7100, 300, 900000, 150, NULL, NULL},
    {"3 h (minutes)", 3 * 3600.0, 300, 900000, 150, NULL, NULL},
    {"3 days (hours)", 3 * 86400.0, 3000, 9000000, 150, NULL, NULL},
    {"a 20 s window 5000 s in", 7100, 300, 900000, 150, "+5000", "+5020"},
    {"a 12 ms window 5 s in", 10, 300, 9000, 150, "+5", "+5.012"},
};

/* DIR/MainThread.mem and DIR/process.mem: n points over the span. */
static void write_recording(const char *dir, const struct tick_case *c)
{
	struct buf path = BUF_INIT, mem = BUF_INIT, proc = BUF_INIT;
	const int n = 4000;

	for (int i = 0; i < n; i++) {
		double t = T0 + c->span * i / (n - 1);
		buf_addf(&mem, "%.6f#/srv/app.py:%d:handle=>%ld\n", t, 10 + i % 7,
			 (long)(i % (c->max_kb + 1)) * 1024);
		buf_addf(&proc, "%.6f#%.0f\n", t,
			 c->rss_mb * 1048576.0 + (double)c->rss_kb * 1024.0 * i / (n - 1));
	}
	buf_addf(&path, "%s/MainThread.mem", dir);
	rrun_write(buf_cstr(&path), mem.data, mem.len);
	buf_reset(&path);
	buf_addf(&path, "%s/process.mem", dir);
	rrun_write(buf_cstr(&path), proc.data, proc.len);
	buf_free(&path);
	buf_free(&mem);
	buf_free(&proc);
}

static void check_case(const struct tick_case *c)
{
	char *rec = rrun_tmpdir(), *out = rrun_tmpdir();
	const char *args[12] = {"render", "memg", rec, "-o", out, "-q"};
	size_t n = 6;
	struct rrun r;
	struct buf svg = BUF_INIT;

	write_recording(rec, c);
	if (c->from) {
		args[n++] = "--time-from";
		args[n++] = c->from;
		args[n++] = "--time-to";
		args[n++] = c->to;
	}
	args[n] = NULL;
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s: exit %d: %s", c->what, r.status, buf_cstr(&r.err));
	rrun_free(&r);
	buf_addf(&svg, "%s/memg.svg", out);
	const char *check[] = {"ticks", buf_cstr(&svg), NULL};
	rrun_check(&r, check);
	cr_expect_eq(r.status, 0, "%s: %s%s", c->what, buf_cstr(&r.err), buf_cstr(&r.out));
	/* every axis has labels to judge */
	cr_expect(strstr(buf_cstr(&r.out), "x ") && strstr(buf_cstr(&r.out), "y ") &&
		      strstr(buf_cstr(&r.out), "y2 "),
		  "%s: %s", c->what, buf_cstr(&r.out));
	rrun_free(&r);
	buf_free(&svg);
	rrun_rmtree(rec);
	rrun_rmtree(out);
	free(rec);
	free(out);
}

Test(render_ticks, no_axis_repeats_a_label_and_x_labels_never_touch, .timeout = 120)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
}
