/* record_tree.c: the processes of a run — the list, the descendants that existed before
 * the attach, the start line and the end summary (record.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "attach/tracer.h"
#include "builtin/record.h"
#include "common/buf.h"
#include "common/xalloc.h"

/* A tree larger than this is adopted only this far (a fork bomb must not hold the start). */
#define ADOPT_MAX 4096

struct proc *run_find_proc(struct run *r, pid_t pid, size_t *index)
{
	for (size_t i = 0; i < r->nprocs; i++)
		if (proc_pid(r->procs[i]) == pid) {
			if (index)
				*index = i;
			return r->procs[i];
		}
	return NULL;
}

void run_add_proc(struct run *r, struct proc *p)
{
	if (r->nprocs == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->procs = xrealloc(r->procs, r->cap * sizeof *r->procs);
	}
	r->procs[r->nprocs++] = p;
}

/* Seize pid and record it when it runs Python; 1 when it is to be walked further (seized,
 * Python or not), 0 when not. */
static int adopt_one(struct run *r, pid_t pid, pid_t parent, int *recorded)
{
	struct tg_err err = {0};
	size_t micro = 0;

	*recorded = 0;
	int rc = tracer_adopt(r->tracer, pid, &err);
	if (rc < 0)
		run_warn(r, "cannot record existing child process", pid, &err);
	if (rc <= 0) /* gone, refused, or forked since the attach (its event tells) */
		return 0;
	for (size_t i = 0; i < r->nprocs; i++)
		micro += proc_micro(r->procs[i]);
	struct proc *p = proc_open(&r->opts, pid, parent, NULL, micro < RECORD_MICRO_PROCS, &err);
	if (!p) {
		if (err.code != TG_E_NOTPY)
			run_warn(r, "cannot record existing child process", pid, &err);
		/* not Python: followed (not recorded) while Python runs below it (a shell or
		 * supervisor: its later children and execs matter), else let go */
		if (err.code == TG_E_NOTPY && run_python_below(pid))
			run_watch(r, pid);
		else
			tracer_release(r->tracer, pid);
		return 1;
	}
	run_add_proc(r, p);
	r->children++;
	*recorded = 1;
	return 1;
}

size_t run_adopt_descendants(struct run *r, pid_t *found, size_t max)
{
	pid_t *queue = xcalloc(ADOPT_MAX, sizeof *queue);
	size_t head = 0, tail = 0, nfound = 0;

	queue[tail++] = r->opts.pid;
	/* breadth first: a process is seized before its children are listed */
	while (head < tail) {
		pid_t parent = queue[head++], kids[512];
		size_t n = procstatus_children(parent, kids, sizeof kids / sizeof kids[0]);
		for (size_t k = 0; k < n && tail < ADOPT_MAX; k++) {
			int recorded;
			if (run_find_proc(r, kids[k], NULL) ||
			    !adopt_one(r, kids[k], parent, &recorded))
				continue;
			queue[tail++] = kids[k];
			if (recorded && nfound < max)
				found[nfound++] = kids[k];
		}
	}
	free(queue);
	return nfound;
}

void run_start_line(const struct run *r, const pid_t *found, size_t n)
{
	if (r->opts.quiet)
		return;
	if (r->opts.command) {
		fprintf(stderr,
			"tgattach: started %s as process %d: recorded once it runs Python, into "
			"%s\n",
			r->opts.command[0], (int)r->opts.pid, r->opts.outdir);
		return;
	}
	if (run_watched(r, r->opts.pid))
		fprintf(stderr,
			"tgattach: process %d is not Python: followed, not recorded; "
			"recording",
			(int)r->opts.pid);
	else
		fprintf(stderr, "tgattach: recording %d and", (int)r->opts.pid);
	if (n) {
		fprintf(stderr, " %zu existing child process%s (", n, n == 1 ? "" : "es");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%d", i ? " " : "", (int)found[i]);
		fputc(')', stderr);
	} else {
		fprintf(stderr, " no existing child process");
	}
	fprintf(stderr, " into %s%s\n", r->opts.outdir,
		r->opts.no_follow_forks ? "" : "; new children are followed");
}

#define SUMMARY_LISTED 16

void run_summary(const struct run *r, const char *why)
{
	const struct run_done *root = NULL;
	size_t nchildren = 0;

	if (r->opts.quiet)
		return;
	for (size_t i = 0; i < r->ndone; i++) {
		if (r->done[i].pid == r->opts.pid)
			root = &r->done[i];
		else
			nchildren++;
	}
	fprintf(stderr, "tgattach: %s: ", why);
	if (root)
		fprintf(stderr, "%llu sample%s of process %d", (unsigned long long)root->samples,
			root->samples == 1 ? "" : "s", (int)root->pid);
	else
		fprintf(stderr, "process %d not recorded itself", (int)r->opts.pid);
	if (nchildren) {
		fprintf(stderr, "; %zu child process%s:", nchildren, nchildren == 1 ? "" : "es");
		size_t shown = 0;
		for (size_t i = 0; i < r->ndone && shown < SUMMARY_LISTED; i++) {
			if (r->done[i].pid == r->opts.pid)
				continue;
			fprintf(stderr, " %d (%llu)", (int)r->done[i].pid,
				(unsigned long long)r->done[i].samples);
			shown++;
		}
		if (nchildren > shown)
			fprintf(stderr, " and %zu more", nchildren - shown);
	}
	fprintf(stderr, "; written to %s/PID/\n", r->opts.outdir);
}

/* ---- processes followed but not recorded ---- */

void run_watch(struct run *r, pid_t pid)
{
	if (run_watched(r, pid))
		return;
	if (r->nwatched == r->watched_cap) {
		r->watched_cap = r->watched_cap ? r->watched_cap * 2 : 8;
		r->watched = xrealloc(r->watched, r->watched_cap * sizeof *r->watched);
	}
	r->watched[r->nwatched++] = pid;
}

int run_watched(const struct run *r, pid_t pid)
{
	for (size_t i = 0; i < r->nwatched; i++)
		if (r->watched[i] == pid)
			return 1;
	return 0;
}

int run_unwatch(struct run *r, pid_t pid)
{
	for (size_t i = 0; i < r->nwatched; i++)
		if (r->watched[i] == pid) {
			r->watched[i] = r->watched[--r->nwatched];
			return 1;
		}
	return 0;
}

int run_python_below(pid_t pid)
{
	pid_t *queue = xcalloc(ADOPT_MAX, sizeof *queue);
	size_t head = 0, tail = 0;
	int found = 0;

	queue[tail++] = pid;
	while (head < tail && !found) {
		pid_t kids[512];
		size_t n = procstatus_children(queue[head++], kids, sizeof kids / sizeof kids[0]);
		for (size_t k = 0; k < n && !found && tail < ADOPT_MAX; k++) {
			found = proc_runs_python(kids[k]);
			queue[tail++] = kids[k];
		}
	}
	free(queue);
	return found;
}

/* ---- the launcher ---- */

/* In the child: wait for the word, then exec the command with every signal unblocked
 * (tgattach blocks them all: the command must not inherit that).  An exec that fails
 * sends its errno up the close-on-exec pipe. */
static void launched_child(char **command, int go, int errpipe)
{
	sigset_t none;
	char c;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (read(go, &c, 1) != 1) /* tgattach ended before it could trace us */
		_exit(127);
	close(go);
	execvp(command[0], command);
	int e = errno;
	ssize_t w = write(errpipe, &e, sizeof e);
	(void)w;
	_exit(127);
}

int run_launch(struct run *r, struct tg_err *err)
{
	int go[2], errpipe[2], e = 0;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(errpipe, O_CLOEXEC) < 0)
		return tg_err_sys(err, TG_E_INTERNAL, "launch %s: pipe", r->opts.command[0]);
	pid_t child = fork();
	if (child < 0)
		return tg_err_sys(err, TG_E_INTERNAL, "launch %s: fork", r->opts.command[0]);
	if (child == 0)
		launched_child(r->opts.command, go[0], errpipe[1]);
	close(go[0]);
	close(errpipe[1]);
	r->opts.pid = child;
	r->tracer = tracer_start(child, !r->opts.no_follow_forks, err);
	if (!r->tracer) {
		close(go[1]);
		close(errpipe[0]);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return -1;
	}
	run_watch(r, child);
	ssize_t w = write(go[1], "g", 1);
	close(go[1]);
	ssize_t got = w == 1 ? read(errpipe[0], &e, sizeof e) : -1;
	close(errpipe[0]);
	if (got == 0)
		return 0; /* the exec succeeded: the pipe closed with it */
	tracer_stop(r->tracer);
	r->tracer = NULL;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	errno = got == (ssize_t)sizeof e ? e : EIO;
	return tg_err_sys(err, TG_E_USAGE, "cannot run %s", r->opts.command[0]);
}
