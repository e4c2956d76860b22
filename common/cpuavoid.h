/* cpuavoid.h: keep the calling thread (the recording loop) off the CPUs its target runs on.
 *
 * The loop wakes tens of thousands of times a second while it bursts.  A target thread
 * that shares its CPU with it is switched out and in at each wake-up, and loses far more
 * than the loop's CPU time: a gunicorn sync worker sharing one CPU with the loop served a
 * fifth of the requests it served beside it, at half the CPU (docs/memory.md).  So after
 * each stack sample the loop takes the CPUs that the target's threads which ran since the
 * sample before last ran on out of its own affinity, when any CPU it was allowed at the
 * start is left; else it may run anywhere it was allowed.  The kernel may still move a
 * target thread onto the loop's CPU in between; the next stack sample moves the loop. */
#ifndef TG_CPUAVOID_H
#define TG_CPUAVOID_H

#include <sched.h>

struct cpuavoid {
	cpu_set_t allowed;   /* the calling thread's affinity at cpuavoid_init */
	cpu_set_t now;	     /* what it was last set to */
	int on;		     /* 0: one CPU allowed, or setting it failed: left alone */
	unsigned long moves; /* times the affinity was changed */
};

/* Notes the calling thread's affinity; on when it allows more than one CPU. */
void cpuavoid_init(struct cpuavoid *ca);
/* The calling thread's affinity becomes the CPUs allowed at the start less busy, or all
 * of them when none is left.  1 when it changed, 0 when not, -1 when it could not be set
 * (then it is left alone from then on). */
int cpuavoid_apply(struct cpuavoid *ca, const cpu_set_t *busy);

#endif
