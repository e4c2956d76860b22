#include "sampler/attrib.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

#define CPU_SLOTS 4096

struct cpu_slot {
	int64_t tid;     /* 0 = free */
	int fd;          /* /proc/PID/task/TID/schedstat */
	uint64_t last_ns;
	uint64_t seen;   /* sample number when last seen, to recycle slots of dead threads */
};

struct attrib {
	pid_t pid;
	int statm_fd;
	long page_size;
	uint64_t samples;
	int64_t unattributed;
	struct cpu_slot slots[CPU_SLOTS];
	uint64_t *ran_ns; /* per sampled thread, reused */
	size_t ran_cap;
};

struct attrib *attrib_new(pid_t pid)
{
	struct attrib *a = xcalloc(1, sizeof *a);
	char path[64];

	a->pid = pid;
	a->page_size = sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	a->statm_fd = open(path, O_RDONLY | O_CLOEXEC);
	for (size_t i = 0; i < CPU_SLOTS; i++)
		a->slots[i].fd = -1;
	return a;
}

void attrib_free(struct attrib *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < CPU_SLOTS; i++)
		if (a->slots[i].fd >= 0)
			close(a->slots[i].fd);
	if (a->statm_fd >= 0)
		close(a->statm_fd);
	free(a->ran_ns);
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

int attrib_rss(struct attrib *a, uint64_t *rss)
{
	char buf[128];
	unsigned long long size, resident;

	if (read_small(a->statm_fd, buf, sizeof buf) < 0 ||
	    sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return -1;
	*rss = resident * (uint64_t)a->page_size;
	return 0;
}

static struct cpu_slot *slot_for(struct attrib *a, int64_t tid)
{
	size_t h = (size_t)tid % CPU_SLOTS;
	struct cpu_slot *oldest = NULL;

	for (size_t k = 0; k < 16; k++) {
		struct cpu_slot *s = &a->slots[(h + k) % CPU_SLOTS];
		if (s->tid == tid)
			return s;
		if (!oldest || s->seen < oldest->seen)
			oldest = s;
	}
	/* take over the least recently seen slot (its thread is gone or idle) */
	char path[96];
	if (oldest->fd >= 0)
		close(oldest->fd);
	snprintf(path, sizeof path, "/proc/%d/task/%lld/schedstat", (int)a->pid, (long long)tid);
	oldest->tid = tid;
	oldest->fd = open(path, O_RDONLY | O_CLOEXEC);
	oldest->last_ns = 0;
	oldest->seen = 0;
	return oldest;
}

/* CPU nanoseconds thread tid ran since the previous call for it (0 the first time). */
static uint64_t ran_since(struct attrib *a, int64_t tid)
{
	char buf[128];
	unsigned long long ns;

	if (tid <= 0)
		return 0;
	struct cpu_slot *s = slot_for(a, tid);
	uint64_t first = s->seen == 0;
	s->seen = a->samples;
	if (read_small(s->fd, buf, sizeof buf) < 0 || sscanf(buf, "%llu", &ns) != 1)
		return 0;
	uint64_t ran = first || ns < s->last_ns ? 0 : ns - s->last_ns;
	s->last_ns = ns;
	return ran;
}

static void charge_by_cpu(const uint64_t *ran, size_t n, uint64_t total, int64_t delta,
			  int64_t *charged)
{
	int64_t given = 0;
	size_t busiest = 0;

	for (size_t i = 0; i < n; i++) {
		charged[i] = (int64_t)((double)delta * (double)ran[i] / (double)total);
		given += charged[i];
		if (ran[i] > ran[busiest])
			busiest = i;
	}
	charged[busiest] += delta - given; /* rounding remainder */
}

void attrib_charge(struct attrib *a, const struct walk_sample *s, int64_t delta,
		   int64_t *charged)
{
	uint64_t total = 0;

	a->samples++;
	if (s->nthreads > a->ran_cap) {
		a->ran_cap = s->nthreads * 2;
		a->ran_ns = xrealloc(a->ran_ns, a->ran_cap * sizeof *a->ran_ns);
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		charged[i] = 0;
		a->ran_ns[i] = ran_since(a, s->threads[i].native_id);
		total += a->ran_ns[i];
	}
	if (delta == 0 || s->nthreads == 0)
		return;
	if (total > 0) {
		charge_by_cpu(a->ran_ns, s->nthreads, total, delta, charged);
		return;
	}
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].holds_gil) {
			charged[i] = delta;
			return;
		}
	a->unattributed += delta;
}

int64_t attrib_unattributed(const struct attrib *a)
{
	return a->unattributed;
}
