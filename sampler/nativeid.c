#include "sampler/nativeid.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define PTHREAD_SCAN 2048 /* bytes of struct pthread searched for the kernel TID */

struct native_ids {
	pid_t pid;
	struct remote *r;
	int pthread_tid_off;		 /* offset of the TID in struct pthread; -1 unknown,
					    -2 calibration failed */
	int64_t tasks[WALK_MAX_THREADS]; /* the process's kernel TIDs, as last read, sorted */
	size_t ntasks;
	/* scratch for the batched reads of struct pthread's TID */
	struct remote_iov *iov;
	int32_t *tids;
	size_t *thread_of;
	size_t cap;
};

struct native_ids *nativeid_new(pid_t pid, struct remote *r)
{
	struct native_ids *n = xcalloc(1, sizeof *n);

	n->pid = pid;
	n->r = r;
	n->pthread_tid_off = -1;
	return n;
}

void nativeid_free(struct native_ids *n)
{
	if (!n)
		return;
	free(n->iov);
	free(n->tids);
	free(n->thread_of);
	free(n);
}

static int tid_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Kernel TIDs of the target, sorted. */
static size_t task_ids(pid_t pid, int64_t *out, size_t max)
{
	char path[64];
	size_t n = 0;
	struct dirent *de;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL && n < max)
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			out[n++] = atoll(de->d_name);
	closedir(d);
	qsort(out, n, sizeof *out, tid_cmp);
	return n;
}

/* Is v in the sorted set?  (Asked for every thread at every sample.) */
static int in_set(const int64_t *set, size_t n, int64_t v)
{
	return bsearch(&v, set, n, sizeof *set, tid_cmp) != NULL;
}

/* Before 3.11 a thread state does not record its kernel TID.  glibc keeps it inside
 * struct pthread, whose address is the thread_id; find that field's offset once, by
 * looking for the offset at which every thread's struct holds one of the task ids. */
static void calibrate_pthread_tid(struct native_ids *n, const struct walk_sample *s)
{
	int64_t tasks[WALK_MAX_THREADS];
	size_t ntasks = task_ids(n->pid, tasks, WALK_MAX_THREADS);
	static const size_t scan = PTHREAD_SCAN;
	unsigned char *blocks = xcalloc(s->nthreads, scan);
	int *valid = xcalloc(s->nthreads, sizeof *valid);
	size_t nvalid = 0;

	n->pthread_tid_off = -2;
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].thread_id &&
		    remote_read(n->r, s->threads[i].thread_id, blocks + i * scan, scan) == 0) {
			valid[i] = 1;
			nvalid++;
		}
	for (size_t off = 0; nvalid && ntasks && off + 4 <= scan; off += 4) {
		size_t hits = 0;
		for (size_t i = 0; i < s->nthreads; i++) {
			int32_t v;
			memcpy(&v, blocks + i * scan + off, 4);
			hits += valid[i] && v > 0 && in_set(tasks, ntasks, v);
		}
		if (hits == nvalid) {
			n->pthread_tid_off = (int)off;
			break;
		}
	}
	free(valid);
	free(blocks);
}

/* Is tid a thread of the process?  The task list is cached and read again (at most once a
 * sample) when a thread state names a tid it does not hold. */
static int tid_known(struct native_ids *n, int64_t tid, int *refreshed)
{
	for (int pass = 0; pass < 2; pass++) {
		if (in_set(n->tasks, n->ntasks, tid))
			return 1;
		if (pass || *refreshed)
			return 0;
		n->ntasks = task_ids(n->pid, n->tasks, WALK_MAX_THREADS);
		*refreshed = 1;
	}
	return 0;
}

/* The missing TIDs from struct pthread, in one batched read; a TID that is not a task of
 * the process (a torn read, a thread just gone) is left 0. */
static void from_pthreads(struct native_ids *n, struct walk_sample *s, size_t missing,
			  int *refreshed)
{
	size_t k = 0;

	if (missing > n->cap) {
		n->cap = xgrow_cap(n->cap, missing);
		n->iov = xreallocarray(n->iov, n->cap, sizeof *n->iov);
		n->tids = xreallocarray(n->tids, n->cap, sizeof *n->tids);
		n->thread_of = xreallocarray(n->thread_of, n->cap, sizeof *n->thread_of);
	}
	for (size_t i = 0; i < s->nthreads && k < missing; i++) {
		if (s->threads[i].native_id > 0 || !s->threads[i].thread_id)
			continue;
		n->iov[k] = (struct remote_iov){
		    s->threads[i].thread_id + (uint64_t)n->pthread_tid_off, &n->tids[k], 4, 0};
		n->thread_of[k++] = i;
	}
	remote_readv(n->r, n->iov, k);
	for (size_t j = 0; j < k; j++) {
		int32_t tid = n->iov[j].ok ? n->tids[j] : 0;
		s->threads[n->thread_of[j]].native_id =
		    tid > 0 && tid_known(n, tid, refreshed) ? tid : 0;
	}
}

/* Kernel TIDs the thread states do not record (before 3.11), or record wrongly (a forked
 * child's thread state keeps its parent's TID until CPython updates it): glibc's struct
 * pthread knows; a lone thread of a lone task is that task. */
void nativeid_fill(struct native_ids *n, struct walk_sample *s)
{
	int refreshed = 0;
	size_t missing = 0;

	for (size_t i = 0; i < s->nthreads; i++) {
		struct walk_thread *th = &s->threads[i];
		if (th->native_id > 0 && !tid_known(n, th->native_id, &refreshed))
			th->native_id = 0;
		missing += th->native_id <= 0;
	}
	if (!missing)
		return;
	if (s->nthreads == 1 && !refreshed)
		tid_known(n, n->pid, &refreshed); /* makes sure the task list is current */
	if (s->nthreads == 1 && n->ntasks == 1) {
		s->threads[0].native_id = n->tasks[0];
		return;
	}
	if (n->pthread_tid_off == -1 && s->nthreads >= 2)
		calibrate_pthread_tid(n, s);
	if (n->pthread_tid_off >= 0)
		from_pthreads(n, s, missing, &refreshed);
}
