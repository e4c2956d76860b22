/* render speedscope: speedscope's own JSON file format, one "evented" profile per thread,
 * the calls and returns as O (open) and C (close) events in seconds since the first event
 * of the recording, frames in the shared list.
 *
 * Streamed: each thread's events are written as they are replayed (render/replay.h, which
 * guarantees proper nesting); only the frame list is held, and written last ("shared"
 * after "profiles": JSON objects are unordered). */
#include "render/cli.h"
#include "render/render.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/version.h"
#include "render/calltree.h"
#include "render/calltree_replay.h"
#include "render/frames.h"
#include "render/interrupt.h"
#include "render/proctree.h"
#include "render/outfile.h"
#include "render/recording.h"
#include "render/replay.h"
#include "render/text.h"

#define SCHEMA "https://www.speedscope.app/file-format-schema.json"
#define FLUSH_AT 65536

struct ss_opts {
	const char *output;
	int strict;
	int children;
	int weight; /* 0: --weight bytes, a sampled memory profile per thread too; -1 none */
};

struct ss {
	const struct ss_opts *o;
	struct outfile out;
	struct frames *frames;
	struct buf b; /* pending output */
	double t0;
	size_t profiles;
	unsigned long malformed, stray, events;
};

static void flush(struct ss *s, int force)
{
	if (s->b.len && (force || s->b.len >= FLUSH_AT)) {
		fwrite(s->b.data, 1, s->b.len, s->out.fp);
		buf_reset(&s->b);
	}
}

static void profile_start(struct ss *s, const struct rec_thread *t)
{
	buf_addstr(&s->b, s->profiles++ ? ",\n" : "\n");
	buf_addstr(&s->b, "{\"type\":\"evented\",\"name\":");
	text_json_quote(&s->b, buf_cstr(&t->name), t->name.len);
	buf_addstr(&s->b, ",\"unit\":\"seconds\",\"events\":[\n");
}

/* Appends v in decimal; v >= 0. */
static void add_uint(struct buf *b, unsigned long long v)
{
	char tmp[24];
	size_t n = sizeof tmp;

	do
		tmp[--n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	buf_add(b, tmp + n, sizeof tmp - n);
}

/* "%.6f" without printf (millions of events): v rounded to microseconds. */
static void add_seconds(struct buf *b, double v)
{
	if (!(v >= 0 && v < 1e12)) {
		buf_addf(b, "%.6f", v);
		return;
	}
	unsigned long long us = (unsigned long long)(v * 1e6 + 0.5);
	char frac[7];

	add_uint(b, us / 1000000);
	for (int i = 5; i >= 0; i--, us /= 10)
		frac[i] = (char)('0' + us % 10);
	buf_addch(b, '.');
	buf_add(b, frac, 6);
}

static void event(struct ss *s, const struct replay_event *ev, int first)
{
	buf_addstr(&s->b,
		   ev->kind == PAIR_OPEN
		       ? (first ? "{\"type\":\"O\",\"frame\":" : ",\n{\"type\":\"O\",\"frame\":")
		       : (first ? "{\"type\":\"C\",\"frame\":" : ",\n{\"type\":\"C\",\"frame\":"));
	add_uint(&s->b, ev->frame);
	buf_addstr(&s->b, ",\"at\":");
	add_seconds(&s->b, ev->at - s->t0);
	buf_addch(&s->b, '}');
	s->events++;
	flush(s, 0);
}

static int thread_events(struct ss *s, const struct rec_thread *t, struct tg_err *err)
{
	struct replay *r =
	    replay_open(t->mem, t->stack, s->frames, s->o->strict ? PAIR_STRICT : 0, err);
	struct replay_event ev;
	double start = 0;
	unsigned long n = 0;
	int rc;

	if (!r)
		return -1;
	while ((rc = replay_next(r, &ev, err)) == 1) {
		if (n == 0) {
			profile_start(s, t);
			start = ev.at;
		}
		event(s, &ev, n++ == 0);
	}
	if (rc == 0 && n)
		buf_addf(&s->b, "\n],\"startValue\":%.6f,\"endValue\":%.6f}", start - s->t0,
			 replay_last_time(r) - s->t0);
	s->malformed += replay_malformed(r);
	s->stray += replay_stray_returns(r);
	replay_close(r);
	return rc;
}

static void gained(void *ctx, const struct replay_event *ev, double *w)
{
	(void)ctx;
	w[0] = (double)ev->self_delta;
}

struct sampled {
	struct ss *s;
	size_t n;
	long long total;
};

static int sampled_stack(void *ctx, const uint32_t *path, size_t n, const double *w,
			 struct tg_err *err)
{
	struct sampled *sp = ctx;
	long long bytes = llround(w[0]);

	(void)err;
	if (bytes <= 0)
		return 0;
	buf_addstr(&sp->s->b, sp->n++ ? ",\n[" : "\n[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addch(&sp->s->b, ',');
		add_uint(&sp->s->b, path[i]);
	}
	buf_addch(&sp->s->b, ']');
	sp->total += bytes;
	flush(sp->s, 0);
	return 0;
}

static int sampled_weight(void *ctx, const uint32_t *path, size_t n, const double *w,
			  struct tg_err *err)
{
	struct sampled *sp = ctx;
	long long bytes = llround(w[0]);

	(void)path, (void)n, (void)err;
	if (bytes <= 0)
		return 0;
	buf_addstr(&sp->s->b, sp->n++ ? "," : "");
	add_uint(&sp->s->b, (unsigned long long)bytes);
	flush(sp->s, 0);
	return 0;
}

/* --weight bytes: a "sampled" profile of thread t, one sample per stack that gained
 * memory, weighted by its bytes.  The call tree is walked twice (stacks, then weights):
 * only it is held, not the output. */
static int memory_profile(struct ss *s, const struct rec_thread *t, struct tg_err *err)
{
	struct calltree *tree = calltree_new();
	struct calltree_replay_counts counts = {0, 0};
	struct sampled sp = {s, 0, 0};
	int rc = calltree_replay(tree, s->frames, t, s->o->strict ? PAIR_STRICT : 0, gained, s,
				 &counts, err);

	if (rc == 0) {
		struct buf name = BUF_INIT;
		buf_add(&name, t->name.data, t->name.len);
		buf_addstr(&name, " (memory gained)");
		buf_addstr(&s->b, s->profiles++ ? ",\n" : "\n");
		buf_addstr(&s->b, "{\"type\":\"sampled\",\"name\":");
		text_json_quote(&s->b, name.data, name.len);
		buf_addstr(&s->b, ",\"unit\":\"bytes\",\"samples\":[");
		buf_free(&name);
		rc = calltree_walk(tree, sampled_stack, &sp, err);
		buf_addstr(&s->b, "\n],\"weights\":[");
		sp.n = 0;
		if (rc == 0)
			rc = calltree_walk(tree, sampled_weight, &sp, err);
		buf_addf(&s->b, "],\"startValue\":0,\"endValue\":%lld}", sp.total);
	}
	calltree_free(tree);
	return rc;
}

static void write_frames(struct ss *s)
{
	size_t n = frames_count(s->frames);

	buf_addstr(&s->b, "\n],\n\"shared\":{\"frames\":[");
	for (size_t i = 0; i < n; i++) {
		const struct frame *f = frames_get(s->frames, (uint32_t)i);
		buf_addstr(&s->b, i ? ",\n{\"name\":" : "\n{\"name\":");
		text_json_quote(&s->b, f->func, f->func_len);
		buf_addstr(&s->b, ",\"file\":");
		text_json_quote(&s->b, f->file, f->file_len);
		if (f->line > 0)
			buf_addf(&s->b, ",\"line\":%ld", f->line);
		buf_addch(&s->b, '}');
		flush(s, 0);
	}
	buf_addstr(&s->b, "\n]}}\n");
	flush(s, 1);
}

static void write_head(struct ss *s, const struct recording *rec)
{
	struct buf name = BUF_INIT;

	recording_title(rec, 200, &name);
	buf_addstr(&s->b, "{\"$schema\":\"" SCHEMA "\",\n\"exporter\":\"tgattach " TG_VERSION
			  "\",\n\"name\":");
	text_json_quote(&s->b, buf_cstr(&name), name.len);
	buf_addstr(&s->b, ",\n\"activeProfileIndex\":0,\n\"profiles\":[");
	buf_free(&name);
}

static int export(struct ss *s, const struct recording *rec, struct tg_err *err)
{
	write_head(s, rec);
	for (size_t i = 0; i < rec->nthreads; i++) {
		const struct rec_thread *t = &rec->threads[i];
		if (!t->stack)
			continue;
		recording_say_thread(rec, t);
		if (thread_events(s, t, err) < 0)
			return -1;
		if (s->o->weight == 0 && memory_profile(s, t, err) < 0)
			return -1;
	}
	if (s->profiles == 0)
		return tg_err_set(err, TG_E_DATA, "%s: no calls to export", rec->dir);
	write_frames(s);
	return 0;
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct ss_opts *o = opts;
	struct recording rec;
	struct ss s;
	int rc = -1;

	memset(&s, 0, sizeof s);
	s.o = o;
	if (proctree_recording(&rec, nargs, args, o->children, err) < 0)
		return -1;
	if (recording_need_stacks(&rec, "speedscope", err) < 0 ||
	    recording_first_time(&rec, REC_MEM | REC_STACK, &s.t0, err) < 0 ||
	    outfile_open(&s.out, o->output, err) < 0)
		goto out;
	s.frames = frames_new();
	if (export(&s, &rec, err) == 0 && outfile_commit(&s.out, err) == 0) {
		if (s.malformed)
			fprintf(stderr, "%lu malformed line%s skipped\n", s.malformed,
				s.malformed == 1 ? "" : "s");
		if (s.stray)
			fprintf(stderr,
				"%lu return%s matched no call (called before the "
				"recording)\n",
				s.stray, s.stray == 1 ? "" : "s");
		fprintf(stderr, "%zu profile%s, %lu events, %zu frames\n", s.profiles,
			s.profiles == 1 ? "" : "s", s.events, frames_count(s.frames));
		rc = 0;
	}
out:
	outfile_abort(&s.out);
	frames_free(s.frames);
	buf_free(&s.b);
	recording_free(&rec);
	return rc;
}

static const char *const weights[] = {"bytes", NULL};

static const struct cli_opt options[] = {
    {"output", 'o', "FILE", CLI_STR, offsetof(struct ss_opts, output),
     "write FILE (default: standard output)"},
    {"weight", 0, "bytes", CLI_CHOICE, offsetof(struct ss_opts, weight),
     "also, after each thread's, a sampled profile of\nthe memory each stack gained (unit "
     "bytes: its\ncalls' deltas minus their callees'; stacks with\na net gain), named "
     "'THREAD (memory gained)'",
     0, 0, weights},
    {"children", 0, NULL, CLI_FLAG, offsetof(struct ss_opts, children),
     "DIR (OUTDIR/PID) and its descendants; OUTDIR (a\ndirectory of PID recordings) is the "
     "whole tree;\nwith several processes each profile is named\n'PID N: THREAD'"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct ss_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {NULL},
};

static void init(void *opts)
{
	((struct ss_opts *)opts)->weight = -1;
}

const struct cli_command render_speedscope_cmd = {
    "speedscope",
    "speedscope JSON, one evented profile per thread",
    "DIR|OUTDIR|FILES... [options]",
    "Writes the recording in speedscope's file format (https://www.speedscope.app):\n"
    "one evented profile per thread, each call and return an open and a close event,\n"
    "in seconds since the recording's first event.  Needs the THREAD.stack files\n"
    "(and THREAD.mem for the returns).\n",
    NULL,
    options,
    sizeof(struct ss_opts),
    init,
    "no recording directory given",
    run,
};
