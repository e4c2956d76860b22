/* memtrack_int.h: the memory tracker's state, shared by memtrack.c (bursts of readings)
 * and memtrack_sample.c (the stack sample's exact value and pool walks). */
#ifndef TG_MEMTRACK_INT_H
#define TG_MEMTRACK_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler/alloc.h"
#include "sampler/memtrack.h"

/* Pool walks may take at most 1/WALK_SHARE of the time on average: a budget fills at that
 * rate (up to WALK_BUDGET_MAX seconds) and each walk spends what it took.  A walk costs
 * the target a share of the cores, and where the loop makes it (no helper) holds up the
 * micro-samples, hence the small share: at 100 Hz every sample walks while the pymalloc
 * arenas hold under ~5 MiB; 100 MiB are walked about every 0.1 s. */
#define WALK_SHARE 20
#define WALK_BUDGET_MAX 0.05
/* Micro-samples come in bursts: in each window (1 / --mem-rate, 10 ms by default) one burst
 * of BURST_S at a random moment, during which the memory is read as fast as it changes
 * (at most every BURST_STEP_S) and each change is charged to the stack of the thread that
 * made it, walked at once.  A change seen in a burst stands for the window: it is charged
 * times window / BURST_S, so every change of the process has the same chance of being
 * seen and the charges are unbiased estimates (docs/memory.md); after a gap, times the
 * target's CPU time that the burst stands for over its CPU time in bursts
 * (memtrack_cut_weight: a burst slows the target on busy cores).  A process idle for longer
 * than IDLE_SKIP_S gets no burst: an idle server's heartbeat (gunicorn's, once a second)
 * starts two, not the ten that 100 ms gave (half of tgattach's CPU beside an idle worker). */
#define BURST_S 0.010
/* Woken on time (a timer slack of BURST_SLACK_NS, or --realtime), readings 20 us apart
 * would take most of a core */
#define BURST_STEP_S 40e-6
#define BURST_SLACK_NS 5000ul
#define IDLE_SKIP_S 0.02
/* A walk that took longer (a thread named from the registry read again) shows a stack too
 * old to take the change made meanwhile: memtrack_micro_again leaves it to the next one. */
#define AGAIN_MAX_S 100e-6
/* Bursts back to back (--mem-rate 100, the default) form one chain of readings, unless the
 * loop was held up longer than this. */
#define CONTINUE_S 0.05
/* A reading this long after the one before came late: tgattach waited for a CPU. */
#define LATE_S 0.0005
/* The pools taken lately are watched while the GIL changed hands this recently. */
#define WATCH_MULTI_S 0.1

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
	/* what the bursts' weights added to their changes (weighted less unweighted), in all
	 * and at the last two exact values; lump: the part of pending that takes it back, for
	 * the stacks at the sample (memtrack_charge) */
	int64_t burst_extra, extra_tag, prev_extra_tag, lump;
	/* the quick reading at the burst's last reading; what bursts charged in all, and up
	 * to the moment prev_exact was read */
	uint64_t prev_quick;
	int have_quick;
	_Atomic int64_t burst_total; /* the loop adds; the pool-walk helper reads it too */
	int64_t exact_tag, prev_tag;
	/* heap with bursts: pool walks by a helper beside the loop (NULL: the loop walks) */
	struct poolwalk *pw;
	int pw_asked;	    /* a walk asked for, its result not taken */
	uint64_t exact_gen; /* exact values noted so far */
	uint64_t pw_gen;    /* exact_gen when the walk was asked for */
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
	int prev_known; /* the GILs' holders were read at the last reading (attrib keeps
			   them: attrib_share's held_before) */
	double last_burst_end;
	/* a burst after a gap stands for the target's CPU time since the last one ended
	 * (memtrack_cut_weight): the process CPU clock then (0: not read) and at this burst's
	 * start, and the target's CPU per second during bursts (smoothed; 0: not known yet) */
	uint64_t end_cpu_ns, begin_cpu_ns;
	double begin_at, burst_cpu_rate;
	double weight_sum; /* of the bursts taken, for the mean in the statistics */
	int continuous;	   /* bursts back to back: one chain of readings */
	pid_t loop_tid;	   /* the thread that made it, whose run-queue wait is counted */
	int have_waited0;  /* waited0 was read */
	double waited0;	   /* that thread's run-queue wait then (taskclock_self_waited) */
	double t0;	   /* the monotonic clock then */
	int shared;	   /* taking turns with other processes' bursts: no chain between */
	int after_burst;   /* a burst whose chain is cut ended since the last stack sample */
	int chain_began;   /* the last reading began a chain: nothing to charge yet */
	int realtime;	   /* --realtime: the loop under SCHED_FIFO (loop_realtime) */
	int rt_on;	   /* this thread is under SCHED_FIFO now */
	double last_read;  /* monotonic time of the last reading of a burst */
	double base_at;	   /* that of the reading prev_quick was read at (or read again) */
	double span;	   /* the last reading's change was made over this time; 0: unknown */
	/* where the GIL's last holder was in its code at base_at (gil_position), and at the
	 * start of the last reading's span (memtrack_span_pos); 0: unknown */
	uint64_t base_pos, base_pos_of, base_frame, span_pos, span_pos_of, span_frame;
	int burst_first; /* the next reading is its burst's first */
	uint64_t rng;	 /* xorshift state, for the bursts' moments */
	size_t nthreads; /* threads at the last stack sample */
	pid_t pid;
	uint64_t window;    /* how long the process CPU clock must stand still to prove idle */
	uint64_t proc_ns;   /* the process CPU clock at the last micro-sample */
	uint64_t proc_same; /* monotonic ns since which it has read proc_ns; 0: none */
	struct memtrack_stats stats;
	/* the GIL's switch count when it last moved, and the monotonic time then (0: never) */
	uint64_t watch_switches;
	double watch_switched_at;
};

/* What a change seen in a burst after a gap stands for.  wall_gap_s: the time from the
 * last burst's end to this one's start; cpu_gap_s: the target's CPU time over that gap;
 * cpu_rate: its CPU seconds per second during bursts (<= 0: unknown).  The target's
 * memory changes only while it runs, and tgattach's bursts take CPU from it, so a burst
 * stands for the CPU time since the last one, not the wall time: 1 + cpu_gap_s /
 * (cpu_rate x BURST_S), at most CUT_WEIGHT_MAX times the wall time's 1 + wall_gap_s /
 * BURST_S, which it is when the CPU times are unknown (cpu_gap_s < 0). */
double memtrack_cut_weight(double wall_gap_s, double cpu_gap_s, double cpu_rate);
#define CUT_WEIGHT_MAX 4.0

/* The loop under SCHED_FIFO (on) or back (--realtime only). */
void memtrack_loop_realtime(struct memtrack *mt, int on);
/* The quick form of the metric: rss itself, or for heap the pools in use in place of the
 * bytes in use.  -1 when torn. */
int memtrack_quick_value(struct memtrack *mt, uint64_t rss, uint64_t anon,
			 const struct alloc_quick *q, int have_q, uint64_t *out);

#endif
