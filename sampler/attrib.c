#include "sampler/attrib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "sampler/taskclock.h"

#define CPU_SLOTS 4096
#define PROBES 16
/* Descriptors the slots keep open, at most: a thread beyond them has its /proc files
 * opened, read and closed at each reading, so tgattach's descriptors do not grow with the
 * target's threads (a 500-thread server under the common limit of 1024). */
#define SLOT_FDS_MAX 64
/* A thread missing from this many stack samples in a row is taken for gone. */
#define GONE_AFTER_SAMPLES 4
#define MAX_HOLDERS 64	 /* GIL holders remembered from the previous sample (one per GIL) */
#define MICRO_THREADS 64 /* threads whose CPU time each micro-sample reads */

struct cpu_slot {
	int64_t tid;	   /* 0 = never used, -1 = free again */
	int sched_fd;	   /* /proc/PID/task/TID/schedstat, -1 when none (once used) */
	int stat_fd;	   /* /proc/PID/task/TID/stat */
	int transient;	   /* over SLOT_FDS_MAX: the files are opened for each reading */
	uint64_t base_ns;  /* CPU time at the last charge */
	uint64_t base_flt; /* minor faults at the last charge */
	uint64_t seen;	   /* sample number when last seen, to recycle slots of dead threads */
	uint64_t flt;	   /* minor faults at the last read of stat_fd */
	uint64_t flt_at;   /* monotonic ns just before that read; 0: none */
};

/* What one thread did since the last charge. */
struct activity {
	uint64_t ran_ns, faults;
	int gil;
};

struct attrib {
	pid_t pid;
	int statm_fd;
	long page_size;
	uint64_t samples;
	int64_t unattributed;
	struct cpu_slot slots[CPU_SLOTS]; /* untouched (zero) until used: cheap to create */
	uint32_t *used;			  /* indices of the slots ever used, to close them */
	size_t nused, used_cap;
	size_t open_fds;      /* descriptors the slots hold */
	struct activity *act; /* per sampled thread, reused */
	uint64_t *w;	      /* weights, per sampled thread, reused */
	int64_t *part;	      /* a split, per sampled thread, reused */
	size_t act_cap;
	uint64_t holders[MAX_HOLDERS];
	size_t nholders;
	/* attrib_micro: changes kept per GIL holder, the holders of its last call, and the
	 * change seen while nobody held a GIL */
	struct kept {
		uint64_t tstate;
		int64_t bytes;
	} kept[MAX_HOLDERS];
	size_t nkept;
	uint64_t micro_prev[MAX_HOLDERS];
	size_t nmicro_prev;
	int64_t unheld;
	/* the threads of the last stack sample, whose CPU time micro-samples read */
	uint64_t last_micro_ns; /* monotonic time of the last attrib_micro() */
	uint64_t micro_proc_ns; /* the process's CPU time just before the micro threads' */
	int micro_proc_ok;	/* ... was read */
	struct mthread {
		int64_t tid;
		uint64_t tstate;
		struct cpu_slot *slot;
		uint64_t base_ns;
		int primed;
	} micro[MICRO_THREADS];
	size_t nmicro;
};

struct attrib *attrib_new(pid_t pid)
{
	struct attrib *a = xcalloc(1, sizeof *a);
	char path[64];

	a->pid = pid;
	a->page_size = sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	a->statm_fd = open(path, O_RDONLY | O_CLOEXEC);
	return a;
}

static void slot_close(struct attrib *a, struct cpu_slot *s)
{
	if (s->sched_fd >= 0)
		close(s->sched_fd), a->open_fds--;
	if (s->stat_fd >= 0)
		close(s->stat_fd), a->open_fds--;
	s->sched_fd = s->stat_fd = -1;
}

void attrib_free(struct attrib *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nused; i++)
		slot_close(a, &a->slots[a->used[i]]);
	free(a->used);
	if (a->statm_fd >= 0)
		close(a->statm_fd);
	free(a->act);
	free(a->w);
	free(a->part);
	free(a);
}

static int read_small(int fd, char *buf, size_t len)
{
	ssize_t n = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int attrib_mem(struct attrib *a, uint64_t *rss, uint64_t *anon)
{
	char buf[128];
	unsigned long long size, resident, shared;

	if (read_small(a->statm_fd, buf, sizeof buf) < 0 ||
	    sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return -1;
	*rss = resident * (uint64_t)a->page_size;
	*anon = (resident > shared ? resident - shared : 0) * (uint64_t)a->page_size;
	return 0;
}

static int open_task_file(const struct attrib *a, int64_t tid, const char *name)
{
	char path[96];

	snprintf(path, sizeof path, "/proc/%d/task/%lld/%s", (int)a->pid, (long long)tid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static struct cpu_slot *slot_for(struct attrib *a, int64_t tid)
{
	size_t h = (size_t)tid % CPU_SLOTS;
	struct cpu_slot *oldest = NULL;

	for (size_t k = 0; k < PROBES; k++) {
		struct cpu_slot *s = &a->slots[(h + k) % CPU_SLOTS];
		if (s->tid == tid)
			return s;
		if (!oldest || s->seen < oldest->seen)
			oldest = s;
	}
	/* take over the least recently seen slot (its thread is gone or idle) */
	if (oldest->tid == 0) {
		if (a->nused == a->used_cap) {
			a->used_cap = a->used_cap ? a->used_cap * 2 : 16;
			a->used = xrealloc(a->used, a->used_cap * sizeof *a->used);
		}
		a->used[a->nused++] = (uint32_t)(oldest - a->slots);
	} else {
		slot_close(a, oldest);
	}
	oldest->tid = tid;
	oldest->transient = a->open_fds + 2 > SLOT_FDS_MAX;
	if (!oldest->transient) {
		oldest->sched_fd = open_task_file(a, tid, "schedstat");
		oldest->stat_fd = open_task_file(a, tid, "stat");
		a->open_fds += (oldest->sched_fd >= 0) + (oldest->stat_fd >= 0);
	}
	oldest->seen = 0;
	oldest->flt_at = 0;
	return oldest;
}

/* Minor faults from a /proc/.../stat line: the 8th field after the ")" closing the
 * command name (which may itself hold spaces and parentheses). */
static int parse_minflt(const char *buf, uint64_t *out)
{
	const char *p = strrchr(buf, ')');
	unsigned long long v;

	if (!p)
		return -1;
	for (int field = 0; field < 7; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	if (sscanf(p + 1, "%*s %llu", &v) != 1)
		return -1;
	*out = v;
	return 0;
}

/* The thread's CPU time and minor faults now.  The CPU time is the stack walker's reading
 * when it made one; the faults are not read again when the thread has provably not run
 * since they were last read (only the thread itself takes its faults). */
/* One of a slot's files, read whole: from its kept descriptor, or opened for this reading. */
static int slot_read(const struct attrib *a, const struct cpu_slot *s, int stat, char *buf,
		     size_t len)
{
	if (!s->transient)
		return read_small(stat ? s->stat_fd : s->sched_fd, buf, len);
	int fd = open_task_file(a, s->tid, stat ? "stat" : "schedstat");
	int rc = read_small(fd, buf, len);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void read_counts(const struct attrib *a, struct cpu_slot *s, const struct walk_thread *th,
			uint64_t *ns, uint64_t *flt)
{
	char buf[1024];
	unsigned long long v;

	*ns = *flt = 0;
	if (th->cpu_known)
		*ns = th->cpu_ns;
	else if (slot_read(a, s, 0, buf, sizeof buf) == 0 && sscanf(buf, "%llu", &v) == 1)
		*ns = v;
	if (th->quiet_since && s->flt_at && s->flt_at >= th->quiet_since) {
		*flt = s->flt;
		return;
	}
	uint64_t at = taskclock_now();
	if (slot_read(a, s, 1, buf, sizeof buf) == 0 && parse_minflt(buf, flt) == 0) {
		s->flt = *flt;
		s->flt_at = at;
	}
}

/* CPU time and faults of thread th since the last charge (0 the first time).  The
 * baselines move only when advance is set. */
static void activity_of(struct attrib *a, const struct walk_thread *th, int advance,
			struct activity *out)
{
	int64_t tid = th->native_id;
	uint64_t ns, flt;

	out->ran_ns = out->faults = 0;
	if (tid <= 0)
		return;
	struct cpu_slot *s = slot_for(a, tid);
	int first = s->seen == 0;
	s->seen = a->samples;
	read_counts(a, s, th, &ns, &flt);
	if (first) {
		s->base_ns = ns;
		s->base_flt = flt;
		return;
	}
	out->ran_ns = ns > s->base_ns ? ns - s->base_ns : 0;
	out->faults = flt > s->base_flt ? flt - s->base_flt : 0;
	if (advance) {
		s->base_ns = ns;
		s->base_flt = flt;
	}
}

static int held_before(const struct attrib *a, uint64_t tstate)
{
	for (size_t i = 0; i < a->nholders; i++)
		if (a->holders[i] == tstate)
			return 1;
	return 0;
}

static void add_holders(struct attrib *a, const struct walk_sample *s)
{
	for (size_t i = 0; i < s->nthreads && a->nholders < MAX_HOLDERS; i++)
		if (s->threads[i].holds_gil && !held_before(a, s->threads[i].tstate))
			a->holders[a->nholders++] = s->threads[i].tstate;
}

/* charged[i] = delta * w[i] / total, the rounding remainder to the largest weight. */
static void split(const uint64_t *w, size_t n, uint64_t total, int64_t delta, int64_t *charged)
{
	int64_t given = 0;
	size_t top = 0;

	for (size_t i = 0; i < n; i++) {
		charged[i] = (int64_t)((double)delta * (double)w[i] / (double)total);
		given += charged[i];
		if (w[i] > w[top])
			top = i;
	}
	charged[top] += delta - given;
}

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
		if (m->slot->tid != m->tid || slot_read(a, m->slot, 0, buf, sizeof buf) < 0 ||
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
		sh->v[sh->n++] = (struct attrib_share){tstate, bytes};
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

	if (nholders != 1 || a->nmicro_prev != 1 || a->micro_prev[0] != holders[0])
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

/* Split by the CPU time each thread ran since its last reading. */
static void micro_by_cpu(struct attrib *a, struct shares *sh, int64_t delta,
			 const uint64_t *holders, size_t nholders)
{
	uint64_t ran[MICRO_THREADS], total = 0, now = mono_ns();

	micro_ran(a, ran);
	if (a->last_micro_ns)
		credit_holder(a, ran, now - a->last_micro_ns, holders, nholders);
	a->last_micro_ns = now;
	for (size_t i = 0; i < a->nmicro; i++)
		total += ran[i];
	if (total == 0) {
		micro_by_gil(a, sh, delta, holders, nholders);
		return;
	}
	int64_t given = 0;
	size_t top = 0;
	for (size_t i = 0; i < a->nmicro; i++) {
		int64_t share = (int64_t)((double)delta * (double)ran[i] / (double)total);
		if (ran[i] > ran[top])
			top = i;
		given += share;
		if (share)
			share_to(a, sh, a->micro[i].tstate, share);
	}
	if (delta != given)
		share_to(a, sh, a->micro[top].tstate, delta - given);
}

/* The one thread that can have made the change: the GIL's holder at both ends of the
 * interval (it need not be a thread of the last stack sample: a thread started since, as
 * servers do per request), or the only thread.  A holder at one end only may have taken
 * the GIL from, or left it to, a thread that ran C code without it: CPU time decides. */
static uint64_t sole_runner(const struct attrib *a, const uint64_t *holders, size_t nholders)
{
	if (nholders == 1 && a->nmicro_prev == 1 && a->micro_prev[0] == holders[0])
		return holders[0];
	if (a->nmicro == 1 && nholders <= 1 && (nholders == 0 || holders[0] == a->micro[0].tstate))
		return a->micro[0].tstate;
	return 0;
}

size_t attrib_micro(struct attrib *a, int64_t delta, const uint64_t *holders, size_t nholders,
		    struct attrib_share *out, size_t max)
{
	struct shares sh = {out, 0, max};
	uint64_t sole = delta ? sole_runner(a, holders, nholders) : 0;

	if (sole)
		share_to(a, &sh, sole, delta);
	else if (delta)
		micro_by_cpu(a, &sh, delta, holders, nholders);
	a->nmicro_prev = 0;
	for (size_t i = 0; i < nholders && i < MAX_HOLDERS; i++)
		a->micro_prev[a->nmicro_prev++] = holders[i];
	return sh.n;
}

void attrib_keep(struct attrib *a, uint64_t tstate, int64_t bytes)
{
	keep_for(a, tstate, bytes);
}

/* The threads micro-samples will read: those of sample s that have a kernel TID (their
 * CPU baselines carry over). */
static void set_micro_threads(struct attrib *a, const struct walk_sample *s)
{
	struct mthread next[MICRO_THREADS];
	size_t n = 0;

	for (size_t i = 0; i < s->nthreads && n < MICRO_THREADS; i++) {
		int64_t tid = s->threads[i].native_id;
		if (tid <= 0)
			continue;
		struct mthread m = {tid, s->threads[i].tstate, slot_for(a, tid), 0, 0};
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

/* What attrib_micro kept for the threads of s goes to them; the rest (threads that ended)
 * is returned, to be split like any other change. */
static int64_t hand_out_kept(struct attrib *a, const struct walk_sample *s, int64_t *charged)
{
	int64_t left = a->unheld;

	for (size_t k = 0; k < a->nkept; k++) {
		size_t i = 0;
		while (i < s->nthreads && s->threads[i].tstate != a->kept[k].tstate)
			i++;
		if (i < s->nthreads)
			charged[i] += a->kept[k].bytes;
		else
			left += a->kept[k].bytes;
	}
	a->nkept = 0;
	a->unheld = 0;
	return left;
}

enum weight { W_FAULTS, W_CPU, W_GIL };

static uint64_t weight_of(const struct activity *act, enum weight kind)
{
	return kind == W_FAULTS ? act->faults : kind == W_CPU ? act->ran_ns : (uint64_t)act->gil;
}

/* Charge by the first kind of evidence that names anyone. */
static int charge_by(struct attrib *a, size_t n, int64_t delta, enum weight kind, int64_t *charged)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += weight_of(&a->act[i], kind);
	if (total == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		a->w[i] = weight_of(&a->act[i], kind);
	split(a->w, n, total, delta, charged);
	return 1;
}

/* The descriptors of threads gone from the samples are closed and their slots freed: a
 * server that starts a thread per request would otherwise run out of descriptors. */
static void forget_gone(struct attrib *a)
{
	for (size_t i = 0; i < a->nused; i++) {
		struct cpu_slot *s = &a->slots[a->used[i]];
		if (s->tid > 0 && s->seen + GONE_AFTER_SAMPLES < a->samples) {
			slot_close(a, s);
			s->tid = -1; /* free, but listed in used already */
			s->seen = 0;
		}
	}
}

void attrib_charge(struct attrib *a, const struct walk_sample *s, int64_t delta, int64_t *charged)
{
	int known = delta != ATTRIB_UNKNOWN;
	size_t n = s->nthreads;

	a->samples++;
	if (n > a->act_cap) {
		a->act_cap = n * 2;
		a->act = xrealloc(a->act, a->act_cap * sizeof *a->act);
		a->w = xrealloc(a->w, a->act_cap * sizeof *a->w);
		a->part = xrealloc(a->part, a->act_cap * sizeof *a->part);
	}
	for (size_t i = 0; i < n; i++) {
		charged[i] = 0;
		activity_of(a, &s->threads[i], known, &a->act[i]);
		a->act[i].gil = s->threads[i].holds_gil || held_before(a, s->threads[i].tstate);
	}
	forget_gone(a);
	int64_t left = hand_out_kept(a, s, charged);
	set_micro_threads(a, s);
	if (!known) {
		a->unheld = left;  /* kept for the next known delta */
		add_holders(a, s); /* the span goes on: any of them may have held it */
		return;
	}
	a->nholders = 0;
	add_holders(a, s);
	delta += left;
	if (delta == 0)
		return;
	int64_t *split_into = a->part;
	for (size_t i = 0; i < n; i++)
		split_into[i] = 0;
	if (!(n > 0 && delta > 0 && charge_by(a, n, delta, W_FAULTS, split_into)) &&
	    !(n > 0 && (charge_by(a, n, delta, W_CPU, split_into) ||
			charge_by(a, n, delta, W_GIL, split_into))))
		a->unattributed += delta;
	for (size_t i = 0; i < n; i++)
		charged[i] += split_into[i];
}

int64_t attrib_unattributed(const struct attrib *a)
{
	return a->unattributed;
}
