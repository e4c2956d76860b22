#include "sampler/tracker.h"

#include <stdlib.h>
#include <string.h>

#include "common/tgline.h"
#include "sampler/tracker_int.h"

#define RETIRE_AFTER 3
/* A thread's outermost frame is old once it has been seen this many times over at least
 * this long; a walk that replaces it is suspect until every walk for HOLD_S agrees.  A walk
 * of a running thread can miss frames (the interpreter caught while it links a new frame,
 * where a descheduled thread can stay for milliseconds, so that two walks in a row agree),
 * and a long-lived frame that "returns" by mistake takes everything charged since its call
 * with it. */
#define OLD_SIGHTINGS 3
#define OLD_AGE_S 0.02
#define HOLD_S 0.1
#define FROM_C_NEAR 1 /* new frames looked at for one entered from C: the first */
/* Returns are written this long after they are seen: a release seen meanwhile is theirs.
 * A call frees its locals as it returns, and freeing many objects outlasts the moment the
 * walk saw it return: the rest of the release shows in the next readings, while the
 * caller already runs something else. */
#define RELEASE_WINDOW_S 0.0005
#define CHARGE_EVERY 0.1 /* s: how often a thread's total goes to process.charge at most */

static int frame_kept(const struct tracker *tk, const char *file)
{
	return !tk->filter || strncmp(file, tk->filter, tk->filter_len) == 0;
}

/* Number of leading (outermost) frames that are the same calls as in the last sample. */
static size_t common_prefix(const struct tthread *t, const struct walk_thread *th)
{
	size_t n = th->depth < t->depth ? th->depth : t->depth;
	size_t k = 0;

	for (; k < n; k++) {
		const struct walk_frame *now = &th->frames[th->depth - 1 - k];
		const struct tframe *was = &t->frames[k];
		if (now->addr != was->addr || now->code != was->code)
			break;
		if (k > 0 && th->frames[th->depth - k].pos != t->frames[k - 1].pos)
			break;
	}
	return k;
}

static size_t kept_depth(const struct tthread *t, size_t upto)
{
	size_t d = 0;

	for (size_t i = 0; i < upto; i++)
		d += t->frames[i].kept;
	return d;
}

/* Write the returns held back, in the order they were seen. */
static int flush_returns(struct tracker *tk, struct tthread *t, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < t->npend; i++) {
		const struct tframe *f = &t->pend[i].f;
		if (output_return(tk->out, t->out, t->pend_when, f->file, f->line, f->func,
				  t->pend[i].delta, rc < 0 ? NULL : err) < 0)
			rc = -1;
	}
	t->npend = 0;
	return rc;
}

/* The calls above depth keep returned at `when`: held back for RELEASE_WINDOW_S (see
 * note_before); the end of a thread or of the recording writes them at once. */
static int emit_returns(struct tracker *tk, struct tthread *t, size_t keep, double when,
			struct tg_err *err)
{
	if (t->depth > keep && flush_returns(tk, t, err) < 0)
		return -1;
	if (t->depth > keep) {
		t->pend_when = when;
		t->pend_base = keep;
	}
	while (t->depth > keep) {
		const struct tframe *f = &t->frames[--t->depth];
		if (!f->kept)
			continue;
		if (t->npend == PENDING_RETURNS && flush_returns(tk, t, err) < 0)
			return -1;
		t->pend[t->npend++] = (struct pending_return){*f, t->mem - f->mem_at_call};
	}
	return 0;
}

/* A thread's last returns, and those held back, written now (it ended, or the recording). */
static int end_returns(struct tracker *tk, struct tthread *t, double when, struct tg_err *err)
{
	int rc = emit_returns(tk, t, 0, when, err);

	if (flush_returns(tk, t, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

/* A change charged to the stack before this sighting (a release, or growth of a thread
 * that let go of the GIL since) soon after calls returned is theirs (a release: their
 * locals, freed as they returned, after their frames left the chain); the calls still
 * open get it too, as their callers.  Unless their caller had made another call by the
 * last sighting: it could not before the returned calls' locals were freed, so the change
 * is that call's, on the stack before.  (Charged to both, it counted twice among the
 * caller's callees, and the caller's own share, its delta less theirs, showed the opposite
 * of it.)  Returns held longer are written. */
static int note_before(struct tracker *tk, struct tthread *t, int64_t charged, double when,
		       struct tg_err *err)
{
	if (t->npend && when - t->pend_when > RELEASE_WINDOW_S && flush_returns(tk, t, err) < 0)
		return -1;
	if (t->pend_base < t->depth) /* called since: the stack before is the one */
		return 0;
	for (size_t i = 0; charged != 0 && i < t->npend; i++)
		t->pend[i].delta += charged;
	return 0;
}

static int emit_calls(struct tracker *tk, struct tthread *t, const struct walk_thread *th,
		      double when, struct tg_err *err)
{
	size_t depth = kept_depth(t, t->depth);

	while (t->depth < th->depth) {
		const struct walk_frame *w = &th->frames[th->depth - 1 - t->depth];
		struct tframe *f = &t->frames[t->depth++];
		f->addr = w->addr;
		f->code = w->code;
		f->pos = w->pos;
		f->file = tracker_intern(&tk->names, w->code_info->file);
		f->func = tracker_intern(&tk->names, w->code_info->func);
		f->line = w->line;
		f->kept = frame_kept(tk, f->file);
		f->mem_at_call = t->mem;
		/* frames running when the recording began are as old as they come */
		f->first_when = t->from_start ? when - OLD_AGE_S : when;
		f->sightings = t->from_start ? OLD_SIGHTINGS : 0;
		if (f->kept && output_call(tk->out, t->out, when, (int)depth++, f->file, f->line,
					   f->func, err) < 0)
			return -1;
	}
	return 0;
}

static void note_positions(struct tthread *t, const struct walk_thread *th)
{
	for (size_t k = 0; k < t->depth; k++) {
		const struct walk_frame *w = &th->frames[th->depth - 1 - k];
		t->frames[k].pos = w->pos;
		t->frames[k].line = w->line;
		t->frames[k].sightings++;
	}
}

/* Would feeding th end an old call of t, in a way a torn walk shows?  A walk can catch the
 * interpreter linking a frame called from C (3.12+: the new frame's entry frame, whose link
 * to its caller is set a moment later and holds a stale value until then; 3.13 runs slots
 * such as __getattr__ that way): the walk goes from the new frame straight to an older
 * one, and the calls in between seem to end.  A thread descheduled there shows it for
 * milliseconds, to several walks in a row.  So the suspect walks are those with a frame
 * entered from C among their first new ones (the torn link can also land on a stale frame
 * that is no longer on the stack, above which the new frame shows), and those that replace
 * a thread's outermost call, which ends only when the thread does.  Other ends of old
 * calls (a worker's wait ending) are common and are taken at once. */
static int entered_from_c(const struct walk_thread *th, size_t keep)
{
	for (size_t k = keep; k < th->depth && k < keep + FROM_C_NEAR; k++)
		if (th->frames[th->depth - 1 - k].from_c)
			return 1;
	return 0;
}

static int suspect(const struct tthread *t, const struct walk_thread *th, size_t keep, double when)
{
	if (keep == t->depth)
		return 0;
	if (keep > 0 && !entered_from_c(th, keep))
		return 0;
	for (size_t k = keep; k < t->depth; k++)
		if (t->frames[k].sightings >= OLD_SIGHTINGS &&
		    when - t->frames[k].first_when >= OLD_AGE_S)
			return 1;
	return 0;
}

/* Is th's stack held back: it would return an old frame, and walks have not agreed on that
 * for HOLD_S yet? */
static int held(struct tracker *tk, struct tthread *t, const struct walk_thread *th, size_t keep,
		double when)
{
	if (!suspect(t, th, keep, when)) {
		t->hold_since = 0;
		return 0;
	}
	if (!t->hold_since) {
		t->hold_since = when;
		tk->counts.suspect_returns++;
	}
	if (when - t->hold_since >= HOLD_S) {
		t->hold_since = 0;
		return 0;
	}
	tk->counts.held_walks++;
	return 1;
}

/* th, with keep frames in common with the last sighting t, only adds calls to it. */
static int only_calls(const struct tthread *t, const struct walk_thread *th, size_t keep)
{
	return !th->truncated && keep == t->depth && th->depth > keep;
}

/* Growth seen when calls of the last sighting have returned since: part of it may be
 * theirs, made before they returned, the rest the stack's now.  Between two readings
 * (micro-samples) the growth was made over the last `span` seconds, since the reading
 * before, which saw none; when the calls returned is unknown, anywhere since the sighting.
 * Taken as uniform, it fell within the span with probability span / (time since the
 * sighting), and then halfway through it on average: the calls returned (the stack
 * before) get half the growth times that probability.  Charged all to the stack now, the
 * tail of a call that grew until it returned went to the next call: a Pool worker's
 * crunch(), seen on its first line (a bytearray), had 9 - 14 % of the growth, made by
 * build_payload() before it.  What changed after the walk (a reading again) is the
 * stack's now, and not shared. */
#define SPAN_ALL (-1.0)
/* The walk did not read where the thread is: torn, or no frame at a moment a new C frame's
 * links may be in flux (walk_thread.no_frames tells a thread running C only). */
static int unread(const struct walk_thread *th)
{
	return th->truncated || (th->depth == 0 && !th->no_frames);
}

static int64_t tail_share(const struct tthread *t, const struct walk_thread *th, size_t keep,
			  int64_t charged, double span, double when)
{
	double since = when - t->last_when;

	if (charged <= 0 || span <= 0 || since <= 0 || unread(th) || t->depth == 0 ||
	    keep == t->depth)
		return 0;
	double p = span >= since ? 1.0 : span / since;
	return (int64_t)((double)charged * p / 2);
}

/* At a stack sample (span SPAN_ALL) the change is the exact value's rest: made over the
 * whole time since the last exact value, it is what the readings could not see (blocks
 * put in and taken from pools already in use) and the luck of where bursts fell.  The
 * thread's last sighting (most often at a change it made) and its stack now are two
 * moments of it, and get half each, growth or release alike: the rest holds the objects
 * that the call running at each end has alive then, with a plus at the end where they are
 * seen and a minus at the next sample's rest, and half to each end nets them out.  A
 * release given whole to the stack before (as a reading's is) went to the last sighting,
 * most often at a change, and growth to the stack now: in a log of the Pool on Debian's
 * 3.11 the rests gave crunch() 12 - 19 MB more of releases than of growth.  Fitted on the
 * workers' pace, which sets it most, the Pool's churn at 95 MB of growth came to +0.2 %
 * against -2.2 % (docs/memory.md has the measures). */
static int64_t rest_share(const struct tthread *t, const struct walk_thread *th, int64_t charged)
{
	if (unread(th) || t->depth == 0)
		return 0;
	return charged / 2;
}

/* Growth made by code that ran unseen under the stack of the thread's last sighting, which
 * it is back at (tracker_charge's ran_unseen): which of the frames' lines, or of the calls
 * they made and that returned since, made it, is unknown.  It goes to a call of its own
 * under the innermost frame, written just before this sighting, so that every frame on
 * the stack is charged it (NET) and none as its own.  Only when the stack is the last
 * sighting's and that sighting is older than the readings' span: the call is written
 * after every line the thread has. */
#define UNSEEN_CALL_S 5e-6 /* the call's line that long before its return's */
static int unseen(const struct tracker *tk, const struct tthread *t, const struct walk_thread *th,
		  const struct tracker_charge *c, size_t keep, int64_t charged, double when)
{
	/* with --filter the call is not the filter's: the growth goes to the innermost frame
	 * kept, as a filtered frame's does */
	return frame_kept(tk, TG_UNSEEN_FILE) && c->ran_unseen && c->growth_before && charged > 0 &&
	       !th->truncated && th->depth > 0 && keep == t->depth && keep == th->depth &&
	       c->span > 0 && when - t->last_when >= c->span;
}

static int charge_unseen(struct tracker *tk, struct tthread *t, int64_t charged, double when,
			 struct tg_err *err)
{
	if (flush_returns(tk, t, err) < 0 ||
	    output_call(tk->out, t->out, when - UNSEEN_CALL_S, (int)kept_depth(t, t->depth),
			TG_UNSEEN_FILE, 0, TG_UNSEEN_FUNC, err) < 0 ||
	    output_return(tk->out, t->out, when, TG_UNSEEN_FILE, 0, TG_UNSEEN_FUNC, charged, err) <
		0)
		return -1;
	t->mem += charged;
	t->seen = tk->samples;
	t->last_when = when;
	tk->counts.unseen_bytes += charged;
	tk->counts.unseen_charges++;
	return 0;
}

/* Which frame of the stack now called the call the thread was in at the start of the
 * change's span (tracker_charge's pos_before and frame_before: the top of its data stack and
 * its innermost frame, 3.11+), when that call has returned since and left its place on the
 * data stack to a frame now: the index in th->frames (0 the innermost) of the frame outside
 * that one, or -1.  A frame now at that address that ends where the data stack did is the
 * same frame (or one just like it): the thread was in a frame it still has.  A call found
 * nowhere was one the frames now made and that returned (its caller's own growth), or one
 * outside the data stack (a generator's): -1 as well. */
static long returned_caller(const struct walk_thread *th, const struct tracker_charge *c)
{
	if (!c->pos_before || !c->frame_before || unread(th) || th->depth == 0)
		return -1;
	for (size_t i = 0; i < th->depth; i++) {
		const struct walk_frame *f = &th->frames[i];
		if (f->native || f->addr != c->frame_before)
			continue;
		uint64_t end = walk_frame_end(f);
		if (!end || end == c->pos_before)
			return -1;
		for (size_t j = i + 1; j < th->depth; j++)
			if (!th->frames[j].native)
				return (long)j;
		return -1;
	}
	return -1;
}

/* Growth seen in new calls, made over a span that began in a call which has returned since
 * (returned_caller), called by the innermost frame of the thread's last sighting, whose calls
 * are all still open: the returned call, never seen, ran in the span too, and made the
 * growth as likely as the calls seen now (its end uniform in the span: half).  That half
 * goes to a call of its own under that frame, as growth run unseen does (charge_unseen).
 * Charged all to the calls now, the pools a multiprocessing.Pool task's build_payload()
 * took at its end went to the crunch() called next, whose growth then exceeded its release
 * (docs/memory.md). */
static int64_t returned_unseen(const struct tracker *tk, const struct tthread *t,
			       const struct walk_thread *th, const struct tracker_charge *c,
			       size_t keep, int64_t charged)
{
	int64_t made = c->bytes < charged ? c->bytes : charged;

	if (made <= 0 || keep == 0 || keep != t->depth || th->depth <= keep ||
	    !frame_kept(tk, TG_UNSEEN_FILE))
		return 0;
	long caller = returned_caller(th, c);
	return caller >= 0 && th->depth - 1 - (size_t)caller == keep - 1 ? made / 2 : 0;
}

/* Growth of a thread that let go of the GIL since goes to the stack seen before (below),
 * unless that sighting is older than STALE_S and its calls have returned since and others
 * were called: then they were blocked (a worker waiting for a task) and the growth is the
 * new calls' (the task it ran, now asleep in it).  Measured on `make demo`'s workers, whose
 * churn() grows, sleeps and frees: its first growth went to the wait for the task before
 * (a wait charged +15.8 MB, churn() -15.5 MB: docs/memory.md). */
#define STALE_S 0.001
static int stale_before(const struct tthread *t, const struct walk_thread *th, size_t keep,
			double when)
{
	return keep < t->depth && th->depth > keep && when - t->last_when > STALE_S;
}

/* Does a change seen between samples go to the stack before this sighting (feed_thread)?
 * Not at a thread's first sighting, which has no stack before it: all goes to its stack
 * now (charged to no call, it counted in its total and in none of its calls). */
static int goes_before(const struct tthread *t, const struct walk_thread *th,
		       const struct tracker_charge *c, size_t keep, int64_t charged, double when)
{
	int runs_new = c->runs_free && only_calls(t, th, keep);

	if (c->span == SPAN_ALL || t->last_when == 0)
		return 0;
	return charged < 0 ||
	       (charged > 0 && c->growth_before && !runs_new && !stale_before(t, th, keep, when));
}

/* The change charged at this sighting goes to the stack as it is now: every frame on it
 * (inclusively, through the deltas of their returns), the innermost as its own; or, a
 * release, or growth_before, to the stack as it was before; a stack sample's rest half to
 * each (rest_share). */
static int feed_thread(struct tracker *tk, struct tthread *t, const struct walk_thread *th,
		       const struct tracker_charge *c, double when, struct tg_err *err)
{
	int64_t charged = c->bytes + c->after;
	/* a sighting timed before the last one (a caller's clock read early) is taken as at
	 * the last one: lines written back in time would no longer follow one another */
	if (when < t->last_when)
		when = t->last_when;
	/* A release goes to the stack as it was before this sighting: CPython frees a call's
	 * locals as it returns, after its frame left the chain, so the calls that just
	 * returned are those that released.  Growth goes to the stack as it is now: memory is
	 * allocated by running code; but a thread that has let go of the GIL since made it
	 * before it did (growth_before), in the calls seen before or those that returned;
	 * unless it runs all the same (runs_free: a hash, a compression without the GIL) and
	 * has only made calls since: then the calls it runs made it (their input), as a
	 * thread asleep in a wait made nothing of what its wait would be charged. */
	size_t keep = th->truncated ? 0 : common_prefix(t, th); /* the frames kept */
	if (unseen(tk, t, th, c, keep, charged, when)) {
		note_positions(t, th);
		return charge_unseen(tk, t, charged, when, err);
	}
	int rest = c->span == SPAN_ALL;
	int before = goes_before(t, th, c, keep, charged, when);
	int64_t early = before ? charged
			: rest ? rest_share(t, th, charged - c->now)
			       : tail_share(t, th, keep, c->bytes < charged ? c->bytes : charged,
					    c->span, when);
	int64_t unseen_half = before || rest ? 0 : returned_unseen(tk, t, th, c, keep, charged);
	if (unseen_half) {
		if (charge_unseen(tk, t, unseen_half, when, err) < 0)
			return -1;
		charged -= unseen_half;
	}
	t->seen = tk->samples;
	t->last_when = when;
	if (note_before(tk, t, early, when, err) < 0)
		return -1;
	t->mem += early;
	charged -= early;
	/* a torn or cut chain would show as spurious returns and calls; and a walk that finds
	 * no frame at all in a thread that had some may be a moment the interpreter's own
	 * links are in flux (3.11 and 3.12 set a new C frame's current frame just after
	 * linking it), unless it read the thread running C only (no_frames: an embedding
	 * server between requests, whose calls then end; until December 2026 uWSGI's
	 * Flask.__call__ of ~6,000 requests showed as 8 calls, and what its C code allocated
	 * between requests went to the last request's innermost call); such a walk is no
	 * torn link, and is not held back as one (held) */
	int in_c = th->depth == 0 && th->no_frames;
	if (!th->truncated && !(th->depth == 0 && t->depth > 0 && !in_c) &&
	    (in_c || !held(tk, t, th, keep, when))) {
		if (emit_returns(tk, t, keep, when, err) < 0)
			return -1;
		note_positions(t, th);
		if (emit_calls(tk, t, th, when, err) < 0)
			return -1;
		t->from_start = 0;
	}
	t->mem += charged;
	return 0;
}

int tracker_has_frames(struct tracker *tk, const struct walk_thread *th)
{
	const struct tthread *t = tracker_find_thread(tk, th);

	return t && t->depth > 0;
}

int tracker_only_calls(const struct tracker *tk, const struct walk_thread *th)
{
	const struct tthread *t = tracker_find_thread((struct tracker *)tk, th);

	return t && only_calls(t, th, common_prefix(t, th));
}

int tracker_ends_old(const struct tracker *tk, const struct walk_thread *th, double when,
		     size_t *prefix)
{
	const struct tthread *t = tracker_find_thread((struct tracker *)tk, th);

	*prefix = 0;
	if (!t || th->truncated || th->depth == 0)
		return 0;
	size_t keep = common_prefix(t, th);
	*prefix = keep;
	for (size_t k = keep; k < t->depth; k++)
		if (t->frames[k].sightings >= OLD_SIGHTINGS &&
		    when - t->frames[k].first_when >= OLD_AGE_S)
			return 1;
	return 0;
}

void tracker_counts_add(const struct tracker *tk, struct tracker_counts *sum)
{
	sum->suspect_returns += tk->counts.suspect_returns;
	sum->held_walks += tk->counts.held_walks;
	sum->unseen_bytes += tk->counts.unseen_bytes;
	sum->unseen_charges += tk->counts.unseen_charges;
}

int tracker_feed_one(struct tracker *tk, const struct walk_thread *th,
		     const struct tracker_charge *c, double when, tracker_name_fn name_fn,
		     void *ctx, struct tg_err *err)
{
	struct tthread *t = tracker_find_thread(tk, th);

	if (!t && !(name_fn && (t = tracker_add_thread(tk, th, name_fn, ctx))))
		return 0;
	return feed_thread(tk, t, th, c, when, err) < 0 ? -1 : 1;
}

/* process.charge: the thread's total when it moved, at most every CHARGE_EVERY seconds,
 * and always as it ends (last). */
static int write_charge(struct tracker *tk, struct tthread *t, double when, int last,
			struct tg_err *err)
{
	if (t->mem == t->mem_written ||
	    (!last && t->charge_at > 0 && when - t->charge_at < CHARGE_EVERY))
		return 0;
	t->mem_written = t->mem;
	t->charge_at = when;
	return output_charge(tk->out, t->out, when, t->mem, err);
}

/* Threads missing from the last RETIRE_AFTER samples have ended (one missing sample may
 * be a torn read of the thread list): all their frames returned, by the time they were
 * last seen. */
static int retire_threads(struct tracker *tk, struct tg_err *err)
{
	size_t keep = 0;
	int rc = 0;

	for (size_t i = 0; i < tk->nthreads; i++) {
		struct tthread *t = tk->threads[i];
		if (tk->samples - t->seen < RETIRE_AFTER) {
			tk->threads[keep++] = t;
			continue;
		}
		if (end_returns(tk, t, t->last_when, err) < 0 ||
		    write_charge(tk, t, t->last_when, 1, rc < 0 ? NULL : err) < 0)
			rc = -1;
		if (output_thread_done(tk->out, t->out, rc < 0 ? NULL : err) < 0)
			rc = -1;
		free(t);
	}
	tk->nthreads = keep;
	return rc;
}

int tracker_end_all(struct tracker *tk, double when, size_t *closed, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < tk->nthreads; i++) {
		struct tthread *t = tk->threads[i];
		if (closed)
			*closed += kept_depth(t, t->depth);
		if (end_returns(tk, t, when, rc < 0 ? NULL : err) < 0 ||
		    write_charge(tk, t, when, 1, rc < 0 ? NULL : err) < 0)
			rc = -1;
		if (output_thread_done(tk->out, t->out, rc < 0 ? NULL : err) < 0)
			rc = -1;
		free(t);
	}
	tk->nthreads = 0;
	return rc;
}

int tracker_feed(struct tracker *tk, const struct walk_sample *s, const int64_t *charged,
		 const int64_t *now_part, double when, tracker_name_fn name_fn, void *ctx,
		 struct tg_err *err)
{
	tk->samples++;
	tracker_pending_prune(tk);
	for (size_t i = 0; i < s->nthreads; i++) { /* those still here, before any is added */
		struct tthread *t = tracker_find_thread(tk, &s->threads[i]);
		if (t)
			t->seen = tk->samples;
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct walk_thread *th = &s->threads[i];
		struct tthread *t = tracker_find_thread(tk, th);
		if (!t && (tracker_identity_taken(s, i) ||
			   !(t = tracker_add_thread(tk, th, name_fn, ctx))))
			continue;
		struct tracker_charge c = {.bytes = charged ? charged[i] : 0,
					   .span = SPAN_ALL,
					   .now = now_part ? now_part[i] : 0};
		if (feed_thread(tk, t, th, &c, when, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < tk->nthreads; i++) /* charges between samples included */
		if (write_charge(tk, tk->threads[i], when, 0, err) < 0)
			return -1;
	return retire_threads(tk, err);
}
