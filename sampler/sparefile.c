#include "sampler/sparefile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/helper.h"
#include "common/xalloc.h"

#define SPARE_MAX SPAREFILE_MAX
#define SPARE_LOW (SPAREFILE_MAX / 2) /* fewer left: the helper makes more */

struct sparefile {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int dfd, flags, mode;
	int fds[SPARE_MAX];
	int n;
	int stop;   /* sparefile_stop() asks the helper to end */
	int failed; /* O_TMPFILE refused: no more spare files */
};

static void *helper(void *arg)
{
	struct sparefile *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		if (s->n >= SPARE_MAX || s->failed) {
			pthread_cond_wait(&s->wake, &s->lock);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		int fd = openat(s->dfd, ".", s->flags | O_TMPFILE | O_RDWR, s->mode);
		pthread_mutex_lock(&s->lock);
		if (fd < 0)
			s->failed = 1;
		else if (s->stop || s->n >= SPARE_MAX) /* full: one given back meanwhile */
			close(fd);
		else
			s->fds[s->n++] = fd;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct sparefile *sparefile_start(int dfd, int flags, int mode)
{
	struct sparefile *s = xcalloc(1, sizeof *s);

	s->dfd = dfd;
	s->flags = flags;
	s->mode = mode;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (helper_start(&s->thread, SCHED_IDLE, helper, s) != 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	return s;
}

/* Gives the anonymous file fd the name name in dfd.  AT_EMPTY_PATH names the descriptor
 * itself; kernels that keep it for CAP_DAC_READ_SEARCH refuse it (ENOENT), and the
 * descriptor's /proc/self/fd link does the same. */
static int name_it(int fd, int dfd, const char *name)
{
	char path[64];

	if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -1;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, path, dfd, name, AT_SYMLINK_FOLLOW);
}

int sparefile_take(struct sparefile *s, int dfd, const char *name)
{
	int fd = -1;

	/* the helper, a SCHED_IDLE thread, may be descheduled holding the lock for as long
	 * as the cores are busy: the loop never waits for it */
	if (pthread_mutex_trylock(&s->lock) != 0) {
		errno = EAGAIN;
		return -1;
	}
	if (s->n > 0)
		fd = s->fds[--s->n];
	if (s->n < SPARE_LOW)
		pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (fd < 0) {
		errno = EAGAIN;
		return -1;
	}
	if (name_it(fd, dfd, name) == 0)
		return fd;
	int e = errno;
	if (e == EEXIST && pthread_mutex_trylock(&s->lock) == 0) {
		/* still anonymous: kept for the next name */
		if (s->n < SPARE_MAX && !s->stop)
			s->fds[s->n++] = fd, fd = -1;
		pthread_mutex_unlock(&s->lock);
	}
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

void sparefile_stop(struct sparefile *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	for (int i = 0; i < s->n; i++)
		close(s->fds[i]);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
