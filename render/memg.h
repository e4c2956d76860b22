/* memg.h: the parts of `render memg` (render/memg*.c), which share one plot state:
 *   memg.c         options and the run: recording -> work directory -> gnuplot -> OUTDIR
 *   memg_data.c    reading the .mem files into gnuplot data blocks and the peak list
 *   memg_script.c  the gnuplot script
 *
 * Memory is bounded whatever the size of the recording: each series goes through a
 * decimator (render/decim.h) before it reaches the data file, peaks are spilled to a file
 * and merged back (render/peaks.h), and of the labels that pass the original's thinning
 * at most one per label-sized cell of the graph is drawn (render/labelgrid.h). */
#ifndef TG_MEMG_H
#define TG_MEMG_H

#include <stdio.h>

#include "common/err.h"
#include "render/cli.h"
#include "render/decim.h"
#include "render/peaks.h"
#include "render/plot.h"
#include "render/recording.h"
#include "render/workdir.h"

/* Points per series at most: 4 per time interval (decim.h), intervals to spare for the
 * ~1700 pixel columns of the plot area. */
#define MEMG_BUCKETS 2048
/* Label cells (labelgrid.h): about 80 x 55 pixels of the plot area each. */
#define MEMG_LABEL_COLS 20
#define MEMG_LABEL_ROWS 16

struct memg_opts {
	const char *outdir;
	long long rebase; /* KB */
	long long peak;	  /* KB */
	double peak_dt;	  /* s */
	double peak_dv;	  /* KB */
	long long cap;	  /* KB, 0 = none */
	int no_process;
	int strict;
	enum plot_format format;
	struct cli_time from, to;
};

struct memg_series {
	int block; /* index in the data file */
	int is_process;
	size_t thread; /* index among threads */
	char *title;
};

struct memg_plot {
	const struct memg_opts *o;
	const struct recording *rec;
	struct workdir wd;
	FILE *data;
	int blocks;
	double t0, from, to, tmax;
	double ymin, ymax; /* of the thread series drawn */
	struct memg_series *series;
	size_t nseries;
	char **legend_names; /* escaped thread names, by thread index */
	size_t nthreads;
	struct decim *decim;
	struct peaks *peaks;
	int spill_fd;
	unsigned long malformed;
	unsigned long long points_in, points_out;
	unsigned long labelled;		      /* peaks that passed the thinning */
	unsigned long labels_up, labels_down; /* in the files 'up' and 'down' */
};

/* memg_data.c: every thread, then the process, into the data file; peaks into p->peaks. */
int memg_read(struct memg_plot *p, struct tg_err *err);
/* memg_data.c: memg.txt (every peak) and the label files 'up' and 'down'. */
int memg_write_peaks(struct memg_plot *p, struct tg_err *err);
void memg_plot_free(struct memg_plot *p);

/* memg_script.c */
void memg_script(const struct memg_plot *p, struct buf *s);

#endif
