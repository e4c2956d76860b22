#include "render/peaks.h"

#include <math.h>
#include <stdlib.h>

#include "common/xalloc.h"

long long kb_floor(long long bytes)
{
	long long q = bytes / 1024;

	if (bytes % 1024 != 0 && bytes < 0)
		q--;
	return q;
}

void peaks_add(struct peaks *ps, const struct peak *p)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 64;
		ps->v = xrealloc(ps->v, ps->cap * sizeof *ps->v);
	}
	ps->v[ps->n++] = *p;
}

static int by_time(const void *a, const void *b)
{
	const struct peak *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

void peaks_number(struct peaks *ps)
{
	if (ps->n)
		qsort(ps->v, ps->n, sizeof *ps->v, by_time);
	for (size_t i = 0; i < ps->n; i++)
		ps->v[i].mark = i + 1;
}

void peaks_thin(struct peaks *ps, size_t nseries, double dt, double dv)
{
	/* index + 1 of each series' last labelled peak, 0 for none */
	size_t *last = xcalloc(nseries ? nseries : 1, sizeof *last);

	for (size_t i = 0; i < ps->n; i++) {
		struct peak *p = &ps->v[i];
		size_t s = p->series < nseries ? p->series : 0;
		const struct peak *l = last[s] ? &ps->v[last[s] - 1] : NULL;

		p->labelled =
		    !l || fabs(p->time - l->time) > dt || fabs((double)p->kb - (double)l->kb) > dv;
		if (p->labelled)
			last[s] = i + 1;
	}
	free(last);
}

int peaks_write_legend(const struct peaks *ps, const char *const *series_names, FILE *fp,
		       struct tg_err *err)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct peak *p = &ps->v[i];
		if (fprintf(fp, "%lu: %s>%s\n", p->mark, series_names[p->series], p->what) < 0)
			return tg_err_sys(err, TG_E_OUTPUT, "writing the legend");
	}
	return 0;
}

void peaks_free(struct peaks *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->v[i].what);
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}
