/* sampler/tracker: where a charge goes, to the stack before a sighting or the stack now,
 * and how a stack sample's rest, a thread that let go of the GIL, growth made unseen and a
 * sighting timed early are placed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tracker_util.h"

/* Growth goes to the stack after the sighting, a release to the stack before it (CPython
 * frees a call's locals once its frame has left the chain), and to calls that returned
 * less than half a millisecond before (freeing many objects outlasts the return). */
Test(tracker, growth_to_the_stack_after_release_to_the_stack_before)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};

	trk_init(&fx);
	trk_set_stack(&fx, 0, outer, 2);
	trk_feed(&fx, 1, NULL, 1.0);
	trk_set_stack(&fx, 0, inner, 3);
	trk_reading(&fx, 5000, 1.01); /* allocated in leaf, seen as leaf begins */
	trk_set_stack(&fx, 0, outer, 2);
	trk_reading(&fx, -3000, 1.02);	 /* freed as leaf returned */
	trk_reading(&fx, -2000, 1.0202); /* the rest of its release, at the next reading */
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "", "returns are held back for a release to come:\n%s", mem);
	free(mem);
	trk_reading(&fx, -700, 1.03); /* later: not leaf's any more */
	mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>0\n") != NULL, "leaf nets to zero:\n%s", mem);
	free(mem);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":loop=>-700\n") != NULL, "%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A release seen after a call returned and its caller called another is that other
 * call's: the caller could not call again before the returned call's locals were freed.
 * Charged to both siblings, it counted twice among the caller's callees, and the caller's
 * own share (its delta less theirs) showed it as growth: gunicorn's Flask.wsgi_app got
 * 15 - 40 % of a leak's growth as its own, from crunch's releases also charged to the
 * Response.__call__ after it. */
Test(tracker, a_release_after_a_sibling_was_called_is_the_siblings)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, first[] = {0, 1, 3}, second[] = {0, 1, 4};
	int64_t c[1] = {0};

	trk_init(&fx);
	trk_set_stack(&fx, 0, outer, 2);
	trk_feed(&fx, 1, NULL, 1.0);
	trk_set_stack(&fx, 0, first, 3);
	trk_reading(&fx, 5000, 1.01);	  /* leaf allocates */
	trk_set_stack(&fx, 0, second, 3); /* leaf returned; loop called other since */
	c[0] = 0;
	trk_feed(&fx, 1, c, 1.02);
	trk_reading(&fx, -5000, 1.0202); /* seen a moment after leaf returned, other began */
	trk_set_stack(&fx, 0, outer, 2); /* other returns */
	c[0] = 0;
	trk_feed(&fx, 1, c, 1.1);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>5000\n"), "leaf keeps what it made:\n%s", mem);
	cr_assert(strstr(mem, ":other=>-5000\n"), "other released it:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>0\n"), "loop, inclusively, nets to zero:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* Growth seen after the calls of the last sighting returned is partly theirs.  Between
 * readings: the return fell within the reading's span with probability span / (time since
 * the sighting), and halfway through it on average.  At a stack sample (the exact value's
 * rest, made over the whole interval) the stack before and the stack now get half each.
 * A reading's growth with no span known, or no call returned, goes all to the stack now,
 * and so does what changed after the walk. */
Test(tracker, growth_after_a_return_is_shared_with_the_calls_that_returned)
{
	struct trk_fixture fx;
	const int first[] = {0, 1, 3}, second[] = {0, 1, 4}, deeper[] = {0, 1, 4, 5};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_begin(&fx, first, 3);
	trk_set_stack(&fx, 0, second, 3); /* leaf returned, loop called other */
	/* made over the last 0.5 ms of the 1 ms since leaf was seen: leaf 1000 * 0.5 / 2 */
	/* 200 more changed after the walk (a reading again): the stack's now, not shared */
	cr_assert_eq(trk_feed_one(&fx, 1000, 200, 0, 0.0005, 1.001, &err), 1, "%s", err.msg);
	trk_set_stack(&fx, 0, deeper, 4); /* no call returned: f5 gets all of this */
	cr_assert_eq(trk_feed_one(&fx, 600, 0, 0, 0.0005, 1.002, &err), 1, "%s", err.msg);
	trk_set_stack(&fx, 0, first, 3); /* other returned; a stack sample's rest: half each */
	c[0] = 800;
	trk_feed(&fx, 1, c, 1.1);
	trk_set_stack(&fx, 0, second, 3); /* leaf returned again; no span known: other gets all */
	cr_assert_eq(trk_feed_one(&fx, 300, 0, 0, 0, 1.2, &err), 1, "%s", err.msg);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>250\n"), "the first leaf, a quarter:\n%s", mem);
	cr_assert(strstr(mem, ":f5=>1000\n"),
		  "f5: 600, then half the rest as the stack before:\n%s", mem);
	cr_assert(strstr(mem, ":other=>1950\n"), "other: 750 + 200 + 600 + half of 800:\n%s", mem);
	cr_assert(strstr(mem, ":leaf=>400\n"), "the second leaf, half the rest:\n%s", mem);
	cr_assert(strstr(mem, ":other=>300\n"), "the second other, all:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>2900\n"), "loop holds it all:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A stack sample's rest (the exact value less what the readings charged, made over the
 * whole interval) goes half to the stack of the last sighting and half to the stack now,
 * growth or release alike, whether calls returned or were only made.  Given to the stack
 * before, as a release seen by a reading is (the locals freed as a call returns), the
 * rests' releases went to the last sighting, most often at a change (crunch's), and their
 * growth to the stack now: in a log of the Pool on Debian's 3.11 the rests gave crunch
 * 12 - 19 MB more of releases than of growth (docs/memory.md). */
Test(tracker, a_release_in_a_samples_rest_is_shared_as_growth_is)
{
	struct trk_fixture fx;
	const int first[] = {0, 1, 3}, second[] = {0, 1, 4}, deeper[] = {0, 1, 4, 5};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_begin(&fx, first, 3);
	cr_assert_eq(trk_feed_one(&fx, 1000, 0, 0, 0.0005, 1.001, &err), 1, "%s", err.msg);
	trk_set_stack(&fx, 0, second, 3); /* leaf returned, loop called other: half each */
	c[0] = -800;
	trk_feed(&fx, 1, c, 1.1);
	trk_set_stack(&fx, 0, deeper, 4); /* other called f5, nothing returned: half each too */
	c[0] = -600;
	trk_feed(&fx, 1, c, 1.2);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>600\n"), "leaf: 1000, less half the release:\n%s", mem);
	cr_assert(strstr(mem, ":f5=>-300\n"), "f5: half of 600:\n%s", mem);
	cr_assert(strstr(mem, ":other=>-1000\n"), "other: half of 800, all of 600:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>-400\n"), "loop holds it all:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* The part of a sample's rest that takes back the weights a tree's bursts gave their changes
 * goes to the stack now alone: the last sighting, most often at a change in the burst,
 * would take back the weight of the very change it was seen at.  The rest of it is shared
 * half and half as before. */
Test(tracker, a_samples_part_for_the_stack_now_goes_there_alone)
{
	struct trk_fixture fx;
	const int first[] = {0, 1, 3}, second[] = {0, 1, 4};
	int64_t c[1] = {-1000}, now_part[1] = {-600};

	trk_begin(&fx, first, 3);
	trk_set_stack(&fx, 0, second, 3); /* leaf returned, loop called other */
	trk_feed_now(&fx, 1, c, now_part, 1.1);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>-200\n"), "leaf: half of the 400 shared:\n%s", mem);
	cr_assert(strstr(mem, ":other=>-800\n"), "other: the 600, and half of 400:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>-1000\n"), "loop holds it all:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* A sighting timed before the thread's last one (a caller that read its clock early: the
 * stack sample's time, read before a reading taken just before it) is taken as at the last
 * one, so that the lines still follow one another: written back in time, a call came
 * before the return of the call it replaced, and the files' replay found returns without
 * their calls. */
Test(tracker, a_sighting_timed_before_the_last_is_taken_as_at_it)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};
	struct tg_err err = {0};

	trk_begin(&fx, inner, 3);
	trk_set_stack(&fx, 0, outer, 2); /* leaf returns, seen at 1.1 */
	trk_feed(&fx, 1, NULL, 1.1);
	trk_set_stack(&fx, 0, inner, 3); /* called again, seen by a reading timed 1.05 */
	cr_assert_eq(trk_feed_one(&fx, 1000, 0, 0, 0, 1.05, &err), 1, "%s", err.msg);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *stack = trk_slurp(&fx, "T100.stack"), *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(stack, "  1.100000#/srv/app.py:3:leaf\n"), "the call at 1.1:\n%s", stack);
	cr_assert_eq(trk_count(stack, "1.050000"), 0, "%s", stack);
	cr_assert(strstr(mem, "1.100000#/srv/app.py:3:leaf=>0\n"), "%s", mem);
	free(stack);
	free(mem);
	trk_done(&fx);
}

/* Growth charged to a thread that has let go of the GIL since (it waits in a lock or a
 * system call now) was made before: it goes to the stack as it was, and to the calls that
 * returned meanwhile, not to the wait.  Without growth_before it goes to the wait. */
Test(tracker, growth_of_a_thread_that_let_go_goes_to_the_stack_before)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_init(&fx);
	for (int before = 1; before >= 0; before--) {
		trk_set_stack(&fx, 0, inner, 3);
		trk_feed(&fx, 1, c, before ? 1.0 : 2.0);
		trk_set_stack(&fx, 0, outer, 2); /* leaf returned; the thread waits in loop now */
		cr_assert_eq(trk_feed_one(&fx, 5000, 0, before, 0, before ? 1.01 : 2.01, &err), 1,
			     "%s", err.msg);
		trk_feed(&fx, 1, c, before ? 1.1 : 2.1); /* later: the return is written */
	}
	tracker_end_all(fx.tk, 3.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, ":leaf=>5000\n"), 1, "the first leaf made it:\n%s", mem);
	cr_assert_eq(trk_count(mem, ":leaf=>0\n"), 1, "the second is not charged:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>10000\n"), "loop holds both, inclusively:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* The same growth, when the thread was last seen more than 1 ms ago in a call that has
 * returned since, and others were called: that call was blocked (a worker waiting for a
 * task) and the growth goes to the calls now (the task, asleep in it).  Seen 0.5 ms ago,
 * it goes to the stack before, as above. */
Test(tracker, growth_after_a_stale_sighting_in_a_call_since_returned_goes_to_the_new_calls)
{
	struct trk_fixture fx;
	const int waiting[] = {0, 1, 4}, working[] = {0, 1, 2, 3};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_init(&fx);
	trk_set_stack(&fx, 0, waiting, 3);
	trk_feed(&fx, 1, c, 1.0);
	trk_set_stack(&fx, 0, working, 4); /* the wait returned 50 ms later, a task runs */
	cr_assert_eq(trk_feed_one(&fx, 5000, 0, LET_GO, 0, 1.05, &err), 1, "%s", err.msg);
	trk_set_stack(&fx, 0, waiting, 3);
	trk_feed(&fx, 1, c, 1.1);
	trk_set_stack(&fx, 0, working, 4); /* 0.5 ms after the sighting in the wait */
	cr_assert_eq(trk_feed_one(&fx, 3000, 0, LET_GO, 0, 1.1005, &err), 1, "%s", err.msg);
	trk_set_stack(&fx, 0, waiting, 3);
	trk_feed(&fx, 1, c, 1.2);
	tracker_end_all(fx.tk, 3.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, "1.100000#/srv/app.py:3:leaf=>5000\n"), "the task made it:\n%s", mem);
	cr_assert(strstr(mem, "1.050000#/srv/app.py:3:other=>0\n"), "not the wait:\n%s", mem);
	cr_assert(strstr(mem, "1.100500#/srv/app.py:3:other=>3000\n"),
		  "seen 0.5 ms before: the wait's, as before:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* Growth of a thread that ran unseen between two readings, and is back at the stack of its
 * last sighting (a worker asleep in the same wait before and after a task), goes to a call
 * of tgattach's own under that stack: every frame is charged it, none as its own.  Not
 * when the stack changed, the thread was seen during the span, or the change is a
 * release. */
Test(tracker, growth_made_unseen_goes_to_a_call_of_its_own_under_the_stack)
{
	struct trk_fixture fx;
	const int handle[] = {0, 1, 2}, outer[] = {0, 1};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_init(&fx);
	trk_set_stack(&fx, 0, handle, 3);
	trk_feed(&fx, 1, c, 1.0);
	cr_assert_eq(trk_feed_one(&fx, 5000, 0, LET_GO_UNSEEN, 0.001, 1.002, &err), 1, "%s",
		     err.msg);
	/* seen 0.5 ms ago, within the span of 1 ms: the stack before, as LET_GO */
	cr_assert_eq(trk_feed_one(&fx, 700, 0, LET_GO_UNSEEN, 0.001, 1.0025, &err), 1, "%s",
		     err.msg);
	cr_assert_eq(trk_feed_one(&fx, -300, 0, LET_GO_UNSEEN, 0.001, 1.005, &err), 1, "%s",
		     err.msg);
	trk_feed(&fx, 1, c, 1.1);
	trk_set_stack(&fx, 0, outer, 2); /* handle returned: a changed stack */
	cr_assert_eq(trk_feed_one(&fx, 900, 0, LET_GO_UNSEEN, 0.001, 1.2, &err), 1, "%s", err.msg);
	trk_feed(&fx, 1, c, 1.3);
	struct tracker_counts tc = {0};
	tracker_counts_add(fx.tk, &tc);
	int64_t bytes = tc.unseen_bytes;
	uint64_t n = tc.unseen_charges;
	cr_assert_eq(bytes, 5000, "run unseen: %lld", (long long)bytes);
	cr_assert_eq(n, 1);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem"), *stack = trk_slurp(&fx, "T100.stack");
	cr_assert(strstr(mem, "1.002000#<tgattach>:0:[ran unseen]=>5000\n"), "%s", mem);
	cr_assert(strstr(stack, "   1.001995#<tgattach>:0:[ran unseen]\n"),
		  "called under handle, just before:\n%s", stack);
	cr_assert_eq(trk_count(mem, "[ran unseen]"), 1, "once:\n%s", mem);
	cr_assert(strstr(mem, ":handle=>6300\n"), "handle holds it, with 700 - 300 + 900:\n%s",
		  mem);
	cr_assert(strstr(mem, ":loop=>6300\n"), "%s", mem);
	free(mem);
	free(stack);
	trk_done(&fx);
}

/* Growth of a thread that let go of the GIL but runs (a hash, a compression without the
 * GIL) was made by the calls it made since its last sighting, when none of that sighting's
 * returned: it goes to the stack now.  Asleep, or with a call of the sighting returned
 * since, it goes to the stack before (a sighting 0.5 ms old: past 1 ms, see the stale
 * sighting's test above). */
Test(tracker, growth_of_a_thread_running_without_the_gil_goes_to_its_new_calls)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, handle[] = {0, 1, 2}, leaf[] = {0, 1, 3};
	const struct {
		const int *last;
		size_t nlast;
		int before;
	} rounds[] = {{outer, 2, LET_GO_RUNS}, {outer, 2, LET_GO}, {handle, 3, LET_GO_RUNS}};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_init(&fx);
	for (int r = 0; r < 3; r++) {
		double t = 1.0 + r;
		trk_set_stack(&fx, 0, rounds[r].last, rounds[r].nlast);
		trk_feed(&fx, 1, c, t);
		trk_set_stack(&fx, 0, leaf, 3);
		cr_assert_eq(tracker_only_calls(fx.tk, &fx.th[0]), rounds[r].last == outer,
			     "round %d: only calls made since", r);
		cr_assert_eq(trk_feed_one(&fx, 5000, 0, rounds[r].before, 0, t + 0.0005, &err), 1,
			     "%s", err.msg);
		trk_set_stack(&fx, 0, outer, 2);
		trk_feed(&fx, 1, c, t + 0.1);
	}
	tracker_end_all(fx.tk, 4.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem");
	cr_assert_eq(trk_count(mem, ":leaf=>5000\n"), 1, "the running leaf made it:\n%s", mem);
	cr_assert_eq(trk_count(mem, ":leaf=>0\n"), 2, "not when asleep or after a return:\n%s",
		     mem);
	cr_assert_eq(trk_count(mem, ":handle=>5000\n"), 1, "the returned call's:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>15000\n"), "loop holds all three:\n%s", mem);
	free(mem);
	trk_done(&fx);
}

/* Growth seen in new calls, over a span that began in a call that has returned since and
 * left its place to a frame now (never seen: a Pool task's build_payload() before its
 * crunch()), called by the innermost frame of the last sighting, goes half to a call of
 * tgattach's own under that frame, half to the new calls.  Where the thread was: its
 * innermost frame and the top of its data stack (3.11+).  Frames here take 0x100 bytes,
 * end to start: root at 0x100000, loop 0x100100, leaf 0x100200. */
Test(tracker, growth_over_a_span_begun_in_a_call_returned_since_is_half_run_unseen)
{
	struct trk_fixture fx;
	const int outer[] = {0, 1}, leaf[] = {0, 1, 3};
	const struct {
		uint64_t pos, frame;
	} rounds[] = {
	    {0x100280, 0x100200}, /* a smaller call in leaf's place, called by loop: half */
	    {0x100380, 0x100200}, /* a larger one: half */
	    {0x100300, 0x100200}, /* leaf itself */
	    {0x100200, 0x100100}, /* loop itself: it made the call since */
	    {0x100380, 0x100300}, /* a call of leaf's: leaf's own growth */
	    {0x100180, 0x100100}, /* a call in loop's place, called by root: not the sighting's */
	    {0x100280, 0},	  /* unknown */
	};
	const size_t n = sizeof rounds / sizeof rounds[0];
	struct tg_err err = {0};
	int64_t c[1] = {0};

	trk_init(&fx);
	for (int k = 0; k < TRK_MAXF; k++)
		fx.codes[k].framesize = 0x20;
	for (size_t r = 0; r < n; r++) {
		double t = 1.0 + (double)r;
		trk_set_stack(&fx, 0, outer, 2);
		trk_feed(&fx, 1, c, t);
		trk_set_stack(&fx, 0, leaf, 3);
		for (size_t k = 0; k < 3; k++)
			fx.th[0].frames[k].chunk = 1;
		cr_assert_eq(
		    trk_feed_pos(&fx, 6000, rounds[r].pos, rounds[r].frame, t + 0.005, &err), 1,
		    "%s", err.msg);
		trk_set_stack(&fx, 0, outer, 2);
		trk_feed(&fx, 1, c, t + 0.1);
	}
	tracker_end_all(fx.tk, 9.0, NULL, NULL);
	char *mem = trk_slurp(&fx, "T100.mem"), *stack = trk_slurp(&fx, "T100.stack");
	cr_assert_eq(trk_count(mem, ":leaf=>3000\n"), 2, "the first two rounds:\n%s", mem);
	cr_assert_eq(trk_count(mem, ":leaf=>6000\n"), 5, "%s", mem);
	cr_assert_eq(trk_count(mem, "[ran unseen]=>3000\n"), 2, "%s", mem);
	cr_assert(strstr(stack, "\n  1.004995#<tgattach>:0:[ran unseen]\n"),
		  "under loop, before leaf's call:\n%s", stack);
	cr_assert(strstr(mem, ":loop=>42000\n"), "loop holds all of it:\n%s", mem);
	free(mem);
	free(stack);
	trk_done(&fx);
}

/* A thread's first sighting has no stack before it: a release, or growth of a thread that
 * let go of the GIL since, seen then goes to its stack now, so that its calls hold all that
 * its total (process.charge) says.  Charged to the stack before, it went to no call. */
Test(tracker, a_first_sighting_charges_the_stack_now)
{
	const int inner[] = {0, 1, 3};

	for (int sign = -1; sign <= 1; sign += 2) {
		struct trk_fixture fx;
		struct tg_err err = {0};
		char want[64];

		trk_init(&fx);
		trk_set_stack(&fx, 0, inner, 3); /* never sampled before */
		cr_assert_eq(trk_feed_one(&fx, sign * 131072, 0, LET_GO, 0, 1.01, &err), 1, "%s",
			     err.msg);
		tracker_end_all(fx.tk, 2.0, NULL, NULL);
		char *mem = trk_slurp(&fx, "T100.mem");
		snprintf(want, sizeof want, ":root=>%d\n", sign * 131072);
		cr_assert(strstr(mem, want), "the outermost call holds it:\n%s", mem);
		snprintf(want, sizeof want, ":leaf=>%d\n", sign * 131072);
		cr_assert(strstr(mem, want), "the innermost made it:\n%s", mem);
		free(mem);
		trk_done(&fx);
	}
}
