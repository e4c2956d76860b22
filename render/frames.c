#include "render/frames.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct frames {
	struct frame *v;
	uint64_t *hash; /* of each frame */
	size_t n, cap;
	uint32_t *slots; /* id + 1, 0 = empty; open addressing */
	size_t nslots;	 /* a power of two */
};

/* 8 bytes at a time: multiply and fold (names are hashed at every call). */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w ^ (uint64_t)n << 56) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

static uint64_t hash_of(const char *file, size_t flen, const char *func, size_t fnlen, long line)
{
	uint64_t h = 14695981039346656037ULL;

	h = mix(h, file, flen);
	h = mix(h, "\0", 1);
	h = mix(h, func, fnlen);
	return mix(h, &line, sizeof line);
}

struct frames *frames_new(void)
{
	struct frames *fr = xcalloc(1, sizeof *fr);

	fr->nslots = 1024;
	fr->slots = xcalloc(fr->nslots, sizeof *fr->slots);
	return fr;
}

void frames_free(struct frames *fr)
{
	if (!fr)
		return;
	for (size_t i = 0; i < fr->n; i++)
		free((char *)fr->v[i].file); /* func shares the allocation */
	free(fr->v);
	free(fr->hash);
	free(fr->slots);
	free(fr);
}

static void rehash(struct frames *fr)
{
	size_t nslots = fr->nslots * 2;
	uint32_t *slots = xcalloc(nslots, sizeof *slots);

	for (size_t id = 0; id < fr->n; id++) {
		size_t i = (size_t)fr->hash[id] & (nslots - 1);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t)id + 1;
	}
	free(fr->slots);
	fr->slots = slots;
	fr->nslots = nslots;
}

static int same(const struct frame *f, const char *file, size_t flen, const char *func,
		size_t fnlen, long line)
{
	return f->line == line && f->file_len == flen && f->func_len == fnlen &&
	       memcmp(f->file, file, flen) == 0 && memcmp(f->func, func, fnlen) == 0;
}

static uint32_t add(struct frames *fr, uint64_t h, const char *file, size_t flen, const char *func,
		    size_t fnlen, long line)
{
	char *mem = xmalloc(flen + fnlen + 2);
	struct frame *f;

	if (fr->n == fr->cap) {
		fr->cap = xgrow_cap(fr->cap, fr->n + 1);
		fr->v = xreallocarray(fr->v, fr->cap, sizeof *fr->v);
		fr->hash = xreallocarray(fr->hash, fr->cap, sizeof *fr->hash);
	}
	memcpy(mem, file, flen);
	mem[flen] = '\0';
	memcpy(mem + flen + 1, func, fnlen);
	mem[flen + 1 + fnlen] = '\0';
	f = &fr->v[fr->n];
	f->file = mem;
	f->file_len = flen;
	f->func = mem + flen + 1;
	f->func_len = fnlen;
	f->line = line;
	fr->hash[fr->n] = h;
	return (uint32_t)fr->n++;
}

uint32_t frames_intern(struct frames *fr, const char *file, size_t file_len, const char *func,
		       size_t func_len, long line)
{
	uint64_t h;
	size_t i;
	uint32_t id;

	file = file ? file : "";
	func = func ? func : "";
	h = hash_of(file, file_len, func, func_len, line);
	i = (size_t)h & (fr->nslots - 1);
	while (fr->slots[i]) {
		id = fr->slots[i] - 1;
		if (fr->hash[id] == h && same(&fr->v[id], file, file_len, func, func_len, line))
			return id;
		i = (i + 1) & (fr->nslots - 1);
	}
	id = add(fr, h, file, file_len, func, func_len, line);
	fr->slots[i] = id + 1;
	if (2 * fr->n > fr->nslots)
		rehash(fr);
	return id;
}

const struct frame *frames_get(const struct frames *fr, uint32_t id)
{
	return &fr->v[id];
}

size_t frames_count(const struct frames *fr)
{
	return fr->n;
}
