/* End-to-end tests of `render speedscope` with independent tools: the files validate
 * against the JSON Schema the speedscope npm package ships (checked with ajv, through
 * tests/js/speedscope_check.cjs, which also checks nesting and frame indices), and the
 * memory profiles of --weight bytes hold exactly the recording generator's bytes per stack
 * (fixtures/recordings/expected/REC.collapsed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

#define NODE_MODULES "build/npm/node_modules"

static const char *const fixtures[][2] = {
    {"threadgraph-orig", "threadgraph-orig/4242"},
    {"tgattach-nested", "tgattach-nested/5151"},
    {"many-threads", "many-threads/6262"},
};
#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

static void need_checker(void)
{
	char *node = rrun_which("node");

	if (!node)
		cr_skip_test("no node: the speedscope schema check runs on Node.js");
	free(node);
	cr_assert(rrun_exists(NODE_MODULES "/speedscope/package.json") &&
		      rrun_exists(NODE_MODULES "/ajv/package.json"),
		  "speedscope and ajv are not installed in " NODE_MODULES " (tools/npmdeps.sh)");
}

/* The checker's output on file (asserting it validates). */
static void check(const char *file, struct buf *out)
{
	const char *argv[] = {"/usr/bin/env", "NODE_PATH=" NODE_MODULES,
			      "node",	      "tests/js/speedscope_check.cjs",
			      file,	      NULL};
	struct rrun r;

	rrun_exec(&r, NULL, argv);
	cr_assert_eq(r.status, 0, "%s does not validate: %s", file, buf_cstr(&r.err));
	buf_add(out, r.out.data, r.out.len);
	rrun_free(&r);
}

static void export(const char *rec, const char *file, int bytes)
{
	struct buf dir = BUF_INIT;
	struct rrun r;

	buf_addf(&dir, "%s/%s", RENDER_FIXTURES, rec);
	const char *args[] = {
	    "render", "speedscope", buf_cstr(&dir), "-q", "-o", file, bytes ? "--weight" : NULL,
	    "bytes",  NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s: %s", rec, buf_cstr(&r.err));
	rrun_free(&r);
	buf_free(&dir);
}

/* Lines of the checker's output that are folded stacks (they hold a ';' or a '(';
 * profile lines start with evented/sampled), sorted, as one text. */
static void folded_lines(const char *text, int evented_ok, struct buf *out, size_t *profiles)
{
	char *copy = strdup(text), *save = NULL, *v[4096];
	size_t n = 0;

	*profiles = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "evented ", 8) == 0 || strncmp(l, "sampled ", 8) == 0) {
			cr_assert(evented_ok || strncmp(l, "sampled ", 8) == 0, "%s", l);
			(*profiles)++;
			continue;
		}
		cr_assert_lt(n, 4096);
		v[n++] = l;
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen lines */
		for (size_t k = i; k > 0 && strcmp(v[k], v[k - 1]) < 0; k--) {
			char *t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		buf_addstr(out, v[i]);
		buf_addch(out, '\n');
	}
	free(copy);
}

Test(render_speedscope_schema, time_and_memory_profiles_validate_and_match)
{
	need_checker();
	char *tmp = rrun_tmpdir();
	for (size_t i = 0; i < NFIXTURES; i++) {
		struct buf file = BUF_INIT, got = BUF_INIT, stacks = BUF_INIT, want = BUF_INIT;
		struct buf path = BUF_INIT, sorted = BUF_INIT;
		size_t profiles, wanted;
		buf_addf(&file, "%s/%s.json", tmp, fixtures[i][0]);
		export(fixtures[i][1], buf_cstr(&file), 0);
		check(buf_cstr(&file), &got);
		cr_assert_not_null(strstr(buf_cstr(&got), "evented "), "%s", buf_cstr(&got));
		cr_assert_null(strstr(buf_cstr(&got), "sampled "), "no memory profile by default");
		buf_reset(&got);
		export(fixtures[i][1], buf_cstr(&file), 1);
		check(buf_cstr(&file), &got);
		folded_lines(buf_cstr(&got), 1, &stacks, &profiles);
		buf_addf(&path, "%s/expected/%s.collapsed", RENDER_FIXTURES, fixtures[i][0]);
		rrun_read(buf_cstr(&path), &want);
		folded_lines(buf_cstr(&want), 0, &sorted, &wanted);
		cr_assert_str_eq(buf_cstr(&stacks), buf_cstr(&sorted),
				 "%s: the memory profiles are not the simulation's bytes",
				 fixtures[i][0]);
		cr_assert_geq(profiles, 2);
		buf_free(&file);
		buf_free(&got);
		buf_free(&stacks);
		buf_free(&want);
		buf_free(&path);
		buf_free(&sorted);
	}
	rrun_rmtree(tmp);
	free(tmp);
}

Test(render_speedscope_schema, bad_weight_refused)
{
	struct rrun r;
	const char *args[] = {"render",	  "speedscope", RENDER_FIXTURES "/tgattach-nested/5151",
			      "--weight", "time",	NULL};

	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 2, "exit %d", r.status);
	cr_assert_not_null(strstr(buf_cstr(&r.err), "--weight"));
	rrun_free(&r);
}

/* The real app (the speedscope npm package's, in Debian's chromium, headless) reads the
 * file: its toolbar names the first thread and counts every profile; the screenshot is
 * kept in build/render-look for a person to look at. */
Test(render_speedscope_schema, opens_in_the_speedscope_app, .timeout = 300)
{
	char *chromium = rrun_which("chromium");
	if (!chromium)
		cr_skip_test("no chromium (make deps installs it): the app is not opened");
	free(chromium);
	need_checker();
	char *tmp = rrun_tmpdir();
	struct buf file = BUF_INIT, png = BUF_INIT;
	struct rrun r;
	buf_addf(&file, "%s/p.json", tmp);
	buf_addf(&png, "%s/p.png", tmp);
	export("tgattach-nested/5151", buf_cstr(&file), 1);
	const char *argv[] = {"/usr/bin/python3", "tests/js/speedscope_open.py", buf_cstr(&file),
			      buf_cstr(&png), NULL};
	rrun_exec(&r, NULL, argv);
	cr_assert_eq(r.status, 0, "the app did not read the file: %s %s", buf_cstr(&r.out),
		     buf_cstr(&r.err));
	/* 2 threads: an evented and a memory profile each */
	cr_assert_not_null(strstr(buf_cstr(&r.out), "shown: MainThread (1/4)"), "%s",
			   buf_cstr(&r.out));
	rrun_assert_png(buf_cstr(&png), 1600, 900);
	rrun_keep_for_looking(buf_cstr(&png), "speedscope-app-tgattach-nested.png");
	rrun_free(&r);
	buf_free(&file);
	buf_free(&png);
	rrun_rmtree(tmp);
	free(tmp);
}
