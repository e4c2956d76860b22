/* tgattach [record] -p PID [-o DIR] ... | [options] -- COMMAND: the options, the loop's
 * wiring and what is printed; the recording itself is sampler/recorder. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/loop.h"
#include "builtin/builtin.h"
#include "builtin/options.h"
#include "common/autogroup.h"
#include "common/clock.h"
#include "common/ownsession.h"
#include "common/rtsched.h"
#include "common/version.h"
#include "sampler/recorder.h"
#include "sampler/session.h"

#define MEM_RATE_MAX 10000

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: tgattach -p PID [options]\n"
	    "       tgattach [options] -- COMMAND [ARGS...]\n"
	    "Attach to a running CPython (or start COMMAND traced from its first instruction,\n"
	    "recorded once it runs Python, its exit status passed on) and record every\n"
	    "thread's stack and memory, and those of its Python descendants, into\n"
	    "DIR/PID/ (process.mem, process.alloc, THREAD.stack, THREAD.mem, meta) until Ctrl-C, "
	    "SIGTERM,\n"
	    "SIGHUP, the duration limit, or the target's exit.  The target is never paused.\n\n"
	    "  -p, --pid PID          process to attach to (required)\n"
	    "  -o, --output DIR       output directory (default .)\n"
	    "  -r, --rate HZ          samples per second (default 100)\n"
	    "  -d, --duration SECS    stop after SECS seconds\n"
	    "      --metric rss|heap  memory charged to threads: resident memory, or the\n"
	    "                         allocator's bytes in use (default: heap where the\n"
	    "                         build lets tgattach read it, else rss)\n"
	    "      --mem-rate HZ      bursts of memory micro-samples per second: each\n"
	    "                         change charged to the stack that made it (default\n"
	    "                         100, back to back; 0: none)\n"
	    "      --realtime         run the loop under real-time scheduling (SCHED_FIFO;\n"
	    "                         needs CAP_SYS_NICE): on busy cores the memory is read\n"
	    "                         on time, every ~50 us, and short calls are charged\n"
	    "                         more of what they allocate; takes CPU from a loaded\n"
	    "                         target (docs/memory.md)\n"
	    "      --no-autogroup     leave tgattach's session its usual share of the CPU\n"
	    "                         (by default its session's autogroup is raised to\n"
	    "                         nice -10 where the kernel allows, so that busy cores\n"
	    "                         wake its loop on time; from a terminal it records\n"
	    "                         in a session of its own for that)\n"
	    "      --process-interval SECS  write process.mem and process.alloc every SECS\n"
	    "                         (default: every sample)\n"
	    "      --filter PREFIX    only frames whose file starts with PREFIX\n"
	    "      --no-stack         do not write THREAD.stack files\n"
	    "      --no-follow-forks  do not record child processes (they are detached at birth)\n"
	    "      --consistent       stop the target's threads for each stack sample (exact\n"
	    "                         snapshots; the target pauses: cost in meta, pause_us)\n"
	    "      --offsets MODE     auto (DWARF, else built-in table), dwarf, builtin\n"
	    "      --profile KIND     python (default): Python frames; c: native stacks,\n"
	    "                         each thread stopped alone for a moment at each stack\n"
	    "                         sample and unwound (libdw); both: native stacks with\n"
	    "                         the Python frames each evaluation call runs in place\n"
	    "                         of it.  c and both charge memory at stack samples\n"
	    "                         only (no --mem-rate)\n"
	    "  -q, --quiet            no status line, no summary\n"
	    "  -h, --help             this help;  --version  the version\n");
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

/* One option of getopt_long's: 0, 1 when it was --help or --version (printed), or -1. */
static int record_option(int c, struct record_opts *o, struct tg_err *err)
{
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
			rc = tg_err_set(err, TG_E_USAGE, "--rate %s: at most 10000 Hz", optarg);
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
	case 'N':
		o->no_follow_forks = 1;
		break;
	case 'C':
		o->consistent = 1;
		break;
	case 'M':
		rc = parse_metric(optarg, &o->metric, err);
		break;
	case 'R':
		rc = parse_mem_rate(optarg, &o->mem_rate_hz, err);
		break;
	case 'T':
		o->realtime = 1;
		break;
	case 'G':
		o->no_autogroup = 1;
		break;
	case 'I':
		rc = options_positive("--process-interval", optarg, &o->process_interval_s, err);
		break;
	case 'O':
		rc = options_offsets(optarg, &o->offsets, err);
		break;
	case 'P':
		rc = profile_parse(optarg, &o->profile, err);
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
	return rc < 0 ? -1 : 0;
}

/* The options that cannot go together. */
static int record_check(struct record_opts *o, struct tg_err *err)
{
	/* a micro-sample walks a thread's Python frames while it runs: its stack would
	 * lack the native frames the stack samples have, and end them all */
	if (o->profile != PROFILE_PYTHON && o->mem_rate_hz > 0)
		return tg_err_set(err, TG_E_USAGE,
				  "--mem-rate with --profile %s: memory is charged at stack "
				  "samples only with native stacks",
				  profile_name(o->profile));
	if (o->profile != PROFILE_PYTHON)
		o->mem_rate_hz = 0;
	if (o->realtime && o->profile != PROFILE_PYTHON)
		return tg_err_set(err, TG_E_USAGE,
				  "--realtime with --profile %s: there are no bursts of memory "
				  "micro-samples to read",
				  profile_name(o->profile));
	if (o->realtime && o->mem_rate_hz == 0)
		return tg_err_set(err, TG_E_USAGE,
				  "--realtime with --mem-rate 0: there are no bursts of memory "
				  "micro-samples to read");
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
	    {"no-follow-forks", no_argument, NULL, 'N'},
	    {"consistent", no_argument, NULL, 'C'},
	    {"metric", required_argument, NULL, 'M'},
	    {"process-interval", required_argument, NULL, 'I'},
	    {"mem-rate", required_argument, NULL, 'R'},
	    {"realtime", no_argument, NULL, 'T'},
	    {"no-autogroup", no_argument, NULL, 'G'},
	    {"offsets", required_argument, NULL, 'O'},
	    {"profile", required_argument, NULL, 'P'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:r:d:qh", longopts, NULL)) != -1) {
		int rc = record_option(c, o, err);
		if (rc != 0)
			return rc;
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		return tg_err_set(err, TG_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (optind < argc)
		o->command = argv + optind;
	if (o->command && o->pid)
		return tg_err_set(err, TG_E_USAGE, "-p PID and -- COMMAND: give one of them");
	if (!o->pid && !o->command)
		return tg_err_set(err, TG_E_USAGE,
				  "no process given: use -p PID, or -- COMMAND [ARGS...]");
	return record_check(o, err);
}

/* ---- what is printed ---- */

/* The command, the recorder, and the status line's state: the loop's context. */
struct record_cmd {
	struct record_opts opts;
	struct recorder *rec;
	double started, last_status;
	int status_tty;
};

static void status_line(struct record_cmd *c, double now, int final)
{
	struct recorder_view v;

	if (!c->status_tty || c->opts.quiet)
		return;
	if (!final && now - c->last_status < 0.5)
		return;
	c->last_status = now;
	recorder_view(c->rec, &v);
	fprintf(stderr, "\r[%7.1fs] %llu samples, %zu processes, %zu threads, %.1f MB written%s",
		now - c->started, (unsigned long long)v.samples, v.nprocs, v.threads,
		(double)v.bytes / 1e6, final ? "\n" : "  ");
}

/* The line that says what is recorded, on stderr (nothing with -q). */
static void start_line(const struct record_opts *o, const struct recorder_view *v)
{
	if (o->quiet)
		return;
	if (o->command) {
		fprintf(stderr,
			"tgattach: started %s as process %d: recorded once it runs Python, into "
			"%s\n",
			o->command[0], (int)v->pid, o->outdir);
		return;
	}
	if (v->target_watched)
		fprintf(stderr,
			"tgattach: process %d is not Python: followed, not recorded; recording",
			(int)v->pid);
	else
		fprintf(stderr, "tgattach: recording %d and", (int)v->pid);
	if (v->nfound) {
		fprintf(stderr, " %zu existing child process%s (", v->nfound,
			v->nfound == 1 ? "" : "es");
		for (size_t i = 0; i < v->nfound; i++)
			fprintf(stderr, "%s%d", i ? " " : "", (int)v->found[i]);
		fputc(')', stderr);
	} else {
		fprintf(stderr, " no existing child process");
	}
	fprintf(stderr, " into %s%s\n", o->outdir,
		o->no_follow_forks ? "" : "; new children are followed");
}

#define SUMMARY_LISTED 16

/* The end: why it ended, the samples of each process, where. */
static void summary(const struct record_opts *o, const struct recorder_view *v, const char *why)
{
	const struct recorder_done *root = NULL;
	size_t nchildren = 0, shown = 0;

	if (o->quiet)
		return;
	for (size_t i = 0; i < v->ndone; i++) {
		if (v->done[i].pid == v->pid)
			root = &v->done[i];
		else
			nchildren++;
	}
	fprintf(stderr, "tgattach: %s: ", why);
	if (root)
		fprintf(stderr, "%llu sample%s of process %d", (unsigned long long)root->samples,
			root->samples == 1 ? "" : "s", (int)root->pid);
	else
		fprintf(stderr, "process %d not recorded itself", (int)v->pid);
	if (nchildren)
		fprintf(stderr, "; %zu child process%s:", nchildren, nchildren == 1 ? "" : "es");
	for (size_t i = 0; i < v->ndone && shown < SUMMARY_LISTED; i++) {
		if (v->done[i].pid == v->pid)
			continue;
		fprintf(stderr, " %d (%llu)", (int)v->done[i].pid,
			(unsigned long long)v->done[i].samples);
		shown++;
	}
	if (nchildren > shown)
		fprintf(stderr, " and %zu more", nchildren - shown);
	fprintf(stderr, "; written to %s/PID/\n", o->outdir);
}

static void on_event(void *ctx, const struct trace_event *ev)
{
	struct record_cmd *c = ctx;
	recorder_event(c->rec, ev);
}

static int tick(void *ctx, struct tg_err *err)
{
	struct record_cmd *c = ctx;
	int due = 0, rc = recorder_tick(c->rec, &due, err);

	if (rc == 0 && due)
		status_line(c, clock_real_s(), 0);
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

/* Descriptors a recording holds at most: 64 thread files, the counters of 64 threads in
 * each of sampler/walk and sampler/attrib, and fixed ones (the directory, process files,
 * /proc files, the tracer's and the loop's).  The soft limit (often 1024) is raised to the
 * hard one, as far as the process may. */
#define FDS_NEEDED 256

static int raise_fd_limit(struct tg_err *err)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return 0;
	if (lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
		getrlimit(RLIMIT_NOFILE, &lim);
	}
	/* what a recording may hold at most, whatever the target's threads (docs/formats.md):
	 * refused up front rather than failing in the middle on whichever open comes first */
	if (lim.rlim_cur < FDS_NEEDED)
		return tg_err_set(err, TG_E_OUTPUT,
				  "too few file descriptors: the limit is %llu (ulimit -n), a "
				  "recording may need %d",
				  (unsigned long long)lim.rlim_cur, FDS_NEEDED);
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record_cmd c = {.opts = {.outdir = ".", .rate_hz = 100, .mem_rate_hz = -1}};
	struct tg_err err = {0};
	struct recorder_view v;
	int rc, signo = 0;

	if ((rc = parse_args(argc, argv, &c.opts, &err)) != 0)
		return rc > 0 ? TG_OK : options_fail(&err);
	c.opts.argc = argc;
	c.opts.argv = argv;
	if (raise_fd_limit(&err) < 0)
		return options_fail(&err);
	if (c.opts.mem_rate_hz < 0)
		c.opts.mem_rate_hz = RECORD_MEM_RATE_DEFAULT;
	if (c.opts.realtime && rtsched_check(&err) < 0)
		return options_fail(&err);
	/* from a terminal, in a session of its own: the shell's would keep the raise */
	if (!c.opts.command && !c.opts.no_autogroup && ownsession_wanted(AUTOGROUP_NICE))
		ownsession_enter(); /* on failure, goes on in the shell's session */
	/* a command launched here would share the session, and its boost */
	c.opts.autogroup = c.opts.no_autogroup ? AUTOGROUP_LEFT
			   : c.opts.command    ? AUTOGROUP_SHARED
					       : (int)autogroup_raise(AUTOGROUP_NICE);
	c.started = clock_real_s();
	c.rec = recorder_open(&c.opts, &err);
	if (!c.rec) {
		int code = options_fail(&err);
		/* a command that cannot be run: 127, as a shell says it */
		return c.opts.command && err.code == TG_E_USAGE ? RECORD_LAUNCH_NOT_RUN : code;
	}
	recorder_view(c.rec, &v);
	start_line(&c.opts, &v);
	c.status_tty = isatty(STDERR_FILENO);
	struct loop_opts lo = {recorder_loop_hz(c.rec), c.opts.duration_s, tick, &c, on_event};
	enum loop_end end = loop_run(recorder_tracer(c.rec), &lo, &signo, &err);
	status_line(&c, clock_real_s(), 1);
	rc = recorder_finish(c.rec, end == LOOP_END_ERROR, &err);
	recorder_view(c.rec, &v);
	if (rc == 0)
		summary(&c.opts, &v, end_reason(end, signo));
	recorder_free(c.rec);
	if (rc < 0)
		return options_fail(&err);
	/* the launcher ends with its command, and passes its exit status on */
	if (c.opts.command && v.status >= 0)
		return WIFEXITED(v.status) ? WEXITSTATUS(v.status) : 128 + WTERMSIG(v.status);
	return TG_OK;
}
