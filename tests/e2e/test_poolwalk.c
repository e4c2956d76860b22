/* sampler/poolwalk: a pool walk made by the helper thread beside the loop, against a real
 * interpreter that holds ~30 MB of small objects and then sleeps, an hour at a time, the
 * walks waiting until it does (so that a walk made by the caller itself, just before, is
 * the truth; a block changed between the two walks, 3.13, in a CI run and again on its way
 * to its sleep): the helper's walk finds the same blocks and bytes, says the process's
 * memory of its moment and the tag it was asked with; one walk at a time; nothing to take
 * before asking; the helper ends while a walk is under way; a walk of a process that
 * exited is no walk. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "sampler/alloc.h"
#include "sampler/poolwalk.h"
#include "sampler/session.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

static const char fixture[] = "import sys, time\n"
			      "keep = [str(i) * 3 for i in range(500000)]\n"
			      "sys.stdout.write('READY\\n'); sys.stdout.flush()\n"
			      "while True:\n"
			      "    time.sleep(3600)\n";

/* Until the fixture sleeps: asleep now and 0.1 s later (it allocates on its way from READY
 * to its sleep, and a walk made meanwhile is no truth: a block apart, 3.13, twice). */
static void wait_asleep(pid_t pid)
{
	double until = clock_mono_s() + 10;

	for (;;) {
		cr_assert(clock_mono_s() < until, "the fixture did not fall asleep within 10 s");
		if (proc_state(pid) == 'S') {
			usleep(100000);
			if (proc_state(pid) == 'S')
				return;
		}
		usleep(1000);
	}
}

/* The helper's result, waited for up to 10 s. */
static void wait_result(struct poolwalk *pw, struct poolwalk_result *res)
{
	double until = clock_mono_s() + 10;

	while (!poolwalk_take(pw, res)) {
		cr_assert(clock_mono_s() < until, "the helper gave no result within 10 s");
		usleep(1000);
	}
}

static void helper_walks(const char *prefix)
{
	char python[PATH_MAX];
	struct proc fx;
	struct session s;
	struct session_opts so = {0};
	struct tg_err err = {0};
	struct alloc_stats truth;
	struct poolwalk_result res;
	unsigned need = (1u << ALLOC_BLOCKS) | (1u << ALLOC_BYTES) | (1u << ALLOC_ARENA_BYTES);

	if (pyenv_python(prefix, python, sizeof python) < 0)
		cr_skip_test("pyenv %sx is not installed", prefix);
	char *argv[] = {python, "-c", (char *)fixture, NULL};
	cr_assert_eq(proc_spawn_ready(&fx, argv), 0, "%s: the fixture did not start", prefix);
	wait_asleep(fx.pid);
	cr_assert_eq(session_open(&s, fx.pid, &so, &err), 0, "%s", err.msg);
	struct alloc_reader *a = alloc_new(&s.remote, &s.target);
	alloc_read(a, 1, &truth);
	cr_assert_eq(truth.valid & need, need, "%s: the caller's own walk failed", prefix);

	struct poolwalk *pw = poolwalk_start(fx.pid, &s.target);
	cr_assert_not_null(pw);
	cr_assert_eq(poolwalk_take(pw, &res), 0, "a result before any walk was asked");
	_Atomic int64_t counter = 42, other = 0;
	cr_assert_eq(poolwalk_ask(pw, &counter), 0);
	cr_assert_eq(poolwalk_ask(pw, &other), -1, "a second walk asked while one is due");
	wait_result(pw, &res);
	cr_assert_eq(res.tag, 42);
	cr_assert(res.st.walked);
	cr_assert_eq(res.st.valid & need, need, "%s: the helper's walk failed", prefix);
	cr_assert_eq(res.st.v[ALLOC_BLOCKS], truth.v[ALLOC_BLOCKS], "%s: blocks %llu, truth %llu",
		     prefix, (unsigned long long)res.st.v[ALLOC_BLOCKS],
		     (unsigned long long)truth.v[ALLOC_BLOCKS]);
	cr_assert_eq(res.st.v[ALLOC_BYTES], truth.v[ALLOC_BYTES]);
	cr_assert_gt(res.st.v[ALLOC_BYTES], 16u << 20, "%s: %llu bytes in use", prefix,
		     (unsigned long long)res.st.v[ALLOC_BYTES]);
	cr_assert(res.have_mem && res.anon >= res.st.v[ALLOC_ARENA_BYTES] / 2 &&
		  res.rss >= res.anon);
	cr_assert(res.clock_ok && res.spent > 0);
	cr_assert_eq(poolwalk_take(pw, &res), 0, "one result taken twice");

	/* asked again, and ended at once: the walk under way finishes, then the helper ends */
	cr_assert_eq(poolwalk_ask(pw, &counter), 0);
	poolwalk_stop(pw);

	/* a process that exited: its walk is no walk, and says so */
	pw = poolwalk_start(fx.pid, &s.target);
	cr_assert_not_null(pw);
	session_close(&s);
	proc_reap(&fx);
	cr_assert_eq(poolwalk_ask(pw, &counter), 0);
	wait_result(pw, &res);
	cr_assert_eq(res.st.valid & need, 0u, "%s: a walk of a dead process has values", prefix);
	cr_assert_not(res.have_mem);
	poolwalk_stop(pw);
	alloc_free(a);
	fprintf(stderr, "poolwalk %-6s passed\n", prefix);
}

TestSuite(poolwalk, .timeout = 120);

Test(poolwalk, helper_3_11)
{
	helper_walks("3.11.");
}
Test(poolwalk, helper_3_12)
{
	helper_walks("3.12.");
}
Test(poolwalk, helper_3_13)
{
	helper_walks("3.13.");
}
Test(poolwalk, helper_2_7)
{
	helper_walks("2.7.");
}
