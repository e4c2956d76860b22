/* render memg: threads grouped and ranked for drawing (memg.h, memg_script.c).  A server
 * with a thread per request has hundreds of threads named "Thread-N (handler)": one key
 * entry each would cover the plot.  Threads whose names differ only by numbers are one
 * group, drawn in one colour with one key entry and their count; the o->series groups with
 * the largest values are drawn in colour, the others in grey under one entry. */
#include "render/memg_group.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "render/threadfam.h"

void memg_group_key(const char *title, int tree, struct buf *out)
{
	const char *s = title;
	const char *colon = tree ? strchr(title, ':') : NULL;

	if (colon) { /* "PID:" names the process: threads of two processes stay apart */
		buf_add(out, title, (size_t)(colon - title) + 1);
		s = colon + 1;
	}
	threadfam_key(s, strlen(s), out);
}

struct keyed {
	char *key;
	size_t series; /* index in p->series */
};

struct group {
	size_t first, n; /* first member in the sorted keyed array, count */
	long long top;
};

static int by_key(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->series > y->series) - (x->series < y->series);
}

static int by_top(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->top != y->top)
		return x->top < y->top ? 1 : -1;
	return (x->first > y->first) - (x->first < y->first);
}

/* The thread series, keyed and sorted by key; returns how many. */
static size_t keyed_threads(const struct memg_plot *p, struct keyed **out)
{
	struct keyed *k = xcalloc(p->nseries + 1, sizeof *k);
	size_t n = 0;

	for (size_t i = 0; i < p->nseries; i++) {
		if (p->series[i].is_process || p->series[i].sum_other)
			continue;
		struct buf key = BUF_INIT;
		memg_group_key(p->series[i].title, p->tree != NULL, &key);
		k[n++] = (struct keyed){buf_detach(&key), i};
	}
	qsort(k, n, sizeof *k, by_key);
	*out = k;
	return n;
}

/* Runs of equal keys, ranked by their largest value. */
static size_t make_groups(const struct memg_plot *p, const struct keyed *k, size_t n,
			  struct group **out)
{
	struct group *g = xcalloc(n + 1, sizeof *g);
	size_t ng = 0;

	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(k[i].key, k[i - 1].key) != 0)
			g[ng++] = (struct group){i, 0, 0};
		struct group *cur = &g[ng - 1];
		cur->n++;
		if (p->series[k[i].series].top > cur->top)
			cur->top = p->series[k[i].series].top;
	}
	qsort(g, ng, sizeof *g, by_top);
	*out = g;
	return ng;
}

static void style_group(struct memg_style *st, const struct keyed *k, const struct group *g,
			size_t rank, const struct memg_plot *p)
{
	for (size_t m = 0; m < g->n; m++) {
		struct memg_style *s = &st[k[g->first + m].series];
		s->other = 0;
		s->color = rank;
		s->title = NULL;
	}
	struct buf t = BUF_INIT;
	if (g->n > 1)
		buf_addf(&t, "%s (%zu threads)", k[g->first].key, g->n);
	else
		buf_addstr(&t, p->series[k[g->first].series].title);
	st[k[g->first].series].title = buf_detach(&t);
}

struct memg_style *memg_group(const struct memg_plot *p, size_t *other_threads)
{
	struct memg_style *st = xcalloc(p->nseries + 1, sizeof *st);
	struct keyed *k;
	struct group *g;
	size_t n = keyed_threads(p, &k), ng = make_groups(p, k, n, &g);
	size_t first_other = p->nseries;

	*other_threads = 0;
	for (size_t r = 0; r < ng; r++) {
		if (r < (size_t)p->o->series) {
			style_group(st, k, &g[r], r, p);
			continue;
		}
		for (size_t m = 0; m < g[r].n; m++) {
			size_t i = k[g[r].first + m].series;
			st[i].other = 1;
			if (i < first_other)
				first_other = i;
		}
		*other_threads += g[r].n;
	}
	if (*other_threads) {
		struct buf t = BUF_INIT;
		buf_addf(&t, "other threads (%zu)", *other_threads);
		st[first_other].title = buf_detach(&t);
	}
	for (size_t i = 0; i < p->nseries; i++) /* already summed, titled with its count */
		if (p->series[i].sum_other) {
			st[i].other = 1;
			st[i].title = xstrdup(p->series[i].title);
		}
	for (size_t i = 0; i < n; i++)
		free(k[i].key);
	free(k);
	free(g);
	return st;
}

void memg_styles_free(struct memg_style *st, size_t n)
{
	for (size_t i = 0; st && i < n; i++)
		free(st[i].title);
	free(st);
}
