#include "sampler/attrib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "sampler/gil.h"
#include "sampler/taskclock.h"

#include "sampler/attrib_int.h"

int attrib_statm_open(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

struct attrib *attrib_new(pid_t pid)
{
	struct attrib *a = xcalloc(1, sizeof *a);

	a->pid = pid;
	a->page_size = sysconf(_SC_PAGESIZE);
	a->statm_fd = attrib_statm_open(pid);
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

int attrib_statm(int fd, long page_size, uint64_t *rss, uint64_t *anon)
{
	char buf[128];
	unsigned long long size, resident, shared;

	if (read_small(fd, buf, sizeof buf) < 0 ||
	    sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return -1;
	*rss = resident * (uint64_t)page_size;
	*anon = (resident > shared ? resident - shared : 0) * (uint64_t)page_size;
	return 0;
}

int attrib_mem(struct attrib *a, uint64_t *rss, uint64_t *anon)
{
	return attrib_statm(a->statm_fd, a->page_size, rss, anon);
}

static int open_task_file(const struct attrib *a, int64_t tid, const char *name)
{
	char path[96];

	snprintf(path, sizeof path, "/proc/%d/task/%lld/%s", (int)a->pid, (long long)tid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

struct cpu_slot *attrib_slot_for(struct attrib *a, int64_t tid)
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
		a->used = xgrow(a->used, &a->used_cap, a->nused + 1, sizeof *a->used);
		a->used[a->nused++] = (uint32_t)(oldest - a->slots);
	} else {
		slot_close(a, oldest);
	}
	oldest->tid = tid;
	oldest->transient = a->open_fds + 2 > SLOT_FDS_MAX;
	/* a slot never used is zeroed: descriptor 0 is not ours (a transient slot closed
	 * later would close whatever holds 0 by then, such as a thread's .mem file) */
	oldest->sched_fd = oldest->stat_fd = -1;
	if (!oldest->transient) {
		oldest->sched_fd = open_task_file(a, tid, "schedstat");
		oldest->stat_fd = open_task_file(a, tid, "stat");
		a->open_fds += (oldest->sched_fd >= 0) + (oldest->stat_fd >= 0);
	}
	oldest->seen = 0;
	oldest->flt_at = 0;
	return oldest;
}

/* The fields of a /proc/.../stat line from the state on: after the ")" closing the command
 * name (which may itself hold spaces and parentheses); NULL when there is none. */
static const char *stat_state(const char *buf)
{
	const char *p = strrchr(buf, ')');

	return p && p[1] == ' ' && p[2] ? p + 2 : NULL;
}

/* Field n of a /proc/.../stat line counted from the state (0) on; NULL when there is none. */
static const char *stat_field(const char *buf, int n)
{
	const char *p = stat_state(buf);

	for (int field = 0; p && field < n; field++) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	return p;
}

/* Minor faults from a /proc/.../stat line: the 8th field from the state on. */
static int parse_minflt(const char *buf, uint64_t *out)
{
	const char *p = stat_field(buf, 7);
	unsigned long long v;

	if (!p || sscanf(p, "%llu", &v) != 1)
		return -1;
	*out = v;
	return 0;
}

/* The CPU the thread last ran on, from a /proc/.../stat line: the 37th field from the
 * state on ("processor"). */
static int parse_processor(const char *buf, int *out)
{
	const char *p = stat_field(buf, 36);
	int v;

	if (!p || sscanf(p, "%d", &v) != 1 || v < 0)
		return -1;
	*out = v;
	return 0;
}

int attrib_thread_runs(struct attrib *a, int64_t tid)
{
	char buf[1024];

	if (tid <= 0)
		return -1;
	struct cpu_slot *s = attrib_slot_for(a, tid);
	if (attrib_slot_read(a, s, 1, buf, sizeof buf) != 0)
		return -1;
	const char *state = stat_state(buf);
	return state ? *state == 'R' : -1;
}

/* The thread's CPU time and minor faults now.  The CPU time is the stack walker's reading
 * when it made one; the faults are not read again when the thread has provably not run
 * since they were last read (only the thread itself takes its faults). */
/* One of a slot's files, read whole: from its kept descriptor, or opened for this reading. */
int attrib_slot_read(const struct attrib *a, const struct cpu_slot *s, int stat, char *buf,
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
	else if (attrib_slot_read(a, s, 0, buf, sizeof buf) == 0 && sscanf(buf, "%llu", &v) == 1)
		*ns = v;
	if (th->quiet_since && s->flt_at && s->flt_at >= th->quiet_since) {
		*flt = s->flt;
		return;
	}
	uint64_t at = taskclock_now();
	if (attrib_slot_read(a, s, 1, buf, sizeof buf) == 0 && parse_minflt(buf, flt) == 0) {
		int cpu;
		s->flt = *flt;
		s->flt_at = at;
		s->cpu_plus1 = parse_processor(buf, &cpu) == 0 ? cpu + 1 : 0;
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
	struct cpu_slot *s = attrib_slot_for(a, tid);
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
	if (out->ran_ns > 0)
		s->ran_at = a->samples;
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
		a->act_cap = xgrow_cap(a->act_cap, n);
		a->act = xreallocarray(a->act, a->act_cap, sizeof *a->act);
		a->w = xreallocarray(a->w, a->act_cap, sizeof *a->w);
		a->part = xreallocarray(a->part, a->act_cap, sizeof *a->part);
	}
	for (size_t i = 0; i < n; i++) {
		charged[i] = 0;
		activity_of(a, &s->threads[i], known, &a->act[i]);
		a->act[i].gil = s->threads[i].holds_gil || held_before(a, s->threads[i].tstate);
	}
	forget_gone(a);
	int64_t left = attrib_hand_out_kept(a, s, charged);
	attrib_set_micro_threads(a, s);
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

void attrib_split_again(struct attrib *a, const struct walk_sample *s, int64_t amount,
			int64_t *part)
{
	size_t n = s->nthreads;

	for (size_t i = 0; i < n; i++)
		part[i] = 0;
	if (amount != 0 && n > 0 && n <= a->act_cap && !charge_by(a, n, amount, W_CPU, part))
		charge_by(a, n, amount, W_GIL, part);
}

void attrib_ran_cpus(const struct attrib *a, cpu_set_t *set)
{
	for (size_t i = 0; i < a->nused; i++) {
		const struct cpu_slot *s = &a->slots[a->used[i]];
		if (s->tid > 0 && s->ran_at == a->samples && a->samples > 0 && s->cpu_plus1 > 0 &&
		    s->cpu_plus1 <= CPU_SETSIZE)
			CPU_SET((size_t)(s->cpu_plus1 - 1), set);
	}
}

int64_t attrib_unattributed(const struct attrib *a)
{
	return a->unattributed;
}
