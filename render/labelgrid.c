#include "render/labelgrid.h"

#include <math.h>
#include <stdlib.h>

#include "common/xalloc.h"

struct labelgrid {
	size_t nx, ny;
	double x0, y0, dx, dy;
	struct glabel *cells;
};

struct labelgrid *labelgrid_new(size_t nx, size_t ny, double x0, double x1, double y0, double y1)
{
	struct labelgrid *g = xcalloc(1, sizeof *g);

	g->nx = nx ? nx : 1;
	g->ny = ny ? ny : 1;
	g->x0 = x0;
	g->y0 = y0;
	g->dx = x1 > x0 ? (x1 - x0) / (double)g->nx : 1;
	g->dy = y1 > y0 ? (y1 - y0) / (double)g->ny : 1;
	g->cells = xcalloc(g->nx * g->ny, sizeof *g->cells);
	return g;
}

void labelgrid_free(struct labelgrid *g)
{
	if (!g)
		return;
	free(g->cells);
	free(g);
}

static size_t index_of(double v, double v0, double dv, size_t n)
{
	double k = floor((v - v0) / dv);

	if (!(k >= 0)) /* also NaN */
		return 0;
	return k >= (double)n ? n - 1 : (size_t)k;
}

void labelgrid_offer(struct labelgrid *g, double x, double y, unsigned long mark)
{
	size_t ix = index_of(x, g->x0, g->dx, g->nx), iy = index_of(y, g->y0, g->dy, g->ny);
	struct glabel *c = &g->cells[ix * g->ny + iy];

	if (c->used && fabs(c->y) >= fabs(y))
		return;
	*c = (struct glabel){1, x, y, mark};
}

static int too_close(const struct labelgrid *g, const struct glabel *a, const struct glabel *b)
{
	return a->used && b->used && fabs(a->x - b->x) < g->dx / 2 && fabs(a->y - b->y) < g->dy / 2;
}

/* Drops the lesser of cells a and b when their labels are too close. */
static void keep_one(const struct labelgrid *g, struct glabel *a, struct glabel *b)
{
	if (!too_close(g, a, b))
		return;
	if (fabs(a->y) > fabs(b->y) || (fabs(a->y) == fabs(b->y) && a->mark < b->mark))
		b->used = 0;
	else
		a->used = 0;
}

void labelgrid_separate(struct labelgrid *g)
{
	for (size_t ix = 0; ix < g->nx; ix++)
		for (size_t iy = 0; iy < g->ny; iy++) {
			struct glabel *c = &g->cells[ix * g->ny + iy];
			/* the neighbours after this cell: right (three rows), and above */
			for (size_t dx = 0; dx <= 1 && ix + dx < g->nx; dx++)
				for (int dy = dx ? -1 : 1; dy <= 1; dy++) {
					if ((dy < 0 && iy == 0) || iy + (size_t)(dy + 1) > g->ny)
						continue;
					size_t j = (ix + dx) * g->ny + (size_t)((long)iy + dy);
					if (&g->cells[j] != c)
						keep_one(g, c, &g->cells[j]);
				}
		}
}

const struct glabel *labelgrid_cell(const struct labelgrid *g, size_t i)
{
	return &g->cells[i];
}

size_t labelgrid_cells(const struct labelgrid *g)
{
	return g->nx * g->ny;
}
