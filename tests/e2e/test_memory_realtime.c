/* --realtime, end to end: the recording loop runs under SCHED_FIFO (seen from outside
 * while tgattach records, and said in meta), the spacing from one burst to the next is in
 * meta, the tracer thread does not run under it, and it is refused
 * with one clear line where it cannot work: no bursts to read, or no right to real-time
 * scheduling (CAP_SYS_NICE dropped from the bounding set with setpriv). */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/e2e/fork_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(memory_realtime, .timeout = 120);

/* A target that allocates and frees all the time, so that bursts run back to back. */
static const char busy_src[] = "import time\n"
			       "print('READY', flush=True)\n"
			       "keep = []\n"
			       "end = time.time() + 100\n"
			       "while time.time() < end:\n"
			       "    junk = [str(i) for i in range(2000)]\n"
			       "    keep.append(bytearray(64))\n";

/* How many of tgattach's threads were seen under SCHED_FIFO (policy 1) over secs, and
 * whether one was seen under SCHED_OTHER at the same time as the FIFO one. */
static int watch_policies(pid_t pid, double secs, int *other_too)
{
	int fifo_seen = 0;
	struct timespec ts = {0, 2000000};
	for (int i = 0; i < (int)(secs / 0.002); i++) {
		pid_t tids[16];
		size_t n = proc_tasks(pid, tids, 16);
		int fifo = 0, other = 0;
		for (size_t k = 0; k < n; k++) {
			int p = (int)proc_stat_long(tids[k], 41); /* policy */
			fifo += p == 1;
			other += p == 0;
		}
		fifo_seen += fifo > 0;
		if (fifo && other)
			*other_too = 1;
		nanosleep(&ts, NULL);
	}
	return fifo_seen;
}

Test(memory_realtime, bursts_read_under_sched_fifo)
{
	char py[PATH_MAX], pidarg[16], path[PATH_MAX], val[64];
	struct proc fx, tg;

	if (pyenv_python("3.12.", py, sizeof py) < 0) {
		fprintf(stderr, "memory %-24s skipped: 3.12. not installed\n", "realtime");
		cr_skip_test("pyenv 3.12 is not installed");
	}
	char *fargv[] = {py, "-c", (char *)busy_src, NULL};
	cr_assert_eq(proc_spawn_ready(&fx, fargv), 0);
	snprintf(pidarg, sizeof pidarg, "%d", (int)fx.pid);
	char *dir = temp_dir("realtime");
	char *argv[] = {TG_BIN, "-p", pidarg, "-o", dir, "-q", "-d", "3", "--realtime", NULL};
	cr_assert_eq(proc_spawn(&tg, argv), 0);
	int other_too = 0, fifo = watch_policies(tg.pid, 2.0, &other_too);
	int status = -1;
	cr_assert_eq(proc_wait_exit(&tg, 30000, &status), 0, "tgattach did not end");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tgattach: status %d", status);
	cr_assert(fifo > 0, "no thread of tgattach was seen under SCHED_FIFO while it recorded");
	cr_assert(other_too, "the tracer thread should keep SCHED_OTHER beside the reader");

	snprintf(path, sizeof path, "%s/%d/meta", dir, (int)fx.pid);
	char *meta = truth_read_text(path);
	cr_assert_not_null(meta, "%s missing", path);
	cr_assert_str_eq(fork_meta_value(meta, "mem_realtime", val, sizeof val), "1");
	cr_assert_str_empty(fork_meta_value(meta, "mem_realtime_refused", val, sizeof val),
			    "bursts were read without SCHED_FIFO: %s", val);
	cr_assert_str_not_empty(fork_meta_value(meta, "mem_reading_us", val, sizeof val));
	long us = atol(val);
	cr_assert(us >= 20 && us <= 5000, "a reading every %ld us under --realtime", us);
	/* from one burst to the next: the stack sample and the wait for the loop's next tick
	 * (a millisecond at most, and what the loop waits for a CPU) */
	cr_assert_str_not_empty(fork_meta_value(meta, "mem_burst_gap_us", val, sizeof val));
	long gap = atol(val);
	cr_assert(gap > 0 && gap < 50000, "%ld us from one burst to the next", gap);
	free(meta);
	cr_assert(proc_all_untraced_running(fx.pid));
	proc_reap(&fx);
	proc_reap(&tg);
	remove_tree(dir);
	free(dir);
}

/* Refused before anything is attached: nothing to read in bursts, or no right to
 * real-time scheduling (exit 4, naming CAP_SYS_NICE). */
Test(memory_realtime, refused_with_one_clear_line)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	char pidarg[16];
	snprintf(pidarg, sizeof pidarg, "%d", (int)getpid());

	char *no_bursts[][8] = {
	    {TG_BIN, "-p", pidarg, "--realtime", "--mem-rate", "0", NULL},
	    {TG_BIN, "-p", pidarg, "--realtime", "--profile", "c", NULL},
	};
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&err);
		int rc = run_capture(no_bursts[i], &out, &err, 30);
		cr_assert_eq(rc, 2, "%s: exit %d", no_bursts[i][4], rc);
		cr_assert(strstr(buf_cstr(&err), "--realtime") &&
			      strchr(buf_cstr(&err), '\n') == strrchr(buf_cstr(&err), '\n'),
			  "not one clear line: %s", buf_cstr(&err));
	}
	if (access("/usr/bin/setpriv", X_OK) != 0) {
		fprintf(stderr, "memory %-24s skipped: no setpriv\n", "realtime-refused");
	} else {
		char *argv[] = {"/usr/bin/setpriv",
				"--bounding-set",
				"-sys_nice",
				TG_BIN,
				"-p",
				pidarg,
				"--realtime",
				"-d",
				"1",
				NULL};
		buf_reset(&err);
		int rc = run_capture(argv, &out, &err, 30);
		cr_assert_eq(rc, 4, "without CAP_SYS_NICE: exit %d: %s", rc, buf_cstr(&err));
		cr_assert(strstr(buf_cstr(&err), "CAP_SYS_NICE"), "%s", buf_cstr(&err));
		cr_assert_eq(proc_status_long(getpid(), "TracerPid"), 0);
	}
	buf_free(&out);
	buf_free(&err);
}
