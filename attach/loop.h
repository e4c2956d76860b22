/* loop.h: the one event loop.  epoll over a signalfd (SIGCHLD for ptrace stops;
 * SIGINT, SIGTERM, SIGHUP to end the run), a timerfd (the sample tick), and, optionally,
 * a deadline (-d).  Signals are blocked for the whole process by loop_block_signals(),
 * which main() calls before anything else, so a Ctrl-C always takes the detach path. */
#ifndef TG_LOOP_H
#define TG_LOOP_H

#include "attach/trace.h"
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
};

/* Block SIGCHLD, SIGINT, SIGTERM, SIGHUP in this process (they are read by signalfd). */
void loop_block_signals(void);

/* Run until an end condition; services trace stops as they come.  *signo receives the
 * terminating signal for LOOP_END_SIGNAL. */
enum loop_end loop_run(struct trace *t, const struct loop_opts *opts, int *signo,
		       struct tg_err *err);

#endif
