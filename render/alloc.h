/* alloc.h: the parts of `render alloc` (render/alloc*.c):
 *   alloc.c         options, the run: recording -> work directory -> gnuplot -> OUTDIR
 *   alloc_read.c    reading process.alloc into one decimated series per known column
 *   alloc_script.c  the gnuplot script: bytes in MB on the left axis, counts on the right
 *
 * Columns are recognised by name (docs/formats.md, "process.alloc"); a column of unknown
 * unit is reported and left out, a column with no value at all draws nothing. */
#ifndef TG_ALLOC_RENDER_H
#define TG_ALLOC_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "render/decim.h"
#include "render/plot.h"
#include "render/recording.h"
#include "render/workdir.h"

#define ALLOC_MAX_SERIES 24

enum alloc_unit { UNIT_NONE, UNIT_BYTES, UNIT_COUNT };

/* One column: its points go to the data file "sN" in the work directory, one run of the
 * recording after the other, a blank line between (gnuplot breaks the line there). */
struct alloc_series {
	char *name; /* the column name, from the file */
	enum alloc_unit unit;
	struct decim *d;
	FILE *fp;
	unsigned long long values, written;
};

struct alloc_plot {
	const struct recording *rec;
	enum plot_format format;
	int strict;
	struct alloc_series s[ALLOC_MAX_SERIES];
	size_t n;
	double t0, tmax, from, to; /* from/to: NAN when not set */
	int log_counts;		   /* counts span over 3 decades: log scale */
};

/* alloc_read.c: the first row's time (for --time-from +S and the x axis origin). */
int allocplot_first_row(const char *path, double *t, struct tg_err *err);
/* alloc_read.c: every row in p's time range into p->s (creating the data files in wd);
 * p->t0, from, to set.  Sets p->tmax and p->log_counts. */
int allocplot_read(struct alloc_plot *p, const struct workdir *wd, const char *path, int strict,
		   struct tg_err *err);
/* Close and free p's series. */
void allocplot_free(struct alloc_plot *p);
/* "process.alloc: column 'NAME': WHAT" on stderr. */
void allocplot_say_column(const char *name, const char *what);

/* The unit of a column, by its name. */
enum alloc_unit allocplot_unit_of(const char *name);
/* The key title of a column ("RSS", "blocks in use", ...), unit included. */
void allocplot_title(struct buf *out, const struct alloc_series *s, int counts_on_y1);

void allocplot_script(const struct alloc_plot *p, struct buf *s);

#endif
