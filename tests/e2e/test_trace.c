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

#define MAXT 512
#define LINE 256

/* Under ASan a leak is only reported when the test process exits, and Criterion counts
 * the test as passed by then (an assertion in .fini does not count either).  So each test
 * body runs in a function of its own, and the leak check follows it in the test, once
 * the body's locals no longer point to anything. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void leak_check(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
			     "memory leaked: see the LeakSanitizer report");
}

#define TRACE_TEST(name)                                                                           \
	static void name##_body(void);                                                             \
	Test(trace, name)                                                                          \
	{                                                                                          \
		name##_body();                                                                     \
		leak_check();                                                                      \
	}                                                                                          \
	static void name##_body(void)

TestSuite(trace, .timeout = 30);

/* ---- the target ---- */

struct target {
	struct proc p;
	pid_t pid;
	int ntasks; /* from its "ready" line */
};

/* Build and start the target; its file is deleted as soon as it runs, so that a failing
 * test leaves nothing behind. */
static void target_start(struct target *tg, const char *nthreads, const char *mode)
{
	char src[512], exe[512], line[LINE];
	char *argv[] = {exe, (char *)nthreads, (char *)mode, NULL};
	int ok;

	memset(tg, 0, sizeof *tg);
	proc_src_path(__FILE__, "targets/trace_target.c", src, sizeof src);
	cr_assert(access(src, R_OK) == 0, "target source %s not found (set TG_SRCDIR)", src);
	cr_assert(proc_build_c(src, "", exe, sizeof exe) == 0, "cannot compile %s",
		  src);
	ok = proc_spawn(&tg->p, argv) == 0 &&
	     proc_wait_line(&tg->p, "ready", line, sizeof line, 5000) == 0;
	proc_build_clean(exe);
	cr_assert(ok, "target did not start");
	cr_assert(sscanf(line, "ready %d %d", &tg->pid, &tg->ntasks) == 2, "bad line: %s", line);
	cr_assert_eq(tg->pid, tg->p.pid);
}

static void target_stop(struct target *tg)
{
	proc_reap(&tg->p);
}

/* The target answers "pong" on its pipe (without any servicing by us). */
static void assert_answers(struct target *tg)
{
	cr_assert(proc_send(&tg->p, "p") == 0);
	cr_assert(proc_wait_line(&tg->p, "pong", NULL, 0, 3000) == 0, "target does not answer");
}

/* ---- trace helpers ---- */

struct events {
	struct trace_event ev[512];
	size_t n;
};

static void record(void *ctx, const struct trace_event *ev)
{
	struct events *e = ctx;

	if (e->n < sizeof e->ev / sizeof e->ev[0])
		e->ev[e->n++] = *ev;
}

static int count_events(const struct events *e, enum trace_event_kind kind, pid_t pid, pid_t tid)
{
	int n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += e->ev[i].kind == kind && (!pid || e->ev[i].pid == pid) &&
		     (!tid || e->ev[i].tid == tid);
	return n;
}

static struct trace *attach_ok(pid_t pid, int follow, struct events *ev)
{
	struct trace_opts opts = {follow, ev ? record : NULL, ev};
	struct tg_err err = {0};
	struct trace *t = trace_attach(pid, &opts, &err);

	cr_assert(t, "trace_attach(%d): %s", (int)pid, err.msg);
	return t;
}

static void service(struct trace *t)
{
	struct tg_err err = {0};

	cr_assert(trace_service(t, &err) >= 0, "trace_service: %s", err.msg);
}

/* Service stops for ms milliseconds. */
static void service_for(struct trace *t, int ms)
{
	long end = proc_now_ms() + ms;

	do {
		service(t);
		usleep(2000);
	} while (proc_now_ms() < end);
}

/* Wait for a line from the target while servicing its stops.  0 or -1 on timeout. */
static int line_servicing(struct trace *t, struct target *tg, const char *prefix, char *line,
			  size_t size, int timeout_ms)
{
	long end = proc_now_ms() + timeout_ms;

	do {
		service(t);
		if (proc_wait_line(&tg->p, prefix, line, size, 5) == 0)
			return 0;
	} while (proc_now_ms() < end);
	return -1;
}

static int is_stopped_state(char s)
{
	return s == 't' || s == 'T';
}

/* Every thread of pid that exists has TracerPid == tracer (0: untraced) and, when
 * want_running, is not stopped.  Returns how many threads were checked. */
static size_t assert_threads(pid_t pid, long tracer, int want_running)
{
	pid_t tids[MAXT];
	size_t n = proc_tasks(pid, tids, MAXT), checked = 0;

	for (size_t i = 0; i < n; i++) {
		long tp = proc_status_long(tids[i], "TracerPid");
		char s = proc_state(tids[i]);
		if (tp < 0 || s == 'Z' || s == 'X')
			continue; /* exited meanwhile */
		cr_assert_eq(tp, tracer, "thread %d of %d: TracerPid %ld, expected %ld",
			     (int)tids[i], (int)pid, tp, tracer);
		if (want_running)
			cr_assert(!is_stopped_state(s), "thread %d of %d is stopped (%c)",
				  (int)tids[i], (int)pid, s);
		checked++;
	}
	return checked;
}

static void assert_all_traced(pid_t pid)
{
	cr_assert_gt(assert_threads(pid, gettid(), 0), 0);
}

/* After a detach: nothing traced, nothing stopped, and it still answers. */
static void assert_free_and_running(struct target *tg)
{
	cr_assert_gt(assert_threads(tg->pid, 0, 1), 0);
	assert_answers(tg);
}

/* Wait (servicing) until every live thread of pid is in a stopped state. */
static int wait_all_stopped(struct trace *t, pid_t pid, int timeout_ms)
{
	long end = proc_now_ms() + timeout_ms;

	do {
		pid_t tids[MAXT];
		size_t n = proc_tasks(pid, tids, MAXT), stopped = 0, live = 0;
		for (size_t i = 0; i < n; i++) {
			char s = proc_state(tids[i]);
			if (s == '\0' || s == 'Z' || s == 'X')
				continue;
			live++;
			stopped += is_stopped_state(s);
		}
		if (live && stopped == live)
			return 0;
		if (t)
			service(t);
		usleep(2000);
	} while (proc_now_ms() < end);
	return -1;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* trace_threads(pid) lists exactly the live threads in /proc/PID/task. */
static void assert_thread_list(struct trace *t, pid_t pid)
{
	pid_t ours[MAXT], real[MAXT];
	size_t n = trace_threads(t, pid, ours, MAXT), m = proc_tasks(pid, real, MAXT), k = 0;

	for (size_t i = 0; i < m; i++) {
		char s = proc_state(real[i]);
		if (s != 'Z' && s != 'X' && s != '\0')
			real[k++] = real[i];
	}
	qsort(ours, n, sizeof ours[0], cmp_pid);
	qsort(real, k, sizeof real[0], cmp_pid);
	cr_assert_eq(n, k, "trace_threads lists %zu threads, /proc/%d/task %zu", n, (int)pid, k);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ours[i], real[i], "thread lists differ at %zu: %d vs %d", i,
			     (int)ours[i], (int)real[i]);
}

/* ---- attach and detach ---- */

TRACE_TEST(trace_attach_seizes_every_thread)
{
	struct target tg;
	struct trace *t;

	target_start(&tg, "6", NULL);
	cr_assert_eq(tg.ntasks, 7);
	t = attach_ok(tg.pid, 0, NULL);
	cr_assert_eq(assert_threads(tg.pid, gettid(), 0), 7);
	assert_thread_list(t, tg.pid);
	cr_assert(trace_target_alive(t));
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0, "no pong while traced");
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_new_threads_are_traced)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	char line[LINE];
	int tid;

	target_start(&tg, "2", NULL);
	t = attach_ok(tg.pid, 0, &ev);
	for (int i = 0; i < 5; i++) {
		cr_assert(proc_send(&tg.p, "t") == 0);
		cr_assert(line_servicing(t, &tg, "thread", line, sizeof line, 3000) == 0);
		cr_assert(sscanf(line, "thread %d", &tid) == 1);
		cr_assert_eq(proc_status_long(tid, "TracerPid"), gettid(), "new thread %d", tid);
		service_for(t, 5);
		cr_assert_eq(count_events(&ev, TRACE_EV_THREAD_NEW, tg.pid, tid), 1,
			     "one THREAD_NEW for %d", tid);
	}
	assert_thread_list(t, tg.pid);
	/* threads that come and go all the time */
	cr_assert(proc_send(&tg.p, "c") == 0);
	cr_assert(line_servicing(t, &tg, "churn", NULL, 0, 3000) == 0);
	service_for(t, 300);
	assert_all_traced(tg.pid);
	cr_assert_gt(count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 20);
	cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_attach_while_threads_appear)
{
	struct target tg;
	struct trace *t;

	target_start(&tg, "3", NULL);
	/* several threads creating threads: some are born while attach_ok() seizes */
	for (int i = 0; i < 6; i++) {
		cr_assert(proc_send(&tg.p, "c") == 0);
		cr_assert(proc_wait_line(&tg.p, "churn", NULL, 0, 3000) == 0);
	}
	for (int round = 0; round < 20; round++) {
		t = attach_ok(tg.pid, 0, NULL);
		assert_all_traced(tg.pid);
		service_for(t, 10);
		assert_all_traced(tg.pid);
		trace_detach(t);
		assert_free_and_running(&tg);
	}
	target_stop(&tg);
}

/* A signal sent just before the detach (or the pause) races with the interrupts: its
 * signal-delivery stop is held or comes while detaching.  It must reach the target. */
TRACE_TEST(trace_detach_delivers_held_signals)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};

	target_start(&tg, "4", NULL);
	for (int i = 0; i < 16; i++) {
		t = attach_ok(tg.pid, 0, NULL);
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		if (i % 2)
			cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		trace_detach(t);
		cr_assert(proc_wait_line(&tg.p, "usr1", NULL, 0, 3000) == 0,
			  "SIGUSR1 lost at detach (round %d)", i);
		assert_free_and_running(&tg);
	}
	target_stop(&tg);
}

/* ---- signals ---- */

TRACE_TEST(trace_sigusr1_reaches_handler)
{
	struct target tg;
	struct trace *t;

	target_start(&tg, "4", NULL);
	t = attach_ok(tg.pid, 0, NULL);
	for (int i = 0; i < 5; i++) {
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		cr_assert(line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 #%d lost",
			  i);
	}
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* Status of a target that is sent sig (or the command cmd) with no tracer. */
static int untraced_status(struct target *tg, int sig, const char *cmd)
{
	int st = -1;

	target_start(tg, "3", NULL);
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
	target_start(&tg, "3", NULL);
	t = attach_ok(tg.pid, 0, &ev);
	if (sig)
		cr_assert(kill(tg.pid, sig) == 0);
	else
		cr_assert(proc_send(&tg.p, cmd) == 0);
	end = proc_now_ms() + 3000;
	while (trace_target_alive(t) && proc_now_ms() < end)
		service_for(t, 2);
	cr_assert(!trace_target_alive(t), "target did not die");
	st = trace_target_status(t);
	cr_assert_eq(st, st0, "status traced %#x, untraced %#x", st, st0);
	cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_EXIT, tg.pid, 0), 1);
	cr_assert_eq(count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 4);
	cr_assert_eq(ev.ev[ev.n - 1].kind, TRACE_EV_PROCESS_EXIT, "PROCESS_EXIT comes last");
	cr_assert_eq(ev.ev[ev.n - 1].status, st);
	trace_detach(t);
	target_stop(&tg);
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

	target_start(&tg, "4", NULL);
	t = attach_ok(tg.pid, 0, NULL);
	cr_assert(kill(tg.pid, SIGSTOP) == 0);
	cr_assert(wait_all_stopped(t, tg.pid, 3000) == 0, "SIGSTOP did not stop the target");
	cr_assert(proc_send(&tg.p, "p") == 0);
	service_for(t, 200);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered while stopped");
	cr_assert(wait_all_stopped(t, tg.pid, 0) == 0, "still stopped after servicing");
	/* a pause and a resume keep the group-stop */
	cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
	cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
	service_for(t, 50);
	cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered after pause+resume");
	cr_assert(wait_all_stopped(t, tg.pid, 0) == 0, "pause+resume ended the group-stop");
	cr_assert(kill(tg.pid, SIGCONT) == 0);
	cr_assert(line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0, "no pong after SIGCONT");
	service_for(t, 20);
	cr_assert_gt(assert_threads(tg.pid, gettid(), 1), 0);
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_detach_keeps_group_stop)
{
	struct target tg;
	struct trace *t;
	pid_t tids[MAXT];
	size_t n;

	target_start(&tg, "4", NULL);
	t = attach_ok(tg.pid, 0, NULL);
	cr_assert(kill(tg.pid, SIGSTOP) == 0);
	cr_assert(wait_all_stopped(t, tg.pid, 3000) == 0);
	trace_detach(t);
	/* a detached thread is woken to re-enter the group-stop: it is 'R' for a moment */
	cr_assert(wait_all_stopped(NULL, tg.pid, 1000) == 0, "threads left the group-stop");
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
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* ---- pause and resume ---- */

TRACE_TEST(trace_pause_stops_every_thread)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};
	pid_t tids[MAXT];
	size_t n;

	target_start(&tg, "6", NULL);
	t = attach_ok(tg.pid, 0, NULL);
	for (int round = 0; round < 3; round++) {
		cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		n = proc_tasks(tg.pid, tids, MAXT);
		cr_assert_eq(n, 7);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(proc_state(tids[i]), 't', "thread %d not paused",
				     (int)tids[i]);
		cr_assert(proc_send(&tg.p, "p") == 0);
		service_for(t, 100); /* servicing must not let paused threads go */
		cr_assert(proc_wait_line(&tg.p, "pong", NULL, 0, 0) < 0, "answered while paused");
		cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
		cr_assert(line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0,
			  "no pong after resume");
		service_for(t, 10);
		assert_threads(tg.pid, gettid(), 1);
	}
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_pause_keeps_signals)
{
	struct target tg;
	struct trace *t;
	struct tg_err err = {0};

	target_start(&tg, "4", NULL);
	t = attach_ok(tg.pid, 0, NULL);
	/* The signal-delivery stop races with the pause: it arrives before, during or after
	 * the interrupts.  In every case the handler must run once the threads resume. */
	for (int i = 0; i < 20; i++) {
		cr_assert(kill(tg.pid, SIGUSR1) == 0);
		cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
		cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
		cr_assert(line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 #%d lost",
			  i);
	}
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* ---- forks and exec ---- */

/* The target forks a child; its pid. */
static int fork_child(struct trace *t, struct target *tg)
{
	char line[LINE];
	int child;

	cr_assert(proc_send(&tg->p, "f") == 0);
	cr_assert(line_servicing(t, tg, "child", line, sizeof line, 3000) == 0);
	cr_assert(sscanf(line, "child %d", &child) == 1);
	service_for(t, 30);
	return child;
}

/* A followed child is traced from birth and announced; its death is seen, and the target
 * gets its SIGCHLD and lives on. */
static void check_followed_child(struct trace *t, struct target *tg, struct events *ev, int child)
{
	cr_assert_eq(proc_status_long(child, "TracerPid"), gettid());
	cr_assert(!is_stopped_state(proc_state(child)), "child is stopped");
	cr_assert_eq(count_events(ev, TRACE_EV_PROCESS_NEW, child, 0), 1);
	for (size_t i = 0; i < ev->n; i++)
		if (ev->ev[i].kind == TRACE_EV_PROCESS_NEW)
			cr_assert_eq(ev->ev[i].parent, tg->pid);
	assert_thread_list(t, child);
	cr_assert(kill(child, SIGTERM) == 0);
	for (long end = proc_now_ms() + 3000;
	     !count_events(ev, TRACE_EV_PROCESS_EXIT, child, 0) && proc_now_ms() < end;)
		service_for(t, 2);
	cr_assert_eq(count_events(ev, TRACE_EV_PROCESS_EXIT, child, 0), 1);
	for (size_t i = 0; i < ev->n; i++)
		if (ev->ev[i].kind == TRACE_EV_PROCESS_EXIT)
			cr_assert(WIFSIGNALED(ev->ev[i].status) &&
				  WTERMSIG(ev->ev[i].status) == SIGTERM);
	cr_assert(trace_target_alive(t));
	cr_assert(proc_send(&tg->p, "p") == 0);
	cr_assert(line_servicing(t, tg, "pong", NULL, 0, 3000) == 0);
}

static void fork_test(int follow)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	int child;

	target_start(&tg, "2", NULL);
	t = attach_ok(tg.pid, follow, &ev);
	child = fork_child(t, &tg);
	if (follow) {
		check_followed_child(t, &tg, &ev, child);
		child = fork_child(t, &tg); /* a second one, alive at the detach */
		cr_assert_eq(proc_status_long(child, "TracerPid"), gettid());
	} else {
		cr_assert_eq(proc_status_long(child, "TracerPid"), 0);
		cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_NEW, 0, 0), 0);
		cr_assert_eq(trace_threads(t, child, (pid_t[1]){0}, 1), 0);
	}
	cr_assert(!is_stopped_state(proc_state(child)), "child is stopped");
	trace_detach(t);
	cr_assert_eq(proc_status_long(child, "TracerPid"), 0);
	cr_assert(!is_stopped_state(proc_state(child)), "child left stopped");
	assert_free_and_running(&tg);
	target_stop(&tg); /* the children die with it (PR_SET_PDEATHSIG) */
}

TRACE_TEST(trace_fork_not_followed)
{
	fork_test(0);
}

TRACE_TEST(trace_fork_followed)
{
	fork_test(1);
}

TRACE_TEST(trace_exec_from_thread)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	char line[LINE];

	target_start(&tg, "4", NULL);
	t = attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "e") == 0);
	cr_assert(line_servicing(t, &tg, "ready", line, sizeof line, 5000) == 0, "no exec");
	service_for(t, 50);
	cr_assert_eq(count_events(&ev, TRACE_EV_EXEC, tg.pid, 0), 1);
	/* before: leader, 4 workers, the exec'ing thread; after: leader, 4 new workers.
	 * Exits: the 4 old workers and the exec'ing thread's former tid (the old leader's
	 * tid lives on). */
	cr_assert_eq(count_events(&ev, TRACE_EV_THREAD_NEW, tg.pid, 0), 5);
	cr_assert_eq(count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 5);
	cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	cr_assert(trace_target_alive(t));
	/* the old threads are gone, the new ones are all traced */
	cr_assert_eq(assert_threads(tg.pid, gettid(), 0), 5);
	assert_thread_list(t, tg.pid);
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0);
	trace_detach(t);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* The main thread called pthread_exit: the process lives on with a zombie leader. */
TRACE_TEST(trace_zombie_leader)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	struct tg_err err = {0};
	long start, end;
	int st;

	target_start(&tg, "3", "zombie-leader");
	end = proc_now_ms() + 3000;
	while (proc_state(tg.pid) != 'Z' && proc_now_ms() < end)
		usleep(1000);
	cr_assert_eq(proc_state(tg.pid), 'Z');
	t = attach_ok(tg.pid, 0, &ev);
	cr_assert_eq(assert_threads(tg.pid, gettid(), 0), 4); /* the zombie is skipped */
	assert_thread_list(t, tg.pid);
	cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
	cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
	start = proc_now_ms();
	trace_detach(t);
	cr_assert_lt(proc_now_ms() - start, 1000, "detach took too long");
	assert_free_and_running(&tg);
	/* its exit is seen although the leader was never traced */
	t = attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "q") == 0);
	end = proc_now_ms() + 3000;
	while (trace_target_alive(t) && proc_now_ms() < end)
		service_for(t, 2);
	cr_assert(!trace_target_alive(t));
	st = trace_target_status(t);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_EXIT, tg.pid, 0), 1);
	/* (the untraced leader, our child, was reaped by trace_service's waitpid(-1)) */
	trace_detach(t);
	target_stop(&tg);
}

/* The leader calls pthread_exit while traced: a zombie that never stops again must not
 * hold up a pause or a detach. */
TRACE_TEST(trace_leader_exits_while_traced)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	struct tg_err err = {0};
	pid_t tids[MAXT];
	long start;
	size_t n;

	target_start(&tg, "3", NULL);
	t = attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "z") == 0);
	cr_assert(line_servicing(t, &tg, "leader-exit", NULL, 0, 3000) == 0);
	start = proc_now_ms();
	while (proc_state(tg.pid) != 'Z' && proc_now_ms() - start < 3000)
		service_for(t, 1);
	cr_assert_eq(proc_state(tg.pid), 'Z');
	start = proc_now_ms();
	cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
	cr_assert_lt(proc_now_ms() - start, 500, "pause waited for the zombie");
	n = proc_tasks(tg.pid, tids, MAXT);
	for (size_t i = 0; i < n; i++)
		if (tids[i] != tg.pid)
			cr_assert_eq(proc_state(tids[i]), 't', "thread %d not paused",
				     (int)tids[i]);
	cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0);
	cr_assert_eq(count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	start = proc_now_ms();
	trace_detach(t);
	cr_assert_lt(proc_now_ms() - start, 500, "detach waited for the zombie");
	for (size_t i = 0; i < n; i++)
		if (tids[i] != tg.pid)
			cr_assert_eq(proc_status_long(tids[i], "TracerPid"), 0);
	assert_answers(&tg);
	target_stop(&tg);
}

/* ---- errors ---- */

TRACE_TEST(trace_err_no_such_process)
{
	struct tg_err err = {0};
	pid_t gone = fork();

	if (gone == 0)
		_exit(0);
	cr_assert_gt(gone, 0);
	cr_assert_eq(waitpid(gone, NULL, 0), gone);
	cr_assert_null(trace_attach(gone, NULL, &err));
	cr_assert_eq(err.code, TG_E_NOPROC);
	cr_assert(strstr(err.msg, "no such process"), "%s", err.msg);
}

TRACE_TEST(trace_err_thread_id)
{
	struct target tg;
	struct tg_err err = {0};
	pid_t tids[MAXT];
	size_t n;

	target_start(&tg, "2", NULL);
	n = proc_tasks(tg.pid, tids, MAXT);
	qsort(tids, n, sizeof tids[0], cmp_pid);
	cr_assert_gt(n, 1);
	cr_assert_null(trace_attach(tids[n - 1], NULL, &err));
	cr_assert_eq(err.code, TG_E_USAGE, "%s", err.msg);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* A second tracer, forked: seizes tid, says "k", waits to be killed. */
static pid_t other_tracer(pid_t tid)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	cr_assert(pipe(fds) == 0);
	pid = proc_fork_helper();
	if (pid == 0) {
		c = ptrace(PTRACE_SEIZE, tid, NULL, NULL) == 0 ? 'k' : 'e';
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_gt(pid, 0);
	close(fds[1]);
	cr_assert_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	cr_assert_eq(c, 'k', "the other tracer could not seize %d", (int)tid);
	return pid;
}

static void end_other_tracer(pid_t pid)
{
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
}

TRACE_TEST(trace_err_already_traced)
{
	struct target tg;
	struct tg_err err = {0};
	char want[32];
	pid_t other;

	target_start(&tg, "2", NULL);
	other = other_tracer(tg.pid);
	cr_assert_null(trace_attach(tg.pid, NULL, &err));
	cr_assert_eq(err.code, TG_E_TRACED, "%s", err.msg);
	snprintf(want, sizeof want, "process %d ", (int)other);
	cr_assert(strstr(err.msg, want), "tracer pid missing: %s", err.msg);
	cr_assert_eq(proc_status_long(tg.pid, "TracerPid"), other);
	end_other_tracer(other);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* One thread (not the first one seized) is traced by someone else: the threads already
 * seized must be let go. */
TRACE_TEST(trace_err_traced_thread_releases_the_others)
{
	struct target tg;
	struct tg_err err = {0};
	pid_t tids[MAXT], other;
	size_t n;

	target_start(&tg, "5", NULL);
	n = proc_tasks(tg.pid, tids, MAXT);
	qsort(tids, n, sizeof tids[0], cmp_pid);
	other = other_tracer(tids[n - 1]);
	cr_assert_null(trace_attach(tg.pid, NULL, &err));
	cr_assert_eq(err.code, TG_E_TRACED, "%s", err.msg);
	for (size_t i = 0; i + 1 < n; i++) {
		cr_assert_eq(proc_status_long(tids[i], "TracerPid"), 0, "thread %d still traced",
			     (int)tids[i]);
		cr_assert(!is_stopped_state(proc_state(tids[i])), "thread %d left stopped",
			  (int)tids[i]);
	}
	cr_assert_eq(proc_status_long(tids[n - 1], "TracerPid"), other);
	assert_answers(&tg);
	end_other_tracer(other);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_err_permission)
{
	struct target tg;
	struct tg_err err = {0};
	int fds[2], st;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to drop to another user");
	target_start(&tg, "2", NULL);
	cr_assert(pipe(fds) == 0);
	pid = proc_fork_helper();
	if (pid == 0) {
		pid_t parent = getppid();
		struct trace *t;
		close(fds[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		if (proc_die_with_parent(parent) < 0)
			_exit(93);
		t = trace_attach(tg.pid, NULL, &err);
		if (write(fds[1], &err, sizeof err) != (ssize_t)sizeof err)
			_exit(91);
		_exit(t ? 92 : 0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &err, sizeof err), (ssize_t)sizeof err);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "helper status %#x", st);
	cr_assert_eq(err.code, TG_E_PERM, "%s", err.msg);
	cr_assert(strstr(err.msg, "ptrace_scope"), "%s", err.msg);
	cr_assert(strstr(err.msg, "CAP_SYS_PTRACE"), "%s", err.msg);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* ---- the event loop, run in a forked tracer ---- */

struct runner_ctx {
	int ticks;
	int stop_after; /* tick returns 1 at this tick; 0: never */
	int slow_ms;	/* the first tick takes this long */
};

static int count_tick(void *ctx, struct tg_err *err)
{
	struct runner_ctx *c = ctx;

	(void)err;
	if (++c->ticks == 1 && c->slow_ms)
		usleep((useconds_t)c->slow_ms * 1000);
	return c->ticks == c->stop_after;
}

struct loop_result {
	int end, signo, ticks;
	long ms;
	char msg[sizeof((struct tg_err *)0)->msg];
};

/* Fork a tracer that attaches to pid, says "attached" (one byte on the pipe) and runs
 * loop_run; it then detaches and writes a struct loop_result. */
static pid_t runner_start(pid_t pid, double rate, double duration, int stop_after, int slow_ms,
			  int *rd)
{
	int fds[2];
	pid_t r;

	cr_assert(pipe(fds) == 0);
	r = proc_fork_helper();
	if (r == 0) {
		struct runner_ctx ctx = {0, stop_after, slow_ms};
		struct loop_opts lo = {rate, duration, count_tick, &ctx};
		struct loop_result res = {0};
		struct tg_err err = {0};
		struct tracer *tr;
		long start;

		close(fds[0]);
		loop_block_signals();
		tr = tracer_start(pid, 0, &err);
		if (!tr || write(fds[1], "a", 1) != 1)
			_exit(90);
		start = proc_now_ms();
		res.end = (int)loop_run(tr, &lo, &res.signo, &err);
		res.ms = proc_now_ms() - start;
		res.ticks = ctx.ticks;
		snprintf(res.msg, sizeof res.msg, "%s", err.msg);
		tracer_stop(tr);
		_exit(write(fds[1], &res, sizeof res) == (ssize_t)sizeof res ? 0 : 91);
	}
	cr_assert_gt(r, 0);
	close(fds[1]);
	*rd = fds[0];
	char c;
	cr_assert_eq(read(*rd, &c, 1), 1, "runner did not attach");
	return r;
}

static void runner_finish(pid_t r, int rd, struct loop_result *res)
{
	int st;

	cr_assert_eq(read(rd, res, sizeof *res), (ssize_t)sizeof *res, "no loop result");
	close(rd);
	cr_assert_eq(waitpid(r, &st, 0), r);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "runner status %#x", st);
}

TRACE_TEST(trace_loop_ends_on_duration_and_ticks_through_stops)
{
	struct target tg;
	struct loop_result res;
	int rd, usr1 = 0;
	pid_t r;
	long end;

	target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 100, 0.6, 0, 0, &rd);
	/* signal-delivery stops all along: the tick must keep its rate */
	end = proc_now_ms() + 400;
	while (proc_now_ms() < end) {
		kill(tg.pid, SIGUSR1);
		usr1 += proc_wait_line(&tg.p, "usr1", NULL, 0, 100) == 0;
	}
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_DURATION, "end %d: %s", res.end, res.msg);
	cr_assert(res.ms >= 590 && res.ms < 1500, "ran %ld ms", res.ms);
	cr_assert(res.ticks >= 40 && res.ticks <= 61, "%d ticks in %ld ms at 100 Hz", res.ticks,
		  res.ms);
	cr_assert_gt(usr1, 10, "only %d SIGUSR1 handled", usr1);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_on_target_exit)
{
	struct target tg;
	struct loop_result res;
	int rd, st;
	pid_t r;

	target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 50, 0, 0, 0, &rd);
	usleep(50000);
	cr_assert(proc_send(&tg.p, "q") == 0);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_TARGET_EXIT, "end %d: %s", res.end, res.msg);
	cr_assert_lt(res.ms, 3000);
	cr_assert(proc_wait_exit(&tg.p, 3000, &st) == 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_on_sigterm)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 50, 0, 0, 0, &rd);
	usleep(100000);
	cr_assert(kill(r, SIGTERM) == 0);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_SIGNAL, "end %d: %s", res.end, res.msg);
	cr_assert_eq(res.signo, SIGTERM);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_when_tick_says_so)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	target_start(&tg, "2", NULL);
	r = runner_start(tg.pid, 200, 5, 7, 0, &rd);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_TICK_STOP, "end %d: %s", res.end, res.msg);
	cr_assert_eq(res.ticks, 7);
	cr_assert_lt(res.ms, 1000);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* A tick slower than the period: the missed ticks are not made up in a burst. */
TRACE_TEST(trace_loop_overrun_is_one_tick)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	target_start(&tg, "1", NULL);
	r = runner_start(tg.pid, 100, 0.5, 0, 300, &rd);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_DURATION, "end %d: %s", res.end, res.msg);
	/* ~1 + 190 ms / 10 ms = 20 ticks; catching up would make ~50 */
	cr_assert(res.ticks >= 8 && res.ticks <= 30, "%d ticks", res.ticks);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* SIGCHLD must be blocked before the tracer thread starts, the ending signals before the
 * loop runs: a signal that reached a thread unblocked would be lost to the run. */
TRACE_TEST(trace_loop_needs_blocked_signals)
{
	struct target tg;
	struct tracer *tr;
	struct runner_ctx ctx = {0, 0, 0};
	struct loop_opts lo = {100, 0.1, count_tick, &ctx};
	struct tg_err err = {0};
	sigset_t chld, old;
	int signo;

	target_start(&tg, "1", NULL);
	cr_assert_null(tracer_start(tg.pid, 0, &err));
	cr_assert(strstr(err.msg, "loop_block_signals"), "%s", err.msg);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	tr = tracer_start(tg.pid, 0, &err);
	cr_assert_not_null(tr, "%s", err.msg);
	cr_assert_eq(loop_run(tr, &lo, &signo, &err), LOOP_END_ERROR);
	cr_assert(strstr(err.msg, "loop_block_signals"), "%s", err.msg);
	lo.rate_hz = 0;
	cr_assert_eq(loop_run(tr, &lo, &signo, &err), LOOP_END_ERROR);
	cr_assert_eq(err.code, TG_E_USAGE, "%s", err.msg);
	tracer_stop(tr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	assert_free_and_running(&tg);
	target_stop(&tg);
}

/* ---- a Python target ---- */

static int find_python311(char *out, size_t size)
{
	const char *root = getenv("PYENV_ROOT");
	char pattern[512];
	glob_t g;
	int found;

	snprintf(pattern, sizeof pattern, "%s/versions/3.11*/bin/python3.11",
		 root && *root ? root : "/root/.pyenv");
	if (glob(pattern, 0, NULL, &g) != 0)
		return -1;
	found = g.gl_pathc > 0 && access(g.gl_pathv[0], X_OK) == 0;
	if (found)
		snprintf(out, size, "%s", g.gl_pathv[0]);
	globfree(&g);
	return found ? 0 : -1;
}

TRACE_TEST(trace_python_threads)
{
	char python[512], script[512], line[LINE];
	struct target tg;
	struct trace *t;
	int tid;

	if (find_python311(python, sizeof python) < 0)
		cr_skip_test("pyenv Python 3.11 not found ($PYENV_ROOT/versions/3.11*)");
	memset(&tg, 0, sizeof tg);
	proc_src_path(__FILE__, "../../fixtures/trace_threads.py", script, sizeof script);
	char *argv[] = {python, script, "4", NULL};
	cr_assert(proc_spawn(&tg.p, argv) == 0);
	cr_assert(proc_wait_line(&tg.p, "ready", line, sizeof line, 10000) == 0, "no ready");
	tg.pid = tg.p.pid;
	t = attach_ok(tg.pid, 0, NULL);
	assert_all_traced(tg.pid);
	assert_thread_list(t, tg.pid);
	cr_assert(proc_send(&tg.p, "t") == 0);
	cr_assert(line_servicing(t, &tg, "thread", line, sizeof line, 3000) == 0);
	cr_assert(sscanf(line, "thread %d", &tid) == 1);
	cr_assert_eq(proc_status_long(tid, "TracerPid"), gettid());
	cr_assert(kill(tg.pid, SIGUSR1) == 0);
	/* Python runs handlers in the main thread only, between bytecodes: a signal that
	 * lands just before the main thread blocks in read() waits for that read to return
	 * (so it does untraced).  A poke ends the read; a lost signal still never shows. */
	if (line_servicing(t, &tg, "usr1", NULL, 0, 1000) != 0) {
		cr_assert(proc_send(&tg.p, "p") == 0);
		cr_assert(line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 lost");
	}
	trace_detach(t);
	assert_free_and_running(&tg);
	proc_reap(&tg.p);
}
