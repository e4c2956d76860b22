/* trace.c: see trace.h.
 *
 * One table of traced threads, sorted by tid.  Every wait report goes through
 * handle_report(); a thread in a ptrace-stop is then either let go at once (PTRACE_CONT
 * with its signal, or PTRACE_LISTEN for a group-stop), held (trace_pause asked for it:
 * `want_stop`), or detached (trace_detach, or a new process we do not follow). */
#include "attach/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "attach/trace_check.h"
#include "common/xalloc.h"

/* Rescans of /proc/PID/task before giving up on a process that keeps making threads. */
#define SEIZE_PASSES 64
/* How often threads that do not stop are checked for being dead or no longer ours. */
#define GONE_CHECK_MS 20
/* Longest single sleep while waiting for stops (a SIGCHLD may come before we block it). */
#define WAIT_SLICE_MS 10
#define REAPED_KEPT 64

/* How a thread held in a ptrace-stop is to be let go. */
enum hold {
	HOLD_NONE = 0, /* running (or stopped in a report we have not read yet) */
	HOLD_EVENT,    /* PTRACE_EVENT_* stop: continue with no signal */
	HOLD_SIGNAL,   /* signal-delivery-stop: continue with `sig` */
	HOLD_GROUP,    /* group-stop: PTRACE_LISTEN, so the stop lasts until SIGCONT */
};

struct tthread {
	pid_t tid;
	pid_t pid;		 /* thread group it belongs to */
	int sig;		 /* HOLD_SIGNAL: the signal to deliver */
	unsigned char hold;	 /* enum hold */
	unsigned char want_stop; /* interrupted for a pause: hold the next stop */
	unsigned char unwanted;	 /* a new process we do not follow: detach at its first stop */
	unsigned char gone;	 /* will not stop again: dead (a zombie leader) or not ours */
};

struct trace {
	pid_t target;
	pid_t self; /* our tid: the TracerPid of every thread we trace */
	int alive;
	int status;
	int detaching; /* trace_detach: let every thread go at its next stop */
	long options;
	struct trace_opts opts;
	struct tthread *th; /* sorted by tid */
	size_t n, cap;
	/* The last threads reaped: a fork or clone event that comes after its child's own
	 * first stop and exit must not bring the child back. */
	pid_t reaped[REAPED_KEPT];
	unsigned reaped_next;
	/* First stops of threads we do not know yet, held until their creator's event says
	 * what they are (or, failing that, /proc does, at the end of the service). */
	struct early {
		pid_t tid;
		int status;
	} * early;
	size_t nearly, early_cap;
};

/* ptrace with integer arguments (glibc reads addr and data as pointers). */
static long pt(enum __ptrace_request req, pid_t tid, long data)
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

static struct tthread *find(const struct trace *t, pid_t tid)
{
	size_t i = lower_bound(t, tid);

	return i < t->n && t->th[i].tid == tid ? &t->th[i] : NULL;
}

static struct tthread *add(struct trace *t, pid_t tid, pid_t pid)
{
	size_t i = lower_bound(t, tid);

	if (i < t->n && t->th[i].tid == tid)
		return &t->th[i];
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->th = xrealloc(t->th, t->cap * sizeof *t->th);
	}
	memmove(&t->th[i + 1], &t->th[i], (t->n - i) * sizeof *t->th);
	t->n++;
	memset(&t->th[i], 0, sizeof t->th[i]);
	t->th[i].tid = tid;
	t->th[i].pid = pid;
	return &t->th[i];
}

static void del(struct trace *t, pid_t tid)
{
	size_t i = lower_bound(t, tid);

	if (i >= t->n || t->th[i].tid != tid)
		return;
	memmove(&t->th[i], &t->th[i + 1], (t->n - i - 1) * sizeof *t->th);
	t->n--;
}

static int has_threads(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == pid && !t->th[i].unwanted)
			return 1;
	return 0;
}

static int pausing(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == pid && t->th[i].want_stop)
			return 1;
	return 0;
}

static void emit(struct trace *t, enum trace_event_kind kind, pid_t pid, pid_t tid, pid_t parent,
		 int status)
{
	struct trace_event ev = {kind, pid, tid, parent, status};

	if (!t->detaching && t->opts.on_event)
		t->opts.on_event(t->opts.ctx, &ev);
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

/* ---- trace_attach ---- */

/* PTRACE_SEIZE said EPERM for thread tid of process pid: why?  1 when it turns out to be
 * ours (a thread that a seized thread created: the kernel attached it), 0 when it is
 * dying, -1 with err. */
static int seize_denied(struct trace *t, pid_t pid, pid_t tid, struct tg_err *err)
{
	char st[4096];
	long tracer;
	char s;

	if (procstatus_read(tid, st, sizeof st) < 0)
		return 0;
	tracer = procstatus_long(st, "TracerPid");
	if (tracer == t->self) {
		add(t, tid, pid);
		return 1;
	}
	if (tracer > 0)
		return trace_err_traced(pid, tracer, err);
	s = procstatus_state(st);
	if (s == 'Z' || s == 'X')
		return 0;
	return trace_err_perm(pid, err);
}

/* 1 when tid was added, 0 when skipped (gone), -1 with err. */
static int seize_one(struct trace *t, pid_t pid, pid_t tid, struct tg_err *err)
{
	if (pt(PTRACE_SEIZE, tid, t->options) == 0) {
		add(t, tid, pid);
		return 1;
	}
	if (errno == ESRCH)
		return 0;
	if (errno == EPERM)
		return seize_denied(t, pid, tid, err);
	return tg_err_sys(err, TG_E_INTERNAL, "attach to process %d: PTRACE_SEIZE thread %d",
			  (int)pid, (int)tid);
}

/* One pass over /proc/PID/task: number of threads newly seized, or -1 with err. */
static int seize_pass(struct trace *t, pid_t pid, struct tg_err *err)
{
	char path[64];
	struct dirent *de;
	int added = 0, r = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT || errno == ESRCH)
			return tg_err_set(err, TG_E_NOPROC,
					  "attach to process %d: it exited while attaching",
					  (int)pid);
		return tg_err_sys(err, TG_E_PERM, "attach to process %d: open %s", (int)pid,
				  path);
	}
	while (r >= 0 && (de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end || tid <= 0 || find(t, (pid_t)tid))
			continue;
		r = seize_one(t, pid, (pid_t)tid, err);
		added += r > 0;
	}
	closedir(d);
	return r < 0 ? -1 : added;
}

/* Seize until a pass finds no new thread: a thread created after the pass listed the
 * directory was created by a thread already seized, so the kernel attached it. */
static int seize_all(struct trace *t, pid_t pid, struct tg_err *err)
{
	for (int pass = 0; pass < SEIZE_PASSES; pass++) {
		int added = seize_pass(t, pid, err);

		if (added < 0)
			return -1;
		if (added == 0 && has_threads(t, pid))
			return 0;
		if (added == 0)
			return tg_err_set(err, TG_E_NOPROC,
					  "attach to process %d: it has no live thread", (int)pid);
	}
	return tg_err_set(err, TG_E_INTERNAL,
			  "attach to process %d: new threads kept appearing over %d passes",
			  (int)pid, SEIZE_PASSES);
}

struct trace *trace_attach(pid_t pid, const struct trace_opts *opts, struct tg_err *err)
{
	struct trace *t;

	if (trace_check_target(pid, err) < 0)
		return NULL;
	t = xcalloc(1, sizeof *t);
	t->target = pid;
	t->self = gettid();
	t->alive = 1;
	if (opts)
		t->opts = *opts;
	t->options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
	if (t->opts.follow_forks)
		t->options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	if (seize_all(t, pid, err) < 0) {
		trace_detach(t);
		return NULL;
	}
	return t;
}

int trace_adopt(struct trace *t, pid_t pid, struct tg_err *err)
{
	char st[4096];

	/* a child the kernel attached at its fork is ours already: its event tells of it */
	if (has_threads(t, pid) ||
	    (procstatus_read(pid, st, sizeof st) == 0 &&
	     procstatus_long(st, "TracerPid") == t->self))
		return 0;
	if (trace_check_target(pid, err) < 0)
		return err && err->code == TG_E_NOPROC ? 0 : -1;
	if (seize_all(t, pid, err) < 0) {
		int gone = err && err->code == TG_E_NOPROC;
		if (has_threads(t, pid))
			trace_release(t, pid, NULL);
		return gone ? 0 : -1;
	}
	return 1;
}

/* ---- letting threads go ---- */

static int resume_thread(pid_t tid, enum hold how, int sig, struct tg_err *err)
{
	long r;

	if (how == HOLD_GROUP)
		r = pt(PTRACE_LISTEN, tid, 0);
	else
		r = pt(PTRACE_CONT, tid, how == HOLD_SIGNAL ? sig : 0);
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
	pt(PTRACE_DETACH, tid, how == HOLD_SIGNAL ? sig : 0);
	del(t, tid);
}

/* tid is in a ptrace-stop of kind how. */
static int stopped(struct trace *t, pid_t tid, enum hold how, int sig, struct tg_err *err)
{
	struct tthread *th = find(t, tid);

	if (!th)
		return resume_thread(tid, how, sig, err);
	if (th->unwanted || t->detaching) {
		release(t, tid, how, sig);
		return 0;
	}
	th->gone = 0;
	if (th->want_stop) {
		th->hold = (unsigned char)how;
		th->sig = sig;
		return 0;
	}
	return resume_thread(tid, how, sig, err);
}

/* ---- new threads and processes ---- */

/* Is process pid being let go (trace_release, or a child we do not follow)? */
static int process_unwanted(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == pid && t->th[i].unwanted)
			return 1;
	return 0;
}

/* Record tid, a thread of process pid that we trace since its birth. */
static void note_new(struct trace *t, pid_t tid, pid_t pid, pid_t parent)
{
	struct tthread *th;

	if (find(t, tid))
		return; /* its own stop came first and it was recorded then */
	int released = tid != pid && process_unwanted(t, pid);
	th = add(t, tid, pid);
	if ((tid == pid && !t->opts.follow_forks) || released) {
		th->unwanted = 1;
		return;
	}
	if (tid != pid)
		th->want_stop = (unsigned char)pausing(t, pid);
	if (tid == pid)
		emit(t, TRACE_EV_PROCESS_NEW, pid, tid, parent, 0);
	emit(t, TRACE_EV_THREAD_NEW, pid, tid, parent, 0);
}

/* A stop from a tid we do not know, not claimed by a creator's clone/fork event in the
 * same service: it is ours (its creator is traced by us); /proc says what it is. */
static void adopt(struct trace *t, pid_t tid)
{
	char st[4096];
	long tgid = tid, ppid = 0;

	if (procstatus_read(tid, st, sizeof st) == 0) {
		tgid = procstatus_long(st, "Tgid");
		ppid = procstatus_long(st, "PPid");
	}
	note_new(t, tid, tgid > 0 ? (pid_t)tgid : tid, (pid_t)ppid);
}

static void note_reaped(struct trace *t, pid_t tid)
{
	t->reaped[t->reaped_next++ % REAPED_KEPT] = tid;
}

static int was_reaped(const struct trace *t, pid_t tid)
{
	for (size_t i = 0; i < REAPED_KEPT; i++)
		if (t->reaped[i] == tid)
			return 1;
	return 0;
}

static void hold_early(struct trace *t, pid_t tid, int status)
{
	if (t->nearly == t->early_cap) {
		t->early_cap = t->early_cap ? t->early_cap * 2 : 8;
		t->early = xrealloc(t->early, t->early_cap * sizeof *t->early);
	}
	t->early[t->nearly++] = (struct early){tid, status};
}

/* Remove tid from the early stops; 1 (and its wait status) when it was there. */
static int take_early(struct trace *t, pid_t tid, int *status)
{
	for (size_t i = 0; i < t->nearly; i++) {
		if (t->early[i].tid != tid)
			continue;
		*status = t->early[i].status;
		t->early[i] = t->early[--t->nearly];
		return 1;
	}
	return 0;
}

/* The process a child of a clone event belongs to: its creator's when it is a thread
 * (a path lookup), else the Tgid in its status; 0 when it is gone. */
static pid_t clone_pid(pid_t creator_pid, pid_t child)
{
	char path[64], st[4096];

	snprintf(path, sizeof path, "/proc/%d/task/%d", (int)creator_pid, (int)child);
	if (access(path, F_OK) == 0)
		return creator_pid;
	if (procstatus_read(child, st, sizeof st) < 0)
		return 0;
	return (pid_t)procstatus_long(st, "Tgid");
}

static int handle_report(struct trace *t, pid_t tid, int status, struct tg_err *err);

/* A fork, vfork or clone event.  The creator is held until this returns, so nothing here
 * reads /proc unless it must (a fork's child is ours by the kernel's auto-attach), and the
 * creator goes on before the child's own first stop, if it came early, is handled. */
static int on_new(struct trace *t, pid_t tid, int event, struct tg_err *err)
{
	struct tthread *th = find(t, tid);
	unsigned long msg = 0;
	pid_t child = 0, pid;
	int status;

	if (ptrace(PTRACE_GETEVENTMSG, tid, (void *)0, &msg) == 0 && th && msg > 0) {
		child = pid = (pid_t)msg;
		if (!find(t, child) && !was_reaped(t, child)) {
			if (event == PTRACE_EVENT_CLONE)
				pid = clone_pid(th->pid, child);
			if (pid > 0)
				note_new(t, child, pid, th->pid);
		}
	}
	if (stopped(t, tid, HOLD_EVENT, 0, err) < 0)
		return -1;
	if (child > 0 && find(t, child) && take_early(t, child, &status))
		return handle_report(t, child, status, err);
	return 0;
}

/* tid, now equal to the process id, finished an execve.  Every other thread of the
 * process is dead; the exec'ing thread's former tid will never report again, and the
 * leader's entry now stands for the exec'ing thread. */
static int on_exec(struct trace *t, pid_t tid, struct tg_err *err)
{
	unsigned long msg = 0;
	pid_t former = tid;
	unsigned char want;
	struct tthread *th;

	if (ptrace(PTRACE_GETEVENTMSG, tid, (void *)0, &msg) == 0 && msg > 0)
		former = (pid_t)msg;
	th = find(t, former);
	want = th ? th->want_stop : (unsigned char)pausing(t, tid);
	if (former != tid && th) {
		del(t, former);
		emit(t, TRACE_EV_THREAD_EXIT, tid, former, 0, 0);
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == tid && t->th[i].tid != tid)
			t->th[i].gone = 1; /* their exit reports are still to come */
	th = add(t, tid, tid);
	th->hold = HOLD_NONE;
	th->sig = 0;
	th->gone = 0;
	th->want_stop = want;
	emit(t, TRACE_EV_EXEC, tid, tid, 0, 0);
	return stopped(t, tid, HOLD_EVENT, 0, err);
}

/* ---- exits ---- */

static void on_exit_report(struct trace *t, pid_t tid, int status)
{
	struct tthread *th = find(t, tid);
	pid_t pid;

	if (!th) {
		int early;
		if (take_early(t, tid, &early))
			note_reaped(t, tid); /* born and gone before its creator's event */
		return; /* else not ours: a plain child of the tracer, or already released */
	}
	pid = th->pid;
	note_reaped(t, tid);
	if (th->unwanted) {
		del(t, tid);
		return; /* never announced */
	}
	del(t, tid);
	emit(t, TRACE_EV_THREAD_EXIT, pid, tid, 0, 0);
	/* The leader is reaped only after every other thread; without a traced leader (it had
	 * exited before the attach), the last thread gone ends the process. */
	if (tid != pid && has_threads(t, pid))
		return;
	for (size_t i = t->n; i-- > 0;)
		if (t->th[i].pid == pid)
			del(t, t->th[i].tid);
	if (pid == t->target) {
		t->alive = 0;
		t->status = status;
	}
	emit(t, TRACE_EV_PROCESS_EXIT, pid, tid, 0, status);
}

/* ---- the wait reports ---- */

static int is_group_stop_sig(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static int handle_report(struct trace *t, pid_t tid, int status, struct tg_err *err)
{
	int event = (int)((unsigned)status >> 16), sig;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		on_exit_report(t, tid, status);
		return 0;
	}
	if (!WIFSTOPPED(status))
		return 0;
	if (!find(t, tid) && event != PTRACE_EVENT_EXEC) {
		hold_early(t, tid, status);
		return 0;
	}
	sig = WSTOPSIG(status);
	switch (event) {
	case 0:
		return stopped(t, tid, HOLD_SIGNAL, sig, err);
	case PTRACE_EVENT_STOP:
		/* A group-stop, or else: a new thread's first stop, our PTRACE_INTERRUPT, the
		 * end of a group-stop we listened to. */
		return stopped(t, tid, is_group_stop_sig(sig) ? HOLD_GROUP : HOLD_EVENT, 0, err);
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		return on_new(t, tid, event, err);
	case PTRACE_EVENT_EXEC:
		return on_exec(t, tid, err);
	default:
		return stopped(t, tid, HOLD_EVENT, 0, err);
	}
}

/* The early stops that no creator's event claimed in this service. */
static int settle_early(struct trace *t, struct tg_err *err)
{
	while (t->nearly > 0) {
		struct early e = t->early[--t->nearly];
		adopt(t, e.tid);
		if (handle_report(t, e.tid, e.status, err) < 0)
			return -1;
	}
	return 0;
}

int trace_service(struct trace *t, struct tg_err *err)
{
	int handled = 0, status;
	pid_t tid;

	while (handled < TRACE_SERVICE_MAX) {
		tid = waitpid(-1, &status, WNOHANG | __WALL);
		if (tid == 0)
			break;
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				break;
			return tg_err_sys(err, TG_E_INTERNAL, "wait for traced threads");
		}
		handled++;
		if (handle_report(t, tid, status, err) < 0)
			return -1;
	}
	return settle_early(t, err) < 0 ? -1 : handled;
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

/* Is every thread that we wait for stopped?  pid > 0: the threads of pid are held (a
 * pause); pid == 0: no thread is left (a detach). */
static int all_stopped(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tthread *th = &t->th[i];
		if (th->gone)
			continue;
		if (pid == 0 || (th->pid == pid && !th->unwanted && !th->hold))
			return 0;
	}
	return 1;
}

static void mark_gone(struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tthread *th = &t->th[i];
		if ((pid == 0 || th->pid == pid) && !th->hold && !th->gone && is_lost(t, th->tid))
			th->gone = 1;
	}
}

static pid_t first_running(const struct trace *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if ((pid == 0 || t->th[i].pid == pid) && !t->th[i].hold && !t->th[i].gone)
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

/* Service reports until all_stopped(t, pid), at most timeout_ms. */
static int wait_stopped(struct trace *t, pid_t pid, long timeout_ms, struct tg_err *err)
{
	long start = now_ms(), next_check = start + GONE_CHECK_MS, now;

	for (;;) {
		if (drain(t, err) < 0)
			return -1;
		if (all_stopped(t, pid))
			return 0;
		now = now_ms();
		if (now >= next_check) {
			mark_gone(t, pid);
			next_check = now + GONE_CHECK_MS;
			if (all_stopped(t, pid))
				return 0;
		}
		if (now - start >= timeout_ms)
			return tg_err_set(err, TG_E_INTERNAL,
					  "stop process %d: thread %d did not stop within %ld ms",
					  (int)(pid ? pid : t->target), (int)first_running(t, pid),
					  timeout_ms);
		sleep_for_sigchld(WAIT_SLICE_MS);
	}
}

/* PTRACE_INTERRUPT every thread of pid (0: all) that is not held.  On an error the other
 * threads are still interrupted; the first error is reported. */
static int interrupt_all(struct trace *t, pid_t pid, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct tthread *th = &t->th[i];
		if ((pid && th->pid != pid) || th->hold || th->gone)
			continue;
		th->want_stop = 1;
		/* ESRCH: it is dying; its exit report will come */
		if (pt(PTRACE_INTERRUPT, th->tid, 0) < 0 && errno != ESRCH && rc == 0)
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
	if (!has_threads(t, pid))
		return tg_err_set(err, TG_E_NOPROC, "pause process %d: not traced (or exited)",
				  (int)pid);
	if (interrupt_all(t, pid, err) < 0 || wait_stopped(t, pid, timeout_ms, err) < 0) {
		trace_resume(t, pid, NULL);
		return -1;
	}
	return 0;
}

int trace_resume(struct trace *t, pid_t pid, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct tthread *th = &t->th[i];
		enum hold how = (enum hold)th->hold;
		if (th->pid != pid)
			continue;
		th->want_stop = 0;
		th->hold = HOLD_NONE;
		/* A thread not held yet keeps its interrupt pending: that stop is continued by
		 * trace_service() like any other. */
		if (how != HOLD_NONE && resume_thread(th->tid, how, th->sig, err) < 0)
			rc = -1;
		th->sig = 0;
	}
	return rc;
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
		if (pt(PTRACE_INTERRUPT, th->tid, 0) < 0 && errno != ESRCH && rc == 0)
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
	interrupt_all(t, 0, NULL);
	wait_stopped(t, 0, TRACE_DETACH_MS, NULL);
	free(t->early);
	free(t->th);
	free(t);
}
