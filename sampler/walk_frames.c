/* walk_frames.c: one thread's frame chain, from the thread state's words to its frames
 * (code objects unresolved): the 3.11+ data stack copy, torn walks, one more try. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/stackcopy.h"
#include "sampler/walk_int.h"

/* Links followed to find a walk's head below a thread's new head (still_below). */
#define STILL_BELOW_MAX 16
#define FRAME_OWNED_BY_THREAD 0 /* _PyInterpreterFrame.owner, 3.11+ */
#define FRAME_OWNED_BY_GENERATOR 1
#define KEEP_STALE (-2) /* read_frame: a frame that cannot be on the stack */

void walk_read_words(const struct walker *w, const unsigned char *ts, struct ts_words *out)
{
	const struct py_offsets *o = w->o;
	size_t len = w->tstate_len;

	out->frame = walk_u64_at(ts, len, py_frame_word_off(o));
	out->chunk = walk_u64_at(ts, len, o->ts_datastack_chunk);
	out->top = walk_u64_at(ts, len, o->ts_datastack_top);
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

void walker_copy_counts(const struct walker *w, uint64_t *tries, uint64_t *walks)
{
	*tries = w->copy_tries;
	*walks = w->copy_walks;
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
		frame = walk_read_ptr(w, frame + (uint64_t)w->o->fo_back);
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
	walk_read_words(w, ts, after);
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
	return ws->frame ? walk_read_ptr(w, ws->frame + (uint64_t)o->cf_current_frame) : 0;
}

void walk_ensure_frames(struct walk_thread *th)
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
	if (!ws->chunk) { /* no data stack yet: frames are read one by one */
		*head = top_frame(w, ws);
		return 0;
	}
	/* 3.13+: no current frame, the thread runs C only (an embedding program between two
	 * calls into Python).  Taken for a torn read until December 2026: a process whose
	 * only thread ran C at the first samples failed the layout check */
	if (!ws->frame && w->o->ts_current_frame >= 0)
		return 0;
	memset(ts, 0, w->tstate_len);
	struct remote_iov after[2] = {{tstate, ts, w->tstate_len, 0}};
	size_t n = 1;
	if (w->o->ts_current_frame < 0) /* 3.11, 3.12: through the C frame */
		after[n++] = (struct remote_iov){ws->frame + (uint64_t)w->o->cf_current_frame,
						 &current, 8, 0};
	if (!ws->frame || stackcopy_current(&w->stack, w->r, ws->chunk, ws->top, after, n) < 0)
		return -1;
	walk_read_words(w, ts, live);
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
	f->eval_entry = 0;
	f->entry_addr = 0;
	f->native = 0;
	f->chunk = 0;
	if (w->new_frames) {
		f->code = walk_u64_at(block, w->frame_len, o->if_code) & w->code_ptr_mask;
		f->pos = (int64_t)walk_u64_at(block, w->frame_len, o->if_instr);
		prev = walk_u64_at(block, w->frame_len, o->if_previous);
		int owner = block[o->if_owner];
		/* 3.11 (no shim frames): `bool is_entry` is the byte before `owner` */
		if (w->t->frame_cstack_owner < 0 && o->if_owner > 0)
			f->eval_entry = block[o->if_owner - 1] != 0;
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
			f->chunk = range + 1;
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
		f->code = walk_u64_at(block, w->frame_len, o->fo_code);
		memcpy(&lasti, block + o->fo_lasti, 4);
		f->pos = lasti;
		prev = walk_u64_at(block, w->frame_len, o->fo_back);
	}
	*keep = f->code != 0;
	return prev;
}

static void walk_frames(struct walker *w, struct walk_thread *th, uint64_t frame)
{
	size_t hops = 0;

	walk_ensure_frames(th);
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
		if (keep < 0 && th->depth > 0) { /* an entry frame, on the C stack */
			struct walk_frame *above = &th->frames[th->depth - 1];
			above->from_c = above->eval_entry = 1;
			above->entry_addr = frame;
		}
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

/* A walk that found no frame (head: the current frame it started from) read the thread in
 * a steady state, running C only (an embedding server such as uWSGI between two requests):
 * no current frame at all (3.15: its base frame, inside the thread state), not a frame
 * without a Python frame above it (3.12+: an entry frame whose link to its caller is set a
 * moment later), and on 3.11 and 3.12 not a new C frame whose current frame is not set yet
 * (tracker.c): between Python calls their thread state's C frame is its own root_cframe
 * (PY_TSTATE_FRAME_SPAN). */
static int steady_no_frames(const struct walker *w, const struct walk_thread *th,
			    const struct ts_words *ws, uint64_t head)
{
	if (th->depth || th->truncated)
		return 0;
	if (!w->new_frames)
		return !head;
	if (w->o->ts_current_frame >= 0)
		return !head || py_inside_tstate(head, th->tstate);
	return !head && py_inside_tstate(ws->frame, th->tstate);
}

/* 3.11+: a walk of th not made yet (torn until it is). */
static void walk_begin(struct walk_thread *th)
{
	walk_ensure_frames(th);
	th->depth = 0;
	th->truncated = 1;
	th->no_frames = 0;
}

/* 3.11+: copy the thread's stack and walk it; a try the thread moved under (the copy did
 * not hold its live stack, or a frame changed between the copies) is made once more from
 * the words read during it.  The thread is flagged torn when neither stands. */
static void walk_new_frames(struct walker *w, struct walk_thread *th, const struct ts_words *ws)
{
	struct ts_words from = *ws, live;
	uint64_t head;

	for (int attempt = 0; attempt < 2; attempt++, from = live) {
		walk_begin(th);
		if (load_stack_copy(w, th->tstate, &from, &live, &head) < 0)
			continue;
		walk_frames(w, th, head);
		th->no_frames = steady_no_frames(w, th, &live, head);
		if (!th->truncated || th->depth == th->frames_cap)
			return;
	}
}

int walk_frames_taken(struct walker *w, struct walk_thread *th, const struct stackcopy_taken *t)
{
	struct ts_words live = {t->word, t->chunk, t->top, -1};

	if (!w->new_frames || !t->head)
		return -1;
	w->copy_tries++;
	walk_begin(th);
	if (stackcopy_adopt(&w->stack, t) < 0)
		return -1;
	stackcopy_earlier(&w->stack, w->r);
	walk_frames(w, th, t->head);
	if (th->truncated && th->depth < th->frames_cap)
		return -1;
	th->no_frames = steady_no_frames(w, th, &live, t->head);
	count_walk(w, th);
	w->copy_walks++;
	return 0;
}

/* Walk a thread's frames from its words; before 3.11 a walk the thread moved under is
 * tried once more from where it went (a busy thread moves under a good part of them). */
void walk_thread_frames(struct walker *w, struct walk_thread *th, const struct ts_words *ws)
{
	struct ts_words after;

	if (w->new_frames) {
		walk_new_frames(w, th, ws);
		count_walk(w, th);
		return;
	}
	uint64_t head = top_frame(w, ws);
	walk_frames(w, th, head);
	if (check_old_walk(w, th, ws, &after) < 0) {
		struct ts_words again = after;
		walk_frames(w, th, top_frame(w, &again));
		check_old_walk(w, th, &again, &after);
	}
	th->no_frames = steady_no_frames(w, th, ws, head);
	count_walk(w, th);
}
