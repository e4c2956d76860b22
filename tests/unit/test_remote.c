/* attach/remote: batched reads of a live process (this one), pieces in one page merged into
 * one remote range, and what a fault leaves read. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach/remote.h"

#define PG 4096u

/* Three pages, the middle one unmapped when hole. */
static unsigned char *pages(int hole)
{
	unsigned char *m =
	    mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	for (unsigned i = 0; i < 3 * PG; i++)
		m[i] = (unsigned char)(i * 7 + 1);
	if (hole)
		cr_assert_eq(munmap(m + PG, PG), 0);
	return m;
}

static struct remote_iov piece(const unsigned char *src, void *dst, size_t len)
{
	return (struct remote_iov){(uint64_t)(uintptr_t)src, dst, len, 0};
}

Test(remote, pieces_in_one_page_are_one_range)
{
	unsigned char *m = pages(0);
	uint64_t got[6];
	struct remote_iov v[6];
	struct remote r;

	memset(got, 0xee, sizeof got);
	for (int i = 0; i < 6; i++) /* 8 bytes every 40, in order */
		v[i] = piece(m + 100 + 40 * i, &got[i], 8);
	remote_init_process(&r, getpid());
	cr_assert_eq(remote_readv(&r, v, 6), 6);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.ranges, 1, "one page, one range");
	for (int i = 0; i < 6; i++) {
		cr_assert(v[i].ok);
		cr_assert_eq(memcmp(&got[i], m + 100 + 40 * i, 8), 0, "piece %d", i);
	}
	remote_close(&r);
	munmap(m, 3 * PG);
}

Test(remote, a_piece_into_the_next_page_joins_and_others_do_not)
{
	unsigned char *m = pages(0);
	unsigned char a[16], b[64], c[8], d[8], e[8];
	struct remote_iov v[5] = {
	    piece(m + PG - 100, a, sizeof a), /* page 0 */
	    piece(m + PG - 32, b, sizeof b),  /* starts in page 0, ends in page 1: joins */
	    piece(m + 2 * PG + 8, c, 8),      /* page 2: a range of its own */
	    piece(m + 2 * PG, d, 8),	      /* behind the range before: its own */
	    piece(m + 2 * PG, e, 8),	      /* the same bytes again: its own */
	};
	struct remote r;

	remote_init_process(&r, getpid());
	cr_assert_eq(remote_readv(&r, v, 5), 5);
	cr_assert_eq(r.ranges, 4);
	cr_assert_eq(memcmp(a, m + PG - 100, sizeof a), 0);
	cr_assert_eq(memcmp(b, m + PG - 32, sizeof b), 0);
	cr_assert_eq(memcmp(c, m + 2 * PG + 8, 8), 0);
	cr_assert_eq(memcmp(d, m + 2 * PG, 8), 0);
	cr_assert_eq(memcmp(e, m + 2 * PG, 8), 0);
	remote_close(&r);
	munmap(m, 3 * PG);
}

Test(remote, a_fault_fails_its_piece_only)
{
	unsigned char *m = pages(1);
	unsigned char a[8], b[8], c[8], d[32];
	struct remote_iov v[4] = {
	    piece(m + 16, a, 8), piece(m + PG + 16, b, 8),		       /* unmapped */
	    piece(m + 2 * PG + 16, c, 8), piece(m + 2 * PG + 40, d, sizeof d), /* joins c's range */
	};
	struct remote r;

	memset(b, 0xee, sizeof b);
	remote_init_process(&r, getpid());
	cr_assert_eq(remote_readv(&r, v, 4), 3);
	cr_assert(v[0].ok && !v[1].ok && v[2].ok && v[3].ok);
	cr_assert_eq(memcmp(a, m + 16, 8), 0);
	cr_assert_eq(b[0], 0xee, "a piece not read is left alone");
	cr_assert_eq(memcmp(c, m + 2 * PG + 16, 8), 0);
	cr_assert_eq(memcmp(d, m + 2 * PG + 40, sizeof d), 0);
	remote_close(&r);
	munmap(m, PG);
	munmap(m + 2 * PG, PG);
}

Test(remote, a_joined_piece_that_runs_into_a_hole_fails_alone)
{
	unsigned char *m = pages(1);
	unsigned char a[8], b[64];
	struct remote_iov v[2] = {
	    piece(m + PG - 64, a, 8),
	    piece(m + PG - 32, b, sizeof b), /* joins, and runs into the unmapped page */
	};
	struct remote r;

	remote_init_process(&r, getpid());
	cr_assert_eq(remote_readv(&r, v, 2), 1);
	cr_assert(v[0].ok && !v[1].ok);
	cr_assert_eq(memcmp(a, m + PG - 64, 8), 0);
	remote_close(&r);
	munmap(m, PG);
	munmap(m + 2 * PG, PG);
}
