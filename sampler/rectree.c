/* rectree.c: the processes of a recording — the list, the descendants that existed before
 * the attach, the processes followed but not recorded, the launcher (recorder_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "attach/tracer.h"
#include "sampler/recorder_int.h"
#include "common/buf.h"
#include "common/xalloc.h"

/* A tree larger than this is adopted only this far (a fork bomb must not hold the start). */
#define ADOPT_MAX 4096

void rectree_warn(const struct recorder *r, const char *what, pid_t pid, const struct tg_err *err)
{
	if (!r->opts.quiet)
		fprintf(stderr, "tgattach: %s %d: %s\n", what, (int)pid, err->msg);
}

struct recproc *rectree_find(struct recorder *r, pid_t pid, size_t *index)
{
	for (size_t i = 0; i < r->nprocs; i++)
		if (recproc_pid(r->procs[i]) == pid) {
			if (index)
				*index = i;
			return r->procs[i];
		}
	return NULL;
}

void rectree_add(struct recorder *r, struct recproc *p)
{
	r->procs = xgrow(r->procs, &r->cap, r->nprocs + 1, sizeof *r->procs);
	r->procs[r->nprocs++] = p;
}

int rectree_micro_room(const struct recorder *r)
{
	size_t micro = 0;

	for (size_t i = 0; i < r->nprocs; i++)
		micro += recproc_micro(r->procs[i]);
	return micro < RECORD_MICRO_PROCS;
}

/* Seize pid and record it when it runs Python; 1 when it is to be walked further (seized,
 * Python or not), 0 when not. */
static int adopt_one(struct recorder *r, pid_t pid, pid_t parent, int *recorded)
{
	struct tg_err err = {0};

	*recorded = 0;
	int rc = tracer_adopt(r->tracer, pid, &err);
	if (rc < 0)
		rectree_warn(r, "cannot record existing child process", pid, &err);
	if (rc <= 0) /* gone, refused, or forked since the attach (its event tells) */
		return 0;
	struct recproc *p = recproc_open(&r->opts, pid, parent, NULL, rectree_micro_room(r), &err);
	if (!p) {
		if (err.code != TG_E_NOTPY)
			rectree_warn(r, "cannot record existing child process", pid, &err);
		/* not Python: followed (not recorded) while Python runs below it (a shell or
		 * supervisor: its later children and execs matter), else let go */
		if (err.code == TG_E_NOTPY && rectree_python_below(pid))
			rectree_watch(r, pid);
		else
			tracer_release(r->tracer, pid);
		return 1;
	}
	rectree_add(r, p);
	r->children++;
	*recorded = 1;
	return 1;
}

void rectree_adopt(struct recorder *r)
{
	pid_t *queue = xcalloc(ADOPT_MAX, sizeof *queue);
	size_t head = 0, tail = 0;

	queue[tail++] = r->opts.pid;
	/* breadth first: a process is seized before its children are listed */
	while (head < tail) {
		pid_t parent = queue[head++], kids[512];
		size_t n = procstatus_children(parent, kids, sizeof kids / sizeof kids[0]);
		for (size_t k = 0; k < n && tail < ADOPT_MAX; k++) {
			int recorded;
			if (rectree_find(r, kids[k], NULL) ||
			    !adopt_one(r, kids[k], parent, &recorded))
				continue;
			queue[tail++] = kids[k];
			if (recorded && r->nfound < RECORDER_FOUND_MAX)
				r->found[r->nfound++] = kids[k];
		}
	}
	free(queue);
}

/* ---- processes followed but not recorded ---- */

void rectree_watch(struct recorder *r, pid_t pid)
{
	if (rectree_watched(r, pid))
		return;
	r->watched = xgrow(r->watched, &r->watched_cap, r->nwatched + 1, sizeof *r->watched);
	r->watched[r->nwatched++] = pid;
}

int rectree_watched(const struct recorder *r, pid_t pid)
{
	for (size_t i = 0; i < r->nwatched; i++)
		if (r->watched[i] == pid)
			return 1;
	return 0;
}

int rectree_unwatch(struct recorder *r, pid_t pid)
{
	for (size_t i = 0; i < r->nwatched; i++)
		if (r->watched[i] == pid) {
			r->watched[i] = r->watched[--r->nwatched];
			return 1;
		}
	return 0;
}

int rectree_python_below(pid_t pid)
{
	pid_t *queue = xcalloc(ADOPT_MAX, sizeof *queue);
	size_t head = 0, tail = 0;
	int found = 0;

	queue[tail++] = pid;
	while (head < tail && !found) {
		pid_t kids[512];
		size_t n = procstatus_children(queue[head++], kids, sizeof kids / sizeof kids[0]);
		for (size_t k = 0; k < n && !found && tail < ADOPT_MAX; k++) {
			found = recproc_runs_python(kids[k]);
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

int rectree_launch(struct recorder *r, struct tg_err *err)
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
	rectree_watch(r, child);
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
