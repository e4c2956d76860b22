/* linetable.c: decoders for the four CPython line-table formats (see linetable.h).
 *
 * Lines are accumulated in 64 bits and checked against 0..INT_MAX after every step, so
 * garbage deltas can neither overflow nor produce a negative line.  Instruction
 * addresses only grow by at most 255 per consumed byte and each loop stops at the first
 * range reaching past `offset`, so they stay far below LONG_MAX. */
#include "sampler/linetable.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define LT_NO_LINE_310 0x80 /* 3.10 line delta byte meaning "no line" (-128) */

/* Location table (3.11+) entry kinds, bits 3..6 of an entry's first byte. */
enum {
	LOC_ONE_LINE0 = 10, /* ONE_LINE0..2: line delta 0..2, then 2 column bytes */
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

static bool lt_line_ok(long long line)
{
	return line >= 0 && line <= INT_MAX;
}

enum lt_format lt_format_for(int major, int minor)
{
	if (major < 3 || (major == 3 && minor < 6))
		return LT_LNOTAB_UNSIGNED;
	if (major == 3 && minor < 10)
		return LT_LNOTAB_SIGNED;
	if (major == 3 && minor == 10)
		return LT_310;
	return LT_LOCATIONS;
}

/* co_lnotab: (address increment, line increment) byte pairs; a pair applies once the
 * instruction is at or past its address. */
static int lt_lnotab(const unsigned char *t, size_t len, int first, long offset, bool is_signed)
{
	long long line = first;
	long addr = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > offset)
			break;
		line += is_signed ? (signed char)t[i + 1] : t[i + 1];
		if (!lt_line_ok(line))
			return -1;
	}
	return lt_line_ok(line) ? (int)line : -1;
}

/* 3.10 co_linetable: (range length in bytes, signed line delta) pairs covering the code
 * contiguously; a delta of -128 marks a range without a line and leaves the line as is. */
static int lt_310(const unsigned char *t, size_t len, int first, long offset)
{
	long long line = first;
	long end = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		bool no_line = t[i + 1] == LT_NO_LINE_310;

		end += t[i];
		if (!no_line)
			line += (signed char)t[i + 1];
		if (!lt_line_ok(line))
			return -1;
		if (offset < end)
			return no_line ? -1 : (int)line;
	}
	return -1;
}

/* A cursor over the payload of location entries.  Payload bytes never have bit 7 set
 * (bit 7 marks an entry start), which lets a torn read be noticed. */
struct lt_cursor {
	const unsigned char *p, *end;
};

static bool lt_take(struct lt_cursor *c, unsigned *byte)
{
	if (c->p >= c->end || (*c->p & 0x80))
		return false;
	*byte = *c->p++;
	return true;
}

/* 6 bits per byte, low bits first, bit 6 = more.  Bits past 42 are dropped (no real
 * value comes close) so the result stays bounded on garbage. */
static bool lt_varint(struct lt_cursor *c, uint64_t *value)
{
	unsigned b;
	unsigned shift = 0;

	*value = 0;
	do {
		if (!lt_take(c, &b))
			return false;
		if (shift < 42)
			*value |= (uint64_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	return true;
}

/* Sign in bit 0, magnitude above it. */
static bool lt_svarint(struct lt_cursor *c, long long *value)
{
	uint64_t v;

	if (!lt_varint(c, &v))
		return false;
	*value = (v & 1) ? -(long long)(v >> 1) : (long long)(v >> 1);
	return true;
}

static bool lt_skip(struct lt_cursor *c, int nbytes)
{
	unsigned b;

	while (nbytes-- > 0)
		if (!lt_take(c, &b))
			return false;
	return true;
}

/* Reads the payload of one entry of the given kind: its line delta, or *has_line false. */
static bool lt_loc_payload(struct lt_cursor *c, int kind, long long *delta, bool *has_line)
{
	uint64_t ignored;

	*delta = 0;
	*has_line = kind != LOC_NONE;
	switch (kind) {
	case LOC_NONE:
		return true;
	case LOC_LONG: /* line delta, end line delta, column + 1, end column + 1 */
		return lt_svarint(c, delta) && lt_varint(c, &ignored) && lt_varint(c, &ignored) &&
		       lt_varint(c, &ignored);
	case LOC_NO_COLUMNS:
		return lt_svarint(c, delta);
	case LOC_ONE_LINE0:
	case LOC_ONE_LINE0 + 1:
	case LOC_ONE_LINE0 + 2:
		*delta = kind - LOC_ONE_LINE0;
		return lt_skip(c, 2);
	default: /* short forms 0..9: same line, one column byte */
		return lt_skip(c, 1);
	}
}

/* 3.11+ location table: entries each covering 1..8 code units; first byte is
 * 1 kind:4 (length-1):3. */
static int lt_locations(const unsigned char *t, size_t len, int first, long offset)
{
	struct lt_cursor c = {t, t + len};
	long long line = first;
	long addr = 0;

	while (c.p < c.end) {
		unsigned head = *c.p++;
		long long delta;
		bool has_line;

		if (!(head & 0x80) || !lt_loc_payload(&c, (head >> 3) & 15, &delta, &has_line))
			return -1;
		line += delta;
		if (!lt_line_ok(line))
			return -1;
		addr += (head & 7) + 1;
		if (offset < addr)
			return has_line ? (int)line : -1;
	}
	return -1;
}

int lt_line_for(enum lt_format fmt, const unsigned char *table, size_t len, int firstlineno,
		long offset)
{
	if (offset < 0)
		return lt_line_ok(firstlineno) ? firstlineno : -1;
	if (!table)
		len = 0;
	switch (fmt) {
	case LT_LNOTAB_UNSIGNED:
		return lt_lnotab(table, len, firstlineno, offset, false);
	case LT_LNOTAB_SIGNED:
		return lt_lnotab(table, len, firstlineno, offset, true);
	case LT_310:
		return lt_310(table, len, firstlineno, offset);
	case LT_LOCATIONS:
		return lt_locations(table, len, firstlineno, offset);
	}
	return -1;
}
