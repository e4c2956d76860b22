/* CPython 3.14 is not installed here: its support (layout from _Py_DebugOffsets, tagged
 * _PyStackRef code pointers, owners >= 3 skipped) is proven on a synthetic memory image of
 * a 3.14 process, read through the same remote-memory interface as a live one. */
#include <criterion/criterion.h>
#include <string.h>

#include "attach/remote.h"
#include "sampler/walk.h"
#include "symbols/debugoff.h"
#include "symbols/pytarget.h"
#include "tests/world/pyworld.h"

Test(py314, layout_comes_from_debug_offsets)
{
	struct pyw_world w;

	cr_assert_eq(pyw_build(&w, 0), 0);
	struct py_offsets want = pyw_layout_314();
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
	struct pyw_world w;
	struct walk_sample s = {0};
	struct tg_err err = {0};

	cr_assert_eq(pyw_build(&w, 0), 0);
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
	struct pyw_world w;
	struct walk_sample s = {0};
	struct tg_err err = {0};

	cr_assert_eq(pyw_build(&w, 1), 0);
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
static uint64_t frame313(struct pyw_image *im, const struct py_offsets *o, uint64_t code,
			 uint64_t previous)
{
	uint64_t f = pyw_frame(im, o, code, 1, 0, previous);
	pyw_put64(im, f + (uint64_t)o->if_code, code);
	return f;
}

/* outer_words: the frame size serve()'s code object gives (0: none); its frame takes 10
 * words (if_size) below handle()'s */
static void build_stack(struct pyw_world *w, int stale, int32_t outer_words)
{
	const struct py_builtin_table *t313 = py_builtin_find(3, 13, 0);
	cr_assert_not_null(t313, "no built-in 3.13 table");
	struct py_offsets lay = t313->off;
	struct pyw_types ty;

	memset(w, 0, sizeof *w);
	w->im.bytes = calloc(1, PYW_IMAGE_SIZE);
	w->im.next = PYW_BASE;
	pyw_new_types(&w->im, &ty);
	uint64_t runtime = pyw_alloc(&w->im, (size_t)lay.rt_interp_head + 64);
	uint64_t interp,
	    tstate = pyw_one_thread(&w->im, &lay, runtime, 0x7f0000002000ull, 4343, &interp);
	uint64_t outer = pyw_code_obj(&w->im, &lay, &ty, "/srv/app.py", "serve", 10);
	pyw_put32(&w->im, outer + (uint64_t)lay.co_framesize, (uint32_t)outer_words);
	uint64_t inner = pyw_code_obj(&w->im, &lay, &ty, "/srv/app.py", "handle", 20);
	uint64_t gone = pyw_code_obj(&w->im, &lay, &ty, "/srv/app.py", "returned", 30);
	/* the chunk: a header (previous, size, top), then the frames */
	uint64_t chunk = pyw_alloc(&w->im, 4096);
	pyw_put64(&w->im, chunk + 8, 4096);
	w->im.next = chunk + 32;
	uint64_t f_outer = frame313(&w->im, &lay, outer, 0);
	uint64_t f_inner = frame313(&w->im, &lay, inner, f_outer);
	uint64_t top = w->im.next;
	/* above the top: a frame that returned, still linking to the live ones */
	uint64_t f_gone = frame313(&w->im, &lay, gone, f_inner);
	w->im.next = chunk + 4096;
	pyw_put64(&w->im, tstate + (uint64_t)lay.ts_datastack_chunk, chunk);
	pyw_put64(&w->im, tstate + (uint64_t)lay.ts_datastack_top, top);
	if (stale == 2) /* a loop: the older frame links to the newer one */
		pyw_put64(&w->im, f_outer + (uint64_t)lay.if_previous, f_inner);
	/* stale 3: no current frame, the frames left in the chunk (the thread runs C only) */
	pyw_put64(&w->im, tstate + (uint64_t)lay.ts_current_frame,
		  stale == 1   ? f_gone
		  : stale == 3 ? 0
			       : f_inner);

	pyw_finish_world(w, 13, runtime, &ty);
	w->t.off = lay;
}

static void walk_one(int stale, int32_t outer_words, struct walk_sample *s)
{
	struct pyw_world w;
	struct tg_err err = {0};

	build_stack(&w, stale, outer_words);
	struct walker *wk = walker_new(&w.r, &w.t);
	cr_assert_eq(walker_sample(wk, s, &err), 0, "%s", err.msg);
	walker_free(wk);
	free(w.im.bytes);
}

/* The live stack (serve() below handle(), serve()'s code giving outer_words) walked whole. */
static void expect_whole_walk(int32_t outer_words)
{
	struct walk_sample s = {0};

	walk_one(0, outer_words, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 2);
	cr_expect(!s.threads[0].truncated);
	walk_sample_free(&s);
}

Test(py314, frame_above_the_data_stack_top_is_a_torn_walk)
{
	struct walk_sample s = {0};

	expect_whole_walk(0);
	walk_one(1, 0, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 0, "a returned frame's chain was recorded (%zu frames)",
		     s.threads[0].depth);
	cr_expect(s.threads[0].truncated);
	walk_sample_free(&s);
	walk_one(2, 0, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect(s.threads[0].truncated, "a frame above the one it called was taken");
	cr_expect_leq(s.threads[0].depth, 2);
	walk_sample_free(&s);
}

/* A frame the thread pushed begins where the frame below it ends: serve()'s frame takes 10
 * words, and handle()'s begins right above it.  A code object that says otherwise is not
 * the one that called the frame above: the walk spliced two moments (a loop ran a call in
 * the frame's place and the same bytes came back between the copies), and is cut there. */
Test(py314, frame_not_where_the_one_below_ends_is_a_torn_walk)
{
	struct walk_sample s = {0};

	cr_assert_eq(py_builtin_find(3, 13, 0)->off.if_size, 80);
	expect_whole_walk(10);
	walk_one(0, 12, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect(s.threads[0].truncated, "a frame that did not call the one above was taken");
	cr_assert_eq(s.threads[0].depth, 1);
	cr_expect_eq(s.threads[0].frames[0].line, 22, "handle()'s frame (unit 1: line 20 + 2)");
	walk_sample_free(&s);
}

/* 3.13+: a thread without a current frame runs C only (an embedding program between two
 * calls into Python), though its data stack holds the frames of the last call: a steady
 * walk of no frame, not a torn one (which failed the layout check of such a program). */
Test(py314, no_current_frame_is_a_thread_running_c_only)
{
	struct walk_sample s = {0};

	walk_one(3, 0, &s);
	cr_assert_eq(s.nthreads, 1);
	cr_expect_eq(s.threads[0].depth, 0);
	cr_expect(!s.threads[0].truncated, "taken for a torn walk");
	cr_expect(s.threads[0].no_frames);
	walk_sample_free(&s);
}

Test(py314, no_table_of_the_same_version_is_refused)
{
	struct pyw_world w;
	struct py_offsets dbg;
	uint64_t version;
	struct tg_err err = {0};

	cr_assert_eq(pyw_build(&w, 0), 0);
	cr_assert_eq(debugoff_parse(w.im.bytes + (w.runtime - PYW_BASE), DEBUGOFF_READ_SIZE, &dbg,
				    &version, &err),
		     0, "%s", err.msg);
	w.t.minor = 16; /* a version without a built-in table: nothing else is borrowed */
	cr_expect_eq(pytarget_use_debug_offsets(&w.t, &dbg, &err), -1);
	cr_expect_eq(err.code, TG_E_LAYOUT);
	cr_expect(strstr(err.msg, "no built-in table") != NULL, "%s", err.msg);
	free(w.im.bytes);
}

/* A walk from a copy of the data stack that a memory reading made (walker_walk_thread_at):
 * the frames the thread had then, though it has returned from one since; a copy that does
 * not hold its top is not used, and the thread is walked as it is now. */
Test(py314, a_walk_from_the_readings_copy_shows_the_stack_then)
{
	struct pyw_world w;
	struct walk_sample s = {0}, one = {0};
	struct tg_err err = {0};

	build_stack(&w, 0, 10);
	const struct py_offsets *o = &w.t.off;
	struct walker *wk = walker_new(&w.r, &w.t);
	cr_assert_eq(walker_sample(wk, &s, &err), 0, "%s", err.msg);
	cr_assert_eq(s.threads[0].depth, 2);
	uint64_t ts = s.threads[0].tstate, chunk, top, inner, outer;
	cr_assert_eq(remote_read(&w.r, ts + (uint64_t)o->ts_datastack_chunk, &chunk, 8), 0);
	cr_assert_eq(remote_read(&w.r, ts + (uint64_t)o->ts_datastack_top, &top, 8), 0);
	cr_assert_eq(remote_read(&w.r, ts + (uint64_t)o->ts_current_frame, &inner, 8), 0);
	cr_assert_eq(remote_read(&w.r, inner + (uint64_t)o->if_previous, &outer, 8), 0);
	struct stackcopy_taken copy = {chunk, top, inner, inner, w.im.bytes + (chunk - PYW_BASE),
				       4096};
	/* handle() returned since: serve() alone now */
	pyw_put64(&w.im, ts + (uint64_t)o->ts_current_frame, outer);
	pyw_put64(&w.im, ts + (uint64_t)o->ts_datastack_top, inner);
	unsigned char then[4096];
	memcpy(then, copy.bytes, sizeof then);
	copy.bytes = then;

	cr_assert_eq(walker_walk_thread_at(wk, &s.threads[0], &copy, &one), 1);
	cr_assert_eq(one.threads[0].depth, 2, "the stack as the reading copied it");
	cr_expect_str_eq(one.threads[0].frames[0].code_info->func, "handle");
	cr_expect(!one.threads[0].truncated);
	cr_assert_eq(walker_walk_thread(wk, &s.threads[0], &one), 0);
	cr_expect_eq(one.threads[0].depth, 1, "the stack now");
	copy.len = (size_t)(top - chunk) - 8; /* does not hold its top */
	cr_assert_eq(walker_walk_thread_at(wk, &s.threads[0], &copy, &one), 0);
	cr_expect_eq(one.threads[0].depth, 1, "walked now instead");
	uint64_t tries, made;
	walker_copy_counts(wk, &tries, &made);
	cr_expect_eq(tries, 2);
	cr_expect_eq(made, 1, "a copy without its top is not walked");
	walk_sample_free(&s);
	walk_sample_free(&one);
	walker_free(wk);
	free(w.im.bytes);
}
