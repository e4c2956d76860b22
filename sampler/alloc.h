/* alloc.h: the target's allocator statistics, read from its memory while it runs.
 *
 * pymalloc keeps its state in statics (2.7 - 3.11: `arenas`, `maxarenas`,
 * `narenas_currently_allocated`, `narenas_highwater`, `raw_allocated_blocks`,
 * `_Py_AllocatedBlocks`; addresses from symtab/symbols/pytarget.c) or in the interpreter
 * state (3.12 inline `interp->obmalloc`, 3.13 a pointer to it; offsets from the layout
 * table).  The counters are a few words, read every time; the blocks and bytes in use
 * need a walk over every pool header of every arena (one 48-byte piece per pool, batched
 * into process_vm_readv calls), which the caller asks for only as often as it can afford.
 *
 * Nothing is trusted: a counter outside its possible range, an arena whose pools run past
 * its end, a pool whose size class and block size disagree, or state that changed while
 * it was walked make the affected fields invalid for that reading (a torn read while the
 * target runs), never a wrong number.  A field the build hides (a stripped binary whose
 * accessor names only some statics, a free-threaded build, no layout) is reported as
 * unavailable with the reason, never as 0. */
#ifndef TG_ALLOC_H
#define TG_ALLOC_H

#include <stdint.h>

#include "attach/remote.h"
#include "symbols/pytarget.h"

enum alloc_field {
	ALLOC_ARENAS,		/* arenas allocated now */
	ALLOC_ARENAS_HIGHWATER, /* most arenas allocated at once so far */
	ALLOC_BLOCKS,		/* blocks in use, as sys.getallocatedblocks() counts them */
	ALLOC_BYTES,		/* bytes in pymalloc blocks in use (count x block size) */
	ALLOC_RAW_BLOCKS,	/* blocks over 512 bytes that pymalloc passed to malloc (3.9+) */
	ALLOC_ARENA_BYTES,	/* bytes of the pools carved out of the arenas so far */
	ALLOC_NFIELDS
};

struct alloc_stats {
	uint64_t v[ALLOC_NFIELDS];
	unsigned valid; /* bit (1u << field): v[field] was read and passed every check */
	int walked;	/* the pools were walked (successfully or not) */
	uint64_t pools; /* pool headers read by the walk */
};

struct alloc_reader;

struct alloc_reader *alloc_new(struct remote *r, const struct py_target *t);
void alloc_free(struct alloc_reader *a);

/* Read the counters, and walk the pools when walk is nonzero. */
void alloc_read(struct alloc_reader *a, int walk, struct alloc_stats *out);

/* Fields this target can give (bits), and, for a field it cannot give, why (one line). */
unsigned alloc_available(const struct alloc_reader *a);
const char *alloc_missing_reason(const struct alloc_reader *a, enum alloc_field f);
/* Where the allocator state was found ("statics from .symtab", ...), or why nothing was. */
const char *alloc_source(const struct alloc_reader *a);

/* "arenas", "arenas_highwater", "blocks", "bytes_in_use", "raw_blocks", "arena_bytes". */
const char *alloc_field_name(enum alloc_field f);

/* The heap metric: the bytes in pymalloc blocks in use, plus the anonymous memory outside
 * pymalloc's arenas (anon - arena_bytes: what malloc and mmap hold for blocks over 512
 * bytes, buffers and extensions).  -1 when this reading has no walk. */
int alloc_heap(const struct alloc_stats *s, uint64_t anon, uint64_t *heap);
/* 1 when this target's readings can give the heap metric. */
int alloc_heap_available(const struct alloc_reader *a);

/* A cheap reading for between the walks: the arena objects only, no pool headers (two
 * reads per allocator state; the states found by the last alloc_read()).  pools_bytes: pools in use
 * (not empty) x pool size; carved_bytes: as ALLOC_ARENA_BYTES.  A pool's worth of blocks can come
 * and go unseen, so this only apportions the exact change a walk measures.  -1 when unavailable or
 * torn. */
struct alloc_quick {
	uint64_t pools_bytes, carved_bytes;
	/* with the watch on (alloc_watch): the free slots of the pools taken lately, below
	 * the most each held since (the quick value is pools_bytes less them); and those of
	 * the pools that stopped being watched at this reading, a jump of that value that is
	 * no change.  alloc_quick leaves the watch as it is and gives its last watch_free. */
	uint64_t watch_free, watch_left;
};
int alloc_quick(struct alloc_reader *a, struct alloc_quick *out);
/* Watch the pools taken lately (alloc_quick_with, one allocator state only), or let them
 * go.  A pool that another thread's objects pin keeps the call that took it charged with
 * 16 KiB after it freed its own blocks: watched, its free slots are seen coming and going
 * (sampler/alloc_watch.c).  Only worth it while several threads run Python.  Their
 * headers are read at every reading, in its system call (ALLOC_WATCH_EVERY: a fifth more
 * time per reading). */
enum alloc_watch_mode { ALLOC_WATCH_OFF, ALLOC_WATCH_EVERY };
void alloc_watch(struct alloc_reader *a, enum alloc_watch_mode mode);
/* The same, with the caller's own pieces read in the first system call, after the
 * counters (at most ALLOC_EXTRA_MAX; each one's ok says whether it was read: not when the
 * reading failed before it), and the watch brought up to date. */
#define ALLOC_EXTRA_MAX 256
int alloc_quick_with(struct alloc_reader *a, struct alloc_quick *out, struct remote_iov *extra,
		     size_t nextra);

/* Pool and arena sizes of a pymalloc version: 4 KiB / 256 KiB up to 3.9, 16 KiB / 1 MiB
 * from 3.10 (x86-64). */
uint64_t alloc_pool_size(int major, int minor);
uint64_t alloc_arena_size(int major, int minor);

#endif
