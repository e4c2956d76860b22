/* common/cpuavoid: the calling thread leaves the CPUs given as busy, or keeps every CPU it
 * was allowed when none would be left; only changes are made. */
#include <criterion/criterion.h>

#include <unistd.h>

#include "common/cpuavoid.h"

static void mine(cpu_set_t *set)
{
	CPU_ZERO(set);
	cr_assert_eq(sched_getaffinity(0, sizeof *set, set), 0);
}

Test(cpuavoid, leaves_the_busy_cpus_while_one_is_left)
{
	struct cpuavoid ca;
	cpu_set_t busy, now, first;

	cpuavoid_init(&ca);
	if (CPU_COUNT(&ca.allowed) < 2)
		cr_skip_test("one CPU allowed");
	cr_assert(ca.on);
	int cpu0 = -1;
	for (int c = 0; c < CPU_SETSIZE && cpu0 < 0; c++)
		cpu0 = CPU_ISSET((size_t)c, &ca.allowed) ? c : -1;
	CPU_ZERO(&busy);
	CPU_SET((size_t)cpu0, &busy);
	cr_assert_eq(cpuavoid_apply(&ca, &busy), 1);
	mine(&now);
	first = ca.allowed;
	CPU_CLR((size_t)cpu0, &first);
	cr_assert(CPU_EQUAL(&now, &first), "the busy CPU left");
	cr_assert_eq(cpuavoid_apply(&ca, &busy), 0, "the same: no change made");

	busy = ca.allowed; /* every CPU busy: it may run anywhere again */
	cr_assert_eq(cpuavoid_apply(&ca, &busy), 1);
	mine(&now);
	cr_assert(CPU_EQUAL(&now, &ca.allowed));
	CPU_ZERO(&busy);
	cr_assert_eq(cpuavoid_apply(&ca, &busy), 0, "none busy: as allowed already");
	cr_assert_eq(ca.moves, 2);
}

Test(cpuavoid, one_cpu_allowed_is_left_alone)
{
	struct cpuavoid ca;
	cpu_set_t one, busy, now;

	mine(&now);
	int cpu0 = -1;
	for (int c = 0; c < CPU_SETSIZE && cpu0 < 0; c++)
		cpu0 = CPU_ISSET((size_t)c, &now) ? c : -1;
	CPU_ZERO(&one);
	CPU_SET((size_t)cpu0, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
	cpuavoid_init(&ca);
	cr_assert_not(ca.on);
	busy = one;
	cr_assert_eq(cpuavoid_apply(&ca, &busy), 0);
	mine(&now);
	cr_assert(CPU_EQUAL(&now, &one));
}
