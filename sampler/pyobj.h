/* pyobj.h: reading Python objects out of the target: str, bytes, int, dict, module and
 * instance attributes, for every supported layout.  Every read is validated (type
 * pointer, sane lengths); garbage from a torn read yields -1 or 0, never a crash or an
 * unbounded loop. */
#ifndef TG_PYOBJ_H
#define TG_PYOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "attach/remote.h"
#include "common/buf.h"
#include "symbols/pytarget.h"

#define PYOBJ_MEMO 8
#define PYOBJ_MEMO_NAME 32

/* A name looked up before, and the remote str that matched it: attribute and key names
 * are interned, so the same str is the key next time, and one comparison confirms it
 * where a search compares every key before it. */
struct pyobj_memo {
	char name[PYOBJ_MEMO_NAME];
	uint64_t str;
};

struct pyobj {
	struct remote *r;
	const struct py_target *t;
	const struct py_offsets *o;
	struct pyobj_memo memo[PYOBJ_MEMO];
	unsigned memo_next;
};

void pyobj_init(struct pyobj *p, struct remote *r, const struct py_target *t);

/* Address of the object's type, or 0. */
uint64_t pyobj_type(struct pyobj *p, uint64_t obj);

/* Text of a str (3.x unicode, 2.7 str or unicode) as UTF-8, at most max bytes, appended
 * to out.  -1 if obj is not a string or cannot be read. */
int pyobj_str(struct pyobj *p, uint64_t obj, struct buf *out, size_t max);
/* Does the str at obj equal key (ASCII)?  Cheaper than pyobj_str. */
int pyobj_str_equals(struct pyobj *p, uint64_t obj, const char *key);
/* Contents of a bytes object (2.7: str) into dst (at most cap bytes); returns the length
 * or -1. */
long pyobj_bytes(struct pyobj *p, uint64_t obj, unsigned char *dst, size_t cap);
/* Value of an int (2.7: int or long) that fits 64 bits. */
int pyobj_int(struct pyobj *p, uint64_t obj, int64_t *out);

/* Called for each live item of a dict; return nonzero to stop. */
typedef int (*pyobj_item_fn)(void *ctx, uint64_t key, uint64_t value);
/* Iterate a dict's items (at most max).  -1 if obj is not a readable dict. */
int pyobj_dict_items(struct pyobj *p, uint64_t dict, size_t max, pyobj_item_fn fn, void *ctx);
/* The same for the items whose stored hash is hash (a table that keeps no hashes, of str
 * keys only: every item).  A non-negative int below 2^61 - 1 is its own hash, in every
 * version: the caller still checks the key. */
int pyobj_dict_items_hashed(struct pyobj *p, uint64_t dict, int64_t hash, size_t max,
			    pyobj_item_fn fn, void *ctx);
/* Value for a str key, or 0. */
uint64_t pyobj_dict_get(struct pyobj *p, uint64_t dict, const char *key);
/* A plain instance's attribute from its __dict__ (managed dicts and inline values
 * included), or 0. */
uint64_t pyobj_getattr(struct pyobj *p, uint64_t obj, const char *name);
/* out[i] = the attribute names[i] (i < n), the object's dict or values read once for all. */
void pyobj_getattrs(struct pyobj *p, uint64_t obj, const char *const *names, uint64_t *out,
		    size_t n);
/* sys.modules[name] of interpreter interp, or 0. */
uint64_t pyobj_module(struct pyobj *p, uint64_t interp, const char *name);
/* module.__dict__[name], or 0. */
uint64_t pyobj_module_attr(struct pyobj *p, uint64_t module, const char *name);

#endif
