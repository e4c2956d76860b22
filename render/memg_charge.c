/* render memg: the default lines, who grew (process.charge).
 *
 * Each thread's line in process.charge is the memory charged to it since its run began.
 * Threads are summed per group (names that differ only by numbers, memg_group_key), so a
 * server's thread per request is one line of what all of them grew; the --series groups
 * that reach the largest |total| are drawn one by one, the rest summed into one grey
 * "other threads (K)" line.  Each group's line is made by one pass over the charge files,
 * through the one decimator (memory stays bounded whatever the recording), and its points
 * are kept so that a peak's label sits on its group's line. */
#include "render/memg.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "common/tgline.h"
#include "render/memg_group.h"
#include "render/tgfile.h"

#define CHARGE_MAX (1ll << 50) /* bytes: beyond, a line is malformed */
#define OTHER ((size_t)-1)

struct charge_src {
	char *path;
	const struct recording *rec;
	size_t base; /* its first thread's index */
};

struct charge_group {
	char *key, *title;
	size_t nthreads;
	long long top; /* largest |sum| (bytes) */
	int drawn;
	struct decim_pt *pts; /* its line as drawn (KB), for the labels */
	size_t npts;
};

struct memg_charges {
	struct charge_src *src;
	size_t nsrc;
	size_t *group_of; /* by thread index; OTHER until known */
	int64_t *cur;	  /* per thread: its total in the current run */
	size_t nthreads;
	struct charge_group *g, other;
	size_t ng;
	unsigned long unknown;	 /* lines naming no thread of the recording */
	unsigned long backwards; /* lines earlier than the one before in their file */
	double tmax;
};

static struct memg_charges *charges(struct memg_plot *p)
{
	if (!p->charges)
		p->charges = xcalloc(1, sizeof *p->charges);
	return p->charges;
}

void memg_charge_thread(struct memg_plot *p, size_t thread, const char *title)
{
	struct memg_charges *c = charges(p);
	struct buf key = BUF_INIT;
	size_t g;

	memg_group_key(title, p->tree != NULL, &key);
	for (g = 0; g < c->ng && strcmp(c->g[g].key, buf_cstr(&key)) != 0; g++)
		;
	if (g == c->ng) {
		c->g = xrealloc(c->g, (c->ng + 1) * sizeof *c->g);
		c->g[c->ng++] =
		    (struct charge_group){buf_detach(&key), xstrdup(title), 0, 0, 0, NULL, 0};
	}
	c->g[g].nthreads++;
	buf_free(&key);
	if (thread >= c->nthreads) {
		size_t n = thread + 1;
		c->group_of = xrealloc(c->group_of, n * sizeof *c->group_of);
		c->cur = xrealloc(c->cur, n * sizeof *c->cur);
		for (size_t i = c->nthreads; i < n; i++)
			c->group_of[i] = OTHER;
		c->nthreads = n;
	}
	c->group_of[thread] = g;
}

void memg_charge_source(struct memg_plot *p, const struct recording *rec, size_t base)
{
	struct memg_charges *c = charges(p);

	c->src = xrealloc(c->src, (c->nsrc + 1) * sizeof *c->src);
	c->src[c->nsrc++] = (struct charge_src){xstrdup(rec->process_charge), rec, base};
}

static int by_stem(const void *key, const void *elem)
{
	return strcmp(key, ((const struct rec_thread *)elem)->stem);
}

/* TIME#BYTES#STEM: the thread's index, or OTHER (a line counted malformed or unknown). */
static size_t parse_line(const struct charge_src *s, char *line, double *t, int64_t *bytes)
{
	char *end, *stem;

	errno = 0;
	*t = strtod(line, &end);
	if (end == line || *end != '#' || !isfinite(*t) || *t < 0 || *t > TG_TIME_MAX)
		return OTHER - 1;
	*bytes = strtoll(end + 1, &stem, 10);
	if (stem == end + 1 || *stem != '#' || errno || llabs(*bytes) > CHARGE_MAX || !stem[1])
		return OTHER - 1;
	const struct rec_thread *th =
	    bsearch(stem + 1, s->rec->threads, s->rec->nthreads, sizeof *s->rec->threads, by_stem);
	if (!th)
		return OTHER;
	return s->base + (size_t)(th - s->rec->threads);
}

/* One charge file being read: its next line for a thread drawn. */
struct cursor {
	struct tgfile f;
	const struct charge_src *s;
	int open, live;
	double t, last; /* the line's time; the latest before it */
	size_t thread;
	int64_t bytes;
};

/* Moves cu to its next line for a thread of the graph (live 0 at the end).  A run's
 * comment line starts its threads' totals again; a line earlier than the one before is
 * drawn at that one's time, and counted. */
static int cursor_next(struct memg_plot *p, struct cursor *cu, int report, struct tg_err *err)
{
	struct memg_charges *c = p->charges;
	const struct charge_src *s = cu->s;
	int too_long, r;

	cu->live = 0;
	while ((r = tgfile_next_line(&cu->f, &too_long, err)) == 1) {
		char *line = (char *)buf_cstr(&cu->f.line);
		if (line[0] == '#') {
			memset(c->cur + s->base, 0, s->rec->nthreads * sizeof *c->cur);
			continue;
		}
		size_t i = too_long ? OTHER - 1 : parse_line(s, line, &cu->t, &cu->bytes);
		if (i == OTHER - 1) {
			if (tgfile_malformed(&cu->f, "not TIME#BYTES#THREAD", err) < 0)
				return -1;
			continue;
		}
		c->unknown += report && i == OTHER;
		if (i >= c->nthreads || c->group_of[i] == OTHER)
			continue;
		if (cu->t < cu->last) {
			c->backwards += report;
			cu->t = cu->last;
		}
		cu->last = cu->t;
		cu->thread = i;
		cu->live = 1;
		return 0;
	}
	return r < 0 ? -1 : 0;
}

/* One pass over the charge files, merged by time (each is in time order, a tree has one
 * per process): fn(ctx, time, thread, change of its total).  The first pass (report)
 * tells of malformed lines and of lines naming no thread. */
typedef void (*charge_fn)(void *ctx, double t, size_t thread, int64_t change);

static int each_change(struct memg_plot *p, charge_fn fn, void *ctx, int report, struct tg_err *err)
{
	struct memg_charges *c = p->charges;
	struct cursor *cu = xcalloc(c->nsrc + 1, sizeof *cu);
	int rc = 0;

	for (size_t k = 0; k < c->nsrc && rc == 0; k++) {
		cu[k].s = &c->src[k];
		if (tgfile_open(&cu[k].f, c->src[k].path, TGFILE_SAMPLES, p->o->strict, err) < 0) {
			rc = -1;
			break;
		}
		cu[k].open = 1;
		cu[k].f.quiet = !report;
		memset(c->cur + cu[k].s->base, 0, cu[k].s->rec->nthreads * sizeof *c->cur);
		rc = cursor_next(p, &cu[k], report, err);
	}
	while (rc == 0) {
		struct cursor *next = NULL;
		for (size_t k = 0; k < c->nsrc; k++)
			if (cu[k].live && (!next || cu[k].t < next->t))
				next = &cu[k];
		if (!next)
			break;
		int64_t change = next->bytes - c->cur[next->thread];
		c->cur[next->thread] = next->bytes;
		if (next->t > c->tmax)
			c->tmax = next->t;
		fn(ctx, next->t, next->thread, change);
		rc = cursor_next(p, next, report, err);
	}
	for (size_t k = 0; k < c->nsrc; k++) {
		if (!cu[k].open)
			continue;
		if (report)
			p->malformed += cu[k].f.malformed;
		tgfile_close(&cu[k].f);
	}
	free(cu);
	return rc;
}

struct rank_pass {
	struct memg_charges *c;
	int64_t *sum;
};

static void rank_change(void *ctx, double t, size_t thread, int64_t change)
{
	struct rank_pass *rp = ctx;
	size_t g = rp->c->group_of[thread];

	(void)t;
	rp->sum[g] += change;
	if (llabs(rp->sum[g]) > rp->c->g[g].top)
		rp->c->g[g].top = llabs(rp->sum[g]);
}

static int by_top(const void *a, const void *b)
{
	const struct charge_group *x = *(const struct charge_group *const *)a;
	const struct charge_group *y = *(const struct charge_group *const *)b;

	if (x->top != y->top)
		return x->top < y->top ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* Pass 1: each group's largest |sum|; the --series largest are drawn. */
static int rank_groups(struct memg_plot *p, struct tg_err *err)
{
	struct memg_charges *c = p->charges;
	int64_t *sum = xcalloc(c->ng + 1, sizeof *sum);
	struct rank_pass rp = {c, sum};
	int rc = each_change(p, rank_change, &rp, 1, err);

	free(sum);
	if (rc < 0)
		return -1;
	struct charge_group **order = xcalloc(c->ng + 1, sizeof *order);
	for (size_t g = 0; g < c->ng; g++)
		order[g] = &c->g[g];
	qsort(order, c->ng, sizeof *order, by_top);
	for (size_t r = 0; r < c->ng; r++) {
		order[r]->drawn = r < (size_t)p->o->series;
		if (!order[r]->drawn)
			c->other.nthreads += order[r]->nthreads;
	}
	free(order);
	return 0;
}

struct draw_pass {
	struct memg_plot *p;
	size_t group; /* OTHER: every group not drawn */
	int64_t sum;
	int started;
};

static void draw_change(void *ctx, double t, size_t thread, int64_t change)
{
	struct draw_pass *d = ctx;
	struct memg_charges *c = d->p->charges;
	size_t g = c->group_of[thread];

	if (d->group == OTHER ? c->g[g].drawn : g != d->group)
		return;
	if (!d->started) { /* the line rises from 0 where its first thread was charged */
		decim_add(d->p->decim, t, 0);
		d->started = 1;
	}
	d->sum += change;
	decim_add(d->p->decim, t, (double)d->sum / 1024);
}

/* Pass 2, once per line drawn: its points through the decimator into a data block. */
static int draw_group(struct memg_plot *p, size_t g, struct tg_err *err)
{
	struct memg_charges *c = p->charges;
	struct charge_group *cg = g == OTHER ? &c->other : &c->g[g];
	struct draw_pass d = {p, g, 0, 0};

	decim_reset(p->decim);
	if (each_change(p, draw_change, &d, 0, err) < 0)
		return -1;
	if (!d.started)
		return 0;
	decim_add(p->decim, c->tmax, (double)d.sum / 1024); /* it keeps what it grew */
	size_t n;
	const struct decim_pt *pts = decim_points(p->decim, &n);
	cg->pts = xmalloc((n + 1) * sizeof *cg->pts);
	memcpy(cg->pts, pts, n * sizeof *pts);
	cg->npts = n;
	int block = memg_write_block(p, 1);
	if (block < 0)
		return 0;
	struct buf title = BUF_INIT;
	if (g == OTHER)
		buf_addf(&title, "other threads (%zu)", cg->nthreads);
	else if (cg->nthreads > 1)
		buf_addf(&title, "%s (%zu threads)", cg->key, cg->nthreads);
	else
		buf_addstr(&title, cg->title);
	memg_add_series(p, block, 0, 0, 0, buf_cstr(&title));
	p->series[p->nseries - 1].top = (cg->top + 1023) / 1024;
	p->series[p->nseries - 1].sum_other = g == OTHER;
	buf_free(&title);
	return 0;
}

int memg_charge_read(struct memg_plot *p, struct tg_err *err)
{
	struct memg_charges *c = p->charges;

	if (!c || rank_groups(p, err) < 0)
		return -1;
	for (size_t g = 0; g < c->ng; g++)
		if (c->g[g].drawn && draw_group(p, g, err) < 0)
			return -1;
	if (c->other.nthreads && draw_group(p, OTHER, err) < 0)
		return -1;
	if (c->backwards)
		fprintf(stderr,
			"%lu line%s of process.charge earlier than the line before (drawn at "
			"its time)\n",
			c->backwards, c->backwards == 1 ? "" : "s");
	if (c->unknown)
		fprintf(stderr, "%lu line%s of process.charge name%s no thread file (not drawn)\n",
			c->unknown, c->unknown == 1 ? "" : "s", c->unknown == 1 ? "s" : "");
	return 0;
}

double memg_charge_at(const struct memg_plot *p, size_t thread, double t)
{
	const struct memg_charges *c = p->charges;

	if (!c || thread >= c->nthreads || c->group_of[thread] == OTHER)
		return 0;
	const struct charge_group *g = &c->g[c->group_of[thread]];
	if (!g->drawn)
		g = &c->other;
	size_t lo = 0, hi = g->npts; /* the last point at or before t */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->pts[mid].t <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? g->pts[lo - 1].y : 0;
}

void memg_charges_free(struct memg_charges *c)
{
	if (!c)
		return;
	for (size_t k = 0; k < c->nsrc; k++)
		free(c->src[k].path);
	free(c->src);
	for (size_t g = 0; g < c->ng; g++) {
		free(c->g[g].key);
		free(c->g[g].title);
		free(c->g[g].pts);
	}
	free(c->g);
	free(c->other.pts);
	free(c->group_of);
	free(c->cur);
	free(c);
}
