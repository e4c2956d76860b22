/* satint.h: sums of numbers read from files, which may be anything.  Saturating at the
 * int64 limits instead of overflowing (undefined behaviour, and a wrong sign). */
#ifndef TG_SATINT_H
#define TG_SATINT_H

#include <stdint.h>

static inline int64_t tg_sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static inline int64_t tg_sat_sub(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

#endif
