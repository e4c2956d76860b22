/* taskclock.h: has a thread of another process run since a given moment?
 *
 * A thread that has not run has not changed its Python stack, so the sampler need not
 * read it again.  The evidence must be exact, and the obvious sources are not:
 * clock_gettime() on a thread's CPU clock answers only for threads of the caller's own
 * process (EINVAL for any other), and the CPU time of a thread that sits on a CPU, which
 * the process CPU clock and schedstat show, moves only at its scheduler ticks and when it
 * leaves the CPU.  So a reading proves nothing by itself.
 *
 * /proc/PID/task/TID/schedstat gives the thread's accounted CPU time and the number of
 * times it was switched in.  The switch count moves the moment the thread gets a CPU; the
 * time of a thread that stays on one moves at every tick, and when it leaves.  Hence:
 * counters that read the same at two moments more than a tick apart prove that the thread
 * did not run at any time between them (had it been on a CPU at the first, a tick or its
 * leaving would have moved the time; had it come on later, the switch count would have
 * moved).  The tick is the resolution of CLOCK_MONOTONIC_COARSE; the proof needs ticks to
 * keep coming for a running thread, which nohz_full CPUs stop, so there nothing is ever
 * proven.  A kernel without schedstat (all zeros) proves nothing either.
 *
 * The descriptor pins the thread it was opened for: once that thread is gone, reads fail
 * (ESRCH) even when a new thread gets the same TID, so a reused TID starts afresh.
 * Times are CLOCK_MONOTONIC nanoseconds. */
#ifndef TG_TASKCLOCK_H
#define TG_TASKCLOCK_H

#include <stdint.h>
#include <sys/types.h>

/* One thread's counters and how long they have stood still. */
struct taskclock {
	int64_t tid;	     /* the thread the descriptor is for; 0: none */
	int fd;		     /* its schedstat; -1 when closed */
	int ok;		     /* the last reading succeeded */
	uint64_t ns;	     /* CPU time accounted to the thread, at the last reading */
	uint64_t switches;   /* times it was switched in, at the last reading */
	uint64_t same_since; /* just after the first reading that gave these counters */
	uint64_t read_at;    /* just before the last reading */
};

/* How long the counters must stand still to prove that a thread did not run: two ticks,
 * or 0 when nothing can be proven on this machine (nohz_full CPUs). */
uint64_t taskclock_window(void);

uint64_t taskclock_now(void);

void taskclock_init(struct taskclock *c);
/* Closes the descriptor but keeps what was read: the next taskclock_read() of the same
 * thread opens it again (for more threads than descriptors are kept for). */
void taskclock_drop_fd(struct taskclock *c);
void taskclock_close(struct taskclock *c);

/* Read thread tid of process pid now (opening its schedstat when tid is new).  0, or -1
 * when it cannot be read (the thread is gone): then nothing is proven until it reads
 * again. */
int taskclock_read(struct taskclock *c, pid_t pid, int64_t tid);

/* The moment since which, up to the last reading, the thread has provably not run; 0 when
 * that is not proven (the counters moved less than `window` ago, or were not read). */
uint64_t taskclock_quiet_since(const struct taskclock *c, uint64_t window);

/* How long the calling thread has waited on a run queue (runnable, not running) since it
 * began, in seconds: 0, or -1 when the kernel does not say. */
int taskclock_self_waited(double *out);

/* CPU time of the whole process pid (all its threads, live and ended), from the process
 * CPU clock, which any process may read: one system call, no descriptor.  It lags like
 * the counters above, and does not move when a thread is switched in, so an unchanged
 * value proves nothing about the stacks; it does prove that no thread's accounted CPU
 * time moved.  0, or -1 when the process is gone. */
int taskclock_process(pid_t pid, uint64_t *ns);

#endif
