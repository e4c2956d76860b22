/* top_totals.h: the opening lines of `render top`: how long the recording lasted, how much
 * the process grew (heap from process.alloc, RSS from process.mem), how much of that the
 * functions are charged, and the remainder; a warning when most of the growth is not
 * explained by the functions ranked below it.
 *
 * Only the last run counts when several were appended (docs/formats.md, "Several runs"):
 * meta's values after its last "run=" line, process.alloc's rows after its last header,
 * process.mem's lines from the last run's start.  Files written by the original
 * ThreadGraph (no meta, no process.alloc) give what they have: the RSS growth. */
#ifndef TG_TOP_TOTALS_H
#define TG_TOP_TOTALS_H

#include <stdio.h>

#include "common/err.h"
#include "render/recording.h"

/* The first and last value of one series. */
struct top_series {
	int have;
	double first, last;
	double t_first, t_last;
};

enum top_metric { TOP_METRIC_HEAP, TOP_METRIC_RSS };

/* From this share of late readings on (mem_reading_late), a recording made without
 * --realtime says that --realtime reads on time: measured on gunicorn under load, 24 - 46 %
 * by default, 14 - 15 % under --realtime or on an idle machine (docs/memory.md). */
#define TOP_LATE_HINT 20.0

struct top_totals {
	/* meta, the last run's block */
	unsigned long runs; /* run=N (0: no meta or no run= line) */
	int has_start, has_end, has_closed, has_unattributed, has_metric, has_reading, has_late;
	int has_waited;
	double start, end;	 /* start=, end= (Unix seconds) */
	long long closed_at_end; /* closed_at_end= */
	long long unattributed;	 /* unattributed_bytes= */
	long long unseen;	 /* mem_unseen_bytes= (has_unseen) */
	int has_unseen;
	double reading_us;	     /* mem_reading_us=: mean time between memory readings */
	double waited_pct;	     /* mem_loop_waited=: % of it the loop waited for a CPU */
	double late_pct;	     /* mem_reading_late=: % of that time in gaps over 0.5 ms */
	int realtime;		     /* mem_realtime=: 1 or 0, -1 when not said */
	int shared_session;	     /* sched_autogroup=shared: the session was not its own */
	enum top_metric metric;	     /* metric= (when has_metric) */
	unsigned long alloc_runs;    /* header lines in process.alloc */
	struct top_series heap, rss; /* the last run's */
	int rss_from_alloc;	     /* no process.mem: rss is process.alloc's column */
	double alloc_run_start;	     /* the first row time of process.alloc's last run */
	struct top_series span;	     /* first and last process sample times (first/last: times) */
	unsigned long malformed;     /* lines skipped in process.mem / process.alloc */
};

/* Reads meta, process.alloc and process.mem of the recording (each optional). */
int top_totals_read(struct top_totals *tt, const struct recording *rec, int strict,
		    struct tg_err *err);

/* Where the last run begins: returns and samples before it are left out of the totals
 * (-inf, i.e. -HUGE_VAL, when there was one run only or its start is unknown). */
double top_totals_window(const struct top_totals *tt);

/* What the functions were charged (computed by the caller from the thread files). */
struct top_charged {
	long long bytes;		/* sum of the outermost returned calls' deltas */
	unsigned long threads;		/* threads counted */
	unsigned long threads_no_stack; /* threads with only a .mem: not counted */
	int has_events;
	double t_first, t_last; /* earliest and latest call/return seen */
};

/* The verdict on a growth and what was charged of it: 1 when most of the growth is not
 * explained (|growth - charged| > |growth| / 2, and growth or charged reaches
 * TOP_WARN_FLOOR bytes), else 0. */
#define TOP_WARN_FLOOR (64 * 1024)
int top_unexplained(long long growth, long long charged);

/* Prints the lines opening the report (after its title line). */
void top_totals_print(FILE *out, const struct top_totals *tt, const struct top_charged *ch,
		      int exact);

/* A size as the tables show it: "+1.5 MB", "-512 B", "0 B"; exact: "+1536", "0". */
void top_human(char *out, size_t size, long long v, int exact);

#endif
