/* End-to-end tests of `render memg` on recordings with many threads (a server with a
 * thread per request): threads whose names differ only by numbers are one key entry with
 * their count, at most --series entries in colour by their largest value, the rest one
 * grey "other threads (K)" entry, so the key stays short whatever the threads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

/* DIR/NAME.mem with `n` returns of `kb` KB each, one a second from t0. */
static void mem_file(const char *dir, const char *name, int n, long kb, double t0)
{
	struct buf path = BUF_INIT, text = BUF_INIT;

	buf_addf(&path, "%s/%s.mem", dir, name);
	for (int i = 0; i < n; i++)
		buf_addf(&text, "%.6f#/srv/app.py:%d:handle=>%ld\n", t0 + i, 10 + i, kb * 1024);
	rrun_write(buf_cstr(&path), text.data, text.len);
	buf_free(&path);
	buf_free(&text);
}

/* 200 request threads (largest values), MainThread (smallest), 15 workers whose names
 * differ by letters (so each is its own group) with growing values. */
static char *many_thread_recording(void)
{
	char *dir = rrun_tmpdir();
	struct buf name = BUF_INIT;

	for (int i = 0; i < 200; i++) {
		buf_reset(&name);
		buf_addf(&name, "Thread-%d (process_request_thread)", 1000 + i);
		mem_file(dir, buf_cstr(&name), 3, 20000 + i, 1700000000.0 + i * 0.05);
	}
	mem_file(dir, "MainThread", 5, 10, 1700000000.0);
	for (int w = 0; w < 15; w++) {
		buf_reset(&name);
		buf_addf(&name, "worker-%c", 'a' + w);
		mem_file(dir, buf_cstr(&name), 4, 1000 * (w + 1), 1700000001.0 + w);
	}
	buf_free(&name);
	return dir;
}

/* The key entries of an SVG of gnuplot's: the titles of plots that have one. */
static size_t key_entries(const char *svg, struct buf *list)
{
	size_t n = 0;

	for (const char *p = svg; (p = strstr(p, "<g id=\"gnuplot_plot_")) != NULL; p++) {
		const char *t = strstr(p, "<title>"), *e = t ? strstr(t, "</title>") : NULL;
		cr_assert(t && e);
		t += 7;
		if (strncmp(t, "gnuplot_plot_", 13) == 0)
			continue;
		buf_add(list, t, (size_t)(e - t));
		buf_addch(list, '\n');
		n++;
	}
	return n;
}

static void render(const char *rec, const char *out, const char *const *extra, struct buf *svg)
{
	const char *args[16] = {"render", "memg", rec, "-o", out};
	size_t n = 5;
	struct rrun r;
	struct buf path = BUF_INIT;

	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, buf_cstr(&r.err));
	buf_addf(&path, "%s/memg.svg", out);
	rrun_read(buf_cstr(&path), svg);
	rrun_free(&r);
	buf_free(&path);
}

Test(render_memg_many, counter_names_are_one_series_and_the_key_stays_short)
{
	char *rec = many_thread_recording(), *out = rrun_tmpdir();
	struct buf svg = BUF_INIT, keys = BUF_INIT;

	render(rec, out, NULL, &svg);
	size_t n = key_entries(buf_cstr(&svg), &keys);
	/* 17 groups: the requests (largest), 11 of the workers, then "other threads" for the
	 * 4 smallest workers and MainThread */
	cr_assert_eq(n, 13, "key entries:\n%s", buf_cstr(&keys));
	const char *k = buf_cstr(&keys);
	cr_assert(strncmp(k, "Thread-N (process_request_thread) (200 threads)\n", 48) == 0,
		  "the largest group first:\n%s", k);
	cr_assert_not_null(strstr(k, "\nworker-o\n"), "%s", k);
	cr_assert_null(strstr(k, "\nworker-a\n"), "the smallest worker is in 'other':\n%s", k);
	cr_assert_not_null(strstr(k, "\nother threads (5)\n"), "%s", k);
	cr_assert_null(strstr(k, "MainThread"), "%s", k);

	/* --series 3: the requests and the two largest workers; the other 14 threads grey */
	const char *three[] = {"--series", "3", NULL};
	buf_reset(&svg);
	buf_reset(&keys);
	render(rec, out, three, &svg);
	cr_assert_eq(key_entries(buf_cstr(&svg), &keys), 4, "%s", buf_cstr(&keys));
	cr_assert_not_null(strstr(buf_cstr(&keys), "\nother threads (14)\n"), "%s",
			   buf_cstr(&keys));
	buf_free(&svg);
	buf_free(&keys);
	rrun_rmtree(rec);
	rrun_rmtree(out);
	free(rec);
	free(out);
}

Test(render_memg_many, png_to_look_at)
{
	char *rec = many_thread_recording(), *out = rrun_tmpdir();
	struct buf png = BUF_INIT;
	struct rrun r;

	const char *args[] = {"render", "memg", rec, "-o", out, "--format", "png", NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	buf_addf(&png, "%s/memg.png", out);
	rrun_assert_png(buf_cstr(&png), 1920, 1080);
	rrun_keep_for_looking(buf_cstr(&png), "memg-216-threads.png");
	rrun_free(&r);
	buf_free(&png);
	rrun_rmtree(rec);
	rrun_rmtree(out);
	free(rec);
	free(out);
}

Test(render_memg_many, series_option_checked)
{
	const char *bad[][2] = {{"--series", "0"}, {"--series", "x"}, {"--series", "1001"}};

	for (size_t i = 0; i < 3; i++) {
		struct rrun r;
		const char *args[] = {"render",	 "memg",    RENDER_FIXTURES "/many-threads/6262",
				      bad[i][0], bad[i][1], NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 2, "%s %s: exit %d", bad[i][0], bad[i][1], r.status);
		cr_assert_not_null(strstr(buf_cstr(&r.err), "--series"));
		rrun_free(&r);
	}
}

static size_t count_of(const char *s, const char *what)
{
	size_t n = 0;

	for (; (s = strstr(s, what)) != NULL; s += strlen(what))
		n++;
	return n;
}

/* Runs `render SUB REC [-o OUT] [-q]` (top writes to standard output). */
static void run_sub(const char *sub, const char *rec, const char *out, int quiet, struct rrun *r)
{
	const char *args[8] = {"render", sub, rec};
	size_t n = 3;

	if (strcmp(sub, "top") != 0) {
		args[n++] = "-o";
		args[n++] = out;
	}
	if (quiet)
		args[n++] = "-q";
	args[n] = NULL;
	rrun_tool(r, NULL, args);
}

/* Progress names the first 20 threads, then says how many more; -q silences it (every
 * render subcommand), but not an error. */
Test(render_memg_many, progress_summarised_and_quiet)
{
	char *rec = many_thread_recording();
	static const char *const subs[] = {"top", "collapsed", "speedscope", "memg", "pprof"};

	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		struct rrun r, q;
		char *dir = rrun_tmpdir();
		struct buf out = BUF_INIT;
		/* memg writes into a directory, the exports to a file */
		buf_addf(&out, strcmp(subs[i], "memg") == 0 ? "%s" : "%s/x", dir);
		run_sub(subs[i], rec, buf_cstr(&out), 0, &r);
		run_sub(subs[i], rec, buf_cstr(&out), 1, &q);
		cr_assert_eq(q.status, r.status, "%s -q: exit %d, without %d", subs[i], q.status,
			     r.status);
		/* collapsed, speedscope and pprof need .stack files: none here, they refuse */
		if (strcmp(subs[i], "top") == 0 || strcmp(subs[i], "memg") == 0) {
			cr_assert_eq(r.status, 0, "%s: %s", subs[i], buf_cstr(&r.err));
			cr_assert_eq(count_of(buf_cstr(&r.err), "Processing data for thread "), 20,
				     "%s:\n%s", subs[i], buf_cstr(&r.err));
			cr_assert_eq(
			    count_of(buf_cstr(&r.err), "Processing data for 196 more threads\n"), 1,
			    "%s", subs[i]);
			cr_assert_eq(q.err.len, 0, "%s -q said: %s", subs[i], buf_cstr(&q.err));
		} else {
			cr_assert_neq(r.status, 0, "%s", subs[i]);
			cr_assert_not_null(strstr(buf_cstr(&q.err), ".stack"),
					   "%s -q: the error is still shown: '%s'", subs[i],
					   buf_cstr(&q.err));
		}
		rrun_free(&r);
		rrun_free(&q);
		buf_free(&out);
		rrun_rmtree(dir);
		free(dir);
	}
	rrun_rmtree(rec);
	free(rec);
}
