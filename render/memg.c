/* render memg: memory charged to every group of threads so far (or, --spikes, the change
 * at each return of every thread), plus the process RSS, over time,
 * drawn by gnuplot into OUTDIR/memg.svg with the peak legend in OUTDIR/memg.txt.
 *
 * Everything that comes from the recording reaches gnuplot either as numbers in a data
 * file or as a single-quoted string literal (plot.h); gnuplot runs in a private work
 * directory inside OUTDIR, so the script names no path of ours, and the results are
 * renamed into place only when gnuplot succeeded. */
#include "render/cli.h"
#include "render/render.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "render/gnuplot.h"
#include "render/interrupt.h"
#include "render/memg.h"

static int has_mem(const struct recording *r)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].mem)
			return 1;
	return r->process_mem != NULL || r->process_charge != NULL;
}

/* The charge so far unless --spikes, when every recording drawn has it (process.charge:
 * tgattach since December 2026); else the change at each return, and a note why. */
static int cumulative(const struct memg_plot *p, const struct memg_opts *o)
{
	int all = 1;

	if (o->spikes)
		return 0;
	if (p->tree) {
		for (size_t i = 0; i < p->tree->n; i++)
			if (p->tree->procs[i].drawn && !p->tree->procs[i].rec.process_charge)
				all = 0;
	} else {
		all = p->rec->process_charge != NULL;
	}
	if (!all)
		fputs("no process.charge (a recording by ThreadGraph or an older tgattach): "
		      "drawing the memory change at each return (--spikes)\n",
		      stderr);
	return all;
}

/* The work directory, its data file and the peak spill file (unlinked at once). */
static int prepare(struct memg_plot *p, struct tg_err *err)
{
	char *spill;

	if (workdir_create(&p->wd, p->o->outdir, "memg", err) < 0)
		return -1;
	p->data = workdir_fopen(&p->wd, "data", err);
	if (!p->data)
		return -1;
	spill = workdir_path(&p->wd, "peaks");
	p->spill_fd = open(spill, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->spill_fd < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "creating %s", spill);
		free(spill);
		return -1;
	}
	unlink(spill);
	free(spill);
	p->peaks = peaks_new(p->spill_fd, p->o->peak_dt, p->o->peak_dv);
	p->decim = decim_new(MEMG_BUCKETS);
	return 0;
}

static int draw(struct memg_plot *p, struct tg_err *err)
{
	struct buf script = BUF_INIT, file = BUF_INIT;
	int rc = -1;

	if (memg_read(p, err) < 0 || memg_write_peaks(p, err) < 0)
		goto out;
	FILE *data = p->data;
	p->data = NULL;
	if (workdir_fclose(&p->wd, "data", data, err) < 0)
		goto out;
	memg_script(p, &script);
	plot_file_name(&file, "memg", p->o->format);
	if (workdir_write(&p->wd, "plot.gp", buf_cstr(&script), err) < 0)
		goto out;
	fputs("Running gnuplot.\n", stderr);
	if (gnuplot_run(p->wd.path, "plot.gp", err) == 0 &&
	    workdir_install(&p->wd, buf_cstr(&file), 1, err) == 0 &&
	    workdir_install(&p->wd, "memg.txt", 0, err) == 0)
		rc = 0;
out:
	buf_free(&script);
	buf_free(&file);
	return rc;
}

/* The earliest first event of the processes read (drawn, or summed with an RSS). */
static int tree_first_time(const struct memg_tree *t, double *t0, struct tg_err *err)
{
	int found = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct memg_proc *m = &t->procs[i];
		double first;
		struct tg_err e;
		if (!m->usable || (!m->drawn && !m->has_rss))
			continue;
		tg_err_clear(&e);
		if (recording_first_time(&m->rec, REC_MEM | REC_PROCESS, &first, &e) < 0)
			continue; /* a process with no data draws nothing */
		if (!found || first < *t0)
			*t0 = first, found = 1;
	}
	if (!found)
		return tg_err_set(err, TG_E_DATA, "no data: no process holds a well-formed line");
	return 0;
}

/* Which recording (or tree) to read, and the time it starts. */
static int open_input(struct memg_plot *p, struct recording *rec, struct memg_tree *tree, int nargs,
		      char **args, struct tg_err *err)
{
	int r = memg_tree_open(tree, p->o, nargs, args, err);

	if (r < 0)
		return -1;
	if (r == 1) {
		p->tree = tree;
		if (memg_tree_select(tree, MEMG_MAX_PROCS, err) < 0)
			return -1;
		for (size_t i = 0; i < tree->n && !p->rec; i++)
			if (tree->procs[i].drawn)
				p->rec = &tree->procs[i].rec;
		return tree_first_time(tree, &p->t0, err);
	}
	if (recording_open(rec, nargs, args, err) < 0)
		return -1;
	p->rec = rec;
	if (!has_mem(rec))
		return tg_err_set(err, TG_E_DATA, "%s: no .mem files", rec->dir);
	return recording_first_time(rec, REC_MEM | REC_PROCESS, &p->t0, err);
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct memg_opts *o = opts;
	struct recording rec;
	struct memg_tree tree;
	struct memg_plot p;
	int rc = -1;

	memset(&p, 0, sizeof p);
	memset(&rec, 0, sizeof rec);
	memset(&tree, 0, sizeof tree);
	p.o = o;
	p.spill_fd = -1;
	if (open_input(&p, &rec, &tree, nargs, args, err) < 0)
		goto out;
	p.from = o->from.set ? cli_time_resolve(&o->from, p.t0) : -INFINITY;
	p.to = o->to.set ? cli_time_resolve(&o->to, p.t0) : INFINITY;
	p.tmax = p.t0;
	if (p.from > p.to) {
		tg_err_set(err, TG_E_USAGE, "--time-from is after --time-to");
		goto out;
	}
	p.cumulative = cumulative(&p, o);
	if (prepare(&p, err) < 0 || draw(&p, err) < 0)
		goto out;
	fprintf(stderr, "Wrote %s/memg.%s and %s/memg.txt (%lu peak%s, %lu labelled", o->outdir,
		o->format == PLOT_PNG ? "png" : "svg", o->outdir, peaks_count(p.peaks),
		peaks_count(p.peaks) == 1 ? "" : "s", p.labels_up + p.labels_down);
	if (p.points_out < p.points_in)
		fprintf(stderr, "; %llu of %llu points drawn", p.points_out, p.points_in);
	if (p.wd.replaced)
		fputs("; replacing the files of an earlier render", stderr);
	fputs(")\n", stderr);
	rc = 0;
out:
	memg_plot_free(&p);
	recording_free(&rec);
	memg_tree_free(&tree);
	return rc;
}

static int set_format(void *opts, const char *arg, struct tg_err *err)
{
	return plot_format_parse(arg, &((struct memg_opts *)opts)->format, err);
}

static int set_rebase(void *opts, const char *arg, struct tg_err *err)
{
	struct memg_opts *o = opts;

	o->rebase_set = 1;
	return cli_ll("--process-rebase", arg, &o->rebase, err);
}

static void init(void *opts)
{
	struct memg_opts *o = opts;

	o->outdir = ".";
	o->peak = 200;
	o->peak_dt = 60;
	o->peak_dv = 500;
	o->series = MEMG_SERIES;
	o->format = PLOT_SVG;
}

#define OFF(f) offsetof(struct memg_opts, f)
static const struct cli_opt options[] = {
    {"children", 0, NULL, CLI_FLAG, OFF(children),
     "OUTDIR/PID and its descendants (OUTDIR/CHILD whose\nmeta says parent=PID, recursively), "
     "one time axis.\nGiven OUTDIR itself (PID directories, no .mem\nfiles), every process "
     "tree in it is drawn.  In a\ntree, lines are 'process PID RSS' and 'PID:THREAD';\n"
     "beyond 20 processes, those of lower peak RSS are\none 'other children (K)' line (listed "
     "in memg.txt)"},
    {"output", 'o', "OUTDIR", CLI_STR, OFF(outdir),
     "where to write (default: the current directory)"},
    {"format", 0, "svg|png", CLI_FN, 0, "memg.svg (default) or memg.png", 0, 0, NULL, set_format},
    {"process-rebase", 0, "KB", CLI_FN, 0,
     "draw the process RSS in KB minus KB (the original's\nway; default: plain RSS in MB)", 0, 0,
     NULL, set_rebase},
    {"process_rebase", 0, "KB", CLI_FN, 0, NULL, 0, 0, NULL, set_rebase},
    {"peak", 0, "KB", CLI_LL, OFF(peak), "a return is a peak if |delta| > KB (default 200)", 0,
     LLONG_MAX},
    {"peak-delta-time", 0, "S", CLI_NUM, OFF(peak_dt),
     "label a peak only if more than S seconds..."},
    {"peak_delta_time", 0, "S", CLI_NUM, OFF(peak_dt), NULL},
    {"peak-delta-value", 0, "KB", CLI_NUM, OFF(peak_dv),
     "...or KB away from the thread's last label\n(defaults 60 and 500; memg.txt lists all "
     "peaks)"},
    {"peak_delta_value", 0, "KB", CLI_NUM, OFF(peak_dv), NULL},
    {"cap", 0, "KB", CLI_LL, OFF(cap),
     "with --spikes, clip thread values to [-KB, KB]\n(default: none)", 0, LLONG_MAX},
    {"series", 0, "N", CLI_LL, OFF(series),
     "threads whose names differ only by numbers are\none series ('Thread-N (handler) (170 "
     "threads)');\nthe N series with the largest values are drawn\nin colour, the rest in "
     "grey as 'other threads'\n(default 12)",
     1, 1000},
    {"spikes", 0, NULL, CLI_FLAG, OFF(spikes),
     "draw each thread's memory change at each return\n(the original's graph; default: the "
     "memory\ncharged to each group of threads so far)"},
    {"no-process", 0, NULL, CLI_FLAG, OFF(no_process), "leave out the process RSS line"},
    {"no_process", 0, NULL, CLI_FLAG, OFF(no_process), NULL},
    {"time-from", 0, "T", CLI_TIME, OFF(from), ""},
    {"time-to", 0, "T", CLI_TIME, OFF(to),
     "time range: Unix seconds, +SECONDS after the\nfirst event, or 'YYYY-MM-DD HH:MM:SS' "
     "local time"},
    {"time_from", 0, "T", CLI_TIME, OFF(from), NULL},
    {"time_to", 0, "T", CLI_TIME, OFF(to), NULL},
    {"strict", 0, NULL, CLI_FLAG, OFF(strict), "a malformed line is an error (default: skipped)"},
    {NULL},
};
#undef OFF

const struct cli_command render_memg_cmd = {
    "memg",
    "memory charged to each thread so far and process RSS (SVG)",
    "DIR|FILES... [options]\n"
    "       tgattach render memg OUTDIR/PID --children [options]\n"
    "       tgattach render memg OUTDIR [options]",
    "Draws the memory charged to each group of threads so far (--spikes: the\n"
    "memory change at each function return of every thread), and the\n"
    "process RSS, over time: OUTDIR/memg.svg, with the peaks listed in OUTDIR/memg.txt\n"
    "as 'MARK: THREAD>FILE:LINE:FUNC=>DELTA_BYTES'.  DIR is a recording directory\n"
    "(OUTDIR/PID of tgattach or ThreadGraph); FILES are .mem files.  A recording that\n"
    "followed forks has one OUTDIR/PID per process, each meta naming its parent:\n",
    "The original's spellings --process_rebase, --peak_delta_time, --peak_delta_value,\n"
    "--no_process, --time_from and --time_to are accepted.  Long series are reduced\n"
    "to at most 4 points per 1/2048 of their time span (first, lowest, highest, last),\n"
    "which draws the same line.  Needs gnuplot.\n",
    options,
    sizeof(struct memg_opts),
    init,
    "no recording directory or .mem file given",
    run,
};
