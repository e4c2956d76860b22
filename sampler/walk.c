#include "sampler/walk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/gil.h"
#include "sampler/nativeid.h"

#define TSTATE_READ_MAX 4096
#define FRAME_READ_MAX 256
#define CODE_READ_MAX 512
#define CODECACHE_SLOTS 8192
#define STACK_COPY_MAX (1u << 20)
#define STACK_CHUNKS_MAX 8 /* bytes of struct pthread searched for the kernel TID */

struct walker {
	struct remote *r;
	const struct py_target *t;
	const struct py_offsets *o;
	struct pyobj p;
	struct codecache *codes;
	size_t tstate_len, frame_len, code_len;
	int new_frames;           /* 3.11+: _PyInterpreterFrame chain */
	uint64_t code_ptr_mask;
	struct native_ids *tids;  /* kernel TIDs the thread states lack or have wrong */
	struct gil_reader *gil;
	size_t gil_interps;       /* interpreters seen when the GILs were last looked up */
	/* 3.11+: a local copy of the used part of the thread's data stack, where its frames
	 * live, so the chain is walked without one read per frame */
	unsigned char *stack_copy;
	size_t stack_cap, stack_used;
	struct stack_range {
		uint64_t lo, hi; /* remote addresses copied */
		size_t at;       /* where in stack_copy */
	} ranges[STACK_CHUNKS_MAX];
	size_t nranges;
	/* per-sample scratch for the batched code-object reads */
	struct remote_iov *iov;
	unsigned char *heads;
	uint64_t *codes_seen;
	size_t scratch_cap;
};

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
	w->code_len = clamp(co, CODE_READ_MAX);
	return w;
}

void walker_free(struct walker *w)
{
	if (!w)
		return;
	codecache_free(w->codes);
	nativeid_free(w->tids);
	gil_free(w->gil);
	free(w->stack_copy);
	free(w->iov);
	free(w->heads);
	free(w->codes_seen);
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

static uint64_t u64_at(const unsigned char *block, size_t len, int32_t off)
{
	uint64_t v = 0;

	if (off >= 0 && (size_t)off + 8 <= len)
		memcpy(&v, block + off, 8);
	return v;
}

static uint64_t read_ptr(struct walker *w, uint64_t addr)
{
	uint64_t v = 0;

	if (addr)
		remote_read_u64(w->r, addr, &v);
	return v;
}

static uint64_t first_interp(struct walker *w)
{
	if (w->t->sym.runtime && w->o->rt_interp_head >= 0)
		return read_ptr(w, w->t->sym.runtime + (uint64_t)w->o->rt_interp_head);
	return read_ptr(w, w->t->sym.interp_head);
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
	if (hi - lo <= SPAN_READ_MAX && remote_read(w->r, base + (uint64_t)lo, span,
						    (size_t)(hi - lo)) == 0) {
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

static uint64_t top_frame(struct walker *w, const unsigned char *ts, size_t len)
{
	const struct py_offsets *o = w->o;

	if (!w->new_frames)
		return u64_at(ts, len, o->ts_frame);
	if (o->ts_current_frame >= 0)
		return u64_at(ts, len, o->ts_current_frame);
	uint64_t cframe = u64_at(ts, len, o->ts_cframe);
	return cframe ? read_ptr(w, cframe + (uint64_t)o->cf_current_frame) : 0;
}

static void ensure_frames(struct walk_thread *th)
{
	if (!th->frames) {
		th->frames_cap = WALK_MAX_DEPTH;
		th->frames = xcalloc(th->frames_cap, sizeof *th->frames);
	}
}


/* Copies [lo, hi) of the target into the stack copy; 0 on success. */
static int copy_range(struct walker *w, uint64_t lo, uint64_t hi)
{
	size_t at = w->stack_used, want = (size_t)(hi - lo);

	if (w->nranges == STACK_CHUNKS_MAX || hi <= lo || at + want > STACK_COPY_MAX)
		return -1;
	if (at + want > w->stack_cap) {
		w->stack_cap = (at + want) * 2 > STACK_COPY_MAX ? STACK_COPY_MAX : (at + want) * 2;
		w->stack_copy = xrealloc(w->stack_copy, w->stack_cap);
	}
	if (remote_read(w->r, lo, w->stack_copy + at, want) < 0)
		return -1;
	w->ranges[w->nranges++] = (struct stack_range){lo, hi, at};
	w->stack_used += want;
	return 0;
}

/* 3.11+: copy the used part of the thread's data stack, where its frames live: the current
 * chunk up to datastack_top, then earlier chunks whole, so deep chains are walked locally
 * instead of with one read per frame. */
static void load_stack_copy(struct walker *w, const unsigned char *ts, size_t len)
{
	const struct py_offsets *o = w->o;
	uint64_t chunk = u64_at(ts, len, o->ts_datastack_chunk);
	uint64_t top = u64_at(ts, len, o->ts_datastack_top);

	w->nranges = 0;
	w->stack_used = 0;
	if (!w->new_frames || !chunk || !top || top <= chunk ||
	    copy_range(w, chunk, top) < 0)
		return;
	for (uint64_t prev; w->nranges < STACK_CHUNKS_MAX; chunk = prev) {
		uint64_t hdr[2]; /* previous, size */
		const struct stack_range *r = &w->ranges[w->nranges - 1];
		memcpy(hdr, w->stack_copy + r->at, sizeof hdr);
		prev = hdr[0];
		if (!prev || prev == chunk || remote_read(w->r, prev + 8, &hdr[1], 8) < 0 ||
		    hdr[1] < 16 || copy_range(w, prev, prev + hdr[1]) < 0)
			break;
	}
}

static int frame_bytes(struct walker *w, uint64_t addr, unsigned char *block)
{
	for (size_t i = 0; i < w->nranges; i++) {
		const struct stack_range *r = &w->ranges[i];
		if (addr >= r->lo && addr < r->hi && r->hi - addr >= w->frame_len) {
			memcpy(block, w->stack_copy + r->at + (addr - r->lo), w->frame_len);
			return 0;
		}
	}
	return remote_read(w->r, addr, block, w->frame_len);
}

/* Reads one frame's links; returns the next (older) frame address, or 0 to stop.  *keep
 * says whether it is a Python frame to record (shim frames are not).  The code object is
 * read later, for all frames of the sample at once. */
static uint64_t read_frame(struct walker *w, uint64_t addr, struct walk_frame *f, int *keep)
{
	const struct py_offsets *o = w->o;
	unsigned char block[FRAME_READ_MAX];
	uint64_t prev;

	*keep = 0;
	if (frame_bytes(w, addr, block) < 0)
		return 0;
	f->addr = addr;
	f->code_info = NULL;
	f->line = -1;
	if (w->new_frames) {
		f->code = u64_at(block, w->frame_len, o->if_code) & w->code_ptr_mask;
		f->pos = (int64_t)u64_at(block, w->frame_len, o->if_instr);
		prev = u64_at(block, w->frame_len, o->if_previous);
		int owner = block[o->if_owner];
		if (w->t->frame_cstack_owner >= 0 && owner >= w->t->frame_cstack_owner)
			return prev;
	} else {
		int32_t lasti;
		f->code = u64_at(block, w->frame_len, o->fo_code);
		memcpy(&lasti, block + o->fo_lasti, 4);
		f->pos = lasti;
		prev = u64_at(block, w->frame_len, o->fo_back);
	}
	*keep = f->code != 0;
	return prev;
}

static void walk_frames(struct walker *w, struct walk_thread *th, uint64_t frame)
{
	size_t hops = 0;

	ensure_frames(th);
	th->depth = 0;
	th->truncated = 0;
	while (frame && hops++ < 2 * WALK_MAX_DEPTH) {
		int keep;
		struct walk_frame *f = &th->frames[th->depth];
		uint64_t prev = read_frame(w, frame, f, &keep);
		if (keep && ++th->depth == th->frames_cap) {
			th->truncated = prev != 0;
			return;
		}
		if (prev == frame)
			break;
		frame = prev;
	}
	if (frame)
		th->truncated = 1;
}

static void ensure_scratch(struct walker *w, size_t n)
{
	if (n <= w->scratch_cap)
		return;
	w->scratch_cap = n * 2;
	w->iov = xrealloc(w->iov, w->scratch_cap * sizeof *w->iov);
	w->codes_seen = xrealloc(w->codes_seen, w->scratch_cap * sizeof *w->codes_seen);
	w->heads = xrealloc(w->heads, w->scratch_cap * w->code_len);
}

/* Index of code in the sample's list of distinct code objects (added if new). */
static size_t code_index(struct walker *w, size_t *ncodes, uint64_t code)
{
	for (size_t i = *ncodes; i-- > 0;)
		if (w->codes_seen[i] == code)
			return i;
	w->codes_seen[*ncodes] = code;
	return (*ncodes)++;
}

/* Read the header of every distinct code object of the sample in one batched read, then
 * resolve each frame's names and line; frames whose code is not a readable code object
 * (a torn read) are dropped, and their thread marked truncated. */
static void resolve_codes(struct walker *w, struct walk_sample *s)
{
	size_t nframes = 0, ncodes = 0;

	for (size_t i = 0; i < s->nthreads; i++)
		nframes += s->threads[i].depth;
	ensure_scratch(w, nframes + 1);
	for (size_t i = 0; i < s->nthreads; i++)
		for (size_t k = 0; k < s->threads[i].depth; k++) {
			struct walk_frame *f = &s->threads[i].frames[k];
			f->code_slot = code_index(w, &ncodes, f->code);
		}
	for (size_t c = 0; c < ncodes; c++)
		w->iov[c] = (struct remote_iov){w->codes_seen[c], w->heads + c * w->code_len,
						w->code_len, 0};
	remote_readv(w->r, w->iov, ncodes);
	for (size_t i = 0; i < s->nthreads; i++) {
		struct walk_thread *th = &s->threads[i];
		size_t keep = 0;
		for (size_t k = 0; k < th->depth; k++) {
			struct walk_frame f = th->frames[k];
			const struct remote_iov *v = &w->iov[f.code_slot];
			f.code_info = v->ok ? codecache_get(w->codes, &w->p, f.code, v->dst, v->len)
					    : NULL;
			if (!f.code_info) {
				th->truncated = 1;
				continue;
			}
			f.line = codecache_line(w->t, f.code_info, f.pos);
			th->frames[keep++] = f;
		}
		th->depth = keep;
	}
}

static struct walk_thread *next_thread(struct walk_sample *s)
{
	if (s->nthreads == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		s->threads = xrealloc(s->threads, cap * sizeof *s->threads);
		memset(s->threads + s->cap, 0, (cap - s->cap) * sizeof *s->threads);
		s->cap = cap;
	}
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

/* Samples every thread of one interpreter; returns the next interpreter's address. */
static uint64_t walk_interp(struct walker *w, struct walk_sample *s, uint64_t interp,
			    const struct holders *h)
{
	const struct py_offsets *o = w->o;
	unsigned char ts[TSTATE_READ_MAX];
	struct interp_fields f;
	size_t count = 0;

	read_interp(w, interp, &f);
	int64_t interp_id = f.id;
	uint64_t tstate = f.tstate_head;
	while (tstate && count++ < WALK_MAX_THREADS && s->nthreads < WALK_MAX_THREADS) {
		if (remote_read(w->r, tstate, ts, w->tstate_len) < 0)
			break;
		struct walk_thread *th = next_thread(s);
		th->tstate = tstate;
		th->interp = interp;
		th->interp_id = interp_id;
		th->thread_id = u64_at(ts, w->tstate_len, o->ts_thread_id);
		th->native_id = (int64_t)u64_at(ts, w->tstate_len, o->ts_native_id);
		th->holds_gil = holds_gil(h, tstate);
		load_stack_copy(w, ts, w->tstate_len);
		walk_frames(w, th, top_frame(w, ts, w->tstate_len));
		uint64_t next = u64_at(ts, w->tstate_len, o->ts_next);
		if (next == tstate)
			break;
		tstate = next;
	}
	return f.next;
}

int walker_sample(struct walker *w, struct walk_sample *s, struct tg_err *err)
{
	uint64_t interp = first_interp(w);
	size_t ninterps = 0;
	struct holders h;

	s->nthreads = 0;
	s->ninterps = 0;
	h.n = gil_holders(w->gil, h.tstate, GIL_MAX);
	s->gil_holder = h.n ? h.tstate[0] : 0;
	if (!interp)
		return tg_err_set(err, TG_E_LAYOUT,
				  "cannot read the interpreter list of process %d (not initialised, "
				  "finalizing, or exited)",
				  (int)w->t->pid);
	while (interp && ninterps++ < WALK_MAX_INTERPS) {
		uint64_t next = walk_interp(w, s, interp, &h);
		if (next == interp)
			break;
		interp = next;
	}
	s->ninterps = ninterps;
	if (ninterps != w->gil_interps) { /* interpreters came or went: find their GILs */
		gil_refresh(w->gil);
		w->gil_interps = ninterps;
	}
	resolve_codes(w, s);
	if (w->t->pid > 0) /* a live process, not a memory image */
		nativeid_fill(w->tids, s);
	return 0;
}

void walk_sample_free(struct walk_sample *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->threads[i].frames);
	free(s->threads);
	memset(s, 0, sizeof *s);
}
