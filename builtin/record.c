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
#include "sampler/alloc.h"
#include "sampler/memtrack.h"
#include "sampler/output.h"
#include "sampler/session.h"
#include "sampler/tracker.h"

#define NAMES_REFRESH_TICKS 25
/* Memory micro-samples per second between stack samples (--mem-rate): the GIL changes
 * hands every 5 ms by default, so a 10 ms stack interval spans several holders. */
#define MEM_RATE_DEFAULT 1000
#define MEM_RATE_MAX 10000

struct record_opts {
	pid_t pid;
	const char *outdir;
	double rate_hz;
	double mem_rate_hz;        /* < 0: default */
	double duration_s;
	double process_interval_s; /* 0: every sample */
	const char *filter;
	int no_stack;
	int quiet;
	enum memtrack_metric metric;
	enum offsets_mode offsets;
};

struct recorder {
	struct record_opts opts;
	struct session s;
	struct output *out;
	struct tracker *tracker;
	struct memtrack *mem;
	double loop_hz;           /* the loop's rate: the larger of the two rates */
	double next_stack;        /* monotonic time of the next stack sample */
	struct walk_sample sample;
	int64_t *charged;
	size_t charged_cap;
	double last_process_row;
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
		"DIR/PID/ (process.mem, process.alloc, THREAD.stack, THREAD.mem, meta) until Ctrl-C, SIGTERM,\n"
		"SIGHUP, the duration limit, or the target's exit.  The target is never paused.\n\n"
		"  -p, --pid PID          process to attach to (required)\n"
		"  -o, --output DIR       output directory (default .)\n"
		"  -r, --rate HZ          samples per second (default 100)\n"
		"  -d, --duration SECS    stop after SECS seconds\n"
		"      --metric rss|heap  memory charged to threads: resident memory, or the\n"
		"                         allocator's bytes in use (default: heap where the\n"
		"                         build lets tgattach read it, else rss)\n"
		"      --mem-rate HZ      memory micro-samples per second between stack\n"
		"                         samples, for attribution (default 1000; 0: none)\n"
		"      --process-interval SECS  write process.mem and process.alloc every SECS\n"
		"                         (default: every sample)\n"
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

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_metric(const char *arg, enum memtrack_metric *out, struct tg_err *err)
{
	if (strcmp(arg, "rss") == 0)
		*out = MEMTRACK_RSS;
	else if (strcmp(arg, "heap") == 0)
		*out = MEMTRACK_HEAP;
	else
		return tg_err_set(err, TG_E_USAGE, "invalid --metric '%s': expected rss or heap",
				  arg);
	return 0;
}

/* --mem-rate: 0 (off) or a positive rate up to MEM_RATE_MAX. */
static int parse_mem_rate(const char *arg, double *out, struct tg_err *err)
{
	if (strcmp(arg, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (options_positive("--mem-rate", arg, out, err) < 0)
		return -1;
	if (*out > MEM_RATE_MAX)
		return tg_err_set(err, TG_E_USAGE, "--mem-rate %s: at most %d Hz", arg,
				  MEM_RATE_MAX);
	return 0;
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
		{"metric", required_argument, NULL, 'M'},
		{"process-interval", required_argument, NULL, 'I'},
		{"mem-rate", required_argument, NULL, 'R'},
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
		case 'M':
			rc = parse_metric(optarg, &o->metric, err);
			break;
		case 'R':
			rc = parse_mem_rate(optarg, &o->mem_rate_hz, err);
			break;
		case 'I':
			rc = options_positive("--process-interval", optarg,
					      &o->process_interval_s, err);
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

/* process.mem and the process.alloc row, at most every --process-interval. */
static int write_process(struct recorder *rec, double now, const struct memtrack_row *row,
			 struct tg_err *err)
{
	if (rec->opts.process_interval_s > 0 && rec->last_process_row > 0 &&
	    now - rec->last_process_row < rec->opts.process_interval_s)
		return 0;
	rec->last_process_row = now;
	if (output_process_mem(rec->out, now, row->v[MT_RSS], err) < 0)
		return -1;
	return output_alloc_row(rec->out, now, row->v, row->valid, MT_NCOLS, err);
}

/* Is this tick a stack sample (else a memory micro-sample)? */
static int stack_due(struct recorder *rec)
{
	double now = now_mono(), period = 1.0 / rec->opts.rate_hz;

	/* half a tick early: the loop's ticks jitter around their due time */
	if (now + 0.5 / rec->loop_hz < rec->next_stack)
		return 0;
	rec->next_stack += period;
	if (rec->next_stack < now)
		rec->next_stack = now + period;
	return 1;
}

static int tick(void *ctx, struct tg_err *err)
{
	struct recorder *rec = ctx;
	struct memtrack_row row;

	if (!stack_due(rec))
		return memtrack_micro(rec->mem);
	double now = now_realtime();
	if (memtrack_read(rec->mem, &row) != 0)
		return 1; /* the target is gone */
	if (write_process(rec, now, &row, err) < 0)
		return -1;
	if (walker_sample(rec->s.walker, &rec->sample, NULL) < 0) {
		rec->failed_samples++;
		return 0;
	}
	if (rec->samples % NAMES_REFRESH_TICKS == 0 || rec->sample.nthreads != rec->last_nthreads)
		session_refresh_names(&rec->s, &rec->sample);
	rec->last_nthreads = rec->sample.nthreads;
	int64_t *charged = charged_for(rec, rec->sample.nthreads);
	memtrack_charge(rec->mem, &rec->sample, charged);
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

#define META_MAX_KEYS 32

/* meta's key=value pairs, values owned. */
struct meta_kv {
	const char *keys[META_MAX_KEYS];
	struct buf values[META_MAX_KEYS];
	size_t n;
};

static struct buf *meta_add(struct meta_kv *kv, const char *key)
{
	if (kv->n == META_MAX_KEYS)
		abort(); /* a programming error: the keys are fixed below */
	kv->keys[kv->n] = key;
	kv->values[kv->n] = (struct buf)BUF_INIT;
	return &kv->values[kv->n++];
}

/* Which metrics and process.alloc columns this target gives, and why the others are
 * missing. */
static void meta_alloc(struct recorder *rec, struct meta_kv *kv)
{
	struct alloc_reader *a = memtrack_alloc(rec->mem);
	unsigned avail = alloc_available(a);
	int heap = memtrack_heap_available(rec->mem);
	struct buf *cols, *missing;

	buf_addstr(meta_add(kv, "metric"),
		   memtrack_metric(rec->mem) == MEMTRACK_HEAP ? "heap" : "rss");
	buf_addf(meta_add(kv, "metrics"), "rss%s", heap ? " heap" : "");
	buf_addf(meta_add(kv, "mem_rate_hz"), "%g", rec->opts.mem_rate_hz);
	buf_addstr(meta_add(kv, "alloc_source"), alloc_source(a));
	cols = meta_add(kv, "alloc_columns");
	missing = meta_add(kv, "alloc_missing");
	buf_addf(cols, "time rss anon%s", heap ? " heap pool_bytes" : "");
	if (!heap)
		buf_addf(missing, "heap, pool_bytes: %s", alloc_missing_reason(a, ALLOC_BYTES));
	for (int f = 0; f < ALLOC_NFIELDS; f++) {
		if (avail & (1u << f)) {
			buf_addf(cols, " %s", alloc_field_name((enum alloc_field)f));
			continue;
		}
		buf_addf(missing, "%s%s: %s", missing->len ? "; " : "",
			 alloc_field_name((enum alloc_field)f),
			 alloc_missing_reason(a, (enum alloc_field)f));
	}
}

static double per(double total, uint64_t n)
{
	return n ? total / (double)n : 0.0;
}

/* At the end of the run: how the run went. */
static void meta_totals(struct recorder *rec, struct meta_kv *kv)
{
	struct memtrack_stats st;

	memtrack_stats(rec->mem, &st);
	buf_addf(meta_add(kv, "samples"), "%llu", (unsigned long long)rec->samples);
	buf_addf(meta_add(kv, "failed_samples"), "%llu", (unsigned long long)rec->failed_samples);
	buf_addf(meta_add(kv, "mem_micro_samples"), "%llu",
		 (unsigned long long)st.micro_samples);
	buf_addf(meta_add(kv, "alloc_walks"), "%llu", (unsigned long long)st.walks);
	buf_addf(meta_add(kv, "alloc_discarded"), "%llu", (unsigned long long)st.discarded);
	buf_addf(meta_add(kv, "mem_cost_us"),
		 "sample %.0f (walks included), walk %.0f, micro-sample %.1f",
		 per(st.sample_s, st.samples) * 1e6, per(st.walk_s, st.walks) * 1e6,
		 per(st.micro_s, st.micro_samples) * 1e6);
	buf_addf(meta_add(kv, "unattributed_bytes"), "%lld", (long long)st.unattributed);
}

static int write_meta(struct recorder *rec, int argc, char **argv, int final, struct tg_err *err)
{
	const struct py_target *t = &rec->s.target;
	struct meta_kv kv = {0};
	char v[32];

	buf_addstr(meta_add(&kv, "tgattach"), TG_VERSION);
	buf_addf(meta_add(&kv, "pid"), "%d", (int)rec->opts.pid);
	target_cmdline(rec->opts.pid, meta_add(&kv, "cmdline"));
	buf_addstr(meta_add(&kv, "interpreter"), t->image_path);
	buf_addf(meta_add(&kv, "version"), "%s%s", pytarget_version_str(t, v, sizeof v),
		 t->debug_abi ? " (debug build)" : "");
	buf_addstr(meta_add(&kv, "build"), t->is_shared ? "shared" : "static");
	buf_addstr(meta_add(&kv, "offsets"), pytarget_offsets_source_name(t->off_source));
	buf_addstr(meta_add(&kv, "offsets_detail"), t->off_detail);
	buf_addf(meta_add(&kv, "rate_hz"), "%g", rec->opts.rate_hz);
	buf_addf(meta_add(&kv, "process_interval"), "%g", rec->opts.process_interval_s);
	buf_addf(meta_add(&kv, "start"), "%.6f", rec->started);
	struct buf *self = meta_add(&kv, "command");
	for (int i = 0; i < argc; i++)
		buf_addf(self, "%s%s", i ? " " : "", argv[i]);
	meta_alloc(rec, &kv);
	if (final)
		meta_totals(rec, &kv);
	const char *values[META_MAX_KEYS];
	for (size_t i = 0; i < kv.n; i++)
		values[i] = buf_cstr(&kv.values[i]);
	int rc = output_meta(rec->out, kv.keys, values, kv.n, err);
	for (size_t i = 0; i < kv.n; i++)
		buf_free(&kv.values[i]);
	return rc;
}

/* process.alloc's header for this run. */
static int write_alloc_header(struct recorder *rec, struct tg_err *err)
{
	const char *cols[1 + MT_NCOLS];
	struct buf c1 = BUF_INIT;

	cols[0] = "time";
	for (int i = 0; i < MT_NCOLS; i++)
		cols[1 + i] = memtrack_col_name((enum memtrack_col)i);
	buf_addf(&c1, "tgattach process.alloc of process %d, run %.6f: one row per sample",
		 (int)rec->opts.pid, rec->started);
	const char *comments[] = {
		buf_cstr(&c1),
		"bytes or counts; ? = not read (see alloc_missing in meta) or discarded as "
		"torn; gnuplot: set datafile missing \"?\""};
	int rc = output_alloc_header(rec->out, comments, 2, cols, 1 + MT_NCOLS, err);
	buf_free(&c1);
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
	struct loop_opts lo = {rec->loop_hz, rec->opts.duration_s, tick, rec};
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
	memtrack_free(rec->mem);
	walk_sample_free(&rec->sample);
	free(rec->charged);
}

/* The memory side, once the interpreter is known (it decides which metric is readable). */
static int open_memtrack(struct recorder *rec, struct tg_err *err)
{
	struct memtrack_opts mo = {rec->opts.pid, &rec->s.remote, &rec->s.target, rec->opts.metric,
				   rec->opts.mem_rate_hz};

	if (rec->opts.mem_rate_hz < 0)
		rec->opts.mem_rate_hz = mo.micro_hz = MEM_RATE_DEFAULT;
	rec->mem = memtrack_new(&mo, err);
	if (!rec->mem)
		return -1;
	rec->loop_hz = rec->opts.rate_hz > rec->opts.mem_rate_hz ? rec->opts.rate_hz
								 : rec->opts.mem_rate_hz;
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct recorder rec = {.opts = {.outdir = ".", .rate_hz = 100, .mem_rate_hz = -1}};
	struct session_opts sopts = {0};
	struct tg_err err = {0}, cerr = {0};
	int rc;

	if ((rc = parse_args(argc, argv, &rec.opts, &err)) != 0)
		return rc > 0 ? TG_OK : options_fail(&err);
	sopts.offsets = rec.opts.offsets;
	if (session_open(&rec.s, rec.opts.pid, &sopts, &err) < 0)
		return options_fail(&err);
	if (open_memtrack(&rec, &err) < 0) {
		session_close(&rec.s);
		return options_fail(&err);
	}
	rec.started = now_realtime();
	rec.out = output_open(rec.opts.outdir, rec.opts.pid, rec.opts.no_stack ? OUTPUT_NO_STACK : 0,
			      &err);
	if (!rec.out || write_meta(&rec, argc, argv, 0, &err) < 0 ||
	    write_alloc_header(&rec, &err) < 0 || session_attach(&rec.s, &sopts, &err) < 0) {
		if (rec.out)
			output_close(rec.out, NULL);
		memtrack_free(rec.mem);
		session_close(&rec.s);
		return options_fail(&err);
	}
	rec.tracker = tracker_new(rec.out, rec.opts.filter);
	rec.status_tty = isatty(STDERR_FILENO);
	rc = run(&rec, &err);
	session_close(&rec.s); /* detach first: the target must not wait on our disk */
	if (write_meta(&rec, argc, argv, 1, rc < 0 ? NULL : &err) < 0 && rc == 0)
		rc = -1;
	if (output_close(rec.out, &cerr) < 0 && rc == 0) {
		err = cerr;
		rc = -1;
	}
	recorder_free(&rec);
	return rc < 0 ? options_fail(&err) : TG_OK;
}
