#include "render/decim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct bucket {
	int used;
	struct decim_pt first, low, high, last;
};

struct decim {
	size_t nb; /* bucket count limit */
	unsigned long long seen;
	struct decim_pt *raw; /* raw mode: up to 4 * nb points */
	size_t nraw;
	int bucketed;
	double origin, width; /* bucketed mode: interval k is [origin + k*width, ...) */
	size_t cur;	      /* the highest interval used */
	struct bucket *b;
	struct decim_pt *out; /* decim_points() result */
};

struct decim *decim_new(size_t buckets)
{
	struct decim *d = xcalloc(1, sizeof *d);

	d->nb = buckets < 2 ? 2 : buckets;
	d->raw = xmalloc(4 * d->nb * sizeof *d->raw);
	d->b = xcalloc(d->nb, sizeof *d->b);
	d->out = xmalloc(4 * d->nb * sizeof *d->out);
	return d;
}

void decim_free(struct decim *d)
{
	if (!d)
		return;
	free(d->raw);
	free(d->b);
	free(d->out);
	free(d);
}

void decim_reset(struct decim *d)
{
	d->seen = 0;
	d->nraw = 0;
	d->bucketed = 0;
	d->cur = 0;
	memset(d->b, 0, d->nb * sizeof *d->b);
}

unsigned long long decim_seen(const struct decim *d)
{
	return d->seen;
}

static void bucket_put(struct bucket *b, struct decim_pt p)
{
	if (!b->used) {
		b->used = 1;
		b->first = b->low = b->high = b->last = p;
		return;
	}
	if (p.y < b->low.y)
		b->low = p;
	if (p.y > b->high.y)
		b->high = p;
	b->last = p;
}

static void bucket_merge(struct bucket *into, const struct bucket *a, const struct bucket *b)
{
	if (!a->used || !b->used) {
		*into = a->used ? *a : *b;
		return;
	}
	into->used = 1;
	into->first = a->first;
	into->last = b->last;
	into->low = b->low.y < a->low.y ? b->low : a->low;
	into->high = b->high.y > a->high.y ? b->high : a->high;
}

/* Doubles the interval width: intervals 2i and 2i+1 become interval i. */
static void widen(struct decim *d)
{
	size_t half = (d->nb + 1) / 2;

	for (size_t i = 0; i < half; i++) {
		struct bucket a = d->b[2 * i];
		struct bucket b = 2 * i + 1 < d->nb ? d->b[2 * i + 1] : (struct bucket){0};
		bucket_merge(&d->b[i], &a, &b);
	}
	memset(d->b + half, 0, (d->nb - half) * sizeof *d->b);
	d->width *= 2;
	d->cur /= 2;
}

static void bucketed_add(struct decim *d, struct decim_pt p)
{
	double k = floor((p.t - d->origin) / d->width);

	while (k >= (double)d->nb) {
		widen(d);
		k = floor((p.t - d->origin) / d->width);
	}
	if (!(k >= (double)d->cur)) /* earlier than the current interval, or NaN */
		k = (double)d->cur;
	d->cur = (size_t)k;
	bucket_put(&d->b[d->cur], p);
}

/* Raw points overflow: from now on, intervals; the raw points so far fill half of them. */
static void to_bucketed(struct decim *d)
{
	double span = d->raw[d->nraw - 1].t - d->raw[0].t;

	d->bucketed = 1;
	d->origin = d->raw[0].t;
	d->width = span > 0 && isfinite(span) ? span / (double)(d->nb / 2) : 1e-9;
	d->cur = 0;
	for (size_t i = 0; i < d->nraw; i++)
		bucketed_add(d, d->raw[i]);
	d->nraw = 0;
}

void decim_add(struct decim *d, double t, double y)
{
	struct decim_pt p = {t, y};

	d->seen++;
	if (d->bucketed) {
		bucketed_add(d, p);
		return;
	}
	d->raw[d->nraw++] = p;
	if (d->nraw == 4 * d->nb)
		to_bucketed(d);
}

static int by_t(const void *a, const void *b)
{
	const struct decim_pt *x = *(const struct decim_pt *const *)a;
	const struct decim_pt *y = *(const struct decim_pt *const *)b;

	return x->t < y->t ? -1 : x->t > y->t;
}

/* A bucket's distinct points in time order (first stays first, last stays last). */
static size_t bucket_points(const struct bucket *b, struct decim_pt *out)
{
	const struct decim_pt *mid[2] = {&b->low, &b->high};
	size_t n = 0;

	out[n++] = b->first;
	qsort(mid, 2, sizeof *mid, by_t);
	for (int i = 0; i < 2; i++) {
		const struct decim_pt *p = mid[i];
		if (memcmp(p, &out[n - 1], sizeof *p) != 0 && memcmp(p, &b->last, sizeof *p) != 0)
			out[n++] = *p;
	}
	if (memcmp(&b->last, &b->first, sizeof b->last) != 0)
		out[n++] = b->last;
	return n;
}

const struct decim_pt *decim_points(struct decim *d, size_t *n)
{
	if (!d->bucketed) {
		*n = d->nraw;
		return d->raw;
	}
	*n = 0;
	for (size_t i = 0; i <= d->cur && i < d->nb; i++)
		if (d->b[i].used)
			*n += bucket_points(&d->b[i], d->out + *n);
	return d->out;
}
