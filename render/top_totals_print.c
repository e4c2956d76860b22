/* top_totals_print.c: the lines opening `render top`'s report (duration, growth, what the
 * functions explain, the readings' resolution), from what top_totals.c read. */
#include "render/top_totals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/tgline.h"

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
		"  charged %s of the %s %s growth (%s).",
		v, gv, w->gname, pct);
	if (w->ch->bytes > w->growth) {
		/* charged more than grew: a release seen in no call */
		top_human(v, sizeof v, w->growth - w->ch->bytes, w->exact);
		fprintf(w->out,
			"\n  The other %s was released where no call was seen running (by C "
			"code\n"
			"  between or after the calls: at exit, a server's own code between "
			"requests)\n"
			"  or by no thread.\n",
			v);
		return;
	}
	fprintf(w->out, "  The rest went to no call seen\n"
			"  returning (calls still open when an older recording ended, threads "
			"too short-\n"
			"  lived to be sampled, threads without .stack) or to no thread.\n");
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
