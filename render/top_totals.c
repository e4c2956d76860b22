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

/* ---- printing ---- */

void top_human(char *out, size_t size, long long v, int exact)
{
	double a = v < 0 ? -(double)v : (double)v;

	if (v == 0)
		snprintf(out, size, "0%s", exact ? "" : " B");
	else if (exact || a < 1024)
		snprintf(out, size, "%+lld%s", v, exact ? "" : " B");
	else if (a < 1024.0 * 1024)
		snprintf(out, size, "%+.1f KB", (double)v / 1024);
	else if (a < 1024.0 * 1024 * 1024)
		snprintf(out, size, "%+.1f MB", (double)v / (1024.0 * 1024));
	else
		snprintf(out, size, "%+.2f GB", (double)v / (1024.0 * 1024 * 1024));
}

int top_unexplained(long long growth, long long charged)
{
	double g = fabs((double)growth), c = fabs((double)charged);
	double rest = fabs((double)growth - (double)charged);

	if (g < TOP_WARN_FLOOR && c < TOP_WARN_FLOOR)
		return 0;
	return 2 * rest > g;
}

static void duration(char *out, size_t size, double s)
{
	if (s < 120)
		snprintf(out, size, "%.1f s", s);
	else if (s < 2 * 3600)
		snprintf(out, size, "%.1f min", s / 60);
	else
		snprintf(out, size, "%.2f h", s / 3600);
}

/* "89 %" of growth, or "n/a" when there is no growth to divide by. */
static void share(char *out, size_t size, long long part, long long growth)
{
	double p = growth ? 100.0 * (double)part / (double)growth : 0;

	if (growth == 0)
		snprintf(out, size, "n/a");
	else
		snprintf(out, size, "%.0f %%", fabs(p) < 0.5 ? 0.0 : p);
}

static long long growth_of(const struct top_series *s)
{
	return (long long)llround(s->last - s->first);
}

#define ROW "  %-14s %11s  "

/* A row's next line of text, under its first. */
static void row_more(FILE *out, const char *text)
{
	fprintf(out, ROW "%s\n", "", "", text);
}

/* tgattach shared a session it did not lead (meta sched_autogroup=shared): its share of
 * the CPU was that session's (docs/memory.md). */
static void shared_hint(FILE *out)
{
	row_more(out, "tgattach shared a session, and its share of the CPU");
	row_more(out, "(meta sched_autogroup): under setsid -w, or from a");
	row_more(out, "terminal, its own session's share is raised");
}

/* What top_totals_print's sections share: the metric charged and its growth. */
struct totals_view {
	FILE *out;
	const struct top_totals *tt;
	const struct top_charged *ch;
	int exact;
	const struct top_series *g; /* the series of the metric charged */
	const char *gname;	    /* "heap" or "RSS" */
	enum top_metric m;
	long long growth; /* of g, 0 without it */
	int counted;	  /* some thread has a .stack file */
};

static void print_duration(const struct totals_view *w)
{
	const struct top_totals *tt = w->tt;
	char v[48];

	if (!tt->span.have && !w->ch->has_events)
		return;
	double t0 = tt->span.have ? tt->span.first : w->ch->t_first;
	double t1 = tt->span.have ? tt->span.last : w->ch->t_last;
	int to_end = tt->has_end && tt->end > t1;
	static const char *const how[2][2] = {
	    {"first to last call or return (no process.mem)",
	     "first call or return to the end (meta end)"},
	    {"first to last process sample", "first process sample to the end (meta end)"},
	};
	if (to_end)
		t1 = tt->end;
	duration(v, sizeof v, t1 - t0);
	fprintf(w->out, ROW "%s\n", "duration", v, how[tt->span.have][to_end]);
}

static void print_process(const struct totals_view *w)
{
	const struct top_totals *tt = w->tt;
	char v[48];

	if (tt->heap.have) {
		top_human(v, sizeof v, growth_of(&tt->heap), w->exact);
		fprintf(w->out, ROW "process.alloc, first to last heap value%s\n", "heap growth", v,
			w->m == TOP_METRIC_HEAP ? " (the metric charged)" : "");
	}
	if (tt->rss.have) {
		top_human(v, sizeof v, growth_of(&tt->rss), w->exact);
		fprintf(w->out, ROW "%s, first to last value%s\n", "RSS growth", v,
			tt->rss_from_alloc ? "process.alloc's rss" : "process.mem",
			w->m == TOP_METRIC_RSS ? " (the metric charged)" : "");
	}
	if (!w->g->have)
		fprintf(w->out, ROW "not recorded (%s)\n",
			w->m == TOP_METRIC_HEAP ? "heap growth" : "RSS growth", "-",
			w->m == TOP_METRIC_HEAP ? "no heap value in process.alloc"
						: "no process.mem");
}

/* What the functions explain, and what they cannot. */
static void print_charged(const struct totals_view *w)
{
	const struct top_charged *ch = w->ch;
	char v[48], pct[32];

	if (!w->counted) {
		fprintf(w->out, ROW "unknown: no thread has a .stack file (nesting unknown)\n",
			"charged", "-");
	} else if (w->g->have) {
		top_human(v, sizeof v, ch->bytes, w->exact);
		share(pct, sizeof pct, ch->bytes, w->growth);
		fprintf(w->out, ROW "%s of the %s growth: net of each thread's outermost calls\n",
			"charged", v, pct, w->gname);
		top_human(v, sizeof v, w->growth - ch->bytes, w->exact);
		share(pct, sizeof pct, w->growth - ch->bytes, w->growth);
		fprintf(w->out, ROW "%s of the %s growth: not explained by the functions below\n",
			"remainder", v, pct, w->gname);
	} else {
		top_human(v, sizeof v, ch->bytes, w->exact);
		fprintf(w->out, ROW "net of each thread's outermost calls\n", "charged", v);
	}
	if (ch->threads_no_stack) {
		snprintf(v, sizeof v, "%lu", ch->threads_no_stack);
		fprintf(w->out, ROW "thread%s with only a .mem file (nesting unknown)\n",
			"not counted", v, ch->threads_no_stack == 1 ? "" : "s");
	}
	if (w->tt->has_unattributed && w->tt->unattributed) {
		top_human(v, sizeof v, w->tt->unattributed, w->exact);
		fprintf(w->out, ROW "charged to no thread (meta unattributed_bytes)\n",
			"unattributed", v);
	}
}

static void print_unseen(const struct totals_view *w)
{
	const struct top_totals *tt = w->tt;
	char v[48], pct[32];

	if (!tt->has_unseen || !tt->unseen)
		return;
	top_human(v, sizeof v, tt->unseen, w->exact);
	if (w->g->have) {
		share(pct, sizeof pct, tt->unseen, w->growth);
		fprintf(w->out, ROW "%s of the %s growth: made while a thread ran unseen\n",
			"run unseen", v, pct, w->gname);
	} else {
		fprintf(w->out, ROW "made while a thread ran unseen\n", "run unseen", v);
	}
	row_more(w->out, "between two readings and came back where it was seen: charged");
	fprintf(w->out, ROW "to that stack, to no function as its own (rows " TG_UNSEEN_FUNC ",\n",
		"", "");
	row_more(w->out, "meta mem_unseen_bytes; docs/memory.md)");
}

/* The readings' spacing, and their gaps. */
static void print_resolution(const struct totals_view *w)
{
	const struct top_totals *tt = w->tt;
	FILE *out = w->out;
	char v[48];

	if (!tt->has_reading)
		return;
	snprintf(v, sizeof v, "%.0f us", tt->reading_us);
	fprintf(out, ROW "between memory readings (meta mem_reading_us): a call not much\n",
		"resolution", v);
	row_more(out, "longer is charged only part of what it allocated, the rest goes");
	row_more(out, "to the calls after it (docs/memory.md)");
	if (!tt->has_late)
		return;
	snprintf(v, sizeof v, "%.0f %%", tt->late_pct);
	fprintf(out, ROW "of that time in gaps over 0.5 ms (meta mem_reading_late):\n",
		"late readings", v);
	row_more(out, "tgattach waited for a CPU or did its own work; what changed in a");
	if (tt->realtime == 0 && tt->late_pct >= TOP_LATE_HINT) {
		row_more(out, "gap is charged to whatever ran at its end; --realtime");
		row_more(out, "reads on time (CAP_SYS_NICE; it costs the server more)");
	} else {
		row_more(out, "gap is charged to whatever ran at its end");
	}
	if (!tt->has_waited)
		return;
	snprintf(v, sizeof v, "%.0f %%", tt->waited_pct);
	fprintf(out, ROW "of the recording its loop waited for a free core (meta\n", "loop waited",
		v);
	row_more(out, "mem_loop_waited); late time beyond it is its own work");
	if (tt->shared_session && tt->late_pct >= TOP_LATE_HINT)
		shared_hint(out);
}

static void print_tail(const struct totals_view *w)
{
	const struct top_totals *tt = w->tt;
	char v[48], gv[48], pct[32];

	if (tt->has_end && tt->has_closed && tt->closed_at_end > 0) {
		snprintf(v, sizeof v, "%lld", tt->closed_at_end);
		fprintf(w->out, ROW "calls closed at the end with their charges so far (RUNNING)\n",
			"still running", v);
	}
	if (top_totals_window(tt) > -HUGE_VAL) {
		snprintf(v, sizeof v, "%lu", tt->runs > tt->alloc_runs ? tt->runs : tt->alloc_runs);
		fprintf(w->out, ROW "appended: totals are the last run's, tables every run's\n",
			"runs", v);
	}
	if (!w->counted || !w->g->have || !top_unexplained(w->growth, w->ch->bytes))
		return;
	top_human(v, sizeof v, w->ch->bytes, w->exact);
	top_human(gv, sizeof gv, w->growth, w->exact);
	share(pct, sizeof pct, w->ch->bytes, w->growth);
	fprintf(w->out,
		"WARNING: most of the growth is not explained by the functions below: they "
		"are\n"
		"  charged %s of the %s %s growth (%s).  The rest went to no call seen\n"
		"  returning (calls still open when an older recording ended, threads too "
		"short-\n"
		"  lived to be sampled, threads without .stack) or to no thread.\n",
		v, gv, w->gname, pct);
}

void top_totals_print(FILE *out, const struct top_totals *tt, const struct top_charged *ch,
		      int exact)
{
	struct totals_view w = {.out = out, .tt = tt, .ch = ch, .exact = exact};

	w.m = tt->has_metric ? tt->metric : tt->heap.have ? TOP_METRIC_HEAP : TOP_METRIC_RSS;
	w.g = w.m == TOP_METRIC_HEAP ? &tt->heap : &tt->rss;
	w.gname = w.m == TOP_METRIC_HEAP ? "heap" : "RSS";
	w.growth = w.g->have ? growth_of(w.g) : 0;
	w.counted = ch->threads > 0;
	print_duration(&w);
	print_process(&w);
	print_charged(&w);
	print_unseen(&w);
	print_resolution(&w);
	print_tail(&w);
}
