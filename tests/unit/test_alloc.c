/* sampler/alloc.c over synthetic memory images: pymalloc statics (3.11 layout) and the
 * interpreter state of 3.13, the pool walk, and readings that must be discarded: torn
 * pools, impossible counters, unmapped arenas, state that moved during the walk. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "attach/remote.h"
#include "sampler/alloc.h"
#include "symbols/offsets.h"
#include "symbols/pytarget.h"

#define POOL (16u << 10)
#define ARENA (1u << 20)
#define STATICS 0x10000
#define ARENA_OBJS 0x20000
#define ARENA_A 0x7f0000100000ull /* pool aligned */
#define ARENA_B 0x7f0000300100ull /* not pool aligned: its first pool starts at +0x3f00 */
#define MAX_SEGS 64
#define BIT(f) (1u << (f))

struct image {
	struct remote_image_seg segs[MAX_SEGS];
	unsigned char *bufs[MAX_SEGS];
	size_t n;
	struct remote r;
};

static unsigned char *seg(struct image *im, uint64_t addr, size_t len)
{
	cr_assert_lt(im->n, MAX_SEGS);
	unsigned char *b = calloc(1, len);
	im->bufs[im->n] = b;
	im->segs[im->n] = (struct remote_image_seg){addr, len, b};
	im->n++;
	return b;
}

static void image_done(struct image *im)
{
	remote_init_image(&im->r, im->segs, im->n);
}

static void image_free(struct image *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->bufs[i]);
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A pool header: count blocks of (szidx + 1) * 16 bytes. */
static void pool(struct image *im, const struct py_offsets *o, uint64_t at, uint32_t count,
		 uint32_t szidx)
{
	unsigned char *h = seg(im, at, 48);
	put32(h + o->pool_count, count);
	put32(h + o->pool_szidx, szidx);
	put32(h + o->pool_maxnextoffset, POOL - (szidx + 1) * 16);
}

static void arena_obj(unsigned char *objs, const struct py_offsets *o, int i, uint64_t base,
		      uint64_t carved, uint32_t nfree, uint32_t ntotal)
{
	unsigned char *a = objs + i * o->arena_size;
	put64(a + o->arena_address, base);
	put64(a + o->arena_pool_address, carved);
	put32(a + 16, nfree);
	put32(a + 20, ntotal);
}

struct counters {
	uint64_t narenas, highwater, raw;
	uint32_t maxarenas;
};

/* A 3.11 target: statics at STATICS, 4 arena objects of which A (3 pools carved, 1 empty)
 * and B (2 pools carved) are used. */
static void build_311(struct image *im, struct py_target *t, const struct counters *c)
{
	const struct py_builtin_table *tab = py_builtin_find(3, 11, 0);

	cr_assert_not_null(tab, "no built-in 3.11 table");
	memset(t, 0, sizeof *t);
	memset(im, 0, sizeof *im);
	t->major = 3;
	t->minor = 11;
	t->off = tab->off;
	const struct py_offsets *o = &t->off;
	unsigned char *st = seg(im, STATICS, 64);
	t->sym.om_arenas = STATICS;
	t->sym.om_maxarenas = STATICS + 8;
	t->sym.om_narenas = STATICS + 16;
	t->sym.om_narenas_highwater = STATICS + 24;
	t->sym.om_raw_blocks = STATICS + 32;
	put64(st, ARENA_OBJS);
	put32(st + 8, c->maxarenas);
	put64(st + 16, c->narenas);
	put64(st + 24, c->highwater);
	put64(st + 32, c->raw);
	/* the array as mapped: maxarenas objects, at most 16 (the rest unmapped) */
	size_t mapped = c->maxarenas < 16 ? c->maxarenas : 16;
	unsigned char *objs =
	    seg(im, ARENA_OBJS, (mapped > 4 ? mapped : 4) * (size_t)o->arena_size);
	arena_obj(objs, o, 0, ARENA_A, ARENA_A + 3 * POOL, 62, 64);
	arena_obj(objs, o, 2, ARENA_B, ARENA_B - 0x100 + POOL + 2 * POOL, 61, 63);
	pool(im, o, ARENA_A, 10, 0);		       /* 10 x 16 */
	pool(im, o, ARENA_A + POOL, 5, 31);	       /* 5 x 512 */
	pool(im, o, ARENA_A + 2 * POOL, 0, 0xffff);    /* empty */
	pool(im, o, ARENA_B - 0x100 + POOL, 7, 2);     /* 7 x 48 */
	pool(im, o, ARENA_B - 0x100 + 2 * POOL, 1, 7); /* 1 x 128 */
	image_done(im);
}

static const struct counters good = {.narenas = 2, .highwater = 3, .raw = 4, .maxarenas = 4};

Test(alloc, statics_walk_exact)
{
	struct image im;
	struct py_target t;
	struct alloc_stats st;

	build_311(&im, &t, &good);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_available(a), BIT(ALLOC_NFIELDS) - 1, "3.11 with symbols gives all");
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid, BIT(ALLOC_NFIELDS) - 1, "valid 0x%x", st.valid);
	cr_assert_eq(st.v[ALLOC_ARENAS], 2);
	cr_assert_eq(st.v[ALLOC_ARENAS_HIGHWATER], 3);
	cr_assert_eq(st.v[ALLOC_RAW_BLOCKS], 4);
	cr_assert_eq(st.v[ALLOC_BLOCKS], 10 + 5 + 7 + 1 + 4, "blocks %llu",
		     (unsigned long long)st.v[ALLOC_BLOCKS]);
	cr_assert_eq(st.v[ALLOC_BYTES], 10 * 16 + 5 * 512 + 7 * 48 + 1 * 128);
	cr_assert_eq(st.v[ALLOC_ARENA_BYTES], 5 * POOL);
	cr_assert_eq(st.pools, 5);
	uint64_t heap;
	cr_assert_eq(alloc_heap(&st, 5 * POOL + 1000, &heap), 0);
	cr_assert_eq(heap, st.v[ALLOC_BYTES] + 1000, "anon outside the arenas is added");
	cr_assert_eq(alloc_heap(&st, 100, &heap), 0);
	cr_assert_eq(heap, st.v[ALLOC_BYTES], "anon below the arenas adds nothing");

	struct alloc_quick q;
	cr_assert_eq(alloc_quick(a, &q), 0);
	cr_assert_eq(q.pools_bytes, (2u + 2u) * POOL, "ntotal - nfree pools in use");
	cr_assert_eq(q.carved_bytes, 5 * POOL);

	alloc_read(a, 0, &st);
	cr_assert_eq(st.walked, 0);
	cr_assert_eq(st.valid,
		     BIT(ALLOC_ARENAS) | BIT(ALLOC_ARENAS_HIGHWATER) | BIT(ALLOC_RAW_BLOCKS),
		     "without a walk only the counters: 0x%x", st.valid);
	alloc_free(a);
	image_free(&im);
}

/* The arena array is maxarenas long, but no object past the high-water mark has ever been
 * used: only those are read, and a few more by the quick reading.  Here the array is 64
 * objects long and only its first 16 are mapped: reading it whole would fail. */
Test(alloc, reads_arena_objects_up_to_the_high_water_mark)
{
	struct image im;
	struct py_target t;
	struct alloc_stats st;
	struct alloc_quick q;
	const struct counters big = {.narenas = 2, .highwater = 3, .raw = 4, .maxarenas = 64};

	build_311(&im, &t, &big);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert(st.valid & BIT(ALLOC_BYTES), "the walk read the used objects only");
	cr_assert_eq(st.v[ALLOC_BYTES], 10 * 16 + 5 * 512 + 7 * 48 + 1 * 128);
	cr_assert_eq(alloc_quick(a, &q), 0);
	cr_assert_eq(q.pools_bytes, (2u + 2u) * POOL);
	alloc_free(a);
	image_free(&im);

	const struct counters past = {.narenas = 2, .highwater = 20, .raw = 4, .maxarenas = 64};
	build_311(&im, &t, &past);
	a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_not(st.valid & BIT(ALLOC_BYTES), "objects past the mapped ones are read");
	cr_assert_eq(alloc_quick(a, &q), -1);
	alloc_free(a);
	image_free(&im);
}

/* The quick reading reads the arena objects in the counters' batch once it knows where they
 * are: what it returns is what they hold now, and when the array moves (pymalloc grew it
 * with realloc) the objects at the new place. */
Test(alloc, quick_reading_follows_the_objects_and_the_array)
{
	struct image im;
	struct py_target t;
	struct alloc_quick q;

	build_311(&im, &t, &good);
	const struct py_offsets *o = &t.off;
	struct alloc_reader *a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_quick(a, &q), 0);
	cr_assert_eq(q.pools_bytes, 4u * POOL);
	unsigned char *objs = NULL, *st = NULL;
	for (size_t i = 0; i < im.n; i++) {
		objs = im.segs[i].addr == ARENA_OBJS ? im.bufs[i] : objs;
		st = im.segs[i].addr == STATICS ? im.bufs[i] : st;
	}
	put32(objs + 16, 61); /* arena A: one more pool in use */
	cr_assert_eq(alloc_quick(a, &q), 0);
	cr_assert_eq(q.pools_bytes, 5u * POOL, "read afresh: %llu",
		     (unsigned long long)q.pools_bytes);

	/* the array moved: a copy elsewhere, where arena B has 3 pools in use */
	unsigned char *moved = seg(&im, ARENA_OBJS + 0x10000, 4 * (size_t)o->arena_size);
	memcpy(moved, objs, 4 * (size_t)o->arena_size);
	put32(moved + 2 * o->arena_size + 16, 60);
	put64(st, ARENA_OBJS + 0x10000);
	image_done(&im);
	cr_assert_eq(alloc_quick(a, &q), 0);
	cr_assert_eq(q.pools_bytes, 6u * POOL, "the objects at their new place: %llu",
		     (unsigned long long)q.pools_bytes);
	alloc_free(a);
	image_free(&im);
}

/* The caller's own pieces (the GIL words) come in the quick reading's batch, the first
 * time (the arena objects read apart) and after (with them); a piece that cannot be read is
 * not ok, and does not fail the reading. */
Test(alloc, quick_reading_reads_the_callers_pieces)
{
	struct image im;
	struct py_target t;
	struct alloc_quick q;
	uint64_t word = 0, gone = 7;

	build_311(&im, &t, &good);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	struct remote_iov extra[2] = {{STATICS + 32, &word, 8, 0}, {0x1000, &gone, 8, 1}};
	for (int round = 0; round < 2; round++) { /* apart, then with the arena objects */
		word = 0;
		cr_assert_eq(alloc_quick_with(a, &q, extra, 2), 0);
		cr_assert_eq(q.pools_bytes, 4u * POOL);
		cr_assert(extra[0].ok && word == 4, "round %d: read, %llu", round,
			  (unsigned long long)word);
		cr_assert_not(extra[1].ok, "round %d: an unmapped piece is not ok", round);
	}
	alloc_free(a);
	image_free(&im);

	const struct counters bad = {.narenas = 9, .highwater = 3, .raw = 4, .maxarenas = 4};
	build_311(&im, &t, &bad);
	a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_quick_with(a, &q, extra, 1), -1, "impossible counters");
	alloc_free(a);
	image_free(&im);
}

/* The pools taken lately are watched (alloc_watch): a pool taken counts whole; the free
 * slots below the most it held come off the quick value while it is watched; emptied, it
 * releases what is left of it; let go, it leaves its free slots as they are (watch_left,
 * no change).  Over a pool's life the changes add up to nothing. */
static uint64_t watched_value(struct alloc_reader *a, uint64_t *left)
{
	struct alloc_quick q;

	cr_assert_eq(alloc_quick_with(a, &q, NULL, 0), 0);
	*left = q.watch_left;
	return q.pools_bytes - q.watch_free;
}

/* A 3.11 image with a pool of 48-byte blocks in arena A, not carved yet (h: its header;
 * objs: the arena objects), and a reader of it that watches in mode. */
struct watch_fx {
	struct image im;
	struct py_target t;
	unsigned char *objs, *h;
	struct alloc_reader *a;
};

static void watch_image(struct watch_fx *fx, enum alloc_watch_mode mode)
{
	build_311(&fx->im, &fx->t, &good);
	fx->objs = NULL;
	for (size_t i = 0; i < fx->im.n; i++)
		fx->objs = fx->im.segs[i].addr == ARENA_OBJS ? fx->im.bufs[i] : fx->objs;
	fx->h = seg(&fx->im, ARENA_A + 3 * POOL, 48);
	put32(fx->h + fx->t.off.pool_szidx, 2);
	put32(fx->h + fx->t.off.pool_maxnextoffset, POOL - 48);
	image_done(&fx->im);
	fx->a = alloc_new(&fx->im.r, &fx->t);
	alloc_watch(fx->a, mode);
}

/* Arena A carves the pool (100 blocks in use): one more pool in use. */
static void carve_pool(const struct py_target *t, unsigned char *objs, unsigned char *h)
{
	put32(h + t->off.pool_count, 100);
	put64(objs + 8, ARENA_A + 4 * POOL);
	put32(objs + 16, 61);
}

Test(alloc, watch_sees_the_free_slots_of_pools_taken_lately)
{
	struct watch_fx fx;
	uint64_t left, base;

	watch_image(&fx, ALLOC_WATCH_EVERY);
	struct alloc_reader *a = fx.a;
	const struct py_target t = fx.t;
	unsigned char *objs = fx.objs, *h = fx.h;
	base = watched_value(a, &left);
	cr_assert_eq(base, 4u * POOL);

	carve_pool(&t, objs, h);
	cr_assert_eq(watched_value(a, &left), base + POOL, "taken: whole");
	put32(h + t.off.pool_count, 150);
	cr_assert_eq(watched_value(a, &left), base + POOL, "filled above its mark: its taker's");
	put32(h + t.off.pool_count, 90);
	cr_assert_eq(watched_value(a, &left), base + POOL - 60 * 48, "60 blocks freed");
	put32(h + t.off.pool_count, 120);
	cr_assert_eq(watched_value(a, &left), base + POOL - 30 * 48, "30 filled again");
	put32(h + t.off.pool_count, 0); /* emptied: back on the arena's free list */
	put64(objs + 24, ARENA_A + 3 * POOL);
	put32(objs + 16, 62);
	cr_assert_eq(watched_value(a, &left), base, "emptied: what was left of it");
	cr_assert_eq(left, 0);

	put32(h + t.off.pool_count, 10); /* taken again, from the free list */
	put64(objs + 24, 0);
	put32(objs + 16, 61);
	cr_assert_eq(watched_value(a, &left), base + POOL);
	put32(h + t.off.pool_count, 4);
	cr_assert_eq(watched_value(a, &left), base + POOL - 6 * 48);
	alloc_watch(a, ALLOC_WATCH_OFF);
	cr_assert_eq(watched_value(a, &left), base + POOL, "let go: its free slots stay");
	cr_assert_eq(left, 6 * 48, "and the jump is no change");
	put32(h + t.off.pool_count, 2);
	cr_assert_eq(watched_value(a, &left), base + POOL, "not watched: pools only");
	cr_assert_eq(left, 0);
	alloc_free(a);
	image_free(&fx.im);
}

Test(alloc, torn_pool_discards_walk_only)
{
	struct image im;
	struct py_target t;
	struct alloc_stats st;

	build_311(&im, &t, &good);
	/* a pool whose size class and block size disagree (re-initialised while read) */
	put32(im.bufs[3] + t.off.pool_szidx, 3);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.walked, 1);
	cr_assert_eq(st.valid & (BIT(ALLOC_BYTES) | BIT(ALLOC_BLOCKS) | BIT(ALLOC_ARENA_BYTES)), 0,
		     "a torn pool must not give numbers: 0x%x", st.valid);
	cr_assert(st.valid & BIT(ALLOC_ARENAS), "the counters stay");
	/* a count no pool of that size can hold */
	put32(im.bufs[3] + t.off.pool_szidx, 31);
	put32(im.bufs[3] + t.off.pool_count, 40);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid & BIT(ALLOC_BYTES), 0);
	alloc_free(a);
	image_free(&im);
}

Test(alloc, impossible_counters_discard_everything)
{
	const struct counters bad[] = {
	    {.narenas = 5, .highwater = 5, .raw = 0, .maxarenas = 4}, /* narenas > max */
	    {.narenas = 2, .highwater = 1, .raw = 0, .maxarenas = 4}, /* highwater < now */
	    {.narenas = 2, .highwater = 3, .raw = 1ull << 62, .maxarenas = 4},
	    {.narenas = 2, .highwater = 3, .raw = 0, .maxarenas = 1u << 30},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct image im;
		struct py_target t;
		struct alloc_stats st;
		build_311(&im, &t, &bad[i]);
		struct alloc_reader *a = alloc_new(&im.r, &t);
		alloc_read(a, 1, &st);
		cr_assert_eq(st.valid, 0, "case %zu: garbage must not be kept (0x%x)", i, st.valid);
		struct alloc_quick q;
		cr_assert_eq(alloc_quick(a, &q), -1, "case %zu", i);
		alloc_free(a);
		image_free(&im);
	}
}

Test(alloc, arena_count_mismatch_and_garbage_arena)
{
	struct image im;
	struct py_target t;
	struct alloc_stats st;
	struct counters c = good;

	c.narenas = 3; /* the walk finds 2: an arena came or went during the walk */
	build_311(&im, &t, &c);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid & BIT(ALLOC_BYTES), 0);
	cr_assert(st.valid & BIT(ALLOC_ARENAS));
	alloc_free(a);
	image_free(&im);

	build_311(&im, &t, &good);
	/* pool_address past the arena's end */
	put64(im.bufs[1] + t.off.arena_pool_address, ARENA_A + ARENA + POOL);
	a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid & BIT(ALLOC_BYTES), 0);
	struct alloc_quick q;
	cr_assert_eq(alloc_quick(a, &q), -1);
	alloc_free(a);
	image_free(&im);
}

Test(alloc, unmapped_arena_or_array)
{
	struct image im;
	struct py_target t;
	struct alloc_stats st;

	build_311(&im, &t, &good);
	put64(im.bufs[0], 0x30000); /* arenas points nowhere */
	struct alloc_reader *a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid & BIT(ALLOC_BYTES), 0);
	alloc_free(a);
	image_free(&im);

	build_311(&im, &t, &good);
	im.n--; /* the last pool header is unmapped (its arena was freed) */
	image_done(&im);
	a = alloc_new(&im.r, &t);
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid & BIT(ALLOC_BYTES), 0);
	alloc_free(a);
	im.n++;
	image_free(&im);
}

Test(alloc, stripped_and_old_versions_say_why)
{
	struct image im;
	struct py_target t;

	build_311(&im, &t, &good);
	t.sym.om_narenas = t.sym.om_narenas_highwater = 0;
	t.sym.om_from_code = 1;
	struct alloc_reader *a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_available(a) & BIT(ALLOC_ARENAS_HIGHWATER), 0);
	cr_assert(alloc_available(a) & BIT(ALLOC_ARENAS), "counted by the walk");
	cr_assert_not_null(strstr(alloc_missing_reason(a, ALLOC_ARENAS_HIGHWATER), "stripped"));
	cr_assert_null(alloc_missing_reason(a, ALLOC_BYTES));
	struct alloc_stats st;
	alloc_read(a, 1, &st);
	cr_assert_eq(st.v[ALLOC_ARENAS], 2, "arenas from the walk");
	cr_assert_eq(st.valid & BIT(ALLOC_ARENAS_HIGHWATER), 0);
	alloc_free(a);

	/* 3.8 stripped: only _Py_AllocatedBlocks */
	memset(&t.sym, 0, sizeof t.sym);
	t.minor = 8;
	t.sym.om_allocated_blocks = STATICS + 32;
	t.sym.om_from_code = 1;
	a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_available(a), BIT(ALLOC_BLOCKS), "0x%x", alloc_available(a));
	cr_assert_not_null(strstr(alloc_missing_reason(a, ALLOC_RAW_BLOCKS), "3.9"));
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid, BIT(ALLOC_BLOCKS));
	cr_assert_eq(st.v[ALLOC_BLOCKS], 4);
	cr_assert_eq(alloc_heap_available(a), 0);
	alloc_free(a);

	memset(&t.sym, 0, sizeof t.sym);
	t.major = 2;
	t.minor = 7;
	a = alloc_new(&im.r, &t);
	cr_assert_not_null(strstr(alloc_missing_reason(a, ALLOC_ARENAS_HIGHWATER), "2.7"));
	cr_assert_eq(alloc_available(a) & BIT(ALLOC_BYTES), 0);
	alloc_free(a);
	image_free(&im);
}

/* 3.13: _PyRuntime -> interpreters.head -> interp->obmalloc (a pointer) -> the state. */
Test(alloc, interp_state_313)
{
	const struct py_builtin_table *tab = py_builtin_find(3, 13, 0);
	struct image im = {0};
	struct py_target t = {0};
	struct alloc_stats st;

	cr_assert_not_null(tab);
	t.major = 3;
	t.minor = 13;
	t.off = tab->off;
	const struct py_offsets *o = &t.off;
	const uint64_t runtime = 0x100000, interp = 0x200000, state = 0x300000;
	t.sym.runtime = runtime;
	unsigned char *rt = seg(&im, runtime, 4096);
	put64(rt + o->rt_interp_head, interp);
	unsigned char *is = seg(&im, interp, (size_t)o->is_size);
	put64(is + o->is_obmalloc, state);
	unsigned char *om = seg(&im, state, (size_t)o->om_raw_blocks + 8);
	put64(om + o->om_arenas, ARENA_OBJS);
	put32(om + o->om_maxarenas, 4);
	put64(om + o->om_narenas, 1);
	put64(om + o->om_narenas_highwater, 2);
	put64(om + o->om_raw_blocks, 9);
	unsigned char *objs = seg(&im, ARENA_OBJS, 4 * (size_t)o->arena_size);
	arena_obj(objs, o, 1, ARENA_A, ARENA_A + POOL, 63, 64);
	pool(&im, o, ARENA_A, 3, 1);
	image_done(&im);
	struct alloc_reader *a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_available(a), BIT(ALLOC_NFIELDS) - 1, "%s", alloc_source(a));
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid, BIT(ALLOC_NFIELDS) - 1, "0x%x", st.valid);
	cr_assert_eq(st.v[ALLOC_ARENAS], 1);
	cr_assert_eq(st.v[ALLOC_ARENAS_HIGHWATER], 2);
	cr_assert_eq(st.v[ALLOC_BLOCKS], 3 + 9);
	cr_assert_eq(st.v[ALLOC_BYTES], 3 * 32);
	alloc_free(a);

	/* no layout for the state (_Py_DebugOffsets only): said, not zeros */
	t.off.om_arenas = OFFSET_ABSENT;
	a = alloc_new(&im.r, &t);
	cr_assert_eq(alloc_available(a), 0);
	cr_assert_not_null(strstr(alloc_missing_reason(a, ALLOC_BYTES), "_Py_DebugOffsets"));
	alloc_read(a, 1, &st);
	cr_assert_eq(st.valid, 0);
	alloc_free(a);
	image_free(&im);
}

Test(alloc, sizes_per_version)
{
	cr_assert_eq(alloc_pool_size(2, 7), 4096);
	cr_assert_eq(alloc_pool_size(3, 9), 4096);
	cr_assert_eq(alloc_pool_size(3, 10), 16384);
	cr_assert_eq(alloc_arena_size(3, 9), 256u << 10);
	cr_assert_eq(alloc_arena_size(3, 13), 1u << 20);
	cr_assert_str_eq(alloc_field_name(ALLOC_BYTES), "bytes_in_use");
}
