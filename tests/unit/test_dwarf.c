/* symbols/dwarf.c against the real interpreters of this machine, and the generated built-in
 * tables (symbols/offsets_builtin.c) against what DWARF says today. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symbols/dwarf.h"
#include "symbols/elfimg.h"
#include "symbols/offsets.h"
#include "tests/unit/roots_util.h"

#define DEB_PY "/usr/bin/python3.11"
#define DEB_PYD "/usr/bin/python3.11d"

/* First line of a shell command's output, "" when it fails. */
static void run_line(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");

	out[0] = '\0';
	if (!p)
		return;
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (pclose(p) != 0)
		out[0] = '\0';
}

static void pyenv_root(char *out, size_t len)
{
	const char *r = getenv("PYENV_ROOT"), *home = getenv("HOME");

	if (r && r[0])
		snprintf(out, len, "%s", r);
	else
		snprintf(out, len, "%s/.pyenv", home ? home : "/root");
}

/* Prefix of a pyenv version: `pyenv prefix`, else PYENV_ROOT/versions/V. */
static int pyenv_prefix(const char *version, char *out, size_t len)
{
	char cmd[256], root[PATH_MAX];

	snprintf(cmd, sizeof cmd, "pyenv prefix %s 2>/dev/null", version);
	run_line(cmd, out, len);
	if (out[0] && access(out, F_OK) == 0)
		return 0;
	pyenv_root(root, sizeof root);
	snprintf(out, len, "%s/versions/%s", root, version);
	return access(out, F_OK) == 0 ? 0 : -1;
}

/* The shared libpython of a pyenv version (PREFIX/lib/libpython*.so.1.0). */
static int pyenv_libpython(const char *version, char *out, size_t len)
{
	char prefix[PATH_MAX], dir[PATH_MAX + 8];
	struct dirent *e;
	DIR *d;
	int rc = -1;

	if (pyenv_prefix(version, prefix, sizeof prefix) < 0)
		return -1;
	snprintf(dir, sizeof dir, "%s/lib", prefix);
	if (!(d = opendir(dir)))
		return -1;
	while (rc < 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (strncmp(e->d_name, "libpython", 9) == 0 && n > 7 &&
		    strcmp(e->d_name + n - 7, ".so.1.0") == 0) {
			snprintf(out, len, "%s/%s", dir, e->d_name);
			rc = 0;
		}
	}
	closedir(d);
	return rc;
}

/* Ask an interpreter for (major, minor, Py_DEBUG). */
static int interp_version(const char *python, int *major, int *minor, int *debug)
{
	char cmd[PATH_MAX + 200], line[64];

	snprintf(cmd, sizeof cmd,
		 "'%s' -c 'import sys; print(\"%%d %%d %%d\" %% (sys.version_info[0], "
		 "sys.version_info[1], hasattr(sys, \"gettotalrefcount\")))' 2>/dev/null",
		 python);
	run_line(cmd, line, sizeof line);
	return sscanf(line, "%d %d %d", major, minor, debug) == 3 ? 0 : -1;
}

/* The built-in table for the build must equal what its DWARF says, field by field (a
 * version may have several tables, one per patch release with its own layout: one of them
 * must match; the differences of the closest are reported). */
static void check_builtin_matches(const char *what, const char *dwarf_path, int major, int minor,
				  int debug)
{
	struct py_offsets off;
	struct tg_err err = {0};
	const struct py_builtin_table *t = NULL;
	size_t best = (size_t)-1;

	cr_assert_eq(dwarf_read_offsets(dwarf_path, &off, &err), 0, "%s: %s", what, err.msg);
	for (size_t k = 0; k < py_builtin_ntables; k++) {
		const struct py_builtin_table *c = &py_builtin_tables[k];
		size_t differ = 0;
		if (c->major != major || c->minor != minor || c->debug_abi != debug)
			continue;
		for (size_t i = 0; i < py_offset_ndescs; i++)
			differ += py_offsets_get(&c->off, &py_offset_descs[i]) !=
				  py_offsets_get(&off, &py_offset_descs[i]);
		if (differ < best) {
			best = differ;
			t = c;
		}
	}
	cr_assert_not_null(t, "%s: no built-in table for %d.%d%s: run `make offsets`", what, major,
			   minor, debug ? "d" : "");
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		const struct py_offset_desc *d = &py_offset_descs[i];
		cr_expect_eq(py_offsets_get(&t->off, d), py_offsets_get(&off, d),
			     "%s: field %s (%s %s): built-in table (%s) has %d, DWARF of %s has %d",
			     what, d->field, d->type, d->path ? d->path : "sizeof", t->source,
			     (int)py_offsets_get(&t->off, d), dwarf_path,
			     (int)py_offsets_get(&off, d));
	}
}

static void read_pyenv(const char *version, struct py_offsets *off, char *lib, size_t len)
{
	struct tg_err err = {0};

	if (pyenv_libpython(version, lib, len) < 0)
		cr_skip_test("pyenv %s is not installed (no PREFIX/lib/libpython*.so.1.0)",
			     version);
	cr_assert_eq(dwarf_read_offsets(lib, off, &err), 0, "%s: %s", lib, err.msg);
}

Test(dwarf, builtin_tables_match_every_pyenv_build)
{
	char line[128], lib[PATH_MAX], prefix[PATH_MAX], python[PATH_MAX + 16], root[PATH_MAX],
	    cmd[PATH_MAX + 100];
	int checked = 0;
	FILE *p;

	pyenv_root(root, sizeof root);
	snprintf(cmd, sizeof cmd,
		 "pyenv versions --bare 2>/dev/null || ls '%s/versions' 2>/dev/null", root);
	p = popen(cmd, "r");

	if (!p)
		cr_skip_test("cannot run pyenv: %s", strerror(errno));
	while (fgets(line, sizeof line, p)) {
		int major, minor, debug;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || pyenv_libpython(line, lib, sizeof lib) < 0 ||
		    pyenv_prefix(line, prefix, sizeof prefix) < 0)
			continue;
		snprintf(python, sizeof python, "%s/bin/python", prefix);
		cr_assert_eq(interp_version(python, &major, &minor, &debug), 0,
			     "pyenv %s: %s does not run", line, python);
		check_builtin_matches(line, lib, major, minor, debug);
		checked++;
	}
	pclose(p);
	if (!checked)
		cr_skip_test("no pyenv build with a shared libpython is installed");
}

Test(dwarf, builtin_table_matches_debian_python311)
{
	char dbg[PATH_MAX];
	int major, minor, debug;

	if (access(DEB_PY, X_OK) != 0)
		cr_skip_test(DEB_PY " is not installed");
	if (roots_host_debug_file(dbg, sizeof dbg) < 0)
		cr_skip_test("no debug file for " DEB_PY " (install python3.11-dbg)");
	cr_assert_eq(interp_version(DEB_PY, &major, &minor, &debug), 0);
	check_builtin_matches(DEB_PY, dbg, major, minor, debug);
}

Test(dwarf, builtin_table_matches_debian_python311d)
{
	int major, minor, debug;

	if (access(DEB_PYD, X_OK) != 0)
		cr_skip_test(DEB_PYD " is not installed");
	cr_assert_eq(interp_version(DEB_PYD, &major, &minor, &debug), 0);
	cr_assert_eq(debug, 1, DEB_PYD " should be a Py_DEBUG build");
	check_builtin_matches(DEB_PYD, DEB_PYD, major, minor, debug);
}

/* Spot checks against Appendix A of the reference notes (numbers measured with gdb). */
Test(dwarf, pyenv_311_known_values)
{
	struct py_offsets o;
	char lib[PATH_MAX];

	read_pyenv("3.11.7", &o, lib, sizeof lib);
	cr_expect_eq(o.ts_native_id, 160);
	cr_expect_eq(o.ts_thread_id, 152);
	cr_expect_eq(o.rt_size, 166688);
	cr_expect_eq(o.rt_gil_locked, 376);
	cr_expect_eq(o.rt_tstate_current, 576);
	cr_expect_eq(o.is_tstate_head, 16);
	cr_expect_eq(o.ts_cframe, 56);
	cr_expect_eq(o.cf_current_frame, 8);
	cr_expect_eq(o.if_code, 32);
	cr_expect_eq(o.if_instr, 56);
	cr_expect_eq(o.if_owner, 69);
	cr_expect_eq(o.co_code_adaptive, 184);
	cr_expect_eq(o.u_ascii_size, 48);
	cr_expect_eq(o.u_ready_bit, 7);
	cr_expect_eq(o.ts_current_frame, OFFSET_ABSENT);
	cr_expect_eq(o.is_gil_ptr, OFFSET_ABSENT);
}

Test(dwarf, pyenv_312_known_values)
{
	struct py_offsets o;
	char lib[PATH_MAX];

	read_pyenv("3.12.1", &o, lib, sizeof lib);
	cr_expect_eq(o.u_ascii_size, 40);
	cr_expect_eq(o.u_compact_size, 56);
	cr_expect_eq(o.u_data_any, 56);
	cr_expect_eq(o.u_kind_bit, 2);
	cr_expect_eq(o.u_compact_bit, 5);
	cr_expect_eq(o.u_ascii_bit, 6);
	cr_expect_eq(o.u_ready_bit, OFFSET_ABSENT, "3.12 dropped state.ready");
	cr_expect_eq(o.is_gil_ptr, 384);
	cr_expect_eq(o.is_modules, 944, "imports.modules via the '|' alternative");
	cr_expect_eq(o.is_tstate_head, 72);
	cr_expect_eq(o.is_obmalloc, 3960);
	cr_expect_eq(o.gil_locked, 16, "through _Py_atomic_int");
	cr_expect_eq(o.gil_holder, 8);
	cr_expect_eq(o.long_tag, 16);
	cr_expect_eq(o.long_digit, 24, "long_value.ob_digit via the '|' alternative");
	cr_expect_eq(o.cf_current_frame, 0);
	cr_expect_eq(o.if_owner, 70);
	cr_expect_eq(o.ts_status, 24);
	cr_expect_eq(o.om_raw_blocks, 1088);
	cr_expect_eq(o.rt_size, 459944);
}

Test(dwarf, pyenv_313_known_values)
{
	struct py_offsets o;
	char lib[PATH_MAX];

	read_pyenv("3.13.0", &o, lib, sizeof lib);
	cr_expect_eq(o.is_next, 7264);
	cr_expect_eq(o.is_tstate_head, 7344);
	cr_expect_eq(o.is_id, 7272);
	cr_expect_eq(o.is_modules, 7656);
	cr_expect_eq(o.is_sysdict, 7640);
	cr_expect_eq(o.is_gil_ptr, 16);
	cr_expect_eq(o.rt_interp_head, 632);
	cr_expect_eq(o.rt_main_interp, 88352);
	cr_expect_eq(o.rt_debug_offsets, 0);
	cr_expect_eq(o.ts_current_frame, 72);
	cr_expect_eq(o.ts_cframe, OFFSET_ABSENT);
	cr_expect_eq(o.if_code, 0, "f_executable via the '|' alternative");
	cr_expect_eq(o.if_instr, 56, "instr_ptr via the '|' alternative");
	cr_expect_eq(o.dv_values, 8);
	cr_expect_eq(o.dv_valid, 3);
	cr_expect_eq(o.co_code_adaptive, 200);
	cr_expect_eq(o.rt_size, 283320);
}

Test(dwarf, pyenv_27_and_36_known_values)
{
	struct py_offsets o;
	char lib[PATH_MAX];

	read_pyenv("2.7.18", &o, lib, sizeof lib);
	cr_expect_eq(o.str27_sval, 36);
	cr_expect_eq(o.u27_str, 24);
	cr_expect_eq(o.d27_mask, 32);
	cr_expect_eq(o.d27_table, 40);
	cr_expect_eq(o.fo_lasti, 120);
	cr_expect_eq(o.co_linetable, 104, "co_lnotab via the '|' alternative");
	cr_expect_eq(o.is_size, 80);
	cr_expect_eq(o.gc_head_size, 32);
	cr_expect_eq(o.rt_size, OFFSET_ABSENT, "2.7 has no _PyRuntime");
	read_pyenv("3.6.15", &o, lib, sizeof lib);
	cr_expect_eq(o.ts_size, 2272);
	cr_expect_eq(o.ht_cached_keys, 856);
	cr_expect_eq(o.u_ascii_size, 48);
	cr_expect_eq(o.u_ready_bit, 7);
}

Test(dwarf, pyenv_37_to_310_known_values)
{
	struct py_offsets o;
	char lib[PATH_MAX];

	read_pyenv("3.7.16", &o, lib, sizeof lib);
	cr_expect_eq(o.rt_interp_head, 24);
	cr_expect_eq(o.rt_gil_locked, 1280);
	cr_expect_eq(o.gc_head_size, 32);
	read_pyenv("3.8.18", &o, lib, sizeof lib);
	cr_expect_eq(o.rt_size, 1464);
	cr_expect_eq(o.gc_head_size, 16);
	read_pyenv("3.9.18", &o, lib, sizeof lib);
	cr_expect_eq(o.is_modules, 856);
	cr_expect_eq(o.rt_tstate_current, 568);
	read_pyenv("3.10.13", &o, lib, sizeof lib);
	cr_expect_eq(o.ts_cframe, 48);
	cr_expect_eq(o.fo_lasti, 96);
	cr_expect_eq(o.is_size, 113528);
	cr_expect_eq(o.co_linetable, 120);
}

Test(dwarf, debian_311_equals_appendix_values)
{
	struct py_offsets o;
	struct tg_err err = {0};
	char dbg[PATH_MAX];

	if (access(DEB_PY, F_OK) != 0)
		cr_skip_test(DEB_PY " is not installed");
	if (roots_host_debug_file(dbg, sizeof dbg) < 0)
		cr_skip_test("no debug file for " DEB_PY " (install python3.11-dbg)");
	cr_assert_eq(dwarf_read_offsets(dbg, &o, &err), 0, "%s", err.msg);
	cr_expect_eq(o.ts_native_id, 160);
	cr_expect_eq(o.rt_size, 166688);
	cr_expect_eq(o.if_owner, 69);
	cr_expect_eq(o.rt_interp_head, 40);
}

Test(dwarf, read_offsets_rejects_files_without_python_dwarf)
{
	struct py_offsets o;
	struct tg_err err = {0};

	cr_assert_eq(dwarf_read_offsets("/nonexistent/libpython9.9.so", &o, &err), -1);
	cr_expect_eq(err.code, TG_E_LAYOUT);
	cr_expect(strstr(err.msg, "/nonexistent/libpython9.9.so") != NULL, "%s", err.msg);
	cr_expect(strchr(err.msg, '\n') == NULL);

	if (access(DEB_PY, F_OK) == 0) {
		cr_assert_eq(dwarf_read_offsets(DEB_PY, &o, &err), -1, "stripped: no DWARF");
		cr_expect(strstr(err.msg, DEB_PY) != NULL, "%s", err.msg);
		cr_expect_eq(o.ts_size, OFFSET_ABSENT);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A full attach reads DWARF once; it must stay well under a second (even under ASan). */
Test(dwarf, read_offsets_is_fast)
{
	struct py_offsets o;
	struct tg_err err = {0};
	char lib[PATH_MAX];
	double t0, dt;

	if (pyenv_libpython("3.13.0", lib, sizeof lib) < 0)
		cr_skip_test("pyenv 3.13.0 is not installed");
	t0 = now();
	cr_assert_eq(dwarf_read_offsets(lib, &o, &err), 0, "%s", err.msg);
	dt = now() - t0;
	cr_expect_lt(dt, 1.0, "dwarf_read_offsets(%s) took %.3f s", lib, dt);
}

Test(dwarf, read_enum_frame_owner)
{
	struct tg_err err = {0};
	char lib[PATH_MAX];
	long v = -1;

	if (pyenv_libpython("3.12.1", lib, sizeof lib) < 0)
		cr_skip_test("pyenv 3.12.1 is not installed");
	cr_assert_eq(dwarf_read_enum(lib, "FRAME_OWNED_BY_CSTACK", &v, &err), 0, "%s", err.msg);
	cr_expect_eq(v, 3);
	cr_assert_eq(dwarf_read_enum(lib, "FRAME_OWNED_BY_GENERATOR", &v, &err), 0, "%s", err.msg);
	cr_expect_eq(v, 1);
	cr_expect_eq(dwarf_read_enum(lib, "NO_SUCH_ENUMERATOR_X", &v, &err), -1);
	cr_expect(strstr(err.msg, "NO_SUCH_ENUMERATOR_X") != NULL, "%s", err.msg);
}

/* ---- a fixture shaped like CPython, compiled here with every DWARF version ---- */

/* clang-format off */
#define FIX_STR_(...) #__VA_ARGS__
#define FIX_STR(...) FIX_STR_(__VA_ARGS__)

/* Translation unit A: the typedef names, but struct _ts only declared (as in CPython files
 * that never include the internal headers). */
#define FIX_UNIT_A                                                                         \
	typedef struct {                                                                   \
		long ob_refcnt;                                                            \
		void *ob_type;                                                             \
	} PyObject;                                                                        \
	typedef struct {                                                                   \
		PyObject ob_base;                                                          \
		long ob_size;                                                              \
	} PyVarObject;                                                                     \
	typedef struct {                                                                   \
		PyVarObject ob_base;                                                       \
		int co_flags;                                                              \
		int co_firstlineno;                                                        \
		void *co_filename;                                                         \
		void *co_lnotab;                                                           \
	} PyCodeObject;                                                                    \
	typedef struct {                                                                   \
		PyObject ob_base;                                                          \
		long length;                                                               \
		long hash;                                                                 \
		struct {                                                                   \
			unsigned int interned : 2;                                         \
			unsigned int kind : 3;                                             \
			unsigned int compact : 1;                                          \
			unsigned int ascii : 1;                                            \
			unsigned int ready : 1;                                            \
		} state;                                                                   \
	} PyASCIIObject;                                                                   \
	struct pythreads {                                                                 \
		long count;                                                                \
		void *head;                                                                \
	};                                                                                 \
	typedef struct _is {                                                               \
		struct _is *next;                                                          \
		const volatile _Atomic(struct pythreads) threads;                          \
		struct {                                                                   \
			void *importlib;                                                   \
			void *modules;                                                     \
		} imports;                                                                 \
	} PyInterpreterState;                                                              \
	struct _ts;                                                                        \
	typedef struct _ts PyThreadState;

/* Translation unit B: struct _ts in full, with no typedef in sight. */
#define FIX_UNIT_B                                                                         \
	struct _ts {                                                                       \
		struct _ts *prev;                                                          \
		struct _ts *next;                                                          \
		void *interp;                                                              \
		union {                                                                    \
			struct {                                                           \
				char pad;                                                  \
				unsigned long thread_id;                                   \
			};                                                                 \
			double d;                                                          \
		};                                                                         \
		const volatile _Atomic unsigned long native_thread_id;                     \
	};

FIX_UNIT_A
FIX_UNIT_B
/* clang-format on */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void check_fixture(const char *so, int version)
{
	struct py_offsets o;
	struct tg_err err = {0};

	cr_assert_eq(dwarf_read_offsets(so, &o, &err), 0, "DWARF %d: %s", version, err.msg);
	cr_expect_eq(o.ts_size, (int32_t)sizeof(struct _ts),
		     "DWARF %d: typedef to a declaration, struct defined in another unit", version);
	cr_expect_eq(o.ts_next, (int32_t)offsetof(struct _ts, next), "DWARF %d", version);
	cr_expect_eq(o.ts_thread_id, (int32_t)offsetof(struct _ts, thread_id),
		     "DWARF %d: through an anonymous union and struct", version);
	cr_expect_eq(o.ts_native_id, (int32_t)offsetof(struct _ts, native_thread_id), "DWARF %d",
		     version);
	cr_expect_eq(o.is_next, 0, "DWARF %d", version);
	cr_expect_eq(o.is_tstate_head, (int32_t)offsetof(PyInterpreterState, threads.head),
		     "DWARF %d: through const volatile _Atomic", version);
	cr_expect_eq(o.is_modules, (int32_t)offsetof(PyInterpreterState, imports.modules),
		     "DWARF %d: second alternative", version);
	cr_expect_eq(o.co_size, (int32_t)sizeof(PyCodeObject), "DWARF %d", version);
	cr_expect_eq(o.co_nunits, (int32_t)offsetof(PyCodeObject, ob_base.ob_size), "DWARF %d",
		     version);
	cr_expect_eq(o.co_firstlineno, (int32_t)offsetof(PyCodeObject, co_firstlineno), "DWARF %d",
		     version);
	cr_expect_eq(o.co_linetable, (int32_t)offsetof(PyCodeObject, co_lnotab), "DWARF %d",
		     version);
	cr_expect_eq(o.co_qualname, OFFSET_ABSENT, "DWARF %d", version);
	cr_expect_eq(o.u_state, (int32_t)offsetof(PyASCIIObject, state), "DWARF %d", version);
	cr_expect_eq(o.u_ascii_size, (int32_t)sizeof(PyASCIIObject), "DWARF %d", version);
	cr_expect_eq(o.u_kind_bit, 2, "DWARF %d", version);
	cr_expect_eq(o.u_compact_bit, 5, "DWARF %d", version);
	cr_expect_eq(o.u_ascii_bit, 6, "DWARF %d", version);
	cr_expect_eq(o.u_ready_bit, 7, "DWARF %d", version);
	cr_expect_eq(o.ob_type, (int32_t)offsetof(PyObject, ob_type), "DWARF %d", version);
	cr_expect_eq(o.rt_size, OFFSET_ABSENT, "DWARF %d: no such type", version);
	cr_expect_eq(o.d_used, OFFSET_ABSENT, "DWARF %d: no such type", version);
}

Test(dwarf, fixture_layouts_in_every_dwarf_version)
{
	char dir[] = "/tmp/tg-dwarf-fix-XXXXXX", a[64], b[64], so[64], cmd[512];

	if (system("gcc --version >/dev/null 2>&1") != 0)
		cr_skip_test("gcc is not installed: cannot build the DWARF fixture");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(a, sizeof a, "%s/a.c", dir);
	snprintf(b, sizeof b, "%s/b.c", dir);
	snprintf(so, sizeof so, "%s/fix.so", dir);
	write_file(a, FIX_STR(FIX_UNIT_A) "\nPyThreadState *fix_ts_ptr; PyCodeObject fix_code;\n"
					  "PyASCIIObject fix_str; PyInterpreterState fix_is;\n");
	write_file(b, FIX_STR(FIX_UNIT_B) "\nstruct _ts fix_ts;\n");
	for (int version = 2; version <= 5; version++) {
		snprintf(cmd, sizeof cmd, "gcc -std=gnu11 -g -gdwarf-%d -shared -fPIC -o %s %s %s",
			 version, so, a, b);
		cr_assert_eq(system(cmd), 0, "%s failed", cmd);
		check_fixture(so, version);
	}

	/* DWARF, but not of a CPython: each core type is required */
	struct py_offsets o;
	struct tg_err err = {0};
	snprintf(cmd, sizeof cmd, "gcc -g -shared -fPIC -o %s %s", so, b);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	cr_expect_eq(dwarf_read_offsets(so, &o, &err), -1);
	cr_expect(strstr(err.msg, "no definition of PyThreadState") != NULL, "%s", err.msg);
	write_file(a, "struct _ts; typedef struct _ts PyThreadState; PyThreadState *p;\n");
	snprintf(cmd, sizeof cmd, "gcc -g -shared -fPIC -o %s %s %s", so, a, b);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	cr_expect_eq(dwarf_read_offsets(so, &o, &err), -1);
	cr_expect(strstr(err.msg, "no definition of PyCodeObject") != NULL, "%s", err.msg);
	cr_expect(strstr(err.msg, so) != NULL, "%s", err.msg);
	cr_expect_eq(o.ts_size, OFFSET_ABSENT, "a failed read leaves nothing behind");

	unlink(a);
	unlink(b);
	unlink(so);
	rmdir(dir);
}

/* Debian's current builds in the roots tools/mkroots.sh makes (python3.13 from trixie,
 * 3.14 and 3.15 from unstable, and their debug builds). */
static void root_table_matches(const struct root_build *b, void *ctx)
{
	(void)ctx;
	check_builtin_matches(b->exe, b->dwarf, 3, b->minor, b->debug);
}

Test(dwarf, builtin_tables_match_debian_roots)
{
	if (!roots_each(root_table_matches, NULL))
		cr_skip_test("no Debian root is built (make roots)");
}
