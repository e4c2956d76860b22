/* trace.h: ptrace over every thread of a target process (and, with follow_forks, of its
 * children), and the one event loop that services it.
 *
 * The target is never stopped to be sampled.  ptrace is held so that: new threads are
 * known from birth (PTRACE_O_TRACECLONE), forks/vforks/execs are seen as they happen,
 * the exit of the target is noticed at once, and --consistent / `dump` can pause threads
 * briefly.  Every stop is handled: signal-delivery stops re-inject their signal,
 * group-stops are honoured with PTRACE_LISTEN, exits are reaped.  trace_detach() leaves
 * no thread stopped and TracerPid 0, and is called on every exit path.
 *
 * ptrace belongs to a thread: every trace_* call on one `struct trace` must come from the
 * thread that called trace_attach(). */
#ifndef TG_TRACE_H
#define TG_TRACE_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/user.h>

#include "common/err.h"

struct trace;

enum trace_event_kind {
	TRACE_EV_PROCESS_NEW = 1, /* a traced process forked/vforked a child (pid = child) */
	TRACE_EV_EXEC,		  /* pid called execve successfully */
	TRACE_EV_PROCESS_EXIT,	  /* every thread of process pid is gone (status valid) */
	TRACE_EV_THREAD_NEW,	  /* a new thread tid in process pid */
	TRACE_EV_THREAD_EXIT,	  /* thread tid of process pid is gone */
};

struct trace_event {
	enum trace_event_kind kind;
	pid_t pid;    /* process (thread group id) */
	pid_t tid;    /* thread, for THREAD_* events */
	pid_t parent; /* for PROCESS_NEW */
	int status;   /* wait status, for PROCESS_EXIT */
};

/* Called from trace_service() (and trace_pause()) for each event.  Threads that exist when
 * trace_attach() returns are not announced (ask trace_threads()); every later thread is,
 * including the first thread of a new process (PROCESS_NEW, then THREAD_NEW).  Not called
 * during trace_detach().  The callback must not call trace_pause/resume/detach. */
typedef void (*trace_event_fn)(void *ctx, const struct trace_event *ev);

struct trace_opts {
	/* 1: PTRACE_O_TRACEFORK|TRACEVFORK, children are traced too (PROCESS_NEW).
	 * 0: children are never traced: the kernel only attaches fork/vfork children when
	 * those options are set (a clone() without CLONE_THREAD, which TRACECLONE catches,
	 * is detached at its first stop).  PTRACE_O_TRACEEXEC is always set: an exec from a
	 * non-leader thread changes thread ids, and only the EXEC stop tells which. */
	int follow_forks;
	trace_event_fn on_event;
	void *ctx;
};

/* Seize every thread of pid (rescanning /proc/PID/task until no new thread appears).
 * Errors, with their codes: no such process (TG_E_NOPROC); permission denied (TG_E_PERM,
 * message names kernel.yama.ptrace_scope and CAP_SYS_PTRACE); already traced
 * (TG_E_TRACED, names the tracer's PID and comm from TracerPid).  On failure nothing
 * stays attached. */
struct trace *trace_attach(pid_t pid, const struct trace_opts *opts, struct tg_err *err);

/* Seize one more process (every thread of it, with the same options: with follow_forks
 * its later children are followed too), e.g. a descendant of the target that existed
 * before the attach.  It is then serviced like a followed child (its exit, execs and
 * forks are events).  1 when seized; 0 when it is gone, or ours already (a child the
 * kernel attached at its fork: its PROCESS_NEW event tells of it); -1 with err (already
 * traced by another tracer, permission), and then nothing of it stays attached. */
int trace_adopt(struct trace *t, pid_t pid, struct tg_err *err);

/* At most this many reports per trace_service() call, so that a storm of stops cannot
 * starve the sample tick.  A call that returns this many may have left more: call again. */
#define TRACE_SERVICE_MAX 1024

/* Handle every pending ptrace stop without blocking (waitpid WNOHANG|__WALL).  Returns the
 * number of stops handled, or -1 with err on an unrecoverable error.  The waitpid(-1) also
 * reaps plain children of the calling process: a tracer should have none while tracing. */
int trace_service(struct trace *t, struct tg_err *err);

/* Is the original target process still alive (not yet reaped/exited)? */
int trace_target_alive(const struct trace *t);
/* The wait status of the original target once it exited (valid when !alive). */
int trace_target_status(const struct trace *t);

/* Thread ids of traced, live threads of process pid; returns count (<= max). */
size_t trace_threads(const struct trace *t, pid_t pid, pid_t *out, size_t max);

/* Stop every thread of process pid (PTRACE_INTERRUPT and wait, servicing other stops,
 * at most TRACE_PAUSE_MS), for a consistent read; then trace_resume() lets them go with
 * nothing lost: a signal that arrived meanwhile is delivered, a group-stop is kept.
 * 0 or -1 (then nothing stays paused).  A zombie thread (a leader that called
 * pthread_exit) counts as stopped. */
#define TRACE_PAUSE_MS 1000
int trace_pause(struct trace *t, pid_t pid, struct tg_err *err);
/* trace_pause(), giving up after timeout_ms. */
int trace_pause_for(struct trace *t, pid_t pid, long timeout_ms, struct tg_err *err);
int trace_resume(struct trace *t, pid_t pid, struct tg_err *err);

/* Stop thread tid alone (PTRACE_INTERRUPT and wait, servicing other stops, at most
 * timeout_ms; the other threads run on) and read its registers, for an unwind of its
 * native stack; trace_resume_thread() lets it go with nothing lost, as trace_resume().
 * 0, or -1 with err (TG_E_NOPROC: it exited) and then it is not held. */
int trace_pause_thread(struct trace *t, pid_t tid, long timeout_ms, struct user_regs_struct *regs,
		       struct tg_err *err);
int trace_resume_thread(struct trace *t, pid_t tid, struct tg_err *err);
/* The registers of thread tid, held by trace_pause() or trace_pause_thread(). */
int trace_thread_regs(struct trace *t, pid_t tid, struct user_regs_struct *regs,
		      struct tg_err *err);

/* Stop tracing process pid alone (a child that exec'd a program that is not Python): each
 * of its threads is detached at its next stop, with the signal it was to receive, or at
 * once if it is held.  No more events come for pid.  0, or -1 with err. */
int trace_release(struct trace *t, pid_t pid, struct tg_err *err);

/* Detach from everything, leaving no thread stopped (a thread in group-stop stays in
 * group-stop, as it would untraced) and delivering any signal held; frees t.  Safe on
 * NULL.  Bounded by TRACE_DETACH_MS: a thread that cannot be stopped in that time (stuck in
 * uninterruptible sleep), or a zombie leader, is released by the kernel when the tracer
 * thread exits. */
#define TRACE_DETACH_MS 2000
void trace_detach(struct trace *t);

#endif
