#include "sampler/gil.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define MAX_INTERPS 64

struct gil_words {
	uint64_t locked; /* address of the 32-bit `locked` word, 0 = none (2.7) */
	uint64_t holder; /* address of the holder pointer */
	uint64_t sw;	 /* address of the switch counter, 0 = none */
};

struct gil_reader {
	struct remote *r;
	const struct py_target *t;
	struct gil_words gils[GIL_MAX];
	size_t ngils;
	int read_ok;	      /* the last gil_holders() read them */
	uint64_t last;	      /* what it read as the only GIL's last holder (gil_last_holder) */
	uint64_t prev_holder; /* the only GIL's last holder at the last reading: 0 none */
	uint64_t in_c;	      /* a thread state read running C only (gil_in_c): 0 none */
	uint64_t pos, pos_frame, pos_of;  /* gil_position */
	uint64_t prev_word, prev_word_of; /* the frame word at the last reading, and whose */
	uint64_t prev_chunk, prev_top;	  /* its data stack's chunk and top then (3.11+) */
	unsigned char *copy;		  /* gil_stack's copy */
	size_t copy_cap;
	struct stackcopy_taken taken; /* gil_stack: of taken_of, 0 none */
	uint64_t taken_of;
};

struct gil_reader *gil_new(struct remote *r, const struct py_target *t)
{
	struct gil_reader *g = xcalloc(1, sizeof *g);

	g->r = r;
	g->t = t;
	gil_refresh(g);
	return g;
}

void gil_free(struct gil_reader *g)
{
	free(g->copy);
	free(g);
}

static uint64_t read_ptr(struct gil_reader *g, uint64_t addr)
{
	uint64_t v = 0;

	if (addr && remote_read_u64(g->r, addr, &v) < 0)
		return 0;
	return v;
}

static void add_gil(struct gil_reader *g, uint64_t locked, uint64_t holder, uint64_t sw)
{
	for (size_t i = 0; i < g->ngils; i++)
		if (g->gils[i].holder == holder)
			return;
	if (g->ngils < GIL_MAX && holder)
		g->gils[g->ngils++] = (struct gil_words){locked, holder, sw};
}

/* The address of a field at offset off of base, 0 when the layout lacks it. */
static uint64_t field(uint64_t base, int64_t off)
{
	return base && off >= 0 ? base + (uint64_t)off : 0;
}

/* 3.12+: each interpreter points to the GIL it uses (its own, or the main one's). */
static void per_interp_gils(struct gil_reader *g)
{
	const struct py_offsets *o = &g->t->off;
	uint64_t interp = read_ptr(g, g->t->sym.runtime + (uint64_t)o->rt_interp_head);

	for (size_t k = 0; interp && k < MAX_INTERPS; k++) {
		uint64_t gil = read_ptr(g, interp + (uint64_t)o->is_gil_ptr);
		if (gil)
			add_gil(g, gil + (uint64_t)o->gil_locked, gil + (uint64_t)o->gil_holder,
				field(gil, o->gil_switch));
		uint64_t next = read_ptr(g, interp + (uint64_t)o->is_next);
		interp = next == interp ? 0 : next;
	}
}

size_t gil_refresh(struct gil_reader *g)
{
	const struct py_offsets *o = &g->t->off;
	const struct py_syms *s = &g->t->sym;

	g->ngils = 0;
	if (s->runtime && o->rt_gil_locked >= 0 && o->rt_gil_holder >= 0)
		add_gil(g, s->runtime + (uint64_t)o->rt_gil_locked,
			s->runtime + (uint64_t)o->rt_gil_holder,
			field(s->runtime, o->rt_gil_switch));
	else if (s->runtime && o->rt_interp_head >= 0 && o->is_gil_ptr >= 0 && o->gil_locked >= 0 &&
		 o->gil_holder >= 0 && o->is_next >= 0)
		per_interp_gils(g);
	else if (s->gil_locked && s->gil_last_holder)
		add_gil(g, s->gil_locked, s->gil_last_holder, 0);
	else if (s->tstate_current)
		add_gil(g, 0, s->tstate_current, 0);
	return g->ngils;
}

#define PAGE 4096u
#define COPY_MAX (64u << 10) /* the most of a data stack chunk copied */

/* The stack copy's piece: the chunk the reading before found, from its start to a page
 * past the end of the page of the top it found (the thread may have gone deeper since),
 * then the frame word, top and current frame again.  A chunk ends at a page's end, but
 * the next page may not be mapped: the copy then fails, and the reading's other pieces
 * are read all the same (remote_readv goes on after a piece that faults). */
static size_t copy_pieces(struct gil_reader *g, struct gil_batch *b, struct remote_iov *iov,
			  const struct remote_iov *pos, size_t npos)
{
	uint64_t lo = g->prev_chunk, end = (g->prev_top | (PAGE - 1)) + 1 + PAGE;

	if (!lo || g->prev_top <= lo || end - lo > COPY_MAX)
		return 0;
	if (end - lo > g->copy_cap) {
		g->copy_cap = COPY_MAX;
		g->copy = xrealloc(g->copy, g->copy_cap);
	}
	b->at_copy = (int)npos;
	iov[0] = (struct remote_iov){lo, g->copy, (size_t)(end - lo), 0};
	b->at_again = (int)npos + 1;
	iov[1] = (struct remote_iov){pos[0].addr, &b->again[0], 8, 0};
	iov[2] = (struct remote_iov){pos[b->at_top].addr, &b->again[1], 8, 0};
	if (!b->at_cur)
		return 3;
	iov[3] = (struct remote_iov){pos[b->at_cur].addr, &b->again[2], 8, 0};
	return 4;
}

/* 3.11+, after the frame word: the state's data stack chunk and top, and on 3.11 and 3.12,
 * whose frame word is the C frame, that C frame's current frame, read where the last
 * reading found the C frame (valid when this reading finds it there still: the same
 * evaluation loop); with stacks, the copy (copy_pieces).  iov[0] is the word's piece. */
static size_t position_pieces(struct gil_reader *g, struct gil_batch *b, struct remote_iov *iov,
			      int stacks)
{
	const struct py_offsets *o = &g->t->off;
	size_t n = 1;
	int same = g->prev_word && g->prev_word_of == g->prev_holder;

	if (o->ts_datastack_top < 0)
		return n;
	if (o->ts_datastack_chunk >= 0)
		iov[n++] = (struct remote_iov){g->prev_holder + (uint64_t)o->ts_datastack_chunk,
					       &b->chunk, 8, 0};
	b->at_top = (int)n;
	iov[n++] =
	    (struct remote_iov){g->prev_holder + (uint64_t)o->ts_datastack_top, &b->top, 8, 0};
	if (o->ts_current_frame < 0 && o->cf_current_frame >= 0 && same) {
		b->at_cur = (int)n;
		iov[n++] = (struct remote_iov){g->prev_word + (uint64_t)o->cf_current_frame,
					       &b->cur, 8, 0};
	}
	if (stacks && same && o->ts_datastack_chunk >= 0)
		n += copy_pieces(g, b, iov + n, iov, n);
	return n;
}

size_t gil_prepare(struct gil_reader *g, struct gil_batch *b, struct remote_iov *iov, int switches,
		   int stacks)
{
	size_t n = 0;

	b->switches = switches;
	b->word_of = 0;
	for (size_t i = 0; i < g->ngils; i++) {
		b->locked[i] = 1;
		b->sw[i] = 0;
		if (g->gils[i].locked)
			iov[n++] = (struct remote_iov){g->gils[i].locked, &b->locked[i], 4, 0};
		iov[n++] = (struct remote_iov){g->gils[i].holder, &b->holder[i], 8, 0};
		if (switches && g->gils[i].sw)
			iov[n++] = (struct remote_iov){g->gils[i].sw, &b->sw[i], 8, 0};
	}
	/* last, apart from the rest: the state read may have been freed since */
	int32_t off = py_frame_word_off(&g->t->off);
	b->at_top = b->at_cur = b->at_copy = b->at_again = 0;
	b->npos = 0;
	if (g->ngils == 1 && g->prev_holder && off >= 0) {
		b->word_of = g->prev_holder;
		iov[n] = (struct remote_iov){g->prev_holder + (uint64_t)off, &b->word, 8, 0};
		b->npos = position_pieces(g, b, iov + n, stacks);
		n += b->npos;
	}
	return n;
}

/* Did the word read (b->word, of the state b->word_of) say it runs C only: NULL, or inside
 * the state (PY_TSTATE_FRAME_SPAN)? */
static uint64_t word_in_c(const struct gil_batch *b, int ok)
{
	if (!b->word_of || !ok)
		return 0;
	return !b->word || py_inside_tstate(b->word, b->word_of) ? b->word_of : 0;
}

/* The stack copy, when its pieces were read and the thread did not move during it: the
 * same word, top and frame after it as before, the chunk the one copied, its top inside. */
static void parse_copy(struct gil_reader *g, const struct gil_batch *b,
		       const struct remote_iov *piece, uint64_t cur)
{
	const struct remote_iov *copy = &piece[b->at_copy], *again = &piece[b->at_again];

	if (!b->at_copy || !copy->ok || !again[0].ok || !again[1].ok ||
	    (b->at_cur && !again[2].ok) || !piece[1].ok || b->chunk != copy->addr ||
	    b->again[0] != b->word || b->again[1] != b->top ||
	    (b->at_cur && b->again[2] != b->cur) || b->top > copy->addr + copy->len)
		return;
	g->taken = (struct stackcopy_taken){b->chunk, b->top, cur, b->word, g->copy, copy->len};
	g->taken_of = b->word_of;
}

/* The frame word (in_c) and, 3.11+, where the state was: the data stack's top and the
 * current frame (3.13+ the frame word itself).  A thread running C only is in none of its
 * frames: unknown. */
static void parse_position(struct gil_reader *g, const struct gil_batch *b,
			   const struct remote_iov *piece)
{
	int word_ok = piece[0].ok;

	g->in_c = word_in_c(b, word_ok);
	g->pos_of = b->word_of;
	g->pos = g->pos_frame = 0;
	g->prev_chunk = g->prev_top = 0;
	if (word_ok && !g->in_c && b->at_top && piece[b->at_top].ok) {
		uint64_t cur = g->t->off.ts_current_frame >= 0 ? b->word
			       : b->at_cur && piece[b->at_cur].ok && b->word == g->prev_word
				   ? b->cur
				   : 0;
		if (cur && cur < b->top) {
			g->pos = b->top;
			g->pos_frame = cur;
			parse_copy(g, b, piece, cur);
		}
		if (b->at_top > 1 && piece[1].ok && b->chunk < b->top) {
			g->prev_chunk = b->chunk;
			g->prev_top = b->top;
		}
	}
	g->prev_word = word_ok ? b->word : 0;
	g->prev_word_of = b->word_of;
}

size_t gil_parse(struct gil_reader *g, const struct gil_batch *b, const struct remote_iov *iov,
		 size_t n, uint64_t *out, size_t max, uint64_t *switches)
{
	uint64_t sum = 0;
	size_t found = 0;
	int all_sw = g->ngils > 0;

	/* the frame word and the position's pieces, last: not the GIL's */
	size_t nw = b->word_of ? b->npos : 0;
	g->taken_of = 0;
	if (n > nw && nw)
		parse_position(g, b, iov + n - nw);
	else
		g->in_c = g->pos = g->pos_frame = g->pos_of = g->prev_word = g->prev_chunk =
		    g->prev_top = 0;
	n -= n >= nw ? nw : n;
	g->read_ok = n > 0;
	for (size_t i = 0; i < n; i++)
		g->read_ok = g->read_ok && iov[i].ok;
	/* 2.7 clears its holder word on release: the last one seen stays */
	if (!g->read_ok || g->ngils != 1)
		g->prev_holder = 0;
	else if (b->holder[0])
		g->prev_holder = b->holder[0];
	if (switches)
		*switches = GIL_SWITCHES_UNKNOWN;
	g->last = 0;
	if (!g->read_ok)
		return 0;
	for (size_t i = 0; i < g->ngils; i++) {
		sum += b->sw[i];
		all_sw = all_sw && g->gils[i].sw;
	}
	if (switches && b->switches && all_sw) {
		*switches = sum == GIL_SWITCHES_UNKNOWN ? 0 : sum;
		if (g->ngils == 1 && g->gils[0].locked)
			g->last = b->holder[0];
	}
	for (size_t i = 0; i < g->ngils && found < max; i++)
		if (b->locked[i] == 1 && b->holder[i])
			out[found++] = b->holder[i];
	return found;
}

size_t gil_holders(struct gil_reader *g, uint64_t *out, size_t max, uint64_t *switches)
{
	struct remote_iov iov[GIL_IOV_MAX];
	struct gil_batch b;
	size_t n = gil_prepare(g, &b, iov, switches != NULL, 0);

	if (n)
		remote_readv(g->r, iov, n);
	return gil_parse(g, &b, iov, n, out, max, switches);
}

int gil_holders_read(const struct gil_reader *g)
{
	return g->read_ok;
}

uint64_t gil_in_c(const struct gil_reader *g)
{
	return g->in_c;
}

uint64_t gil_position(const struct gil_reader *g, uint64_t *tstate, uint64_t *frame)
{
	*frame = g->pos ? g->pos_frame : 0;
	*tstate = g->pos ? g->pos_of : 0;
	return g->pos;
}

int gil_stack(const struct gil_reader *g, uint64_t tstate, struct stackcopy_taken *out)
{
	if (!tstate || tstate != g->taken_of)
		return -1;
	*out = g->taken;
	return 0;
}

uint64_t gil_last_holder(const struct gil_reader *g)
{
	return g->last;
}
