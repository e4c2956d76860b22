/* tracker_threads.c: which thread a walk is, and the name it is written under: the threads
 * being written, those held back until they have a name, the names already used, and the
 * interned file and function names. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/tracker_int.h"

#define TRACK_MAX_THREADS WALK_MAX_THREADS

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

const char *tracker_intern(struct intern *in, const char *s)
{
	if (in->used * 2 >= in->cap) {
		struct intern bigger = {xcalloc(in->cap ? in->cap * 2 : 1024, sizeof(char *)),
					in->cap ? in->cap * 2 : 1024, 0};
		for (size_t i = 0; i < in->cap; i++)
			if (in->slots[i])
				tracker_intern(&bigger, in->slots[i]), free(in->slots[i]);
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

struct tthread *tracker_find_thread(struct tracker *tk, const struct walk_thread *th)
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

/* The entry of a thread waiting for its name, or NULL. */
static struct pending *pending_of(struct tracker *tk, const struct walk_thread *th)
{
	for (size_t i = 0; i < tk->npending; i++)
		if (tk->pending[i].thread_id == th->thread_id &&
		    tk->pending[i].native_id == th->native_id)
			return &tk->pending[i];
	return NULL;
}

/* The sample a thread was first seen in: now, or when it began waiting for a name. */
static uint64_t first_sighting(struct tracker *tk, const struct walk_thread *th)
{
	const struct pending *p = pending_of(tk, th);

	return p ? p->first : tk->samples;
}

static void pending_drop(struct tracker *tk, const struct walk_thread *th)
{
	struct pending *p = pending_of(tk, th);

	if (p)
		*p = tk->pending[--tk->npending];
}

/* Forget threads that stayed unnamed and then vanished. */
void tracker_pending_prune(struct tracker *tk)
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
	struct pending *p = pending_of(tk, th);

	if (p) {
		if (tk->samples - p->first < TRACKER_NAME_WAIT)
			return 0;
		*p = tk->pending[--tk->npending];
		return 1;
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

struct tthread *tracker_add_thread(struct tracker *tk, const struct walk_thread *th,
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
	/* a state without a frame on the TID of a thread that runs Python is, on 3.11+, one
	 * made for a new thread in its creator's thread, with the creator's ident and TID for
	 * a moment: not that thread (read running C only, it would end all its calls) */
	if (busy || (same && th->depth == 0 && same->depth > 0))
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
	uint64_t hash = hash_str(buf_cstr(&name)), first = first_sighting(tk, th);
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
	t->from_start = first <= 1; /* seen in the recording's first sample */
	t->key = key;
	t->name_hash = hash;
	name_use(tk, hash);
	t->out = output_thread(tk->out, key, buf_cstr(&name), name.len);
	buf_free(&name);
	tk->threads[tk->nthreads++] = t;
	return t;
}

/* Another thread of the sample has the same identity (ident, TID) as th: 3.11+ creates a
 * new thread's state in its creator's thread, which carries the creator's identity until
 * the new thread runs; such a state is not a thread of its own yet. */
int tracker_identity_taken(const struct walk_sample *s, size_t i)
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
