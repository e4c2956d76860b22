/* Fork following under a fork storm (issue 5): 600 children at 200 a second recorded
 * without starving the parent's samples or growing tgattach's descriptors, the storm cut
 * by kill -9 or by the duration, children that run shell commands, a fork from a thread
 * before the first sample, and --no-follow-forks.  The harness is fork_util.h; the
 * checks are test_fork.c's. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e/fork_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

/* ---- the fork storm ----------------------------------------------------------------- */

#define STORM_RATE "200"
#define STORM_SECONDS "3"
#define STORM_CHILDREN 600

static void track_max_fds(struct fork_run *r, void *ctx)
{
	int *max = ctx, n = r->tg > 0 ? proc_count_fds(r->tg) : -1;

	if (n > *max)
		*max = n;
}

/* 600 children in 3 s, each living 0-50 ms.  Checked: the counts (forked = reaped = CHILD
 * lines = 600); every child was traced from its first instruction; the storm was not slowed
 * down badly (elapsed < 2 x 3 s: the parent is held at each fork event for far less than
 * the 5 ms between forks); every directory is a reported child's and is well-formed; every
 * child that lived >= 2 sample intervals has its directory, give or take 5% (a child
 * living 2 intervals spans at least one full tick, so it is missed only when that tick came
 * more than 10 ms late, which a loaded 2-core machine running an ASan build does now and
 * then; a systematic miss is far more than 5%); children sampled at least twice show
 * storm_child (all but 5%: a child may be sampled at its birth, still at the fork line of
 * main, and a second tick can land before it has entered storm_child); the parent kept being
 * sampled (>= 50% of 100 Hz over the storm); and tgattach's descriptors stay bounded: at most 128
 * more than before the storm at its peak (about 10 children are alive at any time), and back to
 * within 16 once the children are gone (600 children that each kept even one file would be 600
 * more). */
Test(fork, storm_200_per_second)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-storm");
	const char *args[] = {STORM_RATE, STORM_SECONDS, NULL};
	int max_fds = 0;

	fork_fx_start(r, "fork_storm.py", args);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_sampling(r);
	int base_fds = proc_count_fds(r->tg);
	cr_assert(base_fds > 0);
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);
	fork_fx_require_done(r, 40000, track_max_fds, &max_fds);
	/* let tgattach see the last exits: on a loaded machine it may take a few seconds to
	 * close the last children's recordings; a leak stays */
	int end_fds = proc_count_fds(r->tg);
	for (long until = proc_now_ms() + 8000; end_fds > base_fds + 16 && proc_now_ms() < until;
	     end_fds = proc_count_fds(r->tg))
		usleep(100000);
	fork_tg_require_running(r, "during the storm");
	fork_tg_stop(r, SIGINT);

	long forked = fork_kv_long(r->done, "forked"), reaped = fork_kv_long(r->done, "reaped");
	char elapsed_s[32];
	double elapsed = atof(fork_kv_str(r->done, "elapsed", elapsed_s, sizeof elapsed_s));
	cr_assert_eq(forked, STORM_CHILDREN, "%s", r->done);
	cr_assert_eq(reaped, forked, "children left unreaped (stopped?): %s", r->done);
	cr_assert_eq(r->nchildren, forked, "%d CHILD lines for %ld forks", r->nchildren, forked);
	fork_check_traced_from_birth(r, "storm", r->tracer);

	int long_lived = 0, missing = 0, sampled = 0, shows_code = 0;
	for (int i = 0; i < r->nchildren; i++) {
		struct fork_child *c = &r->children[i];
		char dir[PATH_MAX + 32];
		snprintf(dir, sizeof dir, "%s/%d", r->out, (int)c->pid);
		int lived_long = c->lived_ms >= 2 * 1000.0 / FORK_RATE_HZ;
		long_lived += lived_long;
		if (!fork_has_dir(r->out, c->pid)) {
			missing += lived_long;
			continue;
		}
		fork_check_process_dir(r, c->pid, r->fx.pid, 0, NULL);
		if (lived_long && fork_mem_lines(dir, 0, 0, NULL) >= 2) {
			sampled++;
			shows_code += fork_stack_has(dir, "storm_child", NULL);
		}
	}
	double start = 0, end = 0;
	cr_assert_eq(sscanf(r->storm, "STORM start=%lf end=%lf", &start, &end), 2, "%s", r->storm);
	char pdir[PATH_MAX + 32];
	int in_window = 0;
	snprintf(pdir, sizeof pdir, "%s/%d", r->out, (int)r->fx.pid);
	fork_mem_lines(pdir, start, end, &in_window);
	fprintf(stderr,
		"fork storm: %d children lived >= 20 ms, %d of them without a "
		"directory; %d sampled twice or more, %d show storm_child; fds %d -> peak %d -> "
		"%d; parent samples during the storm %d; %s\n",
		long_lived, missing, sampled, shows_code, base_fds, max_fds, end_fds, in_window,
		r->done);
	/* a target held up by the fork following, not its speed (make bench measures that):
	 * under a loaded CI machine the pacing alone can take twice as long */
	cr_assert_lt(elapsed, 4 * atof(STORM_SECONDS), "600 forks paced over 3 s took %.2f s",
		     elapsed);
	fork_check_no_stray_dirs(r);
	cr_assert(long_lived > STORM_CHILDREN / 4, "only %d children lived >= 20 ms", long_lived);
	cr_assert(missing * 20 <= long_lived,
		  "%d of %d children that lived >= 2 sample "
		  "intervals have no directory",
		  missing, long_lived);
	cr_assert(shows_code * 20 >= sampled * 19,
		  "%d of %d children sampled twice or more "
		  "show storm_child",
		  shows_code, sampled);

	/* starved, not slow: a loaded CI machine gives the parent less than its rate, and as
	 * much less as the storm itself ran slower than paced (CI #59: 175 samples in 7.69 s
	 * of a storm paced over 3 s) */
	double slower = fmax(1.0, elapsed / atof(STORM_SECONDS));
	cr_assert(in_window * 4 * slower >= (end - start) * FORK_RATE_HZ,
		  "the parent got %d samples in the %.2f s of the storm at %d Hz (%.1f x slower "
		  "than paced)",
		  in_window, end - start, FORK_RATE_HZ, slower);
	cr_assert(max_fds <= base_fds + 128,
		  "tgattach's descriptors: %d before the storm, %d "
		  "at its peak",
		  base_fds, max_fds);
	cr_assert(end_fds <= base_fds + 16,
		  "tgattach's descriptors: %d before the storm, still "
		  "%d after its 600 children ended (files of exited children not closed?)",
		  base_fds, end_fds);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

/* tgattach ends while the storm forks (killed by sig, or by its own -d duration): right
 * then no process of the tree is stopped or traced, and afterwards every child the storm
 * forks ends and is reaped (a child left stopped would never be). */
static void storm_interrupted(int sig, const char *duration)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-stop");
	const char *args[] = {STORM_RATE, STORM_SECONDS, NULL};
	char when[64];

	fork_fx_start(r, "fork_storm.py", args);
	long started = proc_now_ms();
	fork_tg_start(r, duration, NULL);
	fork_tg_wait_sampling(r);
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);
	if (sig) {
		fork_fx_collect(r, 1000, NULL, NULL);
		cr_assert(!r->done[0], "the storm ended before tgattach was killed");
		cr_assert(r->nchildren > 0);
		kill(r->tg, sig);
		int status = fork_tg_wait(r, 10000);
		cr_assert(status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == sig,
			  "tgattach status 0x%x", status);
		snprintf(when, sizeof when, "right after kill -%d of tgattach", sig);
	} else {
		int status = -1; /* stays -1 (fails below) when tgattach outlives 15 s */
		for (long until = proc_now_ms() + 15000; proc_now_ms() < until;) {
			fork_fx_collect(r, 50, NULL, NULL);
			if (waitpid(r->tg, &status, WNOHANG) == r->tg)
				break;
		}
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "tgattach -d %s: status 0x%x; stderr: %s", duration, status,
			  fork_tg_stderr(r));
		r->tg = 0;
		cr_assert(
		    !r->done[0] && r->nchildren > 0,
		    "tgattach -d %s ran %.2f s: it did not end in the middle of the storm (%d "
		    "children, %s)",
		    duration, (proc_now_ms() - started) / 1000.0, r->nchildren, r->done);
		snprintf(when, sizeof when, "right after tgattach -d %s exited", duration);
	}
	fork_tree_check_clean(r->fx.pid, when);
	fork_fx_require_done(r, 30000, NULL, NULL);
	cr_assert(r->storm[0]);
	long forked = fork_kv_long(r->done, "forked"), reaped = fork_kv_long(r->done, "reaped");
	cr_assert_eq(forked, STORM_CHILDREN, "%s", r->done);
	cr_assert_eq(reaped, forked, "children never ended after %s (left stopped?): %s", when,
		     r->done);
	cr_assert_eq(r->nchildren, forked, "%d CHILD lines for %ld forks", r->nchildren, forked);
	fork_tree_check_clean(r->fx.pid, "after the storm");
	cr_assert(proc_all_untraced_running(r->fx.pid));
	fork_run_free(r);
}

/* tgattach killed (kill -9) one second into the storm, surely in the middle of some fork
 * event: the kernel detaches everything, and no child is left stopped. */
Test(fork, kill9_mid_storm)
{
	storm_interrupted(SIGKILL, NULL);
}
/* tgattach's own end (-d 1: under a second into the storm, which lasts 3 s: a margin for a
 * loaded machine) in the middle of the storm: it detaches every process. */
Test(fork, duration_ends_mid_storm)
{
	storm_interrupted(0, "1");
}

/* ---- shells, threads, exec ---------------------------------------------------------- */

Test(fork, shell_commands_leave_no_directory)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-shell");

	fork_fx_start(r, "fork_shell.py", NULL);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_sampling(r);
	fork_fx_go_and_finish(r, 30000);
	cr_assert(strstr(r->done, "shells=5 python=1 statuses=exit=0,exit=0,exit=0,exit=0,exit=0,"
				  "exit=0"),
		  "%s", r->done);
	cr_assert_eq(fork_count_kind(r, "shell"), 4, "%d shells reported",
		     fork_count_kind(r, "shell"));
	cr_assert_eq(fork_count_kind(r, "exec-sh"), 1);
	cr_assert_eq(fork_count_kind(r, "python"), 1);
	fork_tg_stop(r, SIGINT);
	fork_check_process_dir(r, r->fx.pid, 0, 1, "main");
	for (int i = 0; i < r->nchildren; i++) {
		struct fork_child *c = &r->children[i];
		if (fork_is_python_kind(c->kind))
			fork_check_process_dir(r, c->pid, r->fx.pid, 1, "shell_py_child");
		else
			cr_assert(!fork_has_dir(r->out, c->pid), "OUTDIR/%d exists for a %s child",
				  (int)c->pid, c->kind);
	}
	fork_check_traced_from_birth(r, "python", r->tracer);
	fork_check_no_stray_dirs(r);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

/* The fork comes from a non-main thread, and as soon as tgattach has seized the parent,
 * before its first sample: the child is recorded all the same, and its own new thread too. */
Test(fork, fork_from_thread_before_first_sample)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-thread");
	char dir[PATH_MAX + 32], path[PATH_MAX + 64];
	struct stat st;

	fork_fx_start(r, "fork_thread.py", NULL);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_traced(r);
	fork_fx_go_and_finish(r, 20000);
	cr_assert(strstr(r->done, "children=1 statuses=exit=0"), "%s", r->done);
	cr_assert_eq(fork_count_kind(r, "thread"), 1);
	fork_tg_stop(r, SIGINT);
	pid_t child = r->children[0].pid;
	fork_check_process_dir(r, r->fx.pid, 0, 1, NULL);
	fork_check_process_dir(r, child, r->fx.pid, 1, "thread_child_work");
	snprintf(dir, sizeof dir, "%s/%d", r->out, (int)child);
	snprintf(path, sizeof path, "%s/child-helper.stack", dir);
	cr_assert(stat(path, &st) == 0, "the child's own thread was not followed: %s missing",
		  path);
	cr_assert(fork_stack_has(dir, "child_thread_work", "child-helper.stack"),
		  "%s lacks child_thread_work", path);
	fork_check_traced_from_birth(r, "thread", r->tracer);
	fork_check_no_stray_dirs(r);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

/* --no-follow-forks: the child is not traced from its birth on, only the parent has a
 * directory. */
Test(fork, no_follow_forks)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-nofollow");
	pid_t dirs[16];

	fork_fx_start(r, "fork_thread.py", NULL);
	fork_tg_start(r, NULL, "--no-follow-forks");
	fork_tg_wait_sampling(r);
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);
	for (long until = proc_now_ms() + 10000; !r->nchildren && proc_now_ms() < until;)
		fork_fx_collect(r, 50, NULL, NULL);
	cr_assert_eq(r->nchildren, 1, "no CHILD line");
	pid_t child = r->children[0].pid;
	cr_assert_eq(r->children[0].tracer, 0, "the child was traced (by %ld) at its birth",
		     r->children[0].tracer);
	long tracer = proc_status_long(child, "TracerPid");
	cr_assert(tracer <= 0, "child %d is traced by %ld", (int)child, tracer);
	fork_fx_require_done(r, 20000, NULL, NULL);
	cr_assert(strstr(r->done, "statuses=exit=0"), "%s", r->done);
	fork_tg_stop(r, SIGINT);
	int n = fork_list_dirs(r->out, dirs, 16);
	cr_assert_eq(n, 1, "%d directories in OUTDIR, want the parent's only", n);
	cr_assert_eq(dirs[0], r->fx.pid);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}
