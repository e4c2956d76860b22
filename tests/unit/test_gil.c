/* sampler/gil.c, the word that tells a thread state running C only (gil_in_c): read with
 * the GIL's words, of the last holder at the reading before, apart from them.  The GIL and
 * the thread state live in this test's own memory, read through the remote reader. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sampler/gil.h"

/* A 3.7+ layout: _PyRuntime's GIL words, and the state's frame word. */
#define LOCKED 0
#define HOLDER 8
#define SWITCH 16
#define FRAME 24 /* in the state: current_frame (3.13+) or cframe (3.11, 3.12) */

struct world {
	uint64_t runtime[8];
	uint64_t tstate[64]; /* its root C frame inside, at ROOT */
	struct py_target t;
	struct remote r;
	struct gil_reader *g;
};
#define ROOT 40

enum style { OLD_FRAMES, CFRAME, CURRENT_FRAME };

static void world_init(struct world *w, enum style style)
{
	memset(w, 0, sizeof *w);
	py_offsets_clear(&w->t.off);
	w->t.off.rt_gil_locked = LOCKED;
	w->t.off.rt_gil_holder = HOLDER;
	w->t.off.rt_gil_switch = SWITCH;
	if (style == CURRENT_FRAME) {
		w->t.off.ts_current_frame = FRAME;
	} else if (style == CFRAME) {
		w->t.off.ts_cframe = FRAME;
		w->t.off.cf_current_frame = 8;
	} else {
		w->t.off.ts_frame = FRAME;
		w->t.off.ts_cframe = FRAME + 8; /* 3.10 has one, whose C frame has no frame */
	}
	w->t.sym.runtime = (uint64_t)(uintptr_t)w->runtime;
	w->runtime[LOCKED / 8] = 1;
	w->runtime[HOLDER / 8] = (uint64_t)(uintptr_t)w->tstate;
	w->runtime[SWITCH / 8] = 7;
	remote_init_process(&w->r, getpid());
	w->g = gil_new(&w->r, &w->t);
	cr_assert_not_null(w->g);
}

static void world_fini(struct world *w)
{
	gil_free(w->g);
	remote_close(&w->r);
}

static uint64_t read_once(struct world *w)
{
	uint64_t holders[GIL_MAX], sw = 0;

	cr_assert_eq(gil_holders(w->g, holders, GIL_MAX, &sw), 1);
	cr_assert(gil_holders_read(w->g));
	cr_assert_eq(sw, 7);
	return gil_in_c(w->g);
}

/* The state's frame word set to word, then read: gil_in_c says want (the state, or 0). */
static void expect_in_c(struct world *w, uint64_t word, uint64_t want, const char *what)
{
	w->tstate[FRAME / 8] = word;
	cr_assert_eq(read_once(w), want, "%s", what);
}

Test(gil, a_state_without_a_current_frame_runs_c_only)
{
	struct world w;

	world_init(&w, CURRENT_FRAME);
	uint64_t ts = (uint64_t)(uintptr_t)w.tstate;
	expect_in_c(&w, 0, 0, "the first reading knows no holder before");
	expect_in_c(&w, 0, ts, "no current frame");
	expect_in_c(&w, 0x1234000, 0, "a current frame: Python runs");
	expect_in_c(&w, ts + ROOT, ts, "3.15: its base frame, inside the state");
	world_fini(&w);
}

Test(gil, a_c_frame_that_is_the_states_own_root_runs_c_only)
{
	struct world w;

	world_init(&w, CFRAME);
	uint64_t ts = (uint64_t)(uintptr_t)w.tstate;
	read_once(&w);
	expect_in_c(&w, ts + ROOT, ts, "its root C frame");
	expect_in_c(&w, 0x7ffd00001000, 0, "a C frame on the C stack: Python runs");
	expect_in_c(&w, ts + 4096, 0, "past the state");
	world_fini(&w);
}

Test(gil, a_freed_state_spoils_neither_the_word_nor_the_gil)
{
	struct world w;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *m =
	    mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(m, MAP_FAILED);
	world_init(&w, CURRENT_FRAME);
	w.runtime[HOLDER / 8] = (uint64_t)(uintptr_t)m; /* its word reads 0: C only */
	read_once(&w);
	cr_assert_eq(read_once(&w), (uint64_t)(uintptr_t)m);
	munmap(m, (size_t)pg); /* the state's page gone, as a freed state's can be */
	cr_assert_eq(read_once(&w), 0, "an unreadable word says nothing");
	cr_assert_eq(read_once(&w), 0);
	world_fini(&w);
}

Test(gil, up_to_3_10_a_state_without_a_frame_object_runs_c_only)
{
	struct world w;

	world_init(&w, OLD_FRAMES);
	uint64_t ts = (uint64_t)(uintptr_t)w.tstate;
	w.tstate[FRAME / 8 + 1] = ts + ROOT; /* its cframe is not asked */
	read_once(&w);
	expect_in_c(&w, 0, ts, "no frame object");
	expect_in_c(&w, 0x1234000, 0, "a frame object: Python runs");
	world_fini(&w);
}

/* 2.7 has no GIL words: its current state, NULL while nobody holds the GIL.  The last
 * state seen holding it is the one whose word is read. */
Test(gil, a_holder_word_cleared_on_release_keeps_the_last_holder)
{
	struct world w;
	uint64_t holders[GIL_MAX], cur, ts;

	memset(&w, 0, sizeof w);
	py_offsets_clear(&w.t.off);
	w.t.off.ts_frame = FRAME;
	ts = (uint64_t)(uintptr_t)w.tstate;
	cur = ts;
	w.t.sym.tstate_current = (uint64_t)(uintptr_t)&cur;
	remote_init_process(&w.r, getpid());
	w.g = gil_new(&w.r, &w.t);
	cr_assert_eq(gil_holders(w.g, holders, GIL_MAX, NULL), 1);
	cur = 0; /* released, running C */
	cr_assert_eq(gil_holders(w.g, holders, GIL_MAX, NULL), 0);
	cr_assert(gil_holders_read(w.g));
	cr_assert_eq(gil_in_c(w.g), ts);
	cr_assert_eq(gil_holders(w.g, holders, GIL_MAX, NULL), 0);
	cr_assert_eq(gil_in_c(w.g), ts, "still the last holder seen");
	w.tstate[FRAME / 8] = 0x1234000;
	gil_holders(w.g, holders, GIL_MAX, NULL);
	cr_assert_eq(gil_in_c(w.g), 0);
	world_fini(&w);
}

/* Where the last holder was in its code (gil_position), read with its frame word: the top
 * of its data stack and its current frame (3.11+); unknown while it runs C only, and up to
 * 3.10.  On 3.11 and 3.12 the frame word is a C frame, whose current frame is read where
 * the reading before found it, and taken only when this one finds it there still. */
Test(gil, the_position_is_the_data_stack_top_and_the_current_frame)
{
	struct world w;
	uint64_t of = 1, frame = 1, cframe[2] = {0, 0x5550000}, other[2] = {0, 0x6660000};

	world_init(&w, CURRENT_FRAME);
	w.t.off.ts_datastack_top = FRAME + 16;
	uint64_t ts = (uint64_t)(uintptr_t)w.tstate;
	w.tstate[(FRAME + 16) / 8] = 0x1234100;
	expect_in_c(&w, 0x1234000, 0, "the first reading knows no holder before");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0);
	cr_assert_eq(of, 0);
	expect_in_c(&w, 0x1234000, 0, "Python runs");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0x1234100, "its data stack's top");
	cr_assert_eq(frame, 0x1234000, "3.13+: the frame word is the current frame");
	cr_assert_eq(of, ts);
	expect_in_c(&w, 0, ts, "C only");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0, "in none of its frames");
	world_fini(&w);

	world_init(&w, CFRAME);
	w.t.off.ts_datastack_top = FRAME + 16;
	w.tstate[(FRAME + 16) / 8] = 0x5550100;
	read_once(&w);
	expect_in_c(&w, (uint64_t)(uintptr_t)cframe, 0, "a C frame");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0, "its current frame not read yet");
	expect_in_c(&w, (uint64_t)(uintptr_t)cframe, 0, "the same C frame");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0x5550100);
	cr_assert_eq(frame, 0x5550000);
	expect_in_c(&w, (uint64_t)(uintptr_t)other, 0, "another C frame");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0, "read at the one before: not taken");
	world_fini(&w);

	world_init(&w, OLD_FRAMES);
	read_once(&w);
	expect_in_c(&w, 0x1234000, 0, "a frame object");
	cr_assert_eq(gil_position(w.g, &of, &frame), 0, "no data stack");
	world_fini(&w);
}

/* One reading as memtrack makes it: the GIL's words and the holder's, with its data stack
 * copied (gil_prepare's stacks). */
static void read_with_stack(struct world *w)
{
	struct gil_batch b;
	struct remote_iov iov[GIL_IOV_MAX];
	uint64_t holders[GIL_MAX], sw;

	size_t n = gil_prepare(w->g, &b, iov, 1, 1);
	remote_readv(&w->r, iov, n);
	cr_assert_eq(gil_parse(w->g, &b, iov, n, holders, GIL_MAX, &sw), 1);
}

#define CHUNK (FRAME + 8) /* datastack_chunk, then datastack_top */
#define TOP (FRAME + 16)

static unsigned char *pages(size_t n)
{
	unsigned char *m = mmap(NULL, n * (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(m, MAP_FAILED);
	return m;
}

/* A world whose holder's data stack chunk is at m, its top top_off bytes in; its state. */
static uint64_t stack_world(struct world *w, enum style style, const unsigned char *m,
			    uint64_t top_off)
{
	uint64_t chunk = (uint64_t)(uintptr_t)m;

	world_init(w, style);
	w->t.off.ts_datastack_chunk = CHUNK;
	w->t.off.ts_datastack_top = TOP;
	w->tstate[CHUNK / 8] = chunk;
	w->tstate[TOP / 8] = chunk + top_off;
	return (uint64_t)(uintptr_t)w->tstate;
}

/* The data stack of the holder at the reading before, copied in the reading's own call
 * (3.11+), from the chunk that reading found to a page past its top's page: the frames the
 * thread had when the memory was read.  Not when the thread is in another chunk now, has
 * gone deeper than copied, or when the copy cannot be read; the position stays known. */
Test(gil, the_holders_data_stack_is_copied_with_the_reading)
{
	struct world w;
	struct stackcopy_taken t;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = pages(5);

	munmap(m + 4 * pg, pg); /* nothing mapped past the fourth page */
	for (size_t i = 0; i < 4 * pg; i++)
		m[i] = (unsigned char)(i * 7);
	uint64_t chunk = (uint64_t)(uintptr_t)m, ts = stack_world(&w, CURRENT_FRAME, m, 0x300);
	w.tstate[FRAME / 8] = chunk + 0x200;
	read_with_stack(&w);
	read_with_stack(&w);
	cr_assert_eq(gil_stack(w.g, ts, &t), -1, "no chunk known before this reading");
	read_with_stack(&w);
	cr_assert_eq(gil_stack(w.g, ts, &t), 0);
	cr_expect_eq(t.chunk, chunk);
	cr_expect_eq(t.top, chunk + 0x300);
	cr_expect_eq(t.head, chunk + 0x200, "3.13+: the frame word is the current frame");
	cr_expect_eq(t.len, 2 * pg, "to a page past the top's page");
	cr_expect_eq(memcmp(t.bytes, m, t.len), 0);
	cr_expect_eq(gil_stack(w.g, ts + 8, &t), -1, "another state's");

	w.tstate[TOP / 8] = chunk + 3 * pg;
	read_with_stack(&w);
	cr_expect_eq(gil_stack(w.g, ts, &t), -1, "deeper than copied");
	cr_expect_eq(gil_position(w.g, &ts, &chunk), (uint64_t)(uintptr_t)m + 3 * pg);
	ts = (uint64_t)(uintptr_t)w.tstate;
	chunk = (uint64_t)(uintptr_t)m;
	read_with_stack(&w); /* copies past the fourth page: unreadable */
	cr_expect_eq(gil_stack(w.g, ts, &t), -1, "a copy that failed");
	cr_expect_eq(gil_position(w.g, &ts, &chunk), (uint64_t)(uintptr_t)m + 3 * pg,
		     "the position is read all the same");
	ts = (uint64_t)(uintptr_t)w.tstate;

	w.tstate[CHUNK / 8] = chunk + pg; /* a new chunk pushed */
	w.tstate[TOP / 8] = chunk + pg + 0x100;
	w.tstate[FRAME / 8] = chunk + pg + 0x40;
	read_with_stack(&w);
	cr_expect_eq(gil_stack(w.g, ts, &t), -1, "the chunk copied is the one before");
	read_with_stack(&w);
	cr_assert_eq(gil_stack(w.g, ts, &t), 0, "the new chunk copied");
	cr_expect_eq(t.chunk, chunk + pg);
	cr_expect_eq(memcmp(t.bytes, m + pg, t.len), 0);
	world_fini(&w);
	munmap(m, 4 * pg);
}

/* 3.11 and 3.12: the frame word is a C frame; the copy's head is its current frame, read
 * where the reading before found the C frame. */
Test(gil, the_copys_head_is_the_c_frames_current_frame)
{
	struct world w;
	struct stackcopy_taken t;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *m = pages(3);
	uint64_t chunk = (uint64_t)(uintptr_t)m, cframe[2] = {0, chunk + 0x80};
	uint64_t ts = stack_world(&w, CFRAME, m, 0x100);

	w.tstate[FRAME / 8] = (uint64_t)(uintptr_t)cframe;
	for (int i = 0; i < 3; i++)
		read_with_stack(&w);
	cr_assert_eq(gil_stack(w.g, ts, &t), 0);
	cr_expect_eq(t.head, chunk + 0x80);
	cr_expect_eq(t.word, (uint64_t)(uintptr_t)cframe);
	cframe[1] = chunk + 0x200; /* above the top: a frame that returned */
	read_with_stack(&w);
	cr_expect_eq(gil_stack(w.g, ts, &t), -1, "a head above the top");
	world_fini(&w);
	munmap(m, 3 * pg);
}
