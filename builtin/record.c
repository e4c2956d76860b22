/* tgattach [record] -p PID [-o DIR] ...: sample a running CPython into DIR/PID. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/loop.h"
#include "attach/procstatus.h"
#include "attach/trace_check.h"
#include "attach/tracer.h"
#include "builtin/builtin.h"
#include "builtin/options.h"
#include "builtin/record.h"
#include "common/clock.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "sampler/alloc.h"
#include "sampler/memtrack.h"
#include "sampler/output.h"
#include "sampler/session.h"
#include "sampler/tracker.h"

#define FLUSH_INTERVAL_S 1.0
/* Time a tick may spend on process events before sampling. */
#define EVENTS_BUDGET_S 0.002
/* Time the end of a run may spend on events still queued (children to open, exits). */
#define FINISH_BUDGET_S 10.0
#define MEM_RATE_MAX 10000
/* --consistent: longest wait for a process's threads to stop before sampling it anyway
 * (a thread in uninterruptible sleep stops only when it leaves the kernel). */
#define CONSISTENT_PAUSE_MS 100
/* The launcher's exit status when its command cannot be run (as a shell's). */
#define LAUNCH_NOT_RUN 127

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
	    "      --process-interval SECS  write process.mem and process.alloc every SECS\n"
	    "                         (default: every sample)\n"
	    "      --filter PREFIX    only frames whose file starts with PREFIX\n"
	    "      --no-stack         do not write THREAD.stack files\n"
	    "      --no-follow-forks  do not record child processes (they are detached at birth)\n"
	    "      --consistent       stop the target's threads for each stack sample (exact\n"
	    "                         snapshots; the target pauses: cost in meta, pause_us)\n"
	    "      --offsets MODE     auto (DWARF, else built-in table), dwarf, builtin\n"
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
		case 'I':
			rc = options_positive("--process-interval", optarg, &o->process_interval_s,
					      err);
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
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		return tg_err_set(err, TG_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (optind < argc)
		o->command = argv + optind;
	if (o->command && o->pid)
		return tg_err_set(err, TG_E_USAGE, "-p PID and -- COMMAND: give one of them");
	if (!o->pid && !o->command)
		return tg_err_set(err, TG_E_USAGE,
				  "no process given: use -p PID, or -- COMMAND [ARGS...]");
	return 0;
}

/* ---- the processes ---- */

/* Stop recording procs[i]; keep order ([0] stays the target while it is there). */
static int drop_proc(struct run *r, size_t i, int discard, struct tg_err *err)
{
	if (!discard && proc_dir(r->procs[i])) {
		if (r->ndone == r->done_cap) {
			r->done_cap = r->done_cap ? r->done_cap * 2 : 8;
			r->done = xrealloc(r->done, r->done_cap * sizeof *r->done);
		}
		r->done[r->ndone++] =
		    (struct run_done){proc_pid(r->procs[i]), proc_samples(r->procs[i])};
	}
	int rc = proc_close(r->procs[i], discard, err);

	memmove(r->procs + i, r->procs + i + 1, (r->nprocs - i - 1) * sizeof *r->procs);
	r->nprocs--;
	return rc;
}

void run_warn(const struct run *r, const char *what, pid_t pid, const struct tg_err *err)
{
	if (!r->opts.quiet)
		fprintf(stderr, "tgattach: %s %d: %s\n", what, (int)pid, err->msg);
}

/* An event from the tracer thread (the process already runs): noted, the tick does the work. */
static void on_event(void *ctx, const struct trace_event *ev)
{
	struct run *r = ctx;

	if (ev->kind == TRACE_EV_THREAD_NEW || ev->kind == TRACE_EV_THREAD_EXIT)
		return;
	if (r->npend == r->pend_cap) {
		r->pend_cap = r->pend_cap ? r->pend_cap * 2 : 16;
		r->pend = xrealloc(r->pend, r->pend_cap * sizeof *r->pend);
	}
	r->pend[r->npend++] = (struct pending){ev->kind, ev->pid, ev->parent};
}

/* A forked child: the same interpreter as its parent, recorded into OUTDIR/CHILD. */
static void on_fork(struct run *r, pid_t pid, pid_t parent)
{
	struct proc *from = run_find_proc(r, parent, NULL);
	struct tg_err err = {0};

	if (run_find_proc(r, pid, NULL) || run_watched(r, pid))
		return;
	/* the child of a process that does not run Python (yet) is followed the same way */
	if (run_watched(r, parent) || (from && proc_waiting(from))) {
		run_watch(r, pid);
		return;
	}
	size_t micro = 0;
	for (size_t i = 0; i < r->nprocs; i++)
		micro += proc_micro(r->procs[i]);
	struct proc *p = from ? proc_open(&r->opts, pid, parent, proc_target(from),
					  micro < RECORD_MICRO_PROCS, &err)
			      : NULL;
	if (!p) {
		if (from)
			run_warn(r, "cannot record child process", pid, &err);
		if (r->tracer)
			tracer_release(r->tracer, pid);
		return;
	}
	run_add_proc(r, p);
	r->children++;
}

/* A watched process exec'd Python: recorded from now on, once its interpreter is up. */
static void record_from_exec(struct run *r, pid_t pid)
{
	char st[4096];
	size_t micro = 0;

	run_unwatch(r, pid);
	for (size_t i = 0; i < r->nprocs; i++)
		micro += proc_micro(r->procs[i]);
	pid_t parent = pid == r->opts.pid || procstatus_read(pid, st, sizeof st) < 0
			       ? 0
			       : (pid_t)procstatus_long(st, "PPid");
	run_add_proc(r, proc_open_exec(&r->opts, pid, parent, micro < RECORD_MICRO_PROCS));
	r->children += pid != r->opts.pid;
}

/* An exec: Python goes on being recorded (its interpreter found again); anything else is
 * let go, and a child that ran something else leaves no directory. */
static void on_exec(struct run *r, pid_t pid)
{
	size_t i;
	struct proc *p = run_find_proc(r, pid, &i);
	struct tg_err err = {0};

	if (!p) {
		if (run_watched(r, pid) && proc_runs_python(pid))
			record_from_exec(r, pid);
		return;
	}
	int rc = proc_exec(p, &err);
	if (rc == 0)
		return;
	int child = pid != r->opts.pid;
	if (r->tracer)
		tracer_release(r->tracer, pid);
	drop_proc(r, i, child, NULL);
	r->children -= child;
}

static int on_exit_event(struct run *r, pid_t pid, struct tg_err *err)
{
	size_t i;

	run_unwatch(r, pid);
	if (!run_find_proc(r, pid, &i))
		return 0;
	return drop_proc(r, i, 0, err);
}

/* The events queued since the last tick, within a time budget (a fork storm must not
 * starve sampling or the duration limit): what is left waits for the next tick.  No
 * traced process waits for this: the tracer thread has let each one go already. */
static int handle_events(struct run *r, double budget_s, struct tg_err *err)
{
	size_t n = r->npend, k = 0;
	double until = clock_mono_s() + budget_s;
	int rc = 0;

	for (; k < n && (k == 0 || clock_mono_s() < until); k++) {
		struct pending ev = r->pend[k];
		if (ev.kind == TRACE_EV_PROCESS_NEW)
			on_fork(r, ev.pid, ev.parent);
		else if (ev.kind == TRACE_EV_EXEC)
			on_exec(r, ev.pid);
		else if (ev.kind == TRACE_EV_PROCESS_EXIT && on_exit_event(r, ev.pid, err) < 0)
			rc = -1;
	}
	memmove(r->pend, r->pend + k, (r->npend - k) * sizeof *r->pend);
	r->npend -= k;
	return rc;
}

/* ---- the tick ---- */

/* Is this tick a stack sample (else a memory micro-sample)? */
static int stack_due(struct run *r)
{
	double now = clock_mono_s(), period = 1.0 / r->opts.rate_hz;

	/* half a tick early: the loop's ticks jitter around their due time */
	if (now + 0.5 / r->loop_hz < r->next_stack)
		return 0;
	r->next_stack += period;
	if (r->next_stack < now)
		r->next_stack = now + period;
	return 1;
}

static void status_line(struct run *r, double now, int final)
{
	uint64_t bytes = 0;
	size_t threads = 0;

	if (!r->status_tty || r->opts.quiet)
		return;
	if (!final && now - r->last_status < 0.5)
		return;
	r->last_status = now;
	for (size_t i = 0; i < r->nprocs; i++) {
		bytes += proc_bytes(r->procs[i]);
		threads += proc_threads(r->procs[i]);
	}
	fprintf(stderr, "\r[%7.1fs] %llu samples, %zu processes, %zu threads, %.1f MB written%s",
		now - r->started, (unsigned long long)(r->nprocs ? proc_samples(r->procs[0]) : 0),
		r->nprocs, threads, (double)bytes / 1e6, final ? "\n" : "  ");
}

/* Every FLUSH_INTERVAL_S the buffered lines reach the files, so that they can be followed
 * (tail -f, a renderer) during a long recording and little is lost if tgattach is killed. */
static int flush_due(struct run *r, struct tg_err *err)
{
	double now = clock_mono_s();

	if (now < r->next_flush)
		return 0;
	r->next_flush = now + FLUSH_INTERVAL_S;
	for (size_t i = 0; i < r->nprocs; i++)
		if (proc_flush(r->procs[i], err) < 0)
			return -1;
	return 0;
}

/* proc_tick(); with --consistent, a stack sample is taken with the threads stopped.  A
 * process whose threads do not all stop in time is sampled running (counted in meta). */
static int sample_proc(struct run *r, struct proc *p, int due, int may_burst, double now,
		       struct tg_err *err)
{
	if (!due || !r->opts.consistent || proc_waiting(p))
		return proc_tick(p, due, may_burst, now, err);
	double asked = clock_mono_s();
	int paused = tracer_pause(r->tracer, proc_pid(p), CONSISTENT_PAUSE_MS, NULL) == 0;
	int rc = proc_tick(p, due, 0, now, err);
	if (paused)
		tracer_resume(r->tracer, proc_pid(p));
	proc_note_pause(p, paused, clock_mono_s() - asked);
	return rc;
}

static int tick(void *ctx, struct tg_err *err)
{
	struct run *r = ctx;

	int due = stack_due(r);
	/* on a stack sample's tick the processes already recorded come first: a fork storm
	 * queues child after child, and must not starve their parent's samples */
	if (!due && r->npend && handle_events(r, EVENTS_BUDGET_S, err) < 0)
		return -1;
	double now = clock_real_s();
	/* one process's burst per tick, in turn: a burst holds the loop for its length, and a
	 * tree of busy processes must not fill both cores with them */
	size_t burst_turn = r->nprocs ? r->ticks++ % r->nprocs : 0;
	for (size_t i = 0; i < r->nprocs;) {
		int rc = sample_proc(r, r->procs[i], due, i == burst_turn, now, err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			i++;
			continue;
		}
		if (drop_proc(r, i, 0, err) < 0) /* gone */
			return -1;
	}
	if (due && r->npend && handle_events(r, EVENTS_BUDGET_S, err) < 0)
		return -1;
	if (r->nprocs == 0 && r->nwatched == 0)
		return 1;
	if (due)
		status_line(r, now, 0);
	return flush_due(r, err);
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

/* ---- the run ---- */

static int attach(struct run *r, struct tg_err *err)
{
	r->tracer = tracer_start(r->opts.pid, !r->opts.no_follow_forks, err);
	return r->tracer ? 0 : -1;
}

/* Detach first (no traced process may wait on our disk), then finish every file.  The
 * tracer lets stopped threads go at once, so under a fork storm the recorder may still
 * owe directories to children it has not opened yet: they are opened now (unsampled),
 * within FINISH_BUDGET_S. */
static int finish(struct run *r, int rc, struct tg_err *err)
{
	if (rc == 0 && r->tracer)
		tracer_events(r->tracer, on_event, r); /* what the loop did not hand over yet */
	tracer_stop(r->tracer);
	r->tracer = NULL;
	if (rc == 0 && r->npend && handle_events(r, FINISH_BUDGET_S, err) < 0)
		rc = -1;
	r->npend = 0;
	while (r->nprocs)
		if (drop_proc(r, r->nprocs - 1, 0, rc < 0 ? NULL : err) < 0)
			rc = -1;
	free(r->procs);
	free(r->pend);
	return rc;
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

/* -p PID: every check that can refuse comes before anything is written (a process traced
 * already — another tgattach recording it: its files are not touched —, then the
 * interpreter, then the output files), and only then the attach.  A process that is not
 * Python is followed (not recorded) when Python processes run below it. */
static int start_on_pid(struct run *r, struct tg_err *err)
{
	if (trace_check_target(r->opts.pid, err) < 0)
		return -1;
	struct proc *root = proc_open(&r->opts, r->opts.pid, 0, NULL, 1, err);
	if (!root && (err->code != TG_E_NOTPY || r->opts.no_follow_forks))
		return -1;
	if (!root && !run_python_below(r->opts.pid)) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		return tg_err_set(err, TG_E_NOTPY, "%s; nor does any process below it run Python",
				  why);
	}
	if (root)
		run_add_proc(r, root);
	else
		run_watch(r, r->opts.pid);
	if (attach(r, err) < 0) {
		finish(r, -1, NULL);
		return -1;
	}
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct run r = {.opts = {.outdir = ".", .rate_hz = 100, .mem_rate_hz = -1}};
	struct tg_err err = {0};
	int rc, signo = 0;

	if ((rc = parse_args(argc, argv, &r.opts, &err)) != 0)
		return rc > 0 ? TG_OK : options_fail(&err);
	r.opts.argc = argc;
	r.opts.argv = argv;
	if (raise_fd_limit(&err) < 0)
		return options_fail(&err);
	if (r.opts.mem_rate_hz < 0)
		r.opts.mem_rate_hz = RECORD_MEM_RATE_DEFAULT;
	/* bursts start at a random moment of their window: ticks every millisecond place them */
	double burst_hz = r.opts.mem_rate_hz > 0 ? 1000 : 0;
	r.loop_hz = r.opts.rate_hz > burst_hz ? r.opts.rate_hz : burst_hz;
	r.started = clock_real_s();
	if ((r.opts.command ? run_launch(&r, &err) : start_on_pid(&r, &err)) < 0) {
		int code = options_fail(&err);
		free(r.watched);
		/* a command that cannot be run: 127, as a shell says it */
		return r.opts.command && err.code == TG_E_USAGE ? LAUNCH_NOT_RUN : code;
	}
	pid_t found[64];
	size_t nfound = r.opts.no_follow_forks || r.opts.command
				? 0
				: run_adopt_descendants(&r, found, 64);
	run_start_line(&r, found, nfound);
	r.status_tty = isatty(STDERR_FILENO);
	struct loop_opts lo = {r.loop_hz, r.opts.duration_s, tick, &r, on_event};
	enum loop_end end = loop_run(r.tracer, &lo, &signo, &err);
	status_line(&r, clock_real_s(), 1);
	int status = r.tracer ? tracer_target_status(r.tracer) : -1;
	rc = finish(&r, end == LOOP_END_ERROR ? -1 : 0, &err);
	free(r.watched);
	if (rc < 0) {
		free(r.done);
		return options_fail(&err);
	}
	run_summary(&r, end_reason(end, signo));
	free(r.done);
	/* the launcher ends with its command, and passes its exit status on */
	if (r.opts.command && status >= 0)
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return TG_OK;
}
