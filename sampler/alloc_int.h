/* alloc_int.h: what the allocator reader's files share (alloc.c: setup, the pool walk,
 * the readings; alloc_state.c: the allocator states and their counters).  Not an API:
 * alloc.h is. */
#ifndef TG_ALLOC_INT_H
#define TG_ALLOC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attach/remote.h"
#include "sampler/alloc.h"

#define MAX_STATES 64	       /* interpreters with their own obmalloc state */
#define MAX_ARENAS (1u << 22)  /* more arena objects than any real heap has */
#define MAX_COUNT (1ull << 40) /* block counters beyond this are garbage */
#define USER_TOP (1ull << 47)  /* x86-64 user addresses lie below */
#define POOL_BATCH 1024	       /* pool headers per process_vm_readv call */
#define POOL_HDR 48	       /* bytes read per pool header (also POOL_OVERHEAD) */

#define BIT(f) (1u << (f))

/* Values read from the target, as it lays them out (x86-64). */
static inline uint64_t alloc_get_u64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t alloc_get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* struct arena_object after pool_address, in every version since 2.5 (the layout table
 * does not name them; alloc.c's quick_offsets checks the rest of that layout): nfreepools,
 * ntotalpools, freepools */
#define ARENA_NFREE_OFF 16
#define ARENA_NTOTAL_OFF 20
#define ARENA_FREEPOOLS_OFF 24

/* alloc_watch.c: the pools taken in the last WATCH_S, WATCH_MAX at most; WATCH_TAKES new
 * ones looked at per reading at most */
#define WATCH_S 0.02
#define WATCH_MAX 16
#define WATCH_TAKES 64

struct watched {
	uint64_t addr;
	uint32_t count, high, size; /* blocks in use, the most since taken, block size */
	double at;		    /* monotonic time it was seen taken */
	unsigned char hdr[POOL_HDR];
};

struct pool_watch {
	int on;
	struct watched w[WATCH_MAX]; /* oldest first */
	size_t n;
	uint64_t free; /* their free slots below their high marks, at the last reading */
	/* the arena objects at the last reading, to tell the pools taken since */
	unsigned char *prev;
	size_t prev_cap;
	uint32_t prev_span;
	uint64_t prev_arenas; /* their address; 0: none to compare with */
};

enum mode { MODE_NONE, MODE_STATICS, MODE_INTERP };

/* Addresses of one allocator state's counters (0 = not known). */
struct state_addrs {
	uint64_t arenas, maxarenas, narenas, highwater, raw, allocated;
};

/* Values of one state's counters; have: which were read. */
struct counters {
	uint64_t arenas, narenas, highwater, raw, allocated;
	uint32_t maxarenas;
	unsigned have;
};

enum { C_ARENAS = 1, C_MAXARENAS = 2, C_NARENAS = 4, C_HIGHWATER = 8, C_RAW = 16, C_ALLOC = 32 };

struct alloc_reader {
	struct remote *r;
	const struct py_target *t;
	const struct py_offsets *o;
	enum mode mode;
	unsigned avail;
	int can_walk;
	const char *missing[ALLOC_NFIELDS];
	char source[192];
	uint64_t pool_size, arena_size;
	unsigned char *arena_buf; /* the arena objects, for the walk */
	size_t arena_cap;
	unsigned char *quick_buf; /* the arena objects, for alloc_quick */
	size_t quick_cap;
	/* where and how many arena objects alloc_quick read last (one state only): read again
	 * in the counters' batch, valid when the counters then say the same */
	uint64_t quick_arenas;
	uint32_t quick_span;
	unsigned char (*pool_buf)[POOL_HDR]; /* POOL_BATCH headers, allocated at the first walk */
	struct remote_iov *iov;
	struct pool_watch watch;
	struct state_addrs states[MAX_STATES]; /* as found by the last alloc_read() */
	size_t nstates;
};

/* Addresses of every distinct allocator state (3.12+: one per interpreter that has its
 * own); returns how many. */
size_t alloc_list_states(struct alloc_reader *a, struct state_addrs *out);
/* One batched read of a state's counters, and then of the nalso pieces also (their ok set;
 * at most COUNTERS_ALSO_MAX: the arena objects and a caller's pieces).  -1 when a counter
 * that exists could not be read. */
#define COUNTERS_ALSO_MAX (1 + ALLOC_EXTRA_MAX)
int alloc_read_counters(struct alloc_reader *a, const struct state_addrs *sa, struct counters *c,
			struct remote_iov *also, size_t nalso);
/* 0 for counters that cannot be true of any pymalloc state: a torn read or garbage. */
int alloc_counters_sane(const struct counters *c);
/* How many arena objects to read (from the first): see alloc_state.c. */
uint32_t alloc_arenas_span(const struct counters *c);
int alloc_counters_equal(const struct counters *x, const struct counters *y);

/* The block size of the pool whose header is h, with *count its blocks in use; 0 when it
 * cannot be a used pool (carved and not set up yet, or garbage: a torn read). */
uint32_t alloc_pool_block_size(const struct alloc_reader *a, const unsigned char *h,
			       uint32_t *count);

/* The watched pools' headers to read with the arena objects (none when more than room,
 * or when they are read on change only);
 * then, with the pieces as read and the arena objects in quick_buf (span of them), the
 * watch brought up to date and out's watch fields set. */
size_t alloc_watch_iov(struct alloc_reader *a, struct remote_iov *iov, size_t room);
void alloc_watch_after(struct alloc_reader *a, const struct remote_iov *iov, size_t n,
		       uint32_t span, struct alloc_quick *out);
/* Every pool let go as it is (out->watch_left): the reading saw more than one allocator
 * state. */
void alloc_watch_drop(struct alloc_reader *a, struct alloc_quick *out);
void alloc_watch_release(struct alloc_reader *a);

#endif
