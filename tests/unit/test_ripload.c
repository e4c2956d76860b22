/* symbols/ripload.c: RIP-relative loads found in hand-assembled x86-64 code. */
#include <criterion/criterion.h>

#include <string.h>

#include "symbols/ripload.h"

#define FN 0x1000

Test(ripload, finds_loads_widths_and_registers)
{
	/* mov 0x100(%rip),%eax ; mov 0x200(%rip),%rdx ; mov 0x300(%rip),%r9 ; ret */
	static const unsigned char code[] = {
	    0x8b, 0x05, 0x00, 0x01, 0x00, 0x00,	      /* 6 bytes, ends at 6 */
	    0x48, 0x8b, 0x15, 0x00, 0x02, 0x00, 0x00, /* ends at 13 */
	    0x4c, 0x8b, 0x0d, 0x00, 0x03, 0x00, 0x00, /* ends at 20 */
	    0xc3,
	};
	struct ripload l[8];
	size_t n = ripload_scan(code, sizeof code, FN, l, 8);

	cr_assert_eq(n, 3);
	cr_assert_eq(l[0].width, 4);
	cr_assert_eq(l[0].reg, 0);
	cr_assert_eq(l[0].target, FN + 6 + 0x100);
	cr_assert_eq(l[1].width, 8);
	cr_assert_eq(l[1].reg, 2);
	cr_assert_eq(l[1].target, FN + 13 + 0x200);
	cr_assert_eq(l[2].reg, 9, "REX.R selects r8-r15");
	cr_assert_eq(l[2].target, FN + 20 + 0x300);
	cr_assert_eq(ripload_scan(code, sizeof code, FN, l, 2), 2, "at most max");
}

Test(ripload, negative_displacement_and_truncation)
{
	static const unsigned char code[] = {0x48, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff, 0xc3};
	struct ripload l[2];

	cr_assert_eq(ripload_scan(code, sizeof code, FN, l, 2), 1);
	cr_assert_eq(l[0].target, FN + 7 - 0x10);
	cr_assert_eq(ripload_scan(code, 6, FN, l, 2), 0, "a load cut by the end is not one");
	static const unsigned char other[] = {0x48, 0x8b, 0x45, 0x08, 0x8b, 0x07};
	cr_assert_eq(ripload_scan(other, sizeof other, FN, l, 2), 0, "no RIP-relative form");
}

Test(ripload, dereferenced_register)
{
	/* mov X(%rip),%rdi ; mov 0x8(%rdi),%rsi ; mov (%rax),%ecx ; mov Y(%rip),%rdx */
	static const unsigned char code[] = {
	    0x48, 0x8b, 0x3d, 0x00, 0x01, 0x00, 0x00, /* rdi <- [rip+..] */
	    0x48, 0x8b, 0x77, 0x08,		      /* rsi <- [rdi+8] */
	    0x8b, 0x08,				      /* ecx <- [rax] (32-bit) */
	    0x48, 0x8b, 0x15, 0x00, 0x02, 0x00, 0x00, /* rdx <- [rip+..] */
	    0x49, 0x8b, 0x06,			      /* rax <- [r14] */
	};

	cr_assert_eq(ripload_derefs(code, sizeof code, 7, 7), 1, "rdi is followed");
	cr_assert_eq(ripload_derefs(code, sizeof code, 7, 2), 0,
		     "rdx only appears RIP-relative, which is no dereference of it");
	cr_assert_eq(ripload_derefs(code, sizeof code, 0, 0), 0, "a 32-bit load is not a pointer");
	cr_assert_eq(ripload_derefs(code, sizeof code, 0, 14), 1, "REX.B selects r14");
	cr_assert_eq(ripload_derefs(code, sizeof code, 0, 6), 0);
}
