/* Unit tests of render/top_totals: when `render top` warns that most of the growth is
 * not explained by the functions it ranks, and how it writes sizes. */
#include <criterion/criterion.h>

#include "render/top_totals.h"

#define MB (1024LL * 1024)

Test(render_top_totals, unexplained_when_the_remainder_is_over_half_the_growth)
{
	cr_assert_eq(top_unexplained(10 * MB, 1 * MB), 1);
	cr_assert_eq(top_unexplained(10 * MB, 4 * MB), 1);
	cr_assert_eq(top_unexplained(10 * MB, 6 * MB), 0);
	cr_assert_eq(top_unexplained(10 * MB, 10 * MB), 0);
	cr_assert_eq(top_unexplained(10 * MB, 14 * MB), 0);
	cr_assert_eq(top_unexplained(10 * MB, 16 * MB), 1); /* charged far more than grew */
	cr_assert_eq(top_unexplained(10 * MB, -1 * MB), 1);
	/* a release: the same rule on the magnitudes */
	cr_assert_eq(top_unexplained(-10 * MB, -8 * MB), 0);
	cr_assert_eq(top_unexplained(-10 * MB, 1 * MB), 1);
	/* no growth, large charges */
	cr_assert_eq(top_unexplained(0, 5 * MB), 1);
	cr_assert_eq(top_unexplained(4096, 5 * MB), 1);
	/* both below the floor: noise, no verdict */
	cr_assert_eq(top_unexplained(0, 0), 0);
	cr_assert_eq(top_unexplained(TOP_WARN_FLOOR - 1, 0), 0);
	cr_assert_eq(top_unexplained(TOP_WARN_FLOOR, 0), 1);
}

Test(render_top_totals, sizes)
{
	char s[32];

	top_human(s, sizeof s, 0, 0);
	cr_assert_str_eq(s, "0 B");
	top_human(s, sizeof s, -512, 0);
	cr_assert_str_eq(s, "-512 B");
	top_human(s, sizeof s, 1536, 0);
	cr_assert_str_eq(s, "+1.5 KB");
	top_human(s, sizeof s, 3 * MB / 2, 0);
	cr_assert_str_eq(s, "+1.5 MB");
	top_human(s, sizeof s, -5 * 1024 * MB / 2, 0);
	cr_assert_str_eq(s, "-2.50 GB");
	top_human(s, sizeof s, 1536, 1);
	cr_assert_str_eq(s, "+1536");
	top_human(s, sizeof s, 0, 1);
	cr_assert_str_eq(s, "0");
}
