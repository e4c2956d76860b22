/* sampler/memtrack: what a change seen in a burst after a gap stands for.  A burst stands
 * for the target's CPU time since the last one ended, not the wall time: tgattach's
 * bursts take CPU from the target, which then changes its memory more slowly while they
 * run (docs/memory.md, "Bursts after a gap"). */
#include <criterion/criterion.h>

#include "sampler/memtrack.h"
#include "sampler/memtrack_int.h"

#define EPS 1e-9

/* A target that runs as fast in bursts as between them: the wall time's weight. */
Test(memtrack_weight, as_the_wall_time_when_the_target_runs_alike)
{
	double gap = 4 * BURST_S; /* one window in five */

	cr_assert_float_eq(memtrack_cut_weight(gap, 0.5 * gap, 0.5), 5.0, EPS);
	cr_assert_float_eq(memtrack_cut_weight(gap, -1, 0.5), 5.0, EPS, "CPU times unknown");
	cr_assert_float_eq(memtrack_cut_weight(gap, 0.5 * gap, 0), 5.0, EPS, "no rate yet");
}

/* Slowed to half its speed in bursts, a target does twice as much between them per
 * second of wall time: each change seen stands for twice as much. */
Test(memtrack_weight, more_when_the_bursts_slow_the_target)
{
	double gap = 4 * BURST_S;

	cr_assert_float_eq(memtrack_cut_weight(gap, gap, 0.5), 9.0, EPS);
}

/* A target idle between bursts made no change then: a change seen stands for itself. */
Test(memtrack_weight, itself_when_the_target_was_idle_between)
{
	cr_assert_float_eq(memtrack_cut_weight(9 * BURST_S, 0, 1.0), 1.0, EPS);
}

/* Nearly stopped in bursts (a rate near zero), the weight would be unbounded: it stops at
 * CUT_WEIGHT_MAX times the wall time's. */
Test(memtrack_weight, bounded_when_the_target_hardly_ran_in_bursts)
{
	double gap = 4 * BURST_S;

	cr_assert_float_eq(memtrack_cut_weight(gap, gap, 1e-6), CUT_WEIGHT_MAX * 5.0, EPS);
	cr_assert_float_eq(memtrack_cut_weight(-1, -1, 0), 1.0, EPS, "no gap: itself");
}
