/* rtsched.h: real-time scheduling and timer slack for the calling thread, while it must
 * read on time.
 *
 * On cores that other programs keep busy, a thread that sleeps 20 us between readings is
 * woken late, often by milliseconds (measured: a third of the time in gaps over 0.5 ms on
 * two busy cores), and what changed meanwhile is charged to whatever runs then
 * (docs/memory.md).  Under SCHED_FIFO it is woken on time.  Only the calling thread
 * changes (the tracer thread keeps its policy), a child it forks starts as an ordinary
 * process (SCHED_RESET_ON_FORK), and the kernel's real-time throttling
 * (kernel.sched_rt_runtime_us) still leaves the other programs their share. */
#ifndef TG_RTSCHED_H
#define TG_RTSCHED_H

#include "common/err.h"

/* Can this thread use real-time scheduling?  Tries it and goes back; TG_E_PERM naming
 * CAP_SYS_NICE and RLIMIT_RTPRIO when it cannot. */
int rtsched_check(struct tg_err *err);

/* The calling thread under SCHED_FIFO (lowest priority), or back to SCHED_OTHER with its
 * nice value.  0, or -1 with errno. */
int rtsched_enter(void);
int rtsched_leave(void);

/* The calling thread's timer slack, in nanoseconds (PR_SET_TIMERSLACK; 50 us unless set).
 * The kernel may end a sleep anywhere within the slack, at whatever else wakes the CPU
 * then; on a busy machine that is often the target's own events (a response sent, a
 * thread woken), so readings that sleep 20 us with the default slack do not fall at random
 * moments of the target's run (docs/memory.md, "Woken on time").  Real-time threads have
 * none.  0, or -1 with errno. */
int rtsched_slack(unsigned long ns);

#endif
