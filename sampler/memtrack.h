/* memtrack.h: the memory side of a recording: what the process holds at each sample (for
 * process.mem and process.alloc) and which thread is charged with each change (for the
 * THREAD.mem lines).
 *
 * Two metrics (docs/memory.md): rss, resident memory; heap, the bytes in pymalloc blocks
 * in use plus the anonymous memory outside pymalloc's arenas.  heap needs a walk over
 * every pool header, which costs about 0.7 us per 16 KiB pool: walks get at most a
 * twentieth of the time (a budget), so a large heap is walked every few samples.
 *
 * Between stack samples, micro-samples (memtrack_micro, about 1000 a second) read a quick
 * form of the metric (rss itself, or for heap the pools in use from the arena objects
 * alone), the GIL holder and the CPU time of each thread, so that each change is charged
 * to the threads that ran in that millisecond; the exact value read at a stack sample
 * corrects what the quick form missed (sampler/attrib.h). */
#ifndef TG_MEMTRACK_H
#define TG_MEMTRACK_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/remote.h"
#include "common/err.h"
#include "sampler/alloc.h"
#include "sampler/attrib.h"
#include "sampler/stackcopy.h"
#include "sampler/walk.h"
#include "symbols/pytarget.h"

enum memtrack_metric { MEMTRACK_DEFAULT = 0, MEMTRACK_RSS, MEMTRACK_HEAP };

/* The columns of process.alloc after the time. */
enum memtrack_col {
	MT_RSS,	       /* resident bytes */
	MT_ANON,       /* anonymous resident bytes */
	MT_HEAP,       /* the heap metric */
	MT_POOL_BYTES, /* pools in use x pool size (the quick reading; every sample) */
	MT_ALLOC0,     /* then the fields of enum alloc_field, in order */
	MT_QUICK = MT_ALLOC0 + ALLOC_NFIELDS, /* the quick form of the metric (what bursts see) */
	MT_NCOLS
};

struct memtrack_row {
	uint64_t v[MT_NCOLS];
	uint64_t valid; /* bit (1 << column) for the values read and checked */
};

struct memtrack_opts {
	pid_t pid;
	struct remote *r;
	const struct py_target *t;
	enum memtrack_metric metric; /* MEMTRACK_DEFAULT: heap where readable, else rss */
	double micro_hz;	     /* bursts of micro-samples per second; 0: none */
	int realtime; /* the loop under SCHED_FIFO from the first burst on, pool walks
			 excepted (common/rtsched.h); readings 40 us apart at least */
};

struct memtrack_stats {
	uint64_t samples, micro_samples, walks, discarded;
	uint64_t micro_idle;  /* bursts skipped: the process idle for long */
	uint64_t micro_walks; /* micro-samples whose change was charged to walked stacks */
	uint64_t micro_again; /* readings again after such a walk (memtrack_micro_again) */
	uint64_t bursts;
	uint64_t walks_spared; /* pool walks not made: the process had not run since the last */
	uint64_t walks_beside; /* of walks, those the helper made beside the loop (poolwalk.h) */
	int64_t burst_bytes;   /* changes seen in bursts, unweighted */
	double weight;	       /* what a change seen in a burst stands for (window / burst) */
	double sample_s, walk_s, micro_s; /* time spent in each */
	uint64_t read_gaps;		  /* spacings between two readings of one chain */
	double read_gap_s;		  /* their sum */
	double read_late_s;		  /* the part of it in spacings over LATE_S */
	uint64_t burst_gaps;		  /* of them, those from one burst to the next */
	double burst_gap_s;		  /* their sum */
	int64_t unattributed;		  /* bytes no thread could be charged with */
	uint64_t rt_refused;		  /* bursts begun without SCHED_FIFO: it was refused */
	int has_loop_waited;		  /* loop_waited_pct is known */
	double loop_waited_pct; /* of the time since memtrack_new, the loop thread's on a run
				 * queue (runnable, not running: the machine's cores were busy) */
};

struct memtrack;

/* Fails (TG_E_LAYOUT) when heap is asked for and the allocator cannot be read. */
struct memtrack *memtrack_new(const struct memtrack_opts *o, struct tg_err *err);
void memtrack_free(struct memtrack *mt);

enum memtrack_metric memtrack_metric(const struct memtrack *mt);
struct alloc_reader *memtrack_alloc(struct memtrack *mt);
int memtrack_heap_available(const struct memtrack *mt);
const char *memtrack_col_name(enum memtrack_col c);

/* Is a burst of micro-samples under way, or due now (one per window, at a random moment;
 * none while the process has been idle for long)?  Call at every tick; while it says 1,
 * take micro-samples, each followed by memtrack_burst_pace(). */
int memtrack_burst(struct memtrack *mt);
/* Other processes' bursts take turns with this one's (a tree): the change made between two
 * of its bursts is then not charged at the next reading, to the stack at that moment (the
 * other processes' bursts held the loop meanwhile, for 10 ms each), but stood for by the
 * changes seen in its bursts, weighted by the target's CPU time since its last one. */
void memtrack_set_shared(struct memtrack *mt, int shared);
/* Wait until the burst's next reading is due (they are at least 20 us apart). */
void memtrack_burst_pace(struct memtrack *mt);
/* Is the chain of readings unbroken now (a burst under way, or bursts back to back and a
 * reading lately), so that a micro-sample taken now charges the change since the last one?
 * 1 or 0. */
int memtrack_chain_open(const struct memtrack *mt);

/* A micro-sample, within a burst: the quick change since the burst's last reading, weighted
 * by window / burst (what a change seen in a burst stands for), split into shares (at most
 * max, in out, *nout of them) for the caller to charge to the stacks of their threads as
 * they are now (walker_walk_thread, tracker_feed_one); what cannot be placed goes back
 * with memtrack_keep().  1 when the target is gone, else 0. */
int memtrack_micro(struct memtrack *mt, struct attrib_share *out, size_t max, size_t *nout);

/* The time over which the change of the last memtrack_micro was made: since the reading
 * before it (or the reading again after a walk, memtrack_micro_again); 0 when unknown (the
 * reading began a chain). */
double memtrack_span(const struct memtrack *mt);
/* Where thread state tstate was in its code at the start of the last reading's span (the
 * reading before, or the reading again after a walk): gil_position's data stack top, and
 * *frame its frame; 0 when unknown (not the GIL's last holder then, a chain that began, a
 * read that failed, up to 3.10). */
uint64_t memtrack_span_pos(const struct memtrack *mt, uint64_t tstate, uint64_t *frame);

/* The data stack of thread state tstate as the last reading copied it, with the memory
 * (gil_stack): 0, or -1 when it has none. */
int memtrack_stack(const struct memtrack *mt, uint64_t tstate, struct stackcopy_taken *out);

/* The thread state the last reading saw running C only (gil_in_c), or 0. */
uint64_t memtrack_in_c(const struct memtrack *mt);
/* Did the last memtrack_micro begin a chain of readings (a burst whose chain was cut
 * before it: nothing charged, the thread's stacks not seen)?  1 or 0. */
int memtrack_chain_began(const struct memtrack *mt);

/* The quick value read again, right after the caller walked the stack of tstate, the one
 * thread a micro-sample charged: the change made meanwhile (weighted), to charge with that
 * share; 0 when nothing changed, the reading failed, tstate did not hold the GIL at the
 * reading and since without a switch (3.7+: another thread may have made the change), or
 * the reading was over 100 us ago (the walk was long: the stack it showed is old).  A stack
 * is walked after the reading that showed the change, and the thread runs on meanwhile: a
 * call that returned and a caller that called again in those microseconds made the walk
 * show the new call, while a release made before it (the returned call's list dropped)
 * showed only at the next reading, charged to the stack before, the new call.  Read again,
 * the next change is measured from the moment the stack was walked. */
int64_t memtrack_micro_again(struct memtrack *mt, uint64_t tstate);

/* Time the caller spent charging a micro-sample's shares (walks), for the statistics. */
void memtrack_micro_spent(struct memtrack *mt, double seconds);

/* A share that could not be charged to a stack: kept for the stack sample, unless the
 * thread's next share takes it back first (memtrack_take_kept: the bytes kept for tstate,
 * 0 when none). */
void memtrack_keep(struct memtrack *mt, uint64_t tstate, int64_t bytes);
int64_t memtrack_take_kept(struct memtrack *mt, uint64_t tstate);
/* A thread the stack sample did not list, walked for a share: its CPU time counts in the
 * next splits (attrib_micro_adopt). */
void memtrack_adopt(struct memtrack *mt, uint64_t tstate, int64_t tid);
/* Whether thread tid is on a CPU or waiting for one now: 1, 0, or -1 (unknown). */
int memtrack_thread_runs(struct memtrack *mt, int64_t tid);

/* At a stack sample, before the stack walk: read the memory into row (final: the last row
 * of the recording, with a pool walk whatever the budget, so that the growth over the
 * recording is known).  1 when the target is gone, else 0. */
int memtrack_read(struct memtrack *mt, struct memtrack_row *row, int final);

/* After the stack walk: charged[i], the change charged to s->threads[i] since the last
 * call.  With bursts, only the shares they could not place; without (micro_hz 0), the
 * exact change since the last stack sample, split by the evidence (sampler/attrib.h).
 * now_part[i] is the part of charged[i] that goes to the thread's stack at this sample
 * alone: what takes back the weight the bursts of a tree's processes added (they stand for
 * the time the others had theirs; docs/memory.md).  Without a call (the walk failed) the
 * change waits for the next one. */
void memtrack_charge(struct memtrack *mt, const struct walk_sample *s, int64_t *charged,
		     int64_t *now_part);

void memtrack_stats(const struct memtrack *mt, struct memtrack_stats *out);
/* Adds to set the CPUs its threads that ran since the stack sample before the last one
 * ran on last (attrib_ran_cpus). */
void memtrack_ran_cpus(const struct memtrack *mt, cpu_set_t *set);

#endif
