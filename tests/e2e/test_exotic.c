/* The unusual interpreters users run, end to end: a static interpreter whose file was
 * deleted or replaced after start, a copied shared libpython deleted (with its DWARF, and
 * stripped), a C program that embeds libpython, sub-interpreters (3.12, 3.13), a process
 * in another mount namespace; and what `tgattach info` reports about each kind of build,
 * and about a process that is not Python.  `dump` is compared with the fixture's own
 * truth frame for frame; symbol addresses with nm's. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"
#include "tests/e2e/exotic_util.h"

/* ---- deleted and replaced interpreters ---- */

static void build_id_of(const char *file, char *out, size_t len)
{
	char *argv[] = {"/usr/bin/readelf", "-n", (char *)file, NULL};
	struct buf b = BUF_INIT;

	cr_assert_eq(ex_run_out(argv, &b, NULL), 0, "readelf -n %s failed", file);
	const char *id = strstr(buf_cstr(&b), "Build ID: ");
	cr_assert_not_null(id, "%s has no build-id", file);
	snprintf(out, len, "%.*s", (int)strspn(id + 10, "0123456789abcdef"), id + 10);
	buf_free(&b);
}

/* Debian's static python3.11, run from a copy that is then deleted (replacement: another
 * ELF file takes its path).  Its DWARF is found by build-id, the code read through
 * /proc/PID/map_files. */
static void deleted_static(const char *label, const char *replacement)
{
	char copy[PATH_MAX], ver[32], val[PATH_MAX + 64], want[PATH_MAX + 64], id[64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access(DEBIAN_PY, X_OK) != 0 && ex_skipped(label, DEBIAN_PY " is not installed"))
		return;
	char *dir = temp_dir("exotic");
	snprintf(copy, sizeof copy, "%s/tgpy", dir);
	ex_copy_file(DEBIAN_PY, copy);
	ex_python_version(DEBIAN_PY, ver, sizeof ver);
	build_id_of(DEBIAN_PY, id, sizeof id);
	ex_start_threads(label, copy, dir, &fx, &truth);
	if (replacement) {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof tmp, "%s.new", copy);
		ex_copy_file(replacement, tmp);
		cr_assert_eq(rename(tmp, copy), 0, "rename: %s", strerror(errno));
	} else {
		cr_assert_eq(unlink(copy), 0, "unlink %s: %s", copy, strerror(errno));
	}

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	truth_dump_and_compare(label, fx.pid, "--offsets=builtin", &truth);
	cr_assert_eq(ex_tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	snprintf(want, sizeof want, "%s (deleted)", copy);
	ex_expect_field(label, buf_cstr(&out), "interpreter", want);
	snprintf(want, sizeof want, "/proc/%d/map_files/", (int)fx.pid);
	ex_expect_field_prefix(label, buf_cstr(&out), "opened as", want);
	ex_expect_field(label, buf_cstr(&out), "version", ver);
	ex_expect_field(label, buf_cstr(&out), "build", "static executable");
	ex_expect_field(label, buf_cstr(&out), "build-id", id);
	snprintf(want, sizeof want, "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug",
		 (int)fx.pid, id, id + 2);
	ex_expect_dwarf_from(label, buf_cstr(&out), want);
	ex_expect_symbol(label, buf_cstr(&out), DEBIAN_PY, 0, "_PyRuntime");
	cr_assert_eq(ex_tg_info(fx.pid, "--offsets=builtin", &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	ex_expect_field_prefix(label, buf_cstr(&out), "offsets", "builtin (");
	ex_info_field(buf_cstr(&out), "interpreter", val, sizeof val);
	cr_assert(strstr(val, "(deleted)"), "%s: info --offsets=builtin: %s", label, val);
	if (!replacement)
		truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label,
		  replacement ? "replaced by another ELF file" : "deleted, dwarf and builtin");
}

/* pyenv 3.12 run with a copy of its libpython (LD_LIBRARY_PATH beats RUNPATH), deleted
 * after start; stripped: no DWARF anywhere, so the built-in table. */
static void deleted_libpython(const char *label, int stripped)
{
	char prefix[PATH_MAX], python[PATH_MAX], lib[PATH_MAX], copy[PATH_MAX], libdir[PATH_MAX];
	char ver[32], want[PATH_MAX + 64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (ex_pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    ex_skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(python, sizeof python, "%s/bin/python3.12", prefix);
	snprintf(lib, sizeof lib, "%s/lib/libpython3.12.so.1.0", prefix);
	if (access(lib, R_OK) != 0 && ex_skipped(label, "pyenv 3.12 has no shared libpython"))
		return;
	char *dir = temp_dir("exotic");
	snprintf(libdir, sizeof libdir, "%s/lib", dir);
	cr_assert_eq(mkdir(libdir, 0755), 0);
	snprintf(copy, sizeof copy, "%s/libpython3.12.so.1.0", libdir);
	if (stripped) {
		char *argv[] = {"/usr/bin/strip", "-o", copy, lib, NULL};
		cr_assert_eq(run_capture(argv, NULL, NULL, 60), 0, "strip %s failed", lib);
	} else {
		ex_copy_file(lib, copy);
	}
	ex_python_version(python, ver, sizeof ver);
	setenv("LD_LIBRARY_PATH", libdir, 1);
	ex_start_threads(label, python, dir, &fx, &truth);
	unsetenv("LD_LIBRARY_PATH");
	uint64_t base = ex_map_base(fx.pid, copy);
	cr_assert(base, "%s: %s is not mapped: the copy was not used", label, copy);
	cr_assert_eq(unlink(copy), 0);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(ex_tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	snprintf(want, sizeof want, "%s (deleted)", copy);
	ex_expect_field(label, buf_cstr(&out), "interpreter", want);
	ex_expect_field(label, buf_cstr(&out), "version", ver);
	ex_expect_field(label, buf_cstr(&out), "build", "shared libpython");
	ex_expect_symbol(label, buf_cstr(&out), lib, base, "_PyRuntime");
	ex_expect_symbol(label, buf_cstr(&out), lib, base, "Py_Version");
	if (stripped) {
		ex_expect_field_prefix(label, buf_cstr(&out), "offsets", "builtin (");
		/* --offsets=dwarf must fail, saying what it looked for */
		char pidstr[16];
		snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
		char *argv[] = {TG_BIN, "dump", "-p", pidstr, "--offsets=dwarf", NULL};
		int rc = ex_run_out(argv, &out, &err);
		cr_assert_eq(rc, 6, "%s: dump --offsets=dwarf exited %d: %s", label, rc,
			     buf_cstr(&err));
		snprintf(want, sizeof want, "no debug info found for %s", copy);
		cr_assert(strstr(buf_cstr(&err), want) &&
			      strstr(buf_cstr(&err), "/usr/lib/debug/.build-id/") &&
			      strstr(buf_cstr(&err), ".gnu_debuglink"),
			  "%s: --offsets=dwarf says: %s", label, buf_cstr(&err));
		cr_assert(proc_all_untraced_running(fx.pid));
	} else {
		/* its own DWARF, read through map_files */
		snprintf(want, sizeof want, "/proc/%d/map_files/", (int)fx.pid);
		ex_expect_dwarf_from(label, buf_cstr(&out), want);
		truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	}
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label, stripped ? "no DWARF: builtin; --offsets=dwarf fails clearly"
				  : "deleted copy, its own DWARF");
}

TestSuite(exotic, .timeout = 120);

Test(exotic, deleted_static)
{
	deleted_static("debian 3.11 deleted", NULL);
}
Test(exotic, replaced_static)
{
	deleted_static("debian 3.11 replaced", "/bin/true");
}
Test(exotic, deleted_libpython)
{
	deleted_libpython("pyenv 3.12 lib deleted", 0);
}
Test(exotic, stripped_libpython)
{
	deleted_libpython("pyenv 3.12 lib stripped", 1);
}

/* libpython3.so, the stable-ABI stub that only forwards to libpython3.12.so, loaded as an
 * abi3 extension or a program linked with -lpython3 would, and also mapped low in the
 * address space (the loader may put it below the real library, or not): the interpreter
 * is still libpython3.12. */
Test(exotic, stable_abi_stub)
{
	const char *label = "pyenv 3.12 + libpython3.so";
	const char *code = "import ctypes, os, runpy, sys\n"
			   "ctypes.CDLL(sys.argv[1])\n"
			   "libc = ctypes.CDLL(None)\n"
			   "libc.mmap.restype = ctypes.c_void_p\n"
			   "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,\n"
			   "                      ctypes.c_int, ctypes.c_int, ctypes.c_long]\n"
			   "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
			   "libc.mmap(0x10000000, 4096, 1, 2, fd, 0)\n"
			   "sys.argv = sys.argv[2:]\n"
			   "runpy.run_path(sys.argv[0], run_name='__main__')\n";
	char prefix[PATH_MAX], python[PATH_MAX], stub[PATH_MAX], lib[PATH_MAX];
	char fixture[PATH_MAX], truth_path[PATH_MAX];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (ex_pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    ex_skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(python, sizeof python, "%s/bin/python3.12", prefix);
	snprintf(stub, sizeof stub, "%s/lib/libpython3.so", prefix);
	snprintf(lib, sizeof lib, "%s/lib/libpython3.12.so.1.0", prefix);
	if ((access(stub, R_OK) != 0 || access(lib, R_OK) != 0) &&
	    ex_skipped(label, "pyenv 3.12 has no libpython3.so"))
		return;
	char *dir = temp_dir("exotic");
	ex_fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {python, "-c", (char *)code, stub, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	uint64_t stub_at = ex_map_base(fx.pid, stub), lib_at = ex_map_base(fx.pid, lib);
	cr_assert(stub_at && lib_at && stub_at < lib_at,
		  "%s: libpython3.so is not mapped below libpython3.12", label);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	int rc = ex_tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", label, rc, buf_cstr(&err));
	ex_expect_field(label, buf_cstr(&out), "interpreter", lib);
	ex_expect_symbol(label, buf_cstr(&out), lib, lib_at, "_PyRuntime");
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label, "the stub is not the interpreter");
}

/* ---- a C program embedding libpython ---- */

struct embed_case {
	const char *label;
	const char *flags;	 /* cc flags that build fixtures/embed.c against a libpython */
	const char *python;	 /* an interpreter of the same version, for the exact version */
	const char *interp;	 /* what info must call the interpreter; NULL: the program */
	const char *build;	 /* info's build line */
	const char *offsets;	 /* how info's offsets line starts */
	const char *dwarf_error; /* what dump --offsets=dwarf must fail with, or NULL */
};

/* fixtures/embed.c built at run time: dump equals its truth (the C main thread has a
 * thread state and no frame), info names the interpreter, a recording writes its files. */
static void embed_entry(const struct embed_case *c)
{
	char src[PATH_MAX], exe[PATH_MAX], fixtures[PATH_MAX], truth_path[PATH_MAX], ver[32];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	ex_fixture_path("embed.c", src, sizeof src);
	cr_assert_eq(proc_build_c(src, c->flags, exe, sizeof exe), 0, "%s: cc %s %s failed",
		     c->label, c->flags, src);
	ex_python_version(c->python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	ex_fixture_path("", fixtures, sizeof fixtures);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {exe, fixtures, truth_path, NULL};
	int n = truth_start_fixture(c->label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads, %d stay", c->label,
		     truth.nthreads, n);

	truth_dump_and_compare(c->label, fx.pid, NULL, &truth);
	int rc = ex_tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", c->label, rc, buf_cstr(&err));
	ex_expect_field(c->label, buf_cstr(&out), "interpreter", c->interp ? c->interp : exe);
	ex_expect_field(c->label, buf_cstr(&out), "build", c->build);
	ex_expect_field(c->label, buf_cstr(&out), "version", ver);
	ex_expect_field_prefix(c->label, buf_cstr(&out), "offsets", c->offsets);
	if (c->dwarf_error) {
		char pidstr[16];
		snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
		char *dargv[] = {TG_BIN, "dump", "-p", pidstr, "--offsets=dwarf", NULL};
		rc = ex_run_out(dargv, &out, &err);
		cr_assert(rc == 6 && strstr(buf_cstr(&err), c->dwarf_error),
			  "%s: dump --offsets=dwarf exited %d: %s", c->label, rc, buf_cstr(&err));
	}
	truth_record_and_check(c->label, fx.pid, &truth, NULL, ver);
	proc_reap(&fx);
	proc_build_clean(exe);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(c->label, "C main parked in pause()");
}

/* pyenv 3.12's shared libpython, with its DWARF. */
Test(exotic, embedded)
{
	const char *label = "embedded 3.12";
	char prefix[PATH_MAX], header[PATH_MAX], flags[4 * PATH_MAX], python[PATH_MAX];
	char lib[PATH_MAX];

	if (ex_pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    ex_skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(header, sizeof header, "%s/include/python3.12/Python.h", prefix);
	if (access(header, R_OK) != 0 && ex_skipped(label, "pyenv 3.12 has no Python.h"))
		return;
	snprintf(flags, sizeof flags,
		 "-I'%s/include/python3.12' -L'%s/lib' -Wl,--no-as-needed -lpython3.12 "
		 "-Wl,-rpath,'%s/lib'",
		 prefix, prefix, prefix);
	snprintf(python, sizeof python, "%s/bin/python3.12", prefix);
	snprintf(lib, sizeof lib, "%s/lib/libpython3.12.so.1.0", prefix);
	const struct embed_case c = {label,	flags, python, lib, "shared libpython",
				     "dwarf (", NULL};
	embed_entry(&c);
}

/* Debian's static libpython3.11 linked into the program, which is built with -g: its DWARF
 * covers only CPython's public headers, so the layouts come from the built-in table, and
 * --offsets=dwarf says why it cannot. */
Test(exotic, embedded_static)
{
	const char *label = "embedded static 3.11";
	const char *archive =
	    "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11-pic.a";
	/* the archive comes before embed.c on proc_build_c's command line: -u pulls its
	 * objects in; Debian builds zlib and pyexpat into it */
	char flags[PATH_MAX + 256];

	if ((access(archive, R_OK) != 0 || access("/usr/include/python3.11/Python.h", R_OK) != 0 ||
	     access(DEBIAN_PY, X_OK) != 0) &&
	    ex_skipped(label, "no python3.11 with libpython3.11-dev (static library, headers)"))
		return;
	if ((access("/usr/lib/x86_64-linux-gnu/libz.so", R_OK) != 0 ||
	     access("/usr/lib/x86_64-linux-gnu/libexpat.so", R_OK) != 0) &&
	    ex_skipped(label, "zlib1g-dev or libexpat1-dev is missing"))
		return;
	snprintf(flags, sizeof flags,
		 "-I/usr/include/python3.11 -Wl,-u,Py_Initialize -Wl,-u,PyRun_SimpleStringFlags "
		 "'%s' -lm -lz -lexpat -ldl",
		 archive);
	const struct embed_case c = {label,
				     flags,
				     DEBIAN_PY,
				     NULL,
				     "static executable",
				     "builtin (",
				     "has no definition of PyInterpreterState"};
	embed_entry(&c);
}
