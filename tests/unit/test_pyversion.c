/* pyversion_parse: sys.version strings into major, minor, micro and PY_VERSION_HEX. */
#include <criterion/criterion.h>

#include "sampler/pyversion.h"

static uint32_t hex_of(const char *s)
{
	int major, minor, micro;
	uint32_t hex = 0;

	cr_assert_eq(pyversion_parse(s, &major, &minor, &micro, &hex), 0, "'%s' not parsed", s);
	cr_assert_eq(hex >> 24, (uint32_t)major);
	cr_assert_eq((hex >> 16) & 0xff, (uint32_t)minor);
	cr_assert_eq((hex >> 8) & 0xff, (uint32_t)micro);
	return hex;
}

Test(pyversion, releases)
{
	cr_assert_eq(hex_of("2.7.18 (default, May  9 2026, 10:00:00) \n[GCC 12.2.0]"), 0x020712f0);
	cr_assert_eq(hex_of("3.9.18 (main, May  9 2026, 10:00:00) [GCC 12.2.0]"), 0x030912f0);
	cr_assert_eq(hex_of("3.10.13+ (heads/3.10:abc, ...)"), 0x030a0df0);
}

Test(pyversion, prereleases)
{
	cr_assert_eq(hex_of("3.13.0a1 (main)"), 0x030d00a1);
	cr_assert_eq(hex_of("3.12.0b4 (main)"), 0x030c00b4);
	cr_assert_eq(hex_of("3.10.0rc2 (main)"), 0x030a00c2);
}

Test(pyversion, not_versions)
{
	int major, minor, micro;
	uint32_t hex = 7;
	static const char *const bad[] = {"",	   "3",	      "3.9",	"x.y.z",
					  "1.2.3", "3.9.999", "-3.9.1", "3.-9.1"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(pyversion_parse(bad[i], &major, &minor, &micro, &hex), -1,
			     "'%s' parsed", bad[i]);
	cr_assert_eq(hex, 7u, "hex written on failure");
}
