/* End-to-end tests of `tgattach render alloc`: process.alloc tables (the fixtures', and
 * hostile or broken ones written here), real gnuplot, the SVG read back with an XML
 * parser and its plots compared with the table's columns. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

/* The key titles of the plots in OUTDIR/alloc.svg, one per line. */
static void svg_plots(const char *outdir, struct buf *titles)
{
	struct buf svg = BUF_INIT;
	struct rrun r;

	buf_addf(&svg, "%s/alloc.svg", outdir);
	const char *args[] = {"svgplots", buf_cstr(&svg), NULL};
	rrun_check(&r, args);
	cr_assert_eq(r.status, 0, "alloc.svg: %s", buf_cstr(&r.err));
	buf_add(titles, buf_cstr(&r.out), r.out.len);
	buf_grow(titles, 0);
	rrun_free(&r);
	buf_free(&svg);
}

static void render(const char *dir, const char *out, const char *const *extra, struct rrun *r)
{
	const char *args[16] = {"render", "alloc", dir, "-o", out};
	size_t n = 5;

	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(r, NULL, args);
}

Test(render_alloc, fixture_columns_are_the_plots)
{
	char *out = rrun_tmpdir();
	struct buf titles = BUF_INIT;
	struct rrun r;

	render(RENDER_FIXTURES "/many-threads/6262", out, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "Processing data for the allocator\n"));
	svg_plots(out, &titles);
	/* the columns of the first run's header, in order; the second run has fewer */
	cr_assert_str_eq(buf_cstr(&titles),
			 "RSS (MB)\n"
			 "anonymous RSS (MB)\n"
			 "heap (pymalloc in use + memory outside arenas) (MB)\n"
			 "arenas (count, right axis)\n"
			 "arenas, high-water mark (count, right axis)\n"
			 "blocks in use (count, right axis)\n"
			 "pymalloc bytes in use (MB)\n"
			 "blocks over 512 B passed to malloc (count, right axis)\n"
			 "pymalloc pools carved from arenas (MB)\n");
	cr_assert_eq(rrun_count_entries(out), 1, "only alloc.svg is left");
	rrun_free(&r);

	const char *png[] = {"--format", "png", NULL};
	render(RENDER_FIXTURES "/many-threads/6262", out, png, &r);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/alloc.png", out);
	rrun_assert_png(buf_cstr(&path), 1920, 1080);
	rrun_keep_for_looking(buf_cstr(&path), "alloc-many-threads.png");
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
	buf_free(&titles);
	buf_free(&path);
}

static void write_alloc(const char *dir, const char *text)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/process.alloc", dir);
	rrun_write(buf_cstr(&path), text, strlen(text));
	buf_free(&path);
}

/* Column names that would run commands if pasted into the script, a column of unknown
 * unit, one with no value at all, a broken row, bytes that are not UTF-8. */
Test(render_alloc, hostile_and_broken_table)
{
	char *tmp = rrun_tmpdir();
	struct buf rec = BUF_INIT, out = BUF_INIT, canary = BUF_INIT, text = BUF_INIT;
	struct buf titles = BUF_INIT, want = BUF_INIT, svg = BUF_INIT;
	struct rrun r;

	buf_addf(&rec, "%s/rec", tmp);
	buf_addf(&out, "%s/out", tmp);
	buf_addf(&canary, "%s/canary", tmp);
	mkdir(buf_cstr(&rec), 0755);
	buf_addf(&text,
		 "# comment \xff\xfe not UTF-8\n"
		 "# time rss a\".system(\"touch\\040%s\").\"_bytes b`touch\\040%s`_bytes "
		 "c'.system('touch\\040%s').'_blocks mystery heap\n",
		 buf_cstr(&canary), buf_cstr(&canary), buf_cstr(&canary));
	for (int i = 0; i < 50; i++)
		buf_addf(&text, "%d.5 %d %d %d %d 0.%d ?\n", 1700000000 + i, (40 + i) << 20,
			 i << 20, (50 - i) << 18, 1000 + i * 10, i);
	buf_addstr(&text, "1700000060 1 2 3\n"); /* too few fields */
	write_alloc(buf_cstr(&rec), buf_cstr(&text));
	render(buf_cstr(&rec), buf_cstr(&out), NULL, &r);
	cr_assert(!rrun_exists(buf_cstr(&canary)), "a column name was executed by gnuplot");
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "process.alloc:53: skipped malformed line: "
						    "fewer fields than the header names"),
			   "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "1 malformed line skipped"));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "column 'mystery': unknown unit, not drawn"));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "column 'heap': no values"));
	svg_plots(buf_cstr(&out), &titles);
	buf_addf(&want,
		 "RSS (MB)\n"
		 "a\".system(\"touch\\040%s\").\"_bytes (MB)\n"
		 "b`touch\\040%s`_bytes (MB)\n"
		 "c'.system('touch\\040%s').'_blocks (count, right axis)\n",
		 buf_cstr(&canary), buf_cstr(&canary), buf_cstr(&canary));
	cr_assert_str_eq(buf_cstr(&titles), buf_cstr(&want));
	rrun_free(&r);

	const char *strict[] = {"--strict", NULL};
	render(buf_cstr(&rec), buf_cstr(&out), strict, &r);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "process.alloc:53: malformed line"), "%s",
			   buf_cstr(&r.err));
	cr_assert(!rrun_exists(buf_cstr(&canary)));
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&rec);
	buf_free(&out);
	buf_free(&canary);
	buf_free(&text);
	buf_free(&titles);
	buf_free(&want);
	buf_free(&svg);
}

Test(render_alloc, counts_alone_use_the_left_axis)
{
	char *tmp = rrun_tmpdir();
	struct buf titles = BUF_INIT, text = BUF_INIT;
	struct rrun r;

	buf_addstr(&text, "# time arenas blocks\n");
	for (int i = 0; i < 20; i++)
		buf_addf(&text, "%d %d %d\n", 1000 + i, 10 + i, 30000 + i * 7);
	write_alloc(tmp, buf_cstr(&text));
	render(tmp, tmp, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	svg_plots(tmp, &titles);
	cr_assert_str_eq(buf_cstr(&titles), "arenas (count)\nblocks in use (count)\n");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&titles);
	buf_free(&text);
}

Test(render_alloc, missing_file_and_empty_range)
{
	char *out = rrun_tmpdir();
	struct rrun r;
	const char *late[] = {"--time-from", "+100000", NULL};

	render(RENDER_FIXTURES "/threadgraph-orig/4242", out, NULL, &r);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "no process.alloc"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	render(RENDER_FIXTURES "/tgattach-nested/5151", out, late, &r);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "nothing to draw in the time range"), "%s",
			   buf_cstr(&r.err));
	cr_assert_eq(rrun_count_entries(out), 0, "nothing left behind");
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
}
