/* memg.h: the parts of `render memg` (render/memg*.c), which share one plot state:
 *   memg.c         options and the run: recording -> work directory -> gnuplot -> OUTDIR
 *   memg_data.c    reading the .mem files into gnuplot data blocks and the peak list
 *   memg_script.c  the gnuplot script
 *   memg_tree.c    --children and directories of recordings: which processes, in what order
 *   memg_other.c   the processes beyond MEMG_MAX_PROCS, summed into one RSS line
 *   memg_charge.c  the default lines: memory charged to each group of threads so far
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
/* Processes drawn one by one (threads and RSS) in a tree; the rest are one summed line. */
#define MEMG_MAX_PROCS 20
/* Thread series drawn in colour by default (--series); the others in grey, one key entry. */
#define MEMG_SERIES 12

struct memg_opts {
	const char *outdir;
	long long rebase; /* KB */
	int rebase_set;	  /* --process-rebase given: RSS in KB minus it, else plain MB */
	long long peak;	  /* KB */
	double peak_dt;	  /* s */
	double peak_dv;	  /* KB */
	long long cap;	  /* KB, 0 = none */
	long long series; /* thread series (groups) drawn in colour */
	int no_process;
	int spikes; /* --spikes: the change at each return, not the charge so far */
	int strict;
	int children;
	enum plot_format format;
	struct cli_time from, to;
};

struct memg_series {
	int block;	/* index in the data file */
	int is_process; /* 2: the summed "other children" line */
	size_t thread;	/* index among threads; for a process line, among process lines */
	long pid;	/* of a process line in a tree, else 0 */
	char *title;
	long long top; /* a thread's largest |value| drawn (KB): the groups are ranked by it */
	int sum_other; /* the charge of the groups not drawn one by one, summed */
};

/* One recording directory OUTDIR/PID of a process tree. */
struct memg_proc {
	long pid;
	long parent; /* from meta parent=; -1 when missing or malformed */
	char *dir;
	struct recording rec;
	int usable; /* rec opened */
	int drawn;  /* one by one; else summed into the "other" line */
	int has_rss;
	long long peak;	    /* highest process.mem value, KB */
	double first, last; /* times of its process.mem samples */
};

/* Every process before its children; children by PID. */
struct memg_tree {
	struct memg_proc *procs;
	size_t n;
	size_t nother; /* usable, not drawn */
};

struct memg_charges;

struct memg_plot {
	const struct memg_opts *o;
	int cumulative; /* lines from process.charge (else the change at each return) */
	struct memg_charges *charges;
	const struct recording *rec;  /* in a tree: the first process drawn, for the title */
	const struct memg_tree *tree; /* NULL: one recording */
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

/* memg_data.c: what the process line draws of an RSS of kb KB: plain MB, or KB minus
 * --process-rebase when it was given (the original's default, 30000, no longer is). */
double memg_rss_value(const struct memg_opts *o, double kb);
/* memg_data.c: every thread, then the process, into the data file; peaks into p->peaks. */
int memg_read(struct memg_plot *p, struct tg_err *err);
/* memg_data.c: the decimator's points as the next data block (index, or -1 if none). */
int memg_write_block(struct memg_plot *p, int is_thread);
void memg_add_series(struct memg_plot *p, int block, int is_process, size_t index, long pid,
		     const char *title);
/* memg_data.c: memg.txt (every peak) and the label files 'up' and 'down'. */
int memg_write_peaks(struct memg_plot *p, struct tg_err *err);
void memg_plot_free(struct memg_plot *p);

/* memg_tree.c: with o->children, the one directory argument OUTDIR/PID and the
 * directories of OUTDIR whose meta says parent=PID, recursively; without, a single
 * directory argument that holds no recording file but PID subdirectories with a meta file
 * (every tree in it).  Returns 1 and fills *t, 0 when the arguments are no tree (a plain
 * recording), -1 with err.  A subdirectory that is not a readable recording is skipped
 * with a warning (only the named PID of --children must be one). */
int memg_tree_open(struct memg_tree *t, const struct memg_opts *o, int nargs, char *const *args,
		   struct tg_err *err);
/* Reads every process.mem for its peak and time span, then marks at most max processes
 * drawn: the first one, then by peak RSS. */
int memg_tree_select(struct memg_tree *t, size_t max, struct tg_err *err);
void memg_tree_free(struct memg_tree *t);

/* memg_charge.c: thread `thread` (its index) is drawn in its title's group; rec's
 * process.charge holds the charges of its threads, indexes base, base + 1, ... in the
 * order of rec->threads. */
void memg_charge_thread(struct memg_plot *p, size_t thread, const char *title);
void memg_charge_source(struct memg_plot *p, const struct recording *rec, size_t base);
/* The groups' lines (KB charged so far) as series: the --series largest, then the rest
 * summed (sum_other). */
int memg_charge_read(struct memg_plot *p, struct tg_err *err);
/* Where a peak of thread `thread` at time t is labelled: its group's line then. */
double memg_charge_at(const struct memg_plot *p, size_t thread, double t);
void memg_charges_free(struct memg_charges *c);

/* memg_other.c: the RSS of the processes not drawn, summed, as one series. */
int memg_read_other(struct memg_plot *p, struct tg_err *err);

/* memg_script.c; threads drawn grouped (memg_group.h). */
void memg_script(const struct memg_plot *p, struct buf *s);

#endif
