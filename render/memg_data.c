/* render memg: the .mem files into gnuplot data blocks, the peaks into the legend. */
#include "render/memg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/xalloc.h"
#include "render/labelgrid.h"
#include "render/tgfile.h"

static int in_range(const struct memg_plot *p, double t)
{
	return t >= p->from && t <= p->to;
}

/* The decimated series as the next data block; returns its index, or -1 if empty. */
int memg_write_block(struct memg_plot *p, int is_thread)
{
	size_t n;
	const struct decim_pt *pts = decim_points(p->decim, &n);

	p->points_in += decim_seen(p->decim);
	if (n == 0)
		return -1;
	if (p->blocks)
		fputs("\n\n", p->data);
	for (size_t i = 0; i < n; i++) {
		fprintf(p->data, "%.6f %.10g\n", pts[i].t - p->t0, pts[i].y);
		if (pts[i].t > p->tmax)
			p->tmax = pts[i].t;
		if (is_thread && pts[i].y < p->ymin)
			p->ymin = pts[i].y;
		if (is_thread && pts[i].y > p->ymax)
			p->ymax = pts[i].y;
	}
	p->points_out += n;
	return p->blocks++;
}

void memg_add_series(struct memg_plot *p, int block, int is_process, size_t index, long pid,
		     const char *title)
{
	struct memg_series *s;

	p->series = xrealloc(p->series, (p->nseries + 1) * sizeof *p->series);
	s = &p->series[p->nseries++];
	s->block = block;
	s->is_process = is_process;
	s->thread = index;
	s->pid = pid;
	s->title = xstrdup(title);
	s->top = 0;
	s->sum_other = 0;
}

static void peak_text(struct buf *b, const struct tg_rec *rec)
{
	buf_reset(b);
	tg_escape_field(b, buf_cstr(&rec->file), rec->file.len);
	buf_addf(b, ":%ld:", rec->line);
	tg_escape_field(b, buf_cstr(&rec->func), rec->func.len);
	buf_addf(b, "=>%lld", rec->value);
}

/* Zero deltas in a row collapse to the first and the last of the run. */
struct zero_run {
	unsigned long len;
	double last;
};

static void thread_point(struct memg_plot *p, struct zero_run *z, double t, long long y)
{
	if (y == 0) {
		if (z->len++ == 0)
			decim_add(p->decim, t, 0);
		else
			z->last = t;
		return;
	}
	if (z->len > 1)
		decim_add(p->decim, z->last, 0);
	z->len = 0;
	decim_add(p->decim, t, (double)y);
}

static long long cap_kb(long long kb, long long cap)
{
	if (cap <= 0)
		return kb;
	return kb > cap ? cap : kb < -cap ? -cap : kb;
}

static int read_thread(struct memg_plot *p, struct tgfile *f, size_t thread, long long *top,
		       struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct zero_run z = {0, 0};
	struct buf what = BUF_INIT;
	unsigned long seq = 0;
	int r;

	while ((r = tgfile_next(f, &rec, err)) == 1) {
		if (!in_range(p, rec.time))
			continue;
		long long kb = kb_floor(rec.value);
		long long y = cap_kb(kb, p->o->cap);
		if (!p->cumulative) /* else only the peaks are taken from the returns */
			thread_point(p, &z, rec.time, y);
		if (llabs(y) > *top)
			*top = llabs(y);
		if (llabs(kb) > p->o->peak) {
			peak_text(&what, &rec);
			struct peak pk = {rec.time, thread, seq, kb, y, what.data, what.len, 0, 0};
			if (peaks_add(p->peaks, &pk, err) < 0) {
				r = -1;
				break;
			}
		}
		seq++;
	}
	if (r == 0 && z.len > 1 && !p->cumulative)
		decim_add(p->decim, z.last, 0);
	tg_rec_free(&rec);
	buf_free(&what);
	return r;
}

/* THREAD in memg.txt: field-escaped, and '>' too, so a line splits at its first '>'. */
static void legend_name(struct buf *out, const struct buf *name)
{
	struct buf esc = BUF_INIT;

	tg_escape_field(&esc, buf_cstr(name), name->len);
	for (size_t i = 0; i < esc.len; i++)
		if (esc.data[i] == '>')
			buf_addstr(out, "\\x3e");
		else
			buf_addch(out, esc.data[i]);
	buf_free(&esc);
}

/* pid: the thread's process in a tree (names become "PID:THREAD"), else 0. */
static int do_thread(struct memg_plot *p, const struct recording *rec, const struct rec_thread *t,
		     long pid, struct tg_err *err)
{
	struct buf legend = BUF_INIT, title = BUF_INIT;
	struct tgfile f;
	size_t thread = p->nthreads++;
	int block, r;

	recording_say_thread(rec, t);
	if (pid) {
		buf_addf(&legend, "%ld:", pid);
		buf_addf(&title, "%ld:", pid);
	}
	buf_add(&title, t->name.data, t->name.len);
	legend_name(&legend, &t->name);
	p->legend_names = xrealloc(p->legend_names, p->nthreads * sizeof *p->legend_names);
	p->legend_names[thread] = buf_detach(&legend);
	if (p->cumulative)
		memg_charge_thread(p, thread, buf_cstr(&title));
	if (!t->mem) { /* cumulative: a thread charged that never returned */
		buf_free(&title);
		return 0;
	}
	if (tgfile_open(&f, t->mem, TGFILE_RETURNS, p->o->strict, err) < 0) {
		buf_free(&title);
		return -1;
	}
	decim_reset(p->decim);
	long long top = 0;
	r = read_thread(p, &f, thread, &top, err);
	p->malformed += f.malformed;
	tgfile_close(&f);
	block = r < 0 || p->cumulative ? -1 : memg_write_block(p, 1);
	if (block >= 0) { /* a NUL in the name ends the title: gnuplot strings cannot hold one */
		memg_add_series(p, block, 0, thread, 0, buf_cstr(&title));
		p->series[p->nseries - 1].top = top;
	}
	buf_free(&title);
	return r < 0 ? -1 : 0;
}

double memg_rss_value(const struct memg_opts *o, double kb)
{
	return o->rebase_set ? kb - (double)o->rebase : kb / 1024;
}

/* pid, index: the process and its place among the process lines in a tree, else 0. */
static int do_process(struct memg_plot *p, const char *path, long pid, size_t index,
		      struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int block, r;

	if (pid)
		fprintf(stderr, "Processing data for the process %ld\n", pid);
	else
		fputs("Processing data for the process\n", stderr);
	if (tgfile_open(&f, path, TGFILE_SAMPLES, p->o->strict, err) < 0)
		return -1;
	decim_reset(p->decim);
	while ((r = tgfile_next(&f, &rec, err)) == 1)
		if (in_range(p, rec.time))
			decim_add(p->decim, rec.time,
				  memg_rss_value(p->o, (double)kb_floor(rec.value)));
	p->malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	if (r < 0)
		return -1;
	block = memg_write_block(p, 0);
	if (block >= 0)
		memg_add_series(p, block, 1, index, pid, "");
	return 0;
}

static int do_recording(struct memg_plot *p, const struct recording *rec, long pid, size_t index,
			struct tg_err *err)
{
	if (p->cumulative)
		memg_charge_source(p, rec, p->nthreads);
	for (size_t i = 0; i < rec->nthreads; i++)
		if ((rec->threads[i].mem || p->cumulative) &&
		    do_thread(p, rec, &rec->threads[i], pid, err) < 0)
			return -1;
	if (rec->process_mem && !p->o->no_process &&
	    do_process(p, rec->process_mem, pid, index, err) < 0)
		return -1;
	return 0;
}

static int do_tree(struct memg_plot *p, struct tg_err *err)
{
	size_t index = 0;

	for (size_t i = 0; i < p->tree->n; i++) {
		const struct memg_proc *m = &p->tree->procs[i];
		if (m->drawn && do_recording(p, &m->rec, m->pid, index++, err) < 0)
			return -1;
	}
	return memg_read_other(p, err);
}

int memg_read(struct memg_plot *p, struct tg_err *err)
{
	if ((p->tree ? do_tree(p, err) : do_recording(p, p->rec, 0, 0, err)) < 0)
		return -1;
	if (p->cumulative && memg_charge_read(p, err) < 0)
		return -1;
	if (p->malformed)
		fprintf(stderr, "%lu malformed line%s skipped\n", p->malformed,
			p->malformed == 1 ? "" : "s");
	if (p->nseries == 0)
		return tg_err_set(err, TG_E_DATA, "no data to plot%s",
				  p->o->from.set || p->o->to.set ? " in the time range" : "");
	return 0;
}

/* ---- the legend and the labels ---- */

struct legend_out {
	struct memg_plot *p;
	FILE *txt;
	struct labelgrid *grid;
};

static int one_peak(void *ctx, const struct peak *pk, struct tg_err *err)
{
	struct legend_out *l = ctx;
	struct memg_plot *p = l->p;

	(void)err;
	fprintf(l->txt, "%lu: %s>", pk->mark, p->legend_names[pk->series]);
	fwrite(pk->what, 1, pk->what_len, l->txt);
	fputc('\n', l->txt);
	if (pk->labelled) {
		double y = p->cumulative ? memg_charge_at(p, pk->series, pk->time) : (double)pk->y;
		labelgrid_offer(l->grid, pk->time - p->t0, y, pk->mark);
		p->labelled++;
	}
	return 0;
}

static struct labelgrid *make_grid(const struct memg_plot *p)
{
	double x0 = (p->o->from.set ? p->from : p->t0) - p->t0;
	double x1 = (p->o->to.set ? p->to : p->tmax) - p->t0;
	double pad = (p->ymax - p->ymin) * 0.05;

	return labelgrid_new(MEMG_LABEL_COLS, MEMG_LABEL_ROWS, x0, x1, p->ymin - pad,
			     p->ymax + pad);
}

/* The labels the grid kept: above positive peaks ('up'), below negative ones ('down'). */
static int write_labels(struct memg_plot *p, const struct labelgrid *g, struct tg_err *err)
{
	FILE *up = workdir_fopen(&p->wd, "up", err);
	FILE *down = up ? workdir_fopen(&p->wd, "down", err) : NULL;
	int rc = down ? 0 : -1;

	for (size_t i = 0; down && i < labelgrid_cells(g); i++) {
		const struct glabel *c = labelgrid_cell(g, i);
		if (!c->used)
			continue;
		fprintf(c->y < 0 ? down : up, "%.6f %.0f %lu\n", c->x, c->y, c->mark);
		if (c->y < 0)
			p->labels_down++;
		else
			p->labels_up++;
	}
	if (up && workdir_fclose(&p->wd, "up", up, err) < 0)
		rc = -1;
	if (down && workdir_fclose(&p->wd, "down", down, err) < 0)
		rc = -1;
	return rc;
}

/* After the peaks, which processes the "other children" line sums (PIDs are digits). */
static void note_other(const struct memg_tree *t, FILE *txt)
{
	if (!t->nother)
		return;
	fprintf(txt,
		"# other children (%zu): beyond the %d processes of highest RSS, summed into "
		"one RSS line; their threads and peaks are not drawn:",
		t->nother, MEMG_MAX_PROCS);
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].usable && !t->procs[i].drawn)
			fprintf(txt, " %ld", t->procs[i].pid);
	fputc('\n', txt);
}

int memg_write_peaks(struct memg_plot *p, struct tg_err *err)
{
	struct legend_out l = {p, NULL, make_grid(p)};
	int rc = -1;

	l.txt = workdir_fopen(&p->wd, "memg.txt", err);
	if (l.txt && peaks_merge(p->peaks, one_peak, &l, err) == 0)
		rc = 0;
	if (l.txt && p->tree)
		note_other(p->tree, l.txt);
	if (l.txt && workdir_fclose(&p->wd, "memg.txt", l.txt, err) < 0)
		rc = -1;
	labelgrid_separate(l.grid);
	if (rc == 0)
		rc = write_labels(p, l.grid, err);
	labelgrid_free(l.grid);
	return rc;
}

void memg_plot_free(struct memg_plot *p)
{
	if (p->data)
		fclose(p->data);
	p->data = NULL;
	for (size_t i = 0; i < p->nseries; i++)
		free(p->series[i].title);
	free(p->series);
	for (size_t i = 0; i < p->nthreads; i++)
		free(p->legend_names[i]);
	free(p->legend_names);
	decim_free(p->decim);
	peaks_free(p->peaks);
	memg_charges_free(p->charges);
	p->charges = NULL;
	if (p->spill_fd >= 0)
		close(p->spill_fd);
	workdir_remove(&p->wd);
}
