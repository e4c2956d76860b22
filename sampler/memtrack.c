#include "sampler/memtrack.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/rtsched.h"
#include "common/xalloc.h"
#include "sampler/attrib.h"
#include "sampler/gil.h"
#include "sampler/poolwalk.h"
#include "sampler/taskclock.h"

#include "sampler/memtrack_int.h"

static const char *const col_names[MT_ALLOC0] = {"rss", "anon", "heap", "pool_bytes"};

const char *memtrack_col_name(enum memtrack_col c)
{
	if (c < MT_ALLOC0)
		return col_names[c];
	if (c == MT_QUICK)
		return "quick_bytes";
	return c < MT_NCOLS ? alloc_field_name((enum alloc_field)(c - MT_ALLOC0)) : "?";
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
	mt->loop_tid = gettid();
	mt->t0 = clock_mono_s();
	mt->have_waited0 = taskclock_self_waited(&mt->waited0) == 0;
	mt->micro = o->micro_hz > 0;
	mt->window_s = mt->micro ? 1.0 / o->micro_hz : 0;
	if (mt->window_s < BURST_S)
		mt->window_s = BURST_S;
	mt->weight = mt->window_s / BURST_S;
	mt->continuous = mt->micro && mt->window_s <= BURST_S;
	mt->realtime = mt->micro && o->realtime;
	mt->rng =
	    ((uint64_t)o->pid << 32) ^ (uint64_t)(clock_mono_s() * 1e9) ^ 0x9e3779b97f4a7c15ull;
	mt->attrib = attrib_new(o->pid);
	mt->pid = o->pid;
	mt->window = taskclock_window();
	mt->gil = gil_new(o->r, o->t);
	if (mt->micro && mt->metric == MEMTRACK_HEAP && o->r->kind == REMOTE_PROCESS)
		mt->pw = poolwalk_start(o->pid, o->t);
	return mt;
}

void memtrack_free(struct memtrack *mt)
{
	if (!mt)
		return;
	if (mt->rt_on)
		rtsched_leave();
	poolwalk_stop(mt->pw);
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

/* With --realtime the loop runs under SCHED_FIFO from its first burst on, so that it is
 * woken on time for each reading and between two bursts; but not for a pool walk it makes
 * itself (no helper, or the last sample's), milliseconds of work that would hold a core
 * from the target meanwhile.  The policy is the thread's, shared by the memtracks of a
 * tree: each burst sets it again. */
void memtrack_loop_realtime(struct memtrack *mt, int on)
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

int memtrack_quick_value(struct memtrack *mt, uint64_t rss, uint64_t anon,
			 const struct alloc_quick *q, int have_q, uint64_t *out)
{
	if (mt->metric == MEMTRACK_RSS) {
		*out = rss;
		return 0;
	}
	if (!have_q)
		return -1;
	*out =
	    q->pools_bytes - q->watch_free + (anon > q->carved_bytes ? anon - q->carved_bytes : 0);
	return 0;
}

/* What a change made between from and to stands for: the burst's weight; but the part of
 * it made after the burst's end, which the burst's last reading takes (memtrack_burst),
 * counts once: the next burst stands for the time after that reading. */
static double change_weight(const struct memtrack *mt, double from, double to)
{
	if (mt->burst_end <= 0 || to <= mt->burst_end || to <= from)
		return mt->weight;
	double inside = mt->burst_end > from ? (mt->burst_end - from) / (to - from) : 0;
	return mt->weight * inside + (1 - inside);
}

/* The quick value moved to `value`, `left` of it no change (pools no longer watched: alloc.h),
 * made between from and to: the change since the last reading, weighted, counted as
 * charged by the bursts (and what the weight added, as burst_extra). */
static int64_t take_change(struct memtrack *mt, uint64_t value, uint64_t left, double from,
			   double to)
{
	int64_t d = (int64_t)(value - mt->prev_quick - left);
	int64_t w = (int64_t)((double)d * change_weight(mt, from, to));

	mt->prev_quick = value;
	mt->burst_extra += w - d;
	mt->stats.burst_bytes += d;
	atomic_fetch_add_explicit(&mt->burst_total, w, memory_order_relaxed);
	return w;
}

/* A reading of the quick value and of the GILs: with heap, in one system call (the GIL
 * words after the arena objects). */
struct reading {
	uint64_t value, left; /* left: alloc_quick.watch_left */
	uint64_t holders[GIL_MAX], switches;
	size_t n; /* GIL holders */
};

/* Pools are watched (alloc_watch) while several threads run Python: the GIL changed hands
 * in the last WATCH_MULTI_S.  With one thread, no other thread's objects can pin a pool
 * that a call took.  Their headers are read at every reading (docs/memory.md: read only
 * when the pools in use moved, they missed the slots another thread filled meanwhile). */
static void watch_gate(struct memtrack *mt, uint64_t switches)
{
	double now = mt->last_read; /* this reading's time: no clock read more */

	if (switches != GIL_SWITCHES_UNKNOWN && switches != mt->watch_switches) {
		mt->watch_switches = switches;
		mt->watch_switched_at = now;
	}
	int on = mt->metric == MEMTRACK_HEAP && mt->watch_switched_at > 0 &&
		 now - mt->watch_switched_at < WATCH_MULTI_S;
	alloc_watch(mt->alloc, on ? ALLOC_WATCH_EVERY : ALLOC_WATCH_OFF);
}

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
	watch_gate(mt, switches);
	if (mt->have_quick && value != mt->prev_quick + rd->left) {
		int64_t w =
		    take_change(mt, value, rd->left, mt->last_read - mt->span, mt->last_read);
		shares = attrib_micro(mt->attrib, w, &g, out, max);
		for (size_t k = 0; k < shares && gil_holders_read(mt->gil); k++) {
			out[k].running = 0; /* let go of the GIL since it grew: grew before */
			for (size_t i = 0; i < n; i++)
				out[k].running |= out[k].tstate == holders[i];
			/* and when it held none at the reading before, which came late, it
			 * took one since (the pools change only under a GIL, and without
			 * lag: heap) */
			out[k].ran_unseen = !out[k].running && !out[k].held_before &&
					    mt->prev_known && mt->metric == MEMTRACK_HEAP &&
					    mt->span >= LATE_S;
		}
	} else {
		attrib_micro(mt->attrib, 0, &g, out, 0); /* for next time */
		mt->prev_quick = value;
	}
	mt->prev_known = gil_holders_read(mt->gil);
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

double memtrack_cut_weight(double wall_gap_s, double cpu_gap_s, double cpu_rate)
{
	double wall = 1 + (wall_gap_s > 0 ? wall_gap_s : 0) / BURST_S;

	if (cpu_gap_s < 0 || !(cpu_rate > 0))
		return wall;
	double w = 1 + cpu_gap_s / (cpu_rate * BURST_S);
	return w < CUT_WEIGHT_MAX * wall ? w : CUT_WEIGHT_MAX * wall;
}

/* The process CPU clock at a burst's edge: its start (begin) or its end, where the
 * target's CPU rate during the burst is taken into the smoothed one. */
static void burst_edge_cpu(struct memtrack *mt, double now, int begin)
{
	uint64_t ns;

	if (taskclock_process(mt->pid, &ns) < 0) {
		mt->end_cpu_ns = mt->begin_cpu_ns = 0;
		return;
	}
	if (begin) {
		mt->begin_cpu_ns = ns;
		mt->begin_at = now;
		return;
	}
	if (mt->begin_cpu_ns && ns >= mt->begin_cpu_ns && now - mt->begin_at >= BURST_S / 2) {
		double rate = (double)(ns - mt->begin_cpu_ns) / 1e9 / (now - mt->begin_at);
		mt->burst_cpu_rate =
		    mt->burst_cpu_rate > 0 ? 0.75 * mt->burst_cpu_rate + 0.25 * rate : rate;
	}
	mt->end_cpu_ns = ns;
	mt->begin_cpu_ns = 0;
}

/* A burst after a gap: its weight from the target's CPU time since the last one. */
static double gap_weight(struct memtrack *mt, double now)
{
	uint64_t end = mt->end_cpu_ns;

	burst_edge_cpu(mt, now, 1);
	double cpu_gap =
	    end && mt->begin_cpu_ns >= end ? (double)(mt->begin_cpu_ns - end) / 1e9 : -1;
	return memtrack_cut_weight(now - mt->last_burst_end, cpu_gap, mt->burst_cpu_rate);
}

/* Idle for longer than IDLE_SKIP_S. */
static int proc_long_idle(struct memtrack *mt)
{
	return proc_idle(mt) && taskclock_now() - mt->proc_same > (uint64_t)(IDLE_SKIP_S * 1e9);
}

static int burst_begins(struct memtrack *mt, double now)
{
	/* woken on time without --realtime too: the sleeps between readings end when they
	 * should, not at the target's next event (rtsched.h) */
	rtsched_slack(BURST_SLACK_NS);
	mt->last_burst_end = now + BURST_S;
	mt->burst_end = now + BURST_S;
	mt->next_step = now;
	mt->burst_first = 1;
	mt->stats.bursts++;
	memtrack_loop_realtime(mt, 1);
	return 1;
}

/* A burst's chain of readings will not go on into the next burst: the processes of a tree
 * take turns, or the rate leaves gaps. */
static int cut_after(const struct memtrack *mt)
{
	return mt->shared || !mt->continuous;
}

/* Bursts back to back and a reading lately: the next reading charges the change since. */
static int chain_goes_on(const struct memtrack *mt, double now)
{
	return !cut_after(mt) && mt->have_quick && now - mt->last_read < CONTINUE_S;
}

int memtrack_chain_open(const struct memtrack *mt)
{
	double now = clock_mono_s();

	if (!mt->micro || !mt->have_quick || mt->last_read <= 0)
		return 0;
	return (mt->burst_end > 0 && now < mt->burst_end) || chain_goes_on(mt, now);
}

int memtrack_burst(struct memtrack *mt)
{
	double now = clock_mono_s();

	if (!mt->micro)
		return 0;
	if (mt->burst_end > 0) {
		if (now < mt->burst_end)
			return 1;
		/* A burst whose chain is cut after it gets one more reading once its end has
		 * passed: without it, a burst's cover ended at its last reading while it stood
		 * for its whole length, and tgattach, waiting for a CPU, missed the end most
		 * while the target computed.  The part of that reading's change made after the
		 * end counts once (change_weight). */
		if (cut_after(mt) && mt->have_quick && mt->last_read < mt->burst_end)
			return 1;
		if (mt->last_read > mt->burst_end)
			mt->last_burst_end = mt->last_read;
		if (cut_after(mt))
			burst_edge_cpu(mt, now, 0);
		else /* a chain broken later (the loop held up) is weighted by the wall time */
			mt->end_cpu_ns = 0;
		mt->after_burst = cut_after(mt);
		mt->burst_end = 0;
		/* unless it is cut, the chain of readings goes on into the next burst */
		mt->have_quick = !cut_after(mt);
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
		mt->end_cpu_ns = mt->proc_ns; /* read just now by proc_idle */
		mt->have_quick = 0;
		return 0;
	}
	/* back to back, the change made between two bursts (the loop's tick, a stack sample)
	 * is charged at the next reading, to the stack then: nothing is left to stand for */
	if (chain_goes_on(mt, now)) {
		mt->weight = 1;
		mt->weight_sum += 1;
		return burst_begins(mt, now);
	}
	/* the burst stands for the time since the last one ended (a window, unless the loop was
	 * held up: a long pool walk, or a skipped window) */
	if (mt->last_burst_end > 0)
		mt->weight = gap_weight(mt, now);
	else
		burst_edge_cpu(mt, now, 1);
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
	double now = clock_mono_s();

	if (mt->next_step > now) {
		struct timespec ts = {0, (long)((mt->next_step - now) * 1e9)};
		nanosleep(&ts, NULL);
		now = mt->next_step;
	}
	mt->next_step = now + BURST_STEP_S;
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
		ng = gil_prepare(mt->gil, &gb, giov, 1, 1);
		have_q = alloc_quick_with(mt->alloc, &q, giov, ng) == 0;
	}
	if (have_q) {
		rss = 0;
		anon = q.carved_bytes;
	} else if (attrib_mem(mt->attrib, &rss, &anon) < 0) {
		return 1;
	}
	if (memtrack_quick_value(mt, rss, anon, &q, have_q, &rd->value) < 0)
		return -1;
	rd->left = have_q ? q.watch_left : 0;
	if (have_q)
		rd->n = gil_parse(mt->gil, &gb, giov, ng, rd->holders, GIL_MAX, &rd->switches);
	else
		rd->n = gil_holders(mt->gil, rd->holders, GIL_MAX, &rd->switches);
	return 0;
}

int memtrack_micro(struct memtrack *mt, struct attrib_share *out, size_t max, size_t *nout)
{
	struct reading rd;
	double t0 = clock_mono_s();

	*nout = 0;
	/* the resolution: the spacing of the readings of one chain */
	if (mt->have_quick && mt->last_read > 0 && t0 - mt->last_read < CONTINUE_S) {
		mt->stats.read_gaps++;
		mt->stats.read_gap_s += t0 - mt->last_read;
		if (t0 - mt->last_read > LATE_S)
			mt->stats.read_late_s += t0 - mt->last_read;
		if (mt->burst_first) {
			mt->stats.burst_gaps++;
			mt->stats.burst_gap_s += t0 - mt->last_read;
		}
	}
	mt->burst_first = 0;
	mt->last_read = t0;
	mt->span = mt->have_quick && mt->base_at > 0 ? t0 - mt->base_at : 0;
	mt->span_pos = mt->span > 0 ? mt->base_pos : 0;
	mt->span_pos_of = mt->span_pos ? mt->base_pos_of : 0;
	mt->span_frame = mt->span_pos ? mt->base_frame : 0;
	int began = !mt->have_quick;
	int rc = read_quick(mt, &rd);
	mt->chain_began = rc == 0 && began;
	if (rc == 0) { /* else the next reading covers it */
		mt->base_at = t0;
		mt->base_pos = gil_position(mt->gil, &mt->base_pos_of, &mt->base_frame);
		*nout = micro_step(mt, &rd, out, max);
	}
	mt->stats.micro_samples++;
	mt->stats.micro_s += clock_mono_s() - t0;
	return rc > 0;
}

int64_t memtrack_micro_again(struct memtrack *mt, uint64_t tstate)
{
	struct reading rd;

	/* tstate held the GIL at the last reading, and still does with no switch since */
	if (!mt->have_quick || clock_mono_s() - mt->last_read > AGAIN_MAX_S || !mt->gil_n ||
	    mt->gil_holder != tstate || mt->gil_switches == GIL_SWITCHES_UNKNOWN ||
	    read_quick(mt, &rd) != 0)
		return 0;
	if (!gil_holders_read(mt->gil) || rd.n != 1 || rd.holders[0] != tstate ||
	    rd.switches != mt->gil_switches)
		return 0;
	mt->stats.micro_again++;
	double from = mt->base_at;
	mt->base_at = clock_mono_s();
	mt->base_pos = gil_position(mt->gil, &mt->base_pos_of, &mt->base_frame);
	return take_change(mt, rd.value, rd.left, from, mt->base_at);
}

uint64_t memtrack_in_c(const struct memtrack *mt)
{
	return gil_in_c(mt->gil);
}

int memtrack_chain_began(const struct memtrack *mt)
{
	return mt->chain_began;
}

double memtrack_span(const struct memtrack *mt)
{
	return mt->span;
}

uint64_t memtrack_span_pos(const struct memtrack *mt, uint64_t tstate, uint64_t *frame)
{
	int known = mt->span_pos && mt->span_pos_of == tstate;

	*frame = known ? mt->span_frame : 0;
	return known ? mt->span_pos : 0;
}

int memtrack_stack(const struct memtrack *mt, uint64_t tstate, struct stackcopy_taken *out)
{
	return gil_stack(mt->gil, tstate, out);
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

int memtrack_thread_runs(struct memtrack *mt, int64_t tid)
{
	return attrib_thread_runs(mt->attrib, tid);
}

void memtrack_adopt(struct memtrack *mt, uint64_t tstate, int64_t tid)
{
	attrib_micro_adopt(mt->attrib, tstate, tid);
}

int64_t memtrack_take_kept(struct memtrack *mt, uint64_t tstate)
{
	return attrib_take_kept(mt->attrib, tstate);
}

void memtrack_ran_cpus(const struct memtrack *mt, cpu_set_t *set)
{
	attrib_ran_cpus(mt->attrib, set);
}

void memtrack_stats(const struct memtrack *mt, struct memtrack_stats *out)
{
	*out = mt->stats;
	out->weight = mt->stats.bursts ? mt->weight_sum / (double)mt->stats.bursts : 0;
	out->unattributed = attrib_unattributed(mt->attrib);
	double waited, span = clock_mono_s() - mt->t0;
	/* only from the thread it was first read in: another's wait says nothing of the loop */
	if (mt->have_waited0 && gettid() == mt->loop_tid && span > 0 &&
	    taskclock_self_waited(&waited) == 0 && waited >= mt->waited0) {
		out->has_loop_waited = 1;
		out->loop_waited_pct = fmin(100, 100 * (waited - mt->waited0) / span);
	}
}
