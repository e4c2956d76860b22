/* End-to-end tests of the render subcommands' one output convention: -o FILE for the text
 * and exports (top, collapsed, speedscope, pprof, decorate-stack; standard output without
 * it), written beside FILE and renamed once complete; -o OUTDIR for the graphs (memg,
 * alloc; the current directory without it), whose summary says when it replaced the
 * files of an earlier render. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define NESTED RENDER_FIXTURES "/tgattach-nested/5151"

/* The same text, to a file with -o and to standard output without. */
static void same_both_ways(const char *const *args, size_t n)
{
	char *tmp = rrun_tmpdir();
	const char *with[16];
	struct buf file = BUF_INIT, got = BUF_INIT;
	struct rrun a, b;

	buf_addf(&file, "%s/out.txt", tmp);
	memcpy(with, args, n * sizeof *args);
	with[n] = "-o";
	with[n + 1] = buf_cstr(&file);
	with[n + 2] = NULL;
	const char *without[16];
	memcpy(without, args, n * sizeof *args);
	without[n] = NULL;
	rrun_tool(&a, NULL, with);
	rrun_tool(&b, NULL, without);
	cr_assert_eq(a.status, 0, "%s: %s", args[1], buf_cstr(&a.err));
	cr_assert_eq(b.status, 0, "%s: %s", args[1], buf_cstr(&b.err));
	cr_assert_eq(a.out.len, 0, "%s -o wrote to standard output", args[1]);
	rrun_read(buf_cstr(&file), &got);
	cr_assert_gt(got.len, 0);
	cr_assert_str_eq(buf_cstr(&got), buf_cstr(&b.out), "%s", args[1]);
	cr_assert_eq(rrun_count_entries(tmp), 1, "%s: only the file is left", args[1]);
	rrun_free(&a);
	rrun_free(&b);
	buf_free(&file);
	buf_free(&got);
	rrun_rmtree(tmp);
	free(tmp);
}

Test(render_output, text_goes_to_o_file_or_standard_output)
{
	const char *top[] = {"render", "top", NESTED, "-q"};
	const char *collapsed[] = {"render", "collapsed", NESTED, "-q"};
	const char *deco[] = {
	    "render", "decorate-stack", NESTED "/MainThread.mem", NESTED "/MainThread.stack", "3",
	    "-q"};

	same_both_ways(top, 4);
	same_both_ways(collapsed, 4);
	same_both_ways(deco, 6);
}

Test(render_output, a_graph_replacing_earlier_files_says_so)
{
	char *tmp = rrun_tmpdir();
	const char *args[] = {"render", "memg", NESTED, "-o", tmp, NULL};
	const char *alloc[] = {"render", "alloc", NESTED, "-o", tmp, NULL};
	struct rrun r;

	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_null(strstr(buf_cstr(&r.err), "replacing"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "replacing the files of an earlier render"),
			   "%s", buf_cstr(&r.err));
	rrun_free(&r);
	for (int i = 0; i < 2; i++) {
		rrun_tool(&r, NULL, alloc);
		cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
		cr_assert_eq(strstr(buf_cstr(&r.err), "replacing") != NULL, i == 1, "%s",
			     buf_cstr(&r.err));
		rrun_free(&r);
	}
	rrun_rmtree(tmp);
	free(tmp);
}
