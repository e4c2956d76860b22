/* tracer.h: a `struct trace` (trace.h) run by a thread of its own.
 *
 * A traced thread that stops (a fork, a clone, an exec, a signal) waits until its tracer
 * has read the report and let it go.  When the tracer is also the sampler, that wait lasts
 * as long as whatever the sampler is doing: a sample, or opening a child's files.  Here
 * the ptrace side lives in one thread that does nothing else: it sleeps on SIGCHLD and
 * its own wake-up descriptor, services every stop at once, and hands the events over to
 * the caller through a queue.  The caller (the event loop) never makes a ptrace call.
 * One exception to "nothing else", asked for by --profile c|both: tracer_hold_each() runs
 * the caller's work on each thread it stops (an unwind), so that no hand-over between
 * threads lengthens the stop; the stops that came meanwhile are seen to between threads.
 *
 * Every signal the process handles must stay blocked in every thread (loop_block_signals):
 * a SIGCHLD delivered to a thread that does not block it would be discarded and the
 * tracer thread would sleep through a stop.  tracer_start() checks this. */
#ifndef TG_TRACER_H
#define TG_TRACER_H

#include <stddef.h>
#include <sys/types.h>

#include "attach/trace.h"
#include "common/err.h"

struct tracer;

/* Start the thread and attach to pid from it (trace_attach(); follow_forks as in
 * trace_opts).  Returns once the attach succeeded, or NULL with its error. */
struct tracer *tracer_start(pid_t pid, int follow_forks, struct tg_err *err);

/* A descriptor that is readable when events are queued, the target exited, or the
 * thread failed.  tracer_events() makes it unreadable again once the queue is empty. */
int tracer_fd(const struct tracer *tr);

/* Hand every queued event, oldest first, to fn (outside the lock: fn may take its time). */
void tracer_events(struct tracer *tr, trace_event_fn fn, void *ctx);

/* Is the original target still alive? */
int tracer_target_alive(struct tracer *tr);
/* Its wait status once it is gone (the launcher passes it on), -1 while it lives. */
int tracer_target_status(struct tracer *tr);

/* 0, or -1 with the error that stopped the thread (it then detached from everything). */
int tracer_error(struct tracer *tr, struct tg_err *err);

/* Ask the thread to trace_release(pid); it does so at once, and the caller does not wait.
 * Events about pid that the thread queued before may still be read. */
void tracer_release(struct tracer *tr, pid_t pid);

/* trace_pause_for() from the thread: every thread of pid is stopped when this returns 0
 * (the caller waits for the answer); -1 with err, and then nothing is paused. */
int tracer_pause(struct tracer *tr, pid_t pid, long timeout_ms, struct tg_err *err);

/* trace_adopt() from the thread (the caller waits for the answer): 1 seized, 0 gone or
 * ours already, -1 with err. */
int tracer_adopt(struct tracer *tr, pid_t pid, struct tg_err *err);

/* Let the threads of pid go again (trace_resume); the caller does not wait. */
void tracer_resume(struct tracer *tr, pid_t pid);

/* Each of threads tids[0..n) in turn: stopped alone (trace_pause_thread, at most
 * timeout_ms), held(ctx, i, its registers) run from the tracer thread while it is held,
 * the thread let go, then after(ctx, i, ok) (ok 0: it could not be stopped).  All before
 * this returns: the caller waits, so the callbacks may use what it owns.  One request for
 * all the threads: a thread is held for what held() takes and its stop, with no hand-over
 * between threads meanwhile.  0, or -1 with err when the tracer thread is gone. */
struct tracer_hold_ops {
	void (*held)(void *ctx, size_t i, const struct user_regs_struct *regs);
	void (*after)(void *ctx, size_t i, int ok);
	void *ctx;
};
int tracer_hold_each(struct tracer *tr, const pid_t *tids, size_t n, long timeout_ms,
		     const struct tracer_hold_ops *ops, struct tg_err *err);

/* trace_thread_regs() from the thread: the registers of thread tid, held by a pause. */
int tracer_thread_regs(struct tracer *tr, pid_t tid, struct user_regs_struct *regs,
		       struct tg_err *err);

/* Detach from everything (trace_detach), end the thread and free tr.  Safe on NULL. */
void tracer_stop(struct tracer *tr);

#endif
