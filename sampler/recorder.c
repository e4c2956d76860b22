/* recorder.c: the run over every traced process: events, the tick, the end (recorder.h). */
#include "sampler/recorder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "attach/procstatus.h"
#include "attach/trace_check.h"
#include "attach/tracer.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "sampler/recorder_int.h"

#define FLUSH_INTERVAL_S 1.0
/* Time a tick may spend on process events before sampling. */
#define EVENTS_BUDGET_S 0.002
/* Time the end of a run may spend on events still queued (children to open, exits). */
#define FINISH_BUDGET_S 10.0
/* how long the launcher waits for its command's exit report once its processes are gone */
#define COMMAND_EXIT_WAIT_S 5.0
/* --consistent: longest wait for a process's threads to stop before sampling it anyway
 * (a thread in uninterruptible sleep stops only when it leaves the kernel). */
#define CONSISTENT_PAUSE_MS 100

/* ---- the processes ---- */

/* Stop recording procs[i]; keep order ([0] stays the target while it is there). */
static int drop_proc(struct recorder *r, size_t i, int discard, struct tg_err *err)
{
	if (!discard && recproc_dir(r->procs[i])) {
		r->done = xgrow(r->done, &r->done_cap, r->ndone + 1, sizeof *r->done);
		r->done[r->ndone++] =
		    (struct recorder_done){recproc_pid(r->procs[i]), recproc_samples(r->procs[i])};
	}
	int rc = recproc_close(r->procs[i], discard, err);

	memmove(r->procs + i, r->procs + i + 1, (r->nprocs - i - 1) * sizeof *r->procs);
	r->nprocs--;
	return rc;
}

/* An event from the tracer thread (the process already runs): noted, the tick does the work. */
void recorder_event(void *ctx, const struct trace_event *ev)
{
	struct recorder *r = ctx;

	if (ev->kind == TRACE_EV_THREAD_NEW || ev->kind == TRACE_EV_THREAD_EXIT)
		return;
	r->pend = xgrow(r->pend, &r->pend_cap, r->npend + 1, sizeof *r->pend);
	r->pend[r->npend++] = (struct pending){ev->kind, ev->pid, ev->parent};
}

/* A forked child: the same interpreter as its parent, recorded into OUTDIR/CHILD. */
static void on_fork(struct recorder *r, pid_t pid, pid_t parent)
{
	struct recproc *from = rectree_find(r, parent, NULL);
	struct tg_err err = {0};

	if (rectree_find(r, pid, NULL) || rectree_watched(r, pid))
		return;
	/* the child of a process that does not run Python is followed the same way */
	if (rectree_watched(r, parent)) {
		rectree_watch(r, pid);
		return;
	}
	/* the child of a Python whose interpreter is not found yet (just exec'd: a
	 * forkserver) waits for its interpreter the same way */
	if (from && recproc_waiting(from)) {
		rectree_add(r, recproc_open_exec(&r->opts, pid, parent, rectree_micro_room(r)));
		r->children++;
		return;
	}
	struct recproc *p = from ? recproc_open(&r->opts, pid, parent, recproc_target(from),
						rectree_micro_room(r), &err)
				 : NULL;
	if (!p) {
		if (from)
			rectree_warn(r, "cannot record child process", pid, &err);
		if (r->tracer)
			tracer_release(r->tracer, pid);
		return;
	}
	rectree_add(r, p);
	r->children++;
}

/* A watched process exec'd Python: recorded from now on, once its interpreter is up. */
static void record_from_exec(struct recorder *r, pid_t pid)
{
	char st[4096];

	rectree_unwatch(r, pid);
	pid_t parent = pid == r->opts.pid || procstatus_read(pid, st, sizeof st) < 0
			   ? 0
			   : (pid_t)procstatus_long(st, "PPid");
	rectree_add(r, recproc_open_exec(&r->opts, pid, parent, rectree_micro_room(r)));
	r->children += pid != r->opts.pid;
}

/* An exec: Python goes on being recorded (its interpreter found again); anything else is
 * let go, and a child that ran something else leaves no directory. */
static void on_exec(struct recorder *r, pid_t pid)
{
	size_t i;
	struct recproc *p = rectree_find(r, pid, &i);
	struct tg_err err = {0};

	if (!p) {
		if (rectree_watched(r, pid) && recproc_runs_python(pid))
			record_from_exec(r, pid);
		return;
	}
	int rc = recproc_exec(p, &err);
	if (rc == 0)
		return;
	int child = pid != r->opts.pid;
	if (r->tracer)
		tracer_release(r->tracer, pid);
	drop_proc(r, i, child, NULL);
	r->children -= child;
}

static int on_exit_event(struct recorder *r, pid_t pid, struct tg_err *err)
{
	size_t i;

	rectree_unwatch(r, pid);
	if (!rectree_find(r, pid, &i))
		return 0;
	return drop_proc(r, i, 0, err);
}

/* The events queued since the last tick, within a time budget (a fork storm must not
 * starve sampling or the duration limit): what is left waits for the next tick.  No
 * traced process waits for this: the tracer thread has let each one go already. */
static int handle_events(struct recorder *r, double budget_s, struct tg_err *err)
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
static int stack_due(struct recorder *r)
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

/* Every FLUSH_INTERVAL_S the buffered lines reach the files, so that they can be followed
 * (tail -f, a renderer) during a long recording and little is lost if tgattach is killed. */
static int flush_due(struct recorder *r, struct tg_err *err)
{
	double now = clock_mono_s();

	if (now < r->next_flush)
		return 0;
	r->next_flush = now + FLUSH_INTERVAL_S;
	for (size_t i = 0; i < r->nprocs; i++)
		if (recproc_flush(r->procs[i], err) < 0)
			return -1;
	return 0;
}

/* recproc_tick(); with --consistent, a stack sample is taken with the threads stopped.  A
 * process whose threads do not all stop in time is sampled running (counted in meta). */
static int sample_proc(struct recorder *r, struct recproc *p, int due, int may_burst, double now,
		       struct tg_err *err)
{
	recproc_set_tracer(p, r->tracer, 0);
	if (!due || !r->opts.consistent || recproc_waiting(p))
		return recproc_tick(p, due, may_burst, now, err);
	double asked = clock_mono_s();
	int paused = tracer_pause(r->tracer, recproc_pid(p), CONSISTENT_PAUSE_MS, NULL) == 0;
	recproc_set_tracer(p, r->tracer, paused);
	int rc = recproc_tick(p, due, 0, now, err);
	if (paused)
		tracer_resume(r->tracer, recproc_pid(p));
	recproc_note_pause(p, paused, clock_mono_s() - asked);
	return rc;
}

/* After a stack sample, the loop leaves the CPUs the recorded process ran on since the
 * last (common/cpuavoid.h).  Not in a tree: its processes take turns for bursts, and a
 * Pool kept from sharing CPUs with the loop ran faster and showed more of the churn bias
 * its cut chains have at that pace (docs/memory.md); there the loop runs anywhere. */
static void avoid_their_cpus(struct recorder *r)
{
	cpu_set_t busy;

	CPU_ZERO(&busy);
	if (r->nprocs == 1)
		recproc_ran_cpus(r->procs[0], &busy);
	cpuavoid_apply(&r->avoid, &busy);
}

int recorder_tick(struct recorder *r, int *stack_due_now, struct tg_err *err)
{
	int due = stack_due(r);

	*stack_due_now = due;
	/* on a stack sample's tick the processes already recorded come first: a fork storm
	 * queues child after child, and must not starve their parent's samples */
	if (!due && r->npend && handle_events(r, EVENTS_BUDGET_S, err) < 0)
		return -1;
	double now = clock_real_s();
	/* one process's burst per tick, in turn: a burst holds the loop for its length, and a
	 * tree of busy processes must not fill both cores with them.  A stack sample's tick
	 * has no burst, and takes no turn: one follows nearly every burst, so with turns
	 * counted on every tick a gunicorn master (idle, its turn quick) and two workers fell
	 * into step, and the second worker had its turn on the samples' ticks: 90 bursts in
	 * 10 s against the first's 660 */
	size_t burst_turn = r->nprocs && !due ? r->turns++ % r->nprocs : SIZE_MAX, bursting = 0;
	for (size_t i = 0; i < r->nprocs; i++)
		bursting += recproc_micro(r->procs[i]) != 0;
	for (size_t i = 0; i < r->nprocs; i++)
		recproc_share_bursts(r->procs[i], bursting > 1);
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
	if (due)
		avoid_their_cpus(r);
	if (due && r->npend && handle_events(r, EVENTS_BUDGET_S, err) < 0)
		return -1;
	if (r->nprocs == 0 && r->nwatched == 0)
		return 1;
	return flush_due(r, err);
}

/* ---- the run ---- */

static int attach(struct recorder *r, struct tg_err *err)
{
	r->tracer = tracer_start(r->opts.pid, !r->opts.no_follow_forks, err);
	return r->tracer ? 0 : -1;
}

/* The launcher passes its command's exit status on.  Its processes can be found gone (a
 * read of a dead process fails) before the tracer has reaped the command: wait for that
 * report, within COMMAND_EXIT_WAIT_S (a command that lives on after its Python is gone
 * still ends the recording; its status is then unknown). */
static void await_command_exit(struct tracer *tr)
{
	double until = clock_mono_s() + COMMAND_EXIT_WAIT_S;

	while (tracer_target_alive(tr) && clock_mono_s() < until) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Detach first (no traced process may wait on our disk), then finish every file.  The
 * tracer lets stopped threads go at once, so under a fork storm the recorder may still
 * owe directories to children it has not opened yet: they are opened now (unsampled),
 * within FINISH_BUDGET_S. */
static int finish(struct recorder *r, int rc, struct tg_err *err)
{
	if (rc == 0 && r->tracer)
		tracer_events(r->tracer, recorder_event,
			      r); /* what the loop did not hand over yet */
	if (r->tracer) {
		if (rc == 0 && r->opts.command && r->nprocs == 0 && r->nwatched == 0)
			await_command_exit(r->tracer);
		r->status = tracer_target_status(r->tracer);
	}
	tracer_stop(r->tracer);
	r->tracer = NULL;
	if (rc == 0 && r->npend && handle_events(r, FINISH_BUDGET_S, err) < 0)
		rc = -1;
	r->npend = 0;
	while (r->nprocs)
		if (drop_proc(r, r->nprocs - 1, 0, rc < 0 ? NULL : err) < 0)
			rc = -1;
	return rc;
}

/* -p PID: every check that can refuse comes before anything is written (a process traced
 * already — another tgattach recording it: its files are not touched —, then the
 * interpreter, then the output files), and only then the attach.  A process that is not
 * Python is followed (not recorded) when Python processes run below it. */
static int start_on_pid(struct recorder *r, struct tg_err *err)
{
	if (trace_check_target(r->opts.pid, err) < 0)
		return -1;
	struct recproc *root = recproc_open(&r->opts, r->opts.pid, 0, NULL, 1, err);
	if (!root && (err->code != TG_E_NOTPY || r->opts.no_follow_forks))
		return -1;
	if (!root && !rectree_python_below(r->opts.pid)) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		return tg_err_set(err, TG_E_NOTPY, "%s; nor does any process below it run Python",
				  why);
	}
	if (root)
		rectree_add(r, root);
	else
		rectree_watch(r, r->opts.pid);
	if (attach(r, err) < 0) {
		finish(r, -1, NULL);
		return -1;
	}
	return 0;
}

struct recorder *recorder_open(const struct record_opts *o, struct tg_err *err)
{
	struct recorder *r = xcalloc(1, sizeof *r);

	r->opts = *o;
	r->status = -1;
	/* bursts start at a random moment of their window: ticks every millisecond place them */
	double burst_hz = r->opts.mem_rate_hz > 0 ? 1000 : 0;
	r->loop_hz = r->opts.rate_hz > burst_hz ? r->opts.rate_hz : burst_hz;
	if ((r->opts.command ? rectree_launch(r, err) : start_on_pid(r, err)) < 0) {
		recorder_free(r);
		return NULL;
	}
	cpuavoid_init(&r->avoid); /* after a command's fork: it keeps every CPU allowed */
	if (!r->opts.no_follow_forks && !r->opts.command)
		rectree_adopt(r);
	return r;
}

double recorder_loop_hz(const struct recorder *r)
{
	return r->loop_hz;
}

struct tracer *recorder_tracer(struct recorder *r)
{
	return r->tracer;
}

int recorder_finish(struct recorder *r, int failed, struct tg_err *err)
{
	return finish(r, failed ? -1 : 0, err);
}

void recorder_free(struct recorder *r)
{
	if (!r)
		return;
	if (r->tracer || r->nprocs)
		finish(r, -1, NULL);
	free(r->procs);
	free(r->pend);
	free(r->watched);
	free(r->done);
	free(r);
}

void recorder_view(const struct recorder *r, struct recorder_view *v)
{
	memset(v, 0, sizeof *v);
	v->pid = r->opts.pid;
	v->target_watched = rectree_watched(r, r->opts.pid);
	v->found = r->found;
	v->nfound = r->nfound;
	v->done = r->done;
	v->ndone = r->ndone;
	v->nprocs = r->nprocs;
	for (size_t i = 0; i < r->nprocs; i++) {
		v->bytes += recproc_bytes(r->procs[i]);
		v->threads += recproc_threads(r->procs[i]);
	}
	v->samples = r->nprocs ? recproc_samples(r->procs[0]) : 0;
	v->status = r->tracer ? tracer_target_status(r->tracer) : r->status;
}
