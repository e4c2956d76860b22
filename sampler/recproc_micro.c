/* recproc_micro.c: a recorded process's micro-samples (bursts of readings, docs/memory.md):
 * each change charged to the stacks of the threads that made it, walked at that moment
 * (recproc_int.h). */
#include "sampler/recproc_int.h"
#include "common/clock.h"
#include "sampler/memtrack.h"
#include "sampler/tracker.h"

/* Threads a micro-sample's change may be split over (each one's stack is walked). */
#define MICRO_SHARES 4

/* Does another thread state of the last stack sample have th's identity: its kernel TID
 * when th has one, else its ident?  A new thread's state, created in its creator's thread
 * (3.11+; before, its ident), carries the creator's.  An ident alone does not tell when
 * the TID is known: glibc reuses an ended thread's stack, and so its ident, for the next
 * thread at once (a server's thread per request), while the sample may still list it. */
static int identity_of_another(const struct recproc *p, const struct walk_thread *th)
{
	for (size_t i = 0; i < p->sample.nthreads; i++) {
		const struct walk_thread *o = &p->sample.threads[i];
		if (o->tstate != th->tstate && o->interp == th->interp &&
		    (th->native_id > 0 ? o->native_id == th->native_id
				       : o->thread_id == th->thread_id))
			return 1;
	}
	return 0;
}

static const struct walk_thread *sampled_thread(const struct recproc *p, uint64_t tstate)
{
	for (size_t i = 0; i < p->sample.nthreads; i++)
		if (p->sample.threads[i].tstate == tstate)
			return &p->sample.threads[i];
	return NULL;
}

/* A micro-sample's share, charged to its thread's stack as it is now, with what the thread
 * could not be charged a moment before (a walk that found no frame yet, a name not read
 * yet).  A thread started since the last stack sample (a server's thread per request) is
 * walked and named all the same, from the registry read again for it: a name the registry
 * does not confirm (no entry yet, or one whose TID is another thread's) waits, and its
 * charge with it, for the thread's next share or the stack sample. */
static int charge_share(struct recproc *p, const struct attrib_share *sh, double now, int sole,
			struct tg_err *err)
{
	const struct walk_thread *known = sampled_thread(p, sh->tstate);
	struct walk_thread fresh = {.tstate = sh->tstate};
	int64_t bytes = sh->bytes + memtrack_take_kept(p->mem, sh->tstate);
	int rc = 0;
	uint64_t frame = 0, pos = sole ? memtrack_span_pos(p->mem, sh->tstate, &frame) : 0;

	/* the holder's frames as the reading copied them, when it did (memtrack_stack) */
	struct stackcopy_taken copy;
	const struct stackcopy_taken *at =
	    memtrack_stack(p->mem, sh->tstate, &copy) == 0 ? &copy : NULL;
	int rc_walk = walker_walk_thread_at(p->s.walker, known ? known : &fresh, at, &p->one);
	if (rc_walk < 0 && known) { /* the state is another thread's now (bound, or reused) */
		rc_walk = walker_walk_thread_at(p->s.walker, &fresh, at, &p->one);
		if (rc_walk >= 0 && p->one.threads[0].thread_id == known->thread_id &&
		    p->one.threads[0].native_id == known->native_id)
			rc_walk = -1;
		known = NULL;
	}
	int walked = rc_walk >= 0;
	/* a state read through a stale holder pointer may be a new thread's, created in its
	 * creator's thread with the creator's identity (3.11+): it is not a thread yet, and
	 * taken for one it would carry on the creator's files with another stack */
	if (walked && !known && identity_of_another(p, &p->one.threads[0]))
		walked = 0;
	if (walked) {
		if (!known)
			memtrack_adopt(p->mem, sh->tstate, p->one.threads[0].native_id);
		recproc_confirm_walk(p, &p->one.threads[0], now);
		struct tracker_charge c = {.bytes = bytes,
					   .growth_before = !sh->running,
					   .ran_unseen = sole && sh->ran_unseen,
					   .pos_before = pos,
					   .frame_before = frame};
		/* grown by it alone, without the GIL held now: in new calls that run
		 * (tracker.h)?  A share of a split is not asked: a thread that computes
		 * without the GIL has CPU time, and takes shares of others' changes */
		if (sole && c.growth_before && bytes > 0 &&
		    tracker_only_calls(p->tracker, &p->one.threads[0]))
			c.runs_free =
			    memtrack_thread_runs(p->mem, p->one.threads[0].native_id) == 1;
		/* what changed while it was walked is its too (memtrack.h); a walk of the
		 * reading's copy shows the stack at the reading: the next span starts there */
		if (sole && rc_walk == 0)
			c.after = memtrack_micro_again(p->mem, sh->tstate);
		c.span = memtrack_span(p->mem);
		rc = tracker_feed_one(p->tracker, &p->one.threads[0], &c, now,
				      known ? recproc_thread_name : NULL, p, err);
		if (rc == 0) /* not written yet: named from the registry read again for it */
			rc = tracker_feed_one(p->tracker, &p->one.threads[0], &c, now,
					      recproc_fresh_thread_name, p, err);
		bytes += c.after;
	}
	if (rc == 0)
		memtrack_keep(p->mem, sh->tstate, bytes);
	return rc < 0 ? -1 : 0;
}

/* A reading that began a chain (a burst after a gap: the processes of a tree take turns)
 * charges nothing, and the threads are seen there: a release soon after goes to the stack
 * its thread has now, not to one seen before the gap (a Pool worker's crunch(), called
 * since the stack sample before the burst, and freeing its strings at the burst's start,
 * had its release charged to the call before it). */
static int sight_threads(struct recproc *p, double now, struct tg_err *err)
{
	for (size_t i = 0; i < p->sample.nthreads; i++) {
		if (walker_walk_thread(p->s.walker, &p->sample.threads[i], &p->one) != 0)
			continue;
		/* a torn walk must not end a long-running call here either */
		recproc_confirm_walk(p, &p->one.threads[0], now);
		struct tracker_charge c = {0};
		if (tracker_feed_one(p->tracker, &p->one.threads[0], &c, now, recproc_thread_name,
				     p, err) < 0)
			return -1;
	}
	return 0;
}

/* The thread that a reading saw running C only (memtrack_in_c: an embedding server such
 * as uWSGI between two requests), when its calls have not returned yet: walked, and its
 * calls ended when the walk confirms it (a steady walk without frames).  Until December
 * 2026 only a walk at a change or a stack sample could end them, and a request that made
 * no change seen and fell between stack samples merged with the next one: uWSGI's
 * Flask.__call__ showed 422 calls for about 8,000 requests. */
static int sight_in_c(struct recproc *p, uint64_t tstate, double now, struct tg_err *err)
{
	const struct walk_thread *known = sampled_thread(p, tstate);

	if (!known || tstate == p->in_c_vain || !tracker_has_frames(p->tracker, known))
		return 0;
	p->in_c_vain = tstate; /* until the walk confirms it */
	if (walker_walk_thread(p->s.walker, known, &p->one) != 0)
		return 0;
	const struct walk_thread *th = &p->one.threads[0];
	if (th->depth || !th->no_frames || th->thread_id != known->thread_id ||
	    th->native_id != known->native_id)
		return 0;
	p->in_c_vain = 0;
	struct tracker_charge c = {0};
	return tracker_feed_one(p->tracker, th, &c, now, recproc_thread_name, p, err) < 0 ? -1 : 0;
}

/* One micro-sample: each change charged to the stacks of the threads that made it, as
 * they are at that moment.  1 when the target is gone. */
int recproc_micro_once(struct recproc *p, struct tg_err *err)
{
	struct attrib_share sh[MICRO_SHARES];
	size_t n;

	if (memtrack_micro(p->mem, sh, MICRO_SHARES, &n) != 0)
		return 1;
	double t0 = clock_mono_s(), now = clock_real_s();
	if (memtrack_chain_began(p->mem) && sight_threads(p, now, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (charge_share(p, &sh[i], now, n == 1, err) < 0)
			return -1;
	uint64_t in_c = memtrack_in_c(p->mem);
	if (in_c != p->in_c_vain) /* it ran Python since, or another one is read */
		p->in_c_vain = 0;
	if (in_c && sight_in_c(p, in_c, now, err) < 0)
		return -1;
	if (n)
		memtrack_micro_spent(p->mem, clock_mono_s() - t0);
	return 0;
}

/* A burst of micro-samples, when one is due. */
int recproc_micro_tick(struct recproc *p, struct tg_err *err)
{
	while (memtrack_burst(p->mem)) {
		int rc = recproc_micro_once(p, err);
		if (rc != 0)
			return rc;
		memtrack_burst_pace(p->mem);
	}
	return 0;
}
