/* tracker.h: successive samples of a thread's stack turned into call and return events.
 *
 * A frame is the same call from one sample to the next when its address and code object
 * are the same and its caller is still at the same instruction (3.11+ frames live in a
 * reused stack, and older frame objects are recycled: a new call at the same address
 * shows as a moved caller).  Frames present now but not before are calls (outermost
 * first); frames gone are returns (innermost first), each with the memory charged to the
 * thread while it was on the stack.  A change is charged to the stack seen when it is
 * charged: every frame then open gets it, the innermost as its own.
 *
 * A thread is the same thread while its state, ident, TID and interpreter are: a new
 * thread's state, made by its creator with the creator's ident and TID (3.11+), is not
 * taken for the creator.  With a filter, only frames whose file
 * starts with the prefix produce events; the memory of the others falls to the nearest
 * kept caller, because a caller's delta spans its callees. */
#ifndef TG_TRACKER_H
#define TG_TRACKER_H

#include <stdint.h>

#include "common/err.h"
#include "sampler/output.h"
#include "sampler/walk.h"

struct tracker;

struct tracker *tracker_new(struct output *out, const char *filter_prefix);
void tracker_free(struct tracker *tk);

/* Name (UTF-8 bytes) of a thread, asked for when a thread is first seen.  Returns 1 for
 * the thread's own name (threading's), 0 for a fallback (the kernel's comm): a thread
 * that has only a fallback is held back for up to TRACKER_NAME_WAIT samples, since a
 * new thread enters threading's registry just after it starts. */
typedef int (*tracker_name_fn)(void *ctx, const struct walk_thread *th, struct buf *out);

#define TRACKER_NAME_WAIT 20

/* One sample at time `when`; charged[i] is the memory charged to s->threads[i] since the
 * previous sample, half to the stack of the thread's last sighting and half to its stack
 * now; now_part[i] (NULL: none) is a part of it that goes to the stack now alone. */
int tracker_feed(struct tracker *tk, const struct walk_sample *s, const int64_t *charged,
		 const int64_t *now_part, double when, tracker_name_fn name_fn, void *ctx,
		 struct tg_err *err);

/* What one sighting between samples charges: `bytes` (what the readings saw, and what
 * waited for the thread), `after` (changed after the walk, by the stack as it is now:
 * memtrack_micro_again), `growth_before` (the thread let go of the GIL since it grew, so
 * growth is the stack's as it was before), `runs_free` (with growth_before: the thread
 * runs all the same, in native code without the GIL, so growth made by calls it made
 * since its last sighting, none of which has returned, is the stack's now), `span` (the
 * seconds over which `bytes` was made, since the reading before; 0: unknown), `ran_unseen`
 * (with growth_before: the thread alone made it, and held no GIL at the reading before,
 * which came late, either: it took the GIL and let it go again in between, so growth found
 * at the very stack of its last sighting, not seen since, was made by code that ran unseen
 * under that stack: charged to its innermost frame, in a call of its own, TG_UNSEEN_*). */
struct tracker_charge {
	int64_t bytes;
	int64_t after;
	int growth_before;
	int runs_free;
	int ran_unseen;
	double span;
	int64_t now; /* at a stack sample: the part of bytes for the stack now alone */
	/* where the thread was at the start of the span (3.11+, memtrack_span_pos): the top
	 * of its data stack and its innermost frame; 0: unknown */
	uint64_t pos_before, frame_before;
};

/* One thread walked again between samples (walker_walk_thread): its calls and returns, and
 * the charge to its stack as it is now, or, a release or with growth_before, to its stack
 * as it was before this sighting.  Growth made over the span by a thread whose calls of
 * the last sighting have returned since is partly theirs (tracker.c, tail_share); what
 * changed after the walk is not.  A thread not written yet is added when name_fn is given
 * (as by tracker_feed).  1 when taken, 0 when the thread is not being written (unnamed
 * yet, or no name_fn): the caller keeps the bytes. */
int tracker_feed_one(struct tracker *tk, const struct walk_thread *th,
		     const struct tracker_charge *c, double when, tracker_name_fn name_fn,
		     void *ctx, struct tg_err *err);

/* Is th's stack its thread's last sighting with calls made since, none of its returned
 * (the case where runs_free above matters)?  1 or 0. */
int tracker_only_calls(const struct tracker *tk, const struct walk_thread *th);
/* Has th's thread frames open (calls not returned yet)?  1 or 0. */
int tracker_has_frames(struct tracker *tk, const struct walk_thread *th);

/* Would feeding th end a call that has run for long (seen three times over 20 ms)?  1 then,
 * with *prefix the number of outermost frames kept; the caller checks such a walk against
 * a second one. */
int tracker_ends_old(const struct tracker *tk, const struct walk_thread *th, double when,
		     size_t *prefix);

/* What a tracker counted: returns of long-running frames seen in a walk (suspect until
 * every walk for a tenth of a second agrees), walks held back meanwhile (that thread's
 * stack left as it was), and growth charged as run unseen (tracker_charge's ran_unseen:
 * bytes, and the charges). */
struct tracker_counts {
	uint64_t suspect_returns, held_walks;
	int64_t unseen_bytes;
	uint64_t unseen_charges;
};

/* tk's counts added to *sum. */
void tracker_counts_add(const struct tracker *tk, struct tracker_counts *sum);

/* Every frame of every thread returned now (the process exec'd, or the recording ends):
 * write the returns and forget the threads.  *closed (when given) is increased by the
 * number of returns written. */
int tracker_end_all(struct tracker *tk, double when, size_t *closed, struct tg_err *err);

/* Threads being written. */
size_t tracker_threads(const struct tracker *tk);
/* Threads held back because they have no name yet (the caller should re-read names). */
size_t tracker_pending(const struct tracker *tk);

#endif
