/* linetable.h: CPython line-number tables -> the source line of an instruction.
 *
 * Pure functions over bytes already copied from the target (co_lnotab up to 3.9,
 * co_linetable from 3.10).  They accept ANY bytes, since a torn read may hand them
 * garbage: they never read outside table[0, len), finish in O(len) steps, and then
 * answer a wrong line or -1, never crash.  Formats: cpython-internals.md section 2.4. */
#ifndef TG_LINETABLE_H
#define TG_LINETABLE_H

#include <stddef.h>

enum lt_format {
	LT_LNOTAB_UNSIGNED, /* co_lnotab, unsigned line deltas: 2.7 (and 3.0-3.5) */
	LT_LNOTAB_SIGNED,   /* co_lnotab, signed line deltas: 3.6-3.9 */
	LT_310,		    /* co_linetable of 3.10: (length, delta) ranges */
	LT_LOCATIONS,	    /* co_linetable location table: 3.11 and later */
};

/* The table format of CPython major.minor; 2.x and 3.0-3.5 map to the unsigned lnotab,
 * anything newer than 3.11 to the location table. */
enum lt_format lt_format_for(int major, int minor);

/* The line of the instruction at `offset`, in the unit of the format:
 *   LT_LNOTAB_*   bytes (f_lasti as stored, 2.7-3.9)
 *   LT_310        bytes (f_lasti * 2)
 *   LT_LOCATIONS  code units (instruction index, caches included)
 * A negative offset (frame not started) gives firstlineno, as in CPython.  Returns -1 when
 * the table says the instruction has no line, when offset lies past the table (3.10+),
 * or when the bytes are inconsistent (a malformed location entry, a line outside
 * 0..INT_MAX, an unknown format). */
int lt_line_for(enum lt_format fmt, const unsigned char *table, size_t len, int firstlineno,
		long offset);

#endif
