/* trace.c: see trace.h.
 *
 * One table of traced threads, sorted by tid.  Every wait report goes through
 * handle_report(); a thread in a ptrace-stop is then either let go at once (PTRACE_CONT
 * with its signal, or PTRACE_LISTEN for a group-stop), held (trace_pause asked for it:
 * `want_stop`), or detached (trace_detach, or a new process we do not follow).
 *
 * trace_seize.c seizes the threads (trace_attach, trace_adopt); trace_events.c reads the wait
 * reports (trace_service, handle_report); trace_int.h is what the three share. */
#include "attach/trace.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <time.h>

#include "attach/procstatus.h"
#include "attach/trace_int.h"
#include "common/xalloc.h"

/* How often threads that do not stop are checked for being dead or no longer ours. */
#define GONE_CHECK_MS 20
/* Longest single sleep while waiting for stops (a SIGCHLD may come before we block it). */
#define WAIT_SLICE_MS 10

/* ptrace with integer arguments (glibc reads addr and data as pointers). */
long trace_pt(enum __ptrace_request req, pid_t tid, long data)
{
	return ptrace(req, tid, (void *)0, (void *)data);
}

/* ---- the thread table ---- */

static size_t lower_bound(const struct trace *t, pid_t tid)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->th[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct tthread *trace_find(const struct trace *t, pid_t tid)
{
	size_t i = lower_bound(t, tid);

	return i < t->n && t->th[i].tid == tid ? &t->th[i] : NULL;
}

struct tthread *trace_add(struct trace *t, pid_t tid, pid_t pid)
{
	size_t i = lower_bound(t, tid);

	if (i < t->n && t->th[i].tid == tid)
		return &t->th[i];
	t->th = xgrow(t->th, &t->cap, t->n + 1, sizeof *t->th);
	memmove(&t->th[i + 1], &t->th[i], (t->n - i) * sizeof *t->th);
	t->n++;
	memset(&t->th[i], 0, sizeof t->th[i]);
	t->th[i].tid = tid;
	t->th[i].pid = pid;
	return &t->th[i];
}

void trace_del(struct trace *t, pid_t tid)
{
	size_t i = lower_bound(t, tid);

	if (i >= t->n || t->th[i].tid != tid)
		return;
	memmove(&t->th[i], &t->th[i + 1], (t->n - i - 1) * sizeof *t->th);
	t->n--;
}

int trace_has_threads(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == pid && !t->th[i].unwanted)
			return 1;
	return 0;
}

/* ---- /proc ---- */

/* Will tid never stop again for us?  Gone, dead, or no longer traced by us. */
static int is_lost(const struct trace *t, pid_t tid)
{
	char st[4096];
	char s;

	if (procstatus_read(tid, st, sizeof st) < 0)
		return 1;
	s = procstatus_state(st);
	return s == 'Z' || s == 'X' || procstatus_long(st, "TracerPid") != t->self;
}

/* ---- letting threads go ---- */

static int resume_thread(pid_t tid, enum hold how, int sig, struct tg_err *err)
{
	long r;

	if (how == HOLD_GROUP)
		r = trace_pt(PTRACE_LISTEN, tid, 0);
	else
		r = trace_pt(PTRACE_CONT, tid, how == HOLD_SIGNAL ? sig : 0);
	/* ESRCH: killed meanwhile (SIGKILL wakes a stopped tracee); its exit report follows */
	if (r == 0 || errno == ESRCH)
		return 0;
	return tg_err_sys(err, TG_E_INTERNAL, "resume thread %d: %s", (int)tid,
			  how == HOLD_GROUP ? "PTRACE_LISTEN" : "PTRACE_CONT");
}

/* Detach a thread that is in a ptrace-stop and forget it.  In group-stop it stays stopped
 * (the kernel re-enters the group-stop), as it would have without us. */
static void release(struct trace *t, pid_t tid, enum hold how, int sig)
{
	trace_pt(PTRACE_DETACH, tid, how == HOLD_SIGNAL ? sig : 0);
	trace_del(t, tid);
}

/* A thread wanted held reports the delivery stop of sig.  It is not held there: the
 * kernel drops the signal of a thread in that stop when its tracer dies (a SIGKILL of
 * tgattach).  The signal goes on at once and the thread is interrupted again; the
 * interrupt's stop, which the kernel reports before the next signal, is the one held. */
static int pass_signal_on(pid_t tid, int sig, struct tg_err *err)
{
	if (resume_thread(tid, HOLD_SIGNAL, sig, err) < 0)
		return -1;
	if (trace_pt(PTRACE_INTERRUPT, tid, 0) < 0 && errno != ESRCH)
		return tg_err_sys(err, TG_E_INTERNAL, "stop thread %d: PTRACE_INTERRUPT", (int)tid);
	return 0;
}

/* tid is in a ptrace-stop of kind how. */
int trace_stopped(struct trace *t, pid_t tid, enum hold how, int sig, struct tg_err *err)
{
	struct tthread *th = trace_find(t, tid);

	if (!th)
		return resume_thread(tid, how, sig, err);
	if (th->unwanted || t->detaching) {
		release(t, tid, how, sig);
		return 0;
	}
	th->gone = 0;
	if (th->want_stop && how == HOLD_SIGNAL)
		return pass_signal_on(tid, sig, err);
	if (th->want_stop) {
		th->hold = (unsigned char)how;
		th->sig = sig;
		return 0;
	}
	return resume_thread(tid, how, sig, err);
}

/* ---- waiting for stops (pause, detach) ---- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Sleep until a SIGCHLD (a new wait report) or ms.  SIGCHLD is blocked meanwhile so that
 * it is not lost to a handler; trace_service() always drains afterwards, so a SIGCHLD
 * consumed here never hides a report from a signalfd. */
static void sleep_for_sigchld(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	sigtimedwait(&set, NULL, &ts);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The threads a wait is about: thread tid alone (tid > 0), the threads of pid, or every
 * thread (pid == 0, tid == 0: a detach). */
static int selected(const struct tthread *th, pid_t pid, pid_t tid)
{
	return tid ? th->tid == tid : pid == 0 || th->pid == pid;
}

/* Is every thread that we wait for stopped?  The selected threads are held (a pause);
 * pid == 0 and tid == 0: no thread is left (a detach). */
static int all_stopped(const struct trace *t, pid_t pid, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tthread *th = &t->th[i];
		if (th->gone || !selected(th, pid, tid))
			continue;
		if ((pid == 0 && tid == 0) || (!th->unwanted && !th->hold))
			return 0;
	}
	return 1;
}

static void mark_gone(struct trace *t, pid_t pid, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tthread *th = &t->th[i];
		if (selected(th, pid, tid) && !th->hold && !th->gone && is_lost(t, th->tid))
			th->gone = 1;
	}
}

static pid_t first_running(const struct trace *t, pid_t pid, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++)
		if (selected(&t->th[i], pid, tid) && !t->th[i].hold && !t->th[i].gone)
			return t->th[i].tid;
	return 0;
}

/* trace_service() until nothing is pending: after a SIGCHLD was consumed here, no report
 * may be left behind for the caller's signalfd to miss. */
static int drain(struct trace *t, struct tg_err *err)
{
	int handled;

	do
		handled = trace_service(t, err);
	while (handled >= TRACE_SERVICE_MAX);
	return handled < 0 ? -1 : 0;
}

/* Service reports until all_stopped(t, pid, tid), at most timeout_ms. */
static int wait_stopped(struct trace *t, pid_t pid, pid_t tid, long timeout_ms, struct tg_err *err)
{
	long start = now_ms(), next_check = start + GONE_CHECK_MS, now;

	for (;;) {
		if (drain(t, err) < 0)
			return -1;
		if (all_stopped(t, pid, tid))
			return 0;
		now = now_ms();
		if (now >= next_check) {
			mark_gone(t, pid, tid);
			next_check = now + GONE_CHECK_MS;
			if (all_stopped(t, pid, tid))
				return 0;
		}
		if (now - start >= timeout_ms)
			return tg_err_set(err, TG_E_INTERNAL,
					  "stop process %d: thread %d did not stop within %ld ms",
					  (int)(pid ? pid : t->target),
					  (int)first_running(t, pid, tid), timeout_ms);
		sleep_for_sigchld(WAIT_SLICE_MS);
	}
}

/* PTRACE_INTERRUPT every selected thread that is not held.  On an error the other
 * threads are still interrupted; the first error is reported. */
static int interrupt_all(struct trace *t, pid_t pid, pid_t tid, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct tthread *th = &t->th[i];
		if (!selected(th, pid, tid) || th->hold || th->gone)
			continue;
		th->want_stop = 1;
		/* ESRCH: it is dying; its exit report will come */
		if (trace_pt(PTRACE_INTERRUPT, th->tid, 0) < 0 && errno != ESRCH && rc == 0)
			rc = tg_err_sys(err, TG_E_INTERNAL, "stop thread %d: PTRACE_INTERRUPT",
					(int)th->tid);
	}
	return rc;
}

/* ---- the rest of the API ---- */

int trace_target_alive(const struct trace *t)
{
	return t->alive;
}

int trace_target_status(const struct trace *t)
{
	return t->status;
}

size_t trace_threads(const struct trace *t, pid_t pid, pid_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n && n < max; i++) {
		const struct tthread *th = &t->th[i];
		if (th->pid == pid && !th->unwanted && !th->gone)
			out[n++] = th->tid;
	}
	return n;
}

int trace_pause(struct trace *t, pid_t pid, struct tg_err *err)
{
	return trace_pause_for(t, pid, TRACE_PAUSE_MS, err);
}

int trace_pause_for(struct trace *t, pid_t pid, long timeout_ms, struct tg_err *err)
{
	if (!trace_has_threads(t, pid))
		return tg_err_set(err, TG_E_NOPROC, "pause process %d: not traced (or exited)",
				  (int)pid);
	if (interrupt_all(t, pid, 0, err) < 0 || wait_stopped(t, pid, 0, timeout_ms, err) < 0) {
		trace_resume(t, pid, NULL);
		return -1;
	}
	return 0;
}

/* A thread paused no more: let go with what held it (a signal delivered, a group-stop
 * kept).  A thread not held yet keeps its interrupt pending: that stop is continued by
 * trace_service() like any other. */
static int let_go(struct tthread *th, struct tg_err *err)
{
	enum hold how = (enum hold)th->hold;
	int rc = 0;

	th->want_stop = 0;
	th->hold = HOLD_NONE;
	if (how != HOLD_NONE && resume_thread(th->tid, how, th->sig, err) < 0)
		rc = -1;
	th->sig = 0;
	return rc;
}

int trace_resume(struct trace *t, pid_t pid, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == pid && let_go(&t->th[i], err) < 0)
			rc = -1;
	return rc;
}

int trace_pause_thread(struct trace *t, pid_t tid, long timeout_ms, struct user_regs_struct *regs,
		       struct tg_err *err)
{
	struct tthread *th = trace_find(t, tid);

	if (!th || th->gone || th->unwanted)
		return tg_err_set(err, TG_E_NOPROC, "stop thread %d: not traced (or exited)",
				  (int)tid);
	pid_t pid = th->pid;
	if (interrupt_all(t, pid, tid, err) < 0 || wait_stopped(t, pid, tid, timeout_ms, err) < 0)
		goto fail;
	th = trace_find(t, tid);
	if (!th || th->gone || !th->hold) {
		tg_err_set(err, TG_E_NOPROC, "stop thread %d: it exited", (int)tid);
		goto fail;
	}
	if (ptrace(PTRACE_GETREGS, tid, NULL, regs) < 0) {
		tg_err_sys(err, errno == ESRCH ? TG_E_NOPROC : TG_E_INTERNAL,
			   "read the registers of thread %d: PTRACE_GETREGS", (int)tid);
		goto fail;
	}
	return 0;
fail:
	trace_resume_thread(t, tid, NULL);
	return -1;
}

int trace_thread_regs(struct trace *t, pid_t tid, struct user_regs_struct *regs, struct tg_err *err)
{
	const struct tthread *th = trace_find(t, tid);

	if (!th || !th->hold)
		return tg_err_set(err, TG_E_NOPROC, "read the registers of thread %d: not held",
				  (int)tid);
	if (ptrace(PTRACE_GETREGS, tid, NULL, regs) < 0)
		return tg_err_sys(err, errno == ESRCH ? TG_E_NOPROC : TG_E_INTERNAL,
				  "read the registers of thread %d: PTRACE_GETREGS", (int)tid);
	return 0;
}

int trace_resume_thread(struct trace *t, pid_t tid, struct tg_err *err)
{
	struct tthread *th = trace_find(t, tid);

	return th ? let_go(th, err) : 0;
}

int trace_release(struct trace *t, pid_t pid, struct tg_err *err)
{
	int rc = 0;

	/* downwards: release() removes entry i and shifts only the ones above it */
	for (size_t i = t->n; i-- > 0;) {
		struct tthread *th = &t->th[i];
		if (th->pid != pid)
			continue;
		if (th->hold) {
			release(t, th->tid, (enum hold)th->hold, th->sig);
			continue;
		}
		th->unwanted = 1;
		th->want_stop = 0;
		if (trace_pt(PTRACE_INTERRUPT, th->tid, 0) < 0 && errno != ESRCH && rc == 0)
			rc = tg_err_sys(err, TG_E_INTERNAL, "release thread %d: PTRACE_INTERRUPT",
					(int)th->tid);
	}
	return rc;
}

void trace_detach(struct trace *t)
{
	if (!t)
		return;
	t->detaching = 1;
	for (size_t i = t->n; i-- > 0;)
		if (t->th[i].hold)
			release(t, t->th[i].tid, (enum hold)t->th[i].hold, t->th[i].sig);
	/* Each thread is detached at its next stop: ours, or any other that comes first. */
	interrupt_all(t, 0, 0, NULL);
	wait_stopped(t, 0, 0, TRACE_DETACH_MS, NULL);
	free(t->early);
	free(t->th);
	free(t);
}
