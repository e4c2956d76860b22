/* Unit tests of render/tgfile: the line parser and the bounded streaming reader. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/tgfile.h"

static int parse(enum tgfile_kind kind, const char *line, struct tg_rec *rec)
{
	const char *why = NULL;
	int r = tgline_parse(kind, line, strlen(line), rec, &why);

	if (r < 0)
		cr_assert_not_null(why);
	return r;
}

static void assert_buf(const struct buf *b, const char *want)
{
	cr_assert_eq(b->len, strlen(want), "length %zu, want %zu ('%s')", b->len, strlen(want),
		     want);
	cr_assert_eq(memcmp(buf_cstr(b), want, b->len), 0, "got '%s', want '%s'", buf_cstr(b),
		     want);
}

Test(render_tgfile, escaped_return_line)
{
	struct tg_rec rec = TG_REC_INIT;

	cr_assert_eq(parse(TGFILE_RETURNS,
			   "1700000000.250000#/opt/we\\x3aird\\x23f.py:12:f\\x3d>g=>-1024", &rec),
		     0);
	cr_assert_float_eq(rec.time, 1700000000.25, 1e-6);
	assert_buf(&rec.file, "/opt/we:ird#f.py");
	assert_buf(&rec.func, "f=>g");
	cr_assert_eq(rec.line, 12);
	cr_assert_eq(rec.value, -1024);
	tg_rec_free(&rec);
}

Test(render_tgfile, old_style_return_lines)
{
	struct tg_rec rec = TG_REC_INIT;

	/* a ':' in FILE, left unescaped by the original */
	cr_assert_eq(
	    parse(TGFILE_RETURNS, "1394031433.4#/srv/app:v2/main.py:39:doStuff=>307200", &rec), 0);
	cr_assert_float_eq(rec.time, 1394031433.4, 1e-6);
	assert_buf(&rec.file, "/srv/app:v2/main.py");
	assert_buf(&rec.func, "doStuff");
	cr_assert_eq(rec.line, 39);
	cr_assert_eq(rec.value, 307200);
	/* a whole-second time, a "=>" in FUNC, a literal backslash */
	cr_assert_eq(parse(TGFILE_RETURNS, "1394031434#C:\\app\\x.py:7:f=>g=>5", &rec), 0);
	cr_assert_float_eq(rec.time, 1394031434.0, 1e-9);
	assert_buf(&rec.file, "C:\\app\\x.py");
	assert_buf(&rec.func, "f=>g");
	cr_assert_eq(rec.value, 5);
	/* FILE ending in ":<digits>" itself: the last ":<digits>:" wins */
	cr_assert_eq(parse(TGFILE_RETURNS, "1.5#a:12:b.py:3:run=>0", &rec), 0);
	assert_buf(&rec.file, "a:12:b.py");
	cr_assert_eq(rec.line, 3);
	tg_rec_free(&rec);
}

Test(render_tgfile, call_and_sample_lines)
{
	struct tg_rec rec = TG_REC_INIT;

	cr_assert_eq(parse(TGFILE_CALLS, "   1700000000.5#/a b/c.py:40:<module>", &rec), 0);
	cr_assert_eq(rec.indent, 3);
	cr_assert_eq(rec.line, 40);
	assert_buf(&rec.file, "/a b/c.py");
	assert_buf(&rec.func, "<module>");
	cr_assert_eq(parse(TGFILE_CALLS, "1#x.py:-1:f", &rec), 0);
	cr_assert_eq(rec.indent, 0);
	cr_assert_eq(rec.line, -1);
	cr_assert_eq(parse(TGFILE_SAMPLES, "1394031433.4#123456789", &rec), 0);
	cr_assert_eq(rec.value, 123456789);
	cr_assert_float_eq(rec.time, 1394031433.4, 1e-6);
	tg_rec_free(&rec);
}

Test(render_tgfile, malformed_lines_rejected)
{
	static const struct {
		enum tgfile_kind kind;
		const char *line;
	} bad[] = {
	    {TGFILE_RETURNS, "no hash at all"},
	    {TGFILE_RETURNS, "abc#a.py:1:f=>0"},
	    {TGFILE_RETURNS, "nan#a.py:1:f=>0"},
	    {TGFILE_RETURNS, "inf#a.py:1:f=>0"},
	    {TGFILE_RETURNS, "0x10#a.py:1:f=>0"},
	    {TGFILE_RETURNS, "#a.py:1:f=>0"},
	    {TGFILE_RETURNS, "1.0#a.py:1:f"},
	    {TGFILE_RETURNS, "1.0#a.py:1:f=>12a"},
	    {TGFILE_RETURNS, "1.0#a.py:1:f=>"},
	    {TGFILE_RETURNS, "1.0#a.py:1:f=>99999999999999999999"},
	    {TGFILE_RETURNS, "1.0#a.py:f=>1"},
	    {TGFILE_RETURNS, "1.0#a.py:x:f=>1"},
	    {TGFILE_CALLS, "1.0#a.py"},
	    {TGFILE_SAMPLES, "1.0#-5"},
	    {TGFILE_SAMPLES, "1.0#"},
	    {TGFILE_SAMPLES, "1.0#12.5"},
	};
	struct tg_rec rec = TG_REC_INIT;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(parse(bad[i].kind, bad[i].line, &rec), -1, "accepted '%s'",
			     bad[i].line);
	tg_rec_free(&rec);
}

static char *write_temp(const char *data, size_t len)
{
	char *path = strdup("/tmp/tg-test-tgfile-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Reads every record; returns their line numbers in lines[] and the count. */
static size_t read_all(struct tgfile *f, unsigned long *lines, size_t max, struct tg_rec *rec)
{
	struct tg_err err;
	size_t n = 0;
	int r;

	while ((r = tgfile_next(f, rec, &err)) == 1) {
		cr_assert_lt(n, max);
		lines[n++] = f->lineno;
	}
	cr_assert_eq(r, 0, "read error: %s", err.msg);
	return n;
}

Test(render_tgfile, reader_counts_and_numbers_lines, .init = cr_redirect_stderr)
{
	static const char data[] = "1.0#a.py:1:f=>1\n"		  /* 1 good */
				   "garbage\n"			  /* 2 malformed */
				   "\n"				  /* 3 blank: skipped silently */
				   "2.0#a.py:2:g=>2\r\n"	  /* 4 good, CRLF */
				   "3.0#a\0b.py:3:h=>3\n"	  /* 5 good, NUL inside FILE */
				   "4.0#\xff\xfe.py:4:\xc3(=>4\n" /* 6 good, invalid UTF-8 */
				   "5.0#a.py:5:f=>x\n"		  /* 7 malformed */
				   "6.0#a.py:6:f=>6";		  /* 8 good, no final newline */
	char *path = write_temp(data, sizeof data - 1);
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	struct tg_err err;
	unsigned long lines[16];
	char want[512];

	cr_assert_eq(tgfile_open(&f, path, TGFILE_RETURNS, 0, &err), 0);
	size_t n = read_all(&f, lines, 16, &rec);
	cr_assert_eq(n, 5);
	cr_assert_eq(lines[0], 1);
	cr_assert_eq(lines[1], 4);
	cr_assert_eq(lines[2], 5);
	cr_assert_eq(lines[3], 6);
	cr_assert_eq(lines[4], 8);
	cr_assert_eq(f.malformed, 2);
	cr_assert_eq(rec.value, 6);
	tgfile_close(&f);
	fflush(stderr);
	snprintf(want, sizeof want,
		 "%s:2: skipped malformed line: no '#'\n%s:7: skipped malformed line: bad DELTA\n",
		 path, path);
	cr_assert_stderr_eq_str(want);
	unlink(path);
	free(path);
	tg_rec_free(&rec);
}

Test(render_tgfile, reader_keeps_nul_and_invalid_bytes)
{
	static const char data[] = "3.0#a\\x00b\0c.py:3:\xff\xfe=>3\n";
	char *path = write_temp(data, sizeof data - 1);
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	struct tg_err err;

	cr_assert_eq(tgfile_open(&f, path, TGFILE_RETURNS, 1, &err), 0);
	cr_assert_eq(tgfile_next(&f, &rec, &err), 1);
	cr_assert_eq(rec.file.len, 8);
	cr_assert_eq(memcmp(rec.file.data, "a\0b\0c.py", 8), 0);
	cr_assert_eq(rec.func.len, 2);
	cr_assert_eq(memcmp(rec.func.data, "\xff\xfe", 2), 0);
	tgfile_close(&f);
	unlink(path);
	free(path);
	tg_rec_free(&rec);
}

Test(render_tgfile, strict_mode_fails_on_malformed)
{
	static const char data[] = "1.0#a.py:1:f=>1\n1.5#a.py:2:f=>1\nbroken=>1\n2.0#a.py:1:f=>1\n";
	char *path = write_temp(data, sizeof data - 1);
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	struct tg_err err;

	cr_assert_eq(tgfile_open(&f, path, TGFILE_RETURNS, 1, &err), 0);
	cr_assert_eq(tgfile_next(&f, &rec, &err), 1);
	cr_assert_eq(tgfile_next(&f, &rec, &err), 1);
	cr_assert_eq(tgfile_next(&f, &rec, &err), -1);
	cr_assert_eq(err.code, TG_E_DATA);
	cr_assert_not_null(strstr(err.msg, ":3: malformed line"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
	tgfile_close(&f);
	unlink(path);
	free(path);
	tg_rec_free(&rec);
}

Test(render_tgfile, huge_line_is_skipped_with_bounded_memory, .init = cr_redirect_stderr)
{
	size_t huge = 5 * (size_t)TGFILE_LINE_MAX + 123;
	char *data = malloc(huge + 64);
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	struct tg_err err;
	unsigned long lines[4];

	memcpy(data, "1.0#a.py:1:", 11);
	memset(data + 11, 'x', huge - 11);
	size_t len = huge + (size_t)sprintf(data + huge, "=>1\n2.0#b.py:2:g=>-7\n");
	char *path = write_temp(data, len);
	free(data);
	cr_assert_eq(tgfile_open(&f, path, TGFILE_RETURNS, 0, &err), 0);
	cr_assert_eq(read_all(&f, lines, 4, &rec), 1);
	cr_assert_eq(lines[0], 2);
	cr_assert_eq(rec.value, -7);
	cr_assert_eq(f.malformed, 1);
	cr_assert_leq(f.line.cap, 2 * (size_t)TGFILE_LINE_MAX + 1, "line buffer grew to %zu",
		      f.line.cap);
	tgfile_close(&f);
	unlink(path);
	free(path);
	tg_rec_free(&rec);
}

Test(render_tgfile, missing_file_is_data_error)
{
	struct tgfile f;
	struct tg_err err;

	cr_assert_eq(tgfile_open(&f, "/nonexistent/x.mem", TGFILE_RETURNS, 0, &err), -1);
	cr_assert_eq(err.code, TG_E_DATA);
	cr_assert_not_null(strstr(err.msg, "No such file"), "%s", err.msg);
}

Test(render_tgfile, classify_names)
{
	struct buf t = BUF_INIT;

	cr_assert_eq(tgname_classify("process.mem", &t), TGNAME_PROCESS_MEM);
	cr_assert_eq(tgname_classify("process.alloc", &t), TGNAME_PROCESS_ALLOC);
	cr_assert_eq(tgname_classify("process.allocx", &t), TGNAME_OTHER);
	cr_assert_eq(tgname_classify("process.stack", &t), TGNAME_OTHER);
	cr_assert_eq(tgname_classify("meta", &t), TGNAME_OTHER);
	cr_assert_eq(tgname_classify("memg.txt", &t), TGNAME_OTHER);
	cr_assert_eq(tgname_classify(".hidden.mem", &t), TGNAME_OTHER);
	cr_assert_eq(tgname_classify(".mem", &t), TGNAME_OTHER);
	cr_assert_eq(t.len, 0);
	cr_assert_eq(tgname_classify("CP Server Thread-5.mem", &t), TGNAME_THREAD_MEM);
	assert_buf(&t, "CP Server Thread-5");
	buf_reset(&t);
	cr_assert_eq(tgname_classify("worker%2f1.stack", &t), TGNAME_THREAD_STACK);
	assert_buf(&t, "worker/1");
	buf_reset(&t);
	cr_assert_eq(tgname_classify("%70rocess.mem", &t), TGNAME_THREAD_MEM);
	assert_buf(&t, "process");
	buf_reset(&t);
	cr_assert_eq(tgname_classify("a.b.mem", &t), TGNAME_THREAD_MEM);
	assert_buf(&t, "a.b");
	buf_free(&t);
}
