/* alloc_watch.c: the pools taken lately, watched block by block (alloc.h, alloc_watch).
 *
 * The quick reading counts pools in use: a pool is charged to the call that took it and
 * released by the call that emptied it.  When another thread puts objects in a pool that
 * a call took (it runs while the call lets the GIL go), the pool does not empty when the
 * call frees its own: the call keeps 16 KiB it did not keep, and the other thread's
 * objects cost nothing (docs/memory.md, "Limits").  So the pools taken in the last
 * WATCH_S are watched: their headers are read with the arena objects, and a pool whose
 * count falls below the most it held is worth that many blocks less (the free slots below
 * its high mark), until the slots are filled again.  The call that frees is then seen
 * releasing its blocks, and the one that fills the slots again growing.  A pool taken is
 * still charged whole at once (its slots above the mark are its taker's, as they are for
 * every pool), and one emptied releases what is left of it.  A pool that stops being
 * watched (old, or the watch full or off) leaves its free slots as they are: the jump of
 * the value is no change (alloc_quick.watch_left).  The headers are read at every
 * reading, in its system call. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "sampler/alloc_int.h"

/* What a watched pool takes off the value: its free slots below its high mark. */
static uint64_t free_below(const struct watched *w)
{
	return (uint64_t)(w->high - w->count) * w->size;
}

void alloc_watch(struct alloc_reader *a, enum alloc_watch_mode mode)
{
	a->watch.on = mode != ALLOC_WATCH_OFF;
}

size_t alloc_watch_iov(struct alloc_reader *a, struct remote_iov *iov, size_t room)
{
	struct pool_watch *pw = &a->watch;

	if (pw->n > room)
		return 0;
	for (size_t i = 0; i < pw->n; i++)
		iov[i] = (struct remote_iov){pw->w[i].addr, pw->w[i].hdr, POOL_HDR, 0};
	return pw->n;
}

/* The watched pools' headers as read (iov, n of them): counts and high marks; a pool
 * emptied leaves with what is left of it (a change), one old, unreadable or set up for
 * another size leaves as it is (*left). */
static void update(struct alloc_reader *a, const struct remote_iov *iov, size_t n, double now,
		   uint64_t *left)
{
	struct pool_watch *pw = &a->watch;
	size_t keep = 0;

	for (size_t i = 0; i < pw->n; i++) {
		struct watched *w = &pw->w[i];
		uint32_t count,
		    size = i < n && iov[i].ok ? alloc_pool_block_size(a, w->hdr, &count) : 0;
		if (size && count == 0)
			continue; /* emptied: its free slots go with it, as a release */
		if (!size || size != w->size || !pw->on || now - w->at > WATCH_S) {
			*left += free_below(w);
			continue;
		}
		w->count = count;
		if (count > w->high)
			w->high = count;
		pw->w[keep++] = *w;
	}
	pw->n = keep;
}

static int watched(const struct pool_watch *pw, uint64_t addr)
{
	for (size_t i = 0; i < pw->n; i++)
		if (pw->w[i].addr == addr)
			return 1;
	return 0;
}

/* The pools arena object obj took since it was prev: those carved from its unused space,
 * and the first of its free list when that changed and the pools in use grew by more. */
static size_t arena_takes(const struct alloc_reader *a, const unsigned char *obj,
			  const unsigned char *prev, uint64_t *out, size_t room)
{
	const struct py_offsets *o = a->o;
	uint64_t base = alloc_get_u64(obj + o->arena_address);
	size_t n = 0;

	if (base == 0 || base != alloc_get_u64(prev + o->arena_address))
		return 0;
	uint64_t carved = alloc_get_u64(obj + o->arena_pool_address);
	uint64_t was_carved = alloc_get_u64(prev + o->arena_pool_address);
	uint32_t used =
	    alloc_get_u32(obj + ARENA_NTOTAL_OFF) - alloc_get_u32(obj + ARENA_NFREE_OFF);
	uint32_t was_used =
	    alloc_get_u32(prev + ARENA_NTOTAL_OFF) - alloc_get_u32(prev + ARENA_NFREE_OFF);
	uint64_t fresh = carved > was_carved ? (carved - was_carved) / a->pool_size : 0;
	for (uint64_t k = 0; k < fresh && n < room; k++)
		out[n++] = was_carved + k * a->pool_size;
	uint64_t first = alloc_get_u64(prev + ARENA_FREEPOOLS_OFF);
	if (used > was_used + fresh && first && first != alloc_get_u64(obj + ARENA_FREEPOOLS_OFF) &&
	    n < room)
		out[n++] = first;
	return n;
}

/* Watch the pools taken since the last reading (the arena objects now in a->quick_buf,
 * span of them): their headers read at once, each pool's high mark its count now.  When
 * the watch is full the oldest leaves (*left). */
static void take(struct alloc_reader *a, uint32_t span, double now, uint64_t *left)
{
	struct pool_watch *pw = &a->watch;
	size_t esz = (size_t)a->o->arena_size, n = 0, size = (size_t)span * esz;
	uint64_t addr[WATCH_TAKES];

	if (pw->prev && pw->prev_arenas == a->quick_arenas) {
		uint32_t both = span < pw->prev_span ? span : pw->prev_span;
		for (uint32_t k = 0; k < both && n < WATCH_TAKES; k++)
			n += arena_takes(a, a->quick_buf + k * esz, pw->prev + k * esz, addr + n,
					 WATCH_TAKES - n);
	}
	if (size > pw->prev_cap) {
		pw->prev_cap = size;
		pw->prev = xrealloc(pw->prev, size);
	}
	memcpy(pw->prev, a->quick_buf, size);
	pw->prev_span = span;
	pw->prev_arenas = a->quick_arenas;

	struct watched fresh[WATCH_TAKES];
	struct remote_iov iov[WATCH_TAKES];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!watched(pw, addr[i])) {
			fresh[k] = (struct watched){.addr = addr[i], .at = now};
			iov[k] = (struct remote_iov){addr[i], fresh[k].hdr, POOL_HDR, 0};
			k++;
		}
	if (k && remote_readv(a->r, iov, k) == 0)
		return;
	for (size_t i = 0; i < k; i++) {
		uint32_t count, bs = iov[i].ok ? alloc_pool_block_size(a, fresh[i].hdr, &count) : 0;
		if (!bs || !count)
			continue;
		if (pw->n == WATCH_MAX) { /* the oldest leaves */
			*left += free_below(&pw->w[0]);
			memmove(pw->w, pw->w + 1, (WATCH_MAX - 1) * sizeof pw->w[0]);
			pw->n--;
		}
		fresh[i].count = fresh[i].high = count;
		fresh[i].size = bs;
		pw->w[pw->n++] = fresh[i];
	}
}

void alloc_watch_after(struct alloc_reader *a, const struct remote_iov *iov, size_t n,
		       uint32_t span, struct alloc_quick *out)
{
	struct pool_watch *pw = &a->watch;
	uint64_t left = 0, sum = 0;

	if (!pw->on && pw->n == 0) { /* off: nothing to read or keep */
		pw->prev_arenas = 0;
		out->watch_free = pw->free = 0;
		out->watch_left = 0;
		return;
	}
	double now = clock_mono_s();
	update(a, iov, n, now, &left);
	if (pw->on)
		take(a, span, now, &left);
	else
		pw->prev_arenas = 0; /* takes are looked for again from the next reading on */
	for (size_t i = 0; i < pw->n; i++)
		sum += free_below(&pw->w[i]);
	out->watch_free = pw->free = sum;
	out->watch_left = left;
}

void alloc_watch_drop(struct alloc_reader *a, struct alloc_quick *out)
{
	struct pool_watch *pw = &a->watch;

	out->watch_left = pw->free;
	pw->n = 0;
	pw->free = 0;
	pw->prev_arenas = 0;
}

void alloc_watch_release(struct alloc_reader *a)
{
	free(a->watch.prev);
	memset(&a->watch, 0, sizeof a->watch);
}
