/* test_linetable.c: the line-table decoders against real interpreters, and on garbage.
 *
 * Each truth test runs fixtures/linetable_truth.py under one installed CPython.  The
 * script prints every code object of ~60 stdlib modules and synthetic sources with its
 * raw table and two truths per instruction offset: the interpreter's PyCode_Addr2Line
 * (T) and its Python-level API (P).  lt_line_for must agree with both at every offset,
 * on the exact-size table and, as far as a prefix still determines it, on a truncated
 * copy.  The fuzz tests (random and mangled tables) are in test_linetable_fuzz.c. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "sampler/linetable.h"

#define LT_SCRIPT "fixtures/linetable_truth.py"
#define LT_MAX_REPORTED 8 /* code objects whose first mismatch is shown */
#define LT_CUT_STRIDE 4	  /* check every 4th offset on a truncated copy of the table */

/* Everything learnt from one interpreter's output. */
struct lt_run {
	const char *who;
	enum lt_format fmt;
	int major, minor, micro;
	long codes, offsets, no_line, cut_checks;
	long end_codes, end_offsets; /* from the "E" trailer, -1 until seen */
	long mismatches;
	int reported;	    /* messages in report: the first mismatch of a code object */
	long reported_code; /* run->codes when the last message was added */
	struct buf report;  /* first mismatches and parse errors, one per line */
	struct buf label;   /* current code object, for messages */
};

/* The code object being checked: its table in an exact-size heap block so that ASan
 * flags a read one byte past it, and both truths for offsets 0..nunits-1. */
struct lt_code {
	unsigned char *table;
	size_t len;
	int first;
	long nunits;
	int *addr2line; /* T: PyCode_Addr2Line */
	int *pyapi;	/* P: findlinestarts / co_lines / co_positions */
	struct buf hex; /* start of the table, for messages */
};

static void lt_fail(struct lt_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lt_fail(struct lt_run *run, const char *fmt, ...)
{
	va_list ap;

	run->mismatches++;
	if (run->reported >= LT_MAX_REPORTED || run->reported_code == run->codes)
		return;
	run->reported++;
	run->reported_code = run->codes;
	buf_addf(&run->report, "  %s: ", buf_cstr(&run->label));
	va_start(ap, fmt);
	buf_vaddf(&run->report, fmt, ap);
	va_end(ap);
	if (run->reported < LT_MAX_REPORTED)
		buf_addch(&run->report, '\n');
}

/* The interpreter binary for a pyenv version, or NULL when it is not installed. */
static char *lt_pyenv_python(const char *version)
{
	struct buf cmd = BUF_INIT, path = BUF_INIT;
	char line[4096];
	FILE *p;

	buf_addf(&cmd, "pyenv prefix '%s' 2>/dev/null", version);
	p = popen(buf_cstr(&cmd), "r");
	buf_free(&cmd);
	if (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		buf_addf(&path, "%s/bin/python", line);
	}
	if (p)
		pclose(p);
	if (!path.len || access(buf_cstr(&path), X_OK) != 0) {
		const char *root = getenv("PYENV_ROOT");
		const char *home = getenv("HOME");

		buf_reset(&path);
		if (root)
			buf_addf(&path, "%s/versions/%s/bin/python", root, version);
		else
			buf_addf(&path, "%s/.pyenv/versions/%s/bin/python", home ? home : "/root",
				 version);
	}
	if (access(buf_cstr(&path), X_OK) != 0) {
		buf_free(&path);
		return NULL;
	}
	return buf_detach(&path);
}

/* The script, relative to the working directory (make runs tests from the top) or to
 * the test binary (build/asan/unit-tests). */
static char *lt_script_path(void)
{
	char exe[PATH_MAX];
	ssize_t n;
	struct buf path = BUF_INIT;

	if (access(LT_SCRIPT, R_OK) == 0)
		return xstrdup(LT_SCRIPT);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		buf_addf(&path, "%s/../../%s", exe, LT_SCRIPT);
		if (access(buf_cstr(&path), R_OK) == 0)
			return buf_detach(&path);
	}
	buf_free(&path);
	return NULL;
}

/* Starts `python -E -s script [N]` with its stdout on the returned stream.  N, the
 * number of stdlib modules (0 = all), comes from TG_LINETABLE_MODULES for deep runs. */
static FILE *lt_spawn(const char *python, const char *script, pid_t *pid)
{
	const char *modules = getenv("TG_LINETABLE_MODULES");
	int fds[2];
	FILE *out;

	if (modules && (!*modules || modules[strspn(modules, "0123456789")]))
		modules = NULL;

	if (pipe(fds) != 0)
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(python, python, "-E", "-s", script, modules, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", python, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	out = fdopen(fds[0], "r");
	if (!out) {
		close(fds[0]);
		waitpid(*pid, NULL, 0);
	}
	return out;
}

static int lt_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes `n` hex digits ("-" = empty) into an exact-size heap block. */
static int lt_unhex(const char *hex, size_t n, struct lt_code *code)
{
	if (n == 1 && hex[0] == '-')
		n = 0;
	if (n % 2)
		return -1;
	code->len = n / 2;
	code->table = xmalloc(code->len ? code->len : 1);
	for (size_t i = 0; i < code->len; i++) {
		int hi = lt_hexval(hex[2 * i]), lo = lt_hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		code->table[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void lt_code_reset(struct lt_code *code)
{
	free(code->table);
	free(code->addr2line);
	free(code->pyapi);
	code->table = NULL;
	code->addr2line = code->pyapi = NULL;
	buf_reset(&code->hex);
}

/* "C <firstlineno> <nunits> <line at -1> <hex> <label>" */
static int lt_parse_code(struct lt_run *run, const char *s, struct lt_code *code)
{
	char *end;
	long first = strtol(s, &end, 10);
	long nunits = strtol(end, &end, 10);
	long at_minus1 = strtol(end, &end, 10);
	const char *hex = end + strspn(end, " ");
	size_t hexlen = strcspn(hex, " \n");
	const char *label;

	if (end == s || first < INT_MIN || first > INT_MAX || nunits < 0 || !hexlen)
		return -1;
	code->first = (int)first;
	code->nunits = nunits;
	buf_add(&code->hex, hex, hexlen < 96 ? hexlen : 96);
	buf_reset(&run->label);
	label = hex + hexlen + (hex[hexlen] == ' ');
	buf_add(&run->label, label, strcspn(label, "\n"));
	if (lt_unhex(hex, hexlen, code) != 0)
		return -1;
	for (long off = -3; off < 0; off++) {
		int got = lt_line_for(run->fmt, code->table, code->len, code->first, off);

		if (got != at_minus1)
			lt_fail(run, "offset %ld: got %d, want %ld (firstlineno %d)", off, got,
				at_minus1, code->first);
	}
	return 0;
}

/* "<count> <line> ..." runs covering exactly offsets 0..nunits-1, into a fresh array. */
static int *lt_expand_runs(const char *s, long nunits)
{
	int *lines = xmalloc(sizeof(*lines) * (size_t)(nunits ? nunits : 1));
	long off = 0;
	char *end;

	for (;;) {
		long count = strtol(s, &end, 10);
		const char *after_count = end;
		long line;

		if (end == s)
			break;
		line = strtol(after_count, &end, 10);
		if (end == after_count || count <= 0 || count > nunits - off || line < -1 ||
		    line > INT_MAX)
			break;
		while (count--)
			lines[off++] = (int)line;
		s = end;
	}
	if (off != nunits || *end != '\n') {
		free(lines);
		return NULL;
	}
	return lines;
}

/* A prefix of the real table, in its own exact-size block. */
struct lt_cut {
	unsigned char *t;
	size_t len;
	long covered; /* lnotab: offsets below this are still fully determined */
};

static void lt_cut_make(struct lt_cut *cut, const struct lt_run *run, const struct lt_code *code)
{
	/* A cut point that varies between code objects but not between runs. */
	cut->len = code->len ? (size_t)(run->codes * 2654435761u % code->len) : 0;
	cut->t = xmalloc(cut->len ? cut->len : 1);
	memcpy(cut->t, code->table, cut->len);
	cut->covered = 0;
	for (size_t i = 0; i + 1 < cut->len; i += 2)
		cut->covered += cut->t[i];
}

/* On a prefix, lnotab answers must not change below the prefix's last address; 3.10+
 * answers are the full table's or -1 (an offset past the last complete entry). */
static void lt_check_cut(struct lt_run *run, const struct lt_code *code, long off,
			 const struct lt_cut *cut)
{
	int got = lt_line_for(run->fmt, cut->t, cut->len, code->first, off);
	int want = code->addr2line[off];
	bool lnotab = run->fmt == LT_LNOTAB_SIGNED || run->fmt == LT_LNOTAB_UNSIGNED;

	run->cut_checks++;
	if (lnotab ? (off < cut->covered && got != want) : (got != want && got != -1))
		lt_fail(run, "table cut to %zu of %zu bytes, offset %ld: got %d, want %d", cut->len,
			code->len, off, got, want);
}

/* Every offset against both truths; every LT_CUT_STRIDE-th also on a truncated table. */
static void lt_check_code(struct lt_run *run, const struct lt_code *code)
{
	struct lt_cut cut;

	lt_cut_make(&cut, run, code);
	for (long off = 0; off < code->nunits; off++) {
		int got = lt_line_for(run->fmt, code->table, code->len, code->first, off);

		if (got != code->addr2line[off] || got != code->pyapi[off])
			lt_fail(run,
				"offset %ld: got %d, want %d (PyCode_Addr2Line), %d (Python "
				"API); firstlineno %d, table %s%s",
				off, got, code->addr2line[off], code->pyapi[off], code->first,
				buf_cstr(&code->hex), code->hex.len < 2 * code->len ? "..." : "");
		run->no_line += code->addr2line[off] == -1;
		if (off % LT_CUT_STRIDE == 0)
			lt_check_cut(run, code, off, &cut);
	}
	run->offsets += code->nunits;
	free(cut.t);
}

static int lt_parse_line(struct lt_run *run, const char *line, struct lt_code *code)
{
	switch (line[0]) {
	case 'V':
		if (sscanf(line, "V %d %d %d", &run->major, &run->minor, &run->micro) != 3)
			return -1;
		run->fmt = lt_format_for(run->major, run->minor);
		return 0;
	case 'C':
		lt_code_reset(code);
		run->codes++;
		return lt_parse_code(run, line + 1, code);
	case 'T':
		if (!code->table || code->addr2line)
			return -1;
		code->addr2line = lt_expand_runs(line + 1, code->nunits);
		return code->addr2line ? 0 : -1;
	case 'P':
		if (!code->addr2line || code->pyapi)
			return -1;
		code->pyapi = lt_expand_runs(line + 1, code->nunits);
		if (!code->pyapi)
			return -1;
		lt_check_code(run, code);
		return 0;
	case 'E':
		return sscanf(line, "E %ld %ld", &run->end_codes, &run->end_offsets) == 2 ? 0 : -1;
	}
	return -1;
}

/* Runs the script under `python` and checks everything it prints; returns the wait
 * status of the interpreter, or -1 when it could not be started. */
static int lt_run_script(struct lt_run *run, const char *python, const char *script)
{
	struct lt_code code = {.hex = BUF_INIT};
	char *line = NULL;
	size_t cap = 0;
	int status = -1;
	pid_t pid;
	FILE *out = lt_spawn(python, script, &pid);

	if (!out)
		return -1;
	while (getline(&line, &cap, out) > 0)
		if (lt_parse_line(run, line, &code) != 0) {
			run->reported_code = -1; /* always show parse errors */
			lt_fail(run, "unparsable output line: %.100s", line);
		}
	fclose(out);
	free(line);
	lt_code_reset(&code);
	buf_free(&code.hex);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* The test verdict, copied out so that everything is freed before an assert ends it. */
struct lt_verdict {
	bool exited_ok, right_version, complete;
	char first_mismatches[4096];
};

static void lt_truth(const char *version, const char *python_path, int major, int minor)
{
	char *python = python_path ? (access(python_path, X_OK) == 0 ? xstrdup(python_path) : NULL)
				   : lt_pyenv_python(version);
	char *script;
	struct lt_run run = {.who = version ? version : python_path,
			     .end_codes = -1,
			     .reported_code = -1,
			     .report = BUF_INIT,
			     .label = BUF_INIT};
	struct lt_verdict v;
	int status;

	if (!python) {
		fprintf(stderr, "linetable: python %s is not installed, skipped\n", run.who);
		cr_skip_test("linetable: python %s is not installed", run.who);
	}
	script = lt_script_path();
	if (!script) {
		free(python);
		cr_assert_fail("linetable: cannot find %s (run from the top of the tree)",
			       LT_SCRIPT);
	}
	status = lt_run_script(&run, python, script);
	free(script);
	free(python);
	v.exited_ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	v.right_version = run.major == major && run.minor == minor;
	v.complete = run.end_codes == run.codes && run.end_offsets == run.offsets && run.offsets;
	snprintf(v.first_mismatches, sizeof(v.first_mismatches), "%s", buf_cstr(&run.report));
	buf_free(&run.report);
	buf_free(&run.label);

	/* stderr, not cr_log_info: Criterion hides info logs unless --verbose. */
	fprintf(stderr,
		"linetable: python %s (%d.%d.%d): %ld code objects, %ld offsets checked (%ld "
		"without a line, %ld also on cut tables), %ld mismatches\n",
		run.who, run.major, run.minor, run.micro, run.codes, run.offsets, run.no_line,
		run.cut_checks, run.mismatches);
	cr_assert(v.exited_ok, "linetable: python %s: %s failed (wait status %d)", run.who,
		  LT_SCRIPT, status);
	cr_assert(v.right_version, "linetable: python %s reports %d.%d, expected %d.%d", run.who,
		  run.major, run.minor, major, minor);
	cr_assert(v.complete,
		  "linetable: python %s: output cut short: %ld code objects and %ld offsets, "
		  "trailer says %ld and %ld",
		  run.who, run.codes, run.offsets, run.end_codes, run.end_offsets);
	cr_assert_eq(run.mismatches, 0, "linetable: python %s: %ld mismatches, first:\n%s", run.who,
		     run.mismatches, v.first_mismatches);
}

Test(linetable, truth_2_7, .timeout = 120)
{
	lt_truth("2.7.18", NULL, 2, 7);
}

Test(linetable, truth_3_6, .timeout = 120)
{
	lt_truth("3.6.15", NULL, 3, 6);
}

Test(linetable, truth_3_7, .timeout = 120)
{
	lt_truth("3.7.16", NULL, 3, 7);
}

Test(linetable, truth_3_8, .timeout = 120)
{
	lt_truth("3.8.18", NULL, 3, 8);
}

Test(linetable, truth_3_9, .timeout = 120)
{
	lt_truth("3.9.18", NULL, 3, 9);
}

Test(linetable, truth_3_10, .timeout = 120)
{
	lt_truth("3.10.13", NULL, 3, 10);
}

Test(linetable, truth_3_11, .timeout = 120)
{
	lt_truth("3.11.7", NULL, 3, 11);
}

Test(linetable, truth_3_12, .timeout = 120)
{
	lt_truth("3.12.1", NULL, 3, 12);
}

Test(linetable, truth_3_13, .timeout = 120)
{
	lt_truth("3.13.0", NULL, 3, 13);
}

Test(linetable, truth_debian_3_11, .timeout = 120)
{
	lt_truth(NULL, "/usr/bin/python3.11", 3, 11);
}

Test(linetable, format_for_versions)
{
	cr_assert_eq(lt_format_for(2, 7), LT_LNOTAB_UNSIGNED);
	cr_assert_eq(lt_format_for(3, 5), LT_LNOTAB_UNSIGNED);
	cr_assert_eq(lt_format_for(3, 6), LT_LNOTAB_SIGNED);
	cr_assert_eq(lt_format_for(3, 9), LT_LNOTAB_SIGNED);
	cr_assert_eq(lt_format_for(3, 10), LT_310);
	cr_assert_eq(lt_format_for(3, 11), LT_LOCATIONS);
	cr_assert_eq(lt_format_for(3, 14), LT_LOCATIONS);
	cr_assert_eq(lt_format_for(4, 0), LT_LOCATIONS);
}

/* Hand-made tables for the corners the interpreters rarely produce. */
Test(linetable, edge_cases)
{
	/* 200 is -56 and 0x80 is -128 when signed; the odd last byte is ignored */
	static const unsigned char lnotab[] = {0, 200, 4, 0x80, 6, 1, 7};
	/* 0-4: +1, empty: +5, 4-10: no line, 10-12: -2 */
	static const unsigned char t310[] = {4, 1, 0, 5, 6, 0x80, 2, 0xfe};
	/* SHORT (2 units), NONE (1), LONG +300 lines (8), ONE_LINE2 (1), NO_COLUMNS -3 (1) */
	static const unsigned char loc[] = {0x81, 0x05, 0xf8, 0xf7, 0x58, 0x09, 0x01,
					    0x01, 0x01, 0xe0, 0x01, 0x02, 0xe8, 0x07};

	cr_assert_eq(lt_line_for(LT_LNOTAB_UNSIGNED, lnotab, sizeof(lnotab), 10, 0), 210);
	cr_assert_eq(lt_line_for(LT_LNOTAB_UNSIGNED, lnotab, sizeof(lnotab), 10, 4), 338);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, lnotab, sizeof(lnotab), 300, 4), 116);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, lnotab, sizeof(lnotab), 300, 9), 116);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, lnotab, sizeof(lnotab), 300, 10), 117);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, lnotab, sizeof(lnotab), 300, 1000), 117);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, lnotab, sizeof(lnotab), 100, 4), -1);
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 3), 6);
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 4), -1, "no-line range");
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 9), -1);
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 10), 9);
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 11), 9);
	cr_assert_eq(lt_line_for(LT_310, t310, sizeof(t310), 5, 12), -1);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 1), 7);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 2), -1);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 3), 307);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 10), 307);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 11), 309);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 12), 306);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, sizeof(loc), 7, 13), -1);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc, 4, 7, 3), -1, "truncated LONG entry");
	cr_assert_eq(lt_line_for(LT_LOCATIONS, loc + 1, 3, 7, 0), -1, "no entry start");
	cr_assert_eq(lt_line_for(LT_LOCATIONS, NULL, 0, 7, 0), -1);
	cr_assert_eq(lt_line_for(LT_LNOTAB_SIGNED, NULL, 0, 7, 5), 7);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, NULL, 0, 7, -1), 7);
	cr_assert_eq(lt_line_for(LT_LOCATIONS, NULL, 0, -7, -1), -1);
	cr_assert_eq(lt_line_for((enum lt_format)42, loc, sizeof(loc), 7, 0), -1);
}
