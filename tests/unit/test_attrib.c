/* sampler/attrib.c on this very process: real threads that spin, sleep or touch fresh
 * memory, read through /proc/self/task/TID/{schedstat,stat}; and the GIL rules with
 * thread states that have no kernel TID. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sampler/attrib.h"
#include "sampler/gil.h"

#define MIB (1u << 20)

struct worker {
	pthread_t th;
	atomic_int tid;
	atomic_int stop;
	atomic_int go_touch;
	atomic_int touched;
	int kind;    /* 0 spin, 1 sleep, 2 touch fresh memory when told, then sleep, 3 blocked */
	int wake[2]; /* kind 3: blocked reading it until stop() */
};

static void *work(void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	char byte;
	if (w->kind == 3 && read(w->wake[0], &byte, 1) < 0)
		return NULL;
	while (!atomic_load(&w->stop)) {
		if (w->kind == 0)
			continue;
		if (w->kind == 2 && atomic_load(&w->go_touch) && !atomic_load(&w->touched)) {
			char *p = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p != MAP_FAILED) {
				for (size_t i = 0; i < 16 * MIB; i += 4096)
					p[i] = 1;
				munmap(p, 16 * MIB);
			}
			atomic_store(&w->touched, 1);
		}
		usleep(1000);
	}
	return NULL;
}

static void start(struct worker *w, int kind)
{
	memset(w, 0, sizeof *w);
	w->kind = kind;
	w->wake[0] = w->wake[1] = -1;
	if (kind == 3)
		cr_assert_eq(pipe(w->wake), 0);
	cr_assert_eq(pthread_create(&w->th, NULL, work, w), 0);
	while (!atomic_load(&w->tid))
		usleep(100);
}

static void stop(struct worker *w)
{
	atomic_store(&w->stop, 1);
	if (w->kind == 3)
		cr_assert_eq(write(w->wake[1], "", 1), 1);
	pthread_join(w->th, NULL);
	if (w->kind == 3) {
		close(w->wake[0]);
		close(w->wake[1]);
	}
}

static void sample_of(struct walk_sample *s, struct walk_thread *th, struct worker *const *w,
		      size_t n)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < n; i++) {
		memset(&th[i], 0, sizeof th[i]);
		th[i].tstate = 0x1000 * (i + 1);
		th[i].native_id = w[i] ? atomic_load(&w[i]->tid) : 0;
	}
	s->threads = th;
	s->nthreads = s->cap = n;
}

Test(attrib, mem_reads_statm)
{
	struct attrib *a = attrib_new(getpid());
	uint64_t rss = 0, anon = 0;

	cr_assert_eq(attrib_mem(a, &rss, &anon), 0);
	cr_assert(rss > 0 && anon > 0 && anon <= rss, "rss %llu anon %llu", (unsigned long long)rss,
		  (unsigned long long)anon);
	attrib_free(a);
	a = attrib_new(0x7ffffff0); /* no such process */
	cr_assert_eq(attrib_mem(a, &rss, &anon), -1);
	attrib_free(a);
}

/* attrib_micro with the holders and switch count only (no last holder: as for rss). */
static size_t micro(struct attrib *a, int64_t delta, const uint64_t *holders, size_t n,
		    uint64_t switches, struct attrib_share *out, size_t max)
{
	struct attrib_gil g = {holders, n, switches, 0};

	return attrib_micro(a, delta, &g, out, max);
}

Test(attrib, micro_split_follows_cpu_time)
{
	struct worker spin, sleep_;
	struct worker *w[2] = {&spin, &sleep_};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];

	start(&spin, 0);
	start(&sleep_, 1);
	struct attrib *a = attrib_new(getpid());
	sample_of(&s, th, w, 2);
	attrib_charge(a, &s, 0, charged); /* baselines, and the threads micro-samples read */
	micro(a, 0, NULL, 0, GIL_SWITCHES_UNKNOWN, NULL, 0);
	usleep(20000);
	micro(a, 1000000, NULL, 0, GIL_SWITCHES_UNKNOWN, NULL, 0);
	attrib_charge(a, &s, 0, charged);
	cr_assert_eq(charged[0] + charged[1], 1000000, "nothing lost");
	cr_assert_gt(charged[0], 750000, "the spinning thread ran: %lld, the sleeper %lld",
		     (long long)charged[0], (long long)charged[1]);
	stop(&spin);
	stop(&sleep_);
	attrib_free(a);
}

/* A spinning thread (w[0]) and one that touches 16 MiB (w[1]), sampled as s; 16 MiB of
 * growth charged once the touching is done goes to the toucher, by its page faults. */
static struct attrib *after_touch(struct worker *w[2], struct walk_thread th[2],
				  struct walk_sample *s, int64_t charged[2])
{
	start(w[0], 0);
	start(w[1], 2);
	struct attrib *a = attrib_new(getpid());
	sample_of(s, th, w, 2);
	attrib_charge(a, s, 0, charged);
	atomic_store(&w[1]->go_touch, 1);
	while (!atomic_load(&w[1]->touched))
		usleep(1000);
	attrib_charge(a, s, 16 * MIB, charged);
	cr_assert_eq(charged[0] + charged[1], 16 * MIB);
	cr_assert_gt(charged[1], 15 * MIB, "the thread that touched 16 MiB: %lld, the spinner %lld",
		     (long long)charged[1], (long long)charged[0]);
	return a;
}

Test(attrib, growth_follows_page_faults)
{
	struct worker spin, toucher;
	struct worker *w[2] = {&spin, &toucher};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];

	struct attrib *a = after_touch(w, th, &s, charged);
	/* a decrease follows CPU time: the spinner ran, the toucher mostly slept */
	usleep(20000);
	attrib_charge(a, &s, -(int64_t)MIB, charged);
	cr_assert_lt(charged[0], -(int64_t)MIB * 8 / 10, "spinner %lld", (long long)charged[0]);
	stop(&spin);
	stop(&toucher);
	attrib_free(a);
}

/* A part of a sample's change split again (memtrack's: what takes back the weights a tree's
 * bursts gave their changes) follows the CPU time of the sample's interval, whatever its
 * sign. */
Test(attrib, a_part_split_again_follows_cpu_time)
{
	struct worker spin, toucher;
	struct worker *w[2] = {&spin, &toucher};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2], part[2];

	struct attrib *a = after_touch(w, th, &s, charged);
	usleep(30000); /* the toucher sleeps, the spinner runs */
	attrib_charge(a, &s, 0, charged);
	attrib_split_again(a, &s, 4 * MIB, part);
	cr_assert_eq(part[0] + part[1], 4 * MIB, "nothing lost");
	cr_assert_gt(part[0], 3 * MIB, "the spinner ran: %lld, the toucher %lld",
		     (long long)part[0], (long long)part[1]);
	attrib_split_again(a, &s, 0, part);
	cr_assert(part[0] == 0 && part[1] == 0, "nothing to split");
	stop(&spin);
	stop(&toucher);
	attrib_free(a);
}

/* Thread states without a kernel TID (2.7 - 3.7 when glibc's TID could not be found):
 * only the GIL speaks. */
Test(attrib, gil_rules_without_tids)
{
	struct worker *w[3] = {NULL, NULL, NULL};
	struct walk_thread th[3];
	struct walk_sample s;
	int64_t charged[3];
	uint64_t holder;
	struct attrib *a = attrib_new(getpid());

	sample_of(&s, th, w, 3);
	attrib_charge(a, &s, 0, charged);
	holder = th[1].tstate;
	micro(a, 0, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	micro(a, 500, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	attrib_charge(a, &s, 0, charged);
	cr_assert(charged[0] == 0 && charged[1] == 500 && charged[2] == 0, "held throughout");

	/* the GIL changed hands within the micro interval: both ends share */
	holder = th[2].tstate;
	micro(a, 1000, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	attrib_charge(a, &s, 0, charged);
	cr_assert(charged[1] == 500 && charged[2] == 500, "%lld %lld", (long long)charged[1],
		  (long long)charged[2]);

	/* nobody held it at either end: the change waits for the stack sample, which gives
	 * it to the GIL holder of the previous or current sample */
	micro(a, 0, NULL, 0, GIL_SWITCHES_UNKNOWN, NULL, 0);
	micro(a, 300, NULL, 0, GIL_SWITCHES_UNKNOWN, NULL, 0);
	th[0].holds_gil = 1;
	attrib_charge(a, &s, 100, charged);
	cr_assert(charged[0] == 400 && charged[1] == 0 && charged[2] == 0, "%lld",
		  (long long)charged[0]);

	/* unknown delta: the micro shares are handed out, the rest waits */
	th[0].holds_gil = 0;
	holder = th[1].tstate;
	micro(a, 0, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	micro(a, 70, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	attrib_charge(a, &s, ATTRIB_UNKNOWN, charged);
	cr_assert(charged[1] == 70 && charged[0] == 0 && charged[2] == 0);

	/* a thread that ended: its share is charged to no thread, none of those left may take
	 * it; the sample's own change is split over those present that held the GIL since the
	 * last known change (the first thread, before the unknown one; the third now) */
	micro(a, 0, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	micro(a, 90, &holder, 1, GIL_SWITCHES_UNKNOWN, NULL, 0);
	th[1] = th[2];
	s.nthreads = 2;
	th[1].holds_gil = 1;
	attrib_charge(a, &s, 10, charged);
	cr_assert(charged[0] == 5 && charged[1] == 5, "%lld %lld", (long long)charged[0],
		  (long long)charged[1]);
	cr_assert_eq(attrib_unattributed(a), 90);

	/* nobody at all: unattributed, never a sleeping thread */
	th[1].holds_gil = 0;
	attrib_charge(a, &s, 0, charged);
	attrib_charge(a, &s, 42, charged);
	cr_assert(charged[0] == 0 && charged[1] == 0);
	cr_assert_eq(attrib_unattributed(a), 90 + 42);
	attrib_free(a);
}

/* Shares handed to the caller, who charges them to the stacks: the one thread that held
 * the GIL at both ends of the interval takes the whole change, with no read. */
Test(attrib, micro_shares_go_to_the_caller)
{
	struct worker *w[2] = {NULL, NULL};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];
	struct attrib_share sh[4];
	uint64_t holder;
	struct attrib *a = attrib_new(getpid());

	sample_of(&s, th, w, 2);
	attrib_charge(a, &s, 0, charged);
	holder = th[0].tstate;
	cr_assert_eq(micro(a, 0, &holder, 1, GIL_SWITCHES_UNKNOWN, sh, 4), 0,
		     "no change, no share");
	cr_assert_eq(micro(a, 4096, &holder, 1, GIL_SWITCHES_UNKNOWN, sh, 4), 1);
	cr_assert(sh[0].tstate == th[0].tstate && sh[0].bytes == 4096);
	/* a share the caller could not place waits for the stack sample */
	attrib_keep(a, th[1].tstate, -100);
	attrib_charge(a, &s, 0, charged);
	cr_assert(charged[0] == 0 && charged[1] == -100, "%lld %lld", (long long)charged[0],
		  (long long)charged[1]);
	attrib_free(a);
}

/* The holder at both ends let go of the GIL between (its switch count moved): another
 * thread may have made the change, so it is not the sole runner; a thread that ran all
 * the while (here a spinner with CPU time) gets its part. */
Test(attrib, switch_between_readings_is_not_sole_holder)
{
	struct worker spin;
	struct worker *w[2] = {NULL, &spin};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];
	struct attrib_share sh[4];
	uint64_t holder;
	struct attrib *a = attrib_new(getpid());

	start(&spin, 0);
	sample_of(&s, th, w, 2);
	attrib_charge(a, &s, 0, charged);
	holder = th[0].tstate;
	micro(a, 0, &holder, 1, 6, sh, 4);
	micro(a, 1, &holder, 1, 7, sh, 4); /* a CPU split: the baselines are read */
	cr_assert_eq(micro(a, 100, &holder, 1, 7, sh, 4), 1, "no switch: sole holder");
	cr_assert(sh[0].tstate == th[0].tstate && sh[0].bytes == 100);
	usleep(20000);
	size_t n = micro(a, 100000, &holder, 1, 8, sh, 4);
	int64_t spinner = 0;
	for (size_t i = 0; i < n; i++)
		if (sh[i].tstate == th[1].tstate)
			spinner += sh[i].bytes;
	cr_assert_gt(spinner, 1000, "the spinner ran meanwhile: %lld", (long long)spinner);
	stop(&spin);
	attrib_free(a);
}

/* A GIL holder that no stack sample listed (a thread started since, as per request) has
 * no CPU reading: it shares the time the known threads' CPU does not explain. */
Test(attrib, fresh_holder_shares_unexplained_time)
{
	struct worker sleepers[2];
	struct worker *w[2] = {&sleepers[0], &sleepers[1]};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];
	struct attrib_share sh[4];
	uint64_t fresh = 0x9000, known;
	struct attrib *a = attrib_new(getpid());

	start(&sleepers[0], 1);
	start(&sleepers[1], 1);
	sample_of(&s, th, w, 2);
	attrib_charge(a, &s, 0, charged);
	known = th[0].tstate;
	micro(a, 0, &known, 1, 6, sh, 4);
	micro(a, 1, &known, 1, 7, sh, 4); /* a CPU split: the baselines are read */
	usleep(20000);
	size_t n = micro(a, 1000, &fresh, 1, GIL_SWITCHES_UNKNOWN, sh, 4);
	int64_t got = 0;
	for (size_t i = 0; i < n; i++)
		if (sh[i].tstate == fresh)
			got += sh[i].bytes;
	/* the sleepers' wake-ups cost more on a loaded machine (CI #59: 887) */
	cr_assert_gt(got, 750, "the fresh holder ran, the sleepers hardly: %lld", (long long)got);
	stop(&sleepers[0]);
	stop(&sleepers[1]);
	attrib_free(a);
}

/* One hand-over between the two last holders: the one that let the GIL go shows no CPU
 * time since the last reading, but it held the GIL then, so it ran (the kernel adds a
 * thread's time at its ticks and when it leaves its CPU: one still on it, hashing or
 * sending without the GIL, shows none yet).  It shares the time the other's CPU does not
 * explain, as a thread with no CPU reading does.  Until December 2026 the one that took
 * the GIL had the whole change (http.server's main thread, back from waiting for a new
 * thread to start, had a request thread's growth in `Thread.start`). */
Test(attrib, a_holder_whose_time_did_not_move_still_ran)
{
	struct worker blocked, sleeper;
	struct worker *w[2] = {&blocked, &sleeper};
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];
	struct attrib_share sh[4];
	struct attrib *a = attrib_new(getpid());

	start(&blocked, 3);
	start(&sleeper, 1);
	sample_of(&s, th, w, 2);
	attrib_charge(a, &s, 0, charged);
	uint64_t let_go = th[0].tstate, took = th[1].tstate;
	attrib_micro(a, 1, &(struct attrib_gil){NULL, 0, 6, 0}, sh, 4); /* a CPU split: baselines */
	attrib_micro(a, 0, &(struct attrib_gil){&let_go, 1, 6, let_go}, sh, 4);
	usleep(20000);
	size_t n = attrib_micro(a, 1000, &(struct attrib_gil){&took, 1, 7, took}, sh, 4);
	int64_t got = 0;
	for (size_t i = 0; i < n; i++)
		if (sh[i].tstate == let_go)
			got += sh[i].bytes;
	cr_assert_gt(got, 750, "the thread that let the GIL go ran; the taker slept: %lld",
		     (long long)got);
	stop(&blocked);
	stop(&sleeper);
	attrib_free(a);
}

/* Threads beyond the descriptor cap read their /proc files at each reading (transient
 * slots): such a slot holds no descriptor, and forgetting it must close none.  A new slot
 * is zeroed, and a transient one used to keep "descriptor 0", closing whatever held 0 by
 * then: in a recording of a thread-per-request server, a thread's .mem file (its next
 * write failed with EBADF and the recording stopped, exit 7). */
Test(attrib, transient_slots_close_no_descriptor)
{
	struct worker w[40];
	struct walk_thread th[1];
	struct walk_sample s;
	int64_t charged[1];
	struct worker *none[1] = {NULL};
	int nul = open("/dev/null", O_RDONLY);

	cr_assert_geq(nul, 0);
	cr_assert_eq(dup2(nul, 0), 0);
	struct attrib *a = attrib_new(getpid());
	for (int i = 0; i < 40; i++) {
		start(&w[i], 1);
		attrib_micro_adopt(a, 0x5000 + (uint64_t)i, atomic_load(&w[i].tid));
	}
	sample_of(&s, th, none, 1);
	for (int k = 0; k < 8; k++) /* none of them in the samples: forgotten */
		attrib_charge(a, &s, 0, charged);
	cr_assert_neq(fcntl(0, F_GETFD), -1, "descriptor 0 was closed by attrib");
	attrib_free(a);
	cr_assert_neq(fcntl(0, F_GETFD), -1, "descriptor 0 was closed by attrib_free");
	for (int i = 0; i < 40; i++)
		stop(&w[i]);
	close(nul);
}

/* The GIL's last holder with the switch count (heap: pools change only under the GIL): no
 * switch, and the last holder takes the whole change even when it held the GIL at neither
 * reading; one switch, the taker alone when nobody held the GIL at the reading before, else
 * the two last holders share it; more, CPU time decides again.  A spinning thread with CPU
 * time is charged only in the last case. */
Test(attrib, last_holder_and_switches_name_the_threads)
{
	struct worker spin, sleepers[2];
	struct worker *w[3] = {&spin, &sleepers[0], &sleepers[1]};
	struct walk_thread th[3];
	struct walk_sample s;
	int64_t charged[3];
	struct attrib_share sh[4];
	struct attrib *a = attrib_new(getpid());

	start(&spin, 0);
	start(&sleepers[0], 1);
	start(&sleepers[1], 1);
	sample_of(&s, th, w, 3);
	attrib_charge(a, &s, 0, charged);
	struct attrib_gil g = {NULL, 0, 6, th[1].tstate};
	attrib_micro(a, 0, &g, sh, 4);
	attrib_micro(a, 1, &(struct attrib_gil){NULL, 0, 7, th[1].tstate}, sh, 4); /* baselines */
	usleep(20000);
	g.switches = 8;
	cr_assert_eq(attrib_micro(a, 0, &g, sh, 4), 0);
	usleep(20000);
	cr_assert_eq(attrib_micro(a, 5000, &g, sh, 4), 1, "no switch: the last holder alone");
	cr_assert(sh[0].tstate == th[1].tstate && sh[0].bytes == 5000);
	usleep(20000);
	g.switches = 9;
	g.last = th[2].tstate;
	size_t n = attrib_micro(a, 8000, &g, sh, 4);
	int64_t pair = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert(sh[i].tstate != th[0].tstate, "one switch: the spinner is not a holder");
		pair += sh[i].bytes;
	}
	cr_assert_eq(pair, 8000);
	cr_assert(n == 1 && sh[0].tstate == th[2].tstate,
		  "nobody held the GIL at the reading before: the taker alone");
	/* the one that let go held it at the reading before: both may have made the change */
	uint64_t held = th[2].tstate, now = th[1].tstate;
	cr_assert_eq(attrib_micro(a, 0, &(struct attrib_gil){&held, 1, 9, held}, sh, 4), 0);
	usleep(20000);
	n = attrib_micro(a, 8000, &(struct attrib_gil){&now, 1, 10, now}, sh, 4);
	int both = 0;
	for (size_t i = 0; i < n; i++)
		both |= (sh[i].tstate == th[1].tstate) << 0 | (sh[i].tstate == th[2].tstate) << 1;
	cr_assert_eq(both, 3, "a hand-over inside the interval: the two last holders share it");
	usleep(20000);
	g.switches = 12;
	g.last = th[1].tstate;
	n = attrib_micro(a, 100000, &g, sh, 4);
	int64_t spinner = 0;
	for (size_t i = 0; i < n; i++)
		if (sh[i].tstate == th[0].tstate)
			spinner += sh[i].bytes;
	cr_assert_gt(spinner, 1000, "two switches: a third thread may have held it (%lld)",
		     (long long)spinner);
	stop(&spin);
	stop(&sleepers[0]);
	stop(&sleepers[1]);
	attrib_free(a);
}

static atomic_int blocked_tid;

static void *block_on(void *arg)
{
	char c;

	atomic_store(&blocked_tid, (int)syscall(SYS_gettid));
	return read(*(int *)arg, &c, 1) == 1 ? NULL : arg;
}

/* A spinning thread and one blocked in a read of a pipe, with an attrib of this process;
 * set up once the blocked thread is in its read (as /proc tells), or after 200 ms. */
struct blocked_fx {
	struct worker spin;
	int fds[2];
	pthread_t blocked;
	struct attrib *a;
	int blocked_runs; /* attrib_thread_runs() of the blocked thread, the last time */
};

static void blocked_setup(struct blocked_fx *fx)
{
	cr_assert_eq(pipe(fx->fds), 0);
	atomic_store(&blocked_tid, 0);
	start(&fx->spin, 0);
	cr_assert_eq(pthread_create(&fx->blocked, NULL, block_on, &fx->fds[0]), 0);
	while (!atomic_load(&blocked_tid))
		usleep(100);
	fx->a = attrib_new(getpid());
	fx->blocked_runs = -1;
	for (int i = 0; i < 200; i++) { /* it may not be in its read yet */
		fx->blocked_runs = attrib_thread_runs(fx->a, atomic_load(&blocked_tid));
		if (fx->blocked_runs == 0)
			break;
		usleep(1000);
	}
}

static void blocked_teardown(struct blocked_fx *fx)
{
	cr_assert_eq(write(fx->fds[1], "x", 1), 1);
	pthread_join(fx->blocked, NULL);
	stop(&fx->spin);
	attrib_free(fx->a);
	close(fx->fds[0]);
	close(fx->fds[1]);
}

/* A thread that spins is on a CPU or waits for one (R); a thread blocked in a read is not;
 * a TID that is not the process's cannot be read. */
Test(attrib, thread_runs_tells_a_running_thread_from_a_blocked_one)
{
	struct blocked_fx fx;

	blocked_setup(&fx);
	struct attrib *a = fx.a;
	cr_assert_eq(fx.blocked_runs, 0, "the blocked thread: %d", fx.blocked_runs);
	cr_assert_eq(attrib_thread_runs(a, atomic_load(&fx.spin.tid)), 1, "the spinning thread");
	cr_assert_eq(attrib_thread_runs(a, (int64_t)syscall(SYS_gettid)), 1, "this thread");
	cr_assert_eq(attrib_thread_runs(a, 0), -1);
	cr_assert_eq(attrib_thread_runs(a, 1), -1, "init is not this process's");
	blocked_teardown(&fx);
}

/* The CPUs that the threads found to have run at the last charge last ran on (the loop
 * keeps off them: common/cpuavoid.h): a spinner's, not a blocked thread's. */
Test(attrib, ran_cpus_are_those_the_running_threads_ran_on)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct blocked_fx fx;
	struct walk_thread th[2];
	struct walk_sample s;
	int64_t charged[2];
	cpu_set_t one, got;

	if (ncpu < 2)
		cr_skip_test("one CPU online");
	blocked_setup(&fx);
	CPU_ZERO(&one);
	CPU_SET((size_t)(ncpu - 1), &one);
	cr_assert_eq(pthread_setaffinity_np(fx.spin.th, sizeof one, &one), 0);
	struct worker fake = {.tid = atomic_load(&blocked_tid)};
	struct worker *w[2] = {&fx.spin, &fake};
	sample_of(&s, th, w, 2);
	usleep(20000); /* the spinner moves to its CPU */
	attrib_charge(fx.a, &s, 0, charged);
	usleep(20000);
	attrib_charge(fx.a, &s, 0, charged);
	CPU_ZERO(&got);
	attrib_ran_cpus(fx.a, &got);
	cr_assert_eq(CPU_COUNT(&got), 1, "only the spinner ran: %d CPUs", CPU_COUNT(&got));
	cr_assert(CPU_ISSET((size_t)(ncpu - 1), &got), "the spinner's CPU");
	blocked_teardown(&fx);
}
