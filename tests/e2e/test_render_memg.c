/* End-to-end tests of `tgattach render memg` (and the `render` dispatcher): the real binary,
 * real recordings, real gnuplot and xmllint. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/escape.h"
#include "tests/e2e/test_render_run.h"

/* ---- the legend, computed here from the .mem files, independently of render/ ---- */

struct xpeak {
	double t;
	size_t rank; /* of the thread, in the renderer's documented order */
	size_t idx;  /* line order in its file */
	char *text;  /* legend text after "THREAD>" */
	size_t thread;
};

struct xthread {
	struct buf name;
	char *path;
};

static int by_thread_name(const void *a, const void *b)
{
	const struct xthread *x = a, *y = b;
	int c = strverscmp(buf_cstr(&x->name), buf_cstr(&y->name));

	return c ? c : strcmp(x->path, y->path);
}

static int by_time_rank(const void *a, const void *b)
{
	const struct xpeak *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The last ":<digits>:" splits FILE:LINE:FUNC. */
static int split_frame(const char *s, size_t len, size_t *c1, size_t *c2)
{
	for (size_t i = len; i-- > 0;) {
		size_t j = i;
		if (s[i] != ':')
			continue;
		while (j > 0 && s[j - 1] >= '0' && s[j - 1] <= '9')
			j--;
		if (j < i && j > 0 && s[j - 1] == ':') {
			*c1 = j - 1;
			*c2 = i;
			return 0;
		}
	}
	return -1;
}

static void canonical(struct buf *out, const char *s, size_t len)
{
	struct buf raw = BUF_INIT;

	tg_unescape_field(&raw, s, len);
	tg_escape_field(out, buf_cstr(&raw), raw.len);
	buf_free(&raw);
}

/* Appends the peaks of one .mem file; returns the time of its first line (or HUGE_VAL). */
static double scan_mem(const char *path, size_t thread, long long peak_kb, double from, double to,
		       struct xpeak **v, size_t *n)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, idx = 0;
	ssize_t len;
	double first = HUGE_VAL;

	cr_assert_not_null(fp, "%s", path);
	while ((len = getline(&line, &cap, fp)) > 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *hash = strchr(line, '#');
		if (!hash)
			continue;
		double t = strtod(line, NULL);
		if (t < first)
			first = t;
		char *arrow = NULL;
		for (char *p = strstr(hash, "=>"); p; p = strstr(p + 1, "=>"))
			arrow = p;
		if (!arrow)
			continue; /* process.mem */
		long long delta = strtoll(arrow + 2, NULL, 10);
		double kb = floor((double)delta / 1024.0);
		size_t c1, c2, flen = (size_t)(arrow - hash - 1);
		if (fabs(kb) <= (double)peak_kb || t < from || t > to ||
		    split_frame(hash + 1, flen, &c1, &c2) < 0) {
			idx++;
			continue;
		}
		struct buf text = BUF_INIT;
		canonical(&text, hash + 1, c1);
		buf_add(&text, hash + 1 + c1, c2 - c1 + 1);
		canonical(&text, hash + 1 + c2 + 1, flen - c2 - 1);
		buf_addf(&text, "=>%lld", delta);
		*v = realloc(*v, (*n + 1) * sizeof **v);
		(*v)[(*n)++] = (struct xpeak){t, 0, idx++, buf_detach(&text), thread};
	}
	free(line);
	fclose(fp);
	return first;
}

static size_t list_threads(const char *dir, struct xthread **out, char **process)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d, "%s", dir);
	*out = NULL;
	*process = NULL;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct buf path = BUF_INIT;
		if (len < 5 || strcmp(e->d_name + len - 4, ".mem") || e->d_name[0] == '.')
			continue;
		buf_addf(&path, "%s/%s", dir, e->d_name);
		if (strcmp(e->d_name, "process.mem") == 0) {
			*process = buf_detach(&path);
			continue;
		}
		*out = realloc(*out, (n + 1) * sizeof **out);
		(*out)[n].name = (struct buf)BUF_INIT;
		tg_unescape_filename(&(*out)[n].name, e->d_name, len - 4);
		buf_grow(&(*out)[n].name, 0);
		(*out)[n++].path = buf_detach(&path);
	}
	closedir(d);
	qsort(*out, n, sizeof **out, by_thread_name);
	return n;
}

/* The expected memg.txt.  from/to are seconds relative to the first event when rel. */
static void expected_legend(const char *dir, long long peak_kb, int rel, double from, double to,
			    struct buf *out)
{
	struct xthread *th;
	char *process;
	size_t nth = list_threads(dir, &th, &process), n = 0;
	struct xpeak *v = NULL;
	double t0 = HUGE_VAL;

	if (rel) {
		/* first pass: the time of the recording's first event */
		for (size_t i = 0; i < nth; i++) {
			size_t none = 0;
			struct xpeak *nv = NULL;
			t0 = fmin(t0, scan_mem(th[i].path, i, 1LL << 60, 0, 0, &nv, &none));
		}
		if (process) {
			size_t none = 0;
			struct xpeak *nv = NULL;
			t0 = fmin(t0, scan_mem(process, 0, 1LL << 60, 0, 0, &nv, &none));
		}
		from += t0;
		to += t0;
	}
	for (size_t i = 0; i < nth; i++)
		scan_mem(th[i].path, i, peak_kb, from, to, &v, &n);
	for (size_t i = 0; i < n; i++)
		v[i].rank = v[i].thread;
	qsort(v, n, sizeof *v, by_time_rank);
	for (size_t i = 0; i < n; i++) {
		struct buf name = BUF_INIT;
		tg_escape_field(&name, buf_cstr(&th[v[i].thread].name), th[v[i].thread].name.len);
		buf_addf(out, "%zu: %s>%s\n", i + 1, buf_cstr(&name), v[i].text);
		buf_free(&name);
		free(v[i].text);
	}
	buf_grow(out, 0);
	free(v);
	for (size_t i = 0; i < nth; i++) {
		buf_free(&th[i].name);
		free(th[i].path);
	}
	free(th);
	free(process);
}

/* ---- checks on an output directory ---- */

static void assert_legend(const char *outdir, const char *want)
{
	struct buf path = BUF_INIT, got = BUF_INIT;

	buf_addf(&path, "%s/memg.txt", outdir);
	rrun_read(buf_cstr(&path), &got);
	cr_assert_str_eq(buf_cstr(&got), want, "memg.txt differs:\n--- got\n%s--- want\n%s",
			 buf_cstr(&got), want);
	/* marks 1..n in numeric order */
	unsigned long mark = 0;
	for (const char *p = buf_cstr(&got); *p; p = strchr(p, '\n') + 1) {
		cr_assert_eq(strtoul(p, NULL, 10), ++mark);
		cr_assert_not_null(strchr(p, '\n'));
	}
	buf_free(&path);
	buf_free(&got);
}

static void render_fixture(const char *rec, const char *const *extra, long long peak, int rel,
			   double from, double to)
{
	char *out = rrun_tmpdir();
	struct buf dir = BUF_INIT, want = BUF_INIT;
	const char *args[32] = {"render", "memg"};
	size_t n = 2;
	struct rrun r;

	buf_addf(&dir, "%s/%s", RENDER_FIXTURES, rec);
	args[n++] = buf_cstr(&dir);
	args[n++] = "-o";
	args[n++] = out;
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "Processing data for thread "));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "\nRunning gnuplot.\n"));
	rrun_assert_memg_svg(out);
	expected_legend(buf_cstr(&dir), peak, rel, from, to, &want);
	cr_assert_gt(want.len, 0, "the fixture should have peaks");
	assert_legend(out, buf_cstr(&want));
	cr_assert_eq(rrun_count_entries(out), 2, "only memg.svg and memg.txt are left");
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
	buf_free(&dir);
	buf_free(&want);
}

Test(render_memg, original_threadgraph_recording)
{
	render_fixture("threadgraph-orig/4242", NULL, 200, 0, -HUGE_VAL, HUGE_VAL);
}

Test(render_memg, tgattach_recording)
{
	render_fixture("tgattach-nested/5151", NULL, 200, 0, -HUGE_VAL, HUGE_VAL);
}

Test(render_memg, many_threads_recording)
{
	render_fixture("many-threads/6262", NULL, 200, 0, -HUGE_VAL, HUGE_VAL);
}

Test(render_memg, peak_and_time_options)
{
	const char *const opts[] = {"--peak",	 "1000", "--time-from", "+10",
				    "--time-to", "+40",	 NULL};
	const char *const old[] = {"--peak",
				   "500",
				   "--peak_delta_time",
				   "5",
				   "--peak_delta_value",
				   "100",
				   "--process_rebase",
				   "0",
				   "--time_from",
				   "+0",
				   "--time_to",
				   "+1e6",
				   NULL};

	render_fixture("many-threads/6262", opts, 1000, 1, 10, 40);
	render_fixture("many-threads/6262", old, 500, 1, 0, 1e6);
}

Test(render_memg, process_line_and_title)
{
	char *out = rrun_tmpdir();
	const char *args[] = {"render", "memg", RENDER_FIXTURES "/tgattach-nested/5151",
			      "-o",	out,	NULL};
	const char *noproc[] = {"render", "memg", RENDER_FIXTURES "/tgattach-nested/5151",
				"-o",	  out,	  "--no-process",
				"--cap",  "100",  NULL};
	struct buf path = BUF_INIT, svg = BUF_INIT;
	struct rrun r;

	buf_addf(&path, "%s/memg.svg", out);
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "Processing data for the process\n"));
	rrun_read(buf_cstr(&path), &svg);
	cr_assert_not_null(strstr(buf_cstr(&svg), "PID 5151: python3 work.py --size 3"));
	/* plain RSS in MB by default; --process-rebase draws KB minus it (below) */
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process RSS (right axis)</text>"));
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process RSS (MB)</text>"));
	cr_assert_not_null(strstr(buf_cstr(&svg), ">worker/1: #2<"));
	rrun_free(&r);
	buf_reset(&svg);
	rrun_tool(&r, NULL, noproc);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_null(strstr(buf_cstr(&r.err), "Processing data for the process"));
	rrun_read(buf_cstr(&path), &svg);
	cr_assert_null(strstr(buf_cstr(&svg), "process RSS"));
	rrun_assert_memg_svg(out);
	rrun_free(&r);
	/* the original's KB minus a rebase, when asked */
	const char *rebased[] = {"render", "memg", RENDER_FIXTURES "/tgattach-nested/5151",
				 "-o",	   out,	   "--process-rebase",
				 "30000",  NULL};
	buf_reset(&svg);
	rrun_tool(&r, NULL, rebased);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_read(buf_cstr(&path), &svg);
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process RSS - 30000 KB (right axis)</text>"));
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process RSS - 30000 KB (KB)</text>"));
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
	buf_free(&path);
	buf_free(&svg);
}

/* ---- hostile names ---- */

static void hostile_file(const char *dir, const char *thread, size_t tlen, const char *name,
			 size_t nlen, double t0)
{
	struct buf fname = BUF_INIT, path = BUF_INIT, data = BUF_INIT;

	if (tlen == 7 && memcmp(thread, "process", 7) == 0)
		buf_addstr(&fname, "%70rocess"); /* a thread, though its name reads "process" */
	else
		tg_escape_filename(&fname, thread, tlen);
	buf_addf(&path, "%s/%s.mem", dir, buf_cstr(&fname));
	for (int i = 0; i < 5; i++) {
		buf_addf(&data, "%.6f#", t0 + i * 0.1);
		tg_escape_field(&data, name, nlen);
		buf_addf(&data, ":%d:", i + 1);
		tg_escape_field(&data, name, nlen);
		buf_addf(&data, "=>%d\n", (i - 2) * 300 * 1024);
	}
	rrun_write(buf_cstr(&path), data.data, data.len);
	buf_free(&fname);
	buf_free(&path);
	buf_free(&data);
}

Test(render_memg, hostile_names_draw_literally)
{
	char *tmp = rrun_tmpdir();
	struct buf rec = BUF_INIT, out = BUF_INIT, canary = BUF_INIT, meta = BUF_INIT;
	struct buf names[10], svg = BUF_INIT, legend = BUF_INIT;
	size_t nn = 0;
	struct rrun r;

	buf_addf(&rec, "%s/4711", tmp);
	buf_addf(&out, "%s/out", tmp);
	buf_addf(&canary, "%s/canary", tmp);
	mkdir(buf_cstr(&rec), 0755);
	for (size_t i = 0; i < 10; i++)
		names[i] = (struct buf)BUF_INIT;
	buf_addf(&names[nn++], "a\"; system(\"touch %s\"); \"", buf_cstr(&canary));
	buf_addf(&names[nn++], "!b'; system \"touch %s\"; print '", buf_cstr(&canary));
	buf_addf(&names[nn++], "c`touch %s`", buf_cstr(&canary));
	buf_addf(&names[nn++], "c2\"; system \"touch %s\"; print \"", buf_cstr(&canary));
	buf_addf(&names[nn++], "c3'\n!touch %s\n'", buf_cstr(&canary));
	buf_addf(&names[nn++], "d\nset output '%s'\nplot 1\n", buf_cstr(&canary));
	buf_addf(&names[nn++], "e\\ \\n @x ^{up} _{down} {} &amp; <&> ]]> \\");
	static const char bad_utf8[] = "f\xff\xfe \xc3\x28 \xed\xa0\x80 \xef\xbf\xbf \x01\x7f";
	buf_add(&names[nn++], bad_utf8, sizeof bad_utf8 - 1);
	buf_addstr(&names[nn++], "process"); /* not the process trace: a thread */
	for (size_t i = 0; i < nn; i++)
		hostile_file(buf_cstr(&rec), names[i].data, names[i].len, names[i].data,
			     names[i].len, 1700000000.0 + i * 0.3);
	buf_addf(&meta, "%s/meta", buf_cstr(&rec));
	char metadata[512];
	int ml = snprintf(metadata, sizeof metadata,
			  "cmdline=x'; system \"touch %s\"; print 'y\\x0a<&> \xff]]>\n",
			  buf_cstr(&canary));
	rrun_write(buf_cstr(&meta), metadata, (size_t)ml);
	buf_reset(&meta);
	buf_addf(&meta, "%s/process.mem", buf_cstr(&rec));
	static const char samples[] = "1700000000.0#50000000\n1700000003.0#52000000\n";
	rrun_write(buf_cstr(&meta), samples, sizeof samples - 1);

	const char *args[] = {"render", "memg", buf_cstr(&rec), "-o", buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, args);
	cr_assert(!rrun_exists(buf_cstr(&canary)), "the injection ran: %s exists",
		  buf_cstr(&canary));
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, buf_cstr(&r.err));
	rrun_assert_memg_svg(buf_cstr(&out));
	buf_reset(&meta);
	buf_addf(&meta, "%s/memg.svg", buf_cstr(&out));
	rrun_read(buf_cstr(&meta), &svg);
	/* drawn literally: gnuplot's SVG escapes '<' and '&' itself */
	cr_assert_not_null(strstr(buf_cstr(&svg), ">a\"; system(\"touch "));
	cr_assert_not_null(
	    strstr(buf_cstr(&svg), "e\\ \\n @x ^{up} _{down} {} &amp;amp; &lt;&amp;>"));
	cr_assert_not_null(strstr(buf_cstr(&svg), "d\\x0aset output"));
	/* the thread called "process" and the process line are distinct key entries */
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process</text>"));
	cr_assert_not_null(strstr(buf_cstr(&svg), ">process RSS (right axis)</text>"));
	/* one legend line per peak (4 per thread), no raw newline inside */
	buf_reset(&meta);
	buf_addf(&meta, "%s/memg.txt", buf_cstr(&out));
	rrun_read(buf_cstr(&meta), &legend);
	size_t lines = 0;
	for (size_t i = 0; i < legend.len; i++)
		lines += legend.data[i] == '\n';
	cr_assert_eq(lines, 4 * nn, "legend:\n%s", buf_cstr(&legend));
	cr_assert_not_null(strstr(buf_cstr(&legend), ": d\\x0aset output '"));
	for (size_t i = 0; i < nn; i++)
		buf_free(&names[i]);
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&rec);
	buf_free(&out);
	buf_free(&canary);
	buf_free(&meta);
	buf_free(&svg);
	buf_free(&legend);
}

/* 300000 returns in one thread: the legend lists every peak, the SVG stays small. */
Test(render_memg, long_series_decimated_legend_complete)
{
	char *tmp = rrun_tmpdir();
	struct buf rec = BUF_INIT, path = BUF_INIT, data = BUF_INIT, out = BUF_INIT;
	struct stat st;
	struct rrun r;
	size_t peaks = 0;

	buf_addf(&rec, "%s/777", tmp);
	buf_addf(&out, "%s/out", tmp);
	mkdir(buf_cstr(&rec), 0755);
	for (int i = 0; i < 300000; i++) {
		long delta = (i % 1000 == 0) ? (i % 2000 ? -1 : 1) * (300 + i % 7) * 1024L
					     : ((long)i * 7919) % 4096 - 2048;
		peaks += i % 1000 == 0;
		buf_addf(&data, "%.6f#/a.py:%d:f%d=>%ld\n", 1700000000.0 + i * 0.01, i % 50, i % 13,
			 delta);
	}
	buf_addf(&path, "%s/T.mem", buf_cstr(&rec));
	rrun_write(buf_cstr(&path), data.data, data.len);
	const char *args[] = {"render", "memg", buf_cstr(&rec), "-o", buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	const char *drawn = strstr(buf_cstr(&r.err), "labelled; ");
	cr_assert_not_null(drawn, "%s", buf_cstr(&r.err));
	cr_assert_lt(strtoul(drawn + 10, NULL, 10), 10000, "%s", buf_cstr(&r.err));
	rrun_assert_memg_svg(buf_cstr(&out));
	buf_reset(&path);
	buf_addf(&path, "%s/memg.svg", buf_cstr(&out));
	cr_assert_eq(stat(buf_cstr(&path), &st), 0);
	cr_assert_lt(st.st_size, 2 * 1024 * 1024, "memg.svg is %lld bytes", (long long)st.st_size);
	buf_reset(&data);
	buf_reset(&path);
	buf_addf(&path, "%s/memg.txt", buf_cstr(&out));
	rrun_read(buf_cstr(&path), &data);
	size_t lines = 0;
	for (size_t i = 0; i < data.len; i++)
		lines += data.data[i] == '\n';
	cr_assert_eq(lines, peaks);
	cr_assert_not_null(strstr(buf_cstr(&data), "\n300: T>/a.py:0:f0=>-309248\n"));
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&rec);
	buf_free(&path);
	buf_free(&data);
	buf_free(&out);
}

/* PNGs of fixture recordings, old and new style, kept in build/render-look/. */
Test(render_memg, png_of_fixtures_to_look_at)
{
	static const char *const recs[][2] = {
	    {"threadgraph-orig/4242", "memg-threadgraph-orig.png"},
	    {"many-threads/6262", "memg-many-threads.png"}};

	for (size_t i = 0; i < 2; i++) {
		char *out = rrun_tmpdir();
		struct buf dir = BUF_INIT, png = BUF_INIT;
		struct rrun r;
		buf_addf(&dir, "%s/%s", RENDER_FIXTURES, recs[i][0]);
		buf_addf(&png, "%s/memg.png", out);
		const char *args[] = {"render", "memg",	    buf_cstr(&dir), "-o",
				      out,	"--format", "png",	    NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
		rrun_assert_png(buf_cstr(&png), 1920, 1080);
		cr_assert(rrun_exists(buf_cstr(&dir)));
		rrun_keep_for_looking(buf_cstr(&png), recs[i][1]);
		cr_assert_eq(rrun_count_entries(out), 2, "memg.png and memg.txt");
		rrun_free(&r);
		rrun_rmtree(out);
		free(out);
		buf_free(&dir);
		buf_free(&png);
	}
}
