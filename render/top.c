/* render top: functions ranked by the memory they gained, per thread and over all
 * threads, as a table for the terminal.  With THREAD.stack, calls and returns are
 * replayed (render/replay.h), which gives each function's own memory (SELF, callees
 * excluded) and counts a recursive function's memory once (NET from its outermost calls);
 * with only THREAD.mem, NET is the plain sum of its returns' deltas, as memh did. */
#include "render/render.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "render/cli.h"
#include "render/frames.h"
#include "render/interrupt.h"
#include "render/recording.h"
#include "render/replay.h"
#include "render/text.h"
#include "render/tgfile.h"

enum top_key { BY_NET, BY_SELF, BY_CALLS };

struct top_opts {
	long long n; /* rows per table, 0 = all */
	enum top_key by;
	int reverse;
	int bytes;
	int strict;
};

struct fstat {
	unsigned long long calls;
	long long net, self;
	int has_self; /* SELF is known (the thread has a .stack) */
	int touched;
};

/* Stats by frame id, with the ids touched so far. */
struct table {
	struct fstat *v;
	size_t cap;
	uint32_t *used;
	size_t nused, used_cap;
	unsigned long long calls;
};

struct top {
	const struct top_opts *o;
	struct frames *frames;
	struct table thread, all;
	unsigned long malformed, stray;
	size_t threads;
};

static void usage(FILE *fp)
{
	fputs("usage: tgattach render top DIR|FILES... [options]\n"
	      "Ranks functions by the memory they gained, for each thread and for all threads:\n"
	      "  NET    memory change over the function's calls, callees included (a recursive\n"
	      "         function's inner calls are not counted again)\n"
	      "  SELF   the same without what its callees changed (needs THREAD.stack)\n"
	      "  CALLS  returns of the function\n"
	      "A function is FUNC FILE:LINE, LINE where its calls were first seen.\n"
	      "  -n N               rows per table (default 20, 0 = all)\n"
	      "  --by net|self|calls  the ranking (default net, largest first)\n"
	      "  --reverse          smallest first (the largest releases of memory)\n"
	      "  --bytes            exact byte counts instead of KB/MB/GB\n"
	      "  --strict           a malformed line is an error (default: skipped)\n",
	      fp);
}

enum { OPT_BY = 256, OPT_REVERSE, OPT_BYTES, OPT_STRICT };

static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"by", required_argument, NULL, OPT_BY},
    {"reverse", no_argument, NULL, OPT_REVERSE},
    {"bytes", no_argument, NULL, OPT_BYTES},
    {"strict", no_argument, NULL, OPT_STRICT},
    {NULL, 0, NULL, 0},
};

static int set_option(struct top_opts *o, int c, const char *arg, struct tg_err *err)
{
	switch (c) {
	case 'n':
		if (cli_ll("-n", arg, &o->n, err) < 0 || o->n < 0)
			return tg_err_set(err, TG_E_USAGE, "-n: not an integer >= 0: '%s'", arg);
		return 0;
	case OPT_BY:
		if (strcmp(arg, "net") == 0)
			o->by = BY_NET;
		else if (strcmp(arg, "self") == 0)
			o->by = BY_SELF;
		else if (strcmp(arg, "calls") == 0)
			o->by = BY_CALLS;
		else
			return tg_err_set(err, TG_E_USAGE,
					  "--by: 'net', 'self' or 'calls', not '%s'", arg);
		return 0;
	case OPT_REVERSE:
		o->reverse = 1;
		return 0;
	case OPT_BYTES:
		o->bytes = 1;
		return 0;
	case OPT_STRICT:
		o->strict = 1;
		return 0;
	}
	return tg_err_set(err, TG_E_USAGE, "bad option (see --help)");
}

static int parse_args(int argc, char **argv, void *opts, struct tg_err *err)
{
	struct top_opts *o = opts;
	int c;

	memset(o, 0, sizeof *o);
	o->n = 20;
	optind = 0;
	while ((c = getopt_long(argc, argv, "n:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (set_option(o, c, optarg, err) < 0)
			return -1;
	}
	if (optind >= argc)
		return tg_err_set(err, TG_E_USAGE, "no recording directory given");
	return 0;
}

/* ---- the tables ---- */

static struct fstat *table_at(struct table *t, uint32_t f)
{
	if (f >= t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		while (cap <= f)
			cap *= 2;
		t->v = xrealloc(t->v, cap * sizeof *t->v);
		memset(t->v + t->cap, 0, (cap - t->cap) * sizeof *t->v);
		t->cap = cap;
	}
	if (!t->v[f].touched) {
		if (t->nused == t->used_cap) {
			t->used_cap = t->used_cap ? t->used_cap * 2 : 256;
			t->used = xrealloc(t->used, t->used_cap * sizeof *t->used);
		}
		t->used[t->nused++] = f;
		t->v[f].touched = 1;
	}
	return &t->v[f];
}

static void table_add(struct table *t, uint32_t f, long long net, long long self, int has_self,
		      int count_net)
{
	struct fstat *s = table_at(t, f);

	s->has_self |= has_self;
	s->calls++;
	if (count_net)
		s->net += net;
	s->self += self;
	t->calls++;
}

static void table_reset(struct table *t)
{
	for (size_t i = 0; i < t->nused; i++)
		memset(&t->v[t->used[i]], 0, sizeof *t->v);
	t->nused = 0;
	t->calls = 0;
}

static void table_free(struct table *t)
{
	free(t->v);
	free(t->used);
}

/* ---- printing ---- */

static void human(char *out, size_t size, long long v, int exact, int is_self_missing)
{
	double a = v < 0 ? -(double)v : (double)v;

	if (is_self_missing)
		snprintf(out, size, "-");
	else if (v == 0)
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
	const struct frame *f = frames_get(tp->frames, id);
	struct buf name = BUF_INIT;
	char net[32], self[32];

	human(net, sizeof net, s->net, tp->o->bytes, 0);
	human(self, sizeof self, s->self, tp->o->bytes, !s->has_self);
	text_display(&name, f->func, f->func_len);
	buf_addstr(&name, "  ");
	text_display(&name, f->file, f->file_len);
	if (f->line > 0)
		buf_addf(&name, ":%ld", f->line);
	printf("%11s %11s %9llu  %s\n", net, self, s->calls, buf_cstr(&name));
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
	printf("\n%s: %llu call%s of %zu function%s\n", title, t->calls, t->calls == 1 ? "" : "s",
	       n, n == 1 ? "" : "s");
	printf("%11s %11s %9s  %s\n", "NET", "SELF", "CALLS", "FUNCTION");
	if (tp->o->n > 0 && (size_t)tp->o->n < n)
		n = (size_t)tp->o->n;
	for (size_t i = 0; i < n; i++)
		print_row(tp, &t->v[ids[i]], ids[i]);
	if (n < t->nused)
		printf("%11s (%zu more)\n", "...", t->nused - n);
	free(ids);
}

/* ---- reading ---- */

static void count(struct top *tp, uint32_t f, long long net, long long self, int has_self,
		  int count_net)
{
	table_add(&tp->thread, f, net, self, has_self, count_net);
	table_add(&tp->all, f, net, self, has_self, count_net);
}

static int replay_thread(struct top *tp, const struct rec_thread *t, struct tg_err *err)
{
	struct replay *r =
	    replay_open(t->mem, t->stack, tp->frames, tp->o->strict ? PAIR_STRICT : 0, err);
	struct replay_event ev;
	int rc;

	if (!r)
		return -1;
	while ((rc = replay_next(r, &ev, err)) == 1)
		if (ev.kind == PAIR_CLOSE && ev.has_return)
			count(tp, ev.frame, ev.delta, ev.self_delta, 1, !ev.nested);
	tp->malformed += replay_malformed(r);
	tp->stray += replay_stray_returns(r);
	replay_close(r);
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
		count(tp, id, rec.value, 0, 0, 1);
	}
	tp->malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	return rc;
}

static int do_thread(struct top *tp, const struct rec_thread *t, struct tg_err *err)
{
	struct buf title = BUF_INIT;
	int rc;

	recording_say_thread(t);
	table_reset(&tp->thread);
	rc = t->stack ? replay_thread(tp, t, err) : returns_only(tp, t, err);
	if (rc < 0)
		return -1;
	buf_addstr(&title, "Thread ");
	text_display(&title, buf_cstr(&t->name), t->name.len);
	if (!t->stack)
		buf_addstr(&title, " (no .stack file: no SELF)");
	print_table(tp, buf_cstr(&title), &tp->thread);
	buf_free(&title);
	tp->threads++;
	return 0;
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct top_opts *o = opts;
	struct recording rec;
	struct top tp;
	struct buf title = BUF_INIT;
	int rc = -1;

	memset(&tp, 0, sizeof tp);
	tp.o = o;
	if (recording_open(&rec, nargs, args, err) < 0)
		return -1;
	tp.frames = frames_new();
	recording_title(&rec, 150, &title);
	printf("Memory by function, %s\n", buf_cstr(&title));
	for (size_t i = 0; i < rec.nthreads; i++)
		if ((rec.threads[i].mem || rec.threads[i].stack) &&
		    do_thread(&tp, &rec.threads[i], err) < 0)
			goto out;
	if (tp.threads == 0) {
		tg_err_set(err, TG_E_DATA, "%s: no .mem or .stack files", rec.dir);
		goto out;
	}
	if (tp.threads > 1)
		print_table(&tp, "All threads", &tp.all);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		tg_err_sys(err, TG_E_OUTPUT, "writing standard output");
		goto out;
	}
	if (tp.malformed)
		fprintf(stderr, "%lu malformed line%s skipped\n", tp.malformed,
			tp.malformed == 1 ? "" : "s");
	if (tp.stray)
		fprintf(stderr, "%lu return%s matched no call (called before the recording)\n",
			tp.stray, tp.stray == 1 ? "" : "s");
	rc = 0;
out:
	buf_free(&title);
	table_free(&tp.thread);
	table_free(&tp.all);
	frames_free(tp.frames);
	recording_free(&rec);
	return rc;
}

int render_top(int argc, char **argv)
{
	static const struct cli_command cmd = {"top", parse_args, run};
	struct top_opts o;

	return cli_main(&cmd, &o, argc, argv);
}
