/* exotic_util.c: see exotic_util.h. */
#include "tests/e2e/exotic_util.h"

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

/* ---- small helpers ---- */

int ex_skipped(const char *label, const char *why)
{
	fprintf(stderr, "interpreter %-22s skipped: %s\n", label, why);
	cr_skip_test("%s", why);
	return 1;
}

void ex_passed(const char *label, const char *what)
{
	fprintf(stderr, "interpreter %-22s ex_passed (%s)\n", label, what);
}

void ex_fixture_path(const char *name, char *out, size_t len)
{
	char cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(out, len, "%s/fixtures/%s", cwd, name);
}

void ex_copy_file(const char *from, const char *to)
{
	char *argv[] = {"/bin/cp", (char *)from, (char *)to, NULL};
	struct buf err = BUF_INIT;

	cr_assert_eq(run_capture(argv, NULL, &err, 30), 0, "cp %s %s: %s", from, to,
		     buf_cstr(&err));
	buf_free(&err);
}

/* Run argv; its stdout into out (reset first).  Returns the exit status. */
int ex_run_out(char *const argv[], struct buf *out, struct buf *err)
{
	buf_reset(out);
	if (err)
		buf_reset(err);
	return run_capture(argv, out, err, 60);
}

int ex_tg_info(pid_t pid, const char *extra, struct buf *out, struct buf *err)
{
	char pidstr[16];

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *argv[] = {TG_BIN, "info", "-p", pidstr, (char *)extra, NULL};
	return ex_run_out(argv, out, err);
}

/* The value of `key:` in info's output (first such line, leading blanks skipped). */
void ex_info_field(const char *text, const char *key, char *val, size_t len)
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

void ex_expect_field(const char *label, const char *text, const char *key, const char *want)
{
	char got[PATH_MAX + 64];

	ex_info_field(text, key, got, sizeof got);
	cr_assert_str_eq(got, want, "%s: info %s is '%s', want '%s'", label, key, got, want);
}

void ex_expect_field_prefix(const char *label, const char *text, const char *key,
			    const char *prefix)
{
	char got[PATH_MAX + 64];

	ex_info_field(text, key, got, sizeof got);
	cr_assert(strncmp(got, prefix, strlen(prefix)) == 0,
		  "%s: info %s is '%s', want it to start with '%s'", label, key, got, prefix);
}

/* info's offsets line says DWARF from a file whose path contains `path` (a file read
 * through the build-id cache says so after the path). */
void ex_expect_dwarf_from(const char *label, const char *text, const char *path)
{
	char got[PATH_MAX + 64];

	ex_info_field(text, "offsets", got, sizeof got);
	const char *hit = strstr(got, path);
	cr_assert(strncmp(got, "dwarf (", 7) == 0 && hit,
		  "%s: info offsets is '%s', want DWARF from %s", label, got, path);
	hit += strcspn(hit, " )");
	cr_assert(strcmp(hit, ")") == 0 || strcmp(hit, " (cached by build-id))") == 0,
		  "%s: info offsets is '%s'", label, got);
}

/* The interpreter's own "major.minor.micro". */
void ex_python_version(const char *python, char *out, size_t len)
{
	char *argv[] = {(char *)python, "-c",
			"import sys; sys.stdout.write('%d.%d.%d' % sys.version_info[:3])", NULL};
	struct buf b = BUF_INIT;

	cr_assert_eq(ex_run_out(argv, &b, NULL), 0, "%s -c failed", python);
	snprintf(out, len, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* Value of a dynamic symbol of an ELF file according to nm. */
static uint64_t ex_nm_symbol(const char *file, const char *sym)
{
	char *argv[] = {"/usr/bin/nm", "-D", "--defined-only", (char *)file, NULL};
	struct buf out = BUF_INIT;
	uint64_t value = 0;

	cr_assert_eq(ex_run_out(argv, &out, NULL), 0, "nm -D %s failed", file);
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
uint64_t ex_map_base(pid_t pid, const char *path)
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
void ex_expect_symbol(const char *label, const char *info, const char *file, uint64_t bias,
		      const char *sym)
{
	unsigned long long addr = 0;

	for (const char *p = strstr(info, "symbols:\n"); p; p = strchr(p + 1, '\n')) {
		char name[64];
		if (sscanf(p + 1, " %63s 0x%llx", name, &addr) == 2 && strcmp(name, sym) == 0)
			break;
		addr = 0;
	}
	uint64_t want = ex_nm_symbol(file, sym) + bias;
	cr_assert_eq(addr, want, "%s: info says %s is at 0x%llx, nm says 0x%llx", label, sym, addr,
		     (unsigned long long)want);
}

/* Start fixtures/threads.py under python (extra environment already set). */
void ex_start_threads(const char *label, const char *python, const char *dir, struct proc *fx,
		      struct truth_view *truth)
{
	char fixture[PATH_MAX], truth_path[PATH_MAX];

	ex_fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {(char *)python, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, fx, truth);
	cr_assert_eq(truth->nthreads, n, "%s: truth has %d threads, %d stay", label,
		     truth->nthreads, n);
}

int ex_pyenv_prefix(const char *version, char *prefix, size_t len)
{
	char python[PATH_MAX];

	if (pyenv_python(version, python, sizeof python) < 0)
		return -1;
	snprintf(prefix, len, "%.*s", (int)(strlen(python) - strlen("/bin/python")), python);
	return 0;
}
