/* interrupt.h: Ctrl-C (and SIGTERM, SIGHUP) during a render.
 *
 * main() blocks these signals for the whole process (attach/loop.h), so a render is never
 * cut short in the middle of a write: it polls interrupt_pending() between chunks of input
 * and while gnuplot runs, stops with an error, removes what it had started (work
 * directory, temporary output file), and then calls interrupt_exit(), which lets the
 * pending signal kill the process the usual way (the shell sees "killed by SIGINT"). */
#ifndef TG_INTERRUPT_H
#define TG_INTERRUPT_H

/* The pending SIGINT, SIGTERM or SIGHUP (it stays pending), or 0. */
int interrupt_pending(void);

/* If one of them is pending: restores its default action and unblocks it, which ends
 * the process.  Returns only when none is pending. */
void interrupt_exit(void);

/* For a child about to exec: an empty signal mask, so that a Ctrl-C in the terminal
 * reaches it.  Async-signal-safe. */
void interrupt_child_defaults(void);

#endif
