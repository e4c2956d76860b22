/* trace_events.c: the wait reports (trace_service, handle_report): new threads and
 * processes from their creator's event or their own first stop, execs, exits. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "attach/trace_int.h"
#include "common/xalloc.h"

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

	if (trace_find(t, tid))
		return; /* its own stop came first and it was recorded then */
	int released = tid != pid && process_unwanted(t, pid);
	th = trace_add(t, tid, pid);
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
	t->early = xgrow(t->early, &t->early_cap, t->nearly + 1, sizeof *t->early);
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
	struct tthread *th = trace_find(t, tid);
	unsigned long msg = 0;
	pid_t child = 0, pid;
	int status;

	if (ptrace(PTRACE_GETEVENTMSG, tid, (void *)0, &msg) == 0 && th && msg > 0) {
		child = pid = (pid_t)msg;
		if (!trace_find(t, child) && !was_reaped(t, child)) {
			if (event == PTRACE_EVENT_CLONE)
				pid = clone_pid(th->pid, child);
			if (pid > 0)
				note_new(t, child, pid, th->pid);
		}
	}
	if (trace_stopped(t, tid, HOLD_EVENT, 0, err) < 0)
		return -1;
	if (child > 0 && trace_find(t, child) && take_early(t, child, &status))
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
	th = trace_find(t, former);
	want = th ? th->want_stop : (unsigned char)pausing(t, tid);
	if (former != tid && th) {
		trace_del(t, former);
		emit(t, TRACE_EV_THREAD_EXIT, tid, former, 0, 0);
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->th[i].pid == tid && t->th[i].tid != tid)
			t->th[i].gone = 1; /* their exit reports are still to come */
	th = trace_add(t, tid, tid);
	th->hold = HOLD_NONE;
	th->sig = 0;
	th->gone = 0;
	th->want_stop = want;
	emit(t, TRACE_EV_EXEC, tid, tid, 0, 0);
	return trace_stopped(t, tid, HOLD_EVENT, 0, err);
}

/* ---- exits ---- */

static void on_exit_report(struct trace *t, pid_t tid, int status)
{
	struct tthread *th = trace_find(t, tid);
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
		trace_del(t, tid);
		return; /* never announced */
	}
	trace_del(t, tid);
	emit(t, TRACE_EV_THREAD_EXIT, pid, tid, 0, 0);
	/* The leader is reaped only after every other thread; without a traced leader (it had
	 * exited before the attach), the last thread gone ends the process. */
	if (tid != pid && trace_has_threads(t, pid))
		return;
	for (size_t i = t->n; i-- > 0;)
		if (t->th[i].pid == pid)
			trace_del(t, t->th[i].tid);
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
	if (!trace_find(t, tid) && event != PTRACE_EVENT_EXEC) {
		hold_early(t, tid, status);
		return 0;
	}
	sig = WSTOPSIG(status);
	switch (event) {
	case 0:
		return trace_stopped(t, tid, HOLD_SIGNAL, sig, err);
	case PTRACE_EVENT_STOP:
		/* A group-stop, or else: a new thread's first stop, our PTRACE_INTERRUPT, the
		 * end of a group-stop we listened to. */
		return trace_stopped(t, tid, is_group_stop_sig(sig) ? HOLD_GROUP : HOLD_EVENT, 0,
				     err);
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		return on_new(t, tid, event, err);
	case PTRACE_EVENT_EXEC:
		return on_exec(t, tid, err);
	default:
		return trace_stopped(t, tid, HOLD_EVENT, 0, err);
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
