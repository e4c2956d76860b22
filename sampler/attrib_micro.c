/* attrib_micro.c: micro-samples between stack samples (attrib_micro): whom a change of
 * memory seen in a burst goes to, by the GIL's holders and switch count and the threads'
 * CPU time; shares kept for the stack sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler/attrib_int.h"
#include "sampler/gil.h"
#include "sampler/taskclock.h"

static void keep_for(struct attrib *a, uint64_t tstate, int64_t bytes)
{
	for (size_t i = 0; i < a->nkept; i++)
		if (a->kept[i].tstate == tstate) {
			a->kept[i].bytes += bytes;
			return;
		}
	if (a->nkept == MAX_HOLDERS) {
		a->unheld += bytes;
		return;
	}
	a->kept[a->nkept++] = (struct kept){tstate, bytes};
}

/* Did any thread's accounted CPU time move since the micro threads were last read?  The
 * process CPU clock is the sum of its threads' (and its ended threads'), so when it stands
 * still every thread's does, and the reads of the micro threads are spared.  It is read
 * before them, so that a change during their reads shows the next time. */
static int micro_moved(struct attrib *a)
{
	uint64_t proc = 0;
	int have = taskclock_process(a->pid, &proc) == 0;
	int same = have && a->micro_proc_ok && proc == a->micro_proc_ns;

	for (size_t i = 0; same && i < a->nmicro; i++)
		same = a->micro[i].primed;
	a->micro_proc_ok = have;
	a->micro_proc_ns = proc;
	return !same;
}

/* CPU nanoseconds each micro thread ran since the last micro-sample, as the kernel has
 * accounted it so far. */
static void micro_ran(struct attrib *a, uint64_t *ran)
{
	char buf[128];
	unsigned long long ns;

	if (!micro_moved(a)) {
		memset(ran, 0, a->nmicro * sizeof *ran);
		return;
	}
	for (size_t i = 0; i < a->nmicro; i++) {
		struct mthread *m = &a->micro[i];
		ran[i] = 0;
		if (m->slot->tid != m->tid ||
		    attrib_slot_read(a, m->slot, 0, buf, sizeof buf) < 0 ||
		    sscanf(buf, "%llu", &ns) != 1)
			continue;
		if (m->primed && ns > m->base_ns)
			ran[i] = ns - m->base_ns;
		m->base_ns = ns;
		m->primed = 1;
	}
}

/* The shares of one micro-sample, handed to the caller. */
struct shares {
	struct attrib_share *v;
	size_t n, max;
};

static void share_to(struct attrib *a, struct shares *sh, uint64_t tstate, int64_t bytes)
{
	for (size_t i = 0; i < sh->n; i++)
		if (sh->v[i].tstate == tstate) {
			sh->v[i].bytes += bytes;
			return;
		}
	if (sh->n < sh->max)
		sh->v[sh->n++] = (struct attrib_share){tstate, bytes, 1};
	else
		keep_for(a, tstate, bytes);
}

/* Split among the holders at either end of the micro interval, equally. */
static void micro_by_gil(struct attrib *a, struct shares *sh, int64_t delta,
			 const uint64_t *holders, size_t nholders)
{
	uint64_t cand[2 * MAX_HOLDERS];
	size_t n = 0;

	for (size_t i = 0; i < nholders && n < MAX_HOLDERS; i++)
		cand[n++] = holders[i];
	for (size_t i = 0; i < a->nmicro_prev; i++) {
		size_t k = 0;
		while (k < n && cand[k] != a->micro_prev[i])
			k++;
		if (k == n)
			cand[n++] = a->micro_prev[i];
	}
	if (n == 0)
		a->unheld += delta;
	for (size_t i = 0; i < n; i++) {
		int64_t share = delta / (int64_t)n;
		share_to(a, sh, cand[i], i == 0 ? delta - share * (int64_t)(n - 1) : share);
	}
}

/* The kernel adds a running thread's CPU time to schedstat only at its scheduler ticks
 * and switches, so a thread that held the GIL at both ends of a millisecond, and so ran
 * until now, shows less than it ran: it is credited with the part of the interval nobody
 * else's CPU time explains.  (A thread that took the GIL just now is not: the part
 * unexplained may be time when nobody ran.) */
static void credit_holder(struct attrib *a, uint64_t *ran, uint64_t elapsed_ns,
			  const uint64_t *holders, size_t nholders)
{
	uint64_t others = 0;
	size_t h = a->nmicro;

	if (nholders != 1 || a->nmicro_prev != 1 || a->micro_prev[0] != holders[0] ||
	    a->micro_switched)
		return;
	for (size_t i = 0; i < a->nmicro; i++) {
		if (a->micro[i].tstate == holders[0])
			h = i;
		else
			others += ran[i];
	}
	if (h < a->nmicro && elapsed_ns > others && ran[h] < elapsed_ns - others)
		ran[h] = elapsed_ns - others;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* GIL holders now or before (prev[]) that are not micro threads, or have no CPU reading
 * yet: threads started since the last stack sample (a server's thread per request).  They
 * ran Python code then.  So did a holder whose CPU time (ran[]) did not move: the kernel
 * adds a thread's time at its ticks and when it leaves its CPU, so a thread still on its
 * CPU since before the last reading (one that let the GIL go for a hash or a send) shows
 * none yet. */
static size_t fresh_holders(const struct attrib *a, const uint64_t *ran, const uint64_t *holders,
			    size_t nholders, const uint64_t *prev, size_t nprev, uint64_t *out)
{
	size_t n = 0;

	for (size_t i = 0; i < nholders + nprev; i++) {
		uint64_t t = i < nholders ? holders[i] : prev[i - nholders];
		int known = 0;
		for (size_t k = 0; k < a->nmicro && !known; k++)
			known = a->micro[k].tstate == t && a->micro[k].primed && ran[k];
		for (size_t k = 0; k < n && !known; k++)
			known = out[k] == t;
		if (!known && n < 2 * MAX_HOLDERS)
			out[n++] = t;
	}
	return n;
}

/* Only the threads in only[] (when nonly) keep their CPU time. */
static void ran_only(const struct attrib *a, uint64_t *ran, const uint64_t *only, size_t nonly)
{
	for (size_t i = 0; nonly && i < a->nmicro; i++) {
		size_t k = 0;
		while (k < nonly && only[k] != a->micro[i].tstate)
			k++;
		if (k == nonly)
			ran[i] = 0;
	}
}

/* Split by the CPU time each thread ran since its last reading (only those in only[]
 * when nonly: then they are the holders too).  Fresh GIL holders share the part of the
 * interval the micro threads' CPU time does not explain. */
static void micro_by_cpu(struct attrib *a, struct shares *sh, int64_t delta,
			 const uint64_t *holders, size_t nholders, const uint64_t *only,
			 size_t nonly)
{
	uint64_t ran[MICRO_THREADS], fresh[2 * MAX_HOLDERS], total = 0, now = mono_ns();
	uint64_t elapsed = a->last_micro_ns ? now - a->last_micro_ns : 0;

	if (nonly) {
		holders = only;
		nholders = nonly;
	}
	int primed[MICRO_THREADS];
	for (size_t i = 0; i < a->nmicro; i++)
		primed[i] = a->micro[i].primed;
	micro_ran(a, ran);
	ran_only(a, ran, only, nonly);
	if (elapsed)
		credit_holder(a, ran, elapsed, holders, nholders);
	for (size_t i = 0; i < a->nmicro; i++) /* no reading before this one: no time yet */
		ran[i] = primed[i] ? ran[i] : 0;
	size_t nfresh = fresh_holders(a, ran, holders, nholders, nonly ? NULL : a->micro_prev,
				      nonly ? 0 : a->nmicro_prev, fresh);
	a->last_micro_ns = now;
	for (size_t i = 0; i < a->nmicro; i++)
		total += ran[i];
	uint64_t fresh_ran = nfresh && elapsed > total ? (elapsed - total) / nfresh : 0;
	if (total + fresh_ran * nfresh == 0) {
		micro_by_gil(a, sh, delta, holders, nholders);
		return;
	}
	double all = (double)(total + fresh_ran * nfresh);
	int64_t given = 0, top_ran = -1;
	uint64_t top = 0;
	for (size_t i = 0; i < a->nmicro + nfresh; i++) {
		uint64_t r = i < a->nmicro ? ran[i] : fresh_ran;
		uint64_t t = i < a->nmicro ? a->micro[i].tstate : fresh[i - a->nmicro];
		int64_t share = (int64_t)((double)delta * (double)r / all);
		if ((int64_t)r > top_ran) {
			top_ran = (int64_t)r;
			top = t;
		}
		given += share;
		if (share)
			share_to(a, sh, t, share);
	}
	if (delta != given)
		share_to(a, sh, top, delta - given);
}

/* The one thread that can have made the change: the GIL's holder at both ends of the
 * interval (it need not be a thread of the last stack sample: a thread started since, as
 * servers do per request), or the only thread.  A holder at one end only may have taken
 * the GIL from, or left it to, a thread that ran C code without it: CPU time decides. */
static uint64_t sole_runner(const struct attrib *a, const uint64_t *holders, size_t nholders)
{
	if (nholders == 1 && a->nmicro_prev == 1 && a->micro_prev[0] == holders[0] &&
	    !a->micro_switched)
		return holders[0];
	/* the only thread: unless a thread that is not one of its samples held the GIL */
	uint64_t only = a->nmicro == 1 ? a->micro[0].tstate : 0;
	if (only && nholders <= 1 && (nholders == 0 || holders[0] == only) && a->nmicro_prev <= 1 &&
	    (a->nmicro_prev == 0 || a->micro_prev[0] == only))
		return only;
	return 0;
}

/* Which threads the GIL's last holder and switch count allow (pymalloc's pools change only
 * under the GIL): 1 and the thread in pair[0] when none but the last holder held it since
 * the last call; 2 and both last holders when it changed hands once; else 0. */
static size_t gil_allows(const struct attrib *a, const struct attrib_gil *g, uint64_t *pair)
{
	uint64_t prev = a->micro_prev_last, before = a->micro_prev_switches;

	if (!g->last || !prev || g->switches == GIL_SWITCHES_UNKNOWN ||
	    before == GIL_SWITCHES_UNKNOWN)
		return 0;
	pair[0] = prev;
	pair[1] = g->last;
	if (g->switches == before && g->last == prev)
		return 1;
	return g->switches == before + 1 && g->last != prev ? 2 : 0;
}

/* The one thread that made the change, when the GIL says so (allowed, pair: gil_allows).
 * No switch: the last holder.  One hand-over, and nobody held the GIL at the reading
 * before: the thread that let it go had let go by then, so all it changed was in that
 * reading, and the change since is the taker's (unless the one that let go took the GIL
 * back meanwhile and let go again before the taker came, which a thread holding it a few
 * microseconds at a time does: docs/memory.md).  Else sole_runner. */
static uint64_t sole_of(const struct attrib *a, size_t allowed, const uint64_t *pair,
			const struct attrib_gil *g)
{
	if (allowed == 1)
		return pair[0];
	if (allowed == 2 && a->nmicro_prev == 0)
		return pair[1];
	return sole_runner(a, g->holders, g->n);
}

size_t attrib_micro(struct attrib *a, int64_t delta, const struct attrib_gil *g,
		    struct attrib_share *out, size_t max)
{
	struct shares sh = {out, 0, max};
	uint64_t pair[2] = {0, 0};
	size_t allowed = gil_allows(a, g, pair);

	a->micro_switched = g->switches != GIL_SWITCHES_UNKNOWN &&
			    a->micro_prev_switches != GIL_SWITCHES_UNKNOWN &&
			    g->switches != a->micro_prev_switches;
	a->micro_prev_switches = g->switches;
	a->micro_prev_last = g->last;
	uint64_t sole = delta ? sole_of(a, allowed, pair, g) : 0;

	if (sole)
		share_to(a, &sh, sole, delta);
	else if (delta)
		micro_by_cpu(a, &sh, delta, g->holders, g->n, pair, allowed == 2 ? 2 : 0);
	for (size_t i = 0; i < sh.n; i++)
		for (size_t k = 0; k < a->nmicro_prev && !sh.v[i].held_before; k++)
			sh.v[i].held_before = a->micro_prev[k] == sh.v[i].tstate;
	a->nmicro_prev = 0;
	for (size_t i = 0; i < g->n && i < MAX_HOLDERS; i++)
		a->micro_prev[a->nmicro_prev++] = g->holders[i];
	return sh.n;
}

void attrib_keep(struct attrib *a, uint64_t tstate, int64_t bytes)
{
	keep_for(a, tstate, bytes);
}

void attrib_micro_adopt(struct attrib *a, uint64_t tstate, int64_t tid)
{
	if (tid <= 0)
		return;
	for (size_t k = 0; k < a->nmicro; k++)
		if (a->micro[k].tstate == tstate && a->micro[k].tid == tid)
			return;
	if (a->nmicro < MICRO_THREADS)
		a->micro[a->nmicro++] =
		    (struct mthread){tid, tstate, attrib_slot_for(a, tid), 0, 0};
}

int64_t attrib_take_kept(struct attrib *a, uint64_t tstate)
{
	for (size_t i = 0; i < a->nkept; i++)
		if (a->kept[i].tstate == tstate) {
			int64_t bytes = a->kept[i].bytes;
			a->kept[i] = a->kept[--a->nkept];
			return bytes;
		}
	return 0;
}

/* The threads micro-samples will read: those of sample s that have a kernel TID (their
 * CPU baselines carry over). */
void attrib_set_micro_threads(struct attrib *a, const struct walk_sample *s)
{
	struct mthread next[MICRO_THREADS];
	size_t n = 0;

	for (size_t i = 0; i < s->nthreads && n < MICRO_THREADS; i++) {
		int64_t tid = s->threads[i].native_id;
		if (tid <= 0)
			continue;
		struct mthread m = {tid, s->threads[i].tstate, attrib_slot_for(a, tid), 0, 0};
		for (size_t k = 0; k < a->nmicro; k++)
			if (a->micro[k].tid == tid && a->micro[k].slot == m.slot) {
				m.base_ns = a->micro[k].base_ns;
				m.primed = a->micro[k].primed;
			}
		next[n++] = m;
	}
	memcpy(a->micro, next, n * sizeof *next);
	a->nmicro = n;
}

/* What attrib_micro kept for the threads of s goes to them.  What it kept for threads that
 * ended meanwhile (a server's thread per request, gone before it had a frame or a name) is
 * charged to no thread: it was theirs, so none of the threads left may take it.  What no
 * thread could be named for (no GIL holder, no CPU time) is returned, to be split like
 * any other change. */
int64_t attrib_hand_out_kept(struct attrib *a, const struct walk_sample *s, int64_t *charged)
{
	int64_t left = a->unheld;

	for (size_t k = 0; k < a->nkept; k++) {
		size_t i = 0;
		while (i < s->nthreads && s->threads[i].tstate != a->kept[k].tstate)
			i++;
		if (i < s->nthreads)
			charged[i] += a->kept[k].bytes;
		else
			a->unattributed += a->kept[k].bytes;
	}
	a->nkept = 0;
	a->unheld = 0;
	return left;
}
