/* render collapsed: folded stacks, one line per distinct stack with its weight,
 *   THREAD;OUTER (FILE:LINE);...;INNER (FILE:LINE) WEIGHT
 * for flamegraph.pl and speedscope.  Each thread's calls and returns are replayed
 * (render/replay.h) and every call's own time or memory is added to its stack in a call
 * tree (render/calltree.h), written out when the thread is done. */
#include "render/render.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "render/calltree.h"
#include "render/calltree_replay.h"
#include "render/cli.h"
#include "render/frames.h"
#include "render/interrupt.h"
#include "render/outfile.h"
#include "render/proctree.h"
#include "render/recording.h"
#include "render/replay.h"
#include "render/text.h"
#include "render/threadfam.h"

enum weight { W_SAMPLES, W_TIME, W_BYTES, W_FREED };

struct collapsed_opts {
	const char *output;
	int weight;	 /* enum weight */
	double interval; /* s; 0 = from meta */
	int merge_threads;
	int per_thread; /* --per-thread: one THREAD frame per thread, not per family */
	int strict;
	int children;
};

struct collapsed {
	const struct collapsed_opts *o;
	struct outfile out;
	struct frames *frames;
	struct calltree *tree;
	char **ftext; /* each frame's text, made on first use */
	size_t *ftext_len, nftext;
	struct buf line;
	const char *prefix; /* the thread frame, or NULL */
	size_t prefix_len;
	double per_unit; /* weight = self time * per_unit (samples, time) */
	struct calltree_replay_counts counts;
	unsigned long lines;
};

static void weigh(void *ctx, const struct replay_event *ev, double *w)
{
	const struct collapsed *c = ctx;

	switch (c->o->weight) {
	case W_SAMPLES:
	case W_TIME:
		w[0] = ev->self_time * c->per_unit;
		break;
	case W_BYTES:
		w[0] = (double)ev->self_delta;
		break;
	case W_FREED:
		w[0] = -(double)ev->self_delta;
		break;
	}
}

/* "FUNC (FILE:LINE)", names escaped for the folded format; "FUNC (FILE)" when the line is
 * unknown (a native frame with no line information: -1 in the .stack file). */
static void add_frame(struct collapsed *c, uint32_t id)
{
	if (id >= c->nftext) {
		size_t n = frames_count(c->frames);
		c->ftext = xrealloc(c->ftext, n * sizeof *c->ftext);
		c->ftext_len = xrealloc(c->ftext_len, n * sizeof *c->ftext_len);
		memset(c->ftext + c->nftext, 0, (n - c->nftext) * sizeof *c->ftext);
		c->nftext = n;
	}
	if (!c->ftext[id]) {
		const struct frame *f = frames_get(c->frames, id);
		struct buf b = BUF_INIT;
		text_folded(&b, f->func, f->func_len);
		buf_addstr(&b, " (");
		text_folded(&b, f->file, f->file_len);
		if (f->line > 0)
			buf_addf(&b, ":%ld", f->line);
		buf_addch(&b, ')');
		c->ftext_len[id] = b.len;
		c->ftext[id] = buf_detach(&b);
	}
	buf_add(&c->line, c->ftext[id], c->ftext_len[id]);
}

static int write_stack(void *ctx, const uint32_t *path, size_t n, const double *weights,
		       struct tg_err *err)
{
	struct collapsed *c = ctx;
	long long w = llround(weights[0]);

	(void)err;
	if (w <= 0)
		return 0;
	buf_reset(&c->line);
	if (c->prefix) {
		buf_add(&c->line, c->prefix, c->prefix_len);
		buf_addch(&c->line, ';');
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addch(&c->line, ';');
		add_frame(c, path[i]);
	}
	buf_addf(&c->line, " %lld\n", w);
	fwrite(c->line.data, 1, c->line.len, c->out.fp);
	c->lines++;
	return 0;
}

static int flush_tree(struct collapsed *c, struct tg_err *err)
{
	int rc = calltree_walk(c->tree, write_stack, c, err);

	calltree_free(c->tree);
	c->tree = calltree_new();
	return rc;
}

static int replay_thread(struct collapsed *c, const struct rec_thread *t, struct tg_err *err)
{
	return calltree_replay(c->tree, c->frames, t, c->o->strict ? PAIR_STRICT : 0, weigh, c,
			       &c->counts, err);
}

/* One graph per thread (--per-thread), else per family of threads whose names differ only
 * by numbers (render/threadfam.h), each under its THREAD frame; with --merge-threads one
 * graph without it. */
static int do_threads(struct collapsed *c, const struct recording *rec, struct tg_err *err)
{
	struct buf prefix = BUF_INIT, title = BUF_INIT;
	struct threadfam *f = NULL;
	size_t nf = c->o->per_thread ? 0 : threadfam_group(rec, &f);
	size_t ngroups = c->o->per_thread ? rec->nthreads : nf;
	int rc = 0;

	for (size_t g = 0; g < ngroups && rc == 0; g++) {
		size_t n = c->o->per_thread ? 1 : f[g].n, replayed = 0;
		for (size_t k = 0; k < n && rc == 0; k++) {
			const struct rec_thread *t =
			    &rec->threads[c->o->per_thread ? g : f[g].threads[k]];
			if (!t->stack)
				continue;
			recording_say_thread(rec, t);
			rc = replay_thread(c, t, err);
			replayed++;
		}
		if (rc < 0 || c->o->merge_threads || !replayed)
			continue;
		const struct buf *name = &title;
		buf_reset(&title);
		if (c->o->per_thread)
			name = &rec->threads[g].name;
		else
			threadfam_title(rec, &f[g], &title);
		buf_reset(&prefix);
		text_folded(&prefix, buf_cstr(name), name->len);
		c->prefix = prefix.data;
		c->prefix_len = prefix.len;
		rc = flush_tree(c, err);
	}
	c->prefix = NULL;
	if (rc == 0 && c->o->merge_threads)
		rc = flush_tree(c, err);
	if (!c->o->per_thread)
		threadfam_free(f, nf);
	buf_free(&prefix);
	buf_free(&title);
	return rc;
}

static void report(const struct collapsed *c, const struct recording *rec)
{
	for (size_t i = 0; i < rec->nthreads; i++) {
		if (rec->threads[i].stack)
			continue;
		struct buf shown = BUF_INIT;
		text_display(&shown, buf_cstr(&rec->threads[i].name), rec->threads[i].name.len);
		fprintf(stderr, "thread %s: no .stack file, left out\n", buf_cstr(&shown));
		buf_free(&shown);
	}
	calltree_replay_report(&c->counts);
	fprintf(stderr, "%lu stack%s written\n", c->lines, c->lines == 1 ? "" : "s");
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct collapsed_opts *o = opts;
	struct recording rec;
	struct collapsed c;
	int rc = -1;

	memset(&c, 0, sizeof c);
	c.o = o;
	if (proctree_recording(&rec, nargs, args, o->children, err) < 0)
		return -1;
	if (recording_need_stacks(&rec, "collapsed", err) < 0)
		goto out;
	c.per_unit = o->weight == W_TIME ? 1e6 : 1 / recording_interval(&rec, o->interval);
	if (outfile_open(&c.out, o->output, err) < 0)
		goto out;
	c.frames = frames_new();
	c.tree = calltree_new();
	if (do_threads(&c, &rec, err) == 0 && outfile_commit(&c.out, err) == 0) {
		report(&c, &rec);
		rc = 0;
	}
out:
	outfile_abort(&c.out);
	calltree_free(c.tree);
	for (size_t i = 0; i < c.nftext; i++)
		free(c.ftext[i]);
	free(c.ftext);
	free(c.ftext_len);
	frames_free(c.frames);
	buf_free(&c.line);
	recording_free(&rec);
	return rc;
}

static const char *const weights[] = {"samples", "time", "bytes", "freed", NULL};

static const struct cli_opt options[] = {
    {"output", 'o', "FILE", CLI_STR, offsetof(struct collapsed_opts, output),
     "write FILE (default: standard output)"},
    {"weight", 0, "samples|time|bytes|freed", CLI_CHOICE, offsetof(struct collapsed_opts, weight),
     "samples: the time each stack was running, in\nsample intervals (default)\n"
     "time: the same in microseconds\n"
     "bytes: memory each stack gained: its calls' deltas\nminus their callees' deltas "
     "(stacks with a net\ngain)\n"
     "freed: memory each stack released (stacks with a\nnet loss)",
     0, 0, weights},
    {"interval", 0, "S", CLI_NUM, offsetof(struct collapsed_opts, interval),
     "the sample interval for --weight samples\n(default: 1/rate_hz from the recording's "
     "meta,\nelse 0.01)",
     1},
    {"merge-threads", 0, NULL, CLI_FLAG, offsetof(struct collapsed_opts, merge_threads),
     "no THREAD frame: all threads in one graph"},
    {"per-thread", 0, NULL, CLI_FLAG, offsetof(struct collapsed_opts, per_thread),
     "one THREAD frame per thread (default: threads\nwhose names differ only by numbers, "
     "such as a\nserver's Thread-N (handler), share one, named\nwith N)"},
    {"children", 0, NULL, CLI_FLAG, offsetof(struct collapsed_opts, children),
     "DIR (OUTDIR/PID) and its descendants; OUTDIR (a\ndirectory of PID recordings) is the "
     "whole tree;\nwith several processes THREAD is 'PID N: NAME'"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct collapsed_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {NULL},
};

const struct cli_command render_collapsed_cmd = {
    "collapsed",
    "folded stacks for flamegraph.pl and speedscope",
    "DIR|OUTDIR|FILES... [options]",
    "Writes folded stacks, one line per distinct call stack of each thread (threads\n"
    "whose names differ only by numbers under one THREAD, named with N):\n"
    "  THREAD;OUTER (FILE:LINE);...;INNER (FILE:LINE) WEIGHT\n"
    "as flamegraph.pl and speedscope read them.  LINE is where the call was first\n"
    "seen; ';', '\\', control bytes and invalid UTF-8 in names are written as \\xHH.\n"
    "Needs the THREAD.stack files (and THREAD.mem for the returns).\n",
    NULL,
    options,
    sizeof(struct collapsed_opts),
    NULL,
    "no recording directory given",
    run,
};
