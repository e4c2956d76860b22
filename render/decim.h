/* decim.h: keeping a line plot's shape with a bounded number of points.
 *
 * A series is fed point by point in time order.  Up to 4 * buckets points are kept as
 * they are.  Past that, time is cut into at most `buckets` equal intervals and each keeps
 * only its first, lowest, highest and last point (the "M4" reduction: drawn as a line,
 * that looks the same at one interval per pixel column).  When a point falls beyond the
 * last interval, intervals are merged in pairs (their width doubles).  Memory is bounded
 * by `buckets`, whatever the number of points.  A point earlier than the previous one
 * goes into the current interval. */
#ifndef TG_DECIM_H
#define TG_DECIM_H

#include <stddef.h>

struct decim_pt {
	double t, y;
};

struct decim;

struct decim *decim_new(size_t buckets);
void decim_add(struct decim *d, double t, double y);
/* Points added since the last reset. */
unsigned long long decim_seen(const struct decim *d);
/* The kept points in time order, in a buffer owned by d (valid until the next call). */
const struct decim_pt *decim_points(struct decim *d, size_t *n);
/* Forgets every point (the next series). */
void decim_reset(struct decim *d);
void decim_free(struct decim *d);

#endif
