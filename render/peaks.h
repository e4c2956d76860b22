/* peaks.h: the memory peaks of `render memg`: numbering, label thinning and the legend.
 *
 * A return whose delta, in KB rounded down (floor, as the original's Python did), has
 * |KB| > --peak is a peak.  Peaks are numbered 1, 2, ... in time order over all threads
 * (ties: thread order, then file order), so the marks read left to right on the graph and
 * the legend (memg.txt) lists them in numeric order.  Labels on the graph are thinned per
 * thread: a peak is labelled when it is more than dt seconds or dv KB away from the last
 * labelled peak of the same thread; the legend lists every peak. */
#ifndef TG_PEAKS_H
#define TG_PEAKS_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

struct peak {
	double time;
	size_t series;	    /* thread index */
	unsigned long seq;  /* order within the thread's file */
	long long kb;	    /* floor(delta / 1024) */
	long long y;	    /* where it is drawn (kb, capped) */
	char *what;	    /* legend text after "THREAD>", owned */
	unsigned long mark; /* 1-based, set by peaks_number() */
	int labelled;	    /* set by peaks_thin() */
};

struct peaks {
	struct peak *v;
	size_t n, cap;
};

/* bytes / 1024 rounded toward minus infinity */
long long kb_floor(long long bytes);

/* Copies *p; takes ownership of p->what. */
void peaks_add(struct peaks *ps, const struct peak *p);
void peaks_number(struct peaks *ps);
void peaks_thin(struct peaks *ps, size_t nseries, double dt, double dv);
/* Writes "MARK: SERIES_NAME>WHAT\n" per peak, in mark order. */
int peaks_write_legend(const struct peaks *ps, const char *const *series_names, FILE *fp,
		       struct tg_err *err);
void peaks_free(struct peaks *ps);

#endif
