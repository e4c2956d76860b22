/* The recording loop kept off its target's CPUs (cpuavoid.h). */
#include "common/cpuavoid.h"

void cpuavoid_init(struct cpuavoid *ca)
{
	CPU_ZERO(&ca->allowed);
	ca->moves = 0;
	ca->on = sched_getaffinity(0, sizeof ca->allowed, &ca->allowed) == 0 &&
		 CPU_COUNT(&ca->allowed) > 1;
	ca->now = ca->allowed;
}

int cpuavoid_apply(struct cpuavoid *ca, const cpu_set_t *busy)
{
	cpu_set_t want;

	if (!ca->on)
		return 0;
	CPU_XOR(&want, &ca->allowed, busy);
	CPU_AND(&want, &want, &ca->allowed); /* allowed and not busy */
	if (CPU_COUNT(&want) == 0)
		want = ca->allowed;
	if (CPU_EQUAL(&want, &ca->now))
		return 0;
	if (sched_setaffinity(0, sizeof want, &want) < 0) {
		/* a cpuset changed under it, a CPU went offline: back to where it was allowed */
		ca->on = 0;
		sched_setaffinity(0, sizeof ca->allowed, &ca->allowed);
		return -1;
	}
	ca->now = want;
	ca->moves++;
	return 1;
}
