/* test_trace.c: attach/trace and attach/loop against real processes with real ptrace.
 *
 * The target is tests/e2e/targets/trace_target.c, built at run time (and, in one test, the
 * Python workload fixtures/trace_threads.py).  Each test runs in its own process
 * (Criterion forks), which is the tracer and, except in the loop tests, the target's
 * parent too.  Helpers that must be another process (a second tracer, an unprivileged
 * tracer, a tracer that gets SIGTERM) are forked and report through a pipe. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <glob.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/loop.h"
#include "attach/trace.h"
#include "attach/tracer.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/trace_util.h"

TestSuite(trace, .timeout = 30);

/* ---- attach and detach ---- */

TRACE_TEST(trace_attach_seizes_every_thread)
{
	struct target tg;
	struct trace *t;

	tt_target_start(&tg, "6", NULL);
	cr_assert_eq(tg.ntasks, 7);
	t = tt_attach_ok(tg.pid, 0, NULL);
	cr_assert_eq(tt_assert_threads(tg.pid, gettid(), 0), 7);
	tt_assert_thread_list(t, tg.pid);
	cr_assert(trace_target_alive(t));
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0, "no pong while traced");
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_new_threads_are_traced)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	char line[LINE];
	int tid;

	tt_target_start(&tg, "2", NULL);
	t = tt_attach_ok(tg.pid, 0, &ev);
	for (int i = 0; i < 5; i++) {
		cr_assert(proc_send(&tg.p, "t") == 0);
		cr_assert(tt_line_servicing(t, &tg, "thread", line, sizeof line, 3000) == 0);
		cr_assert(sscanf(line, "thread %d", &tid) == 1);
		cr_assert_eq(proc_status_long(tid, "TracerPid"), gettid(), "new thread %d", tid);
		tt_service_for(t, 5);
		cr_assert_eq(tt_count_events(&ev, TRACE_EV_THREAD_NEW, tg.pid, tid), 1,
			     "one THREAD_NEW for %d", tid);
	}
	tt_assert_thread_list(t, tg.pid);
	/* threads that come and go all the time */
	cr_assert(proc_send(&tg.p, "c") == 0);
	cr_assert(tt_line_servicing(t, &tg, "churn", NULL, 0, 3000) == 0);
	tt_service_for(t, 300);
	tt_assert_all_traced(tg.pid);
	cr_assert_gt(tt_count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 20);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_attach_while_threads_appear)
{
	struct target tg;
	struct trace *t;

	tt_target_start(&tg, "3", NULL);
	/* several threads creating threads: some are born while tt_attach_ok() seizes */
	for (int i = 0; i < 6; i++) {
		cr_assert(proc_send(&tg.p, "c") == 0);
		cr_assert(proc_wait_line(&tg.p, "churn", NULL, 0, 3000) == 0);
	}
	for (int round = 0; round < 20; round++) {
		t = tt_attach_ok(tg.pid, 0, NULL);
		tt_assert_all_traced(tg.pid);
		tt_service_for(t, 10);
		tt_assert_all_traced(tg.pid);
		trace_detach(t);
		tt_assert_free_and_running(&tg);
	}
	tt_target_stop(&tg);
}

/* A signal sent just before the detach (or the pause) races with the interrupts: its
 * signal-delivery stop is held or comes while detaching.  It must reach the target. */
TRACE_TEST(trace_detach_delivers_held_signals)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};

	tt_target_start(&tg, "4", NULL);
	for (int i = 0; i < 16; i++) {
		t = tt_attach_ok(tg.pid, 0, NULL);
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		if (i % 2)
			cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		trace_detach(t);
		cr_assert(proc_wait_line(&tg.p, "usr1", NULL, 0, 3000) == 0,
			  "SIGUSR1 lost at detach (round %d)", i);
		tt_assert_free_and_running(&tg);
	}
	tt_target_stop(&tg);
}

/* ---- signals ---- */

/* Waits (at most 3 s) until a traced thread has the delivery stop of sig to report, and
 * leaves the report to be read: that thread, or -1. */
static pid_t peek_signal_stop(struct trace *t, int sig)
{
	struct tg_err err = {0};

	for (int i = 0; i < 3000; i++) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WSTOPPED | WNOHANG | WNOWAIT | __WALL) < 0)
			return -1;
		if (si.si_pid && si.si_code == CLD_TRAPPED && si.si_status == sig)
			return si.si_pid;
		if (si.si_pid && trace_service(t, &err) < 0)
			return -1; /* another report first: taken as usual */
		usleep(1000);
	}
	return -1;
}

struct paused_on_signal {
	pid_t target;
	int one_thread; /* trace_pause_thread on the thread that stopped (a native unwind's) */
};

/* A tracer, forked: attaches, has SIGUSR1 sent to the target, and once a thread stopped
 * for its delivery, pauses the process or that thread alone (that stop is serviced while
 * the pause wants the thread held), says "p" and waits to be killed. */
static char pause_on_signal(void *arg)
{
	const struct paused_on_signal *ps = arg;
	struct user_regs_struct regs;
	struct tg_err err = {0};
	struct trace *t = trace_attach(ps->target, NULL, &err);
	pid_t tid;

	if (!t || trace_service(t, &err) < 0 || kill(ps->target, SIGUSR1) != 0)
		return 'e';
	tid = peek_signal_stop(t, SIGUSR1);
	if (tid <= 0)
		return 'e';
	if (ps->one_thread)
		return trace_pause_thread(t, tid, 1000, &regs, &err) == 0 ? 'p' : 'e';
	return trace_pause(t, ps->target, &err) == 0 ? 'p' : 'e';
}

/* The kernel drops the signal of a thread held in its delivery stop when the tracer dies.
 * A pause (of the process, or of one thread) must not hold a thread there: its signal
 * goes on at once. */
TRACE_TEST(trace_killed_while_paused_keeps_signals)
{
	struct target tg;

	tt_target_start(&tg, "4", NULL);
	for (int i = 0; i < 4; i++) {
		struct paused_on_signal ps = {tg.pid, i % 2};
		char c = 0;
		pid_t tracer = tt_fork_helper(pause_on_signal, &ps, &c);
		cr_assert_eq(c, 'p', "the forked tracer could not pause on the signal's stop");
		tt_end_helper(tracer);
		cr_assert(proc_wait_line(&tg.p, "usr1", NULL, 0, 3000) == 0,
			  "SIGUSR1 lost with its tracer killed during a pause (round %d)", i);
		tt_assert_free_and_running(&tg);
	}
	tt_target_stop(&tg);
}

TRACE_TEST(trace_sigusr1_reaches_handler)
{
	struct target tg;
	struct trace *t;

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	for (int i = 0; i < 5; i++) {
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		cr_assert(tt_line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 #%d lost",
			  i);
	}
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* Status of a target that is sent sig (or the command cmd) with no tracer. */
static int untraced_status(struct target *tg, int sig, const char *cmd)
{
	int st = -1;

	tt_target_start(tg, "3", NULL);
	if (sig)
		cr_assert(kill(tg->pid, sig) == 0);
	else
		cr_assert(proc_send(&tg->p, cmd) == 0);
	cr_assert(proc_wait_exit(&tg->p, 3000, &st) == 0);
	proc_reap(&tg->p);
	return st;
}

static void assert_same_death(int sig, const char *cmd)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	int st0, st;
	long end;

	st0 = untraced_status(&tg, sig, cmd);
	tt_target_start(&tg, "3", NULL);
	t = tt_attach_ok(tg.pid, 0, &ev);
	if (sig)
		cr_assert(kill(tg.pid, sig) == 0);
	else
		cr_assert(proc_send(&tg.p, cmd) == 0);
	end = proc_now_ms() + 3000;
	while (trace_target_alive(t) && proc_now_ms() < end)
		tt_service_for(t, 2);
	cr_assert(!trace_target_alive(t), "target did not die");
	st = trace_target_status(t);
	cr_assert_eq(st, st0, "status traced %#x, untraced %#x", st, st0);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_EXIT, tg.pid, 0), 1);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 4);
	cr_assert_eq(ev.ev[ev.n - 1].kind, TRACE_EV_PROCESS_EXIT, "PROCESS_EXIT comes last");
	cr_assert_eq(ev.ev[ev.n - 1].status, st);
	trace_detach(t);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_sigterm_same_status)
{
	assert_same_death(SIGTERM, NULL);
}

TRACE_TEST(trace_sigsegv_same_status)
{
	assert_same_death(0, "s");
}

TRACE_TEST(trace_sigstop_sigcont)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	cr_assert(kill(tg.pid, SIGSTOP) == 0);
	cr_assert(tt_wait_all_stopped(t, tg.pid, 3000) == 0, "SIGSTOP did not stop the target");
	cr_assert(proc_send(&tg.p, "p") == 0);
	tt_service_for(t, 200);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered while stopped");
	cr_assert(tt_wait_all_stopped(t, tg.pid, 0) == 0, "still stopped after servicing");
	/* a pause and a resume keep the group-stop */
	cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
	cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
	tt_service_for(t, 50);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered after pause+resume");
	cr_assert(tt_wait_all_stopped(t, tg.pid, 0) == 0, "pause+resume ended the group-stop");
	cr_assert(kill(tg.pid, SIGCONT) == 0);
	cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0, "no pong after SIGCONT");
	tt_service_for(t, 20);
	cr_assert_gt(tt_assert_threads(tg.pid, gettid(), 1), 0);
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_detach_keeps_group_stop)
{
	struct target tg;
	struct trace *t;
	pid_t tids[MAXT];
	size_t n;

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	cr_assert(kill(tg.pid, SIGSTOP) == 0);
	cr_assert(tt_wait_all_stopped(t, tg.pid, 3000) == 0);
	trace_detach(t);
	/* a detached thread is woken to re-enter the group-stop: it is 'R' for a moment */
	cr_assert(tt_wait_all_stopped(NULL, tg.pid, 1000) == 0, "threads left the group-stop");
	n = proc_tasks(tg.pid, tids, MAXT);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(proc_status_long(tids[i], "TracerPid"), 0);
		cr_assert_eq(proc_state(tids[i]), 'T', "thread %d not in group-stop (%c)",
			     (int)tids[i], proc_state(tids[i]));
	}
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 200) < 0, "answered while stopped");
	cr_assert(kill(tg.pid, SIGCONT) == 0);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 3000) == 0, "no pong after SIGCONT");
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* ---- pause and resume ---- */

TRACE_TEST(trace_pause_stops_every_thread)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};
	pid_t tids[MAXT];
	size_t n;

	tt_target_start(&tg, "6", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	for (int round = 0; round < 3; round++) {
		cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		n = proc_tasks(tg.pid, tids, MAXT);
		cr_assert_eq(n, 7);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(proc_state(tids[i]), 't', "thread %d not paused",
				     (int)tids[i]);
		cr_assert(proc_send(&tg.p, "p") == 0);
		tt_service_for(t, 100); /* servicing must not let paused threads go */
		cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered while paused");
		cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
		cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0,
			  "no pong after resume");
		tt_service_for(t, 10);
		tt_assert_threads(tg.pid, gettid(), 1);
	}
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* --profile c|both: one thread stopped alone, its registers read, the others running on
 * (the target answers meanwhile), then let go. */
TRACE_TEST(trace_pause_thread_stops_one)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};
	pid_t tids[MAXT];

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	size_t n = proc_tasks(tg.pid, tids, MAXT);
	cr_assert_eq(n, 5);
	for (size_t k = 1; k < n; k++) { /* each worker in turn; the main thread answers */
		struct user_regs_struct regs = {0};
		cr_assert(trace_pause_thread(t, tids[k], 1000, &regs, &err) == 0, "pause %d: %s",
			  (int)tids[k], err.msg);
		cr_assert_neq(regs.rip, 0, "no registers read");
		cr_assert_neq(regs.rsp, 0, "no registers read");
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(proc_state(tids[i]) == 't', i == k, "thread %d: state %c",
				     (int)tids[i], proc_state(tids[i]));
		struct user_regs_struct again = {0};
		cr_assert(trace_thread_regs(t, tids[k], &again, &err) == 0, "%s", err.msg);
		cr_assert_eq(again.rip, regs.rip, "a held thread moved");
		cr_assert(proc_send(&tg.p, "p") == 0);
		cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0,
			  "the others did not run on while one thread was held");
		cr_assert(trace_resume_thread(t, tids[k], &err) == 0, "resume: %s", err.msg);
		tt_service_for(t, 10);
		tt_assert_threads(tg.pid, gettid(), 1);
	}
	/* a thread not traced, or gone: an error, nothing held */
	struct user_regs_struct regs;
	cr_assert(trace_pause_thread(t, 1, 100, &regs, &err) < 0);
	cr_assert_eq(err.code, TG_E_NOPROC, "%s", err.msg);
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* Signals that arrive while a thread is held alone are delivered once it is let go. */
TRACE_TEST(trace_pause_thread_keeps_signals)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};
	pid_t tids[MAXT];

	tt_target_start(&tg, "2", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	size_t n = proc_tasks(tg.pid, tids, MAXT);
	for (int i = 0; i < 20; i++) {
		struct user_regs_struct regs;
		pid_t tid = tids[(size_t)i % n];
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		cr_assert(trace_pause_thread(t, tid, 1000, &regs, &err) == 0, "pause: %s", err.msg);
		cr_assert(trace_resume_thread(t, tid, &err) == 0, "resume: %s", err.msg);
		cr_assert(tt_line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 #%d lost",
			  i);
	}
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_pause_keeps_signals)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, NULL);
	/* The signal-delivery stop races with the pause: it arrives before, during or after
	 * the interrupts.  In every case the handler must run once the threads resume. */
	for (int i = 0; i < 20; i++) {
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
		cr_assert(tt_line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 #%d lost",
			  i);
	}
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}
