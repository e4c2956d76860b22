/* Threads grouped by family: names that differ only by numbers (threadfam.h). */
#include "render/threadfam.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* The length of a "PID 123: " prefix at the start of name (render/proctree.h names a
 * tree's threads so), or 0. */
static size_t pid_prefix(const char *name, size_t len)
{
	size_t i = 4;

	if (len < 7 || memcmp(name, "PID ", 4) != 0)
		return 0;
	while (i < len && name[i] >= '0' && name[i] <= '9')
		i++;
	return i > 4 && i + 1 < len && name[i] == ':' && name[i + 1] == ' ' ? i + 2 : 0;
}

void threadfam_key(const char *name, size_t len, struct buf *out)
{
	size_t keep = pid_prefix(name, len);

	if (keep)
		buf_add(out, name, keep);
	for (size_t i = keep; i < len; i++) {
		if (name[i] < '0' || name[i] > '9') {
			buf_addch(out, name[i]);
			continue;
		}
		buf_addch(out, 'N');
		while (i + 1 < len && name[i + 1] >= '0' && name[i + 1] <= '9')
			i++;
	}
}

struct keyed {
	struct buf key;
	const char *dir;
	size_t thread;
};

/* By directory (a process), key (bytes, then length), then thread index: a family's
 * members are one run. */
static int by_key(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = strcmp(x->dir, y->dir);

	if (c)
		return c;
	c = n ? memcmp(x->key.data, y->key.data, n) : 0;
	if (c)
		return c;
	if (x->key.len != y->key.len)
		return x->key.len < y->key.len ? -1 : 1;
	return (x->thread > y->thread) - (x->thread < y->thread);
}

/* Families in the order of their first (smallest) thread index. */
static int by_first(const void *a, const void *b)
{
	const struct threadfam *x = a, *y = b;

	return (x->threads[0] > y->threads[0]) - (x->threads[0] < y->threads[0]);
}

static int same_key(const struct keyed *x, const struct keyed *y)
{
	return strcmp(x->dir, y->dir) == 0 && x->key.len == y->key.len &&
	       (x->key.len == 0 || memcmp(x->key.data, y->key.data, x->key.len) == 0);
}

size_t threadfam_group(const struct recording *r, struct threadfam **out)
{
	struct keyed *k = xcalloc(r->nthreads + 1, sizeof *k);
	struct threadfam *f = xcalloc(r->nthreads + 1, sizeof *f);
	size_t n = 0, nf = 0;

	for (size_t i = 0; i < r->nthreads; i++) {
		const struct rec_thread *t = &r->threads[i];
		if (!t->mem && !t->stack)
			continue;
		threadfam_key(buf_cstr(&t->name), t->name.len, &k[n].key);
		k[n].dir = t->dir ? t->dir : "";
		k[n++].thread = i;
	}
	qsort(k, n, sizeof *k, by_key);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && same_key(&k[i], &k[j]))
			j++;
		struct threadfam *g = &f[nf++];
		g->threads = xmalloc((j - i) * sizeof *g->threads);
		for (size_t m = i; m < j; m++) {
			g->threads[g->n++] = k[m].thread;
			g->no_stack += r->threads[k[m].thread].stack == NULL;
		}
		g->key = k[i].key;
		k[i].key = (struct buf)BUF_INIT;
		for (size_t m = i + 1; m < j; m++)
			buf_free(&k[m].key);
		i = j;
	}
	free(k);
	qsort(f, nf, sizeof *f, by_first);
	*out = f;
	return nf;
}

void threadfam_free(struct threadfam *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		buf_free(&f[i].key);
		free(f[i].threads);
	}
	free(f);
}

void threadfam_title(const struct recording *r, const struct threadfam *f, struct buf *out)
{
	const struct buf *name = f->n == 1 ? &r->threads[f->threads[0]].name : &f->key;

	if (name->len)
		buf_add(out, name->data, name->len);
}
