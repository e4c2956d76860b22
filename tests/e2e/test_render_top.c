/* End-to-end tests of `tgattach render top`: the tables against what the fixtures'
 * simulated calls did (fixtures/recordings/gen.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

static void top(const char *rec, const char *const *extra, struct rrun *r)
{
	const char *args[16] = {"render", "top", rec};
	size_t n = 3;

	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(r, NULL, args);
	cr_assert_eq(r->status, 0, "%s", buf_cstr(&r->err));
}

static void has(const struct rrun *r, const char *text)
{
	cr_assert_not_null(strstr(buf_cstr(&r->out), text), "missing '%s' in:\n%s", text,
			   buf_cstr(&r->out));
}

/* tgattach-nested: alloc() gains 100, 200, 300 and 600 KB and loses 50 KB four times;
 * work() at line 20 is called four times, once inside work() at line 30; fib recurses. */
Test(render_top, nested_recording)
{
	struct rrun r;

	top(RENDER_FIXTURES "/tgattach-nested/5151", NULL, &r);
	has(&r, "Memory by function, PID 5151: python3 work.py --size 3\n");
	has(&r, "\nThread MainThread: 38 calls of 5 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		" +1001.2 KB         0 B         1  <module>  /opt/app/work.py:40\n"
		" +1001.2 KB         0 B         4  work  /opt/app/work.py:20\n"
		" +1000.0 KB  +1000.0 KB        12  alloc  /opt/app/work.py:5\n"
		"  +550.3 KB         0 B         1  work  /opt/app/work.py:30\n");
	/* fib(3) -> fib(2) -> fib(1), fib(0), and fib(1): 5 calls, 4 times; 64 x 3 + 64 x 2
	 * bytes each time.  NET counts the outermost call only, SELF every call's own. */
	has(&r, "    +1.2 KB     +1.2 KB        20  fib  /opt/app/work.py:12\n");
	has(&r, "\nThread worker/1: #2: 3 calls of 2 functions\n");
	has(&r, "  +212.0 KB         0 B         1  f=>g  /opt/app/we:ird#file.py:3\n");
	has(&r, "\nAll threads: 41 calls of 7 functions\n");
	rrun_free(&r);

	const char *exact[] = {"--bytes", "-n", "1", "--by", "calls", NULL};
	top(RENDER_FIXTURES "/tgattach-nested/5151", exact, &r);
	has(&r, "      +1280       +1280        20  fib  /opt/app/work.py:12\n"
		"        ... (4 more)\n");
	rrun_free(&r);

	const char *rev[] = {"--reverse", "--by", "self", "-n", "2", NULL};
	top(RENDER_FIXTURES "/threadgraph-orig/4242", rev, &r);
	has(&r, "\nThread MainThread: 24 calls of 4 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		"  -512.0 KB   -512.0 KB         1  shutdown  /srv/app:v2/main.py:100\n"
		"  -168.0 KB   -168.0 KB         8  doStuff  /srv/app:v2/main.py:27\n");
	rrun_free(&r);
}

/* A thread without its .stack file: NET from the returns alone, no SELF. */
Test(render_top, returns_only_and_errors)
{
	char *tmp = rrun_tmpdir();
	struct buf f = BUF_INIT;
	struct rrun r;

	buf_addf(&f, "%s/T.mem", tmp);
	rrun_write(buf_cstr(&f), "1.0#a.py:3:f=>2048\n2.0#a.py:3:f=>2048\nbroken\n", 44);
	top(tmp, NULL, &r);
	has(&r, "\nThread T (no .stack file: no SELF): 2 calls of 1 function\n");
	has(&r, "    +4.0 KB           -         2  f  a.py\n");
	cr_assert_not_null(strstr(buf_cstr(&r.err), "T.mem:3: skipped malformed line"), "%s",
			   buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "1 malformed line skipped"));
	rrun_free(&r);
	const char *bad[][5] = {
	    {"render", "top", "-n", "x", NULL},
	    {"render", "top", "--by", "size", NULL},
	    {"render", "top", "--strict", tmp, NULL},
	};
	int want[] = {2, 2, 9};
	for (size_t i = 0; i < 3; i++) {
		rrun_tool(&r, NULL, bad[i]);
		cr_assert_eq(r.status, want[i], "case %zu: %d %s", i, r.status, buf_cstr(&r.err));
		rrun_free(&r);
	}
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&f);
}
