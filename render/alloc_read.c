/* render alloc: reading process.alloc (render/table.h) into one decimated series per
 * known column, each written to its own data file in the work directory. */
#include "render/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "render/decim.h"
#include "render/table.h"
#include "render/text.h"

#define ALLOC_BUCKETS 2048
#define MB (1024.0 * 1024.0)

struct reader {
	struct alloc_plot *p;
	const struct workdir *wd;
	int map[TABLE_MAX_COLS];     /* column -> series, -1: not drawn */
	unsigned long gen;	     /* the header map was made for */
	double count_min, count_max; /* over positive counts */
};

void allocplot_say_column(const char *name, const char *what)
{
	struct buf shown = BUF_INIT;

	text_display(&shown, name, strlen(name));
	fprintf(stderr, "process.alloc: column '%s': %s\n", buf_cstr(&shown), what);
	buf_free(&shown);
}

static int series_for(struct reader *rd, const char *name, struct tg_err *err)
{
	struct alloc_plot *p = rd->p;
	enum alloc_unit u = allocplot_unit_of(name);
	char file[16];

	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->s[i].name, name) == 0)
			return (int)i;
	if (u == UNIT_NONE) {
		allocplot_say_column(name, "unknown unit, not drawn");
		return -1;
	}
	if (p->n == ALLOC_MAX_SERIES) {
		allocplot_say_column(name, "too many columns, not drawn");
		return -1;
	}
	snprintf(file, sizeof file, "s%zu", p->n);
	FILE *fp = workdir_fopen(rd->wd, file, err);
	if (!fp)
		return -2;
	p->s[p->n] = (struct alloc_series){xstrdup(name), u, decim_new(ALLOC_BUCKETS), fp, 0, 0};
	return (int)p->n++;
}

/* The decimated points of the run so far, then a break. */
static void flush_series(struct alloc_plot *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct alloc_series *s = &p->s[i];
		size_t n;
		const struct decim_pt *pts = decim_points(s->d, &n);
		for (size_t k = 0; k < n; k++)
			fprintf(s->fp, "%.6f %.17g\n", pts[k].t - p->t0, pts[k].y);
		if (n)
			fputc('\n', s->fp);
		s->written += n;
		decim_reset(s->d);
	}
}

static int remap(struct reader *rd, const struct table *t, struct tg_err *err)
{
	flush_series(rd->p);
	for (size_t i = 0; i < t->ncols; i++)
		if ((rd->map[i] = series_for(rd, t->names[i], err)) == -2)
			return -1;
	rd->gen = t->header_gen;
	return 0;
}

static void add_row(struct reader *rd, const struct table_row *row)
{
	struct alloc_plot *p = rd->p;

	for (size_t i = 0; i < row->n; i++) {
		struct alloc_series *s;
		if (rd->map[i] < 0 || !row->have[i])
			continue;
		s = &p->s[rd->map[i]];
		s->values++;
		if (s->unit == UNIT_BYTES) {
			decim_add(s->d, row->time, row->v[i] / MB);
			continue;
		}
		decim_add(s->d, row->time, row->v[i]);
		if (row->v[i] > 0 && (rd->count_max == 0 || row->v[i] < rd->count_min))
			rd->count_min = row->v[i];
		if (row->v[i] > rd->count_max)
			rd->count_max = row->v[i];
	}
	if (row->time > p->tmax)
		p->tmax = row->time;
}

static int in_range(const struct alloc_plot *p, double t)
{
	return (isnan(p->from) || t >= p->from) && (isnan(p->to) || t <= p->to);
}

int allocplot_read(struct alloc_plot *p, const struct workdir *wd, const char *path, int strict,
		   struct tg_err *err)
{
	struct reader rd;
	struct table t;
	struct table_row *row = xmalloc(sizeof *row);
	int r;

	memset(&rd, 0, sizeof rd);
	rd.p = p;
	rd.wd = wd;
	if (table_open(&t, path, strict, err) < 0) {
		free(row);
		return -1;
	}
	while ((r = table_next(&t, row, err)) == 1) {
		if (rd.gen != t.header_gen && remap(&rd, &t, err) < 0) {
			r = -1;
			break;
		}
		if (in_range(p, row->time))
			add_row(&rd, row);
	}
	flush_series(p);
	if (t.f.malformed)
		fprintf(stderr, "%lu malformed line%s skipped\n", t.f.malformed,
			t.f.malformed == 1 ? "" : "s");
	table_close(&t);
	free(row);
	p->log_counts = rd.count_max > 0 && rd.count_max / rd.count_min > 1000;
	return r;
}

int allocplot_first_row(const char *path, double *t, struct tg_err *err)
{
	struct table tab;
	struct table_row *row = xmalloc(sizeof *row);
	int r;

	if (table_open(&tab, path, 0, err) < 0) {
		free(row);
		return -1;
	}
	tab.f.quiet = 1;
	r = table_next(&tab, row, err);
	if (r == 1)
		*t = row->time;
	table_close(&tab);
	free(row);
	if (r == 0)
		return tg_err_set(err, TG_E_DATA, "%s: no rows", path);
	return r < 0 ? -1 : 0;
}

void allocplot_free(struct alloc_plot *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->s[i].name);
		decim_free(p->s[i].d);
		if (p->s[i].fp)
			fclose(p->s[i].fp);
	}
	p->n = 0;
}
