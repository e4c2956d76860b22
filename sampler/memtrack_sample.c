/* memtrack_sample.c: the memory side of a stack sample: the exact value (pool walks, made
 * by the helper beside the loop when there is one, sampler/poolwalk.h), the row of
 * process.alloc, and what the bursts missed of the exact change, charged by the evidence
 * over the interval (docs/memory.md). */
#include <stdlib.h>

#include "common/clock.h"
#include "sampler/attrib.h"
#include "sampler/gil.h"
#include "sampler/poolwalk.h"
#include "sampler/taskclock.h"

#include "sampler/memtrack_int.h"

/* The process has provably not run since the last valid pool walk began: its pools are as
 * that walk found them (an idle server is not walked again and again). */
static int unchanged_since_walk(struct memtrack *mt)
{
	uint64_t ns;

	return mt->have_walk && mt->window && taskclock_process(mt->pid, &ns) == 0 &&
	       ns == mt->walk_proc_ns && taskclock_now() - mt->walk_mono > mt->window;
}

/* A valid walk (its fields all read) is the last one, and the process clock before it. */
static void took_walk(struct memtrack *mt, const struct alloc_stats *st, double spent, int clock_ok,
		      uint64_t proc_ns, uint64_t mono)
{
	mt->walk_budget -= spent;
	mt->stats.walk_s += spent;
	mt->stats.walks++;
	unsigned need = alloc_available(mt->alloc);
	if ((st->valid & need) != need) {
		mt->stats.discarded++;
		return;
	}
	mt->have_walk = clock_ok;
	mt->walk_proc_ns = proc_ns;
	mt->walk_mono = mono;
	mt->last_walk = *st;
}

/* The helper's walk, when one is ready: the allocator fields of the row, and the memory
 * (*anon) and burst total (exact_tag: the bursts' charges at the middle of the walk, which
 * saw about half of what changed while it ran) of its moment; else the counters, and a
 * walk asked for when the budget allows one. */
static void read_alloc_beside(struct memtrack *mt, struct alloc_stats *st, int walk, uint64_t *anon)
{
	struct poolwalk_result res;

	if (mt->pw_asked && poolwalk_take(mt->pw, &res)) {
		mt->pw_asked = 0;
		mt->stats.walks_beside++;
		took_walk(mt, &res.st, res.spent, res.clock_ok, res.proc_ns, res.mono);
		/* an exact value read since it was asked for (the loop's own walk) is newer */
		if (res.have_mem && mt->pw_gen == mt->exact_gen) {
			*st = res.st;
			*anon = res.anon;
			mt->exact_tag = res.tag;
			return;
		}
	}
	alloc_read(mt->alloc, 0, st);
	if (walk && !mt->pw_asked && poolwalk_ask(mt->pw, &mt->burst_total) == 0) {
		mt->pw_asked = 1;
		mt->pw_gen = mt->exact_gen;
	}
}

/* The counters, and a pool walk when the budget allows one: made by the helper beside the
 * loop (its result taken at a later sample), or by the loop for the last sample and while
 * the processes of a tree take turns for bursts (there, in a multiprocessing.Pool, the
 * helper's walks left 18 - 35 % of the growth to the churning function against -1 - 9 %:
 * not understood yet, docs/memory.md).  *anon: the anonymous memory to take the heap
 * metric with (the walk's own when the helper made it). */
static void read_alloc(struct memtrack *mt, struct alloc_stats *st, int force, uint64_t *anon)
{
	double t0 = clock_mono_s();

	mt->exact_tag = atomic_load_explicit(&mt->burst_total, memory_order_relaxed);
	mt->extra_tag = mt->burst_extra;
	if (unchanged_since_walk(mt)) {
		alloc_read(mt->alloc, 0, st);
		for (int f = 0; f < ALLOC_NFIELDS; f++)
			if (!(st->valid & (1u << f)) && (mt->last_walk.valid & (1u << f))) {
				st->v[f] = mt->last_walk.v[f];
				st->valid |= 1u << f;
			}
		mt->stats.walks_spared++;
		return;
	}

	if (mt->budget_time > 0)
		mt->walk_budget += (t0 - mt->budget_time) / WALK_SHARE;
	if (mt->walk_budget > WALK_BUDGET_MAX)
		mt->walk_budget = WALK_BUDGET_MAX;
	mt->budget_time = t0;
	/* not right after the process's own burst when its chain is cut: the exact value's
	 * rest would take the bursts' weights back at the burst's end, from the calls running
	 * then (docs/memory.md, "Bursts that take turns") */
	int beside_burst = mt->after_burst && !force;
	int was_rt = mt->rt_on, walk = force || (mt->walk_budget >= 0 && !beside_burst);
	if (mt->pw && !force && !mt->shared) {
		read_alloc_beside(mt, st, walk, anon);
		return;
	}
	/* the process clock just before the walk: unchanged_since_walk's proof */
	uint64_t before_ns = 0, before_mono = taskclock_now();
	int clock_ok = taskclock_process(mt->pid, &before_ns) == 0;
	if (walk && was_rt)
		memtrack_loop_realtime(mt, 0);
	alloc_read(mt->alloc, walk, st);
	if (walk && was_rt)
		memtrack_loop_realtime(mt, 1);
	if (st->walked)
		took_walk(mt, st, clock_mono_s() - t0, clock_ok, before_ns, before_mono);
}

/* heap_anon: the anonymous memory of the walk's moment (the helper's walk: read with it) */
static void fill_row(struct memtrack_row *row, uint64_t rss, uint64_t anon, uint64_t heap_anon,
		     const struct alloc_stats *st, const struct alloc_quick *q, int have_q)
{
	row->v[MT_RSS] = rss;
	row->v[MT_ANON] = anon;
	row->valid = (1u << MT_RSS) | (1u << MT_ANON);
	if (alloc_heap(st, heap_anon, &row->v[MT_HEAP]) == 0)
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
	if (mt->have_exact) {
		mt->pending += (int64_t)(value - mt->prev_exact) - (mt->exact_tag - mt->prev_tag);
		mt->lump -= mt->extra_tag - mt->prev_extra_tag;
	}
	mt->prev_extra_tag = mt->extra_tag;
	mt->prev_exact = value;
	mt->prev_tag = mt->exact_tag;
	mt->exact_gen++;
	mt->have_exact = 1;
}

int memtrack_read(struct memtrack *mt, struct memtrack_row *row, int final)
{
	struct alloc_stats st;
	struct alloc_quick q;
	uint64_t rss, anon, heap_anon;
	double t0 = clock_mono_s();

	if (attrib_mem(mt->attrib, &rss, &anon) < 0)
		return 1;
	heap_anon = anon;
	read_alloc(mt, &st, final, &heap_anon);
	mt->after_burst = 0;
	int have_q = alloc_heap_available(mt->alloc) && alloc_quick(mt->alloc, &q) == 0;
	fill_row(row, rss, anon, heap_anon, &st, &q, have_q);
	uint64_t quick;
	if (memtrack_quick_value(mt, rss, anon, &q, have_q, &quick) == 0) {
		row->v[MT_QUICK] = quick;
		row->valid |= 1ull << MT_QUICK;
	}
	note_exact(mt, rss, heap_anon, &st);
	mt->stats.samples++;
	mt->stats.sample_s += clock_mono_s() - t0;
	return 0;
}

void memtrack_charge(struct memtrack *mt, const struct walk_sample *s, int64_t *charged,
		     int64_t *now_part)
{
	for (size_t i = 0; i < s->nthreads; i++)
		now_part[i] = 0;
	mt->nthreads = s->nthreads;
	if (s->ninterps != mt->gil_interps) { /* interpreters came or went: find their GILs */
		gil_refresh(mt->gil);
		mt->gil_interps = s->ninterps;
	}
	if (!mt->exact_now) {
		attrib_charge(mt->attrib, s, ATTRIB_UNKNOWN, charged);
		return;
	}
	/* what the bursts' estimate missed or overshot of the exact change (the blocks that
	 * came and went inside pools, the luck of where bursts fell) is charged by the
	 * evidence over the interval: the total charged is the change measured */
	attrib_charge(mt->attrib, s, mt->pending, charged);
	/* the part of it that takes the bursts' weights back goes to the stacks now alone: the
	 * stack of a thread's last sighting, most often at a change in the burst, would take
	 * back the weight of the change it was seen at (docs/memory.md) */
	attrib_split_again(mt->attrib, s, mt->lump, now_part);
	mt->pending = 0;
	mt->lump = 0;
}
