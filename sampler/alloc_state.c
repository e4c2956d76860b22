/* alloc_state.c: the allocator states of a target (one, or 3.12+ one per interpreter with
 * its own) and their counters, read in one batch and checked (sampler/alloc_int.h). */
#include "sampler/alloc_int.h"

#include <string.h>

static uint64_t read_ptr(struct alloc_reader *a, uint64_t addr)
{
	uint64_t v = 0;

	if (addr && remote_read_u64(a->r, addr, &v) < 0)
		return 0;
	return v;
}

/* Addresses of every distinct allocator state (3.12+: one per interpreter that has its
 * own); returns how many. */
size_t alloc_list_states(struct alloc_reader *a, struct state_addrs *out)
{
	const struct py_offsets *o = a->o;
	const struct py_syms *s = &a->t->sym;
	size_t n = 0;

	if (a->mode == MODE_STATICS) {
		out[0] = (struct state_addrs){s->om_arenas,	s->om_maxarenas,
					      s->om_narenas,	s->om_narenas_highwater,
					      s->om_raw_blocks, s->om_allocated_blocks};
		return 1;
	}
	uint64_t interp = read_ptr(a, s->runtime + (uint64_t)o->rt_interp_head);
	for (size_t k = 0; interp && k < MAX_STATES && n < MAX_STATES; k++) {
		uint64_t st = interp + (uint64_t)o->is_obmalloc;
		if (a->t->minor >= 13)
			st = read_ptr(a, st);
		size_t i = 0;
		while (i < n && out[i].arenas - (uint64_t)o->om_arenas != st)
			i++;
		if (st && i == n)
			out[n++] = (struct state_addrs){
			    st + (uint64_t)o->om_arenas,     st + (uint64_t)o->om_maxarenas,
			    st + (uint64_t)o->om_narenas,    st + (uint64_t)o->om_narenas_highwater,
			    st + (uint64_t)o->om_raw_blocks, 0};
		uint64_t next = read_ptr(a, interp + (uint64_t)o->is_next);
		interp = next == interp ? 0 : next;
	}
	return n;
}

/* One batched read of a state's counters.  -1 when one that exists could not be read. */
int alloc_read_counters(struct alloc_reader *a, const struct state_addrs *sa, struct counters *c,
			struct remote_iov *also, size_t nalso)
{
	struct remote_iov iov[6 + COUNTERS_ALSO_MAX];
	unsigned bits[6];
	size_t n = 0;

	memset(c, 0, sizeof *c);
#define ADD(addr, dst, len, bit)                                                                   \
	if (addr) {                                                                                \
		iov[n] = (struct remote_iov){(addr), (dst), (len), 0};                             \
		bits[n++] = (bit);                                                                 \
	}
	ADD(sa->arenas, &c->arenas, 8, C_ARENAS);
	ADD(sa->maxarenas, &c->maxarenas, 4, C_MAXARENAS);
	ADD(sa->narenas, &c->narenas, 8, C_NARENAS);
	ADD(sa->highwater, &c->highwater, 8, C_HIGHWATER);
	ADD(sa->raw, &c->raw, 8, C_RAW);
	ADD(sa->allocated, &c->allocated, 8, C_ALLOC);
#undef ADD
	for (size_t i = 0; i < nalso; i++)
		also[i].ok = 0;
	if (nalso > COUNTERS_ALSO_MAX)
		return -1;
	for (size_t i = 0; i < nalso; i++)
		iov[n + i] = also[i];
	remote_readv(a->r, iov, n + nalso);
	for (size_t i = 0; i < nalso; i++)
		also[i].ok = iov[n + i].ok;
	for (size_t i = 0; i < n; i++) {
		if (!iov[i].ok)
			return -1;
		c->have |= bits[i];
	}
	return 0;
}

/* Counters that cannot be true of any pymalloc state: a torn read or garbage. */
int alloc_counters_sane(const struct counters *c)
{
	int has_max = c->have & C_MAXARENAS;

	if (has_max && c->maxarenas > MAX_ARENAS)
		return 0;
	if ((c->have & C_ARENAS) && has_max && c->maxarenas > 0 &&
	    (c->arenas == 0 || c->arenas >= USER_TOP || (c->arenas & 7)))
		return 0;
	if ((c->have & C_NARENAS) && has_max && c->narenas > c->maxarenas)
		return 0;
	if ((c->have & C_HIGHWATER) && has_max && c->highwater > c->maxarenas)
		return 0;
	if ((c->have & C_HIGHWATER) && (c->have & C_NARENAS) && c->highwater < c->narenas)
		return 0;
	if ((c->have & C_RAW) && c->raw >= MAX_COUNT)
		return 0;
	if ((c->have & C_ALLOC) && c->allocated >= MAX_COUNT)
		return 0;
	return 1;
}

/* How many arena objects to read: those up to the high-water mark, and one more (an arena
 * taken between the counters and the array), not the whole array.  pymalloc takes a never
 * used object only when every used one is in use again (freed ones go to the front of its
 * list of unused objects), so none past narenas_highwater has ever been used. */
uint32_t alloc_arenas_span(const struct counters *c)
{
	if (!(c->have & C_HIGHWATER) || c->highwater >= c->maxarenas)
		return c->maxarenas;
	return (uint32_t)c->highwater + 1;
}

int alloc_counters_equal(const struct counters *x, const struct counters *y)
{
	return x->arenas == y->arenas && x->maxarenas == y->maxarenas && x->narenas == y->narenas &&
	       x->have == y->have;
}
