/* Numbers at the edge of what a line may hold (issue 16, 7): deltas of +-2^50 (the
 * largest a line may carry, common/tgline.h) summed over 20,000 calls, a delta past the
 * limit, RSS past it, times far in the future.  Every renderer runs on it under UBSan
 * (the ASan+UBSan build, halting on the first report): no signed overflow, exit 0, or 9
 * for a line it refuses, never a crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define CALLS 20000
#define BIG "1125899906842624" /* 2^50 */

/* THREAD.stack, THREAD.mem and process.mem of a recording directory. */
static void write_files(const char *dir, const char *thread, const struct buf *stack,
			const struct buf *mem, const struct buf *proc)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s.stack", dir, thread);
	rrun_write(path, stack->data, stack->len);
	snprintf(path, sizeof path, "%s/%s.mem", dir, thread);
	rrun_write(path, mem->data, mem->len);
	snprintf(path, sizeof path, "%s/process.mem", dir);
	rrun_write(path, proc->data, proc->len);
}

static void write_recording(const char *dir, int past_limit)
{
	struct buf stack = BUF_INIT, mem = BUF_INIT, proc = BUF_INIT, meta = BUF_INIT;
	char path[4096];
	double t = 9.0e10; /* the year 4822 */

	buf_addf(&stack, "%.6f#/srv/app.py:1:outer\n", t);
	for (int i = 0; i < CALLS; i++) {
		t += 0.001;
		buf_addf(&stack, " %.6f#/srv/app.py:2:grow\n", t);
		buf_addf(&mem, "%.6f#/srv/app.py:3:grow=>%s\n", t + 0.0005, i % 3 ? BIG : "-" BIG);
		buf_addf(&proc, "%.6f#%s\n", t, past_limit && i == 7 ? "9223372036854775807" : BIG);
	}
	buf_addf(&mem, "%.6f#/srv/app.py:4:outer=>%s\n", t + 1,
		 past_limit ? "-9223372036854775808" : "-" BIG);
	buf_addstr(&meta, "run=1\npid=4242\n");
	write_files(dir, "MainThread", &stack, &mem, &proc);
	snprintf(path, sizeof path, "%s/meta", dir);
	rrun_write(path, meta.data, meta.len);
	buf_free(&stack);
	buf_free(&mem);
	buf_free(&proc);
	buf_free(&meta);
}

static void render_all(const char *dir, const char *tmp, int past_limit)
{
	char out[4096], json[4096], col[4096];
	snprintf(out, sizeof out, "%s/g", tmp);
	snprintf(json, sizeof json, "%s/s.json", tmp);
	snprintf(col, sizeof col, "%s/c.txt", tmp);
	const char *top[] = {"render", "top", dir, NULL};
	const char *topb[] = {"render", "top", "--by", "self", dir, NULL};
	const char *coll[] = {"render", "collapsed", "--weight", "bytes", dir, "-o", col, NULL};
	const char *ss[] = {"render", "speedscope", dir, "-o", json, NULL};
	const char *memg[] = {"render", "memg", dir, "-o", out, NULL};
	const char *const *cmds[] = {top, topb, coll, ss, memg};

	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		struct rrun r;
		rrun_tool(&r, NULL, cmds[i]);
		cr_expect(strstr(buf_cstr(&r.err), "runtime error") == NULL, "render %s: UBSan: %s",
			  cmds[i][1], buf_cstr(&r.err));
		cr_expect(r.status == 0 || (past_limit && r.status == 9), "render %s: exit %d: %s",
			  cmds[i][1], r.status, buf_cstr(&r.err));
		rrun_free(&r);
	}
}

Test(render_extreme, sums_at_the_limit_saturate_not_overflow, .timeout = 120)
{
	for (int past = 0; past < 2; past++) {
		char *tmp = rrun_tmpdir();
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/4242", tmp);
		cr_assert_eq(mkdir(dir, 0755), 0);
		write_recording(dir, past);
		render_all(dir, tmp, past);
		rrun_rmtree(tmp);
		free(tmp);
	}
}

/* A thread named  a>b=>c : memg.txt's lines still split at their first '>' (THREAD has
 * '>' escaped), issue 16, 5. */
Test(render_extreme, memg_legend_splits_at_the_first_arrow)
{
	char *tmp = rrun_tmpdir();
	char dir[4096], path[4200], out[4096];
	struct buf stack = BUF_INIT, mem = BUF_INIT, proc = BUF_INIT, txt = BUF_INIT;

	snprintf(dir, sizeof dir, "%s/4343", tmp);
	cr_assert_eq(mkdir(dir, 0755), 0);
	for (int i = 0; i < 5; i++) {
		double t = 1700000000.0 + i;
		buf_addf(&stack, "%.6f#/srv/app.py:2:grow\n", t);
		buf_addf(&mem, "%.6f#/srv/app.py:3:grow=>%d\n", t + 0.5, (i + 1) * 1000000);
		buf_addf(&proc, "%.6f#%d\n", t, 40000000 + i * 1000000);
	}
	write_files(dir, "a>b=>c", &stack, &mem, &proc);
	snprintf(out, sizeof out, "%s/g", tmp);
	const char *args[] = {"render", "memg", dir, "-o", out, NULL};
	struct rrun r;
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "render memg: %s", buf_cstr(&r.err));
	rrun_free(&r);
	snprintf(path, sizeof path, "%s/memg.txt", out);
	rrun_read(path, &txt);
	int lines = 0;
	for (char *line = txt.data; line && *line; lines++) {
		char *nl = strchr(line, '\n'), *colon = strstr(line, ": ");
		if (nl)
			*nl = '\0';
		cr_assert_not_null(colon, "%s", line);
		char *gt = strchr(colon + 2, '>');
		cr_assert_not_null(gt, "%s", line);
		cr_expect_eq((size_t)(gt - colon - 2), strlen("a\\x3eb\\x3d\\x3ec"), "%s", line);
		cr_expect(!strncmp(colon + 2, "a\\x3eb\\x3d\\x3ec>", strlen("a\\x3eb\\x3d\\x3ec>")),
			  "the thread part of \"%s\" is cut at its first '>'", line);
		line = nl ? nl + 1 : NULL;
	}
	cr_expect_gt(lines, 0, "memg.txt is empty");
	buf_free(&stack);
	buf_free(&mem);
	buf_free(&proc);
	buf_free(&txt);
	rrun_rmtree(tmp);
	free(tmp);
}
