#include "sampler/codecache.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define NAME_MAX_BYTES 1024
#define LINETABLE_MAX (256u << 10)

struct codecache {
	struct code_info *slots;
	size_t nslots;
	size_t used;
	uint64_t clock;
	uint64_t misses;
	unsigned char *table; /* LINETABLE_MAX bytes to read a line table into, made once */
};

struct codecache *codecache_new(size_t slots)
{
	struct codecache *c = xcalloc(1, sizeof *c);

	c->nslots = slots < 16 ? 16 : slots;
	c->slots = xcalloc(c->nslots, sizeof *c->slots);
	return c;
}

static void entry_clear(struct code_info *e)
{
	free(e->file);
	free(e->func);
	free(e->linetable);
	memset(e, 0, sizeof *e);
}

/* Only filled slots are touched: a cache that saw few code objects (a short-lived child)
 * is freed without faulting in its whole table. */
void codecache_free(struct codecache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nslots && c->used; i++) {
		if (!c->slots[i].addr)
			continue;
		entry_clear(&c->slots[i]);
		c->used--;
	}
	free(c->slots);
	free(c->table);
	free(c);
}

static uint64_t field_ptr(const unsigned char *head, size_t headlen, int32_t off)
{
	uint64_t v = 0;

	if (off >= 0 && (size_t)off + 8 <= headlen)
		memcpy(&v, head + off, 8);
	return v;
}

static int field_int(const unsigned char *head, size_t headlen, int32_t off)
{
	int32_t v = 0;

	if (off >= 0 && (size_t)off + 4 <= headlen)
		memcpy(&v, head + off, 4);
	return v;
}

/* 3.11+: the words a frame of this code takes on its thread's data stack, where the next
 * frame the thread pushes begins (co_framesize; 3.11 has none and sums locals, stack and
 * the frame's own fields, as its push does).  0 when unknown. */
#define FRAME_WORDS_MAX (1u << 20)
static unsigned frame_words(const struct py_offsets *o, const unsigned char *head, size_t headlen)
{
	int32_t words;

	if (o->co_framesize >= 0) /* 0 when not in head: unknown */
		words = field_int(head, headlen, o->co_framesize);
	else if (o->co_nlocalsplus >= 0 && o->co_stacksize >= 0 && o->if_size > 8 &&
		 (size_t)o->co_nlocalsplus + 4 <= headlen && (size_t)o->co_stacksize + 4 <= headlen)
		words = field_int(head, headlen, o->co_nlocalsplus) +
			field_int(head, headlen, o->co_stacksize) + (o->if_size - 1) / 8;
	else
		return 0;
	return words > 0 && (unsigned)words < FRAME_WORDS_MAX ? (unsigned)words : 0;
}

/* Linear probing from a hash of the address; an entry stays in the first slot it got. */
static struct code_info *find_slot(struct codecache *c, uint64_t addr, int *found)
{
	size_t start = (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 32) % c->nslots;
	struct code_info *victim = NULL;

	for (size_t k = 0; k < 8; k++) {
		struct code_info *e = &c->slots[(start + k) % c->nslots];
		if (e->addr == addr) {
			*found = 1;
			return e;
		}
		if (!e->addr) {
			*found = 0;
			return e;
		}
		if (!victim || e->last_used < victim->last_used)
			victim = e;
	}
	*found = 0;
	return victim;
}

static char *read_name(struct pyobj *p, uint64_t obj)
{
	struct buf b = BUF_INIT;

	if (pyobj_str(p, obj, &b, NAME_MAX_BYTES) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static int fill_entry(struct codecache *c, struct code_info *e, struct pyobj *p, uint64_t addr,
		      const unsigned char *head, size_t headlen)
{
	const struct py_offsets *o = p->o;
	uint64_t qual = field_ptr(head, headlen, o->co_qualname);
	long tlen;

	if (!c->table)
		c->table = xmalloc(LINETABLE_MAX);

	e->addr = addr;
	e->filename_ptr = field_ptr(head, headlen, o->co_filename);
	e->name_ptr = qual ? qual : field_ptr(head, headlen, o->co_name);
	e->linetable_ptr = field_ptr(head, headlen, o->co_linetable);
	e->firstlineno = field_int(head, headlen, o->co_firstlineno);
	e->framesize = frame_words(o, head, headlen);
	e->memo_pos = INT64_MIN;
	e->file = read_name(p, e->filename_ptr);
	e->func = read_name(p, e->name_ptr);
	tlen = pyobj_bytes(p, e->linetable_ptr, c->table, LINETABLE_MAX);
	if (!e->file || !e->func || tlen < 0) {
		entry_clear(e);
		return -1;
	}
	e->linetable = xmalloc((size_t)tlen + 1);
	memcpy(e->linetable, c->table, (size_t)tlen);
	e->linetable_len = (size_t)tlen;
	return 0;
}

const struct code_info *codecache_get(struct codecache *c, struct pyobj *p, uint64_t addr,
				      const unsigned char *head, size_t headlen)
{
	const struct py_offsets *o = p->o;
	int found;

	if (!addr || field_ptr(head, headlen, o->ob_type) != p->t->sym.code_type)
		return NULL;
	struct code_info *e = find_slot(c, addr, &found);
	uint64_t qual = field_ptr(head, headlen, o->co_qualname);
	if (found && e->filename_ptr == field_ptr(head, headlen, o->co_filename) &&
	    e->name_ptr == (qual ? qual : field_ptr(head, headlen, o->co_name)) &&
	    e->linetable_ptr == field_ptr(head, headlen, o->co_linetable) &&
	    e->firstlineno == field_int(head, headlen, o->co_firstlineno)) {
		e->last_used = ++c->clock;
		return e;
	}
	c->misses++;
	if (e->addr)
		entry_clear(e);
	else
		c->used++;
	if (fill_entry(c, e, p, addr, head, headlen) < 0) {
		c->used--;
		return NULL;
	}
	e->last_used = ++c->clock;
	return e;
}

int codecache_line(const struct py_target *t, const struct code_info *ci, int64_t pos)
{
	enum lt_format fmt = lt_format_for(t->major, t->minor);
	/* the entry belongs to the cache, which is not const: only the memo changes */
	struct code_info *memo = (struct code_info *)ci;
	long offset;

	if (pos == ci->memo_pos)
		return ci->memo_line;

	if (t->major == 3 && t->minor >= 11) {
		uint64_t base = ci->addr + (uint64_t)t->off.co_code_adaptive;
		offset = (long)(((int64_t)((uint64_t)pos - base)) / 2);
		if ((uint64_t)pos < base)
			offset = -1;
	} else if (t->major == 3 && t->minor == 10) {
		offset = pos < 0 ? -1 : (long)pos * 2;
	} else {
		offset = (long)pos;
	}
	memo->memo_line =
	    lt_line_for(fmt, ci->linetable, ci->linetable_len, ci->firstlineno, offset);
	memo->memo_pos = pos;
	return memo->memo_line;
}

size_t codecache_size(const struct codecache *c)
{
	return c->used;
}

uint64_t codecache_misses(const struct codecache *c)
{
	return c->misses;
}
