#include "sampler/memtrack.h"

#include <stdlib.h>
#include <time.h>

#include "common/rtsched.h"
#include "common/xalloc.h"
#include "sampler/attrib.h"
#include "sampler/gil.h"
#include "sampler/taskclock.h"

/* Pool walks may take at most 1/WALK_SHARE of the time on average: a budget fills at that
 * rate (up to WALK_BUDGET_MAX seconds) and each walk spends what it took.  A walk also
 * holds up the micro-samples, hence the small share: at 100 Hz every sample walks while
 * the pymalloc arenas hold under ~5 MiB; 100 MiB are walked about every 0.1 s. */
#define WALK_SHARE 20
#define WALK_BUDGET_MAX 0.05
/* Micro-samples come in bursts: in each window (1 / --mem-rate, 10 ms by default) one burst
 * of BURST_S at a random moment, during which the memory is read as fast as it changes
 * (at most every BURST_STEP_S) and each change is charged to the stack of the thread that
 * made it, walked at once.  A change seen in a burst stands for the window: it is charged
 * times window / BURST_S, so every change of the process has the same chance of being
 * seen and the charges are unbiased estimates (docs/memory.md).  A process idle for longer
 * than IDLE_SKIP_S gets no burst: an idle server's heartbeat (gunicorn's, once a second)
 * starts two, not the ten that 100 ms gave (half of tgattach's CPU beside an idle worker). */
#define BURST_S 0.010
#define BURST_STEP_S 20e-6
/* With --realtime: woken on time, readings 20 us apart would take most of a core */
#define RT_STEP_S 40e-6
#define IDLE_SKIP_S 0.02
/* A walk that took longer (a thread named from the registry read again) shows a stack too
 * old to take the change made meanwhile: memtrack_micro_again leaves it to the next one. */
#define AGAIN_MAX_S 100e-6
/* Bursts back to back (--mem-rate 100, the default) form one chain of readings, unless the
 * loop was held up longer than this. */
#define CONTINUE_S 0.05
/* A reading this long after the one before came late: tgattach waited for a CPU. */
#define LATE_S 0.0005

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
	/* the quick reading at the burst's last reading; what bursts charged since prev_exact */
	uint64_t prev_quick;
	int have_quick;
	int64_t burst_charged;
	/* the last valid pool walk, and the process CPU clock just before it */
	struct alloc_stats last_walk;
	int have_walk;
	uint64_t walk_proc_ns, walk_mono;
	double walk_budget, budget_time;
	double window_s;   /* a window: one burst in each */
	double window_end; /* monotonic end of the current window; 0: none yet */
	double burst_at;   /* when this window's burst starts; 0: taken or skipped */
	double burst_end;  /* end of the burst under way; 0: none */
	double next_step;  /* earliest time of the burst's next reading */
	double weight;	   /* window / burst: what a change seen in a burst stands for */
	int gil_n;	   /* the GIL's one holder and switches at the last reading: gil_n 1 */
	uint64_t gil_holder, gil_switches;
	double last_burst_end;
	double weight_sum; /* of the bursts taken, for the mean in the statistics */
	int continuous;	   /* bursts back to back: one chain of readings */
	int shared;	   /* taking turns with other processes' bursts: no chain between */
	int realtime;	   /* --realtime: the loop under SCHED_FIFO (loop_realtime) */
	int rt_on;	   /* this thread is under SCHED_FIFO now */
	double step_s;	   /* the least time between two readings of a burst */
	double last_read;  /* monotonic time of the last reading of a burst */
	uint64_t rng;	   /* xorshift state, for the bursts' moments */
	size_t nthreads;   /* threads at the last stack sample */
	pid_t pid;
	uint64_t window;    /* how long the process CPU clock must stand still to prove idle */
	uint64_t proc_ns;   /* the process CPU clock at the last micro-sample */
	uint64_t proc_same; /* monotonic ns since which it has read proc_ns; 0: none */
	struct memtrack_stats stats;
};

static const char *const col_names[MT_ALLOC0] = {"rss", "anon", "heap", "pool_bytes"};

const char *memtrack_col_name(enum memtrack_col c)
{
	if (c < MT_ALLOC0)
		return col_names[c];
	if (c == MT_QUICK)
		return "quick_bytes";
	return c < MT_NCOLS ? alloc_field_name((enum alloc_field)(c - MT_ALLOC0)) : "?";
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	mt->window_s = mt->micro ? 1.0 / o->micro_hz : 0;
	if (mt->window_s < BURST_S)
		mt->window_s = BURST_S;
	mt->weight = mt->window_s / BURST_S;
	mt->continuous = mt->micro && mt->window_s <= BURST_S;
	mt->realtime = mt->micro && o->realtime;
	mt->step_s = mt->realtime ? RT_STEP_S : BURST_STEP_S;
	mt->rng = ((uint64_t)o->pid << 32) ^ (uint64_t)(now_mono() * 1e9) ^ 0x9e3779b97f4a7c15ull;
	mt->attrib = attrib_new(o->pid);
	mt->pid = o->pid;
	mt->window = taskclock_window();
	mt->gil = gil_new(o->r, o->t);
	return mt;
}

void memtrack_free(struct memtrack *mt)
{
	if (!mt)
		return;
	if (mt->rt_on)
		rtsched_leave();
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
/* The process has provably not run since the last valid pool walk began: its pools are as
 * that walk found them (an idle server is not walked again and again). */
static int unchanged_since_walk(struct memtrack *mt)
{
	uint64_t ns;

	return mt->have_walk && mt->window && taskclock_process(mt->pid, &ns) == 0 &&
	       ns == mt->walk_proc_ns && taskclock_now() - mt->walk_mono > mt->window;
}

/* With --realtime the loop runs under SCHED_FIFO from its first burst on, so that it is
 * woken on time for each reading and between two bursts; but not for a pool walk,
 * milliseconds of work that would hold a core from the target meanwhile.  The policy is
 * the thread's, shared by the memtracks of a tree: each burst sets it again. */
static void loop_realtime(struct memtrack *mt, int on)
{
	if (!mt->realtime)
		return;
	if (on && rtsched_enter() < 0) {
		mt->stats.rt_refused++;
		return;
	}
	if (!on && mt->rt_on)
		rtsched_leave();
	mt->rt_on = on;
}

static void read_alloc(struct memtrack *mt, struct alloc_stats *st, int force)
{
	double t0 = now_mono();
	uint64_t before_ns = 0, before_mono = taskclock_now();
	int clock_ok = taskclock_process(mt->pid, &before_ns) == 0;

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
	int was_rt = mt->rt_on, walk = force || mt->walk_budget >= 0;
	if (walk && was_rt)
		loop_realtime(mt, 0);
	alloc_read(mt->alloc, walk, st);
	if (walk && was_rt)
		loop_realtime(mt, 1);
	if (!st->walked)
		return;
	double spent = now_mono() - t0;
	mt->walk_budget -= spent;
	mt->stats.walk_s += spent;
	mt->stats.walks++;
	unsigned need = alloc_available(mt->alloc);
	if ((st->valid & need) != need) {
		mt->stats.discarded++;
		return;
	}
	mt->have_walk = clock_ok;
	mt->walk_proc_ns = before_ns;
	mt->walk_mono = before_mono;
	mt->last_walk = *st;
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

/* The quick value moved to `value`: the change since the last reading, weighted, counted as
 * charged by the bursts. */
static int64_t take_change(struct memtrack *mt, uint64_t value)
{
	int64_t d = (int64_t)(value - mt->prev_quick);
	int64_t w = (int64_t)((double)d * mt->weight);

	mt->prev_quick = value;
	mt->stats.burst_bytes += d;
	mt->burst_charged += w;
	return w;
}

/* A reading of the quick value and of the GILs: with heap, in one system call (the GIL
 * words after the arena objects). */
struct reading {
	uint64_t value;
	uint64_t holders[GIL_MAX], switches;
	size_t n; /* GIL holders */
};

/* The quick change since the last reading of the burst, weighted, goes to the threads that
 * ran meanwhile: the shares, at most max, for the caller to charge to their stacks; the
 * rest is kept for the stack sample. */
static size_t micro_step(struct memtrack *mt, const struct reading *rd, struct attrib_share *out,
			 size_t max)
{
	const uint64_t *holders = rd->holders;
	uint64_t value = rd->value, switches = rd->switches;
	size_t n = rd->n, shares = 0;

	mt->gil_n = gil_holders_read(mt->gil) && n == 1 ? 1 : 0; /* for memtrack_micro_again */
	mt->gil_holder = n ? holders[0] : 0;
	mt->gil_switches = switches;

	/* the quick heap value (pools in use) changes only under the GIL; rss does not */
	struct attrib_gil g = {holders, n, switches,
			       mt->metric == MEMTRACK_HEAP ? gil_last_holder(mt->gil) : 0};
	if (mt->have_quick && value != mt->prev_quick) {
		int64_t w = take_change(mt, value);
		shares = attrib_micro(mt->attrib, w, &g, out, max);
		for (size_t k = 0; k < shares && gil_holders_read(mt->gil); k++) {
			out[k].running = 0; /* let go of the GIL since it grew: grew before */
			for (size_t i = 0; i < n; i++)
				out[k].running |= out[k].tstate == holders[i];
		}
	} else {
		attrib_micro(mt->attrib, 0, &g, out, 0); /* for next time */
		mt->prev_quick = value;
	}
	mt->have_quick = 1;
	return shares;
}

static double rand01(struct memtrack *mt)
{
	mt->rng ^= mt->rng << 13;
	mt->rng ^= mt->rng >> 7;
	mt->rng ^= mt->rng << 17;
	return (double)(mt->rng >> 11) / 9007199254740992.0;
}

/* Has no thread of the process run since the last reading?  Proven when the process CPU
 * clock (the sum of its threads') has stood still for longer than two scheduler ticks: a
 * thread on a CPU would have been accounted at a tick, one that left it when it left. */
static int proc_idle(struct memtrack *mt)
{
	uint64_t ns, now = taskclock_now();

	if (!mt->window || taskclock_process(mt->pid, &ns) < 0) {
		mt->proc_same = 0;
		return 0;
	}
	if (!mt->proc_same || ns != mt->proc_ns) {
		mt->proc_ns = ns;
		mt->proc_same = now;
		return 0;
	}
	return now - mt->proc_same > mt->window;
}

/* Idle for longer than IDLE_SKIP_S. */
static int proc_long_idle(struct memtrack *mt)
{
	return proc_idle(mt) && taskclock_now() - mt->proc_same > (uint64_t)(IDLE_SKIP_S * 1e9);
}

static int burst_begins(struct memtrack *mt, double now)
{
	mt->last_burst_end = now + BURST_S;
	mt->burst_end = now + BURST_S;
	mt->next_step = now;
	mt->stats.bursts++;
	loop_realtime(mt, 1);
	return 1;
}

int memtrack_burst(struct memtrack *mt)
{
	double now = now_mono();

	if (!mt->micro)
		return 0;
	if (mt->burst_end > 0) {
		if (now < mt->burst_end)
			return 1;
		mt->burst_end = 0;
		/* back to back: the chain of readings goes on */
		mt->have_quick = mt->continuous && !mt->shared;
		return 0; /* the next one waits for another tick: the loop has other work */
	}
	if (now >= mt->window_end) { /* a new window, and its burst's moment */
		mt->window_end =
		    (mt->window_end > 0 && now - mt->window_end < mt->window_s ? mt->window_end
									       : now) +
		    mt->window_s;
		mt->burst_at =
		    mt->window_end - mt->window_s + rand01(mt) * (mt->window_s - BURST_S);
	}
	if (mt->burst_at <= 0 || now < mt->burst_at)
		return 0;
	mt->burst_at = 0;
	if (proc_long_idle(mt)) { /* nothing changed meanwhile: the next burst starts afresh */
		mt->stats.micro_idle++;
		mt->last_burst_end = now;
		mt->have_quick = 0;
		return 0;
	}
	/* back to back, the change made between two bursts (the loop's tick, a stack sample)
	 * is charged at the next reading, to the stack then: nothing is left to stand for */
	if (mt->continuous && !mt->shared && mt->have_quick && now - mt->last_read < CONTINUE_S) {
		mt->weight = 1;
		mt->weight_sum += 1;
		return burst_begins(mt, now);
	}
	/* the burst stands for the time since the last one ended (a window, unless the loop was
	 * held up: a long pool walk, or a skipped window) */
	if (mt->last_burst_end > 0)
		mt->weight = (now + BURST_S - mt->last_burst_end) / BURST_S;
	mt->have_quick = 0;
	mt->weight_sum += mt->weight;
	return burst_begins(mt, now);
}

void memtrack_set_shared(struct memtrack *mt, int shared)
{
	mt->shared = shared;
}

void memtrack_burst_pace(struct memtrack *mt)
{
	double now = now_mono();

	if (mt->next_step > now) {
		struct timespec ts = {0, (long)((mt->next_step - now) * 1e9)};
		nanosleep(&ts, NULL);
		now = mt->next_step;
	}
	mt->next_step = now + mt->step_s;
}

/* The quick value now, and the GILs (rd): 0; -1 when it could not be read (torn: a later
 * reading covers it); 1 when the target is gone.  With heap, bursts charge pymalloc's pools
 * only: anonymous memory as statm counts it lags (since Linux 6.2 the kernel folds each
 * CPU's count into the total in batches), so a change of it shows later, in another
 * thread's reading.  It is charged at the stack sample, by the page faults each thread
 * took, which do not lag.  statm is read only for rss, or to tell a process gone from a
 * torn reading. */
static int read_quick(struct memtrack *mt, struct reading *rd)
{
	struct alloc_quick q;
	struct gil_batch gb;
	struct remote_iov giov[GIL_IOV_MAX];
	uint64_t rss, anon;
	size_t ng = 0;

	int have_q = 0;
	if (mt->metric == MEMTRACK_HEAP) {
		ng = gil_prepare(mt->gil, &gb, giov, 1);
		have_q = alloc_quick_with(mt->alloc, &q, giov, ng) == 0;
	}
	if (have_q) {
		rss = 0;
		anon = q.carved_bytes;
	} else if (attrib_mem(mt->attrib, &rss, &anon) < 0) {
		return 1;
	}
	if (quick_value(mt, rss, anon, &q, have_q, &rd->value) < 0)
		return -1;
	if (have_q)
		rd->n = gil_parse(mt->gil, &gb, giov, ng, rd->holders, GIL_MAX, &rd->switches);
	else
		rd->n = gil_holders(mt->gil, rd->holders, GIL_MAX, &rd->switches);
	return 0;
}

int memtrack_micro(struct memtrack *mt, struct attrib_share *out, size_t max, size_t *nout)
{
	struct reading rd;
	double t0 = now_mono();

	*nout = 0;
	/* the resolution: the spacing of the readings of one chain */
	if (mt->have_quick && mt->last_read > 0 && t0 - mt->last_read < CONTINUE_S) {
		mt->stats.read_gaps++;
		mt->stats.read_gap_s += t0 - mt->last_read;
		if (t0 - mt->last_read > LATE_S)
			mt->stats.read_late_s += t0 - mt->last_read;
	}
	mt->last_read = t0;
	int rc = read_quick(mt, &rd);
	if (rc == 0)
		*nout = micro_step(mt, &rd, out, max); /* else the next reading covers it */
	mt->stats.micro_samples++;
	mt->stats.micro_s += now_mono() - t0;
	return rc > 0;
}

int64_t memtrack_micro_again(struct memtrack *mt, uint64_t tstate)
{
	struct reading rd;

	/* tstate held the GIL at the last reading, and still does with no switch since */
	if (!mt->have_quick || now_mono() - mt->last_read > AGAIN_MAX_S || !mt->gil_n ||
	    mt->gil_holder != tstate || mt->gil_switches == GIL_SWITCHES_UNKNOWN ||
	    read_quick(mt, &rd) != 0)
		return 0;
	if (!gil_holders_read(mt->gil) || rd.n != 1 || rd.holders[0] != tstate ||
	    rd.switches != mt->gil_switches)
		return 0;
	mt->stats.micro_again++;
	return take_change(mt, rd.value);
}

void memtrack_micro_spent(struct memtrack *mt, double seconds)
{
	mt->stats.micro_s += seconds;
	mt->stats.micro_walks++;
}

void memtrack_keep(struct memtrack *mt, uint64_t tstate, int64_t bytes)
{
	attrib_keep(mt->attrib, tstate, bytes);
}

void memtrack_adopt(struct memtrack *mt, uint64_t tstate, int64_t tid)
{
	attrib_micro_adopt(mt->attrib, tstate, tid);
}

int64_t memtrack_take_kept(struct memtrack *mt, uint64_t tstate)
{
	return attrib_take_kept(mt->attrib, tstate);
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
		mt->pending += (int64_t)(value - mt->prev_exact) - mt->burst_charged;
	mt->prev_exact = value;
	mt->have_exact = 1;
	mt->burst_charged = 0;
}

int memtrack_read(struct memtrack *mt, struct memtrack_row *row, int final)
{
	struct alloc_stats st;
	struct alloc_quick q;
	uint64_t rss, anon;
	double t0 = now_mono();

	if (attrib_mem(mt->attrib, &rss, &anon) < 0)
		return 1;
	read_alloc(mt, &st, final);
	int have_q = alloc_heap_available(mt->alloc) && alloc_quick(mt->alloc, &q) == 0;
	fill_row(row, rss, anon, &st, &q, have_q);
	uint64_t quick;
	if (quick_value(mt, rss, anon, &q, have_q, &quick) == 0) {
		row->v[MT_QUICK] = quick;
		row->valid |= 1ull << MT_QUICK;
	}
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
	/* what the bursts' estimate missed or overshot of the exact change (the blocks that
	 * came and went inside pools, the luck of where bursts fell) is charged by the
	 * evidence over the interval: the total charged is the change measured */
	attrib_charge(mt->attrib, s, mt->pending, charged);
	mt->pending = 0;
}

void memtrack_stats(const struct memtrack *mt, struct memtrack_stats *out)
{
	*out = mt->stats;
	out->weight = mt->stats.bursts ? mt->weight_sum / (double)mt->stats.bursts : 0;
	out->unattributed = attrib_unattributed(mt->attrib);
}
