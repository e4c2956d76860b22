#include "sampler/tracker.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define TRACK_MAX_THREADS WALK_MAX_THREADS
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
#define PENDING_RETURNS 64

struct tframe {
	uint64_t addr, code;
	int64_t pos;	  /* instruction position at the last sample */
	const char *file; /* interned */
	const char *func; /* interned */
	int line;	  /* line at the last sample */
	int kept;	  /* passes the filter */
	int64_t mem_at_call;
	double first_when;  /* time of its call */
	uint32_t sightings; /* walks that saw it */
};

struct tthread {
	uint64_t tstate, interp, thread_id;
	uint64_t key;	    /* its writer's key (output_thread) */
	uint64_t name_hash; /* of the name it is written under */
	int64_t native_id;
	uint64_t seen;	     /* sample number of the last sighting */
	double last_when;    /* its time */
	int64_t mem;	     /* memory charged so far */
	int64_t mem_written; /* in process.charge */
	double charge_at;    /* when it was written there; 0: never */
	double hold_since;   /* a suspect return seen first then; 0: none */
	/* returns seen at pend_when, not written yet: a release seen soon after is theirs */
	struct pending_return {
		struct tframe f;
		int64_t delta;
	} pend[PENDING_RETURNS];
	size_t npend;
	double pend_when;
	struct output_thread *out;
	size_t depth;
	struct tframe frames[WALK_MAX_DEPTH]; /* [0] outermost */
};

/* Interned strings: file and function names live as long as the tracker, so frames can
 * outlive the code cache entry they came from.  Bounded by the number of distinct names. */
struct intern {
	char **slots;
	size_t cap, used;
};

struct pending {
	uint64_t thread_id;
	int64_t native_id;
	uint64_t first; /* sample number of the first sighting */
};

#define PENDING_MAX 256
#define CHARGE_EVERY 0.1 /* s: how often a thread's total goes to process.charge at most */
#define USED_NAMES 16384

struct tracker {
	struct output *out;
	struct pending pending[PENDING_MAX];
	size_t npending;
	char *filter;
	size_t filter_len;
	uint64_t samples;
	uint64_t suspect_returns, held_walks;
	struct tthread **threads;
	size_t nthreads;
	uint64_t used[USED_NAMES]; /* names written under (hashes) */
	size_t nused;
	struct intern names;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static const char *intern(struct intern *in, const char *s)
{
	if (in->used * 2 >= in->cap) {
		struct intern bigger = {xcalloc(in->cap ? in->cap * 2 : 1024, sizeof(char *)),
					in->cap ? in->cap * 2 : 1024, 0};
		for (size_t i = 0; i < in->cap; i++)
			if (in->slots[i])
				intern(&bigger, in->slots[i]), free(in->slots[i]);
		free(in->slots);
		*in = bigger;
	}
	size_t i = hash_str(s) & (in->cap - 1);
	while (in->slots[i] && strcmp(in->slots[i], s) != 0)
		i = (i + 1) & (in->cap - 1);
	if (!in->slots[i]) {
		in->slots[i] = xstrdup(s);
		in->used++;
	}
	return in->slots[i];
}

struct tracker *tracker_new(struct output *out, const char *filter_prefix)
{
	struct tracker *tk = xcalloc(1, sizeof *tk);

	tk->out = out;
	if (filter_prefix && *filter_prefix) {
		tk->filter = xstrdup(filter_prefix);
		tk->filter_len = strlen(filter_prefix);
	}
	tk->threads = xcalloc(TRACK_MAX_THREADS, sizeof *tk->threads);
	return tk;
}

void tracker_free(struct tracker *tk)
{
	if (!tk)
		return;
	for (size_t i = 0; i < tk->nthreads; i++)
		free(tk->threads[i]);
	for (size_t i = 0; i < tk->names.cap; i++)
		free(tk->names.slots[i]);
	free(tk->names.slots);
	free(tk->threads);
	free(tk->filter);
	free(tk);
}

size_t tracker_threads(const struct tracker *tk)
{
	return tk->nthreads;
}

size_t tracker_pending(const struct tracker *tk)
{
	return tk->npending;
}

static struct tthread *find_thread(struct tracker *tk, const struct walk_thread *th)
{
	for (size_t i = 0; i < tk->nthreads; i++) {
		struct tthread *t = tk->threads[i];
		/* a TID may be unknown at first sight (the task list not read again yet) */
		if (t->tstate == th->tstate && t->thread_id == th->thread_id &&
		    t->interp == th->interp &&
		    (t->native_id == th->native_id || t->native_id <= 0 || th->native_id <= 0)) {
			if (th->native_id > 0)
				t->native_id = th->native_id;
			return t;
		}
	}
	return NULL;
}

static void pending_drop(struct tracker *tk, const struct walk_thread *th)
{
	for (size_t i = 0; i < tk->npending; i++)
		if (tk->pending[i].thread_id == th->thread_id &&
		    tk->pending[i].native_id == th->native_id) {
			tk->pending[i] = tk->pending[--tk->npending];
			return;
		}
}

/* Forget threads that stayed unnamed and then vanished. */
static void pending_prune(struct tracker *tk)
{
	for (size_t i = 0; i < tk->npending;)
		if (tk->samples - tk->pending[i].first > 4 * TRACKER_NAME_WAIT)
			tk->pending[i] = tk->pending[--tk->npending];
		else
			i++;
}

/* Has this unnamed thread waited long enough to be written under a fallback name? */
static int waited_for_name(struct tracker *tk, const struct walk_thread *th)
{
	for (size_t i = 0; i < tk->npending; i++) {
		struct pending *p = &tk->pending[i];
		if (p->thread_id == th->thread_id && p->native_id == th->native_id) {
			if (tk->samples - p->first < TRACKER_NAME_WAIT)
				return 0;
			*p = tk->pending[--tk->npending];
			return 1;
		}
	}
	if (tk->npending == PENDING_MAX)
		return 1;
	tk->pending[tk->npending++] = (struct pending){th->thread_id, th->native_id, tk->samples};
	return 0;
}

/* The thread being written under the same writer key (kernel TID) as a new identity, if
 * any.  *busy when it is in this sample too: the new one is then not a thread of its own (a
 * state that carries another's identity for a moment).  Otherwise it is the same kernel
 * thread whose identity changed (its ident settled, its state was bound): a TID is reused
 * only after the kernel went round all of them, so it is the same thread. */
static struct tthread *same_tid(struct tracker *tk, const struct walk_thread *th, uint64_t key,
				int *busy)
{
	*busy = 0;
	for (size_t i = 0; i < tk->nthreads; i++) {
		struct tthread *t = tk->threads[i];
		if (t->key != key && !(th->native_id > 0 && t->native_id == th->native_id &&
				       t->interp == th->interp))
			continue;
		*busy = t->seen == tk->samples;
		return t;
	}
	return NULL;
}

static int name_live(const struct tracker *tk, uint64_t hash)
{
	for (size_t i = 0; i < tk->nthreads; i++)
		if (tk->threads[i]->name_hash == hash && tk->threads[i]->seen == tk->samples)
			return 1;
	return 0;
}

/* Names threads were written under in this run (hashes; forgotten all at once when full). */
static size_t used_slot(const struct tracker *tk, uint64_t hash)
{
	size_t i = (size_t)(hash * 0x9e3779b97f4a7c15ull >> 40) & (USED_NAMES - 1);

	while (tk->used[i] && tk->used[i] != hash)
		i = (i + 1) & (USED_NAMES - 1);
	return i;
}

static int name_used(const struct tracker *tk, uint64_t hash)
{
	return hash && tk->used[used_slot(tk, hash)] == hash;
}

static void name_use(struct tracker *tk, uint64_t hash)
{
	if (!hash || name_used(tk, hash))
		return;
	if (++tk->nused > USED_NAMES / 2) {
		memset(tk->used, 0, sizeof tk->used);
		tk->nused = 1;
	}
	tk->used[used_slot(tk, hash)] = hash;
}

static struct tthread *add_thread(struct tracker *tk, const struct walk_thread *th,
				  tracker_name_fn name_fn, void *ctx)
{
	struct buf name = BUF_INIT;

	uint64_t key = th->native_id > 0 ? (uint64_t)th->native_id : th->thread_id;
	/* one OS thread can hold a thread state in each of several interpreters: each is a
	 * stack of its own, with its own writer (a shared one would mix the stacks, and be
	 * freed when one of them ends) */
	if (th->interp_id > 0)
		key ^= (uint64_t)th->interp_id << 40;
	int busy;
	struct tthread *same = same_tid(tk, th, key, &busy);
	if (busy)
		return NULL;
	if (same) { /* it goes on under its new identity, in its own files */
		same->tstate = th->tstate;
		same->interp = th->interp;
		same->thread_id = th->thread_id;
		same->native_id = th->native_id;
		return same;
	}
	if (tk->nthreads == TRACK_MAX_THREADS)
		return NULL;
	/* A name another live thread of this sample is written under is taken for stale (the
	 * registry read before a new thread replaced a dead one's entry) until the thread has
	 * waited for the registry to be read again: two threads may share a name, but rarely. */
	int final = name_fn(ctx, th, &name);
	uint64_t hash = hash_str(buf_cstr(&name));
	/* a name a thread of this run was written under (live, or ended: its entry can
	 * outlive it under a reused ident) waits for the registry to be read again too */
	if (final && !name_live(tk, hash) && !name_used(tk, hash)) {
		pending_drop(tk, th);
	} else if (!waited_for_name(tk, th)) {
		buf_free(&name);
		return NULL;
	}
	struct tthread *t = xcalloc(1, sizeof *t);
	t->tstate = th->tstate;
	t->interp = th->interp;
	t->thread_id = th->thread_id;
	t->native_id = th->native_id;
	t->key = key;
	t->name_hash = hash;
	name_use(tk, hash);
	t->out = output_thread(tk->out, key, buf_cstr(&name), name.len);
	buf_free(&name);
	tk->threads[tk->nthreads++] = t;
	return t;
}

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
 * note_release); the end of a thread or of the recording writes them at once. */
static int emit_returns(struct tracker *tk, struct tthread *t, size_t keep, double when,
			struct tg_err *err)
{
	if (t->depth > keep && flush_returns(tk, t, err) < 0)
		return -1;
	if (t->depth > keep)
		t->pend_when = when;
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

/* A release soon after calls returned is theirs (their locals, freed as they returned);
 * the calls still open get it too, as their callers.  Returns held longer are written. */
static int note_release(struct tracker *tk, struct tthread *t, int64_t charged, double when,
			struct tg_err *err)
{
	if (t->npend && when - t->pend_when > RELEASE_WINDOW_S && flush_returns(tk, t, err) < 0)
		return -1;
	for (size_t i = 0; charged < 0 && i < t->npend; i++)
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
		f->file = intern(&tk->names, w->code_info->file);
		f->func = intern(&tk->names, w->code_info->func);
		f->line = w->line;
		f->kept = frame_kept(tk, f->file);
		f->mem_at_call = t->mem;
		f->first_when = when;
		f->sightings = 0;
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

static int suspect(const struct tthread *t, const struct walk_thread *th, double when)
{
	size_t keep = common_prefix(t, th);

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
static int held(struct tracker *tk, struct tthread *t, const struct walk_thread *th, double when)
{
	if (!suspect(t, th, when)) {
		t->hold_since = 0;
		return 0;
	}
	if (!t->hold_since) {
		t->hold_since = when;
		tk->suspect_returns++;
	}
	if (when - t->hold_since >= HOLD_S) {
		t->hold_since = 0;
		return 0;
	}
	tk->held_walks++;
	return 1;
}

/* The change charged at this sighting goes to the stack as it is now: every frame on it
 * (inclusively, through the deltas of their returns), the innermost as its own. */
static int feed_thread(struct tracker *tk, struct tthread *t, const struct walk_thread *th,
		       int64_t charged, double when, struct tg_err *err)
{
	t->seen = tk->samples;
	t->last_when = when;
	/* A release goes to the stack as it was before this sighting: CPython frees a call's
	 * locals as it returns, after its frame left the chain, so the calls that just
	 * returned are those that released.  Growth goes to the stack as it is now: memory is
	 * allocated by running code. */
	if (note_release(tk, t, charged, when, err) < 0)
		return -1;
	if (charged < 0)
		t->mem += charged;
	/* a torn or cut chain would show as spurious returns and calls; and a walk that finds
	 * no frame at all in a thread that had some is a moment the interpreter's own links
	 * are in flux (3.11+ sets a new C frame's current frame just after linking it): a
	 * thread whose Python code ends is retired when its state goes */
	if (!th->truncated && !(th->depth == 0 && t->depth > 0) && !held(tk, t, th, when)) {
		size_t keep = common_prefix(t, th);
		if (emit_returns(tk, t, keep, when, err) < 0)
			return -1;
		note_positions(t, th);
		if (emit_calls(tk, t, th, when, err) < 0)
			return -1;
	}
	if (charged > 0)
		t->mem += charged;
	return 0;
}

int tracker_ends_old(const struct tracker *tk, const struct walk_thread *th, double when,
		     size_t *prefix)
{
	const struct tthread *t = find_thread((struct tracker *)tk, th);

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

void tracker_stats(const struct tracker *tk, uint64_t *suspect_returns, uint64_t *held_walks)
{
	*suspect_returns = tk->suspect_returns;
	*held_walks = tk->held_walks;
}

int tracker_feed_one(struct tracker *tk, const struct walk_thread *th, int64_t charged, double when,
		     tracker_name_fn name_fn, void *ctx, struct tg_err *err)
{
	struct tthread *t = find_thread(tk, th);

	if (!t && !(name_fn && (t = add_thread(tk, th, name_fn, ctx))))
		return 0;
	return feed_thread(tk, t, th, charged, when, err) < 0 ? -1 : 1;
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

/* Another thread of the sample has the same identity (ident, TID) as th: 3.11+ creates a
 * new thread's state in its creator's thread, which carries the creator's identity until
 * the new thread runs; such a state is not a thread of its own yet. */
static int identity_taken(const struct walk_sample *s, size_t i)
{
	const struct walk_thread *th = &s->threads[i];

	for (size_t k = 0; k < s->nthreads; k++) {
		const struct walk_thread *o = &s->threads[k];
		/* two live threads never share an ident, nor a kernel TID */
		int same = o->thread_id == th->thread_id ||
			   (th->native_id > 0 && o->native_id == th->native_id);
		if (k != i && same && o->interp == th->interp &&
		    (o->depth > th->depth || (o->depth == th->depth && k < i)))
			return 1;
	}
	return 0;
}

int tracker_feed(struct tracker *tk, const struct walk_sample *s, const int64_t *charged,
		 double when, tracker_name_fn name_fn, void *ctx, struct tg_err *err)
{
	tk->samples++;
	pending_prune(tk);
	for (size_t i = 0; i < s->nthreads; i++) { /* those still here, before any is added */
		struct tthread *t = find_thread(tk, &s->threads[i]);
		if (t)
			t->seen = tk->samples;
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct walk_thread *th = &s->threads[i];
		struct tthread *t = find_thread(tk, th);
		if (!t && (identity_taken(s, i) || !(t = add_thread(tk, th, name_fn, ctx))))
			continue;
		if (feed_thread(tk, t, th, charged ? charged[i] : 0, when, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < tk->nthreads; i++) /* charges between samples included */
		if (write_charge(tk, tk->threads[i], when, 0, err) < 0)
			return -1;
	return retire_threads(tk, err);
}
