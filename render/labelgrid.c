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

const struct glabel *labelgrid_cell(const struct labelgrid *g, size_t i)
{
	return &g->cells[i];
}

size_t labelgrid_cells(const struct labelgrid *g)
{
	return g->nx * g->ny;
}
