/* trace_seize.c: PTRACE_SEIZE of every thread of a process, rescanning /proc/PID/task until
 * no new thread appears (trace_attach, trace_adopt), and why the kernel refused one. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "attach/trace_check.h"
#include "attach/trace_int.h"
#include "common/xalloc.h"

/* Rescans of /proc/PID/task before giving up on a process that keeps making threads. */
#define SEIZE_PASSES 64

/* ---- trace_attach ---- */

/* PTRACE_SEIZE said EPERM for thread tid of process pid: why?  1 when it turns out to be
 * ours (a thread that a seized thread created: the kernel attached it), 0 when it is
 * dying, -1 with err. */
static int seize_denied(struct trace *t, pid_t pid, pid_t tid, struct tg_err *err)
{
	char st[4096];
	long tracer;
	char s;

	if (procstatus_read(tid, st, sizeof st) < 0)
		return 0;
	tracer = procstatus_long(st, "TracerPid");
	if (tracer == t->self) {
		trace_add(t, tid, pid);
		return 1;
	}
	if (tracer > 0)
		return trace_err_traced(pid, tracer, err);
	s = procstatus_state(st);
	if (s == 'Z' || s == 'X')
		return 0;
	return trace_err_perm(pid, err);
}

/* 1 when tid was added, 0 when skipped (gone), -1 with err. */
static int seize_one(struct trace *t, pid_t pid, pid_t tid, struct tg_err *err)
{
	if (trace_pt(PTRACE_SEIZE, tid, t->options) == 0) {
		trace_add(t, tid, pid);
		return 1;
	}
	if (errno == ESRCH)
		return 0;
	if (errno == EPERM)
		return seize_denied(t, pid, tid, err);
	return tg_err_sys(err, TG_E_INTERNAL, "attach to process %d: PTRACE_SEIZE thread %d",
			  (int)pid, (int)tid);
}

/* One pass over /proc/PID/task: number of threads newly seized, or -1 with err. */
static int seize_pass(struct trace *t, pid_t pid, struct tg_err *err)
{
	char path[64];
	struct dirent *de;
	int added = 0, r = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT || errno == ESRCH)
			return tg_err_set(err, TG_E_NOPROC,
					  "attach to process %d: it exited while attaching",
					  (int)pid);
		return tg_err_sys(err, TG_E_PERM, "attach to process %d: open %s", (int)pid, path);
	}
	while (r >= 0 && (de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end || tid <= 0 || trace_find(t, (pid_t)tid))
			continue;
		r = seize_one(t, pid, (pid_t)tid, err);
		added += r > 0;
	}
	closedir(d);
	return r < 0 ? -1 : added;
}

/* Seize until a pass finds no new thread: a thread created after the pass listed the
 * directory was created by a thread already seized, so the kernel attached it. */
static int seize_all(struct trace *t, pid_t pid, struct tg_err *err)
{
	for (int pass = 0; pass < SEIZE_PASSES; pass++) {
		int added = seize_pass(t, pid, err);

		if (added < 0)
			return -1;
		if (added == 0 && trace_has_threads(t, pid))
			return 0;
		if (added == 0)
			return tg_err_set(err, TG_E_NOPROC,
					  "attach to process %d: it has no live thread", (int)pid);
	}
	return tg_err_set(err, TG_E_INTERNAL,
			  "attach to process %d: new threads kept appearing over %d passes",
			  (int)pid, SEIZE_PASSES);
}

struct trace *trace_attach(pid_t pid, const struct trace_opts *opts, struct tg_err *err)
{
	struct trace *t;

	if (trace_check_target(pid, err) < 0)
		return NULL;
	t = xcalloc(1, sizeof *t);
	t->target = pid;
	t->self = gettid();
	t->alive = 1;
	if (opts)
		t->opts = *opts;
	t->options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
	if (t->opts.follow_forks)
		t->options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	if (seize_all(t, pid, err) < 0) {
		trace_detach(t);
		return NULL;
	}
	return t;
}

int trace_adopt(struct trace *t, pid_t pid, struct tg_err *err)
{
	char st[4096];

	/* a child the kernel attached at its fork is ours already: its event tells of it */
	if (trace_has_threads(t, pid) || (procstatus_read(pid, st, sizeof st) == 0 &&
					  procstatus_long(st, "TracerPid") == t->self))
		return 0;
	if (trace_check_target(pid, err) < 0)
		return err && err->code == TG_E_NOPROC ? 0 : -1;
	if (seize_all(t, pid, err) < 0) {
		int gone = err && err->code == TG_E_NOPROC;
		if (trace_has_threads(t, pid))
			trace_release(t, pid, NULL);
		return gone ? 0 : -1;
	}
	return 1;
}
