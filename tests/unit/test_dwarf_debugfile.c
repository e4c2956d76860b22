/* symbols/dwarf_debugfile: a stripped interpreter's detached debug file, found by build-id or
 * .gnu_debuglink (under the target's root too), verified, and refused when it is not one. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/dwarf.h"
#include "symbols/elfimg.h"
#include "tests/unit/roots_util.h"

#define DEB_PY "/usr/bin/python3.11"
#define DEB_PYD "/usr/bin/python3.11d"

static void image_ids(const char *path, char *build_id, char *debuglink)
{
	struct elf_image img;
	struct tg_err err = {0};

	cr_assert_eq(elfimg_open(&img, path, &err), 0, "%s", err.msg);
	strcpy(build_id, img.build_id);
	strcpy(debuglink, img.debuglink);
	elfimg_close(&img);
}

Test(dwarf, find_debug_file_of_debian_python_by_build_id)
{
	char id[41], link[256], out[PATH_MAX], want[PATH_MAX], dbg_id[41], dbg_link[256];

	if (access(DEB_PY, F_OK) != 0)
		cr_skip_test(DEB_PY " is not installed");
	image_ids(DEB_PY, id, link);
	cr_assert(id[0], DEB_PY " has no build-id");
	snprintf(want, sizeof want, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	if (access(want, F_OK) != 0)
		cr_skip_test("%s is missing (install python3.11-dbg)", want);
	cr_assert_eq(dwarf_find_debug_file("", DEB_PY, id, link, out, sizeof out), 0);
	cr_expect_str_eq(out, want);
	image_ids(out, dbg_id, dbg_link);
	cr_expect_str_eq(dbg_id, id, "the debug file must carry the image's build-id");

	/* through a root prefix, as for a process in another mount namespace */
	cr_assert_eq(dwarf_find_debug_file("/proc/self/root", "/proc/self/root" DEB_PY, id, link,
					   out, sizeof out),
		     0);
	cr_expect(strncmp(out, "/proc/self/root/usr/lib/debug/.build-id/", 40) == 0, "%s", out);

	/* too small an output buffer is "not found", never a truncated path */
	cr_expect_eq(dwarf_find_debug_file("", DEB_PY, id, link, out, 20), -1);
}

Test(dwarf, find_debug_file_prefers_the_image_with_dwarf)
{
	char id[41], link[256], out[PATH_MAX];

	if (access(DEB_PYD, F_OK) != 0)
		cr_skip_test(DEB_PYD " is not installed");
	image_ids(DEB_PYD, id, link);
	cr_assert_eq(dwarf_find_debug_file("", DEB_PYD, id, link, out, sizeof out), 0);
	cr_expect_str_eq(out, DEB_PYD);
	cr_assert_eq(dwarf_find_debug_file("", DEB_PYD, "", "", out, sizeof out), 0);
	cr_expect_str_eq(out, DEB_PYD);
}

Test(dwarf, find_debug_file_fails_without_debug_info)
{
	char id[41], link[256], out[PATH_MAX], path[PATH_MAX];
	FILE *f;

	/* a stripped system binary whose debug package is not installed */
	image_ids("/bin/ls", id, link);
	snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
	if (access(path, F_OK) == 0)
		cr_skip_test("debug info for /bin/ls is installed");
	strcpy(out, "untouched");
	cr_expect_eq(dwarf_find_debug_file("", "/bin/ls", id, link, out, sizeof out), -1);
	cr_expect_eq(dwarf_find_debug_file("/proc/self/root", "/bin/ls", id, link, out, sizeof out),
		     -1);
	/* not an ELF file at all */
	snprintf(path, sizeof path, "/tmp/tg-dwarf-test-%d.txt", (int)getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	cr_expect_eq(dwarf_find_debug_file("", path, "", "", out, sizeof out), -1);
	/* a hostile debuglink must not walk out of the debug directories */
	cr_expect_eq(
	    dwarf_find_debug_file("", path, "", "../../../usr/bin/python3.11d", out, sizeof out),
	    -1);
	unlink(path);
}

/* A debug file found by .gnu_debuglink is used only when its CRC (or build-id) matches. */
Test(dwarf, find_debug_file_verifies_debuglink)
{
	char id[41], link[256], out[PATH_MAX], dir[64], image[128], dbg[PATH_MAX], cand[512];

	if (access(DEB_PY, F_OK) != 0 || access(DEB_PYD, F_OK) != 0)
		cr_skip_test(DEB_PY " or " DEB_PYD " is not installed");
	image_ids(DEB_PY, id, link);
	if (roots_host_debug_file(dbg, sizeof dbg) < 0 || !link[0])
		cr_skip_test("no debug file or no .gnu_debuglink for " DEB_PY);
	snprintf(dir, sizeof dir, "/tmp/tg-dwarf-link-%d", (int)getpid());
	cr_assert_eq(mkdir(dir, 0700), 0, "%s", strerror(errno));
	snprintf(image, sizeof image, "%s/python3.11", dir);
	snprintf(cand, sizeof cand, "%s/%s", dir, link);
	cr_assert_eq(symlink(DEB_PY, image), 0);

	/* stale: a different build with DWARF under the debuglink name */
	cr_assert_eq(symlink(DEB_PYD, cand), 0);
	cr_expect_eq(dwarf_find_debug_file("", image, "", link, out, sizeof out), -1,
		     "a debug file with the wrong CRC was accepted: %s", out);
	cr_expect_eq(dwarf_find_debug_file("", image, id, link, out, sizeof out), 0);
	cr_expect_str_neq(out, cand, "a debug file with the wrong build-id was accepted");

	/* the right file under the debuglink name, verified by CRC alone */
	unlink(cand);
	cr_assert_eq(symlink(dbg, cand), 0);
	cr_expect_eq(dwarf_find_debug_file("", image, "", link, out, sizeof out), 0);
	cr_expect_str_eq(out, cand);

	unlink(cand);
	unlink(image);
	rmdir(dir);
}

/* The other debuglink places: DIR/.debug/NAME, and /usr/lib/debug/DIR/NAME inside a root
 * (as for a process in a container: everything is looked up under /proc/PID/root). */
Test(dwarf, find_debug_file_debuglink_dirs_under_root)
{
	char id[41], link[256], out[PATH_MAX], dbg[PATH_MAX], root[64], p[PATH_MAX];

	if (access(DEB_PY, F_OK) != 0)
		cr_skip_test(DEB_PY " is not installed");
	image_ids(DEB_PY, id, link);
	if (roots_host_debug_file(dbg, sizeof dbg) < 0 || !link[0])
		cr_skip_test("no debug file or no .gnu_debuglink for " DEB_PY);
	snprintf(root, sizeof root, "/tmp/tg-dwarf-root-%d", (int)getpid());
	const char *dirs[] = {"",	  "/bin",	    "/bin/.debug",	 "/usr",
			      "/usr/lib", "/usr/lib/debug", "/usr/lib/debug/bin"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(p, sizeof p, "%s%s", root, dirs[i]);
		cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
	}
	snprintf(p, sizeof p, "%s/bin/python3.11", root);
	cr_assert_eq(symlink(DEB_PY, p), 0);

	snprintf(p, sizeof p, "%s/bin/.debug/%s", root, link);
	cr_assert_eq(symlink(dbg, p), 0);
	cr_expect_eq(dwarf_find_debug_file(root, "/bin/python3.11", "", link, out, sizeof out), 0);
	cr_expect_str_eq(out, p);
	unlink(p);

	snprintf(p, sizeof p, "%s/usr/lib/debug/bin/%s", root, link);
	cr_assert_eq(symlink(dbg, p), 0);
	cr_expect_eq(dwarf_find_debug_file(root, "/bin/python3.11", "", link, out, sizeof out), 0);
	cr_expect_str_eq(out, p);
	/* the image path may already carry the root prefix */
	snprintf(p, sizeof p, "%s/bin/python3.11", root);
	cr_expect_eq(dwarf_find_debug_file(root, p, "", link, out, sizeof out), 0);
	snprintf(p, sizeof p, "%s/usr/lib/debug/bin/%s", root, link);
	cr_expect_str_eq(out, p);
	unlink(p);

	cr_expect_eq(dwarf_find_debug_file(root, "/bin/python3.11", "", link, out, sizeof out), -1,
		     "nothing left to find, but found %s", out);
	snprintf(p, sizeof p, "%s/bin/python3.11", root);
	unlink(p);
	for (size_t i = sizeof dirs / sizeof dirs[0]; i-- > 0;) {
		snprintf(p, sizeof p, "%s%s", root, dirs[i]);
		rmdir(p);
	}
}
