/* peaks.h: the memory peaks of `render memg`: numbering, label thinning and the legend,
 * in memory bounded by the number of threads, not of peaks.
 *
 * A return whose delta, in KB rounded down (floor, as the original's Python did), has
 * |KB| > --peak is a peak.  Peaks are numbered 1, 2, ... in time order over all threads
 * (ties: thread order, then file order), so the marks read left to right on the graph and
 * the legend (memg.txt) lists them in numeric order.  Labels on the graph are thinned per
 * thread: a peak is labelled when it is more than dt seconds or dv KB away from the last
 * labelled peak of the same thread; the legend lists every peak.
 *
 * Threads are fed one after the other, each in file order (which is time order); peaks go
 * to a spill file as they come, and peaks_merge() reads the threads' runs back together,
 * a k-way merge by time. */
#ifndef TG_PEAKS_H
#define TG_PEAKS_H

#include <stddef.h>

#include "common/err.h"

struct peak {
	double time;
	size_t series;	   /* thread index */
	unsigned long seq; /* order within the thread's file */
	long long kb;	   /* floor(delta / 1024) */
	long long y;	   /* where it is drawn (kb, capped) */
	const char *what;  /* legend text after "THREAD>" */
	size_t what_len;
	unsigned long mark; /* 1-based, set by peaks_merge() */
	int labelled;	    /* set by peaks_add() */
};

struct peaks;

/* bytes / 1024 rounded toward minus infinity */
long long kb_floor(long long bytes);

/* spill_fd: a read-write file, empty, that the caller owns (an unlinked temporary file). */
struct peaks *peaks_new(int spill_fd, double dt, double dv);
/* The next peak of p->series; series must come in increasing order, each in time order.
 * Sets p->labelled. */
int peaks_add(struct peaks *ps, struct peak *p, struct tg_err *err);
unsigned long peaks_count(const struct peaks *ps);

typedef int (*peaks_fn)(void *ctx, const struct peak *p, struct tg_err *err);
/* Calls fn for every peak in mark order, with mark set.  Stops at fn's -1. */
int peaks_merge(struct peaks *ps, peaks_fn fn, void *ctx, struct tg_err *err);
void peaks_free(struct peaks *ps);

#endif
