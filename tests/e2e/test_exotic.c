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

#define DEBIAN_PY "/usr/bin/python3.11"
#define DEBIAN_PYD "/usr/bin/python3.11d"

/* ---- small helpers ---- */

static int skipped(const char *label, const char *why)
{
	fprintf(stderr, "interpreter %-22s skipped: %s\n", label, why);
	cr_skip_test("%s", why);
	return 1;
}

static void passed(const char *label, const char *what)
{
	fprintf(stderr, "interpreter %-22s passed (%s)\n", label, what);
}

static void fixture_path(const char *name, char *out, size_t len)
{
	char cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(out, len, "%s/fixtures/%s", cwd, name);
}

static void copy_file(const char *from, const char *to)
{
	char *argv[] = {"/bin/cp", (char *)from, (char *)to, NULL};
	struct buf err = BUF_INIT;

	cr_assert_eq(run_capture(argv, NULL, &err, 30), 0, "cp %s %s: %s", from, to,
		     buf_cstr(&err));
	buf_free(&err);
}

/* Run argv; its stdout into out (reset first).  Returns the exit status. */
static int run_out(char *const argv[], struct buf *out, struct buf *err)
{
	buf_reset(out);
	if (err)
		buf_reset(err);
	return run_capture(argv, out, err, 60);
}

static int tg_info(pid_t pid, const char *extra, struct buf *out, struct buf *err)
{
	char pidstr[16];

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *argv[] = {TG_BIN, "info", "-p", pidstr, (char *)extra, NULL};
	return run_out(argv, out, err);
}

/* The value of `key:` in info's output (first such line, leading blanks skipped). */
static void info_field(const char *text, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != ':')
			continue;
		const char *v = p + klen + 1;
		v += strspn(v, " ");
		snprintf(val, len, "%.*s", (int)strcspn(v, "\n"), v);
		return;
	}
	cr_assert_fail("info prints no '%s:' line:\n%s", key, text);
}

static void expect_field(const char *label, const char *text, const char *key, const char *want)
{
	char got[PATH_MAX + 64];

	info_field(text, key, got, sizeof got);
	cr_assert_str_eq(got, want, "%s: info %s is '%s', want '%s'", label, key, got, want);
}

static void expect_field_prefix(const char *label, const char *text, const char *key,
				const char *prefix)
{
	char got[PATH_MAX + 64];

	info_field(text, key, got, sizeof got);
	cr_assert(strncmp(got, prefix, strlen(prefix)) == 0,
		  "%s: info %s is '%s', want it to start with '%s'", label, key, got, prefix);
}

/* info's offsets line says DWARF from a file whose path contains `path` (a file read
 * through the build-id cache says so after the path). */
static void expect_dwarf_from(const char *label, const char *text, const char *path)
{
	char got[PATH_MAX + 64];

	info_field(text, "offsets", got, sizeof got);
	const char *hit = strstr(got, path);
	cr_assert(strncmp(got, "dwarf (", 7) == 0 && hit,
		  "%s: info offsets is '%s', want DWARF from %s", label, got, path);
	hit += strcspn(hit, " )");
	cr_assert(strcmp(hit, ")") == 0 || strcmp(hit, " (cached by build-id))") == 0,
		  "%s: info offsets is '%s'", label, got);
}

/* The interpreter's own "major.minor.micro". */
static void python_version(const char *python, char *out, size_t len)
{
	char *argv[] = {(char *)python, "-c",
			"import sys; sys.stdout.write('%d.%d.%d' % sys.version_info[:3])", NULL};
	struct buf b = BUF_INIT;

	cr_assert_eq(run_out(argv, &b, NULL), 0, "%s -c failed", python);
	snprintf(out, len, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* Value of a dynamic symbol of an ELF file according to nm. */
static uint64_t nm_symbol(const char *file, const char *sym)
{
	char *argv[] = {"/usr/bin/nm", "-D", "--defined-only", (char *)file, NULL};
	struct buf out = BUF_INIT;
	uint64_t value = 0;

	cr_assert_eq(run_out(argv, &out, NULL), 0, "nm -D %s failed", file);
	char *copy = strdup(buf_cstr(&out)), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l && !value; l = strtok_r(NULL, "\n", &save)) {
		char name[256], kind;
		unsigned long long v;
		if (sscanf(l, "%llx %c %255s", &v, &kind, name) == 3 && strcmp(name, sym) == 0)
			value = v;
	}
	free(copy);
	buf_free(&out);
	cr_assert(value, "nm finds no %s in %s", sym, file);
	return value;
}

/* Start address of the mapping of path at file offset 0 in pid, or 0. */
static uint64_t map_base(pid_t pid, const char *path)
{
	char maps[64], line[PATH_MAX + 128];
	uint64_t base = 0;

	snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(maps, "r");
	cr_assert_not_null(f, "%s: %s", maps, strerror(errno));
	while (!base && fgets(line, sizeof line, f)) {
		unsigned long long start, end, off;
		int pos = 0;
		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &off, &pos) < 3 ||
		    !pos)
			continue;
		char *p = line + pos;
		p[strcspn(p, "\n")] = '\0';
		size_t n = strlen(path);
		if (off == 0 && strncmp(p, path, n) == 0 &&
		    (p[n] == '\0' || strcmp(p + n, " (deleted)") == 0))
			base = start;
	}
	fclose(f);
	return base;
}

/* info's address of sym must be nm's value in file plus bias. */
static void expect_symbol(const char *label, const char *info, const char *file, uint64_t bias,
			  const char *sym)
{
	unsigned long long addr = 0;

	for (const char *p = strstr(info, "symbols:\n"); p; p = strchr(p + 1, '\n')) {
		char name[64];
		if (sscanf(p + 1, " %63s 0x%llx", name, &addr) == 2 && strcmp(name, sym) == 0)
			break;
		addr = 0;
	}
	uint64_t want = nm_symbol(file, sym) + bias;
	cr_assert_eq(addr, want, "%s: info says %s is at 0x%llx, nm says 0x%llx", label, sym, addr,
		     (unsigned long long)want);
}

/* Start fixtures/threads.py under python (extra environment already set). */
static void start_threads(const char *label, const char *python, const char *dir, struct proc *fx,
			  struct truth_view *truth)
{
	char fixture[PATH_MAX], truth_path[PATH_MAX];

	fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {(char *)python, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, fx, truth);
	cr_assert_eq(truth->nthreads, n, "%s: truth has %d threads, %d stay", label,
		     truth->nthreads, n);
}

static int pyenv_prefix(const char *version, char *prefix, size_t len)
{
	char python[PATH_MAX];

	if (pyenv_python(version, python, sizeof python) < 0)
		return -1;
	snprintf(prefix, len, "%.*s", (int)(strlen(python) - strlen("/bin/python")), python);
	return 0;
}

/* ---- deleted and replaced interpreters ---- */

static void build_id_of(const char *file, char *out, size_t len)
{
	char *argv[] = {"/usr/bin/readelf", "-n", (char *)file, NULL};
	struct buf b = BUF_INIT;

	cr_assert_eq(run_out(argv, &b, NULL), 0, "readelf -n %s failed", file);
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

	if (access(DEBIAN_PY, X_OK) != 0 && skipped(label, DEBIAN_PY " is not installed"))
		return;
	char *dir = temp_dir("exotic");
	snprintf(copy, sizeof copy, "%s/tgpy", dir);
	copy_file(DEBIAN_PY, copy);
	python_version(DEBIAN_PY, ver, sizeof ver);
	build_id_of(DEBIAN_PY, id, sizeof id);
	start_threads(label, copy, dir, &fx, &truth);
	if (replacement) {
		char tmp[PATH_MAX];
		snprintf(tmp, sizeof tmp, "%s.new", copy);
		copy_file(replacement, tmp);
		cr_assert_eq(rename(tmp, copy), 0, "rename: %s", strerror(errno));
	} else {
		cr_assert_eq(unlink(copy), 0, "unlink %s: %s", copy, strerror(errno));
	}

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	truth_dump_and_compare(label, fx.pid, "--offsets=builtin", &truth);
	cr_assert_eq(tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label, buf_cstr(&err));
	snprintf(want, sizeof want, "%s (deleted)", copy);
	expect_field(label, buf_cstr(&out), "interpreter", want);
	snprintf(want, sizeof want, "/proc/%d/map_files/", (int)fx.pid);
	expect_field_prefix(label, buf_cstr(&out), "opened as", want);
	expect_field(label, buf_cstr(&out), "version", ver);
	expect_field(label, buf_cstr(&out), "build", "static executable");
	expect_field(label, buf_cstr(&out), "build-id", id);
	snprintf(want, sizeof want, "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug",
		 (int)fx.pid, id, id + 2);
	expect_dwarf_from(label, buf_cstr(&out), want);
	expect_symbol(label, buf_cstr(&out), DEBIAN_PY, 0, "_PyRuntime");
	cr_assert_eq(tg_info(fx.pid, "--offsets=builtin", &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	expect_field_prefix(label, buf_cstr(&out), "offsets", "builtin (");
	info_field(buf_cstr(&out), "interpreter", val, sizeof val);
	cr_assert(strstr(val, "(deleted)"), "%s: info --offsets=builtin: %s", label, val);
	if (!replacement)
		truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, replacement ? "replaced by another ELF file" : "deleted, dwarf and builtin");
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

	if (pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(python, sizeof python, "%s/bin/python3.12", prefix);
	snprintf(lib, sizeof lib, "%s/lib/libpython3.12.so.1.0", prefix);
	if (access(lib, R_OK) != 0 && skipped(label, "pyenv 3.12 has no shared libpython"))
		return;
	char *dir = temp_dir("exotic");
	snprintf(libdir, sizeof libdir, "%s/lib", dir);
	cr_assert_eq(mkdir(libdir, 0755), 0);
	snprintf(copy, sizeof copy, "%s/libpython3.12.so.1.0", libdir);
	if (stripped) {
		char *argv[] = {"/usr/bin/strip", "-o", copy, lib, NULL};
		cr_assert_eq(run_capture(argv, NULL, NULL, 60), 0, "strip %s failed", lib);
	} else {
		copy_file(lib, copy);
	}
	python_version(python, ver, sizeof ver);
	setenv("LD_LIBRARY_PATH", libdir, 1);
	start_threads(label, python, dir, &fx, &truth);
	unsetenv("LD_LIBRARY_PATH");
	uint64_t base = map_base(fx.pid, copy);
	cr_assert(base, "%s: %s is not mapped: the copy was not used", label, copy);
	cr_assert_eq(unlink(copy), 0);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label, buf_cstr(&err));
	snprintf(want, sizeof want, "%s (deleted)", copy);
	expect_field(label, buf_cstr(&out), "interpreter", want);
	expect_field(label, buf_cstr(&out), "version", ver);
	expect_field(label, buf_cstr(&out), "build", "shared libpython");
	expect_symbol(label, buf_cstr(&out), lib, base, "_PyRuntime");
	expect_symbol(label, buf_cstr(&out), lib, base, "Py_Version");
	if (stripped) {
		expect_field_prefix(label, buf_cstr(&out), "offsets", "builtin (");
		/* --offsets=dwarf must fail, saying what it looked for */
		char pidstr[16];
		snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
		char *argv[] = {TG_BIN, "dump", "-p", pidstr, "--offsets=dwarf", NULL};
		int rc = run_out(argv, &out, &err);
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
		expect_dwarf_from(label, buf_cstr(&out), want);
		truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	}
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, stripped ? "no DWARF: builtin; --offsets=dwarf fails clearly"
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

	if (pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(python, sizeof python, "%s/bin/python3.12", prefix);
	snprintf(stub, sizeof stub, "%s/lib/libpython3.so", prefix);
	snprintf(lib, sizeof lib, "%s/lib/libpython3.12.so.1.0", prefix);
	if ((access(stub, R_OK) != 0 || access(lib, R_OK) != 0) &&
	    skipped(label, "pyenv 3.12 has no libpython3.so"))
		return;
	char *dir = temp_dir("exotic");
	fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {python, "-c", (char *)code, stub, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	uint64_t stub_at = map_base(fx.pid, stub), lib_at = map_base(fx.pid, lib);
	cr_assert(stub_at && lib_at && stub_at < lib_at,
		  "%s: libpython3.so is not mapped below libpython3.12", label);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	int rc = tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", label, rc, buf_cstr(&err));
	expect_field(label, buf_cstr(&out), "interpreter", lib);
	expect_symbol(label, buf_cstr(&out), lib, lib_at, "_PyRuntime");
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, "the stub is not the interpreter");
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

	fixture_path("embed.c", src, sizeof src);
	cr_assert_eq(proc_build_c(src, c->flags, exe, sizeof exe), 0, "%s: cc %s %s failed",
		     c->label, c->flags, src);
	python_version(c->python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	fixture_path("", fixtures, sizeof fixtures);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {exe, fixtures, truth_path, NULL};
	int n = truth_start_fixture(c->label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads, %d stay", c->label,
		     truth.nthreads, n);

	truth_dump_and_compare(c->label, fx.pid, NULL, &truth);
	int rc = tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", c->label, rc, buf_cstr(&err));
	expect_field(c->label, buf_cstr(&out), "interpreter", c->interp ? c->interp : exe);
	expect_field(c->label, buf_cstr(&out), "build", c->build);
	expect_field(c->label, buf_cstr(&out), "version", ver);
	expect_field_prefix(c->label, buf_cstr(&out), "offsets", c->offsets);
	if (c->dwarf_error) {
		char pidstr[16];
		snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
		char *dargv[] = {TG_BIN, "dump", "-p", pidstr, "--offsets=dwarf", NULL};
		rc = run_out(dargv, &out, &err);
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
	passed(c->label, "C main parked in pause()");
}

/* pyenv 3.12's shared libpython, with its DWARF. */
Test(exotic, embedded)
{
	const char *label = "embedded 3.12";
	char prefix[PATH_MAX], header[PATH_MAX], flags[4 * PATH_MAX], python[PATH_MAX];
	char lib[PATH_MAX];

	if (pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    skipped(label, "no pyenv 3.12.x installed"))
		return;
	snprintf(header, sizeof header, "%s/include/python3.12/Python.h", prefix);
	if (access(header, R_OK) != 0 && skipped(label, "pyenv 3.12 has no Python.h"))
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
	    skipped(label, "no python3.11 with libpython3.11-dev (static library, headers)"))
		return;
	if ((access("/usr/lib/x86_64-linux-gnu/libz.so", R_OK) != 0 ||
	     access("/usr/lib/x86_64-linux-gnu/libexpat.so", R_OK) != 0) &&
	    skipped(label, "zlib1g-dev or libexpat1-dev is missing"))
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

/* ---- sub-interpreters ---- */

static void subinterp_entry(const char *version)
{
	char label[64], python[PATH_MAX], fixture[PATH_MAX], truth_path[PATH_MAX], ver[32];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(label, sizeof label, "subinterp %sx", version);
	if (pyenv_python(version, python, sizeof python) < 0) {
		char why[64];
		snprintf(why, sizeof why, "no pyenv %sx installed", version);
		skipped(label, why);
		return;
	}
	python_version(python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	fixture_path("subinterp.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {python, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(n, 3, "%s: %d threads stay", label, n);
	cr_assert_eq(truth.nthreads, 4, "%s: truth has %d thread states", label, truth.nthreads);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label, buf_cstr(&err));
	expect_field(label, buf_cstr(&out), "interpreters", "2");
	expect_field(label, buf_cstr(&out), "threads", "4");
	truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, "threads of both interpreters");
}

Test(exotic, subinterp_3_12)
{
	subinterp_entry("3.12.");
}
Test(exotic, subinterp_3_13)
{
	subinterp_entry("3.13.");
}

/* Replay a thread's calls (.stack) and returns (.mem) in time order: every call must be at
 * the depth of the frames open, every return must be of the innermost open frame.  At
 * equal times a sample's returns come before its calls, but the returns of a thread that
 * ended carry the time it was last seen, when it may have made calls: so a return is
 * taken first only when it is of the innermost open frame. */
struct event {
	double t;
	int depth; /* -1 for a return */
	char where[512];
};

static int read_events(const char *path, int returns, struct event *ev, int max)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof line, f)) {
		struct event *e = &ev[n];
		int depth = (int)strspn(line, " ");
		char *hash = strchr(line, '#');
		cr_assert_not_null(hash, "%s: bad line %s", path, line);
		e->t = atof(line + depth);
		e->depth = returns ? -1 : depth;
		char *rest = hash + 1;
		rest[strcspn(rest, returns ? "=" : "\n")] = '\0';
		/* FILE:LINE:FUNC -> FILE:FUNC (a return carries the last line seen) */
		char *c1 = strchr(rest, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		cr_assert(c1 && c2, "%s: bad line %s", path, line);
		snprintf(e->where, sizeof e->where, "%.*s%s", (int)(c1 - rest + 1), rest, c2 + 1);
		n++;
	}
	fclose(f);
	return n;
}

static void check_pairing(const char *dir, const char *base)
{
	enum { MAXEV = 8192 };
	char path[PATH_MAX];
	static struct event calls[MAXEV], rets[MAXEV];
	static char open[256][512];
	int nopen = 0;

	snprintf(path, sizeof path, "%s/%s.stack", dir, base);
	int nc = read_events(path, 0, calls, MAXEV);
	snprintf(path, sizeof path, "%s/%s.mem", dir, base);
	int nr = read_events(path, 1, rets, MAXEV);
	for (int i = 0, k = 0; i < nc || k < nr;) {
		int tie = k < nr && i < nc && rets[k].t == calls[i].t;
		if (k < nr && (i >= nc || rets[k].t < calls[i].t ||
			       (tie && nopen > 0 && strcmp(open[nopen - 1], rets[k].where) == 0))) {
			cr_assert(nopen > 0 && strcmp(open[nopen - 1], rets[k].where) == 0,
				  "%s: return of %s at %.6f, innermost open frame %s", base,
				  rets[k].where, rets[k].t, nopen ? open[nopen - 1] : "(none)");
			nopen--;
			k++;
		} else {
			cr_assert_eq(calls[i].depth, nopen,
				     "%s: call of %s at %.6f at depth %d with %d frames open", base,
				     calls[i].where, calls[i].t, calls[i].depth, nopen);
			cr_assert(nopen < 256);
			snprintf(open[nopen++], sizeof open[0], "%s", calls[i].where);
			i++;
		}
	}
}

/* Thread states of a sub-interpreter that come and go (3.13 makes one per run_string())
 * on a thread that also has one in the main interpreter: each must have its own files,
 * whose calls and returns pair up. */
Test(exotic, subinterp_churn)
{
	const char *label = "subinterp churn 3.13";
	char python[PATH_MAX], fixture[PATH_MAX], pidstr[16], sub[PATH_MAX];
	struct proc fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	int nfiles = 0, churner = 0;

	if (pyenv_python("3.13.", python, sizeof python) < 0 &&
	    skipped(label, "no pyenv 3.13.x installed"))
		return;
	fixture_path("subinterp.py", fixture, sizeof fixture);
	char *fargv[] = {python, fixture, "--churn", NULL};
	cr_assert_eq(proc_spawn(&fx, fargv), 0, "%s: %s", label, strerror(errno));
	cr_assert_eq(proc_wait_line(&fx, "READY", NULL, 0, 30000), 0, "%s: fixture did not start",
		     label);
	char *dir = temp_dir("exotic");
	snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "1.5", "-r", "100", "-q", NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: record exited %d: %.400s", label, rc, buf_cstr(&err));
	cr_assert(proc_all_untraced_running(fx.pid), "%s: left traced or stopped", label);
	snprintf(sub, sizeof sub, "%s/%d", dir, (int)fx.pid);
	DIR *d = opendir(sub);
	cr_assert_not_null(d, "%s: %s missing", label, sub);
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 6, ".stack") != 0)
			continue;
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(len - 6), de->d_name);
		check_pairing(sub, base);
		nfiles++;
		churner += strcmp(base, "churner") == 0;
	}
	closedir(d);
	cr_assert(churner, "%s: no churner.stack", label);
	cr_assert(nfiles >= 3, "%s: only %d .stack files", label, nfiles);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, "thread states coming and going");
}

/* ---- another mount namespace ---- */

/* Python started from a bind mount that exists only in its own mount namespace: the paths
 * in /proc/PID/maps resolve only through /proc/PID/root. */
Test(exotic, mount_namespace)
{
	const char *label = "pyenv 3.12 in mount ns";
	const char *script = "mount -t tmpfs tgattach-test /opt && mkdir /opt/tgpy && "
			     "mount --bind \"$1\" /opt/tgpy && "
			     "LD_LIBRARY_PATH=/opt/tgpy/lib exec /opt/tgpy/bin/python3.12 \"$2\" "
			     "\"$3\"";
	const char *lib = "/opt/tgpy/lib/libpython3.12.so.1.0";
	char prefix[PATH_MAX], fixture[PATH_MAX], truth_path[PATH_MAX], want[PATH_MAX + 64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    skipped(label, "no pyenv 3.12.x installed"))
		return;
	if (geteuid() != 0 && skipped(label, "unshare --mount needs root"))
		return;
	if (access("/opt", F_OK) != 0 && skipped(label, "no /opt to mount over"))
		return;
	if (access(lib, F_OK) == 0 && skipped(label, "/opt/tgpy exists on this host"))
		return;
	char *probe[] = {"/usr/bin/unshare", "--mount", "/bin/true", NULL};
	if (run_capture(probe, NULL, &err, 10) != 0 &&
	    skipped(label, "unshare --mount does not work here"))
		return;
	char *dir = temp_dir("exotic");
	fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {
	    "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh",  "-c",
	    (char *)script,	"sh",	   prefix,	    fixture,   truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	cr_assert(map_base(fx.pid, lib), "%s: %s is not mapped in the target", label, lib);
	cr_assert_neq(access(lib, F_OK), 0, "%s: %s is visible on the host", label, lib);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label, buf_cstr(&err));
	expect_field(label, buf_cstr(&out), "interpreter", lib);
	snprintf(want, sizeof want, "/proc/%d/root%s", (int)fx.pid, lib);
	expect_field(label, buf_cstr(&out), "opened as", want);
	snprintf(want, sizeof want, "/proc/%d/root%s", (int)fx.pid, lib);
	expect_dwarf_from(label, buf_cstr(&out), want);
	truth_record_and_check(label, fx.pid, &truth, NULL, NULL);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	passed(label, "read through /proc/PID/root");
}

/* ---- info ---- */

enum info_offsets { INFO_DWARF_IMAGE, INFO_DWARF_BUILD_ID, INFO_BUILTIN };

/* The offsets line: DWARF from the interpreter file itself, or from the detached debug
 * file named by its build-id (both through /proc/PID/root), or the built-in table. */
static void expect_offsets(const char *label, const char *text, pid_t pid, enum info_offsets kind)
{
	char image[PATH_MAX], id[64], want[2 * PATH_MAX];

	info_field(text, "interpreter", image, sizeof image);
	info_field(text, "build-id", id, sizeof id);
	if (kind == INFO_BUILTIN) {
		expect_field_prefix(label, text, "offsets", "builtin (built-in table from ");
		return;
	}
	if (kind == INFO_DWARF_IMAGE)
		snprintf(want, sizeof want, "/proc/%d/root%s", (int)pid, image);
	else
		snprintf(want, sizeof want, "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug",
			 (int)pid, id, id + 2);
	expect_dwarf_from(label, text, want);
}

/* Every field info prints, for threads.py under python: path, exact version, build,
 * offsets source, symbol addresses (nm's plus the load bias), threads with their names. */
static void info_entry(const char *label, const char *python, const char *extra, const char *build,
		       enum info_offsets offsets)
{
	char ver[32], val[PATH_MAX + 64], want[PATH_MAX + 64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access(python, X_OK) != 0) {
		snprintf(want, sizeof want, "%s is not installed", python);
		skipped(label, want);
		return;
	}
	python_version(python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	start_threads(label, python, dir, &fx, &truth);
	int rc = tg_info(fx.pid, extra, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", label, rc, buf_cstr(&err));
	const char *text = buf_cstr(&out);
	snprintf(want, sizeof want, "%d", (int)fx.pid);
	expect_field(label, text, "pid", want);
	expect_field(label, text, "version", ver);
	expect_field(label, text, "build", build);
	expect_offsets(label, text, fx.pid, offsets);
	info_field(text, "interpreter", val, sizeof val);
	int shared = strncmp(build, "shared", 6) == 0;
	uint64_t bias = shared ? map_base(fx.pid, val) : 0;
	cr_assert(!shared || bias, "%s: %s not mapped", label, val);
	if (!shared) { /* Debian's are not PIE */
		cr_assert_str_eq(val, python, "%s: interpreter", label);
		expect_field(label, text, "load bias", "0x0");
	}
	expect_symbol(label, text, val, bias, "_PyRuntime");
	expect_symbol(label, text, val, bias, "PyCode_Type");
	expect_symbol(label, text, val, bias, "Py_Version");
	snprintf(want, sizeof want, "%d", truth.nthreads);
	expect_field(label, text, "threads", want);
	for (int i = 0; i < truth.nthreads; i++) {
		snprintf(want, sizeof want, "TID %-8ld", truth.threads[i].native);
		const char *line = strstr(text, want);
		cr_assert_not_null(line, "%s: info lists no %s", label, want);
		const char *name = strstr(line, truth.threads[i].name);
		cr_assert(name && name < strchr(line, '\n'), "%s: %s is not named %s", label, want,
			  truth.threads[i].name);
	}
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	snprintf(want, sizeof want, "info: %s, %s", ver, build);
	passed(label, want);
}

Test(exotic, info_pyenv_shared)
{
	char python[PATH_MAX];

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    skipped("info pyenv 3.12", "no pyenv 3.12.x installed"))
		return;
	info_entry("info pyenv 3.12", python, NULL, "shared libpython", INFO_DWARF_IMAGE);
}

Test(exotic, info_debian_static)
{
	info_entry("info debian 3.11", DEBIAN_PY, NULL, "static executable", INFO_DWARF_BUILD_ID);
}

Test(exotic, info_debian_builtin)
{
	info_entry("info debian 3.11 builtin", DEBIAN_PY, "--offsets=builtin", "static executable",
		   INFO_BUILTIN);
}

Test(exotic, info_debian_debug)
{
	info_entry("info debian 3.11d", DEBIAN_PYD, NULL, "static executable, debug (Py_DEBUG)",
		   INFO_DWARF_IMAGE);
}

/* The exact version of every installed pyenv build, 2.7 to 3.10 included (no Py_Version
 * there: read from the target's sys.version). */
Test(exotic, info_exact_versions)
{
	static const char *const versions[] = {"2.7.",	"3.6.",	 "3.7.",  "3.8.", "3.9.",
					       "3.10.", "3.11.", "3.12.", "3.13."};
	const char *code = "import sys, time\n"
			   "sys.stdout.write('V %d.%d.%d\\n' % sys.version_info[:3])\n"
			   "sys.stdout.flush()\n"
			   "time.sleep(60)\n";
	char python[PATH_MAX], list[512] = "";
	struct buf out = BUF_INIT, err = BUF_INIT;

	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		struct proc fx;
		if (pyenv_python(versions[i], python, sizeof python) < 0)
			continue;
		char *argv[] = {python, "-c", (char *)code, NULL};
		char line[64];
		cr_assert_eq(proc_spawn(&fx, argv), 0, "%s: %s", python, strerror(errno));
		cr_assert_eq(proc_wait_line(&fx, "V ", line, sizeof line, 30000), 0,
			     "%s did not start", python);
		cr_assert_eq(tg_info(fx.pid, NULL, &out, &err), 0, "info on %s: %s", python,
			     buf_cstr(&err));
		expect_field(python, buf_cstr(&out), "version", line + 2);
		proc_reap(&fx);
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? " " : "",
			 line + 2);
	}
	if (!*list && skipped("info exact versions", "no pyenv build installed"))
		return;
	buf_free(&out);
	buf_free(&err);
	passed("info exact versions", list);
}

/* A process that is not Python: exit 5, naming what was looked for and where. */
Test(exotic, info_not_python)
{
	struct proc fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *argv[] = {"/bin/sh", "-c", "echo READY; exec sleep 60", NULL};

	cr_assert_eq(proc_spawn(&fx, argv), 0);
	cr_assert_eq(proc_wait_line(&fx, "READY", NULL, 0, 10000), 0);
	usleep(100000); /* let sh exec sleep */
	int rc = tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 5, "info on sleep exited %d: %s", rc, buf_cstr(&err));
	const char *msg = buf_cstr(&err);
	cr_assert(strstr(msg, "is not Python") && strstr(msg, "libpython") &&
		      strstr(msg, "Py_Initialize") && strstr(msg, "sleep"),
		  "info on sleep says: %s", msg);
	cr_assert_eq(strchr(msg, '\n'), msg + strlen(msg) - 1, "not one line: %s", msg);
	cr_assert_eq(buf_cstr(&out)[0], '\0', "info printed on stdout: %s", buf_cstr(&out));
	proc_reap(&fx);
	buf_free(&out);
	buf_free(&err);
}
