/* labelgrid.h: keeping peak labels from piling up on a crowded graph.
 *
 * The plot area is cut into cells about the size of a label; of the labels offered to a
 * cell, the one farthest from zero is kept (ties: the first offered).  Fixed memory:
 * one slot per cell, however many labels are offered. */
#ifndef TG_LABELGRID_H
#define TG_LABELGRID_H

#include <stddef.h>

struct glabel {
	int used;
	double x, y;
	unsigned long mark;
};

struct labelgrid;

/* nx * ny cells over [x0, x1] x [y0, y1]; points outside go to the nearest edge cell. */
struct labelgrid *labelgrid_new(size_t nx, size_t ny, double x0, double x1, double y0, double y1);
void labelgrid_offer(struct labelgrid *g, double x, double y, unsigned long mark);
/* After the offers: of two kept labels in neighbouring cells whose points are closer than
 * half a cell in both directions (their texts would touch across the cells' common edge),
 * the one nearer to zero is dropped (ties: the later mark).  Then no two kept points are
 * that close. */
void labelgrid_separate(struct labelgrid *g);
/* Cell i (0 <= i < nx * ny), column by column; .used is 0 for an empty cell. */
const struct glabel *labelgrid_cell(const struct labelgrid *g, size_t i);
size_t labelgrid_cells(const struct labelgrid *g);
void labelgrid_free(struct labelgrid *g);

#endif
