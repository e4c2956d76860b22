#include "render/pair.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct pairer {
	struct tgfile mem, stack;
	struct tg_rec call, ret; /* the next call and the next return, when have_* */
	int have_call, have_ret;
	unsigned long call_lineno, ret_lineno;
	struct pair_node *open; /* open[0..depth) open calls; open[depth] the last closed */
	size_t depth, cap;
	unsigned long stray;
};

static int load_call(struct pairer *p, struct tg_err *err)
{
	int r = tgfile_next(&p->stack, &p->call, err);

	p->have_call = r == 1;
	p->call_lineno = p->stack.lineno;
	return r < 0 ? -1 : 0;
}

static int load_ret(struct pairer *p, struct tg_err *err)
{
	int r = tgfile_next(&p->mem, &p->ret, err);

	p->have_ret = r == 1;
	p->ret_lineno = p->mem.lineno;
	return r < 0 ? -1 : 0;
}

struct pairer *pair_open(const char *mem_path, const char *stack_path, unsigned flags,
			 struct tg_err *err)
{
	struct pairer *p = xcalloc(1, sizeof *p);
	int strict = (flags & PAIR_STRICT) != 0;

	if (tgfile_open(&p->mem, mem_path, TGFILE_RETURNS, strict, err) < 0) {
		free(p);
		return NULL;
	}
	if (tgfile_open(&p->stack, stack_path, TGFILE_CALLS, strict, err) < 0) {
		tgfile_close(&p->mem);
		free(p);
		return NULL;
	}
	p->mem.quiet = p->stack.quiet = (flags & PAIR_QUIET) != 0;
	if (load_call(p, err) < 0 || load_ret(p, err) < 0) {
		pair_close(p);
		return NULL;
	}
	return p;
}

void pair_close(struct pairer *p)
{
	if (!p)
		return;
	tgfile_close(&p->mem);
	tgfile_close(&p->stack);
	tg_rec_free(&p->call);
	tg_rec_free(&p->ret);
	for (size_t i = 0; i < p->cap; i++) {
		buf_free(&p->open[i].file);
		buf_free(&p->open[i].func);
	}
	free(p->open);
	free(p);
}

unsigned long pair_malformed(const struct pairer *p)
{
	return p->mem.malformed + p->stack.malformed;
}

unsigned long pair_stray_returns(const struct pairer *p)
{
	return p->stray;
}

static int same_name(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int ret_matches(const struct pairer *p, const struct pair_node *n)
{
	return same_name(&p->ret.file, &n->file) && same_name(&p->ret.func, &n->func);
}

static int ret_matches_below_top(const struct pairer *p)
{
	for (size_t i = p->depth - 1; i-- > 0;)
		if (ret_matches(p, &p->open[i]))
			return 1;
	return 0;
}

static void set_buf(struct buf *dst, const struct buf *src)
{
	buf_reset(dst);
	buf_add(dst, buf_cstr(src), src->len);
}

static int push_call(struct pairer *p, struct pair_event *ev, struct tg_err *err)
{
	p->open = xgrow0(p->open, &p->cap, (size_t)p->depth + 2, sizeof *p->open);
	struct pair_node *n = &p->open[p->depth];
	n->call_lineno = p->call_lineno;
	n->indent = p->call.indent;
	n->call_time = p->call.time;
	n->call_line = p->call.line;
	set_buf(&n->file, &p->call.file);
	set_buf(&n->func, &p->call.func);
	n->has_return = 0;
	n->tag = 0;
	ev->kind = PAIR_OPEN;
	ev->node = n;
	ev->depth = p->depth++;
	return load_call(p, err) < 0 ? -1 : 1;
}

static int close_top(struct pairer *p, int with_return, struct pair_event *ev, struct tg_err *err)
{
	struct pair_node *n = &p->open[--p->depth];

	ev->kind = PAIR_CLOSE;
	ev->node = n;
	ev->depth = p->depth;
	if (!with_return)
		return 1;
	n->has_return = 1;
	n->ret_lineno = p->ret_lineno;
	n->ret_time = p->ret.time;
	n->ret_line = p->ret.line;
	n->delta = p->ret.value;
	return load_ret(p, err) < 0 ? -1 : 1;
}

static int skip_stray(struct pairer *p, struct tg_err *err)
{
	p->stray++;
	return load_ret(p, err);
}

/* With an open call on top and a call and/or return pending, decides the next event.
 * Returns 1 with *ev set, 0 if a stray return was skipped, -1 on error (as do
 * push_call and close_top, which always produce an event). */
static int step(struct pairer *p, struct pair_event *ev, struct tg_err *err)
{
	struct pair_node *top = &p->open[p->depth - 1];
	int m = p->have_ret && ret_matches(p, top);
	int c = p->have_call;

	if (c && p->call.indent > top->indent)
		return p->depth >= PAIR_MAX_DEPTH ? close_top(p, 0, ev, err)
						  : push_call(p, ev, err);
	if (c && p->call.indent < top->indent)
		return close_top(p, m, ev, err);
	/* no call pending, or one indented like the top: its sibling, or (unindented, from
	 * the original's writer) maybe its child */
	if (c &&
	    (!p->have_ret || p->call.time < p->ret.time || (!m && p->call.time <= p->ret.time))) {
		if (p->call.indent == 0 && p->depth < PAIR_MAX_DEPTH)
			return push_call(p, ev, err);
		return close_top(p, 0, ev, err);
	}
	if (m)
		return close_top(p, 1, ev, err);
	if (ret_matches_below_top(p))
		return close_top(p, 0, ev, err);
	return skip_stray(p, err) < 0 ? -1 : 0;
}

int pair_next(struct pairer *p, struct pair_event *ev, struct tg_err *err)
{
	for (;;) {
		int r;

		if (!p->have_call && !p->have_ret) {
			if (p->depth == 0)
				return 0;
			return close_top(p, 0, ev, err);
		}
		if (p->depth == 0) {
			if (p->have_call && (!p->have_ret || p->call.time <= p->ret.time))
				return push_call(p, ev, err);
			if (skip_stray(p, err) < 0)
				return -1;
			continue;
		}
		r = step(p, ev, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return 1;
	}
}
