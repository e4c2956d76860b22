/* sampler/tracker: calls and returns from successive walks, with the rules that keep them
 * true on real servers: a thread's identity, where a charge goes, walks that cannot be
 * trusted, and the calls still running at the end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "sampler/codecache.h"
#include "sampler/output.h"
#include "sampler/tracker.h"

#define PID 4242
#define MAXF 8

struct fixture {
	char dir[64];
	struct output *out;
	struct tracker *tk;
	struct code_info codes[MAXF];
	struct walk_frame frames[4][MAXF];
	struct walk_thread th[4];
	struct walk_sample s;
};

static void fx_init(struct fixture *fx)
{
	struct tg_err err = {0};
	static const char *names[MAXF] = {"root",  "loop", "handle", "leaf",
					  "other", "f5",   "f6",     "f7"};

	memset(fx, 0, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/tg-tracker-test-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir), "mkdtemp: %s", strerror(errno));
	fx->out = output_open(fx->dir, PID, 0, &err);
	cr_assert_not_null(fx->out, "%s", err.msg);
	fx->tk = tracker_new(fx->out, NULL);
	for (int i = 0; i < MAXF; i++) {
		fx->codes[i].addr = 0x1000 + (uint64_t)i * 0x100;
		fx->codes[i].file = (char *)"/srv/app.py";
		fx->codes[i].func = (char *)names[i];
	}
	for (int t = 0; t < 4; t++) {
		fx->th[t].frames = fx->frames[t];
		fx->th[t].frames_cap = MAXF;
		fx->th[t].tstate = 0x7000 + (uint64_t)t * 0x1000;
		fx->th[t].interp = 0x5000;
		fx->th[t].thread_id = 0x9000 + (uint64_t)t;
		fx->th[t].native_id = 100 + t;
	}
	fx->s.threads = fx->th;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_done(struct fixture *fx)
{
	tracker_free(fx->tk);
	output_close(fx->out, NULL);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Thread t's stack, outermost first: code indices, each frame at its own address. */
static void set_stack(struct fixture *fx, int t, const int *codes, size_t n)
{
	struct walk_thread *th = &fx->th[t];

	th->depth = n;
	th->truncated = 0;
	for (size_t k = 0; k < n; k++) {
		struct walk_frame *f = &th->frames[n - 1 - k];
		f->code = fx->codes[codes[k]].addr;
		f->code_info = &fx->codes[codes[k]];
		f->addr = 0x100000 + (uint64_t)t * 0x10000 + k * 0x100;
		f->pos = 10;
		f->line = 3;
	}
}

static int name_of(void *ctx, const struct walk_thread *th, struct buf *out)
{
	(void)ctx;
	buf_addf(out, "T%lld", (long long)th->native_id);
	return 1;
}

static void feed(struct fixture *fx, size_t nthreads, const int64_t *charged, double when)
{
	struct tg_err err = {0};

	fx->s.nthreads = nthreads;
	cr_assert_eq(tracker_feed(fx->tk, &fx->s, charged, when, name_of, NULL, &err), 0, "%s",
		     err.msg);
}

/* Thread 0 sighted between samples (tracker_feed_one); before: 0, or LET_GO (growth of a
 * thread that let go of the GIL since), or LET_GO_RUNS (and it runs all the same), or
 * LET_GO_UNSEEN (and it held no GIL at the late reading before either: ran unseen). */
enum { LET_GO = 1, LET_GO_RUNS = 2, LET_GO_UNSEEN = 3 };
static int feed_one(struct fixture *fx, int64_t bytes, int64_t after, int before, double span,
		    double when, struct tg_err *err)
{
	struct tracker_charge c = {.bytes = bytes,
				   .after = after,
				   .growth_before = before != 0,
				   .runs_free = before == LET_GO_RUNS,
				   .ran_unseen = before == LET_GO_UNSEEN,
				   .span = span};

	return tracker_feed_one(fx->tk, &fx->th[0], &c, when, name_of, NULL, err);
}

/* A change seen by a reading between samples (not a sample's rest), thread 0 walked. */
static void reading(struct fixture *fx, int64_t bytes, double when)
{
	struct tg_err err = {0};

	cr_assert_eq(feed_one(fx, bytes, 0, 0, 0, when, &err), 1, "%s", err.msg);
}

static char *slurp(const struct fixture *fx, const char *name)
{
	char path[256];
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	output_flush(fx->out, NULL);
	snprintf(path, sizeof path, "%s/%d/%s", fx->dir, PID, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* 3.11+ makes a new thread's state in its creator's thread, with the creator's ident and
 * TID: it must not be taken for the creator (whose calls would all "return"). */
Test(tracker, a_state_with_anothers_identity_is_not_a_thread_yet)
{
	struct fixture fx;
	const int main_stack[] = {0, 1, 2};

	fx_init(&fx);
	set_stack(&fx, 0, main_stack, 3);
	feed(&fx, 1, NULL, 1.0);
	fx.th[1] = fx.th[0]; /* same ident, TID, interpreter; another state, no frames */
	fx.th[1].tstate = 0x8800;
	fx.th[1].frames = fx.frames[1];
	fx.th[1].depth = 0;
	feed(&fx, 2, NULL, 1.01);
	feed(&fx, 2, NULL, 1.02);
	cr_assert_eq(tracker_threads(fx.tk), 1);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_eq(count(mem, "root"), 0, "the creator's calls returned:\n%s", mem);
	free(mem);
	fx_done(&fx);
}

/* A kernel TID seen under a new identity (its ident settled, its state bound) is the same
 * thread: it goes on in its own files, with one writer (two trackers of one writer were a
 * double free; a second writer, a second file NAME@TID). */
Test(tracker, a_new_identity_on_a_tid_is_the_same_thread)
{
	struct fixture fx;
	const int a[] = {0, 2}, b[] = {0, 3};

	fx_init(&fx);
	set_stack(&fx, 0, a, 2);
	feed(&fx, 1, NULL, 1.0);
	fx.th[0].tstate = 0x7100; /* another state, same TID, another ident */
	fx.th[0].thread_id = 0x9100;
	set_stack(&fx, 0, b, 2);
	feed(&fx, 1, NULL, 1.01);
	cr_assert_eq(tracker_threads(fx.tk), 1);
	feed(&fx, 0, NULL, 1.02);
	feed(&fx, 0, NULL, 1.03);
	feed(&fx, 0, NULL, 1.04);
	feed(&fx, 0, NULL, 1.05);
	cr_assert_eq(tracker_threads(fx.tk), 0);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_eq(count(mem, "handle=>"), 1, "%s", mem);
	cr_assert_eq(count(mem, "root=>"), 1, "the thread went on: its root returned once\n%s",
		     mem);
	free(mem);
	char path[128];
	snprintf(path, sizeof path, "%s/%d/T100@100.stack", fx.dir, PID);
	cr_assert_neq(access(path, F_OK), 0, "a second file for the same thread");
	fx_done(&fx);
}

/* Growth goes to the stack after the sighting, a release to the stack before it (CPython
 * frees a call's locals once its frame has left the chain), and to calls that returned
 * less than half a millisecond before (freeing many objects outlasts the return). */
Test(tracker, growth_to_the_stack_after_release_to_the_stack_before)
{
	struct fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};

	fx_init(&fx);
	set_stack(&fx, 0, outer, 2);
	feed(&fx, 1, NULL, 1.0);
	set_stack(&fx, 0, inner, 3);
	reading(&fx, 5000, 1.01); /* allocated in leaf, seen as leaf begins */
	set_stack(&fx, 0, outer, 2);
	reading(&fx, -3000, 1.02);   /* freed as leaf returned */
	reading(&fx, -2000, 1.0202); /* the rest of its release, at the next reading */
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "", "returns are held back for a release to come:\n%s", mem);
	free(mem);
	reading(&fx, -700, 1.03); /* later: not leaf's any more */
	mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>0\n") != NULL, "leaf nets to zero:\n%s", mem);
	free(mem);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":loop=>-700\n") != NULL, "%s", mem);
	free(mem);
	fx_done(&fx);
}

/* A release seen after a call returned and its caller called another is that other
 * call's: the caller could not call again before the returned call's locals were freed.
 * Charged to both siblings, it counted twice among the caller's callees, and the caller's
 * own share (its delta less theirs) showed it as growth: gunicorn's Flask.wsgi_app got
 * 15 - 40 % of a leak's growth as its own, from crunch's releases also charged to the
 * Response.__call__ after it. */
Test(tracker, a_release_after_a_sibling_was_called_is_the_siblings)
{
	struct fixture fx;
	const int outer[] = {0, 1}, first[] = {0, 1, 3}, second[] = {0, 1, 4};
	int64_t c[1] = {0};

	fx_init(&fx);
	set_stack(&fx, 0, outer, 2);
	feed(&fx, 1, NULL, 1.0);
	set_stack(&fx, 0, first, 3);
	reading(&fx, 5000, 1.01);     /* leaf allocates */
	set_stack(&fx, 0, second, 3); /* leaf returned; loop called other since */
	c[0] = 0;
	feed(&fx, 1, c, 1.02);
	reading(&fx, -5000, 1.0202); /* seen a moment after leaf returned, other began */
	set_stack(&fx, 0, outer, 2); /* other returns */
	c[0] = 0;
	feed(&fx, 1, c, 1.1);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>5000\n"), "leaf keeps what it made:\n%s", mem);
	cr_assert(strstr(mem, ":other=>-5000\n"), "other released it:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>0\n"), "loop, inclusively, nets to zero:\n%s", mem);
	free(mem);
	fx_done(&fx);
}

/* fx set up with thread 0 first sampled at time 1.0 on the stack `codes`. */
static void fx_begin(struct fixture *fx, const int *codes, size_t n)
{
	fx_init(fx);
	set_stack(fx, 0, codes, n);
	feed(fx, 1, NULL, 1.0);
}

/* Growth seen after the calls of the last sighting returned is partly theirs.  Between
 * readings: the return fell within the reading's span with probability span / (time since
 * the sighting), and halfway through it on average.  At a stack sample (the exact value's
 * rest, made over the whole interval) the stack before and the stack now get half each.
 * A reading's growth with no span known, or no call returned, goes all to the stack now,
 * and so does what changed after the walk. */
Test(tracker, growth_after_a_return_is_shared_with_the_calls_that_returned)
{
	struct fixture fx;
	const int first[] = {0, 1, 3}, second[] = {0, 1, 4}, deeper[] = {0, 1, 4, 5};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	fx_begin(&fx, first, 3);
	set_stack(&fx, 0, second, 3); /* leaf returned, loop called other */
	/* made over the last 0.5 ms of the 1 ms since leaf was seen: leaf 1000 * 0.5 / 2 */
	/* 200 more changed after the walk (a reading again): the stack's now, not shared */
	cr_assert_eq(feed_one(&fx, 1000, 200, 0, 0.0005, 1.001, &err), 1, "%s", err.msg);
	set_stack(&fx, 0, deeper, 4); /* no call returned: f5 gets all of this */
	cr_assert_eq(feed_one(&fx, 600, 0, 0, 0.0005, 1.002, &err), 1, "%s", err.msg);
	set_stack(&fx, 0, first, 3); /* other returned; a stack sample's rest: half each */
	c[0] = 800;
	feed(&fx, 1, c, 1.1);
	set_stack(&fx, 0, second, 3); /* leaf returned again; no span known: other gets all */
	cr_assert_eq(feed_one(&fx, 300, 0, 0, 0, 1.2, &err), 1, "%s", err.msg);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>250\n"), "the first leaf, a quarter:\n%s", mem);
	cr_assert(strstr(mem, ":f5=>1000\n"),
		  "f5: 600, then half the rest as the stack before:\n%s", mem);
	cr_assert(strstr(mem, ":other=>1950\n"), "other: 750 + 200 + 600 + half of 800:\n%s", mem);
	cr_assert(strstr(mem, ":leaf=>400\n"), "the second leaf, half the rest:\n%s", mem);
	cr_assert(strstr(mem, ":other=>300\n"), "the second other, all:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>2900\n"), "loop holds it all:\n%s", mem);
	free(mem);
	fx_done(&fx);
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
	struct fixture fx;
	const int first[] = {0, 1, 3}, second[] = {0, 1, 4}, deeper[] = {0, 1, 4, 5};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	fx_begin(&fx, first, 3);
	cr_assert_eq(feed_one(&fx, 1000, 0, 0, 0.0005, 1.001, &err), 1, "%s", err.msg);
	set_stack(&fx, 0, second, 3); /* leaf returned, loop called other: half each */
	c[0] = -800;
	feed(&fx, 1, c, 1.1);
	set_stack(&fx, 0, deeper, 4); /* other called f5, nothing returned: half each too */
	c[0] = -600;
	feed(&fx, 1, c, 1.2);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":leaf=>600\n"), "leaf: 1000, less half the release:\n%s", mem);
	cr_assert(strstr(mem, ":f5=>-300\n"), "f5: half of 600:\n%s", mem);
	cr_assert(strstr(mem, ":other=>-1000\n"), "other: half of 800, all of 600:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>-400\n"), "loop holds it all:\n%s", mem);
	free(mem);
	fx_done(&fx);
}

/* A sighting timed before the thread's last one (a caller that read its clock early: the
 * stack sample's time, read before a reading taken just before it) is taken as at the last
 * one, so that the lines still follow one another: written back in time, a call came
 * before the return of the call it replaced, and the files' replay found returns without
 * their calls. */
Test(tracker, a_sighting_timed_before_the_last_is_taken_as_at_it)
{
	struct fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};
	struct tg_err err = {0};

	fx_begin(&fx, inner, 3);
	set_stack(&fx, 0, outer, 2); /* leaf returns, seen at 1.1 */
	feed(&fx, 1, NULL, 1.1);
	set_stack(&fx, 0, inner, 3); /* called again, seen by a reading timed 1.05 */
	cr_assert_eq(feed_one(&fx, 1000, 0, 0, 0, 1.05, &err), 1, "%s", err.msg);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *stack = slurp(&fx, "T100.stack"), *mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(stack, "  1.100000#/srv/app.py:3:leaf\n"), "the call at 1.1:\n%s", stack);
	cr_assert_eq(count(stack, "1.050000"), 0, "%s", stack);
	cr_assert(strstr(mem, "1.100000#/srv/app.py:3:leaf=>0\n"), "%s", mem);
	free(stack);
	free(mem);
	fx_done(&fx);
}

/* Growth charged to a thread that has let go of the GIL since (it waits in a lock or a
 * system call now) was made before: it goes to the stack as it was, and to the calls that
 * returned meanwhile, not to the wait.  Without growth_before it goes to the wait. */
Test(tracker, growth_of_a_thread_that_let_go_goes_to_the_stack_before)
{
	struct fixture fx;
	const int outer[] = {0, 1}, inner[] = {0, 1, 3};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	fx_init(&fx);
	for (int before = 1; before >= 0; before--) {
		set_stack(&fx, 0, inner, 3);
		feed(&fx, 1, c, before ? 1.0 : 2.0);
		set_stack(&fx, 0, outer, 2); /* leaf returned; the thread waits in loop now */
		cr_assert_eq(feed_one(&fx, 5000, 0, before, 0, before ? 1.01 : 2.01, &err), 1, "%s",
			     err.msg);
		feed(&fx, 1, c, before ? 1.1 : 2.1); /* later: the return is written */
	}
	tracker_end_all(fx.tk, 3.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_eq(count(mem, ":leaf=>5000\n"), 1, "the first leaf made it:\n%s", mem);
	cr_assert_eq(count(mem, ":leaf=>0\n"), 1, "the second is not charged:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>10000\n"), "loop holds both, inclusively:\n%s", mem);
	free(mem);
	fx_done(&fx);
}

/* Growth of a thread that ran unseen between two readings, and is back at the stack of its
 * last sighting (a worker asleep in the same wait before and after a task), goes to a call
 * of tgattach's own under that stack: every frame is charged it, none as its own.  Not
 * when the stack changed, the thread was seen during the span, or the change is a
 * release. */
Test(tracker, growth_made_unseen_goes_to_a_call_of_its_own_under_the_stack)
{
	struct fixture fx;
	const int handle[] = {0, 1, 2}, outer[] = {0, 1};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	fx_init(&fx);
	set_stack(&fx, 0, handle, 3);
	feed(&fx, 1, c, 1.0);
	cr_assert_eq(feed_one(&fx, 5000, 0, LET_GO_UNSEEN, 0.001, 1.002, &err), 1, "%s", err.msg);
	/* seen 0.5 ms ago, within the span of 1 ms: the stack before, as LET_GO */
	cr_assert_eq(feed_one(&fx, 700, 0, LET_GO_UNSEEN, 0.001, 1.0025, &err), 1, "%s", err.msg);
	cr_assert_eq(feed_one(&fx, -300, 0, LET_GO_UNSEEN, 0.001, 1.005, &err), 1, "%s", err.msg);
	feed(&fx, 1, c, 1.1);
	set_stack(&fx, 0, outer, 2); /* handle returned: a changed stack */
	cr_assert_eq(feed_one(&fx, 900, 0, LET_GO_UNSEEN, 0.001, 1.2, &err), 1, "%s", err.msg);
	feed(&fx, 1, c, 1.3);
	struct tracker_counts tc = {0};
	tracker_counts_add(fx.tk, &tc);
	int64_t bytes = tc.unseen_bytes;
	uint64_t n = tc.unseen_charges;
	cr_assert_eq(bytes, 5000, "run unseen: %lld", (long long)bytes);
	cr_assert_eq(n, 1);
	tracker_end_all(fx.tk, 2.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem"), *stack = slurp(&fx, "T100.stack");
	cr_assert(strstr(mem, "1.002000#<tgattach>:0:[ran unseen]=>5000\n"), "%s", mem);
	cr_assert(strstr(stack, "   1.001995#<tgattach>:0:[ran unseen]\n"),
		  "called under handle, just before:\n%s", stack);
	cr_assert_eq(count(mem, "[ran unseen]"), 1, "once:\n%s", mem);
	cr_assert(strstr(mem, ":handle=>6300\n"), "handle holds it, with 700 - 300 + 900:\n%s",
		  mem);
	cr_assert(strstr(mem, ":loop=>6300\n"), "%s", mem);
	free(mem);
	free(stack);
	fx_done(&fx);
}

/* Growth of a thread that let go of the GIL but runs (a hash, a compression without the
 * GIL) was made by the calls it made since its last sighting, when none of that sighting's
 * returned: it goes to the stack now.  Asleep, or with a call of the sighting returned
 * since, it goes to the stack before. */
Test(tracker, growth_of_a_thread_running_without_the_gil_goes_to_its_new_calls)
{
	struct fixture fx;
	const int outer[] = {0, 1}, handle[] = {0, 1, 2}, leaf[] = {0, 1, 3};
	const struct {
		const int *last;
		size_t nlast;
		int before;
	} rounds[] = {{outer, 2, LET_GO_RUNS}, {outer, 2, LET_GO}, {handle, 3, LET_GO_RUNS}};
	struct tg_err err = {0};
	int64_t c[1] = {0};

	fx_init(&fx);
	for (int r = 0; r < 3; r++) {
		double t = 1.0 + r;
		set_stack(&fx, 0, rounds[r].last, rounds[r].nlast);
		feed(&fx, 1, c, t);
		set_stack(&fx, 0, leaf, 3);
		cr_assert_eq(tracker_only_calls(fx.tk, &fx.th[0]), rounds[r].last == outer,
			     "round %d: only calls made since", r);
		cr_assert_eq(feed_one(&fx, 5000, 0, rounds[r].before, 0, t + 0.01, &err), 1, "%s",
			     err.msg);
		set_stack(&fx, 0, outer, 2);
		feed(&fx, 1, c, t + 0.1);
	}
	tracker_end_all(fx.tk, 4.0, NULL, NULL);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_eq(count(mem, ":leaf=>5000\n"), 1, "the running leaf made it:\n%s", mem);
	cr_assert_eq(count(mem, ":leaf=>0\n"), 2, "not when asleep or after a return:\n%s", mem);
	cr_assert_eq(count(mem, ":handle=>5000\n"), 1, "the returned call's:\n%s", mem);
	cr_assert(strstr(mem, ":loop=>15000\n"), "loop holds all three:\n%s", mem);
	free(mem);
	fx_done(&fx);
}

/* Thread 0 walked torn at each time of torn_at, then whole again at back_at: no return
 * written, the suspect and held walks counted as want_suspect, want_held. */
static void torn_then_back(struct fixture *fx, const double *torn_at, size_t ntorn, double back_at,
			   uint64_t want_suspect, uint64_t want_held)
{
	const int full[] = {0, 1, 2}, torn[] = {4};
	uint64_t suspect, held;

	set_stack(fx, 0, torn, 1);
	for (size_t i = 0; i < ntorn; i++)
		feed(fx, 1, NULL, torn_at[i]);
	set_stack(fx, 0, full, 3);
	feed(fx, 1, NULL, back_at);
	char *mem = slurp(fx, "T100.mem");
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
	struct fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {4};
	size_t closed = 0;

	fx_init(&fx);
	set_stack(&fx, 0, full, 3);
	for (int i = 0; i < 5; i++)
		feed(&fx, 1, NULL, 1.0 + 0.01 * i);
	torn_then_back(&fx, (const double[]){1.05, 1.06}, 2, 1.07, 1, 2);
	/* a real end: every walk agrees for long enough */
	set_stack(&fx, 0, torn, 1);
	for (int i = 0; i <= 12; i++)
		feed(&fx, 1, NULL, 1.1 + 0.01 * i);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_eq(count(mem, ":root=>"), 1, "%s", mem);
	free(mem);
	/* the end of the recording closes what still runs */
	cr_assert_eq(tracker_end_all(fx.tk, 3.0, &closed, NULL), 0);
	cr_assert_eq(closed, 1);
	mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, "3.000000#/srv/app.py:3:other=>0\n") != NULL, "%s", mem);
	free(mem);
	fx_done(&fx);
}

/* The stack a thread has when the recording begins is old however few walks saw it: the
 * second sample may come late (the loop's first pool walk and burst), and a torn walk then
 * must not end the thread's outermost call (a gunicorn worker's `<module>`).  A thread
 * that begins later has young frames: its outermost call may end at once. */
Test(tracker, the_stack_at_the_start_is_old)
{
	struct fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {4}, next[] = {5};

	fx_init(&fx);
	set_stack(&fx, 0, full, 3);
	feed(&fx, 1, NULL, 1.0);
	torn_then_back(&fx, (const double[]){1.077}, 1, 1.097, 1, 1);
	/* a thread seen first in a later sample */
	set_stack(&fx, 1, torn, 1);
	feed(&fx, 2, NULL, 1.2);
	set_stack(&fx, 1, next, 1);
	feed(&fx, 2, NULL, 1.21);
	feed(&fx, 2, NULL, 1.22); /* returns are written a moment after they are seen */
	char *mem = slurp(&fx, "T101.mem");
	cr_assert(strstr(mem, "1.210000#/srv/app.py:3:other=>0\n") != NULL, "%s", mem);
	free(mem);
	fx_done(&fx);
}

/* A walk with no frame at all in a thread that had some is not an end of everything. */
Test(tracker, an_empty_walk_ends_nothing)
{
	struct fixture fx;
	const int full[] = {0, 1};

	fx_init(&fx);
	set_stack(&fx, 0, full, 2);
	feed(&fx, 1, NULL, 1.0);
	fx.th[0].depth = 0;
	feed(&fx, 1, NULL, 1.5);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "");
	free(mem);
	fx_done(&fx);
}

/* A new frame called from C (an entry frame links it to its caller a moment after it runs)
 * seen straight above an older frame: the calls in between are held, not ended; a new frame
 * called from Python in the same place ends them at once. */
Test(tracker, a_frame_called_from_c_does_not_end_its_callers_at_once)
{
	struct fixture fx;
	const int full[] = {0, 1, 2}, torn[] = {0, 4}, moved[] = {0, 3};

	fx_init(&fx);
	set_stack(&fx, 0, full, 3);
	for (int i = 0; i < 5; i++)
		feed(&fx, 1, NULL, 1.0 + 0.01 * i);
	set_stack(&fx, 0, torn, 2);
	fx.th[0].frames[0].addr = 0x900000; /* a new frame, called from C */
	fx.th[0].frames[0].from_c = 1;
	feed(&fx, 1, NULL, 1.05);
	set_stack(&fx, 0, full, 3);
	feed(&fx, 1, NULL, 1.06);
	feed(&fx, 1, NULL, 1.07);
	char *mem = slurp(&fx, "T100.mem");
	cr_assert_str_eq(mem, "", "a torn walk ended calls:\n%s", mem);
	free(mem);
	set_stack(&fx, 0, moved, 2);
	fx.th[0].frames[0].from_c = 0;
	feed(&fx, 1, NULL, 1.08);
	feed(&fx, 1, NULL, 1.09);
	mem = slurp(&fx, "T100.mem");
	cr_assert(strstr(mem, ":handle=>") && strstr(mem, ":loop=>"), "%s", mem);
	free(mem);
	fx_done(&fx);
}
