/* stackcopy.h: a local copy of a 3.11+ thread's data stack, where its frames live.
 *
 * CPython 3.11+ pushes a thread's frames on a data stack made of chunks: a header
 * (previous chunk, size, top in words from the data, saved when a newer chunk is pushed),
 * then frames, each right above its caller.  Copying the used part once lets a deep chain
 * be walked locally instead of with one read per frame.
 *
 * The thread runs on while it is copied, and a frame that returned leaves its bytes behind,
 * still linking to the frames below it.  So the copy says which part of it was live: the
 * current chunk is copied with some bytes past the top known before, and a piece read in
 * the same call right after it (the thread state's words) gives the top the thread had
 * then; only frames below it are live.  Earlier chunks are live up to their saved top.
 *
 * One copy can still be torn: when the reader is preempted mid-copy, the thread may return
 * below a frame already copied and push others above it before the copy gets there.  So
 * the current chunk is copied a second time in the same call, after those pieces: a frame
 * whose bytes are the same in both copies held them when the words were read between
 * them (unless the thread wrote the very same bytes there again). */
#ifndef TG_STACKCOPY_H
#define TG_STACKCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "attach/remote.h"

#define STACKCOPY_CHUNKS_MAX 8 /* data stack chunks copied */

struct stackcopy {
	unsigned char *bytes, *again; /* again: the second copy of the current chunk */
	size_t cap, used, again_cap;
	int once; /* the current chunk was adopted: no second copy to compare with */
	struct stackcopy_range {
		uint64_t lo, live, end; /* remote [lo, end) copied; [lo, live) live */
		size_t at;		/* where in bytes */
	} ranges[STACKCOPY_CHUNKS_MAX];
	size_t n;
};

void stackcopy_free(struct stackcopy *sc);

/* A current chunk copied elsewhere, in one piece (gil_stack): [chunk, chunk + len) of
 * bytes, live up to top, the thread's innermost frame head, and its frame word (3.13+ the
 * same frame; 3.11 and 3.12 its C frame). */
struct stackcopy_taken {
	uint64_t chunk, top, head, word;
	const unsigned char *bytes;
	size_t len;
};
/* Take such a copy as the current chunk's (its frames steady: read once, and judged
 * steady by who took it); -1 when it does not hold its top. */
int stackcopy_adopt(struct stackcopy *sc, const struct stackcopy_taken *t);

/* Copy the current chunk from its start to past top (to the end of top's page), then read
 * the n pieces of after, then the chunk again, all in the same call.  0 when all were read;
 * the range is live up to top until stackcopy_set_live says otherwise. */
int stackcopy_current(struct stackcopy *sc, struct remote *r, uint64_t chunk, uint64_t top,
		      struct remote_iov *after, size_t n);
/* The current chunk's live top as read after it: -1 when the copy does not reach it. */
int stackcopy_set_live(struct stackcopy *sc, uint64_t top);
/* Copy the earlier chunks, live up to the tops saved in their headers. */
void stackcopy_earlier(struct stackcopy *sc, struct remote *r);

/* Which range holds addr in its live part, or -1. */
int stackcopy_range_of(const struct stackcopy *sc, uint64_t addr);
/* Copy len bytes at addr from the copy of the live range it lies in; 0 when they are there. */
int stackcopy_bytes(const struct stackcopy *sc, int range, uint64_t addr, void *dst, size_t len);
/* 1 when the len bytes at addr are the same in both copies of the current chunk (or lie in
 * an earlier chunk, copied once); 0 when they changed or are not in the copy. */
int stackcopy_steady(const struct stackcopy *sc, int range, uint64_t addr, size_t len);

#endif
