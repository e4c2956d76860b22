/* trace_util.c: see trace_util.h. */
#include "tests/e2e/trace_util.h"

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

/* Under ASan a leak is only reported when the test process exits, and Criterion counts
 * the test as passed by then (an assertion in .fini does not count either).  So each test
 * body runs in a function of its own, and the leak check follows it in the test, once
 * the body's locals no longer point to anything. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void tt_leak_check(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
			     "memory leaked: see the LeakSanitizer report");
}

/* ---- the target ---- */

/* Build and start the target; its file is deleted as soon as it runs, so that a failing
 * test leaves nothing behind. */
void tt_target_start(struct target *tg, const char *nthreads, const char *mode)
{
	char src[512], exe[512], line[LINE];
	char *argv[] = {exe, (char *)nthreads, (char *)mode, NULL};
	int ok;

	memset(tg, 0, sizeof *tg);
	proc_src_path(__FILE__, "targets/trace_target.c", src, sizeof src);
	cr_assert(access(src, R_OK) == 0, "target source %s not found (set TG_SRCDIR)", src);
	cr_assert(proc_build_c(src, "", exe, sizeof exe) == 0, "cannot compile %s", src);
	ok = proc_spawn(&tg->p, argv) == 0 &&
	     proc_wait_line(&tg->p, "ready", line, sizeof line, 5000) == 0;
	proc_build_clean(exe);
	cr_assert(ok, "target did not start");
	cr_assert(sscanf(line, "ready %d %d", &tg->pid, &tg->ntasks) == 2, "bad line: %s", line);
	cr_assert_eq(tg->pid, tg->p.pid);
}

void tt_target_stop(struct target *tg)
{
	proc_reap(&tg->p);
}

/* The target answers "pong" on its pipe (without any servicing by us). */
void tt_assert_answers(struct target *tg)
{
	cr_assert(proc_send(&tg->p, "p") == 0);
	cr_assert(proc_wait_line(&tg->p, "pong", NULL, 0, 3000) == 0, "target does not answer");
}

/* ---- trace helpers ---- */

static void tt_record(void *ctx, const struct trace_event *ev)
{
	struct events *e = ctx;

	if (e->n < sizeof e->ev / sizeof e->ev[0])
		e->ev[e->n++] = *ev;
}

int tt_count_events(const struct events *e, enum trace_event_kind kind, pid_t pid, pid_t tid)
{
	int n = 0;

	for (size_t i = 0; i < e->n; i++)
		n += e->ev[i].kind == kind && (!pid || e->ev[i].pid == pid) &&
		     (!tid || e->ev[i].tid == tid);
	return n;
}

struct trace *tt_attach_ok(pid_t pid, int follow, struct events *ev)
{
	struct trace_opts opts = {follow, ev ? tt_record : NULL, ev};
	struct tg_err err = {0};
	struct trace *t = trace_attach(pid, &opts, &err);

	cr_assert(t, "trace_attach(%d): %s", (int)pid, err.msg);
	return t;
}

static void tt_service(struct trace *t)
{
	struct tg_err err = {0};

	cr_assert(trace_service(t, &err) >= 0, "trace_service: %s", err.msg);
}

/* Service stops for ms milliseconds. */
void tt_service_for(struct trace *t, int ms)
{
	long end = proc_now_ms() + ms;

	do {
		tt_service(t);
		usleep(2000);
	} while (proc_now_ms() < end);
}

/* Wait for a line from the target while servicing its stops.  0 or -1 on timeout. */
int tt_line_servicing(struct trace *t, struct target *tg, const char *prefix, char *line,
		      size_t size, int timeout_ms)
{
	long end = proc_now_ms() + timeout_ms;

	do {
		tt_service(t);
		if (proc_wait_line(&tg->p, prefix, line, size, 5) == 0)
			return 0;
	} while (proc_now_ms() < end);
	return -1;
}

int tt_is_stopped_state(char s)
{
	return s == 't' || s == 'T';
}

/* Every thread of pid that exists has TracerPid == tracer (0: untraced) and, when
 * want_running, is not stopped.  Returns how many threads were checked. */
size_t tt_assert_threads(pid_t pid, long tracer, int want_running)
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
			cr_assert(!tt_is_stopped_state(s), "thread %d of %d is stopped (%c)",
				  (int)tids[i], (int)pid, s);
		checked++;
	}
	return checked;
}

void tt_assert_all_traced(pid_t pid)
{
	cr_assert_gt(tt_assert_threads(pid, gettid(), 0), 0);
}

/* After a detach: nothing traced, nothing stopped, and it still answers. */
void tt_assert_free_and_running(struct target *tg)
{
	cr_assert_gt(tt_assert_threads(tg->pid, 0, 1), 0);
	tt_assert_answers(tg);
}

/* Wait (servicing) until every live thread of pid is in a stopped state. */
int tt_wait_all_stopped(struct trace *t, pid_t pid, int timeout_ms)
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
			stopped += tt_is_stopped_state(s);
		}
		if (live && stopped == live)
			return 0;
		if (t)
			tt_service(t);
		usleep(2000);
	} while (proc_now_ms() < end);
	return -1;
}

int tt_cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* trace_threads(pid) lists exactly the live threads in /proc/PID/task. */
void tt_assert_thread_list(struct trace *t, pid_t pid)
{
	pid_t ours[MAXT], real[MAXT];
	size_t n = trace_threads(t, pid, ours, MAXT), m = proc_tasks(pid, real, MAXT), k = 0;

	for (size_t i = 0; i < m; i++) {
		char s = proc_state(real[i]);
		if (s != 'Z' && s != 'X' && s != '\0')
			real[k++] = real[i];
	}
	qsort(ours, n, sizeof ours[0], tt_cmp_pid);
	qsort(real, k, sizeof real[0], tt_cmp_pid);
	cr_assert_eq(n, k, "trace_threads lists %zu threads, /proc/%d/task %zu", n, (int)pid, k);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ours[i], real[i], "thread lists differ at %zu: %d vs %d", i,
			     (int)ours[i], (int)real[i]);
}

pid_t tt_fork_helper(char (*fn)(void *arg), void *arg, char *answer)
{
	int fds[2];
	pid_t pid;

	cr_assert(pipe(fds) == 0);
	pid = proc_fork_helper();
	if (pid == 0) {
		char c = fn(arg);
		close(fds[0]);
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_gt(pid, 0);
	close(fds[1]);
	cr_assert_eq(read(fds[0], answer, 1), 1, "the helper process said nothing");
	close(fds[0]);
	return pid;
}

void tt_end_helper(pid_t pid)
{
	cr_assert(kill(pid, SIGKILL) == 0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
}
