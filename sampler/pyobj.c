#include "sampler/pyobj.h"

#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/xalloc.h"

#define DICT_MAX_ENTRIES (1u << 20)
#define TPFLAGS_MANAGED_DICT (1ul << 4)
#define TPFLAGS_INLINE_VALUES (1ul << 2)
#define STR_MAX_CHARS (1u << 16)

void pyobj_init(struct pyobj *p, struct remote *r, const struct py_target *t)
{
	memset(p, 0, sizeof *p);
	p->r = r;
	p->t = t;
	p->o = &t->off;
}

static int ok(int32_t off)
{
	return off != OFFSET_ABSENT;
}

static int read_ptr(struct pyobj *p, uint64_t addr, uint64_t *out)
{
	*out = 0;
	return addr ? remote_read_u64(p->r, addr, out) : -1;
}

static uint64_t ptr_at(struct pyobj *p, uint64_t addr)
{
	uint64_t v;
	return read_ptr(p, addr, &v) == 0 ? v : 0;
}

uint64_t pyobj_type(struct pyobj *p, uint64_t obj)
{
	return obj ? ptr_at(p, obj + (uint64_t)p->o->ob_type) : 0;
}

static int py2(const struct pyobj *p)
{
	return p->t->major == 2;
}

static void add_utf8(struct buf *out, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp == 0) { /* a NUL inside a name: as TG_NUL, so C strings carry it (escape.h) */
		buf_addstr(out, TG_NUL);
		return;
	}
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_add(out, b, n);
}

/* Append `count` code points of width `kind` from raw to out as UTF-8, up to max bytes. */
static void add_code_points(struct buf *out, const unsigned char *raw, size_t count, int kind,
			    size_t max)
{
	size_t start = out->len;

	for (size_t i = 0; i < count && out->len - start < max; i++) {
		uint32_t cp;
		if (kind == 1) {
			cp = raw[i];
		} else if (kind == 2) {
			uint16_t v;
			memcpy(&v, raw + 2 * i, 2);
			cp = v;
		} else {
			memcpy(&cp, raw + 4 * i, 4);
		}
		add_utf8(out, cp);
	}
}

static int bits(uint32_t word, int32_t bit, int width)
{
	return bit < 0 ? -1 : (int)((word >> bit) & ((1u << width) - 1));
}

struct str_layout {
	uint64_t data;
	size_t length;
	int kind;
};

/* Where a PEP 393 string keeps its characters. */
static int str3_layout(struct pyobj *p, uint64_t obj, struct str_layout *sl)
{
	const struct py_offsets *o = p->o;
	unsigned char head[128];
	int64_t length;
	uint32_t state;

	if ((size_t)o->u_state + 4 > sizeof head ||
	    remote_read(p->r, obj, head, (size_t)o->u_state + 4) < 0)
		return -1;
	memcpy(&length, head + o->u_length, 8);
	memcpy(&state, head + o->u_state, 4);
	int kind = bits(state, o->u_kind_bit, 3);
	int compact = bits(state, o->u_compact_bit, 1);
	int ascii = bits(state, o->u_ascii_bit, 1);
	if (length < 0 || length > STR_MAX_CHARS || (kind != 1 && kind != 2 && kind != 4) ||
	    compact < 0 || ascii < 0)
		return -1;
	if (ok(o->u_ready_bit) && bits(state, o->u_ready_bit, 1) == 0)
		return -1; /* only a wchar_t copy exists (pre-3.12, practically never) */
	sl->length = (size_t)length;
	sl->kind = kind;
	if (compact)
		sl->data = obj + (uint64_t)(ascii ? o->u_ascii_size : o->u_compact_size);
	else
		sl->data = ptr_at(p, obj + (uint64_t)o->u_data_any);
	return sl->data ? 0 : -1;
}

static int str27_layout(struct pyobj *p, uint64_t obj, uint64_t type, struct str_layout *sl)
{
	int64_t size;

	if (type == p->t->sym.string_type) {
		if (remote_read(p->r, obj + (uint64_t)p->o->var_size, &size, 8) < 0 || size < 0 ||
		    size > STR_MAX_CHARS)
			return -1;
		sl->data = obj + (uint64_t)p->o->str27_sval;
		sl->length = (size_t)size;
		sl->kind = 1; /* bytes; emitted as latin-1 would mangle UTF-8: see pyobj_str */
		return 0;
	}
	if (remote_read(p->r, obj + (uint64_t)p->o->u27_length, &size, 8) < 0 || size < 0 ||
	    size > STR_MAX_CHARS)
		return -1;
	sl->data = ptr_at(p, obj + (uint64_t)p->o->u27_str);
	sl->length = (size_t)size;
	sl->kind = 4; /* Py_UNICODE is UCS-4 in the builds we support */
	return sl->data ? 0 : -1;
}

static int str_layout(struct pyobj *p, uint64_t obj, struct str_layout *sl, int *raw_bytes)
{
	uint64_t type = pyobj_type(p, obj);

	*raw_bytes = 0;
	if (!type)
		return -1;
	if (py2(p)) {
		if (type != p->t->sym.string_type && type != p->t->sym.unicode_type)
			return -1;
		*raw_bytes = type == p->t->sym.string_type;
		return str27_layout(p, obj, type, sl);
	}
	if (type != p->t->sym.unicode_type)
		return -1;
	return str3_layout(p, obj, sl);
}

int pyobj_str(struct pyobj *p, uint64_t obj, struct buf *out, size_t max)
{
	struct str_layout sl;
	int raw_bytes;
	unsigned char stackbuf[1024], *raw = stackbuf;

	if (!obj || str_layout(p, obj, &sl, &raw_bytes) < 0)
		return -1;
	size_t count = sl.length < max ? sl.length : max;
	size_t nbytes = count * (size_t)sl.kind;
	if (nbytes > sizeof stackbuf)
		raw = xmalloc(nbytes);
	int rc = nbytes == 0 ? 0 : remote_read(p->r, sl.data, raw, nbytes);
	if (rc == 0) {
		if (raw_bytes) /* 2.7 str: bytes as they are, a NUL as TG_NUL */
			for (size_t i = 0; i < count; i++)
				if (raw[i])
					buf_addch(out, (char)raw[i]);
				else
					buf_addstr(out, TG_NUL);
		else
			add_code_points(out, raw, count, sl.kind, max);
	}
	if (raw != stackbuf)
		free(raw);
	return rc;
}

int pyobj_str_equals(struct pyobj *p, uint64_t obj, const char *key)
{
	struct str_layout sl;
	int raw_bytes;
	size_t klen = strlen(key);
	char data[256];

	if (klen > sizeof data || str_layout(p, obj, &sl, &raw_bytes) < 0 || sl.length != klen)
		return 0;
	if (sl.kind != 1 || klen == 0)
		return klen == 0 && sl.length == 0;
	return remote_read(p->r, sl.data, data, klen) == 0 && memcmp(data, key, klen) == 0;
}

long pyobj_bytes(struct pyobj *p, uint64_t obj, unsigned char *dst, size_t cap)
{
	uint64_t type = pyobj_type(p, obj);
	int64_t size;
	int32_t sval = py2(p) ? p->o->str27_sval : p->o->bytes_sval;

	if (!type || type != (py2(p) ? p->t->sym.string_type : p->t->sym.bytes_type))
		return -1;
	if (remote_read(p->r, obj + (uint64_t)p->o->var_size, &size, 8) < 0 || size < 0 ||
	    (uint64_t)size > cap)
		return -1;
	if (size && remote_read(p->r, obj + (uint64_t)sval, dst, (size_t)size) < 0)
		return -1;
	return (long)size;
}

static int long_digits(struct pyobj *p, uint64_t obj, int64_t *ndigits, int *negative)
{
	const struct py_offsets *o = p->o;
	uint64_t tag;
	int64_t size;

	if (ok(o->long_tag)) {
		if (remote_read_u64(p->r, obj + (uint64_t)o->long_tag, &tag) < 0)
			return -1;
		*ndigits = (int64_t)(tag >> 3);
		*negative = (tag & 3) == 2;
		return 0;
	}
	if (remote_read(p->r, obj + (uint64_t)o->long_size, &size, 8) < 0)
		return -1;
	*negative = size < 0;
	*ndigits = size < 0 ? -size : size;
	return 0;
}

int pyobj_int(struct pyobj *p, uint64_t obj, int64_t *out)
{
	uint64_t type = pyobj_type(p, obj);
	uint32_t digits[3];
	int64_t ndigits;
	int negative;

	if (!type)
		return -1;
	if (py2(p) && type == p->t->sym.int_type)
		return remote_read(p->r, obj + (uint64_t)p->o->int27_ival, out, 8);
	if (type != p->t->sym.long_type || long_digits(p, obj, &ndigits, &negative) < 0 ||
	    ndigits > 3)
		return -1;
	if (ndigits &&
	    remote_read(p->r, obj + (uint64_t)p->o->long_digit, digits, (size_t)ndigits * 4) < 0)
		return -1;
	uint64_t v = 0;
	for (int64_t i = ndigits - 1; i >= 0; i--)
		v = (v << 30) | (digits[i] & 0x3fffffffu);
	*out = negative ? -(int64_t)v : (int64_t)v;
	return 0;
}

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
	int64_t nentries;
	uint64_t entries_at;

	if (!keys || remote_read(p->r, keys + (uint64_t)o->dk_nentries, &nentries, 8) < 0 ||
	    nentries < 0 || (uint64_t)nentries > DICT_MAX_ENTRIES)
		return -1;
	v->entry_size = (size_t)o->dk_entry_size;
	v->key_at = 8;
	if (ok(o->dk_log2_size)) {
		uint8_t hdr[3];
		if (remote_read(p->r, keys + (uint64_t)o->dk_log2_size, hdr, 3) < 0 || hdr[1] > 40)
			return -1;
		entries_at = keys + (uint64_t)o->dk_indices + (1ull << hdr[1]);
		if (hdr[2] != 0) { /* unicode or split keys: (key, value) entries */
			v->entry_size = (size_t)o->dk_uentry_size;
			v->key_at = 0;
		}
	} else {
		int64_t size;
		if (remote_read(p->r, keys + (uint64_t)o->dk_size, &size, 8) < 0 || size <= 0 ||
		    (uint64_t)size > DICT_MAX_ENTRIES)
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
	memset(v, 0, sizeof *v);
	if (!dict || pyobj_type(p, dict) != p->t->sym.dict_type)
		return -1;
	if (py2(p))
		return dict27_view(p, dict, v);
	uint64_t values = ptr_at(p, dict + (uint64_t)p->o->d_values);
	v->values = values ? values_array(p, values) : 0;
	return keys_view(p, ptr_at(p, dict + (uint64_t)p->o->d_keys), v);
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
		uint64_t key, value;
		memcpy(&key, v->entries + i * v->entry_size + v->key_at, 8);
		if (values)
			value = values[i];
		else
			memcpy(&value, v->entries + i * v->entry_size + v->key_at + 8, 8);
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

int pyobj_dict_items(struct pyobj *p, uint64_t dict, size_t max, pyobj_item_fn fn, void *ctx)
{
	struct dict_view v;
	int rc = -1;

	if (dict_view(p, dict, &v) == 0)
		rc = view_each(p, &v, max, fn, ctx);
	free(v.entries);
	return rc;
}

int pyobj_dict_items_hashed(struct pyobj *p, uint64_t dict, int64_t hash, size_t max,
			    pyobj_item_fn fn, void *ctx)
{
	struct dict_view v;
	int rc = -1;

	if (dict_view(p, dict, &v) == 0) {
		v.by_hash = 1;
		v.hash = hash;
		rc = view_each(p, &v, max, fn, ctx);
	}
	free(v.entries);
	return rc;
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
	uint64_t key, value = 0;

	for (size_t i = 0; i < v->n; i++) {
		memcpy(&key, v->entries + i * v->entry_size + v->key_at, 8);
		if (key != str)
			continue;
		if (!pyobj_str_equals(p, key, name))
			return 0;
		if (!v->values)
			memcpy(&value, v->entries + i * v->entry_size + v->key_at + 8, 8);
		else if (remote_read_u64(p->r, v->values + 8 * i, &value) < 0)
			return 0;
		return value;
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

/* Instance attributes kept outside a dict object (3.11+ managed dicts): look the name up
 * in the type's shared keys, take the value at the same index. */
static uint64_t split_values_get(struct pyobj *p, uint64_t type, uint64_t values, const char *name)
{
	struct dict_view v;
	uint64_t found = 0;

	memset(&v, 0, sizeof v);
	if (!ok(p->o->ht_cached_keys))
		return 0;
	if (keys_view(p, ptr_at(p, type + (uint64_t)p->o->ht_cached_keys), &v) == 0) {
		v.values = values;
		found = view_get(p, &v, name);
	}
	free(v.entries);
	return found;
}

/* A type's tp_flags, tp_dictoffset and tp_basicsize, in one read when they are close. */
static int type_fields(struct pyobj *p, uint64_t type, uint64_t *flags, int64_t *dictoffset,
		       int64_t *basicsize)
{
	const struct py_offsets *o = p->o;
	int32_t at[3] = {o->tp_flags, o->tp_dictoffset, o->tp_basicsize}, lo = at[0], hi = at[0];
	unsigned char span[512];
	void *dst[3] = {flags, dictoffset, basicsize};

	for (int i = 1; i < 3; i++) {
		lo = at[i] < lo ? at[i] : lo;
		hi = at[i] > hi ? at[i] : hi;
	}
	if (lo < 0 || hi + 8 - lo > (int32_t)sizeof span) {
		for (int i = 0; i < 3; i++)
			if (remote_read(p->r, type + (uint64_t)at[i], dst[i], 8) < 0)
				return -1;
		return 0;
	}
	if (remote_read(p->r, type + (uint64_t)lo, span, (size_t)(hi + 8 - lo)) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		memcpy(dst[i], span + (at[i] - lo), 8);
	return 0;
}

uint64_t pyobj_getattr(struct pyobj *p, uint64_t obj, const char *name)
{
	const struct py_offsets *o = p->o;
	uint64_t type = pyobj_type(p, obj), flags = 0;
	int64_t dictoffset = 0, basicsize = 0;

	if (!type || type_fields(p, type, &flags, &dictoffset, &basicsize) < 0)
		return 0;
	int minor = p->t->major == 3 ? p->t->minor : 0;
	if (minor >= 11 && (flags & TPFLAGS_MANAGED_DICT)) {
		uint64_t pre = obj - (uint64_t)o->gc_head_size;
		uint64_t word = ptr_at(p, pre - 8);
		if (minor == 11) {
			if (word)
				return pyobj_dict_get(p, word, name);
			return split_values_get(p, type, values_array(p, ptr_at(p, pre - 16)),
						name);
		}
		if (minor == 12) {
			if (word & 1)
				return split_values_get(p, type, values_array(p, word + 1), name);
			return word ? pyobj_dict_get(p, word, name) : 0;
		}
		if (word)
			return pyobj_dict_get(p, word, name);
		if (!(flags & TPFLAGS_INLINE_VALUES) || basicsize <= 0 || basicsize > 4096)
			return 0;
		uint64_t values = obj + (uint64_t)basicsize;
		uint8_t valid = 0;
		if (ok(o->dv_valid) &&
		    (remote_read_u8(p->r, values + (uint64_t)o->dv_valid, &valid) < 0 || !valid))
			return 0;
		return split_values_get(p, type, values_array(p, values), name);
	}
	if (dictoffset <= 0 || dictoffset > 4096)
		return 0;
	return pyobj_dict_get(p, ptr_at(p, obj + (uint64_t)dictoffset), name);
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
