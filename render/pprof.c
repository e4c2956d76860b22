/* render pprof: the recording as a gzip-compressed pprof profile (profile.proto), for
 * `go tool pprof`, Pyroscope, Parca and Grafana.  Two values per sample: the time each
 * distinct stack ran, in sample intervals (samples/count), and the memory it gained
 * (memory/bytes, net: negative for a stack that released more than it took), both from
 * each call's own share (render/replay.h), as render collapsed computes them.  One sample
 * per distinct stack of each thread, labelled with the thread (`thread`) and its process
 * (`pid`).  Messages are encoded with protobuf-c (render/profile.proto) and compressed with
 * zlib. */
#include "render/render.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "render/calltree.h"
#include "render/calltree_replay.h"
#include "render/cli.h"
#include "render/frames.h"
#include "render/outfile.h"
#include "render/pprof_enc.h"
#include "render/proctree.h"
#include "render/recording.h"
#include "render/replay.h"

struct pprof_opts {
	const char *output;
	double interval; /* s; 0 = from meta */
	int strict;
	int children;
};

struct pprof {
	const struct pprof_opts *o;
	struct frames *frames;
	struct calltree *tree;
	struct pprof_enc *enc;
	double per_sample; /* 1 / interval */
	const char *thread;
	size_t thread_len;
	long pid;
	struct calltree_replay_counts counts;
};

static int add_sample(void *ctx, const uint32_t *path, size_t n, const double *w,
		      struct tg_err *err)
{
	struct pprof *pp = ctx;
	int64_t v[2] = {llround(w[0]), llround(w[1])};

	(void)err;
	if (v[0] == 0 && v[1] == 0)
		return 0;
	pprof_enc_sample(pp->enc, path, n, v, pp->thread, pp->thread_len, pp->pid);
	return 0;
}

static void weigh(void *ctx, const struct replay_event *ev, double *w)
{
	const struct pprof *pp = ctx;

	w[0] = ev->self_time * pp->per_sample;
	w[1] = (double)ev->self_delta;
}

/* The process of a thread: the PID its directory (OUTDIR/PID) is named by, else 0. */
static long pid_of(const struct rec_thread *t)
{
	size_t len = t->dir ? strlen(t->dir) : 0, start;
	long pid = 0;

	while (len > 1 && t->dir[len - 1] == '/')
		len--;
	for (start = len; start > 0 && t->dir[start - 1] != '/'; start--)
		;
	for (size_t i = start; i < len && pid >= 0; i++)
		pid = t->dir[i] >= '0' && t->dir[i] <= '9' && pid < 100000000
			  ? pid * 10 + (t->dir[i] - '0')
			  : -1;
	return len > start && pid > 0 ? pid : 0;
}

static int do_threads(struct pprof *pp, const struct recording *rec, struct tg_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < rec->nthreads && rc == 0; i++) {
		const struct rec_thread *t = &rec->threads[i];
		if (!t->stack)
			continue;
		recording_say_thread(rec, t);
		rc = calltree_replay(pp->tree, pp->frames, t, pp->o->strict ? PAIR_STRICT : 0,
				     weigh, pp, &pp->counts, err);
		if (rc < 0)
			break;
		pp->thread = buf_cstr(&t->name);
		pp->thread_len = t->name.len;
		pp->pid = pid_of(t);
		rc = calltree_walk(pp->tree, add_sample, pp, err);
		calltree_free(pp->tree);
		pp->tree = calltree_new();
	}
	return rc;
}

static void report(const struct pprof *pp, size_t bytes)
{
	calltree_replay_report(&pp->counts);
	size_t n = pprof_enc_samples(pp->enc);
	fprintf(stderr, "%zu sample%s, %zu bytes compressed\n", n, n == 1 ? "" : "s", bytes);
}

/* The output, opened before the threads are read: the samples are written as they come
 * (to a temporary file renamed into place once complete). */
static int open_output(const struct pprof *pp, struct outfile *out, struct tg_err *err)
{
	if ((!pp->o->output || strcmp(pp->o->output, "-") == 0) && isatty(STDOUT_FILENO))
		return tg_err_set(err, TG_E_USAGE,
				  "pprof: the profile is binary: give -o FILE or redirect the "
				  "output");
	return outfile_open(out, pp->o->output, err);
}

static int finish(struct pprof *pp, const struct recording *rec, struct outfile *out,
		  struct tg_err *err)
{
	struct pprof_times tm = {recording_meta_number(rec, "start"),
				 recording_meta_number(rec, "end"), 1 / pp->per_sample};
	size_t bytes = 0;
	int rc = pprof_enc_finish(pp->enc, pp->frames, &tm, &bytes, err);

	if (rc == 0)
		rc = outfile_commit(out, err);
	if (rc == 0)
		report(pp, bytes);
	return rc;
}

static int run(const void *opts, int nargs, char **args, struct tg_err *err)
{
	const struct pprof_opts *o = opts;
	struct outfile out = {NULL, NULL, NULL};
	struct recording rec;
	struct pprof pp;
	int rc = -1;

	memset(&pp, 0, sizeof pp);
	pp.o = o;
	if (proctree_recording(&rec, nargs, args, o->children, err) < 0)
		return -1;
	if (recording_need_stacks(&rec, "pprof", err) < 0 || open_output(&pp, &out, err) < 0)
		goto out;
	pp.per_sample = 1 / recording_interval(&rec, o->interval);
	pp.frames = frames_new();
	pp.tree = calltree_new();
	pp.enc = pprof_enc_new(out.fp);
	if (do_threads(&pp, &rec, err) == 0)
		rc = finish(&pp, &rec, &out, err);
out:
	outfile_abort(&out);
	pprof_enc_free(pp.enc);
	calltree_free(pp.tree);
	frames_free(pp.frames);
	recording_free(&rec);
	return rc;
}

static const struct cli_opt options[] = {
    {"output", 'o', "FILE", CLI_STR, offsetof(struct pprof_opts, output),
     "write FILE (default: standard output, unless it\nis a terminal)"},
    {"interval", 0, "S", CLI_NUM, offsetof(struct pprof_opts, interval),
     "the sample interval (default: 1/rate_hz from the\nrecording's meta, else 0.01)", 1},
    {"children", 0, NULL, CLI_FLAG, offsetof(struct pprof_opts, children),
     "DIR (OUTDIR/PID) and its descendants; OUTDIR (a\ndirectory of PID recordings) is the "
     "whole tree;\nwith several processes the thread label is\n'PID N: NAME'"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct pprof_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {NULL},
};

const struct cli_command render_pprof_cmd = {
    "pprof",
    "pprof profile (gzip protobuf): time and memory per stack",
    "DIR|OUTDIR|FILES... [options]",
    "Writes the recording as a gzip-compressed pprof profile (profile.proto) for\n"
    "`go tool pprof`, Pyroscope, Parca or Grafana: one sample per distinct call\n"
    "stack of each thread, with two values, the time it ran (samples/count, in\n"
    "sample intervals) and the memory it gained (memory/bytes, negative when it\n"
    "released more), and the labels thread (its name) and pid.  Locations are\n"
    "FILE:LINE with LINE where the call was first seen.  Needs the THREAD.stack\n"
    "files (and THREAD.mem for the returns).\n",
    NULL,
    options,
    sizeof(struct pprof_opts),
    NULL,
    "no recording directory given",
    run,
};
