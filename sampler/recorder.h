/* recorder.h: a recording of a process tree, below the command layer.  The run over
 * every traced process: the target (attached with -p, or launched from its first
 * instruction), its descendants (existing ones adopted, new ones followed), the events the
 * tracer reports, the shared tick that samples each, and the end that finishes every file.
 * builtin/record.c keeps the options, the loop wiring and what is printed. */
#ifndef TG_RECORDER_H
#define TG_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/trace.h"
#include "common/err.h"
#include "sampler/memtrack.h"
#include "sampler/natstack.h"
#include "symbols/pytarget.h"

struct record_opts {
	pid_t pid;
	const char *outdir;
	double rate_hz;
	double mem_rate_hz; /* < 0: default */
	int realtime;	    /* --realtime: bursts read under SCHED_FIFO */
	int no_autogroup;   /* --no-autogroup: the session's autogroup left as it is */
	int autogroup;	    /* enum autogroup_result: the session's (meta sched_autogroup) */
	double duration_s;
	double process_interval_s; /* 0: every sample */
	const char *filter;
	int no_stack;
	int quiet;
	int no_follow_forks;
	int consistent;		   /* --consistent: threads paused for each stack sample */
	enum profile_mode profile; /* --profile: python, c (native stacks) or both (merged) */
	enum memtrack_metric metric;
	enum offsets_mode offsets;
	char **command; /* the launcher: tgattach [options] -- COMMAND [ARGS...] */
	int argc;	/* tgattach's own command line, for meta */
	char **argv;
};

/* Bursts of memory micro-samples per second (--mem-rate; one per window), and how many
 * processes of a tree get them. */
#define RECORD_MEM_RATE_DEFAULT 100
#define RECORD_MICRO_PROCS 8
/* The launcher's exit status when its command cannot be run (as a shell's). */
#define RECORD_LAUNCH_NOT_RUN 127

struct recorder;
struct tracer;

/* Start: with -p, every check that can refuse (already traced, not Python, the layout, the
 * output directory) before anything is written, then the attach; with a command, the
 * launch.  Then, following forks, the existing descendants are adopted.  NULL with err:
 * nothing is left attached or running. */
struct recorder *recorder_open(const struct record_opts *o, struct tg_err *err);
/* The tracer, and the loop's rate (the larger of the stack and burst rates). */
struct tracer *recorder_tracer(struct recorder *r);
double recorder_loop_hz(const struct recorder *r);
/* One tick of the loop: events, then a stack sample of every process when one is due
 * (*stack_due says so), else memory micro-samples.  1 when nothing is left to record, 0
 * to go on, -1 with err. */
int recorder_tick(struct recorder *r, int *stack_due, struct tg_err *err);
/* An event from the tracer (loop_opts.on_event): queued for the next tick. */
void recorder_event(void *ctx, const struct trace_event *ev);
/* Detach first, then finish every file (failed: the run failed, nothing more is
 * written).  0, or -1 with err. */
int recorder_finish(struct recorder *r, int failed, struct tg_err *err);
void recorder_free(struct recorder *r);

/* A process whose recording ended. */
struct recorder_done {
	pid_t pid;
	uint64_t samples;
};

/* What the command prints. */
struct recorder_view {
	pid_t pid;	    /* the target (the launched command's process) */
	int target_watched; /* the target is not Python: followed, not recorded */
	const pid_t *found; /* existing children recorded at the start */
	size_t nfound;
	const struct recorder_done *done; /* recordings that ended, in that order */
	size_t ndone;
	size_t nprocs, threads; /* recorded now */
	uint64_t samples;	/* of the first process recorded now */
	uint64_t bytes;		/* written so far */
	int status;		/* the target's wait status once it is gone, else -1 */
};
void recorder_view(const struct recorder *r, struct recorder_view *v);

#endif
