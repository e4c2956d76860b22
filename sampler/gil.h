/* gil.h: which thread holds the GIL, read cheaply and often.
 *
 * The stack walker reads the holder once per stack sample; memory attribution wants it
 * between stack samples too (the GIL changes hands every 5 ms by default), so this module
 * keeps the addresses of each GIL's `locked` and `last_holder` words and reads them with
 * one batched call: 3.7 - 3.11 `_PyRuntime.ceval.gil`, 3.12+ `interp->ceval.gil` (a
 * pointer, one GIL per interpreter that has its own), 3.6 the statics `gil_locked` /
 * `gil_last_holder`, 2.7 `_PyThreadState_Current` (NULL while nobody holds it).
 * `last_holder` is not cleared on release: it counts only while `locked` is 1.  Where the
 * layout has it, each GIL's `switch_number` is read in the same call. */
#ifndef TG_GIL_H
#define TG_GIL_H

#include <stddef.h>
#include <stdint.h>

#include "attach/remote.h"
#include "sampler/stackcopy.h"
#include "symbols/pytarget.h"

#define GIL_MAX 64

struct gil_reader;

struct gil_reader *gil_new(struct remote *r, const struct py_target *t);
void gil_free(struct gil_reader *g);

/* Find the GILs again (3.12+: follow the interpreter list); call now and then, e.g. at
 * every stack sample.  Returns how many GILs are known. */
size_t gil_refresh(struct gil_reader *g);

#define GIL_SWITCHES_UNKNOWN UINT64_MAX

/* The thread states holding a GIL now, at most max into out; returns how many (0 when
 * nobody holds one, or it cannot be read).  When switches is not NULL it gets the sum of
 * the GILs' `switch_number` (3.7+: counts each time a GIL is taken by another thread than
 * its last holder), or GIL_SWITCHES_UNKNOWN: a holder seen at two readings with the same
 * count held its GIL throughout. */
size_t gil_holders(struct gil_reader *g, uint64_t *out, size_t max, uint64_t *switches);
/* A GIL reading in two halves, for a caller that batches it with its own reads:
 * gil_prepare() queues the pieces to read into iov (at most GIL_IOV_MAX; into b) and
 * returns how many; once the caller has read them (remote_readv), gil_parse() answers as
 * gil_holders() does, and sets what gil_holders_read() and gil_last_holder() say.
 * switches: 1 to read the switch counters too (gil_parse then may fill *switches). */
#define GIL_IOV_MAX (3 * GIL_MAX + 8)
struct gil_batch {
	int32_t locked[GIL_MAX];
	uint64_t holder[GIL_MAX], sw[GIL_MAX];
	int switches;
	uint64_t word, word_of; /* gil_in_c's word, and the state it was read of (0: none) */
	/* 3.11+: that state's data stack chunk, top, current frame (gil_position); with a
	 * stack copy (gil_stack), the word, top and frame read again after it */
	uint64_t chunk, top, cur, again[3];
	int at_top, at_cur, at_copy, at_again; /* their pieces after the word; 0: not queued */
	size_t npos;			       /* pieces from the word on */
};
/* stacks: 1 to copy the data stack of the last holder (3.11+) in the same call (gil_stack) */
size_t gil_prepare(struct gil_reader *g, struct gil_batch *b, struct remote_iov *iov, int switches,
		   int stacks);
size_t gil_parse(struct gil_reader *g, const struct gil_batch *b, const struct remote_iov *iov,
		 size_t n, uint64_t *out, size_t max, uint64_t *switches);
/* Did the last gil_holders() read the GILs (0: none known, or the read failed, so that its
 * 0 holders means nothing)? */
int gil_holders_read(const struct gil_reader *g);
/* The last holder of the only GIL as the last gil_holders() read it (with switches asked
 * for), holding it still or not (`last_holder` is not cleared on release), when exactly
 * one GIL is known, with its `locked` word and switch counter, and was read; else 0.  A
 * thread seen as the last holder at two readings with the same switch count is the only
 * thread that held the GIL between them, whether or not it held it at either reading. */
uint64_t gil_last_holder(const struct gil_reader *g);
/* The thread state that the last gil_parse() read running C only, or 0: the only GIL's
 * last holder at the reading before (its word is read in the same batch, last), whose
 * current frame (3.13+), C frame (3.11, 3.12) or frame object (up to 3.10) is NULL or
 * inside the state itself (PY_TSTATE_FRAME_SPAN: 3.15's base frame, 3.11's root C frame).  A hint
 * (the state may have been freed since): a walk confirms it. */
uint64_t gil_in_c(const struct gil_reader *g);
/* Where the state of gil_in_c()'s word was in its Python code at the last gil_parse(): the
 * top of its data stack (3.11+: `datastack_top`, read in the same batch, the end of its
 * innermost frame, or of the frame whose C call it runs), with *frame that frame (3.13+
 * the frame word; 3.11 and 3.12 its C frame's current frame, read where the reading before
 * found the C frame, and taken only when this one finds it there still), and *tstate the
 * state; 0 when unknown (up to 3.10, which has no data stack; running C only; not read).
 * Compared with a walk made later, it tells whether the thread was then in a frame it
 * still has (tracker.h, tracker_charge's pos_before). */
uint64_t gil_position(const struct gil_reader *g, uint64_t *tstate, uint64_t *frame);
/* The data stack of the state gil_position() names, as the last gil_parse() copied it
 * (gil_prepare's stacks): its current chunk from its start to past its top, copied right
 * after the words that gave the position, and those words read again right after it, the
 * same.  So its frames are those the thread had when the reading saw the memory (a walk
 * made later finds a thread that has run on: docs/memory.md, "The walk comes after the
 * reading").  The chunk copied is the one the reading before found; 0 when it is still
 * the current one and the copy holds the top, else -1 (none asked, another state, the
 * thread moved during the copy, or moved to another chunk). */
int gil_stack(const struct gil_reader *g, uint64_t tstate, struct stackcopy_taken *out);

#endif
