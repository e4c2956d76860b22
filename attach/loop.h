/* loop.h: the one event loop.  epoll over a signalfd (SIGINT, SIGTERM, SIGHUP end the
 * run), the tracer thread's descriptor (tracer.h: events from ptrace), a timerfd (the
 * sample tick), and, optionally, a deadline (-d).  Signals are blocked in the whole process
 * by loop_block_signals(), which main() calls before anything else, so a Ctrl-C always
 * takes the detach path and SIGCHLD reaches the tracer thread's signalfd. */
#ifndef TG_LOOP_H
#define TG_LOOP_H

#include "attach/tracer.h"
#include "common/err.h"

enum loop_end {
	LOOP_END_SIGNAL = 1,   /* SIGINT/SIGTERM/SIGHUP received (loop_run's *signo says which) */
	LOOP_END_DURATION,     /* duration expired */
	LOOP_END_TARGET_EXIT,  /* the target process exited */
	LOOP_END_TICK_STOP,    /* tick callback returned 1: stop */
	LOOP_END_ERROR,        /* err is set */
};

/* Return 0 to go on, 1 to stop the loop, -1 on error (err set by callee). */
typedef int (*loop_tick_fn)(void *ctx, struct tg_err *err);

struct loop_opts {
	double rate_hz;       /* ticks per second (> 0) */
	double duration_s;    /* <= 0: no limit */
	loop_tick_fn tick;
	void *ctx;
	trace_event_fn on_event; /* each event from the tracer, before the next tick; may be NULL */
};

/* Block SIGCHLD, SIGINT, SIGTERM, SIGHUP in this process (they are read by signalfd). */
void loop_block_signals(void);

/* Run until an end condition, handing over the tracer's events as they come.  *signo
 * receives the terminating signal for LOOP_END_SIGNAL.  A failure of the tracer thread ends
 * the loop with LOOP_END_ERROR and its error. */
enum loop_end loop_run(struct tracer *tr, const struct loop_opts *opts, int *signo,
		       struct tg_err *err);

#endif
