#include "render/replay.h"

#include <stdlib.h>
#include <string.h>

#include "common/satint.h"
#include "common/xalloc.h"

struct open_call {
	uint32_t frame;
	double start;
	double child_time;
	long long child_delta;
};

struct replay {
	struct pairer *p;
	struct frames *fr;
	struct open_call *open;
	size_t cap;
	uint32_t *count; /* open calls per frame id */
	size_t ncount;
	double last;
	int started;
};

struct replay *replay_open(const char *mem_path, const char *stack_path, struct frames *fr,
			   unsigned flags, struct tg_err *err)
{
	struct pairer *p = pair_open(mem_path ? mem_path : "/dev/null", stack_path, flags, err);
	struct replay *r;

	if (!p)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->p = p;
	r->fr = fr;
	return r;
}

void replay_close(struct replay *r)
{
	if (!r)
		return;
	pair_close(r->p);
	free(r->open);
	free(r->count);
	free(r);
}

unsigned long replay_malformed(const struct replay *r)
{
	return pair_malformed(r->p);
}

unsigned long replay_stray_returns(const struct replay *r)
{
	return pair_stray_returns(r->p);
}

double replay_last_time(const struct replay *r)
{
	return r->last;
}

static double monotonic(struct replay *r, double t)
{
	if (!r->started || t > r->last)
		r->last = t;
	r->started = 1;
	return r->last;
}

static void on_open(struct replay *r, const struct pair_event *pe, struct replay_event *ev)
{
	const struct pair_node *n = pe->node;
	uint32_t f = frames_intern(r->fr, buf_cstr(&n->file), n->file.len, buf_cstr(&n->func),
				   n->func.len, n->call_line);

	r->open = xgrow(r->open, &r->cap, (size_t)pe->depth + 1, sizeof *r->open);
	r->count = xgrow0(r->count, &r->ncount, (size_t)f + 1, sizeof *r->count);
	r->count[f]++;
	struct open_call *c = &r->open[pe->depth];
	c->frame = f;
	c->start = monotonic(r, n->call_time);
	c->child_time = 0;
	c->child_delta = 0;
	ev->frame = f;
	ev->at = c->start;
}

static void on_close(struct replay *r, const struct pair_event *pe, struct replay_event *ev)
{
	const struct pair_node *n = pe->node;
	struct open_call *c = &r->open[pe->depth];

	ev->frame = c->frame;
	ev->has_return = n->has_return;
	ev->at = n->has_return ? monotonic(r, n->ret_time) : r->last;
	ev->line = n->has_return ? n->ret_line : 0;
	ev->delta = n->has_return ? n->delta : 0;
	ev->self_delta = tg_sat_sub(ev->delta, c->child_delta);
	ev->duration = ev->at - c->start;
	ev->self_time = ev->duration - c->child_time;
	if (ev->self_time < 0)
		ev->self_time = 0;
	ev->nested = r->count[c->frame] > 1;
	r->count[c->frame]--;
	if (pe->depth > 0) {
		r->open[pe->depth - 1].child_time += ev->duration;
		r->open[pe->depth - 1].child_delta =
		    tg_sat_add(r->open[pe->depth - 1].child_delta, ev->delta);
	}
}

int replay_next(struct replay *r, struct replay_event *ev, struct tg_err *err)
{
	struct pair_event pe;
	int rc = pair_next(r->p, &pe, err);

	if (rc <= 0)
		return rc;
	memset(ev, 0, sizeof *ev);
	ev->kind = pe.kind;
	ev->depth = pe.depth;
	if (pe.kind == PAIR_OPEN)
		on_open(r, &pe, ev);
	else
		on_close(r, &pe, ev);
	return 1;
}
