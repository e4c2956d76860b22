/* End-to-end tests of `tgattach render memg` on recordings that followed forks: a process
 * tree made here (a parent, two children, a grandchild, plus directories with a broken or
 * missing meta), drawn with real gnuplot and checked with xmllint. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

static void put(const char *dir, const char *name, const char *text)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/%s", dir, name);
	rrun_write(buf_cstr(&path), text, strlen(text));
	buf_free(&path);
}

/* OUTDIR/PID with meta (NULL: none), a process.mem and one thread with one peak of
 * (1000 + pid) KB, all starting `start` seconds into the tree's life. */
static void make_proc(const char *outdir, long pid, const char *meta, int start)
{
	struct buf dir = BUF_INIT, mem = BUF_INIT, thr = BUF_INIT;

	buf_addf(&dir, "%s/%ld", outdir, pid);
	cr_assert_eq(mkdir(buf_cstr(&dir), 0755), 0);
	if (meta)
		put(buf_cstr(&dir), "meta", meta);
	for (int i = 0; i < 5; i++)
		buf_addf(&mem, "%d.%d#%ld\n", 1700000000 + start, i * 2,
			 40000000 + pid * 4096 + i * 300000L);
	put(buf_cstr(&dir), "process.mem", buf_cstr(&mem));
	buf_addf(&thr, "%d.1#/app/w.py:3:grow=>%ld\n%d.3#/app/w.py:4:drop=>-1000\n",
		 1700000000 + start, (1000 + pid) * 1024, 1700000000 + start);
	put(buf_cstr(&dir), "Main.mem", buf_cstr(&thr));
	buf_free(&dir);
	buf_free(&mem);
	buf_free(&thr);
}

/* 700 -> 701 -> 703, 700 -> 702; 704 says parent=700 in a malformed way, 705 has no meta,
 * 706 names parent 700 but holds no recording. */
static char *make_tree(void)
{
	char *out = rrun_tmpdir();
	struct buf d = BUF_INIT;

	make_proc(out, 700, "run=1\npid=700\ncmdline=python3 app.py\n", 0);
	make_proc(out, 701, "run=1\npid=701\nparent=700\n", 1);
	make_proc(out, 702, "run=1\npid=702\nparent=999\nrun=2\npid=702\nparent=700\n", 2);
	make_proc(out, 703, "run=1\npid=703\nparent=701\n", 3);
	make_proc(out, 704, "pid=704\nparent=70\\x000\n", 2);
	make_proc(out, 705, NULL, 2);
	buf_addf(&d, "%s/706", out);
	cr_assert_eq(mkdir(buf_cstr(&d), 0755), 0);
	put(buf_cstr(&d), "meta", "pid=706\nparent=700\n");
	buf_free(&d);
	return out;
}

static void read_out(const char *outdir, const char *name, struct buf *b)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/%s", outdir, name);
	rrun_read(buf_cstr(&path), b);
	buf_free(&path);
}

static void assert_xml(const char *outdir)
{
	char *xmllint = rrun_which("xmllint");
	struct buf path = BUF_INIT, msg = BUF_INIT;

	buf_addf(&path, "%s/memg.svg", outdir);
	if (!xmllint)
		cr_log_warn("xmllint is missing: XML check skipped");
	else
		cr_assert(rrun_xml_ok(xmllint, buf_cstr(&path), &msg), "memg.svg is not XML: %s",
			  buf_cstr(&msg));
	free(xmllint);
	buf_free(&path);
	buf_free(&msg);
}

/* Renders args into a fresh output directory; svg and txt get memg.svg and memg.txt. */
static char *render(const char *const *args, struct rrun *r, struct buf *svg, struct buf *txt)
{
	char *res = rrun_tmpdir();
	const char *argv[16];
	size_t n = 0;

	argv[n++] = "render";
	argv[n++] = "memg";
	for (; *args; args++)
		argv[n++] = *args;
	argv[n++] = "-o";
	argv[n++] = res;
	argv[n] = NULL;
	rrun_tool(r, NULL, argv);
	cr_assert_eq(r->status, 0, "render memg failed (%d): %s", r->status, buf_cstr(&r->err));
	assert_xml(res);
	buf_reset(svg);
	buf_reset(txt);
	read_out(res, "memg.svg", svg);
	read_out(res, "memg.txt", txt);
	return res;
}

static int has(const struct buf *b, const char *s)
{
	return strstr(buf_cstr(b), s) != NULL;
}

static void assert_procs(const struct rrun *r, const struct buf *svg, const struct buf *txt,
			 const long *in, const long *out)
{
	char s[64];

	for (; *in; in++) {
		snprintf(s, sizeof s, "process %ld RSS", *in);
		cr_assert(has(svg, s), "no '%s' line in the SVG", s);
		/* its thread has a key entry, or is among the grey "other threads" (at most
		 * MEMG_SERIES thread series are drawn in colour) */
		snprintf(s, sizeof s, "%ld:Main", *in);
		cr_assert(has(svg, s) || has(svg, "other threads ("), "no '%s' thread in the SVG",
			  s);
		snprintf(s, sizeof s, ": %ld:Main>/app/w.py:3:grow=>%ld\n", *in,
			 (1000 + *in) * 1024);
		cr_assert(has(txt, s), "no peak '%s' in memg.txt:\n%s", s, buf_cstr(txt));
		snprintf(s, sizeof s, "Processing data for the process %ld\n", *in);
		cr_assert(has(&r->err, s), "no '%s' on stderr", s);
	}
	for (; *out; out++) {
		snprintf(s, sizeof s, "process %ld", *out);
		cr_assert(!has(svg, s), "'%s' drawn but not part of the tree", s);
		snprintf(s, sizeof s, "%ld:Main", *out);
		cr_assert(!has(txt, s), "'%s' in memg.txt but not part of the tree", s);
	}
}

Test(render_memg_tree, children_draw_the_subtree)
{
	char *out = make_tree();
	struct buf dir = BUF_INIT, svg = BUF_INIT, txt = BUF_INIT;
	struct rrun r;

	buf_addf(&dir, "%s/700", out);
	const char *args[] = {buf_cstr(&dir), "--children", NULL};
	char *res = render(args, &r, &svg, &txt);
	assert_procs(&r, &svg, &txt, (const long[]){700, 701, 702, 703, 0},
		     (const long[]){704, 705, 0});
	cr_assert(has(&r.err, "skipping process 706"), "706 not reported: %s", buf_cstr(&r.err));
	/* one time axis: the peaks numbered by time across the processes */
	cr_assert(has(&txt, "1: 700:Main>") && has(&txt, "2: 701:Main>") &&
		      has(&txt, "3: 702:Main>") && has(&txt, "4: 703:Main>"),
		  "marks not in time order across processes:\n%s", buf_cstr(&txt));
	cr_assert(has(&svg, "PID 700: python3 app.py"), "title lost");
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);

	/* a subtree: from the child down */
	buf_reset(&dir);
	buf_addf(&dir, "%s/701/", out);
	const char *sub[] = {buf_cstr(&dir), "--children", NULL};
	res = render(sub, &r, &svg, &txt);
	assert_procs(&r, &svg, &txt, (const long[]){701, 703, 0}, (const long[]){700, 702, 704, 0});
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);
	rrun_rmtree(out);
	free(out);
	buf_free(&dir);
	buf_free(&svg);
	buf_free(&txt);
}

Test(render_memg_tree, outdir_draws_every_tree)
{
	char *out = make_tree();
	struct buf svg = BUF_INIT, txt = BUF_INIT;
	struct rrun r;
	const char *args[] = {out, NULL};
	char *res = render(args, &r, &svg, &txt);

	/* 704 (malformed parent) and 705 (no meta) are roots of their own */
	assert_procs(&r, &svg, &txt, (const long[]){700, 701, 702, 703, 704, 705, 0},
		     (const long[]){0});
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);
	rrun_rmtree(out);
	free(out);
	buf_free(&svg);
	buf_free(&txt);
}

Test(render_memg_tree, plain_render_is_one_process)
{
	char *out = make_tree();
	struct buf dir = BUF_INIT, svg = BUF_INIT, txt = BUF_INIT;
	struct rrun r;

	buf_addf(&dir, "%s/700", out);
	const char *args[] = {buf_cstr(&dir), NULL};
	char *res = render(args, &r, &svg, &txt);
	cr_assert(has(&svg, "process RSS (right axis)"), "no process line");
	cr_assert(!has(&svg, "process 70"), "a tree label in a plain render");
	cr_assert_str_eq(buf_cstr(&txt), "1: Main>/app/w.py:3:grow=>1740800\n");
	cr_assert(has(&r.err, "Processing data for the process\n"));
	cr_assert(!has(&r.err, "Processing data for the process 70"));
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);

	/* a broken child meta does not break --children of its parent */
	buf_reset(&dir);
	buf_addf(&dir, "%s/701", out);
	put(buf_cstr(&dir), "meta", "parent=\\xff\\x0a\n\n=\nparent");
	buf_reset(&dir);
	buf_addf(&dir, "%s/700", out);
	const char *ch[] = {buf_cstr(&dir), "--children", NULL};
	res = render(ch, &r, &svg, &txt);
	assert_procs(&r, &svg, &txt, (const long[]){700, 702, 0}, (const long[]){701, 703, 0});
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);
	rrun_rmtree(out);
	free(out);
	buf_free(&dir);
	buf_free(&svg);
	buf_free(&txt);
}

Test(render_memg_tree, many_processes_are_bounded)
{
	char *out = rrun_tmpdir();
	struct buf dir = BUF_INIT, svg = BUF_INIT, txt = BUF_INIT, meta = BUF_INIT;
	struct rrun r;

	make_proc(out, 800, "pid=800\n", 0);
	for (long pid = 801; pid <= 830; pid++) {
		buf_reset(&meta);
		buf_addf(&meta, "pid=%ld\nparent=800\n", pid);
		make_proc(out, pid, buf_cstr(&meta), 1);
	}
	buf_addf(&dir, "%s/800", out);
	const char *args[] = {buf_cstr(&dir), "--children", NULL};
	char *res = render(args, &r, &svg, &txt);
	/* the root, then the 19 of highest RSS (the highest PIDs here) */
	assert_procs(&r, &svg, &txt, (const long[]){800, 812, 820, 830, 0},
		     (const long[]){801, 805, 811, 0});
	cr_assert(has(&svg, "other children (11) RSS sum"), "no summed line");
	/* 20 threads drawn, each its own group (its PID): the 12 of largest values in colour */
	cr_assert(has(&svg, "830:Main") && has(&svg, "819:Main") && !has(&svg, "818:Main") &&
		      has(&svg, "other threads (8)"),
		  "the key: 830..819 by name, 8 others");
	cr_assert(has(&txt, "# other children (11): ") &&
		      has(&txt, ": 801 802 803 804 805 806 807 808 809 810 811\n"),
		  "memg.txt does not say which processes are summed:\n%s", buf_cstr(&txt));
	rrun_free(&r);
	rrun_rmtree(res);
	free(res);
	rrun_rmtree(out);
	free(out);
	buf_free(&dir);
	buf_free(&svg);
	buf_free(&txt);
	buf_free(&meta);
}

Test(render_memg_tree, usage_errors)
{
	char *out = make_tree();
	struct buf dir = BUF_INIT;
	struct rrun r;

	const char *two[] = {"render", "memg", "--children", out, out, NULL};
	rrun_tool(&r, NULL, two);
	cr_assert_eq(r.status, 2, "two directories with --children: %d", r.status);
	rrun_free(&r);
	const char *notpid[] = {"render", "memg", "--children", out, NULL};
	rrun_tool(&r, NULL, notpid);
	cr_assert_eq(r.status, 2, "--children on a non-PID directory: %d", r.status);
	cr_assert(has(&r.err, "not named by a PID"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	buf_addf(&dir, "%s/706", out);
	const char *empty[] = {"render", "memg", "--children", buf_cstr(&dir), NULL};
	rrun_tool(&r, NULL, empty);
	cr_assert_eq(r.status, 9, "--children on a directory with no recording: %d", r.status);
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
	buf_free(&dir);
}
