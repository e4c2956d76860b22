/* test_linetable_fuzz.c: the line-table decoders fed random and mangled tables (the truth
 * tests against real interpreters are in test_linetable.c).  ASan/UBSan and the timeout
 * catch out-of-bounds reads, overflow and hangs. */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/linetable.h"

/* splitmix64: a fixed-seed generator local to the test. */
static uint64_t lt_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random bytes; in "biased" mode most bytes look like valid location payload (bit 7
 * clear) with an entry start now and then, and long varint runs, so the decoders get
 * deep into tables instead of rejecting the first byte. */
static void lt_fill(unsigned char *t, size_t len, bool biased, uint64_t *rng)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t r = lt_rand(rng);

		t[i] = (unsigned char)r;
		if (biased)
			t[i] = (r >> 8) % 4 == 0 ? (t[i] | 0x80)
						 : (t[i] & 0x7f) | ((r >> 16) % 3 ? 0x40 : 0);
	}
}

Test(linetable, fuzz_random_tables, .timeout = 30)
{
	static const long fixed[] = {-1, 0, 1, 7, 255, 256, 4095, LONG_MAX, LONG_MIN};
	const int nfixed = sizeof(fixed) / sizeof(fixed[0]);
	uint64_t rng = 20240601;
	long answered = 0;

	for (int n = 0; n < 100000; n++) {
		size_t len = lt_rand(&rng) % (n % 100 == 0 ? 4096 : 96);
		unsigned char *t = xmalloc(len ? len : 1);
		int first = (int)(lt_rand(&rng) % 3 ? lt_rand(&rng) % 5000 : lt_rand(&rng));

		lt_fill(t, len, n % 2, &rng);
		for (int fmt = LT_LNOTAB_UNSIGNED; fmt <= LT_LOCATIONS; fmt++) {
			for (int k = 0; k < nfixed + 3; k++) {
				long off =
				    k < nfixed ? fixed[k] : (long)(lt_rand(&rng) % (len * 4 + 1));
				int line = lt_line_for((enum lt_format)fmt, t, len, first, off);

				cr_assert(line >= -1, "line %d out of range", line);
				answered += line >= 0;
			}
		}
		free(t);
	}
	cr_assert_gt(answered, 100000, "the fuzzer never got a line out: it tests nothing");
}

/* Every prefix of a long valid-looking table, so each decoder stops at each possible
 * byte: in the middle of a pair, a varint, a column byte. */
Test(linetable, fuzz_every_truncation, .timeout = 30)
{
	uint64_t rng = 7;

	for (int round = 0; round < 200; round++) {
		size_t full = 64 + lt_rand(&rng) % 448;
		unsigned char *src = xmalloc(full);

		lt_fill(src, full, round % 2, &rng);
		for (size_t len = 0; len <= full; len++) {
			unsigned char *t = xmalloc(len ? len : 1);

			memcpy(t, src, len);
			for (int fmt = LT_LNOTAB_UNSIGNED; fmt <= LT_LOCATIONS; fmt++) {
				long off = (long)(lt_rand(&rng) % (full * 8));

				cr_assert(lt_line_for((enum lt_format)fmt, t, len, 1, off) >= -1);
			}
			free(t);
		}
		free(src);
	}
}
