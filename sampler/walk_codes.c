/* walk_codes.c: the code objects of a sample's fresh walks, read in one batch, and each
 * frame's names and line resolved through the code cache. */
#include <stdint.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/codecache.h"
#include "sampler/walk_int.h"

uint64_t walker_code_reads(const struct walker *w)
{
	return w->code_reads;
}

static void ensure_scratch(struct walker *w, size_t n)
{
	if (n <= w->scratch_cap)
		return;
	w->scratch_cap = xgrow_cap(w->scratch_cap, n);
	w->iov = xreallocarray(w->iov, w->scratch_cap, sizeof *w->iov);
	w->codes_seen = xreallocarray(w->codes_seen, w->scratch_cap, sizeof *w->codes_seen);
	w->heads = xreallocarray(w->heads, w->scratch_cap, w->code_len);
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

/* 3.11+: a thread pushes each frame on its data stack right where the frame below it ends,
 * its code's frame size further up; so two of the thread's own frames read from the same
 * range of the stack copy, one the next the walk found below the other, hold together only
 * when the upper one begins there.  A walk can pass every other check and still splice two
 * moments: when a loop runs the same calls over and over, the same bytes come back at the
 * same place between the two copies (the walk copied a frame that returned, and saw it
 * again when the loop called it once more), and a frame read below another may be a call
 * made after the one above returned.  The torn-edges test found such a stack once in CI
 * (pyenv 3.12, 3,034 calls: helper() under random's randint(), which never calls it).
 * *above: the address and chunk of the thread's last own frame the walk found (chunk 0:
 * none yet); 0 when f stands. */
struct own_frame {
	uint64_t addr;
	int chunk;
};

static int spliced(const struct walk_frame *f, struct own_frame *above)
{
	struct own_frame up = *above;

	if (!f->chunk)
		return 0;
	*above = (struct own_frame){f->addr, f->chunk};
	uint64_t end = walk_frame_end(f);
	return up.chunk == f->chunk && end && up.addr != end;
}

/* Thread th's frames resolved from the batch read into w->iov: frames whose code is not a
 * readable code object are dropped, the walk is cut below a frame that does not begin where
 * the frame below it ends (spliced), and the interpreter's shims are taken out. */
static void resolve_thread(struct walker *w, struct walk_thread *th)
{
	struct own_frame above = {0, 0};
	size_t keep = 0;

	for (size_t k = 0; k < th->depth; k++) {
		struct walk_frame f = th->frames[k];
		if (f.code_slot != SIZE_MAX) {
			const struct remote_iov *v = &w->iov[f.code_slot];
			f.code_info =
			    v->ok ? codecache_get(w->codes, &w->p, f.code, v->dst, v->len) : NULL;
		}
		if (!f.code_info) {
			th->truncated = 1;
			above.chunk = 0;
			continue;
		}
		if (spliced(&f, &above)) {
			w->torn += !th->truncated;
			th->truncated = 1;
			break;
		}
		f.line = codecache_line(w->t, f.code_info, f.pos);
		if (interp_shim(f.code_info, f.line)) {
			/* the frame above was called from C, or by the 3.13+ clean-up shim of
			 * __init__: the same evaluation call runs both */
			if (keep > 0) {
				th->frames[keep - 1].from_c = 1;
				th->frames[keep - 1].eval_entry |=
				    strcmp(f.code_info->file, "<shim>") == 0;
			}
			continue;
		}
		th->frames[keep++] = f;
	}
	th->depth = keep;
}

/* Read the header of every distinct code object of the walked threads in one batched
 * read, then resolve each frame's names and line; frames whose code is not a readable code
 * object (a torn read) are dropped, and their thread marked truncated.  Kept walks are
 * resolved already, and so are frames that already have their code entry (a walk between
 * samples: walker_walk_thread). */
void walk_resolve_codes(struct walker *w, struct walk_sample *s)
{
	size_t nframes = 0, ncodes = 0;

	w->misses_before = codecache_misses(w->codes);
	for (size_t i = 0; i < s->nthreads; i++)
		nframes += s->threads[i].reused ? 0 : s->threads[i].depth;
	ensure_scratch(w, nframes + 1);
	for (size_t i = 0; i < s->nthreads; i++)
		for (size_t k = 0; !s->threads[i].reused && k < s->threads[i].depth; k++) {
			struct walk_frame *f = &s->threads[i].frames[k];
			f->code_slot = f->code_info ? SIZE_MAX : code_index(w, &ncodes, f->code);
		}
	for (size_t c = 0; c < ncodes; c++)
		w->iov[c] = (struct remote_iov){w->codes_seen[c], w->heads + c * w->code_len,
						w->code_len, 0};
	w->code_reads += ncodes;
	if (ncodes)
		remote_readv(w->r, w->iov, ncodes);
	for (size_t i = 0; i < s->nthreads; i++)
		if (!s->threads[i].reused)
			resolve_thread(w, &s->threads[i]);
	if (codecache_misses(w->codes) != w->misses_before)
		drop_evicted(s);
}
