/* calltree_replay.h: one thread's calls and returns (render/replay.h) summed into a call
 * tree (render/calltree.h): each call's own time and memory added to its stack, with the
 * weights the caller gives them. */
#ifndef TG_CALLTREE_REPLAY_H
#define TG_CALLTREE_REPLAY_H

#include "common/err.h"
#include "render/calltree.h"
#include "render/frames.h"
#include "render/recording.h"
#include "render/replay.h"

/* The weights (CALLTREE_WEIGHTS of them) of one call, from its closing event. */
typedef void (*calltree_weigh_fn)(void *ctx, const struct replay_event *ev, double *w);

struct calltree_replay_counts {
	unsigned long malformed, stray;
};

/* On stderr: how many malformed lines were skipped and returns matched no call, if any. */
void calltree_replay_report(const struct calltree_replay_counts *counts);

/* Replays thread t (flags: PAIR_STRICT, PAIR_QUIET) into tree; counts added to *counts. */
int calltree_replay(struct calltree *tree, struct frames *fr, const struct rec_thread *t,
		    unsigned flags, calltree_weigh_fn weigh, void *ctx,
		    struct calltree_replay_counts *counts, struct tg_err *err);

#endif
