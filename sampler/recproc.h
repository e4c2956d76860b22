/* recproc.h: one process's recording within a recorder: its session, files, call
 * tracker and memory tracker. */
#ifndef TG_RECPROC_H
#define TG_RECPROC_H

#include <sched.h>
#include <sys/types.h>

#include "common/err.h"
#include "sampler/recorder.h"
#include "symbols/pytarget.h"

struct recproc;
struct tracer;

/* Start recording process pid into OUTDIR/PID.  like: the resolved interpreter of the
 * parent, for a forked child (NULL: resolve it); parent: its parent's pid, or 0; micro:
 * whether it gets memory micro-samples. */
struct recproc *recproc_open(const struct record_opts *o, pid_t pid, pid_t parent,
			     const struct py_target *like, int micro, struct tg_err *err);
/* Record process pid from when it is found running Python: it exec'd (or is about to
 * exec) a Python program, whose interpreter is looked for at each tick (as after
 * proc_exec); its files are created only then. */
struct recproc *recproc_open_exec(const struct record_opts *o, pid_t pid, pid_t parent, int micro);
/* Does the program pid runs carry CPython (linked in, or a libpython it needs)? */
int recproc_runs_python(pid_t pid);
/* It gets memory micro-samples. */
int recproc_micro(const struct recproc *p);
/* Its bursts take turns with other processes' (memtrack_set_shared()). */
void recproc_share_bursts(struct recproc *p, int shared);
/* One tick: a stack sample when stack_due, else (when may_burst) a burst of memory
 * micro-samples if one is due.  Returns 1 when the process is gone, 0 to go on, -1 with
 * err on a write error. */
int recproc_tick(struct recproc *p, int stack_due, int may_burst, double now_real,
		 struct tg_err *err);
/* The threads of the process are held (--consistent) for the stack sample to come; tr:
 * the tracer that stops a thread for its native stack (--profile c|both). */
void recproc_set_tracer(struct recproc *p, struct tracer *tr, int held);
/* The process exec'd.  Returns 1 when the new program is not Python (let it go); 0 when
 * it is: the recording goes on once the new interpreter is found (proc_tick retries); -1
 * with err when the old image's final meta could not be written (let go too). */
int recproc_exec(struct recproc *p, struct tg_err *err);
/* Finish: final meta, files flushed and closed (discard: remove them).  -1 with err if the
 * last write failed. */
int recproc_close(struct recproc *p, int discard, struct tg_err *err);

/* Push buffered lines to the files (the run does it every FLUSH_INTERVAL_S, so the files
 * can be followed while recording). */
int recproc_flush(struct recproc *p, struct tg_err *err);

/* --consistent: how the pause around one stack sample went (held_s: from the pause asked
 * to the resume asked; paused 0 when the threads could not all be stopped in time). */
void recproc_note_pause(struct recproc *p, int paused, double held_s);

pid_t recproc_pid(const struct recproc *p);
const struct py_target *recproc_target(const struct recproc *p);
const char *recproc_dir(const struct recproc *p);
uint64_t recproc_samples(const struct recproc *p);
size_t recproc_threads(const struct recproc *p);
/* Adds to set the CPUs its threads that ran lately ran on (memtrack_ran_cpus; none
 * without a memory track). */
void recproc_ran_cpus(const struct recproc *p, cpu_set_t *set);
uint64_t recproc_bytes(const struct recproc *p);
/* Exec'd into Python, the new interpreter not found yet. */
int recproc_waiting(const struct recproc *p);

#endif
