/* pyobj_int.h: what sampler/pyobj's two files share (pyobj.c: objects, str, bytes, int;
 * pyobj_dict.c: dicts, attributes, modules). */
#ifndef TG_PYOBJ_INT_H
#define TG_PYOBJ_INT_H

#include <stddef.h>
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

/* The 8-byte fields at base + off[i] (i < n) into dst[i]: one read when they lie within
 * FIELDS_SPAN_MAX bytes of one another, else (or when that read fails) one each.  -1 when
 * any cannot be read, or an offset is absent. */
#define FIELDS_SPAN_MAX 512
int pyobj_fields(struct pyobj *p, uint64_t base, const int32_t *off, uint64_t *dst, size_t n);

static inline int py2(const struct pyobj *p)
{
	return p->t->major == 2;
}

#endif
