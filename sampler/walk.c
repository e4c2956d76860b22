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

#define TSTATE_READ_MAX 4096
#define FRAME_READ_MAX 256
#define CODE_READ_MAX 512
#define CODECACHE_SLOTS 8192
#define KEPT_MAX_AGE_NS 1000000000u /* a kept walk is read again after this long */
#define BATCH_SLACK 8 /* thread states looked for past the expected one in the batch */

/* The thread state words a walk starts from. */
/* Links followed to find a walk's head below a thread's new head (still_below). */
#define STILL_BELOW_MAX 16

struct ts_words {
	uint64_t frame;	     /* ts_frame (<= 3.10), current_frame (3.13+), cframe (3.11, 3.12) */
	uint64_t chunk, top; /* 3.11+: the data stack's current chunk and its top */
	int64_t recursion;   /* <= 3.10: recursion_depth; -1 when unknown */
};

/* A thread's last walk, owned by the walker, and its scheduler counters. */
struct kept {
	uint64_t tstate, interp, thread_id;
	int64_t native_id;
	struct ts_words words;		 /* the thread state's words when it was walked */
	struct taskclock clock;		 /* read at every sample */
	uint64_t walk_ns, walk_switches; /* the counters read just before the walk */
	uint64_t walked_at;
	uint64_t code_misses; /* the code cache's misses when its frames were last checked */
	int usable;	      /* frames hold a whole walk that followed a counter reading */
	int taken;	      /* moved into the next sample's list */
	size_t depth, cap;
	struct walk_frame *frames;
};

struct walker {
	uint64_t walks, torn; /* fresh walks of a thread's frames; of them, those cut as torn */
	struct remote *r;
	const struct py_target *t;
	const struct py_offsets *o;
	struct pyobj p;
	struct codecache *codes;
	size_t tstate_len, frame_len, code_len;
	int new_frames; /* 3.11+: _PyInterpreterFrame chain */
	uint64_t code_ptr_mask;
	struct native_ids *tids; /* kernel TIDs the thread states lack or have wrong */
	struct gil_reader *gil;
	size_t gil_interps;	/* interpreters seen when the GILs were last looked up */
	struct stackcopy stack; /* 3.11+: the thread's data stack, where its frames live */
	/* per-sample scratch for the batched code-object reads */
	struct remote_iov *iov;
	unsigned char *heads;
	uint64_t *codes_seen;
	size_t scratch_cap;
	/* the thread states of the last sample in list order, read in one batch */
	uint64_t *order;
	size_t norder, order_cap;
	unsigned char *ts_batch;
	struct remote_iov *ts_iov;
	size_t batch_cap, cursor;
	struct ts_words *words; /* per thread of the sample being taken */
	size_t words_cap;
	/* the last walk of every thread of the last sample, sorted by tstate, and the list
	 * being built (in the sample's order) */
	struct kept *kept, *next_kept;
	size_t nkept, kept_cap, next_cap;
	uint64_t window;	/* how long counters must stand still (taskclock_window) */
	uint64_t misses_before; /* code cache misses before this sample's codes were read */
	size_t clock_fds;	/* scheduler counters kept open in this sample */
	int last_range;		/* the walk's last thread-owned frame: its stack range, */
	uint64_t last_owned;	/* and its address */
	int at_head;		/* the next frame read is the walk's first */
};

/* Threads whose scheduler counters stay open from sample to sample; beyond them, they are
 * opened for each reading. */
#define CLOCK_FDS_MAX 64
#define FRAME_OWNED_BY_THREAD 0 /* _PyInterpreterFrame.owner, 3.11+ */
#define FRAME_OWNED_BY_GENERATOR 1
#define KEEP_STALE (-2) /* read_frame: a frame that cannot be on the stack */

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

static void read_words(const struct walker *w, const unsigned char *ts, struct ts_words *out)
{
	const struct py_offsets *o = w->o;
	size_t len = w->tstate_len;

	if (!w->new_frames)
		out->frame = u64_at(ts, len, o->ts_frame);
	else if (o->ts_current_frame >= 0)
		out->frame = u64_at(ts, len, o->ts_current_frame);
	else
		out->frame = u64_at(ts, len, o->ts_cframe);
	out->chunk = u64_at(ts, len, o->ts_datastack_chunk);
	out->top = u64_at(ts, len, o->ts_datastack_top);
	out->recursion = -1;
	if (!w->new_frames && o->ts_recursion_depth >= 0 &&
	    (size_t)o->ts_recursion_depth + 4 <= len) {
		int32_t depth;
		memcpy(&depth, ts + o->ts_recursion_depth, 4);
		out->recursion = depth;
	}
}

static void count_walk(struct walker *w, const struct walk_thread *th)
{
	w->walks++;
	w->torn += th->truncated && th->depth < th->frames_cap;
}

void walker_counts(const struct walker *w, uint64_t *walks, uint64_t *torn)
{
	*walks = w->walks;
	*torn = w->torn;
}

/* The thread went deeper during the walk: is the head the walk began at still in its chain
 * (then it is still running, and every frame below it is as walked)?  A few links of the
 * new chain are followed, as many as calls were entered meanwhile. */
static int still_below(struct walker *w, const struct ts_words *after, const struct ts_words *ws)
{
	uint64_t frame = after->frame;
	int64_t steps = after->recursion - ws->recursion;

	if (steps <= 0 || !ws->frame)
		return 0;
	for (int64_t i = 0; i < steps && i < STILL_BELOW_MAX && frame; i++) {
		frame = read_ptr(w, frame + (uint64_t)w->o->fo_back);
		if (frame == ws->frame)
			return 1;
	}
	return 0;
}

/* Before 3.11 a frame is an object that outlives its call (a code object keeps its last
 * frame for the next call, free lists recycle the rest), so a walk of a running thread can
 * follow links into frames that were reused meanwhile and splice two stacks.  The walk
 * stands only if the thread's head frame is the same after it as before, and the frames
 * found are no more than the calls the thread has entered (its recursion_depth, which
 * counts every Python frame it evaluates) at either end.  0 when it stands (or cannot be
 * judged: 3.11+, or no recursion_depth); else -1 with the thread's words after the walk in
 * *after, for one more try from there. */
static int check_old_walk(struct walker *w, struct walk_thread *th, const struct ts_words *ws,
			  struct ts_words *after)
{
	unsigned char ts[TSTATE_READ_MAX];

	if (w->new_frames || th->truncated || ws->recursion < 0)
		return 0;
	if (remote_read(w->r, th->tstate, ts, w->tstate_len) < 0) {
		th->truncated = 1;
		return 0;
	}
	read_words(w, ts, after);
	int64_t most = ws->recursion > after->recursion ? ws->recursion : after->recursion;
	if ((int64_t)th->depth <= most && (after->frame == ws->frame || still_below(w, after, ws)))
		return 0;
	th->truncated = 1;
	return -1;
}

static uint64_t top_frame(struct walker *w, const struct ts_words *ws)
{
	const struct py_offsets *o = w->o;

	if (!w->new_frames || o->ts_current_frame >= 0)
		return ws->frame;
	return ws->frame ? read_ptr(w, ws->frame + (uint64_t)o->cf_current_frame) : 0;
}

static void ensure_frames(struct walk_thread *th)
{
	if (!th->frames) {
		th->frames_cap = WALK_MAX_DEPTH;
		th->frames = xcalloc(th->frames_cap, sizeof *th->frames);
	}
}

/* 3.11+: copy the thread's data stack; in the same call, right after the current chunk,
 * its words again (3.11 and 3.12: and the current frame from the C frame they name), then
 * the chunk once more.  Only frames below the top read then are live (a frame that
 * returned since ws was read leaves its bytes above it, still linking to the frames below,
 * and a chain through it splices a stack that never existed), and the walk starts at the
 * current frame read then (*head).  -1 when the copy does not hold the thread's live stack
 * (another chunk or C frame, deeper than copied, unreadable); *live: the words read after
 * the copy, to try again from. */
static int load_stack_copy(struct walker *w, uint64_t tstate, const struct ts_words *ws,
			   struct ts_words *live, uint64_t *head)
{
	unsigned char ts[TSTATE_READ_MAX];
	uint64_t current = 0;

	*live = *ws;
	*head = 0;
	w->stack.n = 0;
	if (!w->new_frames || !ws->chunk) { /* no data stack: frames are read one by one */
		*head = top_frame(w, ws);
		return 0;
	}
	memset(ts, 0, w->tstate_len);
	struct remote_iov after[2] = {{tstate, ts, w->tstate_len, 0}};
	size_t n = 1;
	if (w->o->ts_current_frame < 0) /* 3.11, 3.12: through the C frame */
		after[n++] = (struct remote_iov){ws->frame + (uint64_t)w->o->cf_current_frame,
						 &current, 8, 0};
	if (!ws->frame || stackcopy_current(&w->stack, w->r, ws->chunk, ws->top, after, n) < 0)
		return -1;
	read_words(w, ts, live);
	if (live->chunk != ws->chunk || stackcopy_set_live(&w->stack, live->top) < 0 ||
	    (n == 2 && live->frame != ws->frame))
		return -1;
	*head = n == 2 ? current : live->frame;
	stackcopy_earlier(&w->stack, w->r);
	return 0;
}

/* A frame's bytes, from the stack copy when it lies in its live part; *range: which range
 * (-1: none). */
static int frame_bytes(struct walker *w, uint64_t addr, unsigned char *block, int *range)
{
	*range = stackcopy_range_of(&w->stack, addr);
	if (*range >= 0 && stackcopy_bytes(&w->stack, *range, addr, block, w->frame_len) == 0)
		return 0;
	return remote_read(w->r, addr, block, w->frame_len);
}

/* The fields of the frame at addr the walk uses are the same in both copies of the stack
 * (the head's instruction pointer excepted: it runs on). */
static int frame_steady(struct walker *w, int range, uint64_t addr)
{
	const struct py_offsets *o = w->o;
	const struct stackcopy *sc = &w->stack;

	return stackcopy_steady(sc, range, addr + (uint64_t)o->if_code, 8) &&
	       stackcopy_steady(sc, range, addr + (uint64_t)o->if_previous, 8) &&
	       stackcopy_steady(sc, range, addr + (uint64_t)o->if_owner, 1) &&
	       (w->at_head || stackcopy_steady(sc, range, addr + (uint64_t)o->if_instr, 8));
}

/* Reads one frame's links; returns the next (older) frame address, or 0 to stop.  *keep
 * says whether it is a Python frame to record (shim frames are not).  The code object is
 * read later, for all frames of the sample at once. */
static uint64_t read_frame(struct walker *w, uint64_t addr, struct walk_frame *f, int *keep)
{
	const struct py_offsets *o = w->o;
	unsigned char block[FRAME_READ_MAX];
	uint64_t prev;
	int range;

	*keep = 0;
	if (frame_bytes(w, addr, block, &range) < 0)
		return 0;
	f->addr = addr;
	f->code_info = NULL;
	f->line = -1;
	f->from_c = 0;
	if (w->new_frames) {
		f->code = u64_at(block, w->frame_len, o->if_code) & w->code_ptr_mask;
		f->pos = (int64_t)u64_at(block, w->frame_len, o->if_instr);
		prev = u64_at(block, w->frame_len, o->if_previous);
		int owner = block[o->if_owner];
		if (owner == FRAME_OWNED_BY_THREAD && w->stack.n > 0) {
			/* a thread's frame outside its stack, not below the frame it called in
			 * the same chunk (the data stack grows up), or changed between the two
			 * copies: torn */
			if (range < 0 || (range == w->last_range && addr >= w->last_owned) ||
			    !frame_steady(w, range, addr)) {
				*keep = KEEP_STALE;
				return 0;
			}
			w->last_range = range;
			w->last_owned = addr;
		}
		/* 3.12+: a running generator's frame links to its resumer, an entry frame at
		 * least; none means it was read after it stopped */
		if (owner == FRAME_OWNED_BY_GENERATOR && !prev && w->t->frame_cstack_owner >= 0) {
			*keep = KEEP_STALE;
			return 0;
		}
		if (w->t->frame_cstack_owner >= 0 && owner >= w->t->frame_cstack_owner) {
			*keep = -1; /* an entry frame: the frame above it was called from C */
			return prev;
		}
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
	w->last_range = -1;
	w->at_head = 1;
	while (frame && hops++ < 2 * WALK_MAX_DEPTH) {
		int keep;
		struct walk_frame *f = &th->frames[th->depth];
		uint64_t prev = read_frame(w, frame, f, &keep);
		w->at_head = 0;
		if (keep == KEEP_STALE) {
			th->truncated = 1;
			return;
		}
		if (keep < 0 && th->depth > 0)
			th->frames[th->depth - 1].from_c = 1;
		if (keep > 0 && ++th->depth == th->frames_cap) {
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

/* 3.11+: copy the thread's stack and walk it; a try the thread moved under (the copy did
 * not hold its live stack, or a frame changed between the copies) is made once more from
 * the words read during it.  The thread is flagged torn when neither stands. */
static void walk_new_frames(struct walker *w, struct walk_thread *th, const struct ts_words *ws)
{
	struct ts_words from = *ws, live;
	uint64_t head;

	for (int attempt = 0; attempt < 2; attempt++, from = live) {
		ensure_frames(th);
		th->depth = 0;
		th->truncated = 1;
		if (load_stack_copy(w, th->tstate, &from, &live, &head) < 0)
			continue;
		walk_frames(w, th, head);
		if (!th->truncated || th->depth == th->frames_cap)
			return;
	}
}

/* Walk a thread's frames from its words; before 3.11 a walk the thread moved under is
 * tried once more from where it went (a busy thread moves under a good part of them). */
static void walk_thread_frames(struct walker *w, struct walk_thread *th, const struct ts_words *ws)
{
	struct ts_words after;

	if (w->new_frames) {
		walk_new_frames(w, th, ws);
		count_walk(w, th);
		return;
	}
	walk_frames(w, th, top_frame(w, ws));
	if (check_old_walk(w, th, ws, &after) < 0) {
		struct ts_words again = after;
		walk_frames(w, th, top_frame(w, &again));
		check_old_walk(w, th, &again, &after);
	}
	count_walk(w, th);
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

/* A cache entry filled during this sample may have evicted one that an earlier frame of
 * the sample resolved to: such frames are dropped (their thread marked truncated). */
static void drop_evicted(struct walk_sample *s)
{
	for (size_t i = 0; i < s->nthreads; i++) {
		struct walk_thread *th = &s->threads[i];
		size_t keep = 0;
		for (size_t k = 0; !th->reused && k < th->depth; k++) {
			if (th->frames[k].code_info->addr == th->frames[k].code)
				th->frames[keep++] = th->frames[k];
			else
				th->truncated = 1;
		}
		if (!th->reused)
			th->depth = keep;
	}
}

/* The interpreter's own code objects, which run no Python code of the program: 3.12+'s
 * entry trampoline (whose frame's owner says so, but not in every moment a walk can
 * catch) and 3.13's clean-up code for __init__ (no line). */
static int interp_shim(const struct code_info *ci, int line)
{
	return strcmp(ci->file, "<shim>") == 0 ||
	       (line < 0 && strcmp(ci->file, "__init__") == 0 && strcmp(ci->func, "__init__") == 0);
}

/* Read the header of every distinct code object of the walked threads in one batched
 * read, then resolve each frame's names and line; frames whose code is not a readable code
 * object (a torn read) are dropped, and their thread marked truncated.  Kept walks are
 * resolved already. */
static void resolve_codes(struct walker *w, struct walk_sample *s)
{
	size_t nframes = 0, ncodes = 0;

	w->misses_before = codecache_misses(w->codes);
	for (size_t i = 0; i < s->nthreads; i++)
		nframes += s->threads[i].reused ? 0 : s->threads[i].depth;
	ensure_scratch(w, nframes + 1);
	for (size_t i = 0; i < s->nthreads; i++)
		for (size_t k = 0; !s->threads[i].reused && k < s->threads[i].depth; k++) {
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
		if (th->reused)
			continue;
		for (size_t k = 0; k < th->depth; k++) {
			struct walk_frame f = th->frames[k];
			const struct remote_iov *v = &w->iov[f.code_slot];
			f.code_info =
			    v->ok ? codecache_get(w->codes, &w->p, f.code, v->dst, v->len) : NULL;
			if (!f.code_info) {
				th->truncated = 1;
				continue;
			}
			f.line = codecache_line(w->t, f.code_info, f.pos);
			if (interp_shim(f.code_info, f.line)) {
				if (keep >
				    0) /* the trampoline: the frame above was called from C */
					th->frames[keep - 1].from_c = 1;
				continue;
			}
			th->frames[keep++] = f;
		}
		th->depth = keep;
	}
	if (codecache_misses(w->codes) != w->misses_before)
		drop_evicted(s);
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

/* ---- the thread states, read in one batch ---- */

/* Read the thread states of the last sample, in its list order, with one call: while the
 * list stays the same the walk of the lists then finds every state here. */
static void read_batch(struct walker *w)
{
	size_t n = w->norder, len = w->tstate_len;

	if (n > w->batch_cap) {
		w->batch_cap = n * 2;
		w->ts_batch = xrealloc(w->ts_batch, w->batch_cap * len);
		w->ts_iov = xrealloc(w->ts_iov, w->batch_cap * sizeof *w->ts_iov);
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
	if (s->nthreads > w->order_cap) {
		w->order_cap = s->nthreads * 2;
		w->order = xrealloc(w->order, w->order_cap * sizeof *w->order);
	}
	for (size_t i = 0; i < s->nthreads; i++)
		w->order[i] = s->threads[i].tstate;
	w->norder = s->nthreads;
}

static struct ts_words *words_for(struct walker *w, size_t i)
{
	if (i >= w->words_cap) {
		w->words_cap = (i + 1) * 2;
		w->words = xrealloc(w->words, w->words_cap * sizeof *w->words);
	}
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
		read_words(w, ts, words_for(w, s->nthreads));
		struct walk_thread *th = next_thread(s);
		th->tstate = tstate;
		th->interp = interp;
		th->interp_id = f.id;
		th->thread_id = u64_at(ts, w->tstate_len, o->ts_thread_id);
		th->native_id = (int64_t)u64_at(ts, w->tstate_len, o->ts_native_id);
		th->holds_gil = holds_gil(h, tstate);
		th->depth = 0;
		th->truncated = 0;
		uint64_t next = u64_at(ts, w->tstate_len, o->ts_next);
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
	ensure_frames(th);
	if (can_reuse(w, k, th, ws, now)) {
		if (k->depth)
			memcpy(th->frames, k->frames, k->depth * sizeof *k->frames);
		th->depth = k->depth;
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

	if (s->nthreads > w->next_cap) {
		w->next_cap = s->nthreads * 2;
		w->next_kept = xrealloc(w->next_kept, w->next_cap * sizeof *w->next_kept);
	}
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
		if (th->depth > k->cap) {
			k->cap = th->depth;
			k->frames = xrealloc(k->frames, k->cap * sizeof *k->frames);
		}
		if (th->depth)
			memcpy(k->frames, th->frames, th->depth * sizeof *th->frames);
		k->depth = th->depth;
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
	resolve_codes(w, s);
	keep_walks(w, s);
	return 0;
}

int walker_walk_thread(struct walker *w, const struct walk_thread *known, struct walk_sample *out)
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
		ident.thread_id = u64_at(ts, w->tstate_len, w->o->ts_thread_id);
		ident.native_id = (int64_t)u64_at(ts, w->tstate_len, w->o->ts_native_id);
		ident.interp = u64_at(ts, w->tstate_len, w->o->ts_interp);
		ident.interp_id = 0;
		ident.holds_gil = 1;
		ident.frames = NULL;
		if (!ident.thread_id || !ident.interp)
			return -1;
		known = &ident;
	}
	/* the same thread still: a state freed and reused by another thread has another
	 * ident (or, 3.11+, another kernel TID) */
	if (u64_at(ts, w->tstate_len, w->o->ts_thread_id) != known->thread_id ||
	    (w->o->ts_native_id >= 0 &&
	     (int64_t)u64_at(ts, w->tstate_len, w->o->ts_native_id) != known->native_id &&
	     known->native_id > 0 && w->t->minor >= 11))
		return -1;
	read_words(w, ts, &ws);
	struct walk_thread *th = next_thread(out);
	struct walk_frame *frames = th->frames;
	size_t cap = th->frames_cap;
	*th = *known;
	th->frames = frames;
	th->frames_cap = cap;
	th->reused = th->cpu_known = 0;
	th->cpu_ns = th->quiet_since = 0;
	walk_thread_frames(w, th, &ws);
	resolve_codes(w, out);
	return 0;
}

void walk_sample_free(struct walk_sample *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->threads[i].frames);
	free(s->threads);
	memset(s, 0, sizeof *s);
}
