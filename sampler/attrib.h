/* attrib.h: who changed the process's memory.  A change of the metric is charged to the
 * threads that could have caused it; threads that slept or waited are never charged.
 *
 * Micro-samples (attrib_micro, between stack samples): the change since the last one goes
 * to the thread that held the GIL at both ends (or the only thread), else it is split over
 * the threads of the last stack sample in proportion to the CPU time each ran since
 * (/proc/PID/task/TID/schedstat, nanoseconds; the GIL holder, still running, is credited
 * with the time the others' does not explain); when none ran measurably, equally over the
 * GIL holders at either end; when nobody held a GIL either, it waits for the stack sample.
 * The caller charges each share to its thread's stack as walked at that moment.
 *
 * Stack samples (attrib_charge): the micro shares go to their threads, and what is left
 * (the change the micro-samples' quick reading missed, and what waited) is split over the
 * whole interval: growth in proportion to the minor page faults each thread took
 * (/proc/PID/task/TID/stat: a fault is a thread touching memory for the first time, which
 * is how resident memory grows); growth without faults and every decrease in proportion to
 * CPU time; failing both, over the threads that held the GIL at the previous or the
 * current sample; failing that it is counted as unattributed.
 *
 * schedstat has nanosecond resolution where /stat's utime+stime count 10 ms clock ticks:
 * as long as a whole stack interval at 100 Hz.  See docs/memory.md for the model and its
 * limits.
 *
 * Reads are spared where they cannot tell anything new: at a stack sample the CPU time is
 * the one the stack walker read for the thread (walk_thread.cpu_ns), and a thread that
 * has provably not run since its faults were last read (walk_thread.quiet_since) took no
 * fault; a micro-sample reads no thread when the process CPU clock, which sums them all,
 * has not moved. */
#ifndef TG_ATTRIB_H
#define TG_ATTRIB_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "sampler/walk.h"

/* A delta that could not be measured this sample (the metric's reading was torn). */
#define ATTRIB_UNKNOWN INT64_MIN

struct attrib;

struct attrib *attrib_new(pid_t pid);
void attrib_free(struct attrib *a);

/* Resident memory of the process now, and its anonymous part (resident - shared of
 * /proc/PID/statm, i.e. RssAnon), in bytes.  -1 when it cannot be read (exited). */
int attrib_mem(struct attrib *a, uint64_t *rss, uint64_t *anon);
/* The same from /proc/PID/statm opened with attrib_statm_open (-1 when it cannot be). */
int attrib_statm(int fd, long page_size, uint64_t *rss, uint64_t *anon);
int attrib_statm_open(pid_t pid);

/* One thread's share of a change. */
struct attrib_share {
	uint64_t tstate;
	int64_t bytes;
	int running;	 /* it holds a GIL at the reading, or that is unknown (attrib_micro: 1) */
	int held_before; /* it held a GIL at the previous attrib_micro() (attrib_micro) */
	int ran_unseen;	 /* with running 0: it held no GIL at the reading before either, which
			    came late, so it took a GIL and let it go again unseen (memtrack) */
};

/* What the GILs showed at a micro-sample (sampler/gil.h). */
struct attrib_gil {
	const uint64_t *holders; /* the thread states holding a GIL now */
	size_t n;
	uint64_t switches; /* the GILs' switch count, GIL_SWITCHES_UNKNOWN where the layout
			      has none */
	uint64_t last;	   /* the only GIL's last holder, holding it or not (gil_last_holder);
			      0 when unknown, or when the metric can change without the GIL
			      (rss) */
};

/* Between stack samples: the metric changed by delta since the previous call, g what the
 * GILs show now.  Writes at most max shares into out (the rest is kept for the next
 * attrib_charge) and returns how many: the caller charges each to its thread's stack as
 * it is now.  With g->last known at both calls, the count of switches tells which threads
 * can have made the change (pymalloc's pools change only under the GIL): none, the last
 * holder takes it all, whether or not it held the GIL at either end; one, only the two
 * last holders share it.  Else the one thread that held the GIL at both ends with no
 * switch between (or the only thread) takes it all, with no other read; otherwise the
 * split is by CPU time (schedstat, read only then; GIL holders at either end that started
 * since the stack sample share the time the others' does not explain), failing that over
 * the GIL holders at either end; a change nobody can be named for waits for the stack
 * sample. */
size_t attrib_micro(struct attrib *a, int64_t delta, const struct attrib_gil *g,
		    struct attrib_share *out, size_t max);

/* A share the caller could not charge to a stack (the thread could not be walked, or is not
 * being written yet): kept for the thread's next attrib_charge(). */
void attrib_keep(struct attrib *a, uint64_t tstate, int64_t bytes);
/* A thread that changed memory since the last attrib_charge() and is not one of its
 * threads (started since): its CPU time is read by the next micro-samples too (until the
 * next attrib_charge, which takes the threads of its sample). */
void attrib_micro_adopt(struct attrib *a, uint64_t tstate, int64_t tid);
/* What is kept for thread state tstate since the last attrib_charge(), taken back (0 when
 * nothing): a thread that could not be charged a moment ago (a walk that found no frame, a
 * thread not named yet) is charged it with its next share. */
int64_t attrib_take_kept(struct attrib *a, uint64_t tstate);

/* Hand out the shares kept by attrib_micro() to the threads of sample s, and split
 * `delta` bytes more over them: charged[i] for s->threads[i].  With ATTRIB_UNKNOWN only
 * the kept shares are handed out; the threads' CPU time and faults keep adding up until
 * the next known delta, which they then explain.  The threads of s are those the next
 * micro-samples read. */
void attrib_charge(struct attrib *a, const struct walk_sample *s, int64_t delta, int64_t *charged);

/* After attrib_charge() for the same sample s: part[i], thread i's share of amount (a part
 * of that call's delta), split by the CPU time each thread ran over the interval, failing
 * that over the GIL holders; all 0 when neither tells. */
void attrib_split_again(struct attrib *a, const struct walk_sample *s, int64_t amount,
			int64_t *part);

/* Bytes of change no thread could be charged with, since the start. */
int64_t attrib_unattributed(const struct attrib *a);
/* Adds to set the CPUs that the threads found to have run at the last attrib_charge() ran
 * on last (/proc/PID/task/TID/stat, read then with their faults). */
void attrib_ran_cpus(const struct attrib *a, cpu_set_t *set);

/* Whether thread tid is on a CPU or waiting for one now (its state R): 1 or 0, or -1 when
 * it cannot be read. */
int attrib_thread_runs(struct attrib *a, int64_t tid);

#endif
