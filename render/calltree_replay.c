/* calltree_replay.c: a thread's calls summed into a call tree (calltree_replay.h). */
#include "render/calltree_replay.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/xalloc.h"

/* Node ids of the open calls, by depth. */
struct path {
	uint32_t *v;
	size_t cap;
};

static void open_call(struct calltree *tree, struct path *p, const struct replay_event *ev)
{
	p->v = xgrow(p->v, &p->cap, (size_t)ev->depth + 1, sizeof *p->v);
	uint32_t parent = ev->depth ? p->v[ev->depth - 1] : CALLTREE_NONE;
	p->v[ev->depth] = calltree_child(tree, parent, ev->frame);
}

int calltree_replay(struct calltree *tree, struct frames *fr, const struct rec_thread *t,
		    unsigned flags, calltree_weigh_fn weigh, void *ctx,
		    struct calltree_replay_counts *counts, struct tg_err *err)
{
	struct replay *r = replay_open(t->mem, t->stack, fr, flags, err);
	struct replay_event ev;
	struct path p = {NULL, 0};
	int rc;

	if (!r)
		return -1;
	while ((rc = replay_next(r, &ev, err)) == 1) {
		if (ev.kind == PAIR_OPEN) {
			open_call(tree, &p, &ev);
			continue;
		}
		double w[CALLTREE_WEIGHTS] = {0};
		weigh(ctx, &ev, w);
		for (int k = 0; k < CALLTREE_WEIGHTS; k++)
			if (w[k] != 0)
				calltree_add(tree, p.v[ev.depth], k, w[k]);
	}
	counts->malformed += replay_malformed(r);
	counts->stray += replay_stray_returns(r);
	replay_close(r);
	free(p.v);
	return rc;
}

void calltree_replay_report(const struct calltree_replay_counts *counts)
{
	if (counts->malformed)
		fprintf(stderr, "%lu malformed line%s skipped\n", counts->malformed,
			counts->malformed == 1 ? "" : "s");
	if (counts->stray)
		fprintf(stderr, "%lu return%s matched no call (called before the recording)\n",
			counts->stray, counts->stray == 1 ? "" : "s");
}
