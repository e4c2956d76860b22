/* render top: functions ranked by the memory they gained, over all threads and per thread
 * family (render/threadfam.h: a server's thread per request is one table), as tables for
 * the terminal, after the recording's totals (render/top_totals.h: duration, process
 * growth, what the functions are charged of it, the remainder).
 * A function is its FILE and qualified name: the calls seen at different lines are one row.
 * With THREAD.stack, calls and returns are replayed (render/replay.h), which gives each
 * function's own memory (SELF, callees excluded) and counts a recursive function's memory
 * once (NET from its outermost calls); with only THREAD.mem, NET is the plain sum of its
 * returns' deltas, as memh did.  The families' tables are written to a memory stream
 * while the threads are read, and printed after the totals and the all-threads table,
 * which need every thread. */
#include "render/render.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/satint.h"
#include "common/xalloc.h"
#include "render/calltree_replay.h"
#include "render/cli.h"
#include "render/frames.h"
#include "render/interrupt.h"
#include "render/outfile.h"
#include "render/proctree.h"
#include "render/recording.h"
#include "render/replay.h"
#include "render/text.h"
#include "render/tgfile.h"
#include "render/threadfam.h"
#include "render/top_table.h"
#include "render/top_totals.h"

enum top_key { BY_NET, BY_SELF, BY_CALLS };

struct top_opts {
	const char *output; /* -o FILE, or NULL: standard output */
	long long n;	    /* rows per table, 0 = all */
	int by;		    /* enum top_key */
	int reverse;
	int bytes;
	int strict;
	int merge; /* --merge-threads: the all-threads table only */
	int children;
};

/* An open call of the thread being replayed: its row, and whether it is a comprehension
 * counted in its caller's row. */
struct open_call {
	uint32_t fn;
	int folded;
};

struct top {
	const struct top_opts *o;
	FILE *out;	       /* the tables, until the totals are printed */
	struct frames *frames; /* (FILE, FUNC, LINE) as the replay interns them */
	struct frames *funcs;  /* (FILE, FUNC): the rows */
	uint32_t *fn_of;       /* frame id -> function id + 1 (0: not looked up yet) */
	size_t fn_of_cap;
	long *line_of; /* function id -> the first LINE seen (0: none yet) */
	size_t line_cap;
	uint32_t *open_n; /* function id -> calls open in the current thread */
	size_t open_cap;
	long long *acc; /* depth -> what the top-most returned calls below it were charged */
	size_t acc_cap;
	struct open_call *opens; /* depth -> the open call there */
	size_t opens_cap;
	struct table thread, all;
	struct calltree_replay_counts skipped; /* malformed lines, stray returns */
	size_t threads;
	/* the totals */
	struct top_charged ch;
	double window; /* returns before it are not in ch.bytes (several runs) */
	/* meta has end= and closed_at_end > 0: returns stamped end are calls that were still
	 * running, counted in RUNNING */
	int running_col;
	double end;
};

/* ---- printing ---- */

static void human(char *out, size_t size, long long v, int exact, int is_self_missing)
{
	if (is_self_missing)
		snprintf(out, size, "-");
	else
		top_human(out, size, v, exact);
}

static long long key_of(const struct top_opts *o, const struct fstat *s)
{
	switch (o->by) {
	case BY_SELF:
		return s->self;
	case BY_CALLS:
		return (long long)s->calls;
	case BY_NET:
		break;
	}
	return s->net;
}

struct ranking {
	const struct table *t;
	const struct top_opts *o;
};

/* Largest key first (smallest with --reverse); ties in order of first sight. */
static int by_key(const void *a, const void *b, void *ctx)
{
	const struct ranking *r = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	long long kx = key_of(r->o, &r->t->v[x]), ky = key_of(r->o, &r->t->v[y]);

	if (kx != ky)
		return (kx > ky) == !r->o->reverse ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void print_row(const struct top *tp, const struct fstat *s, uint32_t id)
{
	const struct frame *f = frames_get(tp->funcs, id);
	long line = tp->line_of[id];
	struct buf name = BUF_INIT;
	char net[32], self[32], running[24] = "";

	human(net, sizeof net, s->net, tp->o->bytes, 0);
	human(self, sizeof self, s->self, tp->o->bytes, !s->has_self);
	text_display(&name, f->func, f->func_len);
	buf_addstr(&name, "  ");
	text_display(&name, f->file, f->file_len);
	if (line > 0)
		buf_addf(&name, ":%ld", line);
	if (tp->running_col) {
		if (s->running)
			snprintf(running, sizeof running, "%llu", s->running);
		fprintf(tp->out, "%11s %11s %9llu %7s  %s\n", net, self, s->calls, running,
			buf_cstr(&name));
	} else {
		fprintf(tp->out, "%11s %11s %9llu  %s\n", net, self, s->calls, buf_cstr(&name));
	}
	buf_free(&name);
}

static void print_table(const struct top *tp, const char *title, const struct table *t)
{
	uint32_t *ids = xmalloc((t->nused ? t->nused : 1) * sizeof *ids);
	size_t n = t->nused;

	struct ranking r = {t, tp->o};

	if (n)
		memcpy(ids, t->used, n * sizeof *ids);
	qsort_r(ids, n, sizeof *ids, by_key, &r);
	fprintf(tp->out, "\n%s: %llu call%s of %zu function%s\n", title, t->calls,
		t->calls == 1 ? "" : "s", n, n == 1 ? "" : "s");
	if (tp->running_col)
		fprintf(tp->out, "%11s %11s %9s %7s  %s\n", "NET", "SELF", "CALLS", "RUNNING",
			"FUNCTION");
	else
		fprintf(tp->out, "%11s %11s %9s  %s\n", "NET", "SELF", "CALLS", "FUNCTION");
	if (t->folded)
		fprintf(tp->out,
			"%11s (and %llu comprehension call%s, counted in the function that "
			"ran %s, as 3.12 runs %s inline)\n",
			"", t->folded, t->folded == 1 ? "" : "s", t->folded == 1 ? "it" : "them",
			t->folded == 1 ? "it" : "them");
	if (tp->o->n > 0 && (size_t)tp->o->n < n)
		n = (size_t)tp->o->n;
	for (size_t i = 0; i < n; i++)
		print_row(tp, &t->v[ids[i]], ids[i]);
	if (n < t->nused)
		fprintf(tp->out, "%11s (%zu more)\n", "...", t->nused - n);
	free(ids);
}

/* ---- reading ---- */

/* The row of a function: (FILE, FUNC) whatever the line, which is remembered the first
 * time one is known.  Looked up once per frame id. */
static uint32_t function_of(struct top *tp, uint32_t frame)
{
	uint32_t fn;

	if (frame < tp->fn_of_cap && tp->fn_of[frame])
		return tp->fn_of[frame] - 1;
	const struct frame *f = frames_get(tp->frames, frame);
	fn = frames_intern(tp->funcs, f->file, f->file_len, f->func, f->func_len, 0);
	tp->fn_of = xgrow0(tp->fn_of, &tp->fn_of_cap, (size_t)frame + 1, sizeof *tp->fn_of);
	tp->fn_of[frame] = fn + 1;
	tp->line_of = xgrow0(tp->line_of, &tp->line_cap, (size_t)fn + 1, sizeof *tp->line_of);
	if (tp->line_of[fn] <= 0)
		tp->line_of[fn] = f->line;
	return fn;
}

static void count(struct top *tp, uint32_t fn, long long net, long long self, int has_self,
		  int count_net, int running, int folded)
{
	table_add(&tp->thread, fn, net, self, has_self, count_net, running, folded);
	table_add(&tp->all, fn, net, self, has_self, count_net, running, folded);
}

/* A list, dict or set comprehension that ran as a call of its own (3.11 and older; 3.12
 * runs them inline, PEP 709): the function that ran it, in the same file, holds what it
 * changed, as it would on 3.12.  Generator expressions stay calls of their own: they run
 * whenever they are consumed. */
static int is_comprehension(const struct frame *f)
{
	static const char *const names[] = {"<listcomp>", "<dictcomp>", "<setcomp>"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t n = strlen(names[i]);
		if (f->func_len == n && memcmp(f->func, names[i], n) == 0)
			return 1;
		if (f->func_len > n && f->func[f->func_len - n - 1] == '.' &&
		    memcmp(f->func + f->func_len - n, names[i], n) == 0)
			return 1;
	}
	return 0;
}

/* The open call at ev's depth: its row, or its caller's for a comprehension. */
static struct open_call open_call_of(struct top *tp, const struct replay_event *ev)
{
	struct open_call c = {function_of(tp, ev->frame), 0};
	const struct frame *f = frames_get(tp->frames, ev->frame);

	if (ev->depth > 0 && is_comprehension(f)) {
		const struct frame *caller = frames_get(tp->funcs, tp->opens[ev->depth - 1].fn);
		if (caller->file_len == f->file_len &&
		    memcmp(caller->file, f->file, f->file_len) == 0)
			c = (struct open_call){tp->opens[ev->depth - 1].fn, 1};
	}
	return c;
}

static int at_end(const struct top *tp, double t)
{
	return tp->running_col && t > tp->end - 5e-7 && t < tp->end + 5e-7;
}

static void seen_at(struct top *tp, double t)
{
	if (!tp->ch.has_events || t < tp->ch.t_first)
		tp->ch.t_first = t;
	if (!tp->ch.has_events || t > tp->ch.t_last)
		tp->ch.t_last = t;
	tp->ch.has_events = 1;
}

/* The charges: what the top-most calls with a return line were charged (the outermost
 * calls when every call returned; the returned callees of an outermost call that has no
 * return line, e.g. still running when an older recording ended), summed at depth 0. */
static void on_close(struct top *tp, const struct replay_event *ev, struct open_call oc)
{
	uint32_t fn = oc.fn;
	int nested = tp->open_n[fn] > 1;
	long long c;

	tp->open_n[fn]--;
	if (ev->has_return) {
		count(tp, fn, ev->delta, ev->self_delta, 1, !nested, at_end(tp, ev->at), oc.folded);
		c = ev->at >= tp->window ? ev->delta : 0;
	} else {
		c = tp->acc[ev->depth];
	}
	if (ev->depth > 0)
		tp->acc[ev->depth - 1] = tg_sat_add(tp->acc[ev->depth - 1], c);
	else
		tp->ch.bytes = tg_sat_add(tp->ch.bytes, c);
}

static int replay_thread(struct top *tp, const struct rec_thread *t, struct tg_err *err)
{
	struct replay *r =
	    replay_open(t->mem, t->stack, tp->frames, tp->o->strict ? PAIR_STRICT : 0, err);
	struct replay_event ev;
	int rc;

	if (!r)
		return -1;
	while ((rc = replay_next(r, &ev, err)) == 1) {
		if (ev.kind == PAIR_OPEN) {
			struct open_call oc = open_call_of(tp, &ev);
			uint32_t fn = oc.fn;
			if (fn >= tp->open_cap)
				tp->open_n = xgrow0(tp->open_n, &tp->open_cap, (size_t)fn + 1,
						    sizeof *tp->open_n);
			if (ev.depth >= tp->acc_cap)
				tp->acc = xgrow0(tp->acc, &tp->acc_cap, (size_t)ev.depth + 1,
						 sizeof *tp->acc);
			if (ev.depth >= tp->opens_cap)
				tp->opens = xgrow0(tp->opens, &tp->opens_cap, (size_t)ev.depth + 1,
						   sizeof *tp->opens);
			tp->opens[ev.depth] = oc;
			tp->open_n[fn]++;
			tp->acc[ev.depth] = 0;
			if (ev.depth == 0)
				seen_at(tp, ev.at);
		} else {
			on_close(tp, &ev, tp->opens[ev.depth]);
		}
	}
	if (rc == 0 && replay_last_time(r) > 0)
		seen_at(tp, replay_last_time(r));
	tp->skipped.malformed += replay_malformed(r);
	tp->skipped.stray += replay_stray_returns(r);
	replay_close(r);
	tp->ch.threads++;
	return rc;
}

static int returns_only(struct top *tp, const struct rec_thread *t, struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int rc;

	if (tgfile_open(&f, t->mem, TGFILE_RETURNS, tp->o->strict, err) < 0)
		return -1;
	while ((rc = tgfile_next(&f, &rec, err)) == 1) {
		uint32_t id = frames_intern(tp->frames, buf_cstr(&rec.file), rec.file.len,
					    buf_cstr(&rec.func), rec.func.len, 0);
		count(tp, function_of(tp, id), rec.value, 0, 0, 1, at_end(tp, rec.time), 0);
		seen_at(tp, rec.time);
	}
	tp->skipped.malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	tp->ch.threads_no_stack++;
	return rc;
}

static int replay_one(struct top *tp, const struct recording *rec, const struct rec_thread *t,
		      struct tg_err *err)
{
	recording_say_thread(rec, t);
	if ((t->stack ? replay_thread(tp, t, err) : returns_only(tp, t, err)) < 0)
		return -1;
	tp->threads++;
	return 0;
}

/* A family's threads (names that differ only by numbers) make one table: a server's
 * thread per request would otherwise make thousands. */
static int do_family(struct top *tp, const struct recording *rec, const struct threadfam *f,
		     int print, struct tg_err *err)
{
	struct buf title = BUF_INIT;

	table_reset(&tp->thread);
	for (size_t i = 0; i < f->n; i++)
		if (replay_one(tp, rec, &rec->threads[f->threads[i]], err) < 0)
			return -1;
	if (!print)
		return 0;
	if (f->n == 1) {
		const struct rec_thread *t = &rec->threads[f->threads[0]];
		buf_addstr(&title, "Thread ");
		text_display(&title, buf_cstr(&t->name), t->name.len);
	} else {
		buf_addf(&title, "%zu threads ", f->n);
		text_display(&title, buf_cstr(&f->key), f->key.len);
	}
	if (f->no_stack == f->n)
		buf_addf(&title, " (no .stack file%s: no SELF)", f->n == 1 ? "" : "s");
	else if (f->no_stack)
		buf_addf(&title, " (%zu without a .stack file: no SELF from them)", f->no_stack);
	print_table(tp, buf_cstr(&title), &tp->thread);
	buf_free(&title);
	return 0;
}

/* Every family's table into tp->out (unless --merge-threads, or one family holds all the
 * threads: its table would be the all-threads one). */
static int do_families(struct top *tp, const struct recording *rec, struct tg_err *err)
{
	struct threadfam *f;
	size_t nf = threadfam_group(rec, &f);
	int print = !tp->o->merge && !(nf == 1 && f[0].n > 1), rc = 0;

	for (size_t i = 0; i < nf && rc == 0; i++)
		rc = do_family(tp, rec, &f[i], print, err);
	threadfam_free(f, nf);
	return rc;
}

static void top_free(struct top *tp)
{
	table_free(&tp->thread);
	table_free(&tp->all);
	free(tp->fn_of);
	free(tp->line_of);
	free(tp->open_n);
	free(tp->acc);
	free(tp->opens);
	frames_free(tp->frames);
	frames_free(tp->funcs);
}

/* One recording's report.  A recording without thread files is an error, unless it is a
 * process of a tree (*empty not NULL): a process that ran no Python code while recorded (a
 * C server's master, such as uWSGI's) gets its totals and a line saying so, *empty set. */
static int run_one(const struct top_opts *o, FILE *fp, int nargs, char **args, int *empty,
		   struct tg_err *err)
{
	struct recording rec;
	struct top_totals tt;
	struct top tp;
	struct buf title = BUF_INIT;
	char *tables = NULL;
	size_t tables_len = 0;
	int rc = -1;

	memset(&tp, 0, sizeof tp);
	tp.o = o;
	if (recording_open(&rec, nargs, args, err) < 0)
		return -1;
	tp.frames = frames_new();
	tp.funcs = frames_new();
	tp.out = open_memstream(&tables, &tables_len);
	if (!tp.out) {
		tg_err_sys(err, TG_E_INTERNAL, "open_memstream");
		goto out;
	}
	if (top_totals_read(&tt, &rec, o->strict, err) < 0)
		goto out;
	tp.skipped.malformed += tt.malformed;
	tp.window = top_totals_window(&tt);
	tp.end = tt.end;
	tp.running_col = tt.has_end && tt.has_closed && tt.closed_at_end > 0;
	if (do_families(&tp, &rec, err) < 0)
		goto out;
	if (tp.threads == 0 && !empty) {
		tg_err_set(err, TG_E_DATA, "%s: no .mem or .stack files", rec.dir);
		goto out;
	}
	if (fclose(tp.out) != 0) {
		tp.out = NULL;
		tg_err_sys(err, TG_E_INTERNAL, "open_memstream");
		goto out;
	}
	tp.out = NULL;
	recording_title(&rec, 150, &title);
	fprintf(fp, "Memory by function, %s\n", buf_cstr(&title));
	top_totals_print(fp, &tt, &tp.ch, o->bytes);
	if (tp.threads == 0) {
		fprintf(fp, "\nNo thread of this process ran Python code while it was recorded "
			    "(no .mem or .stack files): nothing is charged to functions.\n");
		*empty = 1;
	}
	tp.out = fp; /* the answer first: all threads, then each family */
	if (tp.threads > 1 || o->merge)
		print_table(&tp, "All threads", &tp.all);
	tp.out = NULL;
	fwrite(tables, 1, tables_len, fp);
	if (fflush(fp) != 0 || ferror(fp)) {
		tg_err_sys(err, TG_E_OUTPUT, "writing the report");
		goto out;
	}
	calltree_replay_report(&tp.skipped);
	rc = 0;
out:
	if (tp.out)
		fclose(tp.out);
	free(tables);
	buf_free(&title);
	top_free(&tp);
	recording_free(&rec);
	return rc;
}

/* One report per process of a tree, each process before its children. */
static int run_tree(const struct top_opts *o, FILE *fp, int nargs, char **args, struct tg_err *err)
{
	struct proctree t;
	int r = proctree_open(&t, nargs, args, o->children, err);

	if (r <= 0)
		return r < 0 ? -1 : run_one(o, fp, nargs, args, NULL, err);
	if (t.n == 0) {
		proctree_free(&t);
		return tg_err_set(err, TG_E_DATA, "%s: no process holds a recording", args[0]);
	}
	fprintf(fp, "Process tree %s: %zu process%s:", args[0], t.n, t.n == 1 ? "" : "es");
	for (size_t i = 0; i < t.n; i++)
		fprintf(fp, " %ld", t.pids[i]);
	fprintf(fp, "\n");
	r = 0;
	size_t empty = 0;
	for (size_t i = 0; i < t.n && r == 0; i++) {
		int none = 0;
		fprintf(fp, "\n");
		r = run_one(o, fp, 1, &t.dirs[i], &none, err);
		empty += (size_t)none;
	}
	if (r == 0 && empty == t.n)
		r = tg_err_set(err, TG_E_DATA,
			       "%s: no process of the tree has .mem or .stack files", args[0]);
	proctree_free(&t);
	return r;
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct top_opts *o = opts;
	struct outfile out = {NULL, NULL, NULL};

	if (outfile_open(&out, o->output, err) < 0)
		return -1;
	int r = run_tree(o, out.fp, nargs, args, err);
	if (r == 0)
		r = outfile_commit(&out, err);
	outfile_abort(&out);
	return r;
}

static const char *const keys[] = {"net", "self", "calls", NULL};

static void init(void *opts)
{
	((struct top_opts *)opts)->n = 20;
}

static const struct cli_opt options[] = {
    {"output", 'o', "FILE", CLI_STR, offsetof(struct top_opts, output),
     "write FILE (default: standard output)"},
    {"", 'n', "N", CLI_LL, offsetof(struct top_opts, n), "rows per table (default 20, 0 = all)", 0,
     LLONG_MAX},
    {"by", 0, "net|self|calls", CLI_CHOICE, offsetof(struct top_opts, by),
     "the ranking (default net, largest first)", 0, 0, keys},
    {"reverse", 0, NULL, CLI_FLAG, offsetof(struct top_opts, reverse),
     "smallest first (the largest releases of memory)"},
    {"bytes", 0, NULL, CLI_FLAG, offsetof(struct top_opts, bytes),
     "exact byte counts instead of KB/MB/GB"},
    {"merge-threads", 0, NULL, CLI_FLAG, offsetof(struct top_opts, merge),
     "one table for all threads, none per thread"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct top_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {"children", 0, NULL, CLI_FLAG, offsetof(struct top_opts, children),
     "DIR (OUTDIR/PID) and its descendants; OUTDIR (a\ndirectory of PID recordings) is the "
     "whole tree:\none report per process, each headed by its PID\nand command line"},
    {NULL},
};

const struct cli_command render_top_cmd = {
    "top",
    "functions ranked by the memory they gained, per thread (text)",
    "DIR|FILES... [options]",
    "Ranks functions by the memory they gained, for all threads, then for each\n"
    "thread (threads whose names differ only by numbers, such as a server's\n"
    "\"Thread-N (handler)\", make one table):\n"
    "  NET    memory change over the function's calls, callees included (a recursive\n"
    "         function's inner calls are not counted again)\n"
    "  SELF   the same without what its callees changed (needs THREAD.stack)\n"
    "  CALLS  returns of the function\n"
    "  RUNNING  of those, calls still running when the recording ended (closed then\n"
    "         with what they had been charged; shown when meta says closed_at_end)\n"
    "A function is FUNC FILE:LINE: one row per file and name, LINE the first line\n"
    "where its calls were seen.  A list, dict or set comprehension run as a call\n"
    "of its own (3.11 and older) is counted in the function that ran it, as 3.12\n"
    "runs it inline.  The tables follow the recording's totals: duration,\n"
    "heap and RSS growth, what the functions are charged of it and the remainder,\n"
    "with a warning when most of the growth is not explained by them.\n",
    NULL,
    options,
    sizeof(struct top_opts),
    init,
    "no recording directory given",
    run,
};
