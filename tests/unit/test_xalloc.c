/* common/xalloc: the growth policy of every growable array. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>

#include "common/xalloc.h"

Test(xalloc, grow_cap_doubles_from_eight)
{
	cr_assert_eq(xgrow_cap(0, 1), 8);
	cr_assert_eq(xgrow_cap(8, 8), 8, "a capacity that holds need is kept");
	cr_assert_eq(xgrow_cap(8, 9), 16);
	cr_assert_eq(xgrow_cap(16, 100), 100, "need beyond twice the capacity");
	cr_assert_eq(xgrow_cap(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2), SIZE_MAX, "saturates");
}

Test(xalloc, grow_keeps_the_elements)
{
	size_t cap = 0, n = 0;
	long *v = NULL;

	for (long i = 0; i < 1000; i++) {
		v = xgrow(v, &cap, n + 1, sizeof *v);
		cr_assert_geq(cap, n + 1);
		v[n++] = i * 3;
	}
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(v[i], (long)i * 3);
	cr_assert_eq(cap, 1024, "8, 16, ... 1024: doubled, not grown by one");
	free(v);
}

Test(xalloc, reallocarray_overflow_aborts, .signal = SIGABRT)
{
	void *p = xreallocarray(NULL, SIZE_MAX / 8 + 1, 16);

	free(p); /* not reached */
}
