/* End-to-end tests of `tgattach render pprof`: the profile is decoded by an independent
 * decoder (the npm package pprof-format, through tests/js/pprof_fold.cjs) and its stacks
 * and values compared with what the recording generator (fixtures/recordings/gen.py)
 * knows of its simulated calls (expected/REC.collapsed: each stack's own bytes) and with
 * `render collapsed`'s time per stack. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define NODE_MODULES "build/npm/node_modules"

static const char *const fixtures[][3] = {
    {"threadgraph-orig", "threadgraph-orig/4242", "4242"},
    {"tgattach-nested", "tgattach-nested/5151", "5151"},
    {"many-threads", "many-threads/6262", "6262"},
};
#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

/* The decoder's lines: "STACK SAMPLES BYTES pid=N" after two header lines. */
struct folded {
	char **stack;
	long long *samples, *bytes;
	long *pid;
	size_t n;
	char header[2][256];
};

static void need_decoder(void)
{
	char *node = rrun_which("node");

	if (!node)
		cr_skip_test("no node: the pprof decoder (pprof-format) runs on Node.js");
	free(node);
	cr_assert(rrun_exists(NODE_MODULES "/pprof-format/package.json"),
		  "pprof-format is not installed in " NODE_MODULES " (tools/npmdeps.sh)");
}

static void parse_line(struct folded *f, char *line)
{
	char *pid = strrchr(line, ' ');
	cr_assert(pid && strncmp(pid, " pid=", 5) == 0, "no pid: '%s'", line);
	*pid = '\0';
	char *by = strrchr(line, ' ');
	cr_assert_not_null(by);
	*by = '\0';
	char *sa = strrchr(line, ' ');
	cr_assert_not_null(sa);
	*sa = '\0';
	f->stack = realloc(f->stack, (f->n + 1) * sizeof *f->stack);
	f->samples = realloc(f->samples, (f->n + 1) * sizeof *f->samples);
	f->bytes = realloc(f->bytes, (f->n + 1) * sizeof *f->bytes);
	f->pid = realloc(f->pid, (f->n + 1) * sizeof *f->pid);
	f->stack[f->n] = strdup(line);
	f->samples[f->n] = strtoll(sa + 1, NULL, 10);
	f->bytes[f->n] = strtoll(by + 1, NULL, 10);
	f->pid[f->n++] = strtol(pid + 5, NULL, 10);
}

static void decode(const char *file, struct folded *f)
{
	const char *argv[] = {"/usr/bin/env", "NODE_PATH=" NODE_MODULES,
			      "node",	      "tests/js/pprof_fold.cjs",
			      file,	      NULL};
	struct rrun r;

	memset(f, 0, sizeof *f);
	rrun_exec(&r, NULL, argv);
	cr_assert_eq(r.status, 0, "the decoder failed on %s: %s", file, buf_cstr(&r.err));
	char *text = strdup(buf_cstr(&r.out)), *save = NULL;
	size_t k = 0;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (k < 2)
			snprintf(f->header[k++], sizeof f->header[0], "%s", line);
		else
			parse_line(f, line);
	}
	free(text);
	rrun_free(&r);
}

static void folded_free(struct folded *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->stack[i]);
	free(f->stack);
	free(f->samples);
	free(f->bytes);
	free(f->pid);
}

static long find(const struct folded *f, const char *stack, size_t len)
{
	for (size_t i = 0; i < f->n; i++)
		if (strlen(f->stack[i]) == len && memcmp(f->stack[i], stack, len) == 0)
			return (long)i;
	return -1;
}

static void pprof_of(const char *rec, const char *out)
{
	struct buf dir = BUF_INIT;
	struct rrun r;

	buf_addf(&dir, "%s/%s", RENDER_FIXTURES, rec);
	const char *args[] = {"render", "pprof", buf_cstr(&dir), "--interval", "0.001", "-o",
			      out,	NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s: %s", rec, buf_cstr(&r.err));
	cr_assert(strstr(buf_cstr(&r.err), "bytes compressed"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	buf_free(&dir);
}

/* Each "STACK N" line of text has sample value N (which = 0) or byte value N (1). */
static void assert_lines_match(const struct folded *f, const char *text, int which,
			       const char *what)
{
	const char *p = text, *nl;
	size_t lines = 0;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1, lines++) {
		const char *sp = memrchr(p, ' ', (size_t)(nl - p));
		cr_assert_not_null(sp);
		long i = find(f, p, (size_t)(sp - p));
		cr_assert_geq(i, 0, "%s: stack missing from the profile: %.*s", what, (int)(nl - p),
			      p);
		long long want = strtoll(sp + 1, NULL, 10);
		long long got = which ? f->bytes[i] : f->samples[i];
		cr_assert_eq(got, want, "%s: %.*s: %lld, want %lld", what, (int)(sp - p), p, got,
			     want);
	}
	cr_assert_gt(lines, 0, "%s: nothing to compare", what);
}

/* Both values of every stack: bytes exactly the simulation's, samples exactly collapsed's
 * time per stack; every sample labelled with its thread and process. */
Test(render_pprof, decodes_to_the_simulated_stacks)
{
	need_decoder();
	char *tmp = rrun_tmpdir();
	for (size_t i = 0; i < NFIXTURES; i++) {
		struct buf out = BUF_INIT, want = BUF_INIT, path = BUF_INIT;
		struct folded f;
		struct rrun r;
		buf_addf(&out, "%s/%s.pb.gz", tmp, fixtures[i][0]);
		pprof_of(fixtures[i][1], buf_cstr(&out));
		decode(buf_cstr(&out), &f);
		cr_assert_str_eq(f.header[0], "types samples/count memory/bytes");
		cr_assert(strncmp(f.header[1], "period 1000000 wall/nanoseconds", 31) == 0, "%s",
			  f.header[1]);
		buf_addf(&path, "%s/expected/%s.collapsed", RENDER_FIXTURES, fixtures[i][0]);
		rrun_read(buf_cstr(&path), &want);
		assert_lines_match(&f, buf_cstr(&want), 1, fixtures[i][0]);
		struct buf dir = BUF_INIT;
		buf_addf(&dir, "%s/%s", RENDER_FIXTURES, fixtures[i][1]);
		const char *args[] = {"render",	    "collapsed", buf_cstr(&dir),
				      "--interval", "0.001",	 "--per-thread",
				      NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 0);
		assert_lines_match(&f, buf_cstr(&r.out), 0, fixtures[i][0]);
		for (size_t k = 0; k < f.n; k++) {
			cr_assert(f.samples[k] != 0 || f.bytes[k] != 0, "an empty sample");
			cr_assert_eq(f.pid[k], atol(fixtures[i][2]));
		}
		rrun_free(&r);
		folded_free(&f);
		buf_free(&dir);
		buf_free(&out);
		buf_free(&want);
		buf_free(&path);
	}
	rrun_rmtree(tmp);
	free(tmp);
}

/* An output that cannot be written: exit 7, nothing left behind. */
Test(render_pprof, unwritable_output_leaves_nothing)
{
	char *tmp = rrun_tmpdir();
	struct buf out = BUF_INIT;
	struct rrun r;

	buf_addf(&out, "%s/no/such/dir/p.pb.gz", tmp);
	const char *args[] = {"render", "pprof",	RENDER_FIXTURES "/tgattach-nested/5151",
			      "-o",	buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 7, "exit %d: %s", r.status, buf_cstr(&r.err));
	cr_assert_eq(rrun_count_entries(tmp), 0);
	rrun_free(&r);
	buf_free(&out);
	rrun_rmtree(tmp);
	free(tmp);
}
