#include "sampler/pyobj.h"

#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/xalloc.h"
#include "sampler/pyobj_int.h"

#define STR_MAX_CHARS (1u << 16)

void pyobj_init(struct pyobj *p, struct remote *r, const struct py_target *t)
{
	memset(p, 0, sizeof *p);
	p->r = r;
	p->t = t;
	p->o = &t->off;
}

uint64_t pyobj_type(struct pyobj *p, uint64_t obj)
{
	return obj ? ptr_at(p, obj + (uint64_t)p->o->ob_type) : 0;
}

int pyobj_fields(struct pyobj *p, uint64_t base, const int32_t *off, uint64_t *dst, size_t n)
{
	unsigned char span[FIELDS_SPAN_MAX];
	int32_t lo = off[0], hi = off[0];

	for (size_t i = 1; i < n; i++) {
		lo = off[i] < lo ? off[i] : lo;
		hi = off[i] > hi ? off[i] : hi;
	}
	if (!base || lo < 0)
		return -1;
	if (hi + 8 - lo <= FIELDS_SPAN_MAX &&
	    remote_read(p->r, base + (uint64_t)lo, span, (size_t)(hi + 8 - lo)) == 0) {
		for (size_t i = 0; i < n; i++)
			memcpy(&dst[i], span + (off[i] - lo), 8);
		return 0;
	}
	for (size_t i = 0; i < n; i++) /* far apart, or the span crosses into unmapped memory */
		if (remote_read(p->r, base + (uint64_t)off[i], &dst[i], 8) < 0)
			return -1;
	return 0;
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

/* Characters a str's first read brings along when they follow its header (a compact
 * ASCII str of up to this many, as attribute and thread names are). */
#define STR_INLINE 64

struct str_layout {
	uint64_t data;
	size_t length;
	int kind;
	/* the characters, when the header's read brought them all (head + offset), else NULL */
	const unsigned char *inline_data;
	unsigned char head[128 + STR_INLINE];
};

/* A 3.x str's header into sl->head, its type checked, in one read that takes the
 * characters of a short compact ASCII str along; without them when that read fails (a str
 * at the very end of a mapping).  *got: the bytes read. */
static int str3_head(struct pyobj *p, uint64_t obj, struct str_layout *sl, size_t *got)
{
	const struct py_offsets *o = p->o;
	size_t need = (size_t)o->u_state + 4, more = (size_t)o->u_ascii_size + STR_INLINE;
	uint64_t type;

	if (need > 128 || (size_t)o->ob_type + 8 > need || (size_t)o->u_ascii_size > 128)
		return -1;
	if (more < need || remote_read(p->r, obj, sl->head, more) < 0) {
		more = need;
		if (remote_read(p->r, obj, sl->head, need) < 0)
			return -1;
	}
	memcpy(&type, sl->head + o->ob_type, 8);
	if (type != p->t->sym.unicode_type)
		return -1;
	*got = more;
	return 0;
}

/* Where a PEP 393 string keeps its characters. */
static int str3_layout(struct pyobj *p, uint64_t obj, struct str_layout *sl)
{
	const struct py_offsets *o = p->o;
	unsigned char *head = sl->head;
	int64_t length;
	uint32_t state;
	size_t got;

	if (str3_head(p, obj, sl, &got) < 0)
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
	if (compact && ascii && (size_t)o->u_ascii_size + (size_t)length <= got)
		sl->inline_data = head + o->u_ascii_size;
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
	*raw_bytes = 0;
	sl->inline_data = NULL;
	if (!obj)
		return -1;
	if (!py2(p))
		return str3_layout(p, obj, sl); /* its header read checks the type */
	uint64_t type = pyobj_type(p, obj);
	if (type != p->t->sym.string_type && type != p->t->sym.unicode_type)
		return -1;
	*raw_bytes = type == p->t->sym.string_type;
	return str27_layout(p, obj, type, sl);
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
	int rc = 0;
	if (sl.inline_data)
		memcpy(raw, sl.inline_data, nbytes); /* ASCII: nbytes <= STR_INLINE */
	else if (nbytes)
		rc = remote_read(p->r, sl.data, raw, nbytes);
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
	if (sl.inline_data)
		return memcmp(sl.inline_data, key, klen) == 0;
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

/* Where an int keeps its size word: its tag (3.12+), else its ob_size. */
static int32_t size_offset(const struct py_offsets *o)
{
	return ok(o->long_tag) ? o->long_tag : o->long_size;
}

/* An int's digit count and sign from its size word: 3.12+ its tag (ndigits << 3, sign in the
 * low bits), before its signed ob_size.  A count beyond what fits 64 bits stands as 4. */
static void size_word(const struct py_offsets *o, uint64_t word, int64_t *ndigits, int *negative)
{
	int64_t size = (int64_t)word;

	if (ok(o->long_tag)) {
		*ndigits = (int64_t)(word >> 3);
		*negative = (word & 3) == 2;
		return;
	}
	*negative = size < 0;
	*ndigits = size >= 0 ? size : size > -4 ? -size : 4;
}

/* The value of ndigits (at most 3) 30-bit digits at raw, least significant first. */
static int64_t digits_value(const unsigned char *raw, int64_t ndigits, int negative)
{
	uint64_t v = 0;

	for (int64_t i = ndigits - 1; i >= 0; i--) {
		uint32_t d;
		memcpy(&d, raw + 4 * i, 4);
		v = (v << 30) | (d & 0x3fffffffu);
	}
	return negative ? -(int64_t)v : (int64_t)v;
}

/* A 3.x int of up to three digits (every int that fits 64 bits but the largest), read in
 * one go: its type, size or tag and digits lie within 40 bytes.  1: not read that way
 * (another type, more digits, or the read failed: an int at the end of a mapping). */
static int int_at_once(struct pyobj *p, uint64_t obj, int64_t *out)
{
	const struct py_offsets *o = p->o;
	int32_t size_at = size_offset(o);
	unsigned char b[48];
	uint64_t type, word;
	int64_t ndigits;
	int negative;

	if (py2(p) || o->ob_type < 0 || size_at < o->ob_type || o->long_digit < size_at ||
	    (size_t)o->long_digit + 12 - (size_t)o->ob_type > sizeof b ||
	    remote_read(p->r, obj + (uint64_t)o->ob_type, b,
			(size_t)(o->long_digit + 12 - o->ob_type)) < 0)
		return 1;
	memcpy(&type, b, 8);
	memcpy(&word, b + (size_at - o->ob_type), 8);
	size_word(o, word, &ndigits, &negative);
	if (type != p->t->sym.long_type || ndigits > 3)
		return type == p->t->sym.long_type ? -1 : 1;
	*out = digits_value(b + (o->long_digit - o->ob_type), ndigits, negative);
	return 0;
}

int pyobj_int(struct pyobj *p, uint64_t obj, int64_t *out)
{
	const struct py_offsets *o = p->o;
	unsigned char digits[12];
	uint64_t word;
	int64_t ndigits;
	int negative;
	int once = obj ? int_at_once(p, obj, out) : -1;

	if (once <= 0)
		return once;
	uint64_t type = pyobj_type(p, obj);
	if (!type)
		return -1;
	if (py2(p) && type == p->t->sym.int_type)
		return remote_read(p->r, obj + (uint64_t)o->int27_ival, out, 8);
	int32_t size_at = size_offset(o);
	if (type != p->t->sym.long_type ||
	    remote_read_u64(p->r, obj + (uint64_t)size_at, &word) < 0)
		return -1;
	size_word(o, word, &ndigits, &negative);
	if (ndigits > 3 || (ndigits && remote_read(p->r, obj + (uint64_t)o->long_digit, digits,
						   (size_t)ndigits * 4) < 0))
		return -1;
	*out = digits_value(digits, ndigits, negative);
	return 0;
}
