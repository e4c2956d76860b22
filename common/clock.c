#include "common/clock.h"

#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_real_s(void)
{
	return seconds(CLOCK_REALTIME);
}

double clock_mono_s(void)
{
	return seconds(CLOCK_MONOTONIC);
}

double clock_thread_cpu_s(void)
{
	return seconds(CLOCK_THREAD_CPUTIME_ID);
}

/* The file holds three numbers: time on a CPU (ns), time waiting on a run queue (ns), and
 * how many times the thread ran. */
int clock_thread_waited_s(double *out)
{
	char b[96];
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0)
		return -1;
	b[n] = 0;
	char *end;
	strtoull(b, &end, 10);
	if (end == b || *end != ' ')
		return -1;
	char *p = end + 1;
	unsigned long long wait_ns = strtoull(p, &end, 10);
	if (end == p)
		return -1;
	*out = (double)wait_ns / 1e9;
	return 0;
}
