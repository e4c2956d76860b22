#include "sampler/walk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/gil.h"
#include "sampler/nativeid.h"
#include "sampler/stackcopy.h"
#include "sampler/taskclock.h"
#include "sampler/walk_int.h"

#define CODE_READ_MAX 512
#define CODECACHE_SLOTS 8192
#define KEPT_MAX_AGE_NS 1000000000u /* a kept walk is read again after this long */
#define BATCH_SLACK 8 /* thread states looked for past the expected one in the batch */

/* Threads whose scheduler counters stay open from sample to sample; beyond them, they are
 * opened for each reading. */
#define CLOCK_FDS_MAX 64

static size_t max_end(size_t cur, int32_t off, size_t width)
{
	return off >= 0 && (size_t)off + width > cur ? (size_t)off + width : cur;
}

static size_t clamp(size_t v, size_t hi)
{
	return v > hi ? hi : v;
}

struct walker *walker_new(struct remote *r, const struct py_target *t)
{
	struct walker *w = xcalloc(1, sizeof *w);
	const struct py_offsets *o = &t->off;

	w->r = r;
	w->t = t;
	w->o = o;
	pyobj_init(&w->p, r, t);
	w->codes = codecache_new(CODECACHE_SLOTS);
	w->new_frames = t->major == 3 && t->minor >= 11;
	w->tids = nativeid_new(t->pid, r);
	w->gil = gil_new(r, t);
	w->window = t->pid > 0 ? taskclock_window() : 0;
	/* 3.14 tags the low bits of _PyStackRef pointers */
	w->code_ptr_mask = t->major == 3 && t->minor >= 14 ? ~(uint64_t)3 : ~(uint64_t)0;
	size_t ts = 0;
	ts = max_end(ts, o->ts_next, 8);
	ts = max_end(ts, o->ts_frame, 8);
	ts = max_end(ts, o->ts_cframe, 8);
	ts = max_end(ts, o->ts_current_frame, 8);
	ts = max_end(ts, o->ts_thread_id, 8);
	ts = max_end(ts, o->ts_native_id, 8);
	ts = max_end(ts, o->ts_interp, 8);
	ts = max_end(ts, o->ts_datastack_chunk, 8);
	ts = max_end(ts, o->ts_datastack_top, 8);
	w->tstate_len = clamp(ts, TSTATE_READ_MAX);
	size_t fr = 0;
	if (w->new_frames) {
		fr = max_end(fr, o->if_code, 8);
		fr = max_end(fr, o->if_previous, 8);
		fr = max_end(fr, o->if_instr, 8);
		fr = max_end(fr, o->if_owner, 1);
	} else {
		fr = max_end(fr, o->fo_back, 8);
		fr = max_end(fr, o->fo_code, 8);
		fr = max_end(fr, o->fo_lasti, 4);
	}
	w->frame_len = clamp(fr, FRAME_READ_MAX);
	size_t co = 0;
	co = max_end(co, o->ob_type, 8);
	co = max_end(co, o->co_filename, 8);
	co = max_end(co, o->co_name, 8);
	co = max_end(co, o->co_qualname, 8);
	co = max_end(co, o->co_linetable, 8);
	co = max_end(co, o->co_firstlineno, 4);
	co = max_end(co, o->co_stacksize, 4);
	co = max_end(co, o->co_nlocalsplus, 4);
	co = max_end(co, o->co_framesize, 4);
	w->code_len = clamp(co, CODE_READ_MAX);
	return w;
}

static void kept_release(struct kept *k)
{
	taskclock_close(&k->clock);
	free(k->frames);
	k->frames = NULL;
}

void walker_free(struct walker *w)
{
	if (!w)
		return;
	codecache_free(w->codes);
	nativeid_free(w->tids);
	gil_free(w->gil);
	stackcopy_free(&w->stack);
	free(w->iov);
	free(w->heads);
	free(w->codes_seen);
	free(w->order);
	free(w->ts_batch);
	free(w->ts_iov);
	free(w->words);
	for (size_t i = 0; i < w->nkept; i++)
		kept_release(&w->kept[i]);
	free(w->kept);
	free(w->next_kept);
	free(w);
}

struct pyobj *walker_pyobj(struct walker *w)
{
	return &w->p;
}

struct codecache *walker_codecache(struct walker *w)
{
	return w->codes;
}

uint64_t walk_u64_at(const unsigned char *block, size_t len, int32_t off)
{
	uint64_t v = 0;

	if (off >= 0 && (size_t)off + 8 <= len)
		memcpy(&v, block + off, 8);
	return v;
}

uint64_t walk_read_ptr(struct walker *w, uint64_t addr)
{
	uint64_t v = 0;

	if (addr)
		remote_read_u64(w->r, addr, &v);
	return v;
}

static uint64_t first_interp(struct walker *w)
{
	if (w->t->sym.runtime && w->o->rt_interp_head >= 0)
		return walk_read_ptr(w, w->t->sym.runtime + (uint64_t)w->o->rt_interp_head);
	return walk_read_ptr(w, w->t->sym.interp_head);
}

#define SPAN_READ_MAX 16384

/* The interpreter fields a sample needs, read in one go when they lie close together. */
struct interp_fields {
	uint64_t next, tstate_head;
	int64_t id;
};

/* Reads the n (offset, 8-byte destination) fields at base + off[i] with a single read of
 * the span covering them when it is small enough, else one read each.  Absent offsets
 * leave their destination 0. */
static void read_fields(struct walker *w, uint64_t base, const int32_t *off, uint64_t **dst,
			size_t n)
{
	int32_t lo = INT32_MAX, hi = -1;
	unsigned char span[SPAN_READ_MAX];

	for (size_t i = 0; i < n; i++) {
		*dst[i] = 0;
		if (off[i] >= 0) {
			lo = off[i] < lo ? off[i] : lo;
			hi = off[i] + 8 > hi ? off[i] + 8 : hi;
		}
	}
	if (hi < 0)
		return;
	if (hi - lo <= SPAN_READ_MAX &&
	    remote_read(w->r, base + (uint64_t)lo, span, (size_t)(hi - lo)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (off[i] >= 0)
				memcpy(dst[i], span + (off[i] - lo), 8);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (off[i] >= 0)
			remote_read_u64(w->r, base + (uint64_t)off[i], dst[i]);
}

static void read_interp(struct walker *w, uint64_t interp, struct interp_fields *f)
{
	const struct py_offsets *o = w->o;
	const int32_t off[] = {o->is_next, o->is_tstate_head, o->is_id};
	uint64_t *dst[] = {&f->next, &f->tstate_head, (uint64_t *)&f->id};

	read_fields(w, interp, off, dst, 3);
	if (o->is_id < 0)
		f->id = -1;
}

static struct walk_thread *next_thread(struct walk_sample *s)
{
	s->threads = xgrow0(s->threads, &s->cap, s->nthreads + 1, sizeof *s->threads);
	return &s->threads[s->nthreads++];
}

/* The thread states holding a GIL at this sample. */
struct holders {
	uint64_t tstate[GIL_MAX];
	size_t n;
};

static int holds_gil(const struct holders *h, uint64_t tstate)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->tstate[i] == tstate)
			return 1;
	return 0;
}

/* ---- the thread states, read in one batch ---- */

/* Read the thread states of the last sample, in its list order, with one call: while the
 * list stays the same the walk of the lists then finds every state here. */
static void read_batch(struct walker *w)
{
	size_t n = w->norder, len = w->tstate_len;

	if (n > w->batch_cap) {
		w->batch_cap = xgrow_cap(w->batch_cap, n);
		w->ts_batch = xreallocarray(w->ts_batch, w->batch_cap, len);
		w->ts_iov = xreallocarray(w->ts_iov, w->batch_cap, sizeof *w->ts_iov);
	}
	for (size_t i = 0; i < n; i++)
		w->ts_iov[i] = (struct remote_iov){w->order[i], w->ts_batch + i * len, len, 0};
	remote_readv(w->r, w->ts_iov, n);
	w->cursor = 0;
}

/* The bytes of the thread state at addr: from the batch when it holds them (the list
 * order changes little between samples), else read now into own.  NULL when unreadable. */
static const unsigned char *tstate_bytes(struct walker *w, uint64_t addr, unsigned char *own)
{
	for (size_t i = w->cursor; i < w->norder && i < w->cursor + BATCH_SLACK; i++)
		if (w->order[i] == addr && w->ts_iov[i].ok) {
			w->cursor = i + 1;
			return w->ts_batch + i * w->tstate_len;
		}
	return remote_read(w->r, addr, own, w->tstate_len) == 0 ? own : NULL;
}

static void remember_order(struct walker *w, const struct walk_sample *s)
{
	w->order = xgrow(w->order, &w->order_cap, s->nthreads, sizeof *w->order);
	for (size_t i = 0; i < s->nthreads; i++)
		w->order[i] = s->threads[i].tstate;
	w->norder = s->nthreads;
}

static struct ts_words *words_for(struct walker *w, size_t i)
{
	w->words = xgrow(w->words, &w->words_cap, i + 1, sizeof *w->words);
	return &w->words[i];
}

/* Lists every thread of one interpreter (identity, GIL, the words its walk starts from);
 * returns the next interpreter's address. */
static uint64_t list_interp(struct walker *w, struct walk_sample *s, uint64_t interp,
			    const struct holders *h)
{
	const struct py_offsets *o = w->o;
	unsigned char own[TSTATE_READ_MAX];
	struct interp_fields f;
	size_t count = 0;

	read_interp(w, interp, &f);
	uint64_t tstate = f.tstate_head;
	while (tstate && count++ < WALK_MAX_THREADS && s->nthreads < WALK_MAX_THREADS) {
		const unsigned char *ts = tstate_bytes(w, tstate, own);
		if (!ts)
			break;
		walk_read_words(w, ts, words_for(w, s->nthreads));
		struct walk_thread *th = next_thread(s);
		th->tstate = tstate;
		th->interp = interp;
		th->interp_id = f.id;
		th->thread_id = walk_u64_at(ts, w->tstate_len, o->ts_thread_id);
		th->native_id = (int64_t)walk_u64_at(ts, w->tstate_len, o->ts_native_id);
		th->native_field = th->native_id;
		th->holds_gil = holds_gil(h, tstate);
		th->depth = 0;
		th->truncated = 0;
		th->no_frames = 0;
		uint64_t next = walk_u64_at(ts, w->tstate_len, o->ts_next);
		if (next == tstate)
			break;
		tstate = next;
	}
	return f.next;
}

/* ---- kept walks ---- */

static int kept_cmp(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	return x->tstate < y->tstate ? -1 : x->tstate > y->tstate;
}

static struct kept *kept_find(struct walker *w, uint64_t tstate)
{
	size_t lo = 0, hi = w->nkept;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->kept[mid].tstate < tstate)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nkept && w->kept[lo].tstate == tstate ? &w->kept[lo] : NULL;
}

/* The entry of th for this sample: its kept walk when the same thread had one (same
 * state, interpreter, ident and TID), else a fresh one. */
static void take_kept(struct walker *w, const struct walk_thread *th, struct kept *to)
{
	struct kept *k = kept_find(w, th->tstate);

	if (k && !k->taken && k->interp == th->interp && k->thread_id == th->thread_id &&
	    k->native_id == th->native_id) {
		*to = *k;
		k->taken = 1;
		return;
	}
	memset(to, 0, sizeof *to);
	taskclock_init(&to->clock);
	to->tstate = th->tstate;
	to->interp = th->interp;
	to->thread_id = th->thread_id;
	to->native_id = th->native_id;
}

/* Every code object of the kept walk is still the cache entry the frame points to: an
 * entry is replaced only on a cache miss, and one evicted meanwhile may hold another code
 * object now. */
static int codes_cached(const struct walker *w, struct kept *k)
{
	uint64_t misses = codecache_misses(w->codes);

	if (misses == k->code_misses)
		return 1;
	for (size_t i = 0; i < k->depth; i++)
		if (!k->frames[i].code_info || k->frames[i].code_info->addr != k->frames[i].code)
			return 0;
	k->code_misses = misses;
	return 1;
}

/* A kept walk is read again after about a second, in case anything the proof rests on
 * failed; the age varies with the thread so that threads walked together are not all
 * walked again at the same sample. */
static uint64_t max_age(const struct kept *k)
{
	return KEPT_MAX_AGE_NS - (k->tstate >> 6) % (KEPT_MAX_AGE_NS / 4);
}

static int can_reuse(const struct walker *w, struct kept *k, const struct walk_thread *th,
		     const struct ts_words *ws, uint64_t now)
{
	return k->usable && th->quiet_since && !th->holds_gil && k->clock.ns == k->walk_ns &&
	       k->clock.switches == k->walk_switches && k->words.frame == ws->frame &&
	       k->words.chunk == ws->chunk && k->words.top == ws->top &&
	       now - k->walked_at < max_age(k) && codes_cached(w, k);
}

/* Read the thread's scheduler counters; then hand out its kept walk when it has not run
 * since, else walk its frames. */
static void sample_thread(struct walker *w, struct walk_thread *th, struct kept *k,
			  const struct ts_words *ws, uint64_t now)
{
	th->reused = th->cpu_known = 0;
	th->cpu_ns = th->quiet_since = 0;
	if (w->t->pid > 0 && th->native_id > 0 &&
	    taskclock_read(&k->clock, w->t->pid, th->native_id) == 0) {
		th->cpu_known = 1;
		th->cpu_ns = k->clock.ns;
		th->quiet_since = taskclock_quiet_since(&k->clock, w->window);
	}
	if (k->clock.fd >= 0 && ++w->clock_fds > CLOCK_FDS_MAX)
		taskclock_drop_fd(&k->clock); /* descriptors do not grow with the threads */
	walk_ensure_frames(th);
	if (can_reuse(w, k, th, ws, now)) {
		if (k->depth)
			memcpy(th->frames, k->frames, k->depth * sizeof *k->frames);
		th->depth = k->depth;
		th->no_frames = k->no_frames;
		th->reused = 1;
		return;
	}
	k->usable = 0;
	k->walk_ns = k->clock.ns;
	k->walk_switches = k->clock.switches;
	k->walked_at = now;
	k->words = *ws;
	walk_thread_frames(w, th, ws);
}

static void sample_threads(struct walker *w, struct walk_sample *s)
{
	uint64_t now = taskclock_now();

	w->next_kept = xgrow(w->next_kept, &w->next_cap, s->nthreads, sizeof *w->next_kept);
	s->nreused = 0;
	for (size_t i = 0; i < s->nthreads; i++) {
		take_kept(w, &s->threads[i], &w->next_kept[i]);
		sample_thread(w, &s->threads[i], &w->next_kept[i], &w->words[i], now);
		s->nreused += s->threads[i].reused;
	}
}

/* Keep a copy of every fresh walk; forget the threads that are gone. */
static void keep_walks(struct walker *w, struct walk_sample *s)
{
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct walk_thread *th = &s->threads[i];
		struct kept *k = &w->next_kept[i];
		if (th->reused)
			continue;
		k->frames = xgrow(k->frames, &k->cap, th->depth, sizeof *k->frames);
		if (th->depth)
			memcpy(k->frames, th->frames, th->depth * sizeof *th->frames);
		k->depth = th->depth;
		k->no_frames = th->no_frames;
		k->usable = th->cpu_known && !th->truncated;
		k->code_misses = w->misses_before; /* whatever this sample filled is checked */
	}
	for (size_t i = 0; i < w->nkept; i++)
		if (!w->kept[i].taken)
			kept_release(&w->kept[i]);
	struct kept *old = w->kept;
	size_t old_cap = w->kept_cap;
	w->kept = w->next_kept;
	w->kept_cap = w->next_cap;
	w->nkept = s->nthreads;
	w->next_kept = old;
	w->next_cap = old_cap;
	for (size_t i = 0; i < w->nkept; i++)
		w->kept[i].taken = 0;
	if (w->nkept)
		qsort(w->kept, w->nkept, sizeof *w->kept, kept_cmp);
	remember_order(w, s);
}

int walker_sample(struct walker *w, struct walk_sample *s, struct tg_err *err)
{
	uint64_t interp = first_interp(w);
	size_t ninterps = 0;
	struct holders h;

	s->nthreads = 0;
	s->ninterps = 0;
	s->nreused = 0;
	w->clock_fds = 0;
	h.n = gil_holders(w->gil, h.tstate, GIL_MAX, NULL);
	s->gil_holder = h.n ? h.tstate[0] : 0;
	if (!interp)
		return tg_err_set(
		    err, TG_E_LAYOUT,
		    "cannot read the interpreter list of process %d (not initialised, "
		    "finalizing, or exited)",
		    (int)w->t->pid);
	read_batch(w);
	while (interp && ninterps++ < WALK_MAX_INTERPS) {
		uint64_t next = list_interp(w, s, interp, &h);
		if (next == interp)
			break;
		interp = next;
	}
	s->ninterps = ninterps;
	if (ninterps != w->gil_interps) { /* interpreters came or went: find their GILs */
		gil_refresh(w->gil);
		w->gil_interps = ninterps;
	}
	if (w->t->pid > 0) /* a live process, not a memory image */
		nativeid_fill(w->tids, s);
	sample_threads(w, s);
	walk_resolve_codes(w, s);
	keep_walks(w, s);
	return 0;
}

/* The frames of a walk between samples that the thread's last stack sample walked too,
 * at the same address with the same code object, take that walk's code entry: their
 * headers are not read again (most of a server's stack, below the request's innermost
 * calls).  The entry's header matched then; a code object in a live frame is alive, and
 * for it to be another one now, the one seen must have died and another been made at its
 * address and called at the same frame address, within one sampling interval.  The
 * frames are matched from the outermost; the first frame address that holds another
 * code object ends the match (the stack was left and entered again there). */
static void codes_from_kept(struct walker *w, struct walk_thread *th)
{
	struct kept *k = kept_find(w, th->tstate);
	size_t j;

	if (!k || k->thread_id != th->thread_id || k->native_id != th->native_id ||
	    k->interp != th->interp)
		return;
	j = k->depth;
	for (size_t i = th->depth; i-- > 0 && j > 0;) {
		struct walk_frame *f = &th->frames[i];
		size_t s = j;
		/* a few frames of the kept walk may be gone from this one (shims) */
		while (s > 0 && j - s < 4 && k->frames[s - 1].addr != f->addr)
			s--;
		if (s == 0 || k->frames[s - 1].addr != f->addr)
			continue;
		const struct walk_frame *kf = &k->frames[s - 1];
		if (kf->code != f->code || !kf->code_info || kf->code_info->addr != f->code)
			return;
		f->code_info = kf->code_info;
		j = s - 1;
	}
}

int walker_walk_thread(struct walker *w, const struct walk_thread *known, struct walk_sample *out)
{
	return walker_walk_thread_at(w, known, NULL, out) < 0 ? -1 : 0;
}

int walker_walk_thread_at(struct walker *w, const struct walk_thread *known,
			  const struct stackcopy_taken *copy, struct walk_sample *out)
{
	unsigned char ts[TSTATE_READ_MAX];
	struct ts_words ws;

	out->nthreads = 0;
	out->ninterps = 0;
	out->nreused = 0;
	out->gil_holder = 0;
	if (!known->tstate || remote_read(w->r, known->tstate, ts, w->tstate_len) < 0)
		return -1;
	struct walk_thread ident = *known;
	if (!known->thread_id) { /* a thread no sample listed yet: it says who it is */
		ident.thread_id = walk_u64_at(ts, w->tstate_len, w->o->ts_thread_id);
		ident.native_id = (int64_t)walk_u64_at(ts, w->tstate_len, w->o->ts_native_id);
		ident.native_field = ident.native_id;
		ident.interp = walk_u64_at(ts, w->tstate_len, w->o->ts_interp);
		ident.interp_id = 0;
		ident.holds_gil = 1;
		ident.frames = NULL;
		if (!ident.thread_id || !ident.interp)
			return -1;
		known = &ident;
	}
	/* the same thread still: a state freed and reused by another thread has another
	 * ident (or, 3.11+, another kernel TID in the state's own field: compared as the
	 * sample read it, not as corrected; a uWSGI worker's state keeps its master's TID,
	 * and compared with the worker's own every walk of it failed) */
	if (walk_u64_at(ts, w->tstate_len, w->o->ts_thread_id) != known->thread_id ||
	    (w->o->ts_native_id >= 0 &&
	     (int64_t)walk_u64_at(ts, w->tstate_len, w->o->ts_native_id) != known->native_field &&
	     known->native_field > 0 && w->t->minor >= 11))
		return -1;
	walk_read_words(w, ts, &ws);
	struct walk_thread *th = next_thread(out);
	struct walk_frame *frames = th->frames;
	size_t cap = th->frames_cap;
	*th = *known;
	th->frames = frames;
	th->frames_cap = cap;
	th->reused = th->cpu_known = 0;
	th->cpu_ns = th->quiet_since = 0;
	int at = copy && walk_frames_taken(w, th, copy) == 0;
	if (!at)
		walk_thread_frames(w, th, &ws);
	codes_from_kept(w, th);
	walk_resolve_codes(w, out);
	return at;
}

void walk_sample_free(struct walk_sample *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->threads[i].frames);
	free(s->threads);
	memset(s, 0, sizeof *s);
}
