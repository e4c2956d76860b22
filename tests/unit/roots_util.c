#include "tests/unit/roots_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/dwarf.h"
#include "symbols/elfimg.h"

static const char *const builds[] = {"trixie/python3.13",   "trixie/python3.13d",
				     "unstable/python3.14", "unstable/python3.14d",
				     "unstable/python3.15", "unstable/python3.15d"};

size_t roots_each(void (*fn)(const struct root_build *b, void *ctx), void *ctx)
{
	const char *roots = getenv("TG_ROOTS");
	size_t n = 0;

	for (size_t i = 0; i < sizeof builds / sizeof builds[0]; i++) {
		struct root_build b;
		struct elf_image img;
		char root[PATH_MAX];
		const char *name = strchr(builds[i], '/') + 1;

		snprintf(root, sizeof root, "%s/%.*s",
			 roots && *roots ? roots : "/var/tmp/tgattach-roots",
			 (int)(name - 1 - builds[i]), builds[i]);
		snprintf(b.exe, sizeof b.exe, "%s/usr/bin/%s", root, name);
		if (access(b.exe, X_OK) != 0 || sscanf(name, "python3.%d", &b.minor) != 1)
			continue;
		b.debug = name[strlen(name) - 1] == 'd';
		cr_assert_eq(elfimg_open(&img, b.exe, NULL), 0, "%s", b.exe);
		int found = img.has_debug_info
				? (snprintf(b.dwarf, sizeof b.dwarf, "%s", b.exe), 0)
				: dwarf_find_debug_file(root, b.exe, img.build_id, img.debuglink,
							b.dwarf, sizeof b.dwarf);
		elfimg_close(&img);
		cr_assert_eq(found, 0, "%s: no DWARF in the root (its -dbg package)", b.exe);
		fn(&b, ctx);
		n++;
	}
	return n;
}

/* The debug file of Debian's stripped python3.11, found through its build-id. */
int roots_host_debug_file(char *out, size_t len)
{
	struct elf_image img;
	int rc;

	if (elfimg_open(&img, "/usr/bin/python3.11", NULL) < 0)
		return -1;
	rc =
	    dwarf_find_debug_file("", "/usr/bin/python3.11", img.build_id, img.debuglink, out, len);
	elfimg_close(&img);
	return rc;
}
