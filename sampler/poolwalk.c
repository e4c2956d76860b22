#include "sampler/poolwalk.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "attach/remote.h"
#include "common/clock.h"
#include "common/helper.h"
#include "common/xalloc.h"
#include "sampler/attrib.h"
#include "sampler/taskclock.h"

struct poolwalk {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pid_t pid;
	struct remote r; /* the helper's own: only it reads with r and alloc */
	struct alloc_reader *alloc;
	int statm_fd;
	long page_size;
	/* under lock */
	int asked;   /* a walk asked for, not begun */
	int walking; /* begun, its result not posted */
	int ready;   /* posted, not taken */
	int stop;
	_Atomic int64_t *counter;
	struct poolwalk_result res;
};

/* What a walk costs is the helper's CPU time: beside a busy target it shares the cores,
 * and a walk lasts longer than it works. */
static void walk_once(struct poolwalk *pw, struct poolwalk_result *out)
{
	double t0 = clock_thread_cpu_s();

	out->clock_ok = taskclock_process(pw->pid, &out->proc_ns) == 0;
	out->mono = taskclock_now();
	alloc_read(pw->alloc, 1, &out->st);
	out->have_mem = attrib_statm(pw->statm_fd, pw->page_size, &out->rss, &out->anon) == 0;
	out->spent = clock_thread_cpu_s() - t0;
}

static void *helper(void *arg)
{
	struct poolwalk *pw = arg;

	pthread_mutex_lock(&pw->lock);
	while (!pw->stop) {
		if (!pw->asked) {
			pthread_cond_wait(&pw->wake, &pw->lock);
			continue;
		}
		struct poolwalk_result res = {0};
		_Atomic int64_t *counter = pw->counter;
		pw->asked = 0;
		pw->walking = 1;
		pthread_mutex_unlock(&pw->lock);
		int64_t begin = atomic_load_explicit(counter, memory_order_relaxed);
		walk_once(pw, &res);
		int64_t end = atomic_load_explicit(counter, memory_order_relaxed);
		res.tag = begin + (end - begin) / 2;
		pthread_mutex_lock(&pw->lock);
		pw->res = res;
		pw->walking = 0;
		pw->ready = 1;
	}
	pthread_mutex_unlock(&pw->lock);
	return NULL;
}

static void free_parts(struct poolwalk *pw)
{
	alloc_free(pw->alloc);
	remote_close(&pw->r);
	if (pw->statm_fd >= 0)
		close(pw->statm_fd);
	pthread_cond_destroy(&pw->wake);
	pthread_mutex_destroy(&pw->lock);
	free(pw);
}

struct poolwalk *poolwalk_start(pid_t pid, const struct py_target *t)
{
	struct poolwalk *pw = xcalloc(1, sizeof *pw);

	pw->pid = pid;
	pw->page_size = sysconf(_SC_PAGESIZE);
	pw->statm_fd = attrib_statm_open(pid);
	remote_init_process(&pw->r, pid);
	pw->alloc = alloc_new(&pw->r, t);
	pthread_mutex_init(&pw->lock, NULL);
	pthread_cond_init(&pw->wake, NULL);
	if (helper_start(&pw->thread, SCHED_OTHER, helper, pw) != 0) {
		free_parts(pw);
		return NULL;
	}
	return pw;
}

int poolwalk_ask(struct poolwalk *pw, _Atomic int64_t *counter)
{
	int rc = -1;

	if (pthread_mutex_trylock(&pw->lock) != 0)
		return -1;
	if (!pw->asked && !pw->walking && !pw->ready) {
		pw->asked = 1;
		pw->counter = counter;
		pthread_cond_signal(&pw->wake);
		rc = 0;
	}
	pthread_mutex_unlock(&pw->lock);
	return rc;
}

int poolwalk_take(struct poolwalk *pw, struct poolwalk_result *out)
{
	int got = 0;

	if (pthread_mutex_trylock(&pw->lock) != 0)
		return 0;
	if (pw->ready) {
		*out = pw->res;
		pw->ready = 0;
		got = 1;
	}
	pthread_mutex_unlock(&pw->lock);
	return got;
}

void poolwalk_stop(struct poolwalk *pw)
{
	if (!pw)
		return;
	pthread_mutex_lock(&pw->lock);
	pw->stop = 1;
	pthread_cond_signal(&pw->wake);
	pthread_mutex_unlock(&pw->lock);
	pthread_join(pw->thread, NULL);
	free_parts(pw);
}
