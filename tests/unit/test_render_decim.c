/* Unit tests of render/decim (bounded line plots) and render/labelgrid (label cells). */
#include <criterion/criterion.h>
#include <math.h>

#include "render/decim.h"
#include "render/labelgrid.h"

Test(render_decim, few_points_kept_as_they_are)
{
	struct decim *d = decim_new(16);
	const struct decim_pt *p;
	size_t n;

	for (int i = 0; i < 63; i++) /* up to 4 x buckets - 1 */
		decim_add(d, i, i % 3);
	p = decim_points(d, &n);
	cr_assert_eq(n, 63, "got %zu", n);
	for (size_t i = 0; i < n; i++)
		cr_assert(p[i].t == (double)i && p[i].y == (double)(i % 3));
	decim_free(d);
}

/* A million points: at most 4 per bucket, in time order, and every extreme survives. */
Test(render_decim, many_points_bounded_extremes_kept)
{
	struct decim *d = decim_new(100);
	const struct decim_pt *p;
	size_t n;
	double lo = 0, hi = 0;

	for (int i = 0; i < 1000000; i++) {
		double y =
		    sin(i * 0.001) * 100 + (i == 654321 ? 5000 : 0) - (i == 12345 ? 7000 : 0);
		decim_add(d, 1000 + i * 0.01, y);
	}
	cr_assert_eq(decim_seen(d), 1000000);
	p = decim_points(d, &n);
	cr_assert_leq(n, 400);
	cr_assert_gt(n, 100);
	for (size_t i = 0; i < n; i++) {
		if (i)
			cr_assert_geq(p[i].t, p[i - 1].t);
		lo = fmin(lo, p[i].y);
		hi = fmax(hi, p[i].y);
	}
	cr_assert_float_eq(hi, sin(654321 * 0.001) * 100 + 5000, 1e-9);
	cr_assert_float_eq(lo, sin(12345 * 0.001) * 100 - 7000, 1e-9);
	cr_assert_float_eq(p[0].t, 1000, 1e-9);
	cr_assert_float_eq(p[n - 1].t, 1000 + 999999 * 0.01, 1e-6);
	decim_reset(d);
	decim_points(d, &n);
	cr_assert_eq(n, 0);
	decim_free(d);
}

Test(render_decim, same_time_and_backwards_points)
{
	struct decim *d = decim_new(4);
	size_t n;

	for (int i = 0; i < 100; i++)
		decim_add(d, i < 50 ? 5.0 : 5.0 - i, i);
	decim_points(d, &n);
	cr_assert_leq(n, 16);
	cr_assert_gt(n, 0);
	decim_free(d);
}

Test(render_labelgrid, one_label_per_cell_the_largest)
{
	struct labelgrid *g = labelgrid_new(2, 2, 0, 10, -100, 100);
	size_t used = 0;

	labelgrid_offer(g, 1, 10, 1);
	labelgrid_offer(g, 2, 90, 2);	/* same cell, larger: replaces 1 */
	labelgrid_offer(g, 3, 50, 3);	/* smaller: dropped */
	labelgrid_offer(g, 6, -80, 4);	/* another cell */
	labelgrid_offer(g, 99, 1e9, 5); /* outside: the nearest edge cell */
	for (size_t i = 0; i < labelgrid_cells(g); i++) {
		const struct glabel *c = labelgrid_cell(g, i);
		if (!c->used)
			continue;
		used++;
		cr_assert(c->mark == 2 || c->mark == 4 || c->mark == 5, "mark %lu", c->mark);
	}
	cr_assert_eq(used, 3);
	labelgrid_free(g);
}

/* Two labels in neighbouring cells, a hair apart across the common edge: the lesser is
 * dropped; and after any offers, no two kept points are closer than half a cell in both
 * directions (where their texts would touch). */
Test(render_labelgrid, no_two_labels_touch)
{
	struct labelgrid *g = labelgrid_new(4, 4, 0, 40, 0, 40);

	labelgrid_offer(g, 9.9, 15, 1);
	labelgrid_offer(g, 10.1, 16, 2); /* the next column, 0.2 away: 1 goes */
	labelgrid_offer(g, 30, 30, 3);
	labelgrid_separate(g);
	size_t used = 0;
	for (size_t i = 0; i < labelgrid_cells(g); i++)
		if (labelgrid_cell(g, i)->used) {
			used++;
			cr_assert_neq(labelgrid_cell(g, i)->mark, 1);
		}
	cr_assert_eq(used, 2);
	labelgrid_free(g);

	srand(7);
	g = labelgrid_new(20, 16, 0, 100, -50, 50);
	for (unsigned long m = 0; m < 5000; m++)
		labelgrid_offer(g, rand() % 10000 / 100.0, rand() % 10000 / 100.0 - 50, m);
	labelgrid_separate(g);
	for (size_t i = 0; i < labelgrid_cells(g); i++)
		for (size_t j = i + 1; j < labelgrid_cells(g); j++) {
			const struct glabel *a = labelgrid_cell(g, i), *b = labelgrid_cell(g, j);
			if (a->used && b->used)
				cr_assert(fabs(a->x - b->x) >= 2.5 || fabs(a->y - b->y) >= 3.125,
					  "marks %lu and %lu touch", a->mark, b->mark);
		}
	labelgrid_free(g);
}
