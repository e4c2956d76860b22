/* record.h: the recorder's parts (builtin/record.c: options and the run over every traced
 * process; builtin/record_proc.c: one process's recording). */
#ifndef TG_RECORD_H
#define TG_RECORD_H

#include <sys/types.h>

#include "attach/trace.h"
#include "common/err.h"
#include "sampler/memtrack.h"
#include "symbols/pytarget.h"

struct record_opts {
	pid_t pid;
	const char *outdir;
	double rate_hz;
	double mem_rate_hz; /* < 0: default */
	double duration_s;
	double process_interval_s; /* 0: every sample */
	const char *filter;
	int no_stack;
	int quiet;
	int no_follow_forks;
	int consistent; /* --consistent: threads paused for each stack sample */
	enum memtrack_metric metric;
	enum offsets_mode offsets;
	char **command; /* the launcher: tgattach [options] -- COMMAND [ARGS...] */
	int argc;	/* tgattach's own command line, for meta */
	char **argv;
};

struct proc;

/* Bursts of memory micro-samples per second (--mem-rate; one per window), and how many
 * processes of a tree get them. */
#define RECORD_MEM_RATE_DEFAULT 100
#define RECORD_MICRO_PROCS 8

/* Start recording process pid into OUTDIR/PID.  like: the resolved interpreter of the
 * parent, for a forked child (NULL: resolve it); parent: its parent's pid, or 0; micro:
 * whether it gets memory micro-samples. */
struct proc *proc_open(const struct record_opts *o, pid_t pid, pid_t parent,
		       const struct py_target *like, int micro, struct tg_err *err);
/* Record process pid from when it is found running Python: it exec'd (or is about to
 * exec) a Python program, whose interpreter is looked for at each tick (as after
 * proc_exec); its files are created only then. */
struct proc *proc_open_exec(const struct record_opts *o, pid_t pid, pid_t parent, int micro);
/* Does the program pid runs carry CPython (linked in, or a libpython it needs)? */
int proc_runs_python(pid_t pid);
/* It gets memory micro-samples. */
int proc_micro(const struct proc *p);
/* One tick: a stack sample when stack_due, else (when may_burst) a burst of memory
 * micro-samples if one is due.  Returns 1 when the process is gone, 0 to go on, -1 with
 * err on a write error. */
int proc_tick(struct proc *p, int stack_due, int may_burst, double now_real, struct tg_err *err);
/* The process exec'd.  Returns 1 when the new program is not Python (let it go); 0 when
 * it is: the recording goes on once the new interpreter is found (proc_tick retries); -1
 * with err when the old image's final meta could not be written (let go too). */
int proc_exec(struct proc *p, struct tg_err *err);
/* Finish: final meta, files flushed and closed (discard: remove them).  -1 with err if the
 * last write failed. */
int proc_close(struct proc *p, int discard, struct tg_err *err);

/* Push buffered lines to the files (the run does it every FLUSH_INTERVAL_S, so the files
 * can be followed while recording). */
int proc_flush(struct proc *p, struct tg_err *err);

/* --consistent: how the pause around one stack sample went (held_s: from the pause asked
 * to the resume asked; paused 0 when the threads could not all be stopped in time). */
void proc_note_pause(struct proc *p, int paused, double held_s);

pid_t proc_pid(const struct proc *p);
const struct py_target *proc_target(const struct proc *p);
const char *proc_dir(const struct proc *p);
uint64_t proc_samples(const struct proc *p);
size_t proc_threads(const struct proc *p);
uint64_t proc_bytes(const struct proc *p);
/* Exec'd into Python, the new interpreter not found yet. */
int proc_waiting(const struct proc *p);

/* ---- the run over every traced process (builtin/record.c, builtin/record_tree.c) ---- */

struct tracer;

/* An event from the tracer, handled at the next tick. */
struct pending {
	enum trace_event_kind kind;
	pid_t pid, parent;
};

/* What the end summary says of a process whose recording ended. */
struct run_done {
	pid_t pid;
	uint64_t samples;
};

struct run {
	struct record_opts opts;
	struct tracer *tracer;
	struct proc **procs; /* [0] is the target while it is recorded */
	size_t nprocs, cap;
	struct pending *pend; /* events from the tracer, handled at the tick */
	size_t npend, pend_cap;
	pid_t *watched; /* traced, not Python (yet): followed through forks and execs */
	size_t nwatched, watched_cap;
	struct run_done *done; /* processes whose recording ended, in that order */
	size_t ndone, done_cap;
	double loop_hz;	   /* the loop's rate: the larger of the two rates */
	double next_stack; /* monotonic time of the next stack sample */
	double started, last_status;
	double next_flush;	 /* monotonic time of the next flush of every file */
	uint64_t children;	 /* child processes recorded */
	uint64_t ticks;
	int status_tty;
};

struct proc *run_find_proc(struct run *r, pid_t pid, size_t *index);
void run_add_proc(struct run *r, struct proc *p);
void run_warn(const struct run *r, const char *what, pid_t pid, const struct tg_err *err);

/* After the attach, with fork following: seize the target's descendants that already
 * exist (each before its own children are listed, so that any it forks meanwhile is
 * attached by the kernel) and record those that run Python; the others are let go.
 * Their pids, in the order found, are appended to found (at most max); their number. */
size_t run_adopt_descendants(struct run *r, pid_t *found, size_t max);
/* The watched processes: not Python, traced only to follow their forks and execs (a
 * launched command, a shell or supervisor above Python processes).  run_unwatch: 1 when
 * pid was watched. */
void run_watch(struct run *r, pid_t pid);
int run_watched(const struct run *r, pid_t pid);
int run_unwatch(struct run *r, pid_t pid);
/* Has pid a descendant that runs Python (by its executable)? */
int run_python_below(pid_t pid);
/* The launcher: start r->opts.command traced from its first instruction (it waits, is
 * seized by the tracer thread, then execs); r->opts.pid becomes its pid and it is
 * watched until it runs Python.  0, or -1 with err (nothing left running). */
int run_launch(struct run *r, struct tg_err *err);

/* The line that says what is recorded, on stderr (nothing with -q). */
void run_start_line(const struct run *r, const pid_t *found, size_t n);
/* The end summary: why it ended, the samples of each process, the directories. */
void run_summary(const struct run *r, const char *why);

#endif
