#include "sampler/memtrack.h"

#include <stdlib.h>
#include <time.h>

#include "common/xalloc.h"
#include "sampler/attrib.h"
#include "sampler/gil.h"

/* Pool walks may take at most 1/WALK_SHARE of the time on average: a budget fills at that
 * rate (up to WALK_BUDGET_MAX seconds) and each walk spends what it took.  A walk also
 * holds up the micro-samples, hence the small share: at 100 Hz every sample walks while
 * the pymalloc arenas hold under ~5 MiB; 100 MiB are walked about every 0.1 s. */
#define WALK_SHARE 20
#define WALK_BUDGET_MAX 0.05
/* Micro-samples get a budget too (about 20 us each, 2 % at 1000 per second; more with
 * many threads, whose CPU times they read), and are skipped while the process has fewer
 * than two threads: there is nobody to tell apart. */
#define MICRO_SHARE 20
#define MICRO_BUDGET_MAX 0.01

struct memtrack {
	enum memtrack_metric metric;
	int micro;
	struct attrib *attrib;
	struct alloc_reader *alloc;
	struct gil_reader *gil;
	size_t gil_interps; /* interpreters seen when the GILs were last looked up */
	/* the exact metric at the last sample that read it; the change since then */
	uint64_t prev_exact;
	int have_exact, exact_now;
	int64_t pending;
	/* the quick reading at the last micro-sample; micro changes charged since prev_exact */
	uint64_t prev_quick;
	int have_quick;
	int64_t quick_sum;
	double walk_budget, budget_time;
	double micro_period, last_micro; /* seconds; monotonic time of the last micro-sample */
	double micro_budget, micro_budget_time;
	size_t nthreads; /* threads at the last stack sample */
	struct memtrack_stats stats;
};

static const char *const col_names[MT_ALLOC0] = {"rss", "anon", "heap", "pool_bytes"};

const char *memtrack_col_name(enum memtrack_col c)
{
	if (c < MT_ALLOC0)
		return col_names[c];
	return c < MT_NCOLS ? alloc_field_name((enum alloc_field)(c - MT_ALLOC0)) : "?";
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A long pool walk keeps the micro-samples going between its batches. */
static void micro_during_walk(void *ctx)
{
	struct memtrack *mt = ctx;

	if (now_mono() - mt->last_micro >= mt->micro_period)
		memtrack_micro(mt);
}

struct memtrack *memtrack_new(const struct memtrack_opts *o, struct tg_err *err)
{
	struct memtrack *mt = xcalloc(1, sizeof *mt);

	mt->alloc = alloc_new(o->r, o->t);
	mt->metric = o->metric;
	if (mt->metric == MEMTRACK_DEFAULT)
		mt->metric = alloc_heap_available(mt->alloc) ? MEMTRACK_HEAP : MEMTRACK_RSS;
	if (mt->metric == MEMTRACK_HEAP && !alloc_heap_available(mt->alloc)) {
		tg_err_set(err, TG_E_LAYOUT,
			   "--metric heap: the allocator of process %d cannot be read: %s",
			   (int)o->pid, alloc_missing_reason(mt->alloc, ALLOC_BYTES));
		memtrack_free(mt);
		return NULL;
	}
	mt->micro = o->micro_hz > 0;
	mt->micro_period = mt->micro ? 1.0 / o->micro_hz : 0;
	mt->attrib = attrib_new(o->pid);
	mt->gil = gil_new(o->r, o->t);
	if (mt->micro)
		alloc_set_hook(mt->alloc, micro_during_walk, mt);
	return mt;
}

void memtrack_free(struct memtrack *mt)
{
	if (!mt)
		return;
	attrib_free(mt->attrib);
	alloc_free(mt->alloc);
	gil_free(mt->gil);
	free(mt);
}

enum memtrack_metric memtrack_metric(const struct memtrack *mt)
{
	return mt->metric;
}

struct alloc_reader *memtrack_alloc(struct memtrack *mt)
{
	return mt->alloc;
}

int memtrack_heap_available(const struct memtrack *mt)
{
	return alloc_heap_available(mt->alloc);
}

/* The counters, and a pool walk when the budget allows one. */
static void read_alloc(struct memtrack *mt, struct alloc_stats *st)
{
	double t0 = now_mono(), micro0 = mt->stats.micro_s;

	if (mt->budget_time > 0)
		mt->walk_budget += (t0 - mt->budget_time) / WALK_SHARE;
	if (mt->walk_budget > WALK_BUDGET_MAX)
		mt->walk_budget = WALK_BUDGET_MAX;
	mt->budget_time = t0;
	alloc_read(mt->alloc, mt->walk_budget >= 0, st);
	if (!st->walked)
		return;
	double spent = now_mono() - t0 - (mt->stats.micro_s - micro0); /* less the hook's */
	mt->walk_budget -= spent;
	mt->stats.walk_s += spent;
	mt->stats.walks++;
	unsigned need = alloc_available(mt->alloc);
	if ((st->valid & need) != need)
		mt->stats.discarded++;
}

/* The quick form of the metric: rss itself, or for heap the pools in use in place of the
 * bytes in use.  -1 when torn. */
static int quick_value(struct memtrack *mt, uint64_t rss, uint64_t anon,
		       const struct alloc_quick *q, int have_q, uint64_t *out)
{
	if (mt->metric == MEMTRACK_RSS) {
		*out = rss;
		return 0;
	}
	if (!have_q)
		return -1;
	*out = q->pools_bytes + (anon > q->carved_bytes ? anon - q->carved_bytes : 0);
	return 0;
}

/* The quick change since the last micro-sample goes to the threads that ran in it. */
static void micro_step(struct memtrack *mt, uint64_t value)
{
	uint64_t holders[GIL_MAX];
	size_t n = gil_holders(mt->gil, holders, GIL_MAX);

	if (mt->have_quick) {
		int64_t d = (int64_t)(value - mt->prev_quick);
		attrib_micro(mt->attrib, d, holders, n);
		mt->quick_sum += d;
	}
	mt->prev_quick = value;
	mt->have_quick = 1;
}

/* Is a micro-sample worth taking, and affordable, now? */
static int micro_allowed(struct memtrack *mt, double now)
{
	if (mt->micro_budget_time > 0)
		mt->micro_budget += (now - mt->micro_budget_time) / MICRO_SHARE;
	if (mt->micro_budget > MICRO_BUDGET_MAX)
		mt->micro_budget = MICRO_BUDGET_MAX;
	mt->micro_budget_time = now;
	if (mt->nthreads >= 2 && mt->micro_budget >= 0)
		return 1;
	mt->have_quick = 0; /* the change meanwhile goes by the stack sample's rules */
	return 0;
}

int memtrack_micro(struct memtrack *mt)
{
	struct alloc_quick q;
	uint64_t rss, anon, value;
	double t0 = now_mono();

	mt->last_micro = t0;
	if (!micro_allowed(mt, t0))
		return 0;
	if (attrib_mem(mt->attrib, &rss, &anon) < 0)
		return 1;
	int have_q = mt->metric == MEMTRACK_HEAP && alloc_quick(mt->alloc, &q) == 0;
	if (quick_value(mt, rss, anon, &q, have_q, &value) == 0)
		micro_step(mt, value); /* else the next reading covers this interval */
	double spent = now_mono() - t0;
	mt->micro_budget -= spent;
	mt->stats.micro_samples++;
	mt->stats.micro_s += spent;
	return 0;
}

static void fill_row(struct memtrack_row *row, uint64_t rss, uint64_t anon,
		     const struct alloc_stats *st, const struct alloc_quick *q, int have_q)
{
	row->v[MT_RSS] = rss;
	row->v[MT_ANON] = anon;
	row->valid = (1u << MT_RSS) | (1u << MT_ANON);
	if (alloc_heap(st, anon, &row->v[MT_HEAP]) == 0)
		row->valid |= 1u << MT_HEAP;
	row->v[MT_POOL_BYTES] = have_q ? q->pools_bytes : 0;
	if (have_q)
		row->valid |= 1u << MT_POOL_BYTES;
	for (int f = 0; f < ALLOC_NFIELDS; f++) {
		row->v[MT_ALLOC0 + f] = st->v[f];
		if (st->valid & (1u << f))
			row->valid |= 1ull << (MT_ALLOC0 + f);
	}
}

/* The change of the exact metric since it was last read, less what micro-samples already
 * charged, joins the pending change. */
static void note_exact(struct memtrack *mt, uint64_t rss, uint64_t anon,
		       const struct alloc_stats *st)
{
	uint64_t value = rss;

	mt->exact_now = !(mt->metric == MEMTRACK_HEAP && alloc_heap(st, anon, &value) < 0);
	if (!mt->exact_now)
		return;
	if (mt->have_exact)
		mt->pending += (int64_t)(value - mt->prev_exact) - mt->quick_sum;
	mt->prev_exact = value;
	mt->have_exact = 1;
	mt->quick_sum = 0;
}

int memtrack_read(struct memtrack *mt, struct memtrack_row *row)
{
	struct alloc_stats st;
	struct alloc_quick q;
	uint64_t rss, anon, value;
	double t0 = now_mono();

	if (attrib_mem(mt->attrib, &rss, &anon) < 0)
		return 1;
	read_alloc(mt, &st);
	int have_q = alloc_heap_available(mt->alloc) && alloc_quick(mt->alloc, &q) == 0;
	fill_row(row, rss, anon, &st, &q, have_q);
	if (mt->micro && mt->nthreads >= 2 && quick_value(mt, rss, anon, &q, have_q, &value) == 0)
		micro_step(mt, value);
	note_exact(mt, rss, anon, &st);
	mt->stats.samples++;
	mt->stats.sample_s += now_mono() - t0;
	return 0;
}

void memtrack_charge(struct memtrack *mt, const struct walk_sample *s, int64_t *charged)
{
	mt->nthreads = s->nthreads;
	if (s->ninterps != mt->gil_interps) { /* interpreters came or went: find their GILs */
		gil_refresh(mt->gil);
		mt->gil_interps = s->ninterps;
	}
	if (!mt->exact_now) {
		attrib_charge(mt->attrib, s, ATTRIB_UNKNOWN, charged);
		return;
	}
	attrib_charge(mt->attrib, s, mt->pending, charged);
	mt->pending = 0;
}

void memtrack_stats(const struct memtrack *mt, struct memtrack_stats *out)
{
	*out = mt->stats;
	out->unattributed = attrib_unattributed(mt->attrib);
}
