/* End-to-end tests of `tgattach render top`: the tables against what the fixtures'
 * simulated calls did (fixtures/recordings/gen.py). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * work() is called four times at line 20, once of them inside a call at line 30: one row
 * (the line first seen), whose NET counts the outermost calls only; fib recurses. */
Test(render_top, nested_recording)
{
	struct rrun r;

	top(RENDER_FIXTURES "/tgattach-nested/5151", NULL, &r);
	has(&r, "Memory by function, PID 5151: python3 work.py --size 3\n");
	has(&r, "\nThread MainThread: 38 calls of 4 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		" +1001.2 KB         0 B         1  <module>  /opt/app/work.py:40\n"
		" +1001.2 KB         0 B         5  work  /opt/app/work.py:20\n"
		" +1000.0 KB  +1000.0 KB        12  alloc  /opt/app/work.py:5\n");
	/* fib(3) -> fib(2) -> fib(1), fib(0), and fib(1): 5 calls, 4 times; 64 x 3 + 64 x 2
	 * bytes each time.  NET counts the outermost call only, SELF every call's own. */
	has(&r, "    +1.2 KB     +1.2 KB        20  fib  /opt/app/work.py:12\n");
	has(&r, "\nThread worker/1: #2: 3 calls of 2 functions\n");
	has(&r, "  +212.0 KB         0 B         1  f=>g  /opt/app/we:ird#file.py:3\n");
	has(&r, "\nAll threads: 41 calls of 6 functions\n");
	rrun_free(&r);

	const char *exact[] = {"--bytes", "-n", "1", "--by", "calls", NULL};
	top(RENDER_FIXTURES "/tgattach-nested/5151", exact, &r);
	has(&r, "      +1280       +1280        20  fib  /opt/app/work.py:12\n"
		"        ... (3 more)\n");
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
	has(&r, "  charged                  -  unknown: no thread has a .stack file (nesting "
		"unknown)\n"
		"  not counted              1  thread with only a .mem file (nesting unknown)\n");
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

static void put(const char *dir, const char *name, const char *text)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/%s", dir, name);
	rrun_write(buf_cstr(&path), text, strlen(text));
	buf_free(&path);
}

/* render top of a recording whose meta has a resolution line and then `more` */
static void top_with_meta(const char *tmp, const char *more, struct rrun *r)
{
	struct buf m = BUF_INIT;

	buf_addf(&m, "run=1\nstart=299.9\nmetric=rss\nmem_reading_us=75\n%s", more);
	put(tmp, "meta", buf_cstr(&m));
	buf_free(&m);
	top(tmp, NULL, r);
}

static void has_err(const struct rrun *r, const char *text)
{
	cr_assert_not_null(strstr(buf_cstr(&r->err), text), "missing '%s' in stderr:\n%s", text,
			   buf_cstr(&r->err));
}

static void lacks(const struct rrun *r, const char *text)
{
	cr_assert_null(strstr(buf_cstr(&r->out), text), "unexpected '%s' in:\n%s", text,
		       buf_cstr(&r->out));
}

/* A function is one row whatever the lines its calls were seen at: f seen at line 3 and
 * at line 7, once recursively (line 3 inside line 7). */
Test(render_top, one_row_per_function)
{
	char *tmp = rrun_tmpdir();
	const char *exact[] = {"--bytes", NULL};
	struct rrun r;

	put(tmp, "T.stack", "1.0#a.py:3:f\n2.0#a.py:7:f\n 2.1#a.py:3:f\n 2.3#a.py:20:g\n");
	put(tmp, "T.mem",
	    "1.5#a.py:4:f=>1000\n2.2#a.py:4:f=>500\n2.4#a.py:21:g=>-100\n"
	    "2.5#a.py:8:f=>3000\n");
	top(tmp, exact, &r);
	/* NET: the two outermost calls (1000 + 3000); SELF: every call's own (1000 + 500 +
	 * 3000 - 500 - -100); the LINE shown is the first seen */
	has(&r, "\nThread T: 4 calls of 2 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		"      +4000       +4100         3  f  a.py:3\n"
		"       -100        -100         1  g  a.py:20\n");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* Threads whose names differ only by numbers (a server's thread per request) make one
 * table, after the all-threads one; worker-3 has no .stack file. */
Test(render_top, one_table_per_thread_family)
{
	char *tmp = rrun_tmpdir();
	const char *exact[] = {"--bytes", NULL};
	struct rrun r;

	put(tmp, "MainThread.stack", "1.0#m.py:1:main\n");
	put(tmp, "MainThread.mem", "1.5#m.py:2:main=>100\n");
	put(tmp, "worker-1.stack", "1.0#w.py:5:job\n");
	put(tmp, "worker-1.mem", "1.2#w.py:6:job=>1000\n");
	put(tmp, "worker-2.stack", "1.0#w.py:5:job\n 1.1#w.py:9:leaf\n");
	put(tmp, "worker-2.mem", "1.15#w.py:10:leaf=>300\n1.3#w.py:6:job=>2000\n");
	put(tmp, "worker-3.mem", "1.0#w.py:6:job=>7\n");
	put(tmp, "worker-10.stack", "2.0#w.py:5:job\n");
	put(tmp, "worker-10.mem", "2.5#w.py:6:job=>-500\n");
	top(tmp, exact, &r);
	/* job: 1000 + 2000 - 500 + 7; SELF without worker-3's and leaf's 300 */
	has(&r, "\n4 threads worker-N (1 without a .stack file: no SELF from them): 5 calls of 2 "
		"functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		"      +2507       +2200         4  job  w.py:5\n"
		"       +300        +300         1  leaf  w.py:9\n");
	has(&r, "\nThread MainThread: 1 call of 1 function\n");
	lacks(&r, "Thread worker");
	const char *out = buf_cstr(&r.out);
	const char *all = strstr(out, "\nAll threads: 6 calls of 3 functions\n");
	cr_assert(all && all < strstr(out, "\nThread MainThread") &&
		      strstr(out, "\nThread MainThread") < strstr(out, "\n4 threads worker-N"),
		  "all threads, then the families in name order:\n%s", out);
	rrun_free(&r);

	/* one family holds every thread: its table would be the all-threads one */
	for (const char *const *f =
		 (const char *const[]){"MainThread.stack", "MainThread.mem", "worker-3.mem", NULL};
	     *f; f++) {
		struct buf path = BUF_INIT;
		buf_addf(&path, "%s/%s", tmp, *f);
		cr_assert_eq(unlink(buf_cstr(&path)), 0);
		buf_free(&path);
	}
	top(tmp, exact, &r);
	has(&r, "\nAll threads: 4 calls of 2 functions\n");
	lacks(&r, "3 threads");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* A comprehension run as a call of its own (3.11 and older) is counted in the function
 * that ran it, as 3.12 runs it inline: crunch's list comprehension allocates 5000 that
 * crunch frees; a comprehension in another file than its caller, and a generator
 * expression, keep their own rows. */
Test(render_top, comprehensions_counted_in_their_function)
{
	char *tmp = rrun_tmpdir();
	const char *exact[] = {"--bytes", NULL};
	struct rrun r;

	put(tmp, "T.stack",
	    "1.0#w.py:40:crunch\n 1.1#w.py:42:crunch.<locals>.<listcomp>\n"
	    "  1.15#w.py:10:helper\n"
	    " 1.3#w.py:43:crunch.<locals>.<dictcomp>\n"
	    " 1.4#w.py:44:crunch.<locals>.<genexpr>\n"
	    "2.0#w.py:50:<module>\n 2.1#w.py:51:<listcomp>\n"
	    "3.0#w.py:60:k\n 3.1#other.py:3:<setcomp>\n");
	put(tmp, "T.mem",
	    "1.16#w.py:11:helper=>300\n1.2#w.py:42:crunch.<locals>.<listcomp>=>5300\n"
	    "1.35#w.py:43:crunch.<locals>.<dictcomp>=>200\n"
	    "1.45#w.py:44:crunch.<locals>.<genexpr>=>70\n1.5#w.py:45:crunch=>10\n"
	    "2.2#w.py:51:<listcomp>=>64\n2.3#w.py:52:<module>=>64\n"
	    "3.2#other.py:3:<setcomp>=>8\n3.3#w.py:61:k=>8\n");
	top(tmp, exact, &r);
	/* crunch: 10 - 300 (helper) - 70 (genexpr): -360, of which the comprehensions' own
	 * 5000 + 200 and its own -5560 */
	has(&r, "\nThread T: 6 calls of 6 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		"            (and 3 comprehension calls, counted in the function that ran them, as "
		"3.12 runs them inline)\n");
	has(&r, "        +10        -360         1  crunch  w.py:40\n");
	has(&r, "       +300        +300         1  helper  w.py:10\n");
	has(&r, "        +70         +70         1  crunch.<locals>.<genexpr>  w.py:44\n");
	has(&r, "        +64         +64         1  <module>  w.py:50\n");
	has(&r, "         +8          +8         1  <setcomp>  other.py:3\n");
	has(&r, "         +8           0         1  k  w.py:60\n");
	lacks(&r, "<listcomp>");
	lacks(&r, "<dictcomp>");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* The opening lines: duration, heap and RSS growth of the last run (process.alloc after its
 * last header, '?' skipped; process.mem from the last run's start), what the outermost calls
 * were charged in it, the remainder. */
Test(render_top, totals)
{
	char *tmp = rrun_tmpdir();
	struct rrun r;

	put(tmp, "meta",
	    "run=1\nstart=100.000000\nmetric=rss\nmem_unseen_bytes=7\nrun=2\nstart=200.000000\n"
	    "metric=heap\nunattributed_bytes=8192\nmem_unseen_bytes=524288\n");
	put(tmp, "process.alloc",
	    "# tgattach process.alloc of process 1, run 100.000000: one row per sample\n"
	    "# time rss anon heap\n"
	    "100.1 1000 900 5000000\n100.2 1000 900 90000000\n"
	    "# tgattach process.alloc of process 1, run 200.000000: one row per sample\n"
	    "# bytes or counts; ? = not read\n"
	    "# time rss anon heap\n"
	    "200.1 41943040 0 ?\n200.2 41943040 0 10485760\n200.3 41943040 0 ?\n"
	    "200.35 41943040 0 12.5.3\n200.36 41943040 0\n"
	    "200.4 44040192 0 12582912\n200.5 44040192 0 ?\n");
	put(tmp, "process.mem", "100.1#1000\n100.2#1000\n200.1#41943040\n200.5#44040192\n");
	put(tmp, "T.stack", "100.15#a.py:1:old\n200.15#a.py:10:outer\n 200.16#a.py:20:inner\n");
	put(tmp, "T.mem",
	    "100.18#a.py:2:old=>5242880\n200.2#a.py:21:inner=>1048576\n"
	    "200.3#a.py:11:outer=>1572864\n");
	top(tmp, NULL, &r);
	has(&r, "Memory by function, recording ");
	has(&r, "\n  duration             0.4 s  first to last process sample\n"
		"  heap growth        +2.0 MB  process.alloc, first to last heap value (the "
		"metric charged)\n"
		"  RSS growth         +2.0 MB  process.mem, first to last value\n"
		"  charged            +1.5 MB  75 % of the heap growth: net of each thread's "
		"outermost calls\n"
		"  remainder        +512.0 KB  25 % of the heap growth: not explained by the "
		"functions below\n"
		"  unattributed       +8.0 KB  charged to no thread (meta unattributed_bytes)\n"
		"  run unseen       +512.0 KB  25 % of the heap growth: made while a thread ran "
		"unseen\n"
		"                              between two readings and came back where it was "
		"seen: charged\n"
		"                              to that stack, to no function as its own (rows "
		"[ran unseen],\n"
		"                              meta mem_unseen_bytes; docs/memory.md)\n"
		"  runs                     2  appended: totals are the last run's, tables every "
		"run's\n"
		"\nThread T: 3 calls of 3 functions\n");
	lacks(&r, "WARNING");
	lacks(&r, "RUNNING");
	has_err(&r, "/process.alloc:11: skipped malformed line: a field is neither a number nor a "
		    "placeholder (?)\n");
	has_err(&r, "/process.alloc:12: skipped malformed line: fewer fields than the header "
		    "names\n");
	has_err(&r, "2 malformed lines skipped\n");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* Most of the growth unexplained: a warning before the tables.  Files as the original
 * ThreadGraph wrote them (no meta, no process.alloc): RSS is the growth. */
Test(render_top, warns_when_growth_is_unexplained)
{
	char *tmp = rrun_tmpdir();
	const char *exact[] = {"--bytes", NULL};
	struct rrun r;

	put(tmp, "T.stack", "10#a.py:1:f\n");
	put(tmp, "T.mem", "11#a.py:2:f=>1048576\n");
	put(tmp, "process.mem", "10#0\n12#10485760\n"); /* +10 MiB, 1 MiB charged */
	top(tmp, NULL, &r);
	has(&r, "\n  RSS growth        +10.0 MB  process.mem, first to last value (the metric "
		"charged)\n"
		"  charged            +1.0 MB  10 % of the RSS growth: net of each thread's "
		"outermost calls\n"
		"  remainder          +9.0 MB  90 % of the RSS growth: not explained by the "
		"functions below\n"
		"WARNING: most of the growth is not explained by the functions below: they are\n"
		"  charged +1.0 MB of the +10.0 MB RSS growth (10 %).");
	cr_assert(strstr(buf_cstr(&r.out), "WARNING") < strstr(buf_cstr(&r.out), "\nThread T"));
	rrun_free(&r);

	/* no growth to speak of, large charges */
	put(tmp, "process.mem", "10#10485760\n12#10489856\n");
	put(tmp, "T.mem", "11#a.py:2:f=>5242880\n");
	top(tmp, exact, &r);
	has(&r, "  charged           +5242880  128000 % of the RSS growth");
	has(&r, "WARNING: most of the growth is not explained");
	/* charged more than grew: the difference is a release seen in no call (a uWSGI
	 * worker that frees its heap as it exits after --max-requests) */
	has(&r, "(128000 %).\n  The other -5238784 was released where no call was seen "
		"running");
	rrun_free(&r);

	/* charged covers more than half: no warning */
	put(tmp, "T.mem", "11#a.py:2:f=>6291456\n");
	put(tmp, "process.mem", "10#0\n12#10485760\n");
	top(tmp, NULL, &r);
	has(&r, "  charged            +6.0 MB  60 % of the RSS growth");
	lacks(&r, "WARNING");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* Frames still running when the recording ended were closed with a return at meta's end=
 * (closed_at_end=N): counted as calls, and shown as RUNNING. */
Test(render_top, still_running_at_the_end)
{
	char *tmp = rrun_tmpdir();
	struct rrun r;

	put(tmp, "T.stack", "300.0#a.py:5:serve\n 300.1#a.py:9:handle\n 300.3#a.py:9:handle\n");
	put(tmp, "T.mem",
	    "300.200000#a.py:9:handle=>1024\n300.500000#a.py:9:handle=>2048\n"
	    "300.500000#a.py:6:serve=>4096\n");
	put(tmp, "process.mem", "300.0#0\n300.4#8192\n");
	put(tmp, "meta", "run=1\nstart=299.9\nmetric=rss\nend=300.500000\nclosed_at_end=2\n");
	top(tmp, NULL, &r);
	has(&r, "  duration             0.5 s  first process sample to the end (meta end)\n");
	has(&r, "  still running            2  calls closed at the end with their charges so far "
		"(RUNNING)\n");
	has(&r, "\nThread T: 3 calls of 2 functions\n"
		"        NET        SELF     CALLS RUNNING  FUNCTION\n"
		"    +4.0 KB     +1.0 KB         1       1  serve  a.py:5\n"
		"    +3.0 KB     +3.0 KB         2       1  handle  a.py:9\n");
	rrun_free(&r);

	/* the same files without end= and closed_at_end= (an older recording): as before */
	put(tmp, "meta", "run=1\nstart=299.9\nmetric=rss\n");
	top(tmp, NULL, &r);
	has(&r, "\nThread T: 3 calls of 2 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		"    +4.0 KB     +1.0 KB         1  serve  a.py:5\n");
	lacks(&r, "RUNNING");
	lacks(&r, "still running");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* meta's mem_reading_us: the resolution of the charges, said with what it means. */
Test(render_top, resolution_from_meta)
{
	char *tmp = rrun_tmpdir();
	struct rrun r;

	put(tmp, "T.stack", "300.0#a.py:5:serve\n");
	put(tmp, "T.mem", "300.200000#a.py:5:serve=>1024\n");
	put(tmp, "process.mem", "300.0#0\n300.4#1024\n");
	put(tmp, "meta", "run=1\nstart=299.9\nmetric=rss\nmem_reading_us=75\n");
	top(tmp, NULL, &r);
	has(&r, "  resolution           75 us  between memory readings (meta mem_reading_us): a "
		"call not much\n"
		"                              longer is charged only part of what it allocated, "
		"the rest goes\n");
	lacks(&r, "late readings");
	rrun_free(&r);
	/* mem_reading_late: the share of that time in gaps, said below it; out of range, not */
	put(tmp, "meta",
	    "run=1\nstart=299.9\nmetric=rss\nmem_reading_us=75\nmem_reading_late=27.4\n");
	top(tmp, NULL, &r);
	has(&r, "  late readings         27 %  of that time in gaps over 0.5 ms (meta "
		"mem_reading_late):\n");
	lacks(&r, "--realtime");
	rrun_free(&r);
	/* recorded without --realtime, with readings late that often: --realtime is named;
	 * not below TOP_LATE_HINT, nor when the recording was made with it */
	const char *hint[][2] = {{"mem_realtime=0\nmem_reading_late=27.4\n", "yes"},
				 {"mem_realtime=0\nmem_reading_late=12\n", NULL},
				 {"mem_realtime=1\nmem_reading_late=27.4\n", NULL}};
	for (size_t i = 0; i < 3; i++) {
		top_with_meta(tmp, hint[i][0], &r);
		has(&r, "  late readings");
		if (hint[i][1])
			has(&r,
			    "gap is charged to whatever ran at its end; --realtime\n"
			    "                              reads on time (CAP_SYS_NICE; it costs "
			    "the server more)\n");
		else
			lacks(&r, "--realtime");
		rrun_free(&r);
	}
	/* mem_loop_waited: the loop's wait for a core, said with the late readings; out of
	 * range, or without late readings, not */
	const char *waited[][2] = {{"mem_reading_late=27.4\nmem_loop_waited=18.6\n", "yes"},
				   {"mem_reading_late=27.4\nmem_loop_waited=101\n", NULL},
				   {"mem_loop_waited=18.6\n", NULL}};
	for (size_t i = 0; i < 3; i++) {
		top_with_meta(tmp, waited[i][0], &r);
		if (waited[i][1])
			has(&r,
			    "  loop waited           19 %  of the recording its loop waited for a "
			    "free core (meta\n"
			    "                              mem_loop_waited); late time beyond it "
			    "is its own work\n");
		else
			lacks(&r, "loop waited");
		rrun_free(&r);
	}
	/* sched_autogroup=shared with readings late that often: setsid -w is named; not when
	 * the session was tgattach's own, nor when readings were on time */
	const char *shared[][2] = {
	    {"mem_reading_late=27.4\nmem_loop_waited=18.6\nsched_autogroup=shared\n", "yes"},
	    {"mem_reading_late=27.4\nmem_loop_waited=18.6\nsched_autogroup=raised\n", NULL},
	    {"mem_reading_late=12\nmem_loop_waited=10\nsched_autogroup=shared\n", NULL}};
	for (size_t i = 0; i < 3; i++) {
		top_with_meta(tmp, shared[i][0], &r);
		has(&r, "  loop waited");
		if (shared[i][1])
			has(&r, "is its own work\n"
				"                              tgattach shared a session, and its "
				"share "
				"of the CPU\n"
				"                              (meta sched_autogroup): under "
				"setsid -w, or "
				"from a\n");
		else
			lacks(&r, "setsid");
		rrun_free(&r);
	}
	put(tmp, "meta",
	    "run=1\nstart=299.9\nmetric=rss\nmem_reading_us=75\nmem_reading_late=127\n");
	top(tmp, NULL, &r);
	has(&r, "  resolution           75 us");
	lacks(&r, "late readings");
	rrun_free(&r);
	/* a later run= starts a new block: its meta says nothing of readings (--mem-rate 0) */
	put(tmp, "meta",
	    "run=1\nmem_reading_us=75\nmem_reading_late=5\nrun=2\nstart=299.9\nmetric=rss\n");
	top(tmp, NULL, &r);
	lacks(&r, "resolution");
	lacks(&r, "late readings");
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
}

/* --merge-threads: the all-threads table only. */
Test(render_top, merge_threads)
{
	const char *merge[] = {"--merge-threads", NULL};
	struct rrun r;

	top(RENDER_FIXTURES "/tgattach-nested/5151", merge, &r);
	lacks(&r, "\nThread ");
	has(&r, "\nAll threads: 41 calls of 6 functions\n"
		"        NET        SELF     CALLS  FUNCTION\n"
		" +1001.2 KB         0 B         1  <module>  /opt/app/work.py:40\n");
	rrun_free(&r);
}

/* OUTDIR/PID: meta naming its parent (0: none), process.mem, and, with a thread, one
 * thread's calls: grow() kept 64 KB. */
static void put_proc(const char *outdir, long pid, long parent, int thread)
{
	struct buf dir = BUF_INIT, meta = BUF_INIT;

	buf_addf(&dir, "%s/%ld", outdir, pid);
	cr_assert_eq(mkdir(buf_cstr(&dir), 0755), 0);
	buf_addf(&meta, "run=1\npid=%ld\ncmdline=uwsgi --master\n", pid);
	if (parent)
		buf_addf(&meta, "parent=%ld\n", parent);
	put(buf_cstr(&dir), "meta", buf_cstr(&meta));
	put(buf_cstr(&dir), "process.mem", "1700000000.0#40000000\n1700000001.0#40065536\n");
	if (thread)
		put(buf_cstr(&dir), "Core0.mem", "1700000000.1#/app/w.py:3:grow=>65536\n");
	buf_free(&dir);
	buf_free(&meta);
}

/* A C server's master (uWSGI's) runs no Python code while recorded: its process has no
 * thread file.  The tree's report still shows its workers, and says so of the master; a
 * tree where no process has one is an error, as one process without any is. */
Test(render_top, tree_whose_master_ran_no_python)
{
	char *out = rrun_tmpdir();
	struct buf root = BUF_INIT, lone = BUF_INIT;
	struct rrun r;

	put_proc(out, 800, 0, 0);
	put_proc(out, 801, 800, 1);
	buf_addf(&root, "%s/800", out);
	const char *children[] = {"--children", NULL};
	top(buf_cstr(&root), children, &r);
	has(&r, "Process tree ");
	has(&r, "Memory by function, PID 800: uwsgi --master\n");
	has(&r, "No thread of this process ran Python code while it was recorded");
	has(&r, "Memory by function, PID 801: uwsgi --master\n");
	has(&r, "grow  /app/w.py\n");
	rrun_free(&r);

	const char *plain[] = {"render", "top", buf_cstr(&root), NULL};
	rrun_tool(&r, NULL, plain);
	cr_expect_eq(r.status, 9, "one process without thread files: %d", r.status);
	rrun_free(&r);

	put_proc(out, 900, 0, 0);
	put_proc(out, 901, 900, 0);
	buf_addf(&lone, "%s/900", out);
	const char *none[] = {"render", "top", "--children", buf_cstr(&lone), NULL};
	rrun_tool(&r, NULL, none);
	cr_expect_eq(r.status, 9, "a tree without thread files: %d", r.status);
	cr_expect_not_null(strstr(buf_cstr(&r.err), "no process of the tree has"), "%s",
			   buf_cstr(&r.err));
	rrun_free(&r);
	buf_free(&root);
	buf_free(&lone);
	rrun_rmtree(out);
	free(out);
}
