/* Unit tests of common/tgline: the writer's lines parse back to what was written, for
 * random and hostile names and numbers; and the same through the real files, written by
 * sampler/output and read by render/tgfile. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/tgline.h"
#include "render/tgfile.h"
#include "sampler/output.h"

#define CASES 20000
#define NAME_MAX_LEN 48

/* ---- random cases (a fixed seed: a failure is reproducible) ---- */

static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Any byte but NUL, mostly the ones the grammar gives a meaning to. */
static char hostile_byte(uint64_t *rs)
{
	static const char special[] = "\\#:=>x0123456789-+. \t\r\n\x7f\x01%/e";
	uint64_t r = next_rand(rs);

	if (r % 3 == 0)
		return (char)(1 + (r >> 8) % 255);
	return special[(r >> 8) % (sizeof special - 1)];
}

/* A NUL-terminated name of random length and hostile bytes into b. */
static void random_name(uint64_t *rs, struct buf *b)
{
	size_t len = next_rand(rs) % (NAME_MAX_LEN + 1);

	buf_reset(b);
	buf_add(b, "", 0); /* "" when len is 0 */
	for (size_t i = 0; i < len; i++)
		buf_addch(b, hostile_byte(rs));
}

/* A Unix time in [0, 8e9) s, with microseconds and noise below them, or an edge. */
static double random_time(uint64_t *rs)
{
	static const double edges[] = {0.0, 1.0, 1394031433.0, 1700000000.999999, 7999999999.5};
	uint64_t r = next_rand(rs);

	if (r % 16 == 0)
		return edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
	return (double)(next_rand(rs) % 8000000000ull) + (double)(next_rand(rs) % 1000000) / 1e6 +
	       (double)(next_rand(rs) % 1000) / 1e10;
}

static int64_t random_i64(uint64_t *rs)
{
	static const int64_t edges[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT32_MAX, INT32_MIN};
	uint64_t r = next_rand(rs);

	if (r % 8 == 0)
		return edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
	return (int64_t)(next_rand(rs) >> ((r >> 8) % 64));
}

/* A DELTA or RSS: the range a line may hold (|v| <= TG_VALUE_MAX), its edges included. */
static int64_t random_value(uint64_t *rs)
{
	int64_t v = random_i64(rs);

	if (v == INT64_MAX || v == INT64_MIN)
		return v > 0 ? TG_VALUE_MAX : -TG_VALUE_MAX;
	return v % (TG_VALUE_MAX + 1);
}

/* ---- checks ---- */

static void assert_bytes(const struct buf *got, const struct buf *want, const char *what,
			 const struct buf *line)
{
	cr_assert(got->len == want->len && memcmp(buf_cstr(got), buf_cstr(want), got->len) == 0,
		  "%s does not read back (%zu bytes, want %zu) from line '%s'", what, got->len,
		  want->len, buf_cstr(line));
}

/* A written line: one newline, at its end; returns its length without it. */
static size_t whole_line(const struct buf *line)
{
	cr_assert(line->len > 0 && line->data[line->len - 1] == '\n', "no newline: '%s'",
		  buf_cstr(line));
	cr_assert_null(memchr(line->data, '\n', line->len - 1), "newline inside: '%s'",
		       buf_cstr(line));
	return line->len - 1;
}

/* The time read is the time written to the microsecond, and writes the same text. */
static void assert_time(double got, double want, const struct buf *line)
{
	char a[64], b[64];

	snprintf(a, sizeof a, "%.6f", got);
	snprintf(b, sizeof b, "%.6f", want);
	cr_assert_str_eq(a, b, "time %.9f read as %.9f from '%s'", want, got, buf_cstr(line));
	cr_assert(fabs(got - want) <= 1e-6, "time %.9f read as %.9f", want, got);
}

/* Writes a call and a return of the same site and a sample, parses them back. */
static void roundtrip_one(uint64_t *rs, struct buf *file, struct buf *func, struct buf *line,
			  struct tg_rec *rec)
{
	const char *why = "";
	double t = random_time(rs);
	long src_line = (long)(int)random_i64(rs);
	int64_t delta = random_value(rs);
	size_t depth = next_rand(rs) % 200;
	uint64_t rss = (uint64_t)llabs(random_value(rs));

	random_name(rs, file);
	random_name(rs, func);

	buf_reset(line);
	tgline_add_call(line, depth, t, file->data, src_line, func->data);
	cr_assert_eq(tgline_parse(TGFILE_CALLS, line->data, whole_line(line), rec, &why), 0,
		     "call line rejected (%s): '%s'", why, buf_cstr(line));
	cr_assert_eq(rec->indent, depth);
	cr_assert_eq(rec->line, src_line);
	assert_time(rec->time, t, line);
	assert_bytes(&rec->file, file, "FILE", line);
	assert_bytes(&rec->func, func, "FUNC", line);

	buf_reset(line);
	tgline_add_return(line, t, file->data, src_line, func->data, delta);
	cr_assert_eq(tgline_parse(TGFILE_RETURNS, line->data, whole_line(line), rec, &why), 0,
		     "return line rejected (%s): '%s'", why, buf_cstr(line));
	cr_assert_eq(rec->value, delta, "DELTA %lld read as %lld", (long long)delta, rec->value);
	cr_assert_eq(rec->line, src_line);
	assert_time(rec->time, t, line);
	assert_bytes(&rec->file, file, "FILE", line);
	assert_bytes(&rec->func, func, "FUNC", line);

	buf_reset(line);
	tgline_add_sample(line, t, rss);
	cr_assert_eq(tgline_parse(TGFILE_SAMPLES, line->data, whole_line(line), rec, &why), 0,
		     "sample line rejected (%s): '%s'", why, buf_cstr(line));
	cr_assert_eq((uint64_t)rec->value, rss);
	assert_time(rec->time, t, line);
}

Test(tgline, random_hostile_lines_read_back)
{
	struct buf file = BUF_INIT, func = BUF_INIT, line = BUF_INIT;
	struct tg_rec rec = TG_REC_INIT;
	uint64_t rs = 20240611;

	for (int i = 0; i < CASES; i++)
		roundtrip_one(&rs, &file, &func, &line, &rec);
	buf_free(&file);
	buf_free(&func);
	buf_free(&line);
	tg_rec_free(&rec);
}

/* Names that look like the grammar itself. */
Test(tgline, names_made_of_separators_read_back)
{
	static const char *const names[] = {
	    "",	    ":",     "::",   "a:12:b", "x:-1:",	  "1:2:3", "#",	     "##",    "=>",
	    "f=>g", "=>5",   "\\",   "\\x3a",  "\\x",	  "\\x4",  "a\\xzz", " ",     " lead",
	    "tr ",  "\t",    "\r",   "\n",     "\x7f",	  "5",	   "-",	     "-5",    ":5",
	    "5:",   "1.5#2", "é:ü#", "%2e",    "process", "=",	   ">",	     "=>=>=>"};
	const size_t n = sizeof names / sizeof names[0];
	struct buf line = BUF_INIT, want_file = BUF_INIT, want_func = BUF_INIT;
	struct tg_rec rec = TG_REC_INIT;
	const char *why = "";

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < n; k++) {
			buf_reset(&want_file);
			buf_addstr(&want_file, names[i]);
			buf_reset(&want_func);
			buf_addstr(&want_func, names[k]);
			buf_reset(&line);
			tgline_add_return(&line, 12.5, names[i], -7, names[k], -3);
			cr_assert_eq(
			    tgline_parse(TGFILE_RETURNS, line.data, whole_line(&line), &rec, &why),
			    0, "rejected (%s): '%s'", why, line.data);
			assert_bytes(&rec.file, &want_file, "FILE", &line);
			assert_bytes(&rec.func, &want_func, "FUNC", &line);
			cr_assert_eq(rec.line, -7);
			cr_assert_eq(rec.value, -3);
		}
	}
	/* NULL names are written as empty ones */
	buf_reset(&line);
	tgline_add_call(&line, 2, 1.0, NULL, 3, NULL);
	cr_assert_str_eq(line.data, "  1.000000#:3:\n");
	buf_free(&line);
	buf_free(&want_file);
	buf_free(&want_func);
	tg_rec_free(&rec);
}

/* ---- through the files: sampler/output writes, render/tgfile reads ---- */

struct site {
	struct buf file, func;
	double time;
	long line;
	int depth;
	int64_t delta;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void read_back(const char *dir, const char *name, enum tgfile_kind kind,
		      const struct site *sites, size_t n)
{
	struct tg_err err = {0};
	struct tgfile f;
	struct tg_rec rec = TG_REC_INIT;
	struct buf path = BUF_INIT, line = BUF_INIT;
	size_t i = 0;
	int r;

	buf_addf(&path, "%s/%s", dir, name);
	cr_assert_eq(tgfile_open(&f, path.data, kind, 1, &err), 0, "%s", err.msg);
	while ((r = tgfile_next(&f, &rec, &err)) == 1) {
		cr_assert_lt(i, n, "%s: more records than written", name);
		const struct site *s = &sites[i++];
		buf_reset(&line);
		buf_add(&line, f.line.data, f.line.len);
		assert_time(rec.time, s->time, &line);
		cr_assert_eq(rec.line, s->line);
		assert_bytes(&rec.file, &s->file, "FILE", &line);
		assert_bytes(&rec.func, &s->func, "FUNC", &line);
		if (kind == TGFILE_CALLS)
			cr_assert_eq(rec.indent, (unsigned long)s->depth);
		else
			cr_assert_eq(rec.value, s->delta);
	}
	cr_assert_eq(r, 0, "%s", err.msg);
	cr_assert_eq(i, n, "%s: %zu records, %zu written", name, i, n);
	cr_assert_eq(f.malformed, 0);
	tgfile_close(&f);
	tg_rec_free(&rec);
	buf_free(&path);
	buf_free(&line);
}

Test(tgline, output_files_read_back_by_tgfile)
{
	enum { N = 2000 };
	char tmpl[] = "/tmp/tg-tgline-test-XXXXXX";
	struct tg_err err = {0};
	struct site *sites = calloc(N, sizeof *sites);
	uint64_t rs = 7;

	cr_assert_not_null(mkdtemp(tmpl));
	struct output *o = output_open(tmpl, 99, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 1, "T", 1);
	for (size_t i = 0; i < N; i++) {
		struct site *s = &sites[i];
		random_name(&rs, &s->file);
		random_name(&rs, &s->func);
		s->time = random_time(&rs);
		s->line = (long)(int)random_i64(&rs);
		s->depth = (int)(next_rand(&rs) % 300);
		s->delta = random_value(&rs);
		cr_assert_eq(output_call(o, th, s->time, s->depth, s->file.data, (int)s->line,
					 s->func.data, &err),
			     0, "%s", err.msg);
		cr_assert_eq(output_return(o, th, s->time, s->file.data, (int)s->line, s->func.data,
					   s->delta, &err),
			     0, "%s", err.msg);
	}
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);

	struct buf dir = BUF_INIT;
	buf_addf(&dir, "%s/99", tmpl);
	read_back(dir.data, "T.stack", TGFILE_CALLS, sites, N);
	read_back(dir.data, "T.mem", TGFILE_RETURNS, sites, N);
	for (size_t i = 0; i < N; i++) {
		buf_free(&sites[i].file);
		buf_free(&sites[i].func);
	}
	free(sites);
	buf_free(&dir);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A DELTA or RSS beyond TG_VALUE_MAX is a corrupt line, not a number to sum. */
Test(tgline, values_beyond_the_limit_are_refused)
{
	static const char *const returns[] = {"1.0#a.py:1:f=>1125899906842625",
					      "1.0#a.py:1:f=>-1125899906842625",
					      "1.0#a.py:1:f=>-9223372036854775808"};
	static const char *const samples[] = {"1.0#1125899906842625", "1.0#9223372036854775807"};
	struct tg_rec rec = TG_REC_INIT;
	const char *why = "";

	for (size_t i = 0; i < sizeof returns / sizeof *returns; i++)
		cr_expect_lt(
		    tgline_parse(TGFILE_RETURNS, returns[i], strlen(returns[i]), &rec, &why), 0,
		    "accepted: %s", returns[i]);
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
		cr_expect_lt(
		    tgline_parse(TGFILE_SAMPLES, samples[i], strlen(samples[i]), &rec, &why), 0,
		    "accepted: %s", samples[i]);
	static const char edge[] = "1.0#a.py:1:f=>1125899906842624";
	cr_expect_eq(tgline_parse(TGFILE_RETURNS, edge, sizeof edge - 1, &rec, &why), 0,
		     "2^50 itself refused (%s)", why);
	cr_expect_eq(rec.value, 1ll << 50);
	tg_rec_free(&rec);
}

/* A TIME beyond TG_TIME_MAX (reachable through an exponent) or below zero is a corrupt
 * line: read, it could not be written back (found by tests/fuzz/fuzz_tgline). */
Test(tgline, times_out_of_range_are_refused)
{
	static const char *const lines[] = {"1.71e87#a.py:1:f=>1", "1e11.5#a.py:1:f=>1",
					    "-1.5#a.py:1:f=>1", "2e11#a.py:1:f=>1"};
	struct tg_rec rec = TG_REC_INIT;
	const char *why = "";

	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
		cr_expect_lt(tgline_parse(TGFILE_RETURNS, lines[i], strlen(lines[i]), &rec, &why), 0,
			     "accepted: %s", lines[i]);
	static const char edge[] = "1e11#a.py:1:f=>1";
	cr_expect_eq(tgline_parse(TGFILE_RETURNS, edge, sizeof edge - 1, &rec, &why), 0,
		     "TG_TIME_MAX itself refused (%s)", why);
	tg_rec_free(&rec);
}
