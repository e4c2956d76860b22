/* sampler/tracker: calls and returns from successive walks, with the rules that keep them
 * true on real servers: a thread's identity, walks that cannot be trusted, and the calls
 * still running at the end (where a charge goes: test_tracker_charge.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/tracker_util.h"

/* 3.11+ makes a new thread's state in its creator's thread, with the creator's ident and
 * TID: it must not be taken for the creator (whose calls would all "return"). */
Test(tracker, a_state_with_anothers_identity_is_not_a_thread_yet)
{
	struct trk_fixture fx;
	const int main_stack[] = {0, 1, 2};

	trk_init(&fx);
	trk_set_stack(&fx, 0, main_stack, 3);
	trk_feed(&fx, 1, NULL, 1.0);
	fx.th[1] = fx.th[0]; /* same ident, TID, interpreter; another state, no frames */
	fx.th[1].tstate = 0x8800;
	fx.th[1].frames = fx.frames[1];
	fx.th[1].depth = 0;
	trk_feed(&fx, 2, NULL, 1.01);
	trk_feed(&fx, 2, NULL, 1.02);
	cr_assert_eq(tracker_threads(fx.tk), 1);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, "root"), 0, "the creator's calls returned:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A kernel TID seen under a new identity (its ident settled, its state bound) is the same
 * thread: it goes on in its own files, with one writer (two trackers of one writer were a
 * double free; a second writer, a second file NAME@TID). */
Test(tracker, a_new_identity_on_a_tid_is_the_same_thread)
{
	struct trk_fixture fx;
	const int a[] = {0, 2}, b[] = {0, 3};

	trk_init(&fx);
	trk_set_stack(&fx, 0, a, 2);
	trk_feed(&fx, 1, NULL, 1.0);
	fx.th[0].tstate = 0x7100; /* another state, same TID, another ident */
	fx.th[0].thread_id = 0x9100;
	trk_set_stack(&fx, 0, b, 2);
	trk_feed(&fx, 1, NULL, 1.01);
	cr_assert_eq(tracker_threads(fx.tk), 1);
	trk_feed(&fx, 0, NULL, 1.02);
	trk_feed(&fx, 0, NULL, 1.03);
	trk_feed(&fx, 0, NULL, 1.04);
	trk_feed(&fx, 0, NULL, 1.05);
	cr_assert_eq(tracker_threads(fx.tk), 0);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, "handle=>"), 1, "%s", mem);
	cr_assert_eq(trk_count(mem, "root=>"), 1, "the thread went on: its root returned once\n%s",
		     mem);
	free(mem);
	char path[128];
	snprintf(path, sizeof path, "%s/%d/T100@100.stack", fx.dir, TRK_PID);
	cr_assert_neq(access(path, F_OK), 0, "a second file for the same thread");
	trk_done(&fx);
}

/* Thread 0 walked torn at each time of torn_at, then whole again at back_at: no return
 * written, the suspect and held walks counted as want_suspect, want_held. */
static void torn_then_back(struct trk_fixture *fx, const double *torn_at, size_t ntorn,
			   double back_at, uint64_t want_suspect, uint64_t want_held)
{
	const int full[] = {0, 1, 2}, torn[] = {4};
	uint64_t suspect, held;

	trk_set_stack(fx, 0, torn, 1);
	for (size_t i = 0; i < ntorn; i++)
		trk_feed(fx, 1, NULL, torn_at[i]);
	trk_set_stack(fx, 0, full, 3);
	trk_feed(fx, 1, NULL, back_at);
	char *mem = trk_slurp(fx, "T100.mem");
	cr_assert_str_eq(mem, "", "a torn walk ended calls:\n%s", mem);
	free(mem);
	struct tracker_counts tc = {0};
	tracker_counts_add(fx->tk, &tc);
	suspect = tc.suspect_returns;
	held = tc.held_walks;
	cr_assert(suspect == want_suspect && held == want_held, "suspect %llu held %llu",
		  (unsigned long long)suspect, (unsigned long long)held);
}

/* A walk that replaces a thread's old outermost frame is held until walks agree for a tenth
 * of a second; one that comes back meanwhile leaves no trace. */
Test(tracker, an_outermost_frame_ends_only_when_walks_agree)
{
	struct trk_fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {4};
	size_t closed = 0;

	trk_init(&fx);
	trk_set_stack(&fx, 0, full, 3);
	for (int i = 0; i < 5; i++)
		trk_feed(&fx, 1, NULL, 1.0 + 0.01 * i);
	torn_then_back(&fx, (const double[]){1.05, 1.06}, 2, 1.07, 1, 2);
	/* a real end: every walk agrees for long enough */
	trk_set_stack(&fx, 0, torn, 1);
	for (int i = 0; i <= 12; i++)
		trk_feed(&fx, 1, NULL, 1.1 + 0.01 * i);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, ":root=>"), 1, "%s", mem);
	free(mem);
	/* the end of the recording closes what still runs */
	cr_assert_eq(tracker_end_all(fx.tk, 3.0, &closed, NULL), 0);
	cr_assert_eq(closed, 1);
	mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, "3.000000#/srv/app.py:3:other=>0\n") != NULL, "%s", mem);
	free(mem);
	trk_done(&fx);
}

/* The stack a thread has when the recording begins is old however few walks saw it: the
 * second sample may come late (the loop's first pool walk and burst), and a torn walk then
 * must not end the thread's outermost call (a gunicorn worker's `<module>`).  A thread
 * that begins later has young frames: its outermost call may end at once. */
Test(tracker, the_stack_at_the_start_is_old)
{
	struct trk_fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {4}, next[] = {5};

	trk_init(&fx);
	trk_set_stack(&fx, 0, full, 3);
	trk_feed(&fx, 1, NULL, 1.0);
	torn_then_back(&fx, (const double[]){1.077}, 1, 1.097, 1, 1);
	/* a thread seen first in a later sample */
	trk_set_stack(&fx, 1, torn, 1);
	trk_feed(&fx, 2, NULL, 1.2);
	trk_set_stack(&fx, 1, next, 1);
	trk_feed(&fx, 2, NULL, 1.21);
	trk_feed(&fx, 2, NULL, 1.22); /* returns are written a moment after they are seen */
	char *mem = trk_slurp(&fx, "T101.mem");
	cr_assert(strstr(mem, "1.210000#/srv/app.py:3:other=>0\n") != NULL, "%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A walk with no frame at all in a thread that had some is not an end of everything (3.11
 * and 3.12 link a new C frame before they set its current frame), unless it read the
 * thread running C only (an embedding server between two requests): then its calls end,
 * and the next request's call at the same place is another call. */
Test(tracker, an_empty_walk_ends_the_calls_only_of_a_thread_running_c)
{
	struct trk_fixture fx;
	const int full[] = {0, 1};

	trk_init(&fx);
	trk_set_stack(&fx, 0, full, 2);
	trk_feed(&fx, 1, NULL, 1.0);
	fx.th[0].depth = 0;
	trk_feed(&fx, 1, NULL, 1.5);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "");
	free(mem);
	fx.th[0].no_frames = 1;
	trk_feed(&fx, 1, NULL, 1.6);
	fx.th[0].no_frames = 0;
	trk_set_stack(&fx, 0, full, 2);
	trk_feed(&fx, 1, NULL, 1.8);
	fx.th[0].depth = 0;
	fx.th[0].no_frames = 1;
	trk_feed(&fx, 1, NULL, 2.0);
	trk_feed(&fx, 1, NULL, 2.2); /* returns are written a moment after they are seen */
	mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, "root=>"), 2, "two calls, each ended:\n%s", mem);
	cr_assert_eq(trk_count(mem, "loop=>"), 2, "%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A new frame called from C (an entry frame links it to its caller a moment after it runs)
 * seen straight above an older frame: the calls in between are held, not ended; a new frame
 * called from Python in the same place ends them at once. */
Test(tracker, a_frame_called_from_c_does_not_end_its_callers_at_once)
{
	struct trk_fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {0, 4}, moved[] = {0, 3};

	trk_init(&fx);
	trk_set_stack(&fx, 0, full, 3);
	for (int i = 0; i < 5; i++)
		trk_feed(&fx, 1, NULL, 1.0 + 0.01 * i);
	trk_set_stack(&fx, 0, torn, 2);
	fx.th[0].frames[0].addr = 0x900000; /* a new frame, called from C */
	fx.th[0].frames[0].from_c = 1;
	trk_feed(&fx, 1, NULL, 1.05);
	trk_set_stack(&fx, 0, full, 3);
	trk_feed(&fx, 1, NULL, 1.06);
	trk_feed(&fx, 1, NULL, 1.07);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "", "a torn walk ended calls:\n%s", mem);
	free(mem);
	trk_set_stack(&fx, 0, moved, 2);
	fx.th[0].frames[0].from_c = 0;
	trk_feed(&fx, 1, NULL, 1.08);
	trk_feed(&fx, 1, NULL, 1.09);
	mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":handle=>") && strstr(mem, ":loop=>"), "%s", mem);
	free(mem);
	trk_done(&fx);
}
