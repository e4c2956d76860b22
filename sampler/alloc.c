#include "sampler/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/alloc_int.h"
#include "symbols/debugoff.h"

#define SMALL_MAX 512 /* largest pymalloc block */
/* arena objects alloc_quick reads beyond the high-water mark, so that a few new arenas do
 * not cost a read apart */
#define QUICK_ROOM 8
#define DUMMY_SIZE_IDX 0xffff /* a pool being carved, not yet given a size class */
#define ALL_FIELDS (BIT(ALLOC_NFIELDS) - 1)

struct walk_sum {
	uint64_t blocks, bytes, arena_bytes, arenas, pools;
};

static const char *const field_names[ALLOC_NFIELDS] = {
    "arenas", "arenas_highwater", "blocks", "bytes_in_use", "raw_blocks", "arena_bytes",
};

const char *alloc_field_name(enum alloc_field f)
{
	return f < ALLOC_NFIELDS ? field_names[f] : "?";
}

uint64_t alloc_pool_size(int major, int minor)
{
	return major == 3 && minor >= 10 ? 16384 : 4096;
}

uint64_t alloc_arena_size(int major, int minor)
{
	return major == 3 && minor >= 10 ? 1u << 20 : 256u << 10;
}

static int is_version(const struct py_target *t, int minor_from, int minor_to)
{
	return t->major == 3 && t->minor >= minor_from && t->minor <= minor_to;
}

/* ---- setup: what this build lets us read ---- */

static int free_threaded(struct alloc_reader *a)
{
	unsigned char block[DEBUGOFF_READ_SIZE];

	if (!a->t->sym.runtime || !(a->t->major == 3 && a->t->minor >= 13))
		return 0;
	if (remote_read(a->r, a->t->sym.runtime, block, sizeof block) < 0)
		return 0;
	return debugoff_free_threaded(block, sizeof block) == 1;
}

static int layout_has_pools(const struct py_offsets *o)
{
	return o->arena_size > 0 && o->arena_address >= 0 && o->arena_pool_address >= 0 &&
	       o->pool_count >= 0 && o->pool_szidx >= 0 && o->pool_maxnextoffset >= 0 &&
	       o->pool_count + 4 <= POOL_HDR && o->pool_szidx + 4 <= POOL_HDR &&
	       o->pool_maxnextoffset + 4 <= POOL_HDR && o->arena_address + 8 <= o->arena_size &&
	       o->arena_pool_address + 8 <= o->arena_size;
}

static int layout_has_state(const struct py_offsets *o)
{
	return o->is_obmalloc >= 0 && o->is_next >= 0 && o->rt_interp_head >= 0 &&
	       o->om_arenas >= 0 && o->om_maxarenas >= 0 && o->om_narenas >= 0 &&
	       o->om_narenas_highwater >= 0 && o->om_raw_blocks >= 0;
}

static void set_missing(struct alloc_reader *a, unsigned fields, const char *why)
{
	for (int f = 0; f < ALLOC_NFIELDS; f++)
		if ((fields & BIT(f)) && !a->missing[f])
			a->missing[f] = why;
	a->avail &= ~fields;
}

static void setup_statics(struct alloc_reader *a)
{
	const struct py_syms *s = &a->t->sym;
	const char *stripped =
	    s->om_from_code ? "stripped build, no debug file used: the only accessor left to find "
			      "pymalloc's statics by, _Py_GetAllocatedBlocks, does not read it "
			      "(install the interpreter's debug file, e.g. Debian's pythonX.Y-dbg, "
			      "and do not pass --offsets=builtin)"
			    : NULL;

	a->mode = MODE_STATICS;
	snprintf(a->source, sizeof a->source, "pymalloc statics (%s)",
		 s->om_from_code ? "decoded from _Py_GetAllocatedBlocks" : "symbol table");
	a->can_walk = s->om_arenas && s->om_maxarenas && layout_has_pools(a->o);
	a->avail = ALL_FIELDS;
	if (!a->can_walk) {
		set_missing(a, BIT(ALLOC_BYTES) | BIT(ALLOC_ARENA_BYTES),
			    !s->om_arenas ? (stripped ? stripped
						      : "the static `arenas` is in no symbol table")
					  : "no layout for pymalloc's arena and pool headers");
		if (!s->om_narenas)
			set_missing(a, BIT(ALLOC_ARENAS), stripped ? stripped : "no such static");
	}
	if (!s->om_narenas_highwater)
		set_missing(a, BIT(ALLOC_ARENAS_HIGHWATER),
			    a->t->major == 2 ? "Python 2.7 keeps no high-water mark"
			    : stripped	     ? stripped
				       : "the static `narenas_highwater` is in no symbol table");
	if (!s->om_raw_blocks)
		set_missing(a, BIT(ALLOC_RAW_BLOCKS),
			    a->t->major == 2 ? "Python 2.7 does not count blocks passed to malloc"
			    : a->t->minor <= 8
				? "before 3.9 blocks passed to malloc are counted in "
				  "_Py_AllocatedBlocks, not apart"
			    : stripped ? stripped
				       : "the static `raw_allocated_blocks` is in no symbol table");
	if (!s->om_allocated_blocks && !a->can_walk)
		set_missing(a, BIT(ALLOC_BLOCKS), stripped ? stripped : "no counter and no walk");
}

static void setup(struct alloc_reader *a)
{
	const struct py_target *t = a->t;

	a->pool_size = alloc_pool_size(t->major, t->minor);
	a->arena_size = alloc_arena_size(t->major, t->minor);
	if (free_threaded(a)) {
		snprintf(a->source, sizeof a->source, "none (free-threaded build)");
		set_missing(a, ALL_FIELDS,
			    "free-threaded build: objects live in mimalloc's per-thread heaps, "
			    "which tgattach does not read yet");
		return;
	}
	if (t->major == 2 || is_version(t, 6, 11)) {
		setup_statics(a);
		return;
	}
	if (t->major == 3 && t->minor >= 12 && layout_has_state(a->o) && t->sym.runtime) {
		a->mode = MODE_INTERP;
		snprintf(a->source, sizeof a->source, "interpreter state (%s)",
			 t->minor == 12 ? "interp->obmalloc" : "*interp->obmalloc");
		a->avail = ALL_FIELDS;
		a->can_walk = layout_has_pools(a->o);
		if (!a->can_walk)
			set_missing(a,
				    BIT(ALLOC_BYTES) | BIT(ALLOC_ARENA_BYTES) | BIT(ALLOC_BLOCKS),
				    "no layout for pymalloc's arena and pool headers");
		return;
	}
	snprintf(a->source, sizeof a->source, "none");
	set_missing(a, ALL_FIELDS,
		    t->major == 3 && t->minor >= 12
			? "no layout for the interpreter's obmalloc state (_Py_DebugOffsets does "
			  "not describe it: needs DWARF or a built-in table)"
			: "unsupported Python version");
}

struct alloc_reader *alloc_new(struct remote *r, const struct py_target *t)
{
	struct alloc_reader *a = xcalloc(1, sizeof *a);

	a->r = r;
	a->t = t;
	a->o = &t->off;
	setup(a);
	return a;
}

void alloc_free(struct alloc_reader *a)
{
	if (!a)
		return;
	free(a->arena_buf);
	free(a->quick_buf);
	free(a->pool_buf);
	free(a->iov);
	alloc_watch_release(a);
	free(a);
}

unsigned alloc_available(const struct alloc_reader *a)
{
	return a->avail;
}

const char *alloc_missing_reason(const struct alloc_reader *a, enum alloc_field f)
{
	if (f >= ALLOC_NFIELDS || (a->avail & BIT(f)))
		return NULL;
	return a->missing[f] ? a->missing[f] : "not available";
}

const char *alloc_source(const struct alloc_reader *a)
{
	return a->source;
}

/* ---- the walk ---- */

uint32_t alloc_pool_block_size(const struct alloc_reader *a, const unsigned char *h,
			       uint32_t *count)
{
	const struct py_offsets *o = a->o;
	uint32_t szidx = alloc_get_u32(h + o->pool_szidx);
	uint32_t maxnext = alloc_get_u32(h + o->pool_maxnextoffset);

	*count = alloc_get_u32(h + o->pool_count);
	if (szidx == DUMMY_SIZE_IDX || maxnext < POOL_HDR || maxnext >= a->pool_size)
		return 0;
	uint64_t size = a->pool_size - maxnext;
	if (size > SMALL_MAX || (size != (szidx + 1ull) * 8 && size != (szidx + 1ull) * 16) ||
	    *count > (a->pool_size - POOL_HDR) / size)
		return 0;
	return (uint32_t)size;
}

/* One pool header: adds its blocks; -1 if it cannot be a pool (torn). */
static int add_pool(struct alloc_reader *a, const unsigned char *h, struct walk_sum *sum)
{
	uint32_t count;
	uint32_t size = alloc_pool_block_size(a, h, &count);

	if (count == 0)
		return 0; /* empty, or carved and not yet initialised */
	if (size == 0)
		return -1;
	sum->blocks += count;
	sum->bytes += (uint64_t)count * size;
	return 0;
}

static int flush_pools(struct alloc_reader *a, size_t n, struct walk_sum *sum)
{
	if (n == 0)
		return 0;
	if (remote_readv(a->r, a->iov, n) != n)
		return -1; /* an arena was unmapped under us */
	for (size_t i = 0; i < n; i++)
		if (add_pool(a, a->pool_buf[i], sum) < 0)
			return -1;
	sum->pools += n;
	return 0;
}

/* Queue the pools carved so far from one arena object; -1 if the object is garbage. */
static int walk_arena(struct alloc_reader *a, const unsigned char *obj, size_t *queued,
		      struct walk_sum *sum)
{
	uint64_t base = alloc_get_u64(obj + a->o->arena_address);
	uint64_t carved = alloc_get_u64(obj + a->o->arena_pool_address);

	if (base == 0)
		return 0; /* an unused arena object */
	uint64_t first = (base + a->pool_size - 1) & ~(a->pool_size - 1);
	if (base >= USER_TOP || carved < first || carved > base + a->arena_size ||
	    (carved - first) % a->pool_size)
		return -1;
	sum->arenas++;
	sum->arena_bytes += carved - first;
	for (uint64_t p = first; p < carved; p += a->pool_size) {
		size_t k = *queued;
		a->iov[k] = (struct remote_iov){p, a->pool_buf[k], POOL_HDR, 0};
		if (++*queued == POOL_BATCH) {
			if (flush_pools(a, *queued, sum) < 0)
				return -1;
			*queued = 0;
		}
	}
	return 0;
}

static int walk_state(struct alloc_reader *a, const struct counters *c, struct walk_sum *sum)
{
	uint32_t span = alloc_arenas_span(c);
	size_t size = (size_t)span * (size_t)a->o->arena_size, queued = 0;

	if (span == 0)
		return 0;
	if (!a->pool_buf) {
		a->pool_buf = xmalloc(POOL_BATCH * sizeof *a->pool_buf);
		a->iov = xmalloc(POOL_BATCH * sizeof *a->iov);
	}
	if (size > REMOTE_MAX_READ)
		return -1;
	if (size > a->arena_cap) {
		a->arena_cap = size;
		a->arena_buf = xrealloc(a->arena_buf, size);
	}
	if (remote_read(a->r, c->arenas, a->arena_buf, size) < 0)
		return -1;
	for (uint32_t i = 0; i < span; i++)
		if (walk_arena(a, a->arena_buf + (size_t)i * (size_t)a->o->arena_size, &queued,
			       sum) < 0)
			return -1;
	return flush_pools(a, queued, sum);
}

/* ---- one reading ---- */

static void fill_counters(struct alloc_reader *a, const struct counters *tot, unsigned have,
			  struct alloc_stats *out)
{
	if (have & C_NARENAS) {
		out->v[ALLOC_ARENAS] = tot->narenas;
		out->valid |= BIT(ALLOC_ARENAS);
	}
	if (have & C_HIGHWATER) {
		out->v[ALLOC_ARENAS_HIGHWATER] = tot->highwater;
		out->valid |= BIT(ALLOC_ARENAS_HIGHWATER);
	}
	if (have & C_RAW) {
		out->v[ALLOC_RAW_BLOCKS] = tot->raw;
		out->valid |= BIT(ALLOC_RAW_BLOCKS);
	}
	if (have & C_ALLOC) {
		out->v[ALLOC_BLOCKS] = tot->allocated;
		out->valid |= BIT(ALLOC_BLOCKS);
	}
	out->valid &= a->avail;
}

static void fill_walk(struct alloc_reader *a, const struct walk_sum *w, const struct counters *tot,
		      unsigned have, struct alloc_stats *out)
{
	out->v[ALLOC_BYTES] = w->bytes;
	out->v[ALLOC_ARENA_BYTES] = w->arena_bytes;
	out->valid |= BIT(ALLOC_BYTES) | BIT(ALLOC_ARENA_BYTES);
	if (!(have & C_NARENAS)) {
		out->v[ALLOC_ARENAS] = w->arenas;
		out->valid |= BIT(ALLOC_ARENAS);
	}
	if (!(have & C_ALLOC)) {
		out->v[ALLOC_BLOCKS] = w->blocks + (have & C_RAW ? tot->raw : 0);
		out->valid |= BIT(ALLOC_BLOCKS);
	}
	out->valid &= a->avail;
}

void alloc_read(struct alloc_reader *a, int walk, struct alloc_stats *out)
{
	struct state_addrs sa[MAX_STATES];
	struct counters c[MAX_STATES], tot = {0};
	struct walk_sum sum = {0};
	unsigned have = ~0u;

	memset(out, 0, sizeof *out);
	if (a->mode == MODE_NONE)
		return;
	size_t n = alloc_list_states(a, sa);
	memcpy(a->states, sa, n * sizeof *sa);
	a->nstates = n;
	for (size_t i = 0; i < n; i++) {
		if (alloc_read_counters(a, &sa[i], &c[i], NULL, 0) < 0 ||
		    !alloc_counters_sane(&c[i]))
			return; /* garbage: nothing of this reading is kept */
		have &= c[i].have;
		tot.narenas += c[i].narenas;
		tot.highwater += c[i].highwater;
		tot.raw += c[i].raw;
		tot.allocated += c[i].allocated;
	}
	if (n == 0)
		return;
	fill_counters(a, &tot, have, out);
	if (!walk || !a->can_walk)
		return;
	out->walked = 1;
	for (size_t i = 0; i < n; i++) {
		struct counters after;
		uint64_t arenas_before = sum.arenas;
		if (walk_state(a, &c[i], &sum) < 0 ||
		    alloc_read_counters(a, &sa[i], &after, NULL, 0) < 0 ||
		    !alloc_counters_equal(&c[i], &after))
			return; /* torn: the state changed while it was walked */
		if ((c[i].have & C_NARENAS) && sum.arenas - arenas_before != c[i].narenas)
			return;
	}
	out->pools = sum.pools;
	fill_walk(a, &sum, &tot, have, out);
}

int alloc_heap(const struct alloc_stats *s, uint64_t anon, uint64_t *heap)
{
	unsigned need = BIT(ALLOC_BYTES) | BIT(ALLOC_ARENA_BYTES);

	if ((s->valid & need) != need)
		return -1;
	uint64_t outside = anon > s->v[ALLOC_ARENA_BYTES] ? anon - s->v[ALLOC_ARENA_BYTES] : 0;
	*heap = s->v[ALLOC_BYTES] + outside;
	return 0;
}

int alloc_heap_available(const struct alloc_reader *a)
{
	unsigned need = BIT(ALLOC_BYTES) | BIT(ALLOC_ARENA_BYTES);

	return (a->avail & need) == need;
}

/* nfreepools, ntotalpools and freepools (alloc_int.h, ARENA_NFREE_OFF on) are taken where
 * they follow pool_address only when the layout table agrees on the rest of struct
 * arena_object. */
static int quick_offsets(const struct alloc_reader *a)
{
	const struct py_offsets *o = a->o;

	if (!a->can_walk || o->arena_address != 0 || o->arena_pool_address != 8 ||
	    o->arena_size < ARENA_FREEPOOLS_OFF + 8)
		return -1;
	return 0;
}

/* The arena objects of state sa into a->quick_buf, with its counters: in one batch with
 * them when it is the only state and the array has not moved or grown past the objects
 * read last time; *span: how many.  -1 when they cannot be read, or make no sense. */
static int quick_arenas(struct alloc_reader *a, const struct state_addrs *sa, int only,
			uint32_t *span, struct remote_iov *extra, size_t nextra)
{
	struct counters c;
	struct remote_iov also[COUNTERS_ALSO_MAX];
	size_t esz = (size_t)a->o->arena_size, k = 0;
	int batched = only && a->quick_span > 0;

	if (nextra > ALLOC_EXTRA_MAX)
		return -1;
	if (batched)
		also[k++] = (struct remote_iov){a->quick_arenas, a->quick_buf,
						(size_t)a->quick_span * esz, 0};
	for (size_t i = 0; i < nextra; i++)
		also[k++] = extra[i];
	int rc = alloc_read_counters(a, sa, &c, also, k);
	for (size_t i = 0; i < nextra; i++)
		extra[i].ok = also[k - nextra + i].ok;
	if (rc < 0 || !alloc_counters_sane(&c))
		return -1;
	*span = alloc_arenas_span(&c);
	if (batched && also[0].ok && c.arenas == a->quick_arenas && *span <= a->quick_span)
		return 0;
	/* read them apart, with room for a few more arenas before the next time */
	uint32_t room = *span + QUICK_ROOM < c.maxarenas ? *span + QUICK_ROOM : c.maxarenas;
	size_t size = (size_t)(only ? room : *span) * esz;
	if (size > REMOTE_MAX_READ)
		return -1;
	if (size > a->quick_cap) {
		a->quick_cap = size;
		a->quick_buf = xrealloc(a->quick_buf, size);
	}
	if (size && remote_read(a->r, c.arenas, a->quick_buf, size) < 0)
		return -1;
	a->quick_arenas = only ? c.arenas : 0;
	a->quick_span = only ? room : 0;
	return 0;
}

/* The pools in use of every allocator state; with the caller's pieces read after the first
 * state's counters.  *span: the arena objects read of the last state. */
static int quick_pools(struct alloc_reader *a, struct alloc_quick *out, struct remote_iov *extra,
		       size_t nextra, uint32_t *span_out)
{
	if (quick_offsets(a) < 0)
		return -1;
	if (a->nstates == 0)
		a->nstates = alloc_list_states(a, a->states);
	const struct state_addrs *sa = a->states;
	size_t n = a->nstates, esz = (size_t)a->o->arena_size;
	uint64_t most = a->arena_size / a->pool_size;
	for (size_t i = 0; i < n; i++) {
		uint32_t span;
		if (quick_arenas(a, &sa[i], n == 1, &span, i ? NULL : extra, i ? 0 : nextra) < 0)
			return -1;
		*span_out = span;
		for (uint32_t k = 0; k < span; k++) {
			const unsigned char *obj = a->quick_buf + (size_t)k * esz;
			uint64_t base = alloc_get_u64(obj + a->o->arena_address);
			uint64_t carved = alloc_get_u64(obj + a->o->arena_pool_address);
			uint32_t nfree = alloc_get_u32(obj + ARENA_NFREE_OFF),
				 ntotal = alloc_get_u32(obj + ARENA_NTOTAL_OFF);
			if (base == 0)
				continue;
			uint64_t first = (base + a->pool_size - 1) & ~(a->pool_size - 1);
			if (carved < first || carved > base + a->arena_size || ntotal > most ||
			    nfree > ntotal)
				return -1;
			out->pools_bytes += (uint64_t)(ntotal - nfree) * a->pool_size;
			out->carved_bytes += carved - first;
		}
	}
	return n ? 0 : -1;
}

int alloc_quick(struct alloc_reader *a, struct alloc_quick *out)
{
	uint32_t span;

	memset(out, 0, sizeof *out);
	int rc = quick_pools(a, out, NULL, 0, &span);
	out->watch_free = a->watch.free;
	return rc;
}

int alloc_quick_with(struct alloc_reader *a, struct alloc_quick *out, struct remote_iov *extra,
		     size_t nextra)
{
	struct remote_iov all[ALLOC_EXTRA_MAX];
	uint32_t span = 0;

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < nextra; i++)
		extra[i].ok = 0;
	if (nextra > ALLOC_EXTRA_MAX)
		return -1;
	/* the watched pools' headers after the caller's pieces, with one allocator state */
	size_t nw =
	    a->nstates == 1 ? alloc_watch_iov(a, all + nextra, ALLOC_EXTRA_MAX - nextra) : 0;
	if (nw && nextra)
		memcpy(all, extra, nextra * sizeof *extra);
	int rc = quick_pools(a, out, nw ? all : extra, nextra + nw, &span);
	for (size_t i = 0; nw && i < nextra; i++)
		extra[i].ok = all[i].ok;
	if (rc == 0 && a->nstates == 1)
		alloc_watch_after(a, all + nextra, nw, span, out);
	else if (rc == 0) /* interpreters with their own allocator came: the watch lets go */
		alloc_watch_drop(a, out);
	return rc;
}
