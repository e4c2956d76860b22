/* render alloc: the allocator statistics of process.alloc over time, drawn by gnuplot into
 * OUTDIR/alloc.svg.  Same safety as memg: numbers go through a data file, names through
 * quoted literals, gnuplot runs in a private work directory. */
#include "render/alloc.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "render/cli.h"
#include "render/gnuplot.h"
#include "render/interrupt.h"
#include "render/proctree.h"
#include "render/render.h"
#include "render/workdir.h"

struct alloc_opts {
	const char *outdir;
	enum plot_format format;
	struct cli_time from, to;
	int strict;
	int children;
};

/* ---- output ---- */

static int close_series(struct alloc_plot *p, const struct workdir *wd, struct tg_err *err)
{
	int rc = 0, drawn = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct alloc_series *s = &p->s[i];
		char file[16];
		snprintf(file, sizeof file, "s%zu", i);
		if (workdir_fclose(wd, file, s->fp, err) < 0)
			rc = -1;
		s->fp = NULL;
		if (!s->values)
			allocplot_say_column(s->name, "no values");
		drawn |= s->written > 0;
	}
	if (rc == 0 && !drawn)
		rc = tg_err_set(err, TG_E_DATA, "process.alloc: nothing to draw%s",
				isnan(p->from) && isnan(p->to) ? "" : " in the time range");
	return rc;
}

static int draw(struct alloc_plot *p, const char *path, struct workdir *wd, struct tg_err *err)
{
	struct buf script = BUF_INIT, file = BUF_INIT;
	int rc = -1;

	fputs("Processing data for the allocator\n", stderr);
	if (allocplot_read(p, wd, path, p->strict, err) < 0 || close_series(p, wd, err) < 0)
		goto out;
	plot_file_name(&file, "alloc", p->format);
	allocplot_script(p, &script);
	if (workdir_write(wd, "plot.gp", buf_cstr(&script), err) < 0)
		goto out;
	fputs("Running gnuplot.\n", stderr);
	if (gnuplot_run(wd->path, "plot.gp", err) < 0 ||
	    workdir_install(wd, buf_cstr(&file), 1, err) < 0)
		goto out;
	fprintf(stderr, "Wrote %s/%s%s\n", wd->outdir, buf_cstr(&file),
		wd->replaced ? " (replacing the file of an earlier render)" : "");
	rc = 0;
out:
	buf_free(&script);
	buf_free(&file);
	return rc;
}

static int run_one(const struct alloc_opts *o, const char *outdir, int nargs, char **args,
		   struct tg_err *err)
{
	struct recording rec;
	struct alloc_plot p;
	struct workdir wd = {NULL, NULL};
	double t_rec;
	int rc = -1;

	memset(&p, 0, sizeof p);
	p.format = o->format;
	p.rec = &rec;
	if (recording_open(&rec, nargs, args, err) < 0)
		return -1;
	if (!rec.process_alloc) {
		tg_err_set(err, TG_E_DATA,
			   "%s: no process.alloc (recorded without allocator statistics, or by "
			   "the original ThreadGraph)",
			   rec.dir);
		goto out;
	}
	if (allocplot_first_row(rec.process_alloc, &p.t0, err) < 0)
		goto out;
	/* the same origin as memg's, when there is more than process.alloc */
	if (recording_first_time(&rec, REC_MEM | REC_PROCESS, &t_rec, err) == 0 && t_rec < p.t0)
		p.t0 = t_rec;
	p.tmax = p.t0;
	p.from = o->from.set ? cli_time_resolve(&o->from, p.t0) : NAN;
	p.to = o->to.set ? cli_time_resolve(&o->to, p.t0) : NAN;
	if (p.from > p.to) {
		tg_err_set(err, TG_E_USAGE, "--time-from is after --time-to");
		goto out;
	}
	p.strict = o->strict;
	if (workdir_create(&wd, outdir, "alloc", err) == 0 &&
	    draw(&p, rec.process_alloc, &wd, err) == 0)
		rc = 0;
out:
	allocplot_free(&p);
	workdir_remove(&wd);
	recording_free(&rec);
	return rc;
}

/* A tree: one graph per process, in OUTPUT/PID/. */
static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct alloc_opts *o = opts;
	struct proctree t;
	int r = proctree_open(&t, nargs, args, o->children, err);

	if (r <= 0)
		return r < 0 ? -1 : run_one(o, o->outdir, nargs, args, err);
	if (mkdir(o->outdir, 0755) < 0 && errno != EEXIST)
		r = tg_err_sys(err, TG_E_OUTPUT, "create %s", o->outdir);
	else
		r = t.n ? 0
			: tg_err_set(err, TG_E_DATA, "%s: no process holds a recording", args[0]);
	for (size_t i = 0; i < t.n && r == 0; i++) {
		struct buf dir = BUF_INIT;
		buf_addf(&dir, "%s/%ld", o->outdir, t.pids[i]);
		r = run_one(o, buf_cstr(&dir), 1, &t.dirs[i], err);
		buf_free(&dir);
	}
	proctree_free(&t);
	return r;
}

static int set_format(void *opts, const char *arg, struct tg_err *err)
{
	return plot_format_parse(arg, &((struct alloc_opts *)opts)->format, err);
}

static void init(void *opts)
{
	((struct alloc_opts *)opts)->outdir = ".";
}

static const struct cli_opt options[] = {
    {"output", 'o', "OUTDIR", CLI_STR, offsetof(struct alloc_opts, outdir),
     "where to write (default: the current directory)"},
    {"format", 0, "svg|png", CLI_FN, 0, "alloc.svg (default) or alloc.png", 0, 0, NULL, set_format},
    {"time-from", 0, "T", CLI_TIME, offsetof(struct alloc_opts, from), ""},
    {"time-to", 0, "T", CLI_TIME, offsetof(struct alloc_opts, to),
     "time range: Unix seconds, +SECONDS after the\nfirst event, or 'YYYY-MM-DD HH:MM:SS' "
     "local time"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct alloc_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {"children", 0, NULL, CLI_FLAG, offsetof(struct alloc_opts, children),
     "DIR (OUTDIR/PID) and its descendants; OUTDIR (a\ndirectory of PID recordings) is the "
     "whole tree:\none graph per process, in OUTPUT/PID/"},
    {NULL},
};

const struct cli_command render_alloc_cmd = {
    "alloc",
    "allocator statistics over time: RSS, heap, arenas, blocks (SVG)",
    "DIR|OUTDIR|process.alloc [options]",
    "Draws the allocator statistics of process.alloc over time into OUTDIR/alloc.svg:\n"
    "memory (rss, anon, heap, bytes_in_use, arena_bytes, ...) in MB on the left axis,\n"
    "counts (arenas, arenas_highwater, blocks, raw_blocks, ...) on the right axis,\n"
    "log scale when they span more than three decades.  Missing values ('?') are\n"
    "skipped: the line joins the values around them.  Columns of unknown unit are\n"
    "left out (and named on stderr).\n",
    "Needs gnuplot.\n",
    options,
    sizeof(struct alloc_opts),
    init,
    "no recording directory or process.alloc given",
    run,
};
