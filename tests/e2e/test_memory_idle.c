/* The memory attribution's bursts of micro-samples on a process that is idle most of the
 * time (a server's heartbeat): a burst is taken only while the process has run in the last
 * 20 ms, so that an idle worker costs little (docs/memory.md, "Cost"). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/e2e/fork_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(memory_idle, .timeout = 60);

/* A thread that wakes every 200 ms for a moment (allocates a little, frees it). */
static const char heartbeat[] = "import threading, time\n"
				"def beat():\n"
				"    while True:\n"
				"        time.sleep(0.2)\n"
				"        x = [str(i) for i in range(200)]\n"
				"        del x\n"
				"threading.Thread(target=beat, daemon=True).start()\n"
				"print('READY', flush=True)\n"
				"time.sleep(120)\n";

/* A meta key's value, as a number (the test fails without it). */
static long meta_long(const char *path, const char *key)
{
	char v[64];
	char *text = truth_read_text(path);

	cr_assert_not_null(text, "no %s", path);
	fork_meta_value(text, key, v, sizeof v);
	free(text);
	cr_assert_neq(v[0], '\0', "%s has no %s", path, key);
	return atol(v);
}

/* 3 s recorded: 15 heartbeats.  Each starts at most three bursts of 10 ms (the one under
 * way, and those due until the process has stood still for 20 ms); bursts went on for
 * 100 ms after each before, about 11 per heartbeat. */
Test(memory_idle, heartbeat_starts_few_bursts)
{
	char python[PATH_MAX], meta[PATH_MAX + 64];
	struct fixture f;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *dir = temp_dir("memidle");

	if (pyenv_python("3.12.", python, sizeof python) < 0)
		snprintf(python, sizeof python, "/usr/bin/python3");
	char *argv[] = {python, "-c", (char *)heartbeat, NULL};
	cr_assert_eq(fixture_start(&f, argv, "READY", 30), 0, "fixture did not start");
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)f.pid);
	char *rec[] = {TG_BIN, "-p", pid, "-o", dir, "-d", "3", "-q", NULL};
	int status = run_capture(rec, &out, &err, 30);
	fixture_stop(&f);
	cr_assert_eq(status, 0, "tgattach: %s", buf_cstr(&err));
	snprintf(meta, sizeof meta, "%s/%s/meta", dir, pid);
	long bursts = meta_long(meta, "mem_bursts"), idle = meta_long(meta, "mem_bursts_idle");
	fprintf(stderr, "memory_idle: 3 s, heartbeat every 0.2 s: %ld bursts, %ld skipped\n",
		bursts, idle);
	cr_assert_gt(bursts, 0, "no burst at all: the heartbeats were not seen");
	cr_assert_leq(bursts, 16 * 3, "%ld bursts for 15 heartbeats", bursts);
	cr_assert_geq(idle, 150, "only %ld windows of 300 skipped as idle", idle);
	/* the resolution render top shows: readings are paced 20 us apart at least, and a
	 * chain of them breaks after 50 ms */
	long reading_us = meta_long(meta, "mem_reading_us");
	cr_assert(reading_us >= 20 && reading_us <= 50000, "mem_reading_us=%ld", reading_us);
	/* and the share of that time in gaps over 0.5 ms: a percentage */
	char late[32], *text = truth_read_text(meta);
	cr_assert_not_null(text, "no %s", meta);
	fork_meta_value(text, "mem_reading_late", late, sizeof late);
	/* and how long the loop waited for a core: a percentage of the recording */
	char waited[32];
	fork_meta_value(text, "mem_loop_waited", waited, sizeof waited);
	free(text);
	double late_pct = strtod(late, NULL), waited_pct = strtod(waited, NULL);
	cr_assert(late[0] && late_pct >= 0 && late_pct <= 100, "mem_reading_late=%s", late);
	cr_assert(waited[0] && waited_pct >= 0 && waited_pct <= 100, "mem_loop_waited=%s", waited);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}
