#include "sampler/stackcopy.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define STACKCOPY_MAX (1u << 20) /* bytes copied per walk at most */
#define CHUNK_HEADER 24		 /* _PyStackChunk: previous, size, top; then the data */
#define PAGE 4096u

void stackcopy_free(struct stackcopy *sc)
{
	free(sc->bytes);
	free(sc->again);
	memset(sc, 0, sizeof *sc);
}

static unsigned char *room(struct stackcopy *sc, size_t want)
{
	if (sc->n == STACKCOPY_CHUNKS_MAX || want == 0 || sc->used + want > STACKCOPY_MAX)
		return NULL;
	if (sc->used + want > sc->cap) {
		size_t cap = (sc->used + want) * 2;
		sc->cap = cap > STACKCOPY_MAX ? STACKCOPY_MAX : cap;
		sc->bytes = xrealloc(sc->bytes, sc->cap);
	}
	return sc->bytes + sc->used;
}

#define AFTER_MAX 4

/* [lo, end) into the copy, live up to live, then the n pieces of after, then (when twice)
 * [lo, end) again into sc->again, in one call. */
static int copy_piece(struct stackcopy *sc, struct remote *r, uint64_t lo, uint64_t live,
		      uint64_t end, struct remote_iov *after, size_t n, int twice)
{
	struct remote_iov v[AFTER_MAX + 2];
	size_t len = (size_t)(end - lo), k = 0;

	if (end <= lo || n > AFTER_MAX)
		return -1;
	unsigned char *dst = room(sc, len);
	if (!dst)
		return -1;
	v[k++] = (struct remote_iov){lo, dst, len, 0};
	for (size_t i = 0; i < n; i++)
		v[k++] = after[i];
	if (twice) {
		if (len > sc->again_cap) {
			sc->again_cap = len * 2 > STACKCOPY_MAX ? STACKCOPY_MAX : len * 2;
			sc->again = xrealloc(sc->again, sc->again_cap);
		}
		v[k++] = (struct remote_iov){lo, sc->again, len, 0};
	}
	size_t got = remote_readv(r, v, k);
	for (size_t i = 0; i < n; i++)
		after[i].ok = v[1 + i].ok;
	if (got != k)
		return -1;
	sc->ranges[sc->n++] = (struct stackcopy_range){lo, live, end, sc->used};
	sc->used += len;
	return 0;
}

int stackcopy_current(struct stackcopy *sc, struct remote *r, uint64_t chunk, uint64_t top,
		      struct remote_iov *after, size_t n)
{
	sc->n = 0;
	sc->used = 0;
	sc->once = 0;
	if (!chunk || top < chunk + CHUNK_HEADER || top - chunk > STACKCOPY_MAX / 2)
		return -1;
	/* past top, up to the end of its page: mapped when top is inside the chunk */
	uint64_t end = (top | (PAGE - 1)) + 1;
	if (copy_piece(sc, r, chunk, top, end, after, n, 1) == 0)
		return 0;
	return copy_piece(sc, r, chunk, top, top, after, n, 1); /* top was the chunk's end */
}

int stackcopy_adopt(struct stackcopy *sc, const struct stackcopy_taken *t)
{
	sc->n = 0;
	sc->used = 0;
	sc->once = 1;
	if (!t->chunk || t->top < t->chunk + CHUNK_HEADER || t->top - t->chunk > t->len ||
	    t->len > STACKCOPY_MAX / 2)
		return -1;
	unsigned char *dst = room(sc, t->len);
	if (!dst)
		return -1;
	memcpy(dst, t->bytes, t->len);
	sc->ranges[sc->n++] = (struct stackcopy_range){t->chunk, t->top, t->chunk + t->len, 0};
	sc->used = t->len;
	return 0;
}

int stackcopy_set_live(struct stackcopy *sc, uint64_t top)
{
	if (sc->n == 0)
		return -1;
	struct stackcopy_range *c = &sc->ranges[0];
	if (top < c->lo + CHUNK_HEADER || top > c->end)
		return -1;
	c->live = top;
	return 0;
}

void stackcopy_earlier(struct stackcopy *sc, struct remote *r)
{
	for (uint64_t chunk = sc->n ? sc->ranges[0].lo : 0;
	     chunk && sc->n < STACKCOPY_CHUNKS_MAX;) {
		const struct stackcopy_range *c = &sc->ranges[sc->n - 1];
		uint64_t prev, hdr[3]; /* previous, size, top */
		memcpy(&prev, sc->bytes + c->at, sizeof prev);
		if (!prev || prev == chunk || remote_read(r, prev, hdr, sizeof hdr) < 0)
			return;
		uint64_t size = hdr[1], live = prev + CHUNK_HEADER + hdr[2] * 8;
		if (size < CHUNK_HEADER || size > STACKCOPY_MAX || hdr[2] > size / 8 ||
		    live > prev + size ||
		    copy_piece(sc, r, prev, live, prev + size, NULL, 0, 0) < 0)
			return;
		chunk = prev;
	}
}

int stackcopy_range_of(const struct stackcopy *sc, uint64_t addr)
{
	for (size_t i = 0; i < sc->n; i++)
		if (addr >= sc->ranges[i].lo + CHUNK_HEADER && addr < sc->ranges[i].live)
			return (int)i;
	return -1;
}

int stackcopy_bytes(const struct stackcopy *sc, int range, uint64_t addr, void *dst, size_t len)
{
	if (range < 0 || (size_t)range >= sc->n)
		return -1;
	const struct stackcopy_range *c = &sc->ranges[range];
	if (addr < c->lo || addr >= c->live || c->end - addr < len)
		return -1;
	memcpy(dst, sc->bytes + c->at + (addr - c->lo), len);
	return 0;
}

int stackcopy_steady(const struct stackcopy *sc, int range, uint64_t addr, size_t len)
{
	if (range < 0 || (size_t)range >= sc->n)
		return 0;
	const struct stackcopy_range *c = &sc->ranges[range];
	if (addr < c->lo || addr >= c->end || c->end - addr < len)
		return 0;
	if (range > 0 || sc->once)
		return 1;
	size_t at = (size_t)(addr - c->lo);
	return memcmp(sc->bytes + c->at + at, sc->again + at, len) == 0;
}
