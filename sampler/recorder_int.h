/* recorder_int.h: the recorder's internals, shared by sampler/recorder.c (events, tick,
 * end) and sampler/rectree.c (the processes: list, adoption, watched ones, launcher). */
#ifndef TG_RECORDER_INT_H
#define TG_RECORDER_INT_H

#include "common/cpuavoid.h"
#include "sampler/recorder.h"
#include "sampler/recproc.h"

/* An event from the tracer, handled at the next tick. */
struct pending {
	enum trace_event_kind kind;
	pid_t pid, parent;
};

#define RECORDER_FOUND_MAX 64

struct recorder {
	struct record_opts opts;
	struct tracer *tracer;
	struct recproc **procs; /* [0] is the target while it is recorded */
	size_t nprocs, cap;
	struct pending *pend; /* events from the tracer, handled at the tick */
	size_t npend, pend_cap;
	pid_t *watched; /* traced, not Python (yet): followed through forks and execs */
	size_t nwatched, watched_cap;
	struct recorder_done *done; /* processes whose recording ended, in that order */
	size_t ndone, done_cap;
	pid_t found[RECORDER_FOUND_MAX]; /* existing children recorded at the start */
	size_t nfound;
	double loop_hz;	       /* the loop's rate: the larger of the two rates */
	double next_stack;     /* monotonic time of the next stack sample */
	double next_flush;     /* monotonic time of the next flush of every file */
	uint64_t children;     /* child processes recorded */
	uint64_t turns;	       /* burst turns given: ticks without a stack sample */
	int status;	       /* the target's wait status, kept when the tracer stops */
	struct cpuavoid avoid; /* the loop kept off the CPUs the processes ran on */
};

struct recproc *rectree_find(struct recorder *r, pid_t pid, size_t *index);
void rectree_add(struct recorder *r, struct recproc *p);
/* May one more process get memory micro-samples (at most RECORD_MICRO_PROCS do)? */
int rectree_micro_room(const struct recorder *r);
void rectree_warn(const struct recorder *r, const char *what, pid_t pid, const struct tg_err *err);

/* After the attach, with fork following: seize the target's descendants that already
 * exist (each before its own children are listed, so that any it forks meanwhile is
 * attached by the kernel) and record those that run Python; the others are followed when
 * Python runs below them, else let go.  Their pids go to r->found. */
void rectree_adopt(struct recorder *r);
/* The watched processes: not Python, traced only to follow their forks and execs (a
 * launched command, a shell or supervisor above Python processes).  rectree_unwatch: 1
 * when pid was watched. */
void rectree_watch(struct recorder *r, pid_t pid);
int rectree_watched(const struct recorder *r, pid_t pid);
int rectree_unwatch(struct recorder *r, pid_t pid);
/* Has pid a descendant that runs Python (by its executable)? */
int rectree_python_below(pid_t pid);
/* The launcher: start r->opts.command traced from its first instruction (it waits, is
 * seized by the tracer thread, then execs); r->opts.pid becomes its pid and it is
 * watched until it runs Python.  0, or -1 with err (nothing left running). */
int rectree_launch(struct recorder *r, struct tg_err *err);

#endif
