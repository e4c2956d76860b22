/* Unit tests of render/peaks (memg's peak numbering, thinning, legend) and render/cli. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void add(struct peaks *ps, double t, size_t series, unsigned long seq, long long kb)
{
	char what[32];
	struct peak p = {t, series, seq, kb, kb, NULL, 0, 0};

	snprintf(what, sizeof what, "s%zu#%lu", series, seq);
	p.what = xstrdup(what);
	peaks_add(ps, &p);
}

Test(render_peaks, numbered_in_time_order)
{
	struct peaks ps = {NULL, 0, 0};

	add(&ps, 5.0, 0, 0, 300);
	add(&ps, 5.0, 0, 1, 300); /* same time, same thread: file order */
	add(&ps, 1.0, 1, 0, -300);
	add(&ps, 5.0, 1, 7, 900); /* same time, later thread */
	add(&ps, 3.0, 0, 9, 250);
	peaks_number(&ps);
	cr_assert_eq(ps.n, 5);
	cr_assert_str_eq(ps.v[0].what, "s1#0");
	cr_assert_str_eq(ps.v[1].what, "s0#9");
	cr_assert_str_eq(ps.v[2].what, "s0#0");
	cr_assert_str_eq(ps.v[3].what, "s0#1");
	cr_assert_str_eq(ps.v[4].what, "s1#7");
	for (size_t i = 0; i < ps.n; i++)
		cr_assert_eq(ps.v[i].mark, i + 1);
	peaks_free(&ps);
}

Test(render_peaks, legend_in_numeric_order)
{
	struct peaks ps = {NULL, 0, 0};
	const char *names[] = {"MainThread", "a\\x3ab"};
	char line[128];
	FILE *fp = tmpfile();
	struct tg_err err;

	for (int i = 11; i >= 0; i--)
		add(&ps, i, (size_t)i % 2, 0, 1000);
	peaks_number(&ps);
	cr_assert_eq(peaks_write_legend(&ps, names, fp, &err), 0);
	rewind(fp);
	for (int i = 0; i < 12; i++) {
		char want[128];
		snprintf(want, sizeof want, "%d: %s>s%d#0\n", i + 1, names[i % 2], i % 2);
		cr_assert_not_null(fgets(line, sizeof line, fp));
		cr_assert_str_eq(line, want); /* 1, 2, ..., 10, 11, 12: not 1, 10, 11, 12, 2 */
	}
	cr_assert_null(fgets(line, sizeof line, fp));
	fclose(fp);
	peaks_free(&ps);
}

Test(render_peaks, labels_thinned_per_thread)
{
	struct peaks ps = {NULL, 0, 0};

	add(&ps, 0, 0, 0, 300);	  /* first of thread 0: labelled */
	add(&ps, 10, 0, 1, 400);  /* 10 s, 100 KB away: not */
	add(&ps, 20, 0, 2, 1000); /* 700 KB from the last label: labelled */
	add(&ps, 30, 1, 0, 300);  /* first of thread 1: labelled */
	add(&ps, 81, 0, 3, 1000); /* 61 s after the last label: labelled */
	add(&ps, 85, 1, 1, 300);  /* 55 s: not */
	peaks_number(&ps);
	peaks_thin(&ps, 2, 60, 500);
	int want[] = {1, 0, 1, 1, 1, 0};
	for (size_t i = 0; i < ps.n; i++)
		cr_assert_eq(ps.v[i].labelled, want[i], "peak %zu", i + 1);
	peaks_free(&ps);
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
