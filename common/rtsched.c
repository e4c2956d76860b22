#include "common/rtsched.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

int rtsched_enter(void)
{
	struct sched_param sp = {.sched_priority = sched_get_priority_min(SCHED_FIFO)};

	return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp);
}

int rtsched_leave(void)
{
	struct sched_param sp = {.sched_priority = 0};

	return sched_setscheduler(0, SCHED_OTHER, &sp);
}

int rtsched_slack(unsigned long ns)
{
	return prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
}

int rtsched_check(struct tg_err *err)
{
	if (rtsched_enter() < 0) {
		int e = errno;
		return tg_err_set(err, e == EPERM ? TG_E_PERM : TG_E_INTERNAL,
				  "--realtime: real-time scheduling refused (%s): it needs "
				  "CAP_SYS_NICE (root) or an RLIMIT_RTPRIO above 0",
				  strerror(e));
	}
	if (rtsched_leave() < 0)
		return tg_err_set(err, TG_E_INTERNAL, "--realtime: back from SCHED_FIFO: %s",
				  strerror(errno));
	return 0;
}
