/* attach/trace following forks and execs, and its errors (a second tracer, no
 * permission, a process that is gone), against real processes: the harness is
 * trace_util.h. */
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

/* ---- forks and exec ---- */

/* The target forks a child; its pid. */
static int fork_child(struct trace *t, struct target *tg)
{
	char line[LINE];
	int child;

	cr_assert(proc_send(&tg->p, "f") == 0);
	cr_assert(tt_line_servicing(t, tg, "child", line, sizeof line, 3000) == 0);
	cr_assert(sscanf(line, "child %d", &child) == 1);
	tt_service_for(t, 30);
	return child;
}

/* A followed child is traced from birth and announced; its death is seen, and the target
 * gets its SIGCHLD and lives on. */
static void check_followed_child(struct trace *t, struct target *tg, struct events *ev, int child)
{
	cr_assert_eq(proc_status_long(child, "TracerPid"), gettid());
	cr_assert(!tt_is_stopped_state(proc_state(child)), "child is stopped");
	cr_assert_eq(tt_count_events(ev, TRACE_EV_PROCESS_NEW, child, 0), 1);
	for (size_t i = 0; i < ev->n; i++)
		if (ev->ev[i].kind == TRACE_EV_PROCESS_NEW)
			cr_assert_eq(ev->ev[i].parent, tg->pid);
	tt_assert_thread_list(t, child);
	cr_assert(kill(child, SIGTERM) == 0);
	for (long end = proc_now_ms() + 3000;
	     !tt_count_events(ev, TRACE_EV_PROCESS_EXIT, child, 0) && proc_now_ms() < end;)
		tt_service_for(t, 2);
	cr_assert_eq(tt_count_events(ev, TRACE_EV_PROCESS_EXIT, child, 0), 1);
	for (size_t i = 0; i < ev->n; i++)
		if (ev->ev[i].kind == TRACE_EV_PROCESS_EXIT)
			cr_assert(WIFSIGNALED(ev->ev[i].status) &&
				  WTERMSIG(ev->ev[i].status) == SIGTERM);
	cr_assert(trace_target_alive(t));
	cr_assert(proc_send(&tg->p, "p") == 0);
	cr_assert(tt_line_servicing(t, tg, "pong", NULL, 0, 3000) == 0);
}

static void fork_test(int follow)
{
	struct target tg;
	struct events ev = {0};
	struct trace *t;
	int child;

	tt_target_start(&tg, "2", NULL);
	t = tt_attach_ok(tg.pid, follow, &ev);
	child = fork_child(t, &tg);
	if (follow) {
		check_followed_child(t, &tg, &ev, child);
		child = fork_child(t, &tg); /* a second one, alive at the detach */
		cr_assert_eq(proc_status_long(child, "TracerPid"), gettid());
	} else {
		cr_assert_eq(proc_status_long(child, "TracerPid"), 0);
		cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_NEW, 0, 0), 0);
		cr_assert_eq(trace_threads(t, child, (pid_t[1]){0}, 1), 0);
	}
	cr_assert(!tt_is_stopped_state(proc_state(child)), "child is stopped");
	trace_detach(t);
	cr_assert_eq(proc_status_long(child, "TracerPid"), 0);
	cr_assert(!tt_is_stopped_state(proc_state(child)), "child left stopped");
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg); /* the children die with it (PR_SET_PDEATHSIG) */
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

	tt_target_start(&tg, "4", NULL);
	t = tt_attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "e") == 0);
	cr_assert(tt_line_servicing(t, &tg, "ready", line, sizeof line, 5000) == 0, "no exec");
	tt_service_for(t, 50);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_EXEC, tg.pid, 0), 1);
	/* before: leader, 4 workers, the exec'ing thread; after: leader, 4 new workers.
	 * Exits: the 4 old workers and the exec'ing thread's former tid (the old leader's
	 * tid lives on). */
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_THREAD_NEW, tg.pid, 0), 5);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_THREAD_EXIT, tg.pid, 0), 5);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	cr_assert(trace_target_alive(t));
	/* the old threads are gone, the new ones are all traced */
	cr_assert_eq(tt_assert_threads(tg.pid, gettid(), 0), 5);
	tt_assert_thread_list(t, tg.pid);
	cr_assert(proc_send(&tg.p, "p") == 0);
	cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0);
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
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

	tt_target_start(&tg, "3", "zombie-leader");
	end = proc_now_ms() + 3000;
	while (proc_state(tg.pid) != 'Z' && proc_now_ms() < end)
		usleep(1000);
	cr_assert_eq(proc_state(tg.pid), 'Z');
	t = tt_attach_ok(tg.pid, 0, &ev);
	cr_assert_eq(tt_assert_threads(tg.pid, gettid(), 0), 4); /* the zombie is skipped */
	tt_assert_thread_list(t, tg.pid);
	cr_assert(trace_pause(t, tg.pid, &err) == 0, "pause: %s", err.msg);
	cr_assert(trace_resume(t, tg.pid, &err) == 0, "resume: %s", err.msg);
	start = proc_now_ms();
	trace_detach(t);
	cr_assert_lt(proc_now_ms() - start, 1000, "detach took too long");
	tt_assert_free_and_running(&tg);
	/* its exit is seen although the leader was never traced */
	t = tt_attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "q") == 0);
	end = proc_now_ms() + 3000;
	while (trace_target_alive(t) && proc_now_ms() < end)
		tt_service_for(t, 2);
	cr_assert(!trace_target_alive(t));
	st = trace_target_status(t);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_EXIT, tg.pid, 0), 1);
	/* (the untraced leader, our child, was reaped by trace_service's waitpid(-1)) */
	trace_detach(t);
	tt_target_stop(&tg);
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

	tt_target_start(&tg, "3", NULL);
	t = tt_attach_ok(tg.pid, 0, &ev);
	cr_assert(proc_send(&tg.p, "z") == 0);
	cr_assert(tt_line_servicing(t, &tg, "leader-exit", NULL, 0, 3000) == 0);
	start = proc_now_ms();
	while (proc_state(tg.pid) != 'Z' && proc_now_ms() - start < 3000)
		tt_service_for(t, 1);
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
	cr_assert(tt_line_servicing(t, &tg, "pong", NULL, 0, 3000) == 0);
	cr_assert_eq(tt_count_events(&ev, TRACE_EV_PROCESS_EXIT, 0, 0), 0);
	start = proc_now_ms();
	trace_detach(t);
	cr_assert_lt(proc_now_ms() - start, 500, "detach waited for the zombie");
	for (size_t i = 0; i < n; i++)
		if (tids[i] != tg.pid)
			cr_assert_eq(proc_status_long(tids[i], "TracerPid"), 0);
	tt_assert_answers(&tg);
	tt_target_stop(&tg);
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

	tt_target_start(&tg, "2", NULL);
	n = proc_tasks(tg.pid, tids, MAXT);
	qsort(tids, n, sizeof tids[0], tt_cmp_pid);
	cr_assert_gt(n, 1);
	cr_assert_null(trace_attach(tids[n - 1], NULL, &err));
	cr_assert_eq(err.code, TG_E_USAGE, "%s", err.msg);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* A second tracer, forked: seizes tid, says "k", waits to be killed. */
static char seize_one(void *arg)
{
	return ptrace(PTRACE_SEIZE, *(pid_t *)arg, NULL, NULL) == 0 ? 'k' : 'e';
}

static pid_t other_tracer(pid_t tid)
{
	char c = 0;
	pid_t pid = tt_fork_helper(seize_one, &tid, &c);

	cr_assert_eq(c, 'k', "the other tracer could not seize %d", (int)tid);
	return pid;
}

TRACE_TEST(trace_err_already_traced)
{
	struct target tg;
	struct tg_err err = {0};
	char want[32];
	pid_t other;

	tt_target_start(&tg, "2", NULL);
	other = other_tracer(tg.pid);
	cr_assert_null(trace_attach(tg.pid, NULL, &err));
	cr_assert_eq(err.code, TG_E_TRACED, "%s", err.msg);
	snprintf(want, sizeof want, "process %d ", (int)other);
	cr_assert(strstr(err.msg, want), "tracer pid missing: %s", err.msg);
	cr_assert_eq(proc_status_long(tg.pid, "TracerPid"), other);
	tt_end_helper(other);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* One thread (not the first one seized) is traced by someone else: the threads already
 * seized must be let go. */
TRACE_TEST(trace_err_traced_thread_releases_the_others)
{
	struct target tg;
	struct tg_err err = {0};
	pid_t tids[MAXT], other;
	size_t n;

	tt_target_start(&tg, "5", NULL);
	n = proc_tasks(tg.pid, tids, MAXT);
	qsort(tids, n, sizeof tids[0], tt_cmp_pid);
	other = other_tracer(tids[n - 1]);
	cr_assert_null(trace_attach(tg.pid, NULL, &err));
	cr_assert_eq(err.code, TG_E_TRACED, "%s", err.msg);
	for (size_t i = 0; i + 1 < n; i++) {
		cr_assert_eq(proc_status_long(tids[i], "TracerPid"), 0, "thread %d still traced",
			     (int)tids[i]);
		cr_assert(!tt_is_stopped_state(proc_state(tids[i])), "thread %d left stopped",
			  (int)tids[i]);
	}
	cr_assert_eq(proc_status_long(tids[n - 1], "TracerPid"), other);
	tt_assert_answers(&tg);
	tt_end_helper(other);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_err_permission)
{
	struct target tg;
	struct tg_err err = {0};
	int fds[2], st;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to drop to another user");
	tt_target_start(&tg, "2", NULL);
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
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}
