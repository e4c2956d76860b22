/* Thread churn, end to end: a server that starts a thread per request makes thousands of
 * short-lived threads over a day.  tgattach's descriptors must follow the live threads, not
 * every thread that ever lived (a soak run found 2 descriptors kept per dead thread, and
 * tgattach died of EMFILE after 16 minutes): here 600 threads come and go within a few
 * seconds, with at most a handful alive at once, and tgattach's open descriptors are
 * watched all along. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

#define CHURN_THREADS 600

TestSuite(churn, .timeout = 90);

/* Prints READY, then on a line from stdin runs CHURN_THREADS threads, a few at a time,
 * each living ~10 ms, and prints DONE. */
static const char churn_py[] =
    "import sys, threading, time\n"
    "def handler(n):\n"
    "    x = [n] * 1000\n"
    "    time.sleep(0.01)\n"
    "print('READY', flush=True)\n"
    "sys.stdin.readline()\n"
    "for i in range(%d):\n"
    "    t = threading.Thread(target=handler, args=(i,), name='req-%%d' %% i)\n"
    "    t.start()\n"
    "    if i %% 4 == 3:\n"
    "        t.join()\n"
    "print('DONE', flush=True)\n"
    "time.sleep(3600)\n";

/* tgattach on pid into dir under a descriptor limit (soft and hard: tgattach raises the soft
 * one only up to the hard one), for seconds (NULL: until a signal). */
static pid_t tg_limited(const char *pid, const char *dir, rlim_t limit, const char *seconds)
{
	pid_t tg = proc_fork_helper();
	if (tg == 0) {
		struct rlimit lim = {limit, limit};
		setrlimit(RLIMIT_NOFILE, &lim);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		if (seconds)
			execl(TG_BIN, TG_BIN, "-p", pid, "-o", dir, "-q", "-d", seconds,
			      (char *)NULL);
		else
			execl(TG_BIN, TG_BIN, "-p", pid, "-o", dir, "-q", (char *)NULL);
		_exit(127);
	}
	return tg;
}

/* A Python fixture from pyenv 3.12 or 3.11 running script, once it printed READY; its PID
 * in pid. */
static void start_fixture(struct proc *fx, const char *script, char *pid, size_t len)
{
	char python[PATH_MAX];

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    pyenv_python("3.11.", python, sizeof python) < 0)
		cr_skip_test("no pyenv 3.12 or 3.11 interpreter");
	char *fx_argv[] = {python, "-c", (char *)script, NULL};
	cr_assert_eq(proc_spawn(fx, fx_argv), 0);
	cr_assert_eq(proc_wait_line(fx, "READY", NULL, 0, 30000), 0, "fixture did not start");
	snprintf(pid, len, "%d", (int)fx->pid);
}

Test(churn, descriptors_follow_live_threads)
{
	char script[8192], pid[16];
	char *dir = temp_dir("churn");
	struct proc fx;

	snprintf(script, sizeof script, churn_py, CHURN_THREADS);
	start_fixture(&fx, script, pid, sizeof pid);
	pid_t tg = tg_limited(pid, dir, 256, NULL); /* a low limit, as many servers have */
	for (int i = 0; i < 500 && proc_status_long(fx.pid, "TracerPid") <= 0; i++)
		usleep(10000);
	usleep(300000); /* the first samples */
	int base = proc_count_fds(tg), peak = base;
	cr_assert_eq(proc_send(&fx, "go\n"), 0);
	long until = proc_now_ms() + 60000;
	char line[64];
	while (proc_read_line(&fx, line, sizeof line, 20) < 0 || strncmp(line, "DONE", 4)) {
		int n = proc_count_fds(tg);
		cr_assert_geq(n, 0, "tgattach died during the churn");
		if (n > peak)
			peak = n;
		cr_assert_lt(proc_now_ms(), until, "the fixture did not finish its threads");
	}
	usleep(500000); /* a few samples after the last thread ended */
	int end = proc_count_fds(tg);
	kill(tg, SIGINT);
	int st;
	cr_assert_eq(waitpid(tg, &st, 0), tg);
	fprintf(stderr,
		"churn: %d threads came and went; tgattach's descriptors %d -> peak %d -> %d\n",
		CHURN_THREADS, base, peak, end);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tgattach status %#x", st);
	/* the thread files are capped at 64 per process; a few more per live thread */
	cr_assert_leq(peak, base + 100, "descriptors: %d before the churn, %d at its peak", base,
		      peak);
	cr_assert_leq(end, base + 70, "descriptors: %d before, still %d after %d threads ended",
		      base, end, CHURN_THREADS);
	cr_assert(proc_all_untraced_running(fx.pid), "target left traced or stopped");
	/* every thread has a name of its own: a file named NAME@TID is a thread recorded under
	 * the name of another (a new thread reusing a dead one's ident took its stale entry) */
	char piddir[PATH_MAX + 32];
	snprintf(piddir, sizeof piddir, "%s/%s", dir, pid);
	int named = 0, misnamed = 0;
	DIR *d = opendir(piddir);
	cr_assert_not_null(d, "no %s", piddir);
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 6, ".stack") ||
		    strncmp(de->d_name, "req-", 4))
			continue;
		named++;
		if (strchr(de->d_name, '@')) {
			if (misnamed++ < 5)
				fprintf(stderr, "churn: misnamed %s\n", de->d_name);
		}
	}
	closedir(d);
	fprintf(stderr, "churn: %d request threads recorded, %d under another's name\n", named,
		misnamed);
	cr_assert_gt(named, CHURN_THREADS / 4, "only %d of %d request threads recorded", named,
		     CHURN_THREADS);
	cr_assert_eq(misnamed, 0, "%d of %d request threads recorded under another's name",
		     misnamed, named);
	kill(fx.pid, SIGKILL);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
}

/* 500 threads alive at once under a limit of 256 descriptors (issue 16, 6): tgattach's
 * descriptors are bounded by design (64 thread files, the counters of 64 threads kept
 * open, the rest opened per reading), not by the target's threads; under a limit too low
 * for any recording it refuses up front with exit 7, naming the limit. */
static const char many_py[] =
    "import threading, time\n"
    "ev = threading.Event()\n"
    "for i in range(500):\n"
    "    threading.Thread(target=ev.wait, name='w%d' % i, daemon=True).start()\n"
    "print('READY', flush=True)\n"
    "while True:\n"
    "    time.sleep(0.05)\n"
    "    sum(range(10000))\n";

Test(churn, descriptors_bounded_with_500_threads, .timeout = 120)
{
	char pid[16], piddir[PATH_MAX + 32];
	char *dir = temp_dir("many");
	struct proc fx;
	int st, peak = 0;

	start_fixture(&fx, many_py, pid, sizeof pid);

	pid_t tg = tg_limited(pid, dir, 10, "1");
	cr_assert_eq(waitpid(tg, &st, 0), tg);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 7, "ulimit -n 10: status %#x", st);
	cr_expect(proc_all_untraced_running(fx.pid), "target left traced after the refusal");

	tg = tg_limited(pid, dir, 256, "4");
	while (waitpid(tg, &st, WNOHANG) == 0) {
		int n = proc_count_fds(tg);
		if (n > peak)
			peak = n;
		usleep(50000);
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "500 threads, 256 descriptors: status %#x",
		  st);
	fprintf(stderr, "churn: 500 threads under a limit of 256: peak %d descriptors\n", peak);
	snprintf(piddir, sizeof piddir, "%s/%s", dir, pid);
	int stacks = 0;
	DIR *d = opendir(piddir);
	cr_assert_not_null(d, "no %s", piddir);
	for (struct dirent *de; (de = readdir(d));)
		stacks += strstr(de->d_name, ".stack") != NULL;
	closedir(d);
	cr_expect_geq(stacks, 450, "only %d of 501 threads recorded", stacks);
	cr_expect(proc_all_untraced_running(fx.pid), "target left traced or stopped");
	kill(fx.pid, SIGKILL);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
}
