#include "sampler/taskclock.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* clockid of the scheduler CPU clock of a whole process (linux/posix-timers.h: the pid,
 * inverted, above three bits; CPUCLOCK_SCHED is 2; no CPUCLOCK_PERTHREAD_MASK bit). */
#define CPUCLOCK_SCHED 2
#define PROCESS_SCHED_CLOCK(pid) ((clockid_t)((~(unsigned)(pid) << 3) | CPUCLOCK_SCHED))

/* Is any CPU running without ticks?  /sys/.../nohz_full exists only on kernels built for
 * it, and lists nothing, or "(null)", when no CPU is. */
static int nohz_full_cpus(void)
{
	char buf[256];
	int fd = open("/sys/devices/system/cpu/nohz_full", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] != '\0' && strcmp(buf, "(null)") != 0;
}

uint64_t taskclock_window(void)
{
	struct timespec res;

	if (nohz_full_cpus() || clock_getres(CLOCK_MONOTONIC_COARSE, &res) < 0)
		return 0;
	uint64_t tick = (uint64_t)res.tv_sec * 1000000000u + (uint64_t)res.tv_nsec;
	if (tick == 0 || tick > 100000000u) /* not a tick we know of */
		return 0;
	return 2 * tick;
}

uint64_t taskclock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void taskclock_init(struct taskclock *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

void taskclock_drop_fd(struct taskclock *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void taskclock_close(struct taskclock *c)
{
	if (c->fd >= 0)
		close(c->fd);
	taskclock_init(c);
}

static int open_schedstat(pid_t pid, int64_t tid)
{
	char path[96];

	snprintf(path, sizeof path, "/proc/%d/task/%lld/schedstat", (int)pid, (long long)tid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* The next decimal field of "TIME WAIT SWITCHES\n" (read for every thread at every
 * sample: no sscanf). */
static const char *field(const char *p, uint64_t *v)
{
	int digits = 0;

	*v = 0;
	while (*p == ' ')
		p++;
	for (; *p >= '0' && *p <= '9' && digits < 20; p++, digits++)
		*v = *v * 10 + (uint64_t)(*p - '0');
	return digits && (*p == ' ' || *p == '\n') ? p : NULL;
}

/* All zeros on a kernel that keeps no schedstat. */
static int parse_schedstat(int fd, uint64_t *ns, uint64_t *wait, uint64_t *switches)
{
	char buf[128];
	const char *p = buf;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(p = field(p, ns)) || !(p = field(p, wait)) || !field(p, switches) ||
	    (*ns == 0 && *switches == 0))
		return -1;
	return 0;
}

int taskclock_read(struct taskclock *c, pid_t pid, int64_t tid)
{
	uint64_t ns, wait, sw;

	if (tid <= 0) {
		taskclock_close(c);
		return -1;
	}
	if (c->tid != tid) {
		taskclock_close(c);
		c->tid = tid;
	}
	if (c->fd < 0) /* new, or let go by taskclock_drop_fd(): its history stays */
		c->fd = open_schedstat(pid, tid);
	uint64_t before = taskclock_now();
	if (c->fd < 0 || parse_schedstat(c->fd, &ns, &wait, &sw) < 0) {
		/* gone, or no schedstat: a later reading starts afresh (a reused TID must
		 * never inherit a dead thread's history) */
		taskclock_close(c);
		return -1;
	}
	if (!c->ok || ns != c->ns || sw != c->switches) {
		c->ns = ns;
		c->switches = sw;
		c->same_since = taskclock_now();
	}
	c->ok = 1;
	c->read_at = before;
	return 0;
}

uint64_t taskclock_quiet_since(const struct taskclock *c, uint64_t window)
{
	if (!c->ok || window == 0 || c->read_at <= c->same_since ||
	    c->read_at - c->same_since <= window)
		return 0;
	return c->same_since;
}

int taskclock_process(pid_t pid, uint64_t *ns)
{
	struct timespec ts;

	if (pid <= 0 || clock_gettime(PROCESS_SCHED_CLOCK(pid), &ts) < 0)
		return -1;
	*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return 0;
}

int taskclock_self_waited(double *out)
{
	uint64_t ns, wait, sw;
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	int rc = parse_schedstat(fd, &ns, &wait, &sw);
	close(fd);
	if (rc < 0)
		return -1;
	*out = (double)wait / 1e9;
	return 0;
}
