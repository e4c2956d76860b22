/* proctree.h: the processes a render argument names, for the renderers that take a tree
 * (top, collapsed, speedscope, alloc; memg has its own drawing of it).  An argument is
 * OUTDIR (every OUTDIR/PID in it that has a meta: a recording that followed forks, or
 * found existing children), or OUTDIR/PID with --children (it and its descendants, by
 * meta's parent=), or anything else recording_open() takes (then not a tree).  Built on
 * memg's reader of trees (memg_tree.c), so every renderer orders and validates processes
 * the same way: each process before its children, children by PID. */
#ifndef TG_PROCTREE_H
#define TG_PROCTREE_H

#include <stddef.h>

#include "common/err.h"
#include "render/recording.h"

struct proctree {
	char **dirs; /* OUTDIR/PID of each process that holds a recording */
	long *pids;
	size_t n;
};

/* 1 and *t filled when the arguments name a tree (even of one process), 0 when they are
 * plain recording arguments (t empty), -1 with err. */
int proctree_open(struct proctree *t, int nargs, char *const *args, int children,
		  struct tg_err *err);
void proctree_free(struct proctree *t);

/* Threads of several processes in one recording: each thread's name becomes
 * "PID N: NAME", so that every row, stack and profile names its process. */
void proctree_name_threads(struct recording *r);

/* recording_open() over the processes the arguments name: a tree's processes in one
 * recording, their threads named by process when there are several. */
int proctree_recording(struct recording *rec, int nargs, char *const *args, int children,
		       struct tg_err *err);

#endif
