/* render memg: the processes of a tree beyond MEMG_MAX_PROCS, as one line: the sum of
 * their RSS.  Their samples come at different times, so time is cut into MEMG_BUCKETS
 * intervals; in each, a process counts with its last sample so far (from its first
 * sample to its last), and the line has one point per interval.  Memory is bounded by
 * MEMG_BUCKETS, whatever the number of processes or samples. */
#include "render/memg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "render/tgfile.h"

struct sum {
	double lo, width;
	double *total; /* KB, by interval */
	char *seen;
	double *own; /* one process's value by interval; NAN: no sample in it */
};

static size_t bucket(const struct sum *s, double t)
{
	double b = floor((t - s->lo) / s->width);

	return b < 0 ? 0 : b >= MEMG_BUCKETS ? MEMG_BUCKETS - 1 : (size_t)b;
}

/* One process's samples into s->own, then carried forward into s->total. */
static int add_proc(struct memg_plot *p, struct sum *s, const struct memg_proc *m,
		    struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	size_t b0 = MEMG_BUCKETS, b1 = 0;
	double cur = NAN;
	int r;

	for (size_t i = 0; i < MEMG_BUCKETS; i++)
		s->own[i] = NAN;
	if (tgfile_open(&f, m->rec.process_mem, TGFILE_SAMPLES, p->o->strict, err) < 0)
		return -1;
	while ((r = tgfile_next(&f, &rec, err)) == 1) {
		size_t b;
		if (rec.time < p->from || rec.time > p->to)
			continue;
		b = bucket(s, rec.time);
		s->own[b] = (double)kb_floor(rec.value);
		b0 = b < b0 ? b : b0;
		b1 = b > b1 ? b : b1;
	}
	p->malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	for (size_t i = b0; r == 0 && i <= b1 && b0 < MEMG_BUCKETS; i++) {
		if (!isnan(s->own[i]))
			cur = s->own[i];
		s->total[i] += cur;
		s->seen[i] = 1;
	}
	return r;
}

static void span(const struct memg_plot *p, double *lo, double *hi)
{
	const struct memg_tree *t = p->tree;

	*lo = INFINITY;
	*hi = -INFINITY;
	for (size_t i = 0; i < t->n; i++) {
		const struct memg_proc *m = &t->procs[i];
		if (!m->usable || m->drawn || !m->has_rss)
			continue;
		*lo = m->first < *lo ? m->first : *lo;
		*hi = m->last > *hi ? m->last : *hi;
	}
	*lo = *lo > p->from ? *lo : p->from;
	*hi = *hi < p->to ? *hi : p->to;
}

int memg_read_other(struct memg_plot *p, struct tg_err *err)
{
	const struct memg_tree *t = p->tree;
	struct sum s;
	double hi;
	struct buf title = BUF_INIT;
	int block, rc = 0;

	if (!t || !t->nother || p->o->no_process)
		return 0;
	span(p, &s.lo, &hi);
	if (!(s.lo <= hi))
		return 0; /* no sample in range */
	fprintf(stderr, "Processing data for %zu other processes (summed)\n", t->nother);
	s.width = hi > s.lo ? (hi - s.lo) / MEMG_BUCKETS * (1 + 1e-9) : 1;
	s.total = xcalloc(MEMG_BUCKETS, sizeof *s.total);
	s.own = xcalloc(MEMG_BUCKETS, sizeof *s.own);
	s.seen = xcalloc(MEMG_BUCKETS, 1);
	for (size_t i = 0; rc == 0 && i < t->n; i++) {
		const struct memg_proc *m = &t->procs[i];
		if (m->usable && !m->drawn && m->rec.process_mem)
			rc = add_proc(p, &s, m, err);
	}
	decim_reset(p->decim);
	for (size_t i = 0; rc == 0 && i < MEMG_BUCKETS; i++)
		if (s.seen[i])
			decim_add(p->decim, s.lo + s.width * i, memg_rss_value(p->o, s.total[i]));
	block = rc == 0 ? memg_write_block(p, 0) : -1;
	if (block >= 0) {
		buf_addf(&title, "other children (%zu)", t->nother);
		memg_add_series(p, block, 2, t->nother, 0, buf_cstr(&title));
	}
	buf_free(&title);
	free(s.total);
	free(s.own);
	free(s.seen);
	return rc;
}
