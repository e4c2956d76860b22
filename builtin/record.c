/* tgattach [record] -p PID [-o DIR] ...: sample a running CPython into DIR/PID. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach/loop.h"
#include "builtin/builtin.h"
#include "builtin/options.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "sampler/attrib.h"
#include "sampler/output.h"
#include "sampler/session.h"
#include "sampler/tracker.h"

#define NAMES_REFRESH_TICKS 25

struct record_opts {
	pid_t pid;
	const char *outdir;
	double rate_hz;
	double duration_s;
	const char *filter;
	int no_stack;
	int quiet;
	enum offsets_mode offsets;
};

struct recorder {
	struct record_opts opts;
	struct session s;
	struct output *out;
	struct tracker *tracker;
	struct attrib *attrib;
	struct walk_sample sample;
	int64_t *charged;
	size_t charged_cap;
	uint64_t prev_rss;
	int have_rss;
	uint64_t samples, failed_samples;
	size_t last_nthreads;
	double started, last_status;
	int status_tty;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tgattach -p PID [options]\n"
		"Attach to a running CPython and record every thread's stack and memory into\n"
		"DIR/PID/ (process.mem, THREAD.stack, THREAD.mem, meta) until Ctrl-C, SIGTERM,\n"
		"SIGHUP, the duration limit, or the target's exit.  The target is never paused.\n\n"
		"  -p, --pid PID          process to attach to (required)\n"
		"  -o, --output DIR       output directory (default .)\n"
		"  -r, --rate HZ          samples per second (default 100)\n"
		"  -d, --duration SECS    stop after SECS seconds\n"
		"      --filter PREFIX    only frames whose file starts with PREFIX\n"
		"      --no-stack         do not write THREAD.stack files\n"
		"      --offsets MODE     auto (DWARF, else built-in table), dwarf, builtin\n"
		"  -q, --quiet            no status line, no summary\n"
		"  -h, --help             this help;  --version  the version\n");
}

static double now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_args(int argc, char **argv, struct record_opts *o, struct tg_err *err)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"output", required_argument, NULL, 'o'},
		{"rate", required_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'},
		{"filter", required_argument, NULL, 'F'},
		{"no-stack", no_argument, NULL, 'S'},
		{"offsets", required_argument, NULL, 'O'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:r:d:qh", longopts, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'p':
			rc = session_parse_pid(optarg, &o->pid, err);
			break;
		case 'o':
			o->outdir = optarg;
			break;
		case 'r':
			rc = options_positive("--rate", optarg, &o->rate_hz, err);
			if (rc == 0 && o->rate_hz > 10000)
				rc = tg_err_set(err, TG_E_USAGE, "--rate %s: at most 10000 Hz",
						optarg);
			break;
		case 'd':
			rc = options_positive("--duration", optarg, &o->duration_s, err);
			break;
		case 'F':
			o->filter = optarg;
			break;
		case 'S':
			o->no_stack = 1;
			break;
		case 'O':
			rc = options_offsets(optarg, &o->offsets, err);
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("tgattach %s\n", TG_VERSION);
			return 1;
		default:
			return tg_err_set(err, TG_E_USAGE, "see 'tgattach --help'");
		}
		if (rc < 0)
			return -1;
	}
	if (optind < argc)
		return tg_err_set(err, TG_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (!o->pid)
		return tg_err_set(err, TG_E_USAGE, "no process given: use -p PID");
	return 0;
}

static int thread_name(void *ctx, const struct walk_thread *th, struct buf *out)
{
	struct recorder *rec = ctx;
	return session_thread_name(&rec->s, th, out);
}

static void status_line(struct recorder *rec, double now, int final)
{
	if (!rec->status_tty || rec->opts.quiet)
		return;
	if (!final && now - rec->last_status < 0.5)
		return;
	rec->last_status = now;
	fprintf(stderr, "\r[%7.1fs] %llu samples, %zu threads, %.1f MB written%s", now - rec->started,
		(unsigned long long)rec->samples, tracker_threads(rec->tracker),
		(double)output_bytes(rec->out) / 1e6, final ? "\n" : "  ");
}

static int64_t *charged_for(struct recorder *rec, size_t n)
{
	if (n > rec->charged_cap) {
		rec->charged_cap = n * 2;
		rec->charged = xrealloc(rec->charged, rec->charged_cap * sizeof *rec->charged);
	}
	return rec->charged;
}

static int tick(void *ctx, struct tg_err *err)
{
	struct recorder *rec = ctx;
	double now = now_realtime();
	uint64_t rss;

	if (attrib_rss(rec->attrib, &rss) < 0)
		return 1; /* the target is gone */
	if (output_process_mem(rec->out, now, rss, err) < 0)
		return -1;
	if (walker_sample(rec->s.walker, &rec->sample, NULL) < 0) {
		rec->failed_samples++;
		return 0;
	}
	if (rec->samples % NAMES_REFRESH_TICKS == 0 || rec->sample.nthreads != rec->last_nthreads ||
	    tracker_pending(rec->tracker))
		session_refresh_names(&rec->s, &rec->sample);
	rec->last_nthreads = rec->sample.nthreads;
	int64_t delta = rec->have_rss ? (int64_t)(rss - rec->prev_rss) : 0;
	rec->prev_rss = rss;
	rec->have_rss = 1;
	int64_t *charged = charged_for(rec, rec->sample.nthreads);
	attrib_charge(rec->attrib, &rec->sample, delta, charged);
	if (tracker_feed(rec->tracker, &rec->sample, charged, now, thread_name, rec, err) < 0)
		return -1;
	rec->samples++;
	status_line(rec, now, 0);
	return 0;
}

static void target_cmdline(pid_t pid, struct buf *out)
{
	char path[64], data[4096];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	size_t n = fread(data, 1, sizeof data, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		buf_addch(out, data[i] ? data[i] : ' ');
	while (out->len && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
}

static int write_meta(struct recorder *rec, int argc, char **argv, struct tg_err *err)
{
	const struct py_target *t = &rec->s.target;
	struct buf cmd = BUF_INIT, self = BUF_INIT, ver = BUF_INIT, rate = BUF_INIT,
		   start = BUF_INIT;
	char v[32];

	target_cmdline(rec->opts.pid, &cmd);
	for (int i = 0; i < argc; i++)
		buf_addf(&self, "%s%s", i ? " " : "", argv[i]);
	buf_addf(&ver, "%s%s", pytarget_version_str(t, v, sizeof v),
		 t->debug_abi ? " (debug build)" : "");
	buf_addf(&rate, "%g", rec->opts.rate_hz);
	buf_addf(&start, "%.6f", rec->started);
	const char *keys[] = {"tgattach",  "pid",     "cmdline",     "interpreter",
			      "version",   "build",   "offsets",     "offsets_detail",
			      "rate_hz",   "start",   "command",     "metrics"};
	char pidbuf[16];
	snprintf(pidbuf, sizeof pidbuf, "%d", (int)rec->opts.pid);
	const char *values[] = {TG_VERSION,
				pidbuf,
				buf_cstr(&cmd),
				t->image_path,
				buf_cstr(&ver),
				t->is_shared ? "shared" : "static",
				pytarget_offsets_source_name(t->off_source),
				t->off_detail,
				buf_cstr(&rate),
				buf_cstr(&start),
				buf_cstr(&self),
				"rss"};
	int rc = output_meta(rec->out, keys, values, sizeof keys / sizeof keys[0], err);
	buf_free(&cmd);
	buf_free(&self);
	buf_free(&ver);
	buf_free(&rate);
	buf_free(&start);
	return rc;
}

static const char *end_reason(enum loop_end end, int signo)
{
	switch (end) {
	case LOOP_END_SIGNAL:
		return signo == SIGINT ? "interrupted" : signo == SIGHUP ? "hangup" : "terminated";
	case LOOP_END_DURATION:
		return "duration reached";
	case LOOP_END_TARGET_EXIT:
	case LOOP_END_TICK_STOP:
		return "target exited";
	default:
		return "error";
	}
}

static int run(struct recorder *rec, struct tg_err *err)
{
	struct loop_opts lo = {rec->opts.rate_hz, rec->opts.duration_s, tick, rec};
	int signo = 0;

	enum loop_end end = loop_run(rec->s.trace, &lo, &signo, err);
	status_line(rec, now_realtime(), 1);
	if (end == LOOP_END_ERROR)
		return -1;
	if (!rec->opts.quiet)
		fprintf(stderr, "tgattach: %s: %llu samples of process %d written to %s\n",
			end_reason(end, signo), (unsigned long long)rec->samples,
			(int)rec->opts.pid, output_dir(rec->out));
	return 0;
}

static void recorder_free(struct recorder *rec)
{
	tracker_free(rec->tracker);
	attrib_free(rec->attrib);
	walk_sample_free(&rec->sample);
	free(rec->charged);
}

int cmd_record(int argc, char **argv)
{
	struct recorder rec = {.opts = {.outdir = ".", .rate_hz = 100}};
	struct session_opts sopts = {0};
	struct tg_err err = {0}, cerr = {0};
	int rc;

	if ((rc = parse_args(argc, argv, &rec.opts, &err)) != 0)
		return rc > 0 ? TG_OK : options_fail(&err);
	sopts.offsets = rec.opts.offsets;
	if (session_open(&rec.s, rec.opts.pid, &sopts, &err) < 0)
		return options_fail(&err);
	rec.started = now_realtime();
	rec.out = output_open(rec.opts.outdir, rec.opts.pid, rec.opts.no_stack ? OUTPUT_NO_STACK : 0,
			      &err);
	if (!rec.out || write_meta(&rec, argc, argv, &err) < 0 ||
	    session_attach(&rec.s, &sopts, &err) < 0) {
		if (rec.out)
			output_close(rec.out, NULL);
		session_close(&rec.s);
		return options_fail(&err);
	}
	rec.tracker = tracker_new(rec.out, rec.opts.filter);
	rec.attrib = attrib_new(rec.opts.pid);
	rec.status_tty = isatty(STDERR_FILENO);
	rc = run(&rec, &err);
	session_close(&rec.s); /* detach first: the target must not wait on our disk */
	if (output_close(rec.out, &cerr) < 0 && rc == 0) {
		err = cerr;
		rc = -1;
	}
	recorder_free(&rec);
	return rc < 0 ? options_fail(&err) : TG_OK;
}
