/* pyobj_dict.c: dicts (combined, split and 2.7 tables), the names looked up in them,
 * instance attributes and modules; part of sampler/pyobj. */
#include "sampler/pyobj.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/pyobj_int.h"

#define DICT_MAX_ENTRIES (1u << 20)
#define TPFLAGS_MANAGED_DICT (1ul << 4)
#define TPFLAGS_INLINE_VALUES (1ul << 2)

/* The entries of a dict, as (key, value) pairs, read in one go. */
struct dict_view {
	unsigned char *entries;
	size_t n; /* slots in entries[] */
	size_t entry_size;
	size_t key_at;	 /* offset of the key pointer inside an entry */
	uint64_t values; /* split table / inline values array address, or 0 */
	int by_hash;	 /* only the entries whose stored hash is `hash` */
	int64_t hash;
};

static int dict27_view(struct pyobj *p, uint64_t dict, struct dict_view *v)
{
	int64_t mask;

	if (remote_read(p->r, dict + (uint64_t)p->o->d27_mask, &mask, 8) < 0 || mask < 0 ||
	    (uint64_t)mask >= DICT_MAX_ENTRIES)
		return -1;
	v->n = (size_t)mask + 1;
	v->entry_size = (size_t)p->o->d27_entry_size;
	v->key_at = 8;
	uint64_t table = ptr_at(p, dict + (uint64_t)p->o->d27_table);
	if (!table || v->entry_size < 24)
		return -1;
	v->entries = xmalloc(v->n * v->entry_size);
	return remote_read(p->r, table, v->entries, v->n * v->entry_size);
}

static size_t index_width(int64_t size)
{
	return size <= 0xff ? 1 : size <= 0xffff ? 2 : size <= 0xffffffffll ? 4 : 8;
}

/* Entries of a PyDictKeysObject (3.6+). */
static int keys_view(struct pyobj *p, uint64_t keys, struct dict_view *v)
{
	const struct py_offsets *o = p->o;
	uint64_t entries_at, f[2]; /* dk_nentries; dk_log2_size's three bytes, or dk_size */
	int32_t at[2] = {o->dk_nentries, ok(o->dk_log2_size) ? o->dk_log2_size : o->dk_size};

	if (pyobj_fields(p, keys, at, f, 2) < 0)
		return -1;
	int64_t nentries = (int64_t)f[0], size = (int64_t)f[1];
	if (nentries < 0 || (uint64_t)nentries > DICT_MAX_ENTRIES)
		return -1;
	v->entry_size = (size_t)o->dk_entry_size;
	v->key_at = 8;
	if (ok(o->dk_log2_size)) {
		uint8_t hdr[3];
		memcpy(hdr, &f[1], 3); /* log2 size, log2 index bytes, kind */
		if (hdr[1] > 40)
			return -1;
		entries_at = keys + (uint64_t)o->dk_indices + (1ull << hdr[1]);
		if (hdr[2] != 0) { /* unicode or split keys: (key, value) entries */
			v->entry_size = (size_t)o->dk_uentry_size;
			v->key_at = 0;
		}
	} else {
		if (size <= 0 || (uint64_t)size > DICT_MAX_ENTRIES)
			return -1;
		entries_at = keys + (uint64_t)o->dk_indices + (uint64_t)size * index_width(size);
	}
	v->n = (size_t)nentries;
	if (v->n == 0)
		return 0;
	v->entries = xmalloc(v->n * v->entry_size);
	return remote_read(p->r, entries_at, v->entries, v->n * v->entry_size);
}

static uint64_t values_array(struct pyobj *p, uint64_t values)
{
	return values && ok(p->o->dv_values) ? values + (uint64_t)p->o->dv_values : values;
}

static int dict_view(struct pyobj *p, uint64_t dict, struct dict_view *v)
{
	const struct py_offsets *o = p->o;
	int32_t at[3] = {o->ob_type, o->d_keys, o->d_values};
	uint64_t f[3]; /* type, keys, values: in one read */

	memset(v, 0, sizeof *v);
	if (!dict)
		return -1;
	if (py2(p)) {
		if (pyobj_type(p, dict) != p->t->sym.dict_type)
			return -1;
		return dict27_view(p, dict, v);
	}
	if (pyobj_fields(p, dict, at, f, 3) < 0 || f[0] != p->t->sym.dict_type || !f[1])
		return -1;
	v->values = f[2] ? values_array(p, f[2]) : 0;
	return keys_view(p, f[1], v);
}

/* Entry i's key pointer, and (a combined table's) value after it. */
static uint64_t entry_word(const struct dict_view *v, size_t i, size_t after_key)
{
	uint64_t w;

	memcpy(&w, v->entries + i * v->entry_size + v->key_at + after_key, 8);
	return w;
}

static int view_each(struct pyobj *p, struct dict_view *v, size_t max, pyobj_item_fn fn, void *ctx)
{
	size_t seen = 0;
	uint64_t *values = NULL;

	if (v->values && v->n) {
		values = xmalloc(v->n * 8);
		if (remote_read(p->r, v->values, values, v->n * 8) < 0) {
			free(values);
			return -1;
		}
	}
	for (size_t i = 0; i < v->n && seen < max; i++) {
		uint64_t key = entry_word(v, i, 0),
			 value = values ? values[i] : entry_word(v, i, 8);
		if (!key || !value)
			continue;
		if (v->by_hash && v->key_at == 8 && /* (hash, key, value) entries */
		    memcmp(v->entries + i * v->entry_size, &v->hash, 8) != 0)
			continue;
		seen++;
		if (fn(ctx, key, value))
			break;
	}
	free(values);
	return 0;
}

static int dict_items(struct pyobj *p, uint64_t dict, int by_hash, int64_t hash, size_t max,
		      pyobj_item_fn fn, void *ctx)
{
	struct dict_view v;
	int rc = -1;

	if (dict_view(p, dict, &v) == 0) {
		v.by_hash = by_hash;
		v.hash = hash;
		rc = view_each(p, &v, max, fn, ctx);
	}
	free(v.entries);
	return rc;
}

int pyobj_dict_items(struct pyobj *p, uint64_t dict, size_t max, pyobj_item_fn fn, void *ctx)
{
	return dict_items(p, dict, 0, 0, max, fn, ctx);
}

int pyobj_dict_items_hashed(struct pyobj *p, uint64_t dict, int64_t hash, size_t max,
			    pyobj_item_fn fn, void *ctx)
{
	return dict_items(p, dict, 1, hash, max, fn, ctx);
}

struct find_ctx {
	struct pyobj *p;
	const char *key;
	uint64_t found, found_key;
};

static int find_item(void *ctx, uint64_t key, uint64_t value)
{
	struct find_ctx *f = ctx;

	if (pyobj_str_equals(f->p, key, f->key)) {
		f->found = value;
		f->found_key = key;
		return 1;
	}
	return 0;
}

static struct pyobj_memo *memo_of(struct pyobj *p, const char *name)
{
	for (size_t i = 0; i < PYOBJ_MEMO; i++)
		if (strcmp(p->memo[i].name, name) == 0)
			return &p->memo[i];
	return NULL;
}

static void memo_put(struct pyobj *p, const char *name, uint64_t str)
{
	struct pyobj_memo *m = memo_of(p, name);

	if (strlen(name) >= PYOBJ_MEMO_NAME)
		return;
	if (!m) {
		m = &p->memo[p->memo_next++ % PYOBJ_MEMO];
		strcpy(m->name, name);
	}
	m->str = str;
}

/* The value under the key that is the remote str `str`, if v has it and it still equals
 * name; 0 otherwise. */
static uint64_t view_hinted(struct pyobj *p, const struct dict_view *v, uint64_t str,
			    const char *name)
{
	uint64_t value = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (entry_word(v, i, 0) != str)
			continue;
		if (!pyobj_str_equals(p, str, name))
			return 0;
		if (!v->values)
			return entry_word(v, i, 8);
		return remote_read_u64(p->r, v->values + 8 * i, &value) < 0 ? 0 : value;
	}
	return 0;
}

/* v[name]: the key that matched last time first, then every key. */
static uint64_t view_get(struct pyobj *p, struct dict_view *v, const char *name)
{
	struct pyobj_memo *m = memo_of(p, name);
	struct find_ctx f = {p, name, 0, 0};
	uint64_t value = m && m->str ? view_hinted(p, v, m->str, name) : 0;

	if (value)
		return value;
	view_each(p, v, DICT_MAX_ENTRIES, find_item, &f);
	if (f.found)
		memo_put(p, name, f.found_key);
	return f.found;
}

uint64_t pyobj_dict_get(struct pyobj *p, uint64_t dict, const char *key)
{
	struct dict_view v;
	uint64_t found = 0;

	if (dict_view(p, dict, &v) == 0)
		found = view_get(p, &v, key);
	free(v.entries);
	return found;
}

/* Instance attributes kept outside a dict object (3.11+ managed dicts): the type's shared
 * keys, with the object's values at the same index. */
static int split_view(struct pyobj *p, uint64_t type, uint64_t values, struct dict_view *v)
{
	memset(v, 0, sizeof *v);
	if (!ok(p->o->ht_cached_keys) || !values ||
	    keys_view(p, ptr_at(p, type + (uint64_t)p->o->ht_cached_keys), v) < 0)
		return -1;
	v->values = values;
	return 0;
}

/* A type's tp_flags, tp_dictoffset and tp_basicsize, in one read when they are close. */
static int type_fields(struct pyobj *p, uint64_t type, uint64_t *flags, int64_t *dictoffset,
		       int64_t *basicsize)
{
	const struct py_offsets *o = p->o;
	int32_t at[3] = {o->tp_flags, o->tp_dictoffset, o->tp_basicsize};
	uint64_t f[3];

	if (pyobj_fields(p, type, at, f, 3) < 0)
		return -1;
	*flags = f[0];
	*dictoffset = (int64_t)f[1];
	*basicsize = (int64_t)f[2];
	return 0;
}

/* 3.11+, a type with a managed dict: the object's dict when it has one, else its values
 * (3.11 and 3.12 through the word before it, 3.13+ inline after its fixed part). */
static int managed_view(struct pyobj *p, uint64_t obj, uint64_t type, uint64_t flags,
			int64_t basicsize, struct dict_view *v)
{
	const struct py_offsets *o = p->o;
	uint64_t pre = obj - (uint64_t)o->gc_head_size, words[2] = {0, 0};
	int minor = p->t->minor;

	if (remote_read(p->r, pre - 16, words, 16) < 0) /* values (3.11), then dict */
		return -1;
	uint64_t word = words[1];
	if (minor == 12 && (word & 1))
		return split_view(p, type, values_array(p, word + 1), v);
	if (word)
		return dict_view(p, word, v);
	if (minor == 11)
		return split_view(p, type, values_array(p, words[0]), v);
	if (minor == 12 || !(flags & TPFLAGS_INLINE_VALUES) || basicsize <= 0 || basicsize > 4096)
		return -1;
	uint64_t values = obj + (uint64_t)basicsize;
	uint8_t valid = 0;
	if (ok(o->dv_valid) &&
	    (remote_read_u8(p->r, values + (uint64_t)o->dv_valid, &valid) < 0 || !valid))
		return -1;
	return split_view(p, type, values_array(p, values), v);
}

/* The view obj's attributes are looked up in: its instance dict's, or its type's shared
 * keys with its values. */
static int attrs_view(struct pyobj *p, uint64_t obj, struct dict_view *v)
{
	uint64_t type = pyobj_type(p, obj), flags = 0;
	int64_t dictoffset = 0, basicsize = 0;

	memset(v, 0, sizeof *v);
	if (!type || type_fields(p, type, &flags, &dictoffset, &basicsize) < 0)
		return -1;
	if (p->t->major == 3 && p->t->minor >= 11 && (flags & TPFLAGS_MANAGED_DICT))
		return managed_view(p, obj, type, flags, basicsize, v);
	if (dictoffset <= 0 || dictoffset > 4096)
		return -1;
	return dict_view(p, ptr_at(p, obj + (uint64_t)dictoffset), v);
}

void pyobj_getattrs(struct pyobj *p, uint64_t obj, const char *const *names, uint64_t *out,
		    size_t n)
{
	struct dict_view v;
	int have = attrs_view(p, obj, &v) == 0;

	for (size_t i = 0; i < n; i++)
		out[i] = have ? view_get(p, &v, names[i]) : 0;
	free(v.entries);
}

uint64_t pyobj_getattr(struct pyobj *p, uint64_t obj, const char *name)
{
	uint64_t found;

	pyobj_getattrs(p, obj, &name, &found, 1);
	return found;
}

uint64_t pyobj_module(struct pyobj *p, uint64_t interp, const char *name)
{
	uint64_t modules = ptr_at(p, interp + (uint64_t)p->o->is_modules);
	return pyobj_dict_get(p, modules, name);
}

uint64_t pyobj_module_attr(struct pyobj *p, uint64_t module, const char *name)
{
	if (!module || pyobj_type(p, module) != p->t->sym.module_type)
		return 0;
	return pyobj_dict_get(p, ptr_at(p, module + (uint64_t)p->o->mod_dict), name);
}
