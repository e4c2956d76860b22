/* CPython 3.14 is not installed here: its support (layout from _Py_DebugOffsets, tagged
 * _PyStackRef code pointers, owners >= 3 skipped) is proven on a synthetic memory image of
 * a 3.14 process, read through the same remote-memory interface as a live one. */
#include <criterion/criterion.h>
#include <string.h>

#include "attach/remote.h"
#include "sampler/walk.h"
#include "symbols/debugoff.h"
#include "symbols/pytarget.h"

#define BASE 0x10000000ull
#define IMAGE_SIZE (1u << 20)

struct image {
	unsigned char *bytes;
	uint64_t next; /* bump allocator, remote addresses */
	struct remote_image_seg seg;
};

static uint64_t alloc(struct image *im, size_t len)
{
	uint64_t at = (im->next + 15) & ~15ull;
	im->next = at + len;
	cr_assert(im->next - BASE <= IMAGE_SIZE);
	return at;
}

static void put64(struct image *im, uint64_t addr, uint64_t v)
{
	memcpy(im->bytes + (addr - BASE), &v, 8);
}

static void put32(struct image *im, uint64_t addr, uint32_t v)
{
	memcpy(im->bytes + (addr - BASE), &v, 4);
}

static void put8(struct image *im, uint64_t addr, uint8_t v)
{
	im->bytes[addr - BASE] = v;
}

static uint64_t ascii_str(struct image *im, const struct py_offsets *o, uint64_t type,
			  const char *s)
{
	size_t n = strlen(s);
	uint64_t obj = alloc(im, (size_t)o->u_ascii_size + n + 1);
	put64(im, obj + (uint64_t)o->ob_type, type);
	put64(im, obj + (uint64_t)o->u_length, n);
	put32(im, obj + (uint64_t)o->u_state,
	      (1u << o->u_kind_bit) | (1u << o->u_compact_bit) | (1u << o->u_ascii_bit));
	memcpy(im->bytes + (obj + (uint64_t)o->u_ascii_size - BASE), s, n);
	return obj;
}

static uint64_t bytes_obj(struct image *im, const struct py_offsets *o, uint64_t type,
			  const unsigned char *data, size_t n)
{
	uint64_t obj = alloc(im, (size_t)o->bytes_sval + n + 1);
	put64(im, obj + (uint64_t)o->ob_type, type);
	put64(im, obj + (uint64_t)o->var_size, n);
	memcpy(im->bytes + (obj + (uint64_t)o->bytes_sval - BASE), data, n);
	return obj;
}

struct types {
	uint64_t code, str, bytes, dict, module;
};

/* A code object whose line table says: unit 0 -> firstlineno, units 1.. -> firstlineno+2. */
static uint64_t code_obj(struct image *im, const struct py_offsets *o, const struct types *ty,
			 const char *file, const char *qualname, int firstlineno)
{
	/* 3.11+ location table: NO_COLUMNS entries (kind 13), 1 unit with delta 0, then 8 units
	 * with delta +2 (svarint 4) */
	static const unsigned char table[] = {0x80 | (13 << 3) | 0, 0x00, 0x80 | (13 << 3) | 7,
					      0x04};
	uint64_t co = alloc(im, (size_t)o->co_code_adaptive + 64);
	put64(im, co + (uint64_t)o->ob_type, ty->code);
	put64(im, co + (uint64_t)o->co_filename, ascii_str(im, o, ty->str, file));
	put64(im, co + (uint64_t)o->co_name, ascii_str(im, o, ty->str, "short"));
	put64(im, co + (uint64_t)o->co_qualname, ascii_str(im, o, ty->str, qualname));
	put64(im, co + (uint64_t)o->co_linetable, bytes_obj(im, o, ty->bytes, table, sizeof table));
	put32(im, co + (uint64_t)o->co_firstlineno, (uint32_t)firstlineno);
	return co;
}

/* A frame: code pointer tagged in its low bit, as a 3.14 _PyStackRef is. */
static uint64_t frame(struct image *im, const struct py_offsets *o, uint64_t code, int unit,
		      int owner, uint64_t previous)
{
	uint64_t f = alloc(im, (size_t)o->if_size);
	put64(im, f + (uint64_t)o->if_code, code | 1);
	put64(im, f + (uint64_t)o->if_previous, previous);
	put64(im, f + (uint64_t)o->if_instr, code + (uint64_t)o->co_code_adaptive + 2u * unit);
	put8(im, f + (uint64_t)o->if_owner, (uint8_t)owner);
	return f;
}

/* The "3.14" layout: 3.13's, with the thread and frame members moved, so that a walker
 * using the 3.13 table instead of the debug offsets would fail. */
static struct py_offsets layout_314(void)
{
	const struct py_builtin_table *t313 = py_builtin_find(3, 13, 0);
	cr_assert_not_null(t313, "no built-in 3.13 table");
	struct py_offsets o = t313->off;
	o.ts_current_frame += 16;
	o.ts_thread_id += 8;
	o.ts_native_id += 8;
	o.ts_size += 32;
	o.is_tstate_head += 8;
	o.if_owner = 74;
	o.if_size = 88;
	o.rt_interp_head = 1024 + 8; /* after the (larger) 3.14 debug block */
	return o;
}

struct world {
	struct image im;
	struct py_target t;
	struct remote r;
	uint64_t bad_code;
	uint64_t runtime; /* where the _Py_DebugOffsets block is */
};

static void new_types(struct image *im, struct types *ty)
{
	ty->code = alloc(im, 256);
	ty->str = alloc(im, 256);
	ty->bytes = alloc(im, 256);
	ty->dict = alloc(im, 256);
	ty->module = alloc(im, 256);
}

/* The image is built: read through the image backend, as a 3.minor target. */
static void finish_world(struct world *w, int minor, uint64_t runtime, const struct types *ty)
{
	w->im.seg = (struct remote_image_seg){BASE, IMAGE_SIZE, w->im.bytes};
	remote_init_image(&w->r, &w->im.seg, 1);
	w->t.major = 3;
	w->t.minor = minor;
	w->t.frame_cstack_owner = 3;
	w->t.sym.runtime = runtime;
	w->t.sym.code_type = ty->code;
	w->t.sym.unicode_type = ty->str;
	w->t.sym.bytes_type = ty->bytes;
	w->t.sym.dict_type = ty->dict;
	w->t.sym.module_type = ty->module;
}

/* An interpreter with one thread state (ident, kernel TID), linked from the runtime. */
static uint64_t one_thread(struct image *im, const struct py_offsets *lay, uint64_t runtime,
			   uint64_t ident, uint64_t tid, uint64_t *interp_out)
{
	uint64_t interp = alloc(im, (size_t)lay->is_size);
	uint64_t tstate = alloc(im, (size_t)lay->ts_size);

	put64(im, runtime + (uint64_t)lay->rt_interp_head, interp);
	put64(im, interp + (uint64_t)lay->is_tstate_head, tstate);
	put64(im, tstate + (uint64_t)lay->ts_interp, interp);
	put64(im, tstate + (uint64_t)lay->ts_thread_id, ident);
	put64(im, tstate + (uint64_t)lay->ts_native_id, tid);
	*interp_out = interp;
	return tstate;
}

static void build(struct world *w, int torn)
{
	struct py_offsets lay = layout_314();
	unsigned char block[DEBUGOFF_READ_SIZE];
	struct tg_err err = {0};
	struct py_offsets dbg;
	uint64_t version;

	memset(w, 0, sizeof *w);
	w->im.bytes = calloc(1, IMAGE_SIZE);
	w->im.next = BASE;
	cr_assert_eq(debugoff_encode(&lay, 0x030e00f0, block, sizeof block, &err), 0, "%s",
		     err.msg);
	struct types ty;
	new_types(&w->im, &ty);
	uint64_t runtime = alloc(&w->im, (size_t)lay.rt_interp_head + 64);
	memcpy(w->im.bytes + (runtime - BASE), block, sizeof block);
	w->runtime = runtime;
	uint64_t interp,
	    tstate = one_thread(&w->im, &lay, runtime, 0x7f0000001000ull, 4242, &interp);
	uint64_t gil = alloc(&w->im, 256);
	put64(&w->im, interp + (uint64_t)lay.is_gil_ptr, gil);
	put32(&w->im, gil + (uint64_t)lay.gil_locked, 1);
	put64(&w->im, gil + (uint64_t)lay.gil_holder, tstate);

	uint64_t outer = code_obj(&w->im, &lay, &ty, "/srv/app.py", "main", 10);
	uint64_t inner = code_obj(&w->im, &lay, &ty, "/srv/lib.py", "Worker.run", 40);
	uint64_t f_outer = frame(&w->im, &lay, outer, 3, 0, 0);
	uint64_t f_cstack = frame(&w->im, &lay, outer, 0, 4, f_outer);	/* C stack shim */
	uint64_t f_interp = frame(&w->im, &lay, inner, 0, 3, f_cstack); /* interpreter-owned */
	w->bad_code = BASE + IMAGE_SIZE + 0x1000;			/* not mapped */
	uint64_t f_inner = frame(&w->im, &lay, torn ? w->bad_code : inner, 0, 0, f_interp);
	put64(&w->im, tstate + (uint64_t)lay.ts_current_frame, f_inner);

	finish_world(w, 14, runtime, &ty);
	cr_assert_eq(debugoff_parse(w->im.bytes + (runtime - BASE), DEBUGOFF_READ_SIZE, &dbg,
				    &version, &err),
		     0, "%s", err.msg);
	cr_assert_eq(pytarget_use_debug_offsets(&w->t, &dbg, &err), 0, "%s", err.msg);
}

Test(py314, layout_comes_from_debug_offsets)
{
	struct world w;

	build(&w, 0);
	struct py_offsets want = layout_314();
	cr_expect_eq(w.t.off_source, OFFSRC_DEBUG_OFFSETS);
	cr_expect_eq(w.t.off.ts_current_frame, want.ts_current_frame);
	cr_expect_eq(w.t.off.is_tstate_head, want.is_tstate_head);
	cr_expect_eq(w.t.off.if_owner, want.if_owner);
	/* not described by the block: taken from the built-in 3.14 table */
	const struct py_builtin_table *tab = py_builtin_find(3, 14, 0);
	cr_assert_not_null(tab);
	cr_expect_eq(w.t.off.u_kind_bit, tab->off.u_kind_bit);
	cr_expect_eq(w.t.off.dk_log2_size, tab->off.dk_log2_size);
	cr_expect_eq(w.t.off.ts_datastack_top, tab->off.ts_datastack_top);
	cr_expect_eq(w.t.off.is_obmalloc, tab->off.is_obmalloc);
	cr_expect(strstr(w.t.off_detail, "3.14 table") != NULL, "%s", w.t.off_detail);
	free(w.im.bytes);
}

Test(py314, walk_tagged_frames_skipping_owned_by_interpreter_and_cstack)
{
	struct world w;
	struct walk_sample s = {0};
	struct tg_err err = {0};

	build(&w, 0);
	struct walker *wk = walker_new(&w.r, &w.t);
	cr_assert_eq(walker_sample(wk, &s, &err), 0, "%s", err.msg);
	cr_assert_eq(s.nthreads, 1);
	const struct walk_thread *th = &s.threads[0];
	cr_expect_eq(th->native_id, 4242);
	cr_expect_eq(th->thread_id, 0x7f0000001000ull);
	cr_expect(th->holds_gil);
	cr_assert_eq(th->depth, 2, "shim frames (owner 3 and 4) must be skipped, got %zu",
		     th->depth);
	cr_expect_str_eq(th->frames[0].code_info->func, "Worker.run");
	cr_expect_str_eq(th->frames[0].code_info->file, "/srv/lib.py");
	cr_expect_eq(th->frames[0].line, 40);
	cr_expect_str_eq(th->frames[1].code_info->func, "main");
	cr_expect_eq(th->frames[1].line, 12, "unit 3 of main is firstlineno + 2");
	cr_expect(!th->truncated);
	walk_sample_free(&s);
	walker_free(wk);
	free(w.im.bytes);
}

Test(py314, torn_code_pointer_drops_the_frame_and_flags_the_thread)
{
	struct world w;
	struct walk_sample s = {0};
	struct tg_err err = {0};

	build(&w, 1);
	struct walker *wk = walker_new(&w.r, &w.t);
	cr_assert_eq(walker_sample(wk, &s, &err), 0, "%s", err.msg);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 1);
	cr_expect_str_eq(s.threads[0].frames[0].code_info->func, "main");
	cr_expect(s.threads[0].truncated);
	walk_sample_free(&s);
	walker_free(wk);
	free(w.im.bytes);
}

/* 3.11+: a frame the thread owns lives in its data stack, below the top read with the
 * thread state.  A current-frame link read at another moment (3.11 reads it from the C
 * stack, after the state) can name a frame that returned: it lies above the top, and the
 * chain from it is a stack that no longer exists.  Built on the 3.13 table, whose thread
 * state has the data stack's chunk and top. */
/* A 3.13 frame: an untagged code pointer. */
static uint64_t frame313(struct image *im, const struct py_offsets *o, uint64_t code,
			 uint64_t previous)
{
	uint64_t f = frame(im, o, code, 1, 0, previous);
	put64(im, f + (uint64_t)o->if_code, code);
	return f;
}

static void build_stack(struct world *w, int stale)
{
	const struct py_builtin_table *t313 = py_builtin_find(3, 13, 0);
	cr_assert_not_null(t313, "no built-in 3.13 table");
	struct py_offsets lay = t313->off;
	struct types ty;

	memset(w, 0, sizeof *w);
	w->im.bytes = calloc(1, IMAGE_SIZE);
	w->im.next = BASE;
	new_types(&w->im, &ty);
	uint64_t runtime = alloc(&w->im, (size_t)lay.rt_interp_head + 64);
	uint64_t interp,
	    tstate = one_thread(&w->im, &lay, runtime, 0x7f0000002000ull, 4343, &interp);
	uint64_t outer = code_obj(&w->im, &lay, &ty, "/srv/app.py", "serve", 10);
	uint64_t inner = code_obj(&w->im, &lay, &ty, "/srv/app.py", "handle", 20);
	uint64_t gone = code_obj(&w->im, &lay, &ty, "/srv/app.py", "returned", 30);
	/* the chunk: a header (previous, size, top), then the frames */
	uint64_t chunk = alloc(&w->im, 4096);
	put64(&w->im, chunk + 8, 4096);
	w->im.next = chunk + 32;
	uint64_t f_outer = frame313(&w->im, &lay, outer, 0);
	uint64_t f_inner = frame313(&w->im, &lay, inner, f_outer);
	uint64_t top = w->im.next;
	/* above the top: a frame that returned, still linking to the live ones */
	uint64_t f_gone = frame313(&w->im, &lay, gone, f_inner);
	w->im.next = chunk + 4096;
	put64(&w->im, tstate + (uint64_t)lay.ts_datastack_chunk, chunk);
	put64(&w->im, tstate + (uint64_t)lay.ts_datastack_top, top);
	if (stale == 2) /* a loop: the older frame links to the newer one */
		put64(&w->im, f_outer + (uint64_t)lay.if_previous, f_inner);
	put64(&w->im, tstate + (uint64_t)lay.ts_current_frame, stale == 1 ? f_gone : f_inner);

	finish_world(w, 13, runtime, &ty);
	w->t.off = lay;
}

static void walk_one(int stale, struct walk_sample *s)
{
	struct world w;
	struct tg_err err = {0};

	build_stack(&w, stale);
	struct walker *wk = walker_new(&w.r, &w.t);
	cr_assert_eq(walker_sample(wk, s, &err), 0, "%s", err.msg);
	walker_free(wk);
	free(w.im.bytes);
}

Test(py314, frame_above_the_data_stack_top_is_a_torn_walk)
{
	struct walk_sample s = {0};

	walk_one(0, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 2);
	cr_expect(!s.threads[0].truncated);
	walk_sample_free(&s);
	walk_one(1, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 0, "a returned frame's chain was recorded (%zu frames)",
		     s.threads[0].depth);
	cr_expect(s.threads[0].truncated);
	walk_sample_free(&s);
	walk_one(2, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect(s.threads[0].truncated, "a frame above the one it called was taken");
	cr_expect_leq(s.threads[0].depth, 2);
	walk_sample_free(&s);
}

Test(py314, no_table_of_the_same_version_is_refused)
{
	struct world w;
	struct py_offsets dbg;
	uint64_t version;
	struct tg_err err = {0};

	build(&w, 0);
	cr_assert_eq(debugoff_parse(w.im.bytes + (w.runtime - BASE), DEBUGOFF_READ_SIZE, &dbg,
				    &version, &err),
		     0, "%s", err.msg);
	w.t.minor = 16; /* a version without a built-in table: nothing else is borrowed */
	cr_expect_eq(pytarget_use_debug_offsets(&w.t, &dbg, &err), -1);
	cr_expect_eq(err.code, TG_E_LAYOUT);
	cr_expect(strstr(err.msg, "no built-in table") != NULL, "%s", err.msg);
	free(w.im.bytes);
}
