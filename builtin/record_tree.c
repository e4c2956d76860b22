/* record_tree.c: the processes of a run — the list, the descendants that existed before
 * the attach, the start line and the end summary (record.h). */
#include <stdio.h>
#include <stdlib.h>

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
		/* its children are listed now (below); any it forks later is not followed */
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
	fprintf(stderr, "tgattach: recording %d", (int)r->opts.pid);
	if (n) {
		fprintf(stderr, " and %zu existing child process%s (", n, n == 1 ? "" : "es");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%d", i ? " " : "", (int)found[i]);
		fputc(')', stderr);
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
