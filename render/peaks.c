#include "render/peaks.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

#define FLUSH_AT 65536
#define READ_MIN 16384

/* A peak in the spill file: this header, then what_len bytes. */
struct rec_hdr {
	double time;
	long long kb, y;
	unsigned long seq;
	uint32_t what_len;
	uint32_t labelled;
};

struct run {
	size_t series;
	off_t start, end;
};

struct peaks {
	int fd;
	double dt, dv;
	struct buf pending; /* not yet written */
	off_t written;
	struct run *runs;
	size_t nruns, cap;
	int have_label; /* the current series has a labelled peak: */
	double label_time;
	long long label_kb;
	unsigned long count;
};

long long kb_floor(long long bytes)
{
	long long q = bytes / 1024;

	if (bytes % 1024 != 0 && bytes < 0)
		q--;
	return q;
}

struct peaks *peaks_new(int spill_fd, double dt, double dv)
{
	struct peaks *ps = xcalloc(1, sizeof *ps);

	ps->fd = spill_fd;
	ps->dt = dt;
	ps->dv = dv;
	return ps;
}

void peaks_free(struct peaks *ps)
{
	if (!ps)
		return;
	buf_free(&ps->pending);
	free(ps->runs);
	free(ps);
}

unsigned long peaks_count(const struct peaks *ps)
{
	return ps->count;
}

static int write_all(int fd, const char *p, size_t n, off_t at, struct tg_err *err)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return tg_err_sys(err, TG_E_OUTPUT, "writing the peak list");
		p += w, n -= (size_t)w, at += w;
	}
	return 0;
}

static int flush(struct peaks *ps, struct tg_err *err)
{
	if (ps->pending.len == 0)
		return 0;
	if (write_all(ps->fd, ps->pending.data, ps->pending.len, ps->written, err) < 0)
		return -1;
	ps->written += (off_t)ps->pending.len;
	buf_reset(&ps->pending);
	return 0;
}

static struct run *run_for(struct peaks *ps, size_t series)
{
	if (ps->nruns && ps->runs[ps->nruns - 1].series == series)
		return &ps->runs[ps->nruns - 1];
	ps->runs = xgrow(ps->runs, &ps->cap, ps->nruns + 1, sizeof *ps->runs);
	ps->have_label = 0;
	struct run *r = &ps->runs[ps->nruns++];
	r->series = series;
	r->start = r->end = ps->written + (off_t)ps->pending.len;
	return r;
}

int peaks_add(struct peaks *ps, struct peak *p, struct tg_err *err)
{
	struct run *r = run_for(ps, p->series);
	struct rec_hdr h;

	p->labelled = !ps->have_label || fabs(p->time - ps->label_time) > ps->dt ||
		      fabs((double)p->kb - (double)ps->label_kb) > ps->dv;
	if (p->labelled) {
		ps->have_label = 1;
		ps->label_time = p->time;
		ps->label_kb = p->kb;
	}
	memset(&h, 0, sizeof h);
	h.time = p->time;
	h.kb = p->kb;
	h.y = p->y;
	h.seq = p->seq;
	h.what_len = p->what_len > UINT32_MAX ? UINT32_MAX : (uint32_t)p->what_len;
	h.labelled = (uint32_t)p->labelled;
	buf_add(&ps->pending, &h, sizeof h);
	if (h.what_len)
		buf_add(&ps->pending, p->what, h.what_len);
	r->end = ps->written + (off_t)ps->pending.len;
	ps->count++;
	return ps->pending.len >= FLUSH_AT ? flush(ps, err) : 0;
}

/* ---- the merge ---- */

struct cursor {
	size_t series;
	off_t pos, end; /* the part of the run not yet in data */
	struct buf data;
	size_t at; /* the current record in data */
	struct peak cur;
};

/* Makes n bytes available at c->data[c->at].  0, or -1 when the run is cut short. */
static int need(int fd, struct cursor *c, size_t n, struct tg_err *err)
{
	size_t have = c->data.len - c->at;

	if (have >= n)
		return 0;
	if (have)
		memmove(c->data.data, c->data.data + c->at, have);
	c->data.len = have;
	c->at = 0;
	size_t want = n - have < READ_MIN ? READ_MIN : n - have;
	if ((off_t)want > c->end - c->pos)
		want = (size_t)(c->end - c->pos);
	buf_grow(&c->data, want);
	while (want) {
		ssize_t r = pread(fd, c->data.data + c->data.len, want, c->pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return tg_err_sys(err, TG_E_OUTPUT, "reading the peak list back");
		c->data.len += (size_t)r, c->pos += r, want -= (size_t)r;
	}
	if (c->data.len < n)
		return tg_err_set(err, TG_E_INTERNAL, "the peak list is cut short");
	return 0;
}

/* Loads the cursor's next peak: 1, 0 at the end of its run, -1 on error. */
static int advance(int fd, struct cursor *c, struct tg_err *err)
{
	struct rec_hdr h;

	if (c->data.len - c->at == 0 && c->pos == c->end)
		return 0;
	if (need(fd, c, sizeof h, err) < 0)
		return -1;
	memcpy(&h, c->data.data + c->at, sizeof h);
	if (need(fd, c, sizeof h + h.what_len, err) < 0)
		return -1;
	c->cur.time = h.time;
	c->cur.series = c->series;
	c->cur.seq = h.seq;
	c->cur.kb = h.kb;
	c->cur.y = h.y;
	c->cur.what = c->data.data + c->at + sizeof h;
	c->cur.what_len = h.what_len;
	c->cur.labelled = (int)h.labelled;
	c->at += sizeof h + h.what_len;
	return 1;
}

static int before(const struct cursor *a, const struct cursor *b)
{
	if (a->cur.time != b->cur.time)
		return a->cur.time < b->cur.time;
	if (a->cur.series != b->cur.series)
		return a->cur.series < b->cur.series;
	return a->cur.seq < b->cur.seq;
}

static void sift_down(struct cursor **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && before(h[l], h[m]))
			m = l;
		if (r < n && before(h[r], h[m]))
			m = r;
		if (m == i)
			return;
		struct cursor *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int merge(struct peaks *ps, struct cursor *cs, peaks_fn fn, void *ctx, struct tg_err *err)
{
	struct cursor **heap = xcalloc(ps->nruns ? ps->nruns : 1, sizeof *heap);
	size_t n = 0;
	unsigned long mark = 0;
	int rc = -1, r;

	for (size_t i = 0; i < ps->nruns; i++) {
		cs[i].series = ps->runs[i].series;
		cs[i].pos = ps->runs[i].start;
		cs[i].end = ps->runs[i].end;
		if ((r = advance(ps->fd, &cs[i], err)) < 0)
			goto out;
		if (r)
			heap[n++] = &cs[i];
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(heap, n, i);
	while (n) {
		heap[0]->cur.mark = ++mark;
		if (fn(ctx, &heap[0]->cur, err) < 0 || (r = advance(ps->fd, heap[0], err)) < 0)
			goto out;
		if (!r)
			heap[0] = heap[--n];
		sift_down(heap, n, 0);
	}
	rc = 0;
out:
	free(heap);
	return rc;
}

int peaks_merge(struct peaks *ps, peaks_fn fn, void *ctx, struct tg_err *err)
{
	struct cursor *cs;
	int rc;

	if (flush(ps, err) < 0)
		return -1;
	cs = xcalloc(ps->nruns ? ps->nruns : 1, sizeof *cs);
	rc = merge(ps, cs, fn, ctx, err);
	for (size_t i = 0; i < ps->nruns; i++)
		buf_free(&cs[i].data);
	free(cs);
	return rc;
}
