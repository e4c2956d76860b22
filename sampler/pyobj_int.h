/* pyobj_int.h: what sampler/pyobj's two files share (pyobj.c: objects, str, bytes, int;
 * pyobj_dict.c: dicts, attributes, modules). */
#ifndef TG_PYOBJ_INT_H
#define TG_PYOBJ_INT_H

#include <stdint.h>

#include "sampler/pyobj.h"

static inline int ok(int32_t off)
{
	return off != OFFSET_ABSENT;
}

static inline int read_ptr(struct pyobj *p, uint64_t addr, uint64_t *out)
{
	*out = 0;
	return addr ? remote_read_u64(p->r, addr, out) : -1;
}

static inline uint64_t ptr_at(struct pyobj *p, uint64_t addr)
{
	uint64_t v;
	return read_ptr(p, addr, &v) == 0 ? v : 0;
}

static inline int py2(const struct pyobj *p)
{
	return p->t->major == 2;
}

#endif
