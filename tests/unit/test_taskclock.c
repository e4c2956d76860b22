/* sampler/taskclock.c on real threads of this process: a blocked thread is proven quiet
 * only after the window, a spinning one never, a woken one at once not; and a thread that
 * alternates sleeping and spinning, logging instants at which it was executing, is never
 * claimed quiet over any of them. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sampler/taskclock.h"

#define MS 1000000ull

struct sleeper {
	pthread_t th;
	atomic_int tid;
	atomic_int stop;
	int fds[2]; /* a byte written to fds[1] wakes it once */
	atomic_int wakes;
};

static void *sleep_on_pipe(void *arg)
{
	struct sleeper *s = arg;
	char c;

	atomic_store(&s->tid, (int)syscall(SYS_gettid));
	while (read(s->fds[0], &c, 1) == 1 && !atomic_load(&s->stop))
		atomic_fetch_add(&s->wakes, 1);
	return NULL;
}

static void sleeper_start(struct sleeper *s)
{
	memset(s, 0, sizeof *s);
	cr_assert_eq(pipe(s->fds), 0);
	cr_assert_eq(pthread_create(&s->th, NULL, sleep_on_pipe, s), 0);
	while (!atomic_load(&s->tid))
		usleep(100);
}

static void sleeper_stop(struct sleeper *s)
{
	atomic_store(&s->stop, 1);
	cr_assert_eq(write(s->fds[1], "x", 1), 1);
	pthread_join(s->th, NULL);
	close(s->fds[0]);
	close(s->fds[1]);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	nanosleep(&ts, NULL);
}

/* Is the thread blocked in a system call now (state S in /proc/self/task/TID/stat)? */
static int blocked(int tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

Test(taskclock, window_is_two_ticks)
{
	struct timespec res;
	uint64_t w = taskclock_window();

	cr_assert_eq(clock_getres(CLOCK_MONOTONIC_COARSE, &res), 0);
	if (w == 0)
		cr_skip_test("this machine has nohz_full CPUs: nothing can be proven");
	cr_assert_eq(w, 2 * ((uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec));
	cr_assert(w >= 2 * MS && w <= 20 * MS, "window %llu ns", (unsigned long long)w);
}

Test(taskclock, blocked_thread_is_quiet_after_the_window_only)
{
	struct sleeper s;
	struct taskclock c;
	uint64_t w = taskclock_window();

	if (w == 0)
		cr_skip_test("this machine has nohz_full CPUs: nothing can be proven");
	sleeper_start(&s);
	while (!blocked(atomic_load(&s.tid)))
		usleep(100);
	taskclock_init(&c);
	cr_assert_eq(taskclock_read(&c, getpid(), atomic_load(&s.tid)), 0);
	cr_assert_eq(taskclock_quiet_since(&c, w), 0, "nothing is proven by one reading");
	uint64_t first = c.same_since;
	sleep_ns(w / 2);
	cr_assert_eq(taskclock_read(&c, getpid(), atomic_load(&s.tid)), 0);
	if (c.read_at - first <= w) /* (unless this thread was held up for long) */
		cr_assert_eq(taskclock_quiet_since(&c, w), 0, "half a window proves nothing");
	sleep_ns(w);
	cr_assert_eq(taskclock_read(&c, getpid(), atomic_load(&s.tid)), 0);
	cr_assert_eq(taskclock_quiet_since(&c, w), first, "quiet since the first reading");
	cr_assert_gt(c.ns, 0);
	cr_assert_gt(c.switches, 0);
	taskclock_close(&c);
	sleeper_stop(&s);
}

Test(taskclock, woken_thread_is_not_quiet_at_the_next_reading)
{
	struct sleeper s;
	struct taskclock c;
	uint64_t w = taskclock_window();

	if (w == 0)
		cr_skip_test("this machine has nohz_full CPUs: nothing can be proven");
	sleeper_start(&s);
	taskclock_init(&c);
	for (int round = 0; round < 20; round++) {
		int tid = atomic_load(&s.tid);
		while (!blocked(tid))
			usleep(100);
		cr_assert_eq(taskclock_read(&c, getpid(), tid), 0);
		sleep_ns(w + 2 * MS);
		cr_assert_eq(taskclock_read(&c, getpid(), tid), 0);
		cr_assert_neq(taskclock_quiet_since(&c, w), 0, "round %d: blocked, not quiet",
			      round);
		/* it runs for a few microseconds only, and blocks again */
		int before = atomic_load(&s.wakes);
		cr_assert_eq(write(s.fds[1], "x", 1), 1);
		while (atomic_load(&s.wakes) == before)
			usleep(50);
		while (!blocked(tid))
			usleep(50);
		cr_assert_eq(taskclock_read(&c, getpid(), tid), 0);
		cr_assert_eq(taskclock_quiet_since(&c, w), 0, "round %d: it ran, yet quiet", round);
	}
	taskclock_close(&c);
	sleeper_stop(&s);
}

Test(taskclock, ended_thread_reads_fail)
{
	struct sleeper s;
	struct taskclock c;

	sleeper_start(&s);
	int tid = atomic_load(&s.tid);
	taskclock_init(&c);
	cr_assert_eq(taskclock_read(&c, getpid(), tid), 0);
	sleeper_stop(&s);
	cr_assert_eq(taskclock_read(&c, getpid(), tid), -1, "a thread that ended still reads");
	cr_assert_eq(taskclock_quiet_since(&c, 1), 0);
	cr_assert_eq(c.fd, -1);
	cr_assert_eq(taskclock_read(&c, getpid(), 0), -1);
	taskclock_close(&c);
}

Test(taskclock, process_clock)
{
	uint64_t a, b;

	cr_assert_eq(taskclock_process(getpid(), &a), 0);
	for (volatile unsigned long i = 0; i < 50000000ul; i++)
		;
	cr_assert_eq(taskclock_process(getpid(), &b), 0);
	cr_assert_gt(b, a, "the process clock moved while this thread spun");
	cr_assert_eq(taskclock_process(0x7ffffff0, &a), -1, "no such process");
	cr_assert_eq(taskclock_process(0, &a), -1);
}

/* ---- the proof, checked against a thread's own log ---- */

#define INSTANTS (1u << 21)

struct alternator {
	pthread_t th;
	int spin; /* never sleep */
	atomic_int tid;
	atomic_int stop;
	uint64_t *at; /* instants at which it was executing */
	atomic_size_t n;
};

static void *alternate(void *arg)
{
	struct alternator *a = arg;
	unsigned seed = 7;

	atomic_store(&a->tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&a->stop) && atomic_load(&a->n) < INSTANTS - 1) {
		int kind = rand_r(&seed) % 10;
		uint64_t sleep_us = kind < 5 ? rand_r(&seed) % 3000 : rand_r(&seed) % 20000;
		uint64_t run_us = kind < 3   ? rand_r(&seed) % 50
				  : kind < 8 ? rand_r(&seed) % 3000
					     : rand_r(&seed) % 15000;
		if (!a->spin)
			sleep_ns(sleep_us * 1000);
		uint64_t s = taskclock_now(), last = 0, t;
		while ((t = taskclock_now()) < s + run_us * 1000 &&
		       atomic_load(&a->n) < INSTANTS - 1)
			if (t - last >= 20000) {
				a->at[atomic_load(&a->n)] = t;
				atomic_fetch_add(&a->n, 1);
				last = t;
			}
	}
	return NULL;
}

/* Read the thread's counters every half millisecond for `ms`; no claim of quiet may cover
 * an instant at which it was executing.  Returns the claims made. */
static size_t check_claims(struct alternator *a, uint64_t ms, size_t *reads)
{
	struct taskclock c;
	uint64_t w = taskclock_window();
	size_t cap = 1 << 16, nclaims = 0;
	uint64_t *from = malloc(cap * sizeof *from), *to = malloc(cap * sizeof *to);

	a->at = calloc(INSTANTS, sizeof *a->at);
	cr_assert_eq(pthread_create(&a->th, NULL, alternate, a), 0);
	while (!atomic_load(&a->tid))
		usleep(100);
	taskclock_init(&c);
	*reads = 0;
	uint64_t end = taskclock_now() + ms * MS;
	while (taskclock_now() < end && nclaims < cap) {
		if (taskclock_read(&c, getpid(), atomic_load(&a->tid)) == 0) {
			(*reads)++;
			uint64_t q = taskclock_quiet_since(&c, w);
			if (q) {
				from[nclaims] = q;
				to[nclaims++] = c.read_at;
			}
		}
		sleep_ns(500000);
	}
	atomic_store(&a->stop, 1);
	pthread_join(a->th, NULL);
	size_t n = atomic_load(&a->n), bad = 0;
	for (size_t i = 0; i < nclaims; i++) {
		size_t lo = 0, hi = n; /* the first instant at or after the claim's start */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (a->at[mid] < from[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		bad += lo < n && a->at[lo] <= to[i];
	}
	cr_assert_eq(bad, 0, "%zu of %zu quiet claims cover an instant the thread executed", bad,
		     nclaims);
	taskclock_close(&c);
	free(from);
	free(to);
	return nclaims;
}

/* Quiet only while it waits for a CPU (then it indeed does not run). */
Test(taskclock, spinning_thread_is_not_quiet_while_it_runs)
{
	struct alternator a;
	size_t reads;

	memset(&a, 0, sizeof a);
	a.spin = 1;
	check_claims(&a, 300, &reads);
	cr_assert(atomic_load(&a.n) > 1000 && reads > 100, "it hardly ran: %zu instants",
		  (size_t)atomic_load(&a.n));
	free(a.at);
}

Test(taskclock, never_quiet_while_executing, .timeout = 60)
{
	struct alternator a;
	size_t reads;

	if (taskclock_window() == 0)
		cr_skip_test("this machine has nohz_full CPUs: nothing can be proven");
	memset(&a, 0, sizeof a);
	size_t nclaims = check_claims(&a, 3000, &reads);
	cr_assert(nclaims > reads / 10 && atomic_load(&a.n) > 1000,
		  "the run proves little: %zu claims in %zu reads, %zu instants", nclaims, reads,
		  (size_t)atomic_load(&a.n));
	free(a.at);
}
