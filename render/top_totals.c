#include "render/top_totals.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/rdopen.h"
#include "common/tgline.h"
#include "common/xalloc.h"
#include "render/table.h"
#include "render/tgfile.h"

/* ---- meta: the values after the last run= line ---- */

static int num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end != s && *end == '\0' && errno == 0 && isfinite(*out);
}

static int whole(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return end != s && *end == '\0' && errno == 0;
}

static void meta_line(struct top_totals *tt, const char *key, const char *val)
{
	double d;
	long long n;

	if (strcmp(key, "run") == 0) {
		tt->has_start = tt->has_end = tt->has_closed = 0;
		tt->has_unattributed = tt->has_metric = tt->has_reading = tt->has_unseen = 0;
		tt->has_late = tt->has_waited = tt->shared_session = 0;
		tt->realtime = -1;
		tt->runs = whole(val, &n) && n > 0 ? (unsigned long)n : tt->runs + 1;
	} else if (strcmp(key, "start") == 0 && num(val, &d)) {
		tt->start = d, tt->has_start = 1;
	} else if (strcmp(key, "end") == 0 && num(val, &d)) {
		tt->end = d, tt->has_end = 1;
	} else if (strcmp(key, "closed_at_end") == 0 && whole(val, &n) && n >= 0) {
		tt->closed_at_end = n, tt->has_closed = 1;
	} else if (strcmp(key, "unattributed_bytes") == 0 && whole(val, &n)) {
		tt->unattributed = n, tt->has_unattributed = 1;
	} else if (strcmp(key, "mem_unseen_bytes") == 0 && whole(val, &n)) {
		tt->unseen = n, tt->has_unseen = 1;
	} else if (strcmp(key, "mem_reading_us") == 0 && num(val, &d) && d > 0) {
		tt->reading_us = d, tt->has_reading = 1;
	} else if (strcmp(key, "mem_reading_late") == 0 && num(val, &d) && d >= 0 && d <= 100) {
		tt->late_pct = d, tt->has_late = 1;
	} else if (strcmp(key, "mem_loop_waited") == 0 && num(val, &d) && d >= 0 && d <= 100) {
		tt->waited_pct = d, tt->has_waited = 1;
	} else if (strcmp(key, "mem_realtime") == 0 && whole(val, &n) && (n == 0 || n == 1)) {
		tt->realtime = (int)n;
	} else if (strcmp(key, "sched_autogroup") == 0) {
		tt->shared_session = strcmp(val, "shared") == 0;
	} else if (strcmp(key, "metric") == 0) {
		if (strcmp(val, "heap") == 0)
			tt->metric = TOP_METRIC_HEAP, tt->has_metric = 1;
		else if (strcmp(val, "rss") == 0)
			tt->metric = TOP_METRIC_RSS, tt->has_metric = 1;
	}
}

static void read_meta(struct top_totals *tt, const struct recording *rec)
{
	struct buf path = BUF_INIT;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	buf_addf(&path, "%s/meta", rec->dir ? rec->dir : ".");
	fp = tg_rdopen(buf_cstr(&path), TG_E_DATA, NULL);
	buf_free(&path);
	if (!fp)
		return; /* no meta: the original's files, or single files given */
	while ((n = getline(&line, &cap, fp)) > 0) {
		char *eq;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		eq = memchr(line, '=', (size_t)n);
		/* keys and numbers hold no escapes; a NUL inside a line ends it early, harmlessly
		 */
		if (eq) {
			*eq = '\0';
			meta_line(tt, line, eq + 1);
		}
	}
	free(line);
	fclose(fp);
}

/* ---- process.alloc: the last run's heap (and rss) ---- */

static void series_add(struct top_series *s, double t, double v)
{
	if (!s->have)
		s->first = v, s->t_first = t, s->have = 1;
	s->last = v;
	s->t_last = t;
}

/* process.alloc is read here with a lighter hand than render/table.h, which converts
 * every field: only time, heap and rss are converted (the other fields are counted, so
 * a row must still have as many as its header names).  Reading it whole with table.h cost
 * more than a tenth of `render top`'s time on a recording of 300 MB. */

static int placeholder(const char *w, size_t n)
{
	static const char *const words[] = {"?", "-", "nan", "-nan", "na", "n/a"};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
			return 1;
	return 0;
}

/* [-]DIGITS[.DIGITS], at most 18 digits: how every number of process.alloc is written.
 * 1 with *out, or 0 for anything else (left to strtod). */
static int plain_decimal(const char *w, size_t n, double *out)
{
	static const double tens[] = {1e0,  1e1,  1e2,	1e3,  1e4,  1e5,  1e6,	1e7,  1e8, 1e9,
				      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
	unsigned long long v = 0;
	size_t i = w[0] == '-', digits = 0, frac = 0;
	int dot = 0;

	if (i == n)
		return 0;
	for (; i < n; i++) {
		if (w[i] >= '0' && w[i] <= '9') {
			v = v * 10 + (unsigned long long)(w[i] - '0');
			digits++;
			frac += dot;
		} else if (w[i] == '.' && !dot) {
			dot = 1;
		} else {
			return 0;
		}
	}
	if (digits == 0 || digits > 18)
		return 0;
	*out = (double)v / tens[frac];
	if (w[0] == '-')
		*out = -*out;
	return 1;
}

/* A finite decimal number filling the word: 1; a placeholder: 0; else -1. */
static int value(const char *w, size_t n, double *out)
{
	char tmp[64], *end;

	if (n == 1 && w[0] == '?')
		return 0;
	if (n && plain_decimal(w, n, out))
		return 1;
	if (placeholder(w, n))
		return 0;
	if (n == 0 || n >= sizeof tmp || strcspn(w, "xXiInN") < n)
		return -1;
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	return *end || errno == ERANGE || !isfinite(*out) ? -1 : 1;
}

struct alloc_cols {
	int header;	/* a header was seen */
	size_t ncols;	/* after time */
	long heap, rss; /* their index after time, or -1 */
};

/* "# time a b c": a header (1), another comment (0). */
static int alloc_header(struct alloc_cols *c, const char *s, size_t len)
{
	size_t pos = 1, n;
	const char *w;

	n = table_next_word(s, len, &pos, &w);
	if (n != 4 || strncasecmp(w, "time", 4) != 0)
		return 0;
	c->header = 1;
	c->ncols = 0;
	c->heap = c->rss = -1;
	while ((n = table_next_word(s, len, &pos, &w)) != 0) {
		if (n == 4 && memcmp(w, "heap", 4) == 0)
			c->heap = (long)c->ncols;
		else if (n == 3 && memcmp(w, "rss", 3) == 0)
			c->rss = (long)c->ncols;
		c->ncols++;
	}
	return 1;
}

/* One row: its time, and heap and rss when present (have_*). NULL, or why it is malformed. */
static const char *alloc_row(const struct alloc_cols *c, const char *s, size_t len, double *t,
			     double *heap, int *have_heap, double *rss, int *have_rss)
{
	size_t pos = 0, n, i = 0;
	const char *w;
	int r;

	if (!c->header)
		return "a row before the column header ('# time ...')";
	n = table_next_word(s, len, &pos, &w);
	if (value(w, n, t) != 1)
		return "bad TIME";
	*have_heap = *have_rss = 0;
	while ((n = table_next_word(s, len, &pos, &w)) != 0) {
		if (i == c->ncols)
			return "more fields than the header names";
		if ((long)i == c->heap || (long)i == c->rss) {
			int is_heap = (long)i == c->heap;
			r = value(w, n, is_heap ? heap : rss);
			if (r < 0)
				return "a field is neither a number nor a placeholder (?)";
			*(is_heap ? have_heap : have_rss) = r;
		}
		i++;
	}
	return i == c->ncols ? NULL : "fewer fields than the header names";
}

static int read_alloc(struct top_totals *tt, const char *path, int strict,
		      struct top_series *alloc_rss, struct top_series *alloc_span,
		      struct tg_err *err)
{
	struct alloc_cols c = {0, 0, -1, -1};
	struct tgfile f;
	int rc, too_long;

	if (tgfile_open(&f, path, TGFILE_SAMPLES, strict, err) < 0)
		return -1;
	while ((rc = tgfile_next_line(&f, &too_long, err)) == 1) {
		const char *s = buf_cstr(&f.line), *why = "line too long";
		size_t len = f.line.len, pos = 0;
		double t, heap, rss;
		int have_heap, have_rss;

		if (!too_long) {
			while (pos < len && table_is_space(s[pos]))
				pos++;
			if (pos == len)
				continue;
			if (s[pos] == '#') {
				if (alloc_header(&c, s + pos, len - pos)) { /* a new run */
					tt->alloc_runs++;
					memset(&tt->heap, 0, sizeof tt->heap);
					memset(alloc_rss, 0, sizeof *alloc_rss);
					memset(alloc_span, 0, sizeof *alloc_span);
				}
				continue;
			}
			why = alloc_row(&c, s, len, &t, &heap, &have_heap, &rss, &have_rss);
			if (!why) {
				series_add(alloc_span, t, t);
				if (have_heap)
					series_add(&tt->heap, t, heap);
				if (have_rss)
					series_add(alloc_rss, t, rss);
				continue;
			}
		}
		if (tgfile_malformed(&f, why, err) < 0) {
			rc = -1;
			break;
		}
	}
	tt->malformed += f.malformed;
	tgfile_close(&f);
	return rc;
}

/* ---- process.mem: RSS from the window's start ---- */

static int read_process_mem(struct top_totals *tt, const char *path, int strict, double from,
			    struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int rc;

	if (tgfile_open(&f, path, TGFILE_SAMPLES, strict, err) < 0)
		return -1;
	while ((rc = tgfile_next(&f, &rec, err)) == 1) {
		if (rec.time < from)
			continue;
		series_add(&tt->rss, rec.time, (double)rec.value);
		series_add(&tt->span, rec.time, rec.time);
	}
	tt->malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	return rc;
}

double top_totals_window(const struct top_totals *tt)
{
	if (tt->runs <= 1 && tt->alloc_runs <= 1)
		return -HUGE_VAL;
	if (tt->runs > 1 && tt->has_start)
		return tt->start;
	return tt->alloc_run_start;
}

int top_totals_read(struct top_totals *tt, const struct recording *rec, int strict,
		    struct tg_err *err)
{
	struct top_series alloc_rss = {0}, alloc_span = {0};

	memset(tt, 0, sizeof *tt);
	tt->realtime = -1;
	tt->alloc_run_start = -HUGE_VAL;
	read_meta(tt, rec);
	if (rec->process_alloc &&
	    read_alloc(tt, rec->process_alloc, strict, &alloc_rss, &alloc_span, err) < 0)
		return -1;
	if (alloc_span.have)
		tt->alloc_run_start = alloc_span.first;
	if (rec->process_mem &&
	    read_process_mem(tt, rec->process_mem, strict, top_totals_window(tt), err) < 0)
		return -1;
	if (!tt->rss.have && alloc_rss.have) {
		tt->rss = alloc_rss;
		tt->rss_from_alloc = 1;
	}
	if (alloc_span.have) {
		if (!tt->span.have || alloc_span.first < tt->span.first)
			tt->span.first = alloc_span.first, tt->span.have = 1;
		if (alloc_span.last > tt->span.last)
			tt->span.last = alloc_span.last;
	}
	return 0;
}
