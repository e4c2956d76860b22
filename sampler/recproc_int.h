/* recproc_int.h: a recorded process's state, shared by recproc.c (its run) and
 * recproc_meta.c (its meta file).  Not an API: recproc.h is. */
#ifndef TG_RECPROC_INT_H
#define TG_RECPROC_INT_H

#include "common/buf.h"
#include "sampler/memtrack.h"
#include "sampler/natstack.h"
#include "sampler/recproc.h"
#include "sampler/session.h"
#include "sampler/tracker.h"
#include "sampler/walk.h"

struct recproc {
	const struct record_opts *opts;
	pid_t pid, parent;
	int micro; /* memory micro-samples between stack samples */
	struct session s;
	struct output *out;
	struct tracker *tracker;
	struct memtrack *mem;
	struct natstack *nat;  /* --profile c|both */
	struct tracer *tracer; /* stops a thread for its native stack */
	int held;	       /* every thread is held for this sample (--consistent) */
	pid_t *tids;	       /* the sample's threads, for the tracer to stop in turn */
	size_t tids_cap;
	int one_fresh; /* `one` holds the Python frames read while a thread was held */
	struct walk_sample sample;
	struct walk_sample one, again; /* a thread walked between samples; a second walk */
	int64_t *charged;
	size_t charged_cap;
	double last_process_row;
	uint64_t samples, failed_samples;
	uint64_t in_c_vain; /* a state read running C only whose walk did not end its calls: not
			       walked again while the readings still read it so, until the next
			       stack sample (0: none) */
	uint64_t paused_samples, pause_missed; /* --consistent */
	uint64_t native_missed;		       /* threads whose native stack was not read */
	uint64_t native_holds;		       /* threads stopped alone for it */
	double native_held_s;		       /* from each stop asked to the thread let go */
	double native_work_s;		       /* of which the unwind and walk while it was held */
	uint64_t closed_at_end;		       /* frames still running when recording ended */
	struct tracker_counts freed;	       /* of trackers freed (exec) */
	double ended;			       /* when the recording of it ended (Unix time) */
	double paused_s;
	size_t last_nthreads;
	double started;
	double exec_since; /* > 0: exec'd into Python, interpreter not found yet */
	struct buf cmdline;
};

/* meta, rewritten whole (final: the recording ended, its totals are in). */
int recproc_write_meta(struct recproc *p, int final, struct tg_err *err);
/* process.alloc's header for this run. */
int recproc_write_alloc_header(struct recproc *p, struct tg_err *err);

/* Thread names for the tracker (tracker_name_fn, ctx the recproc): the session's, and one
 * read again from the thread registry for a thread the last stack sample did not list. */
int recproc_thread_name(void *ctx, const struct walk_thread *th, struct buf *out);
int recproc_fresh_thread_name(void *ctx, const struct walk_thread *th, struct buf *out);
/* A walk that would end a long-running call, checked against a second walk (recproc.c). */
void recproc_confirm_walk(struct recproc *p, struct walk_thread *th, double now);

/* recproc_micro.c: one micro-sample, each change charged to the stacks of the threads that
 * made it (1 when the target is gone, -1 on error); a burst of them, when one is due. */
int recproc_micro_once(struct recproc *p, struct tg_err *err);
int recproc_micro_tick(struct recproc *p, struct tg_err *err);

#endif
