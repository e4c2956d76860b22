#include "render/tgfile.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/xalloc.h"
#include "render/interrupt.h"
#include "render/text.h"

#define CHUNK_SIZE 65536

void tg_rec_free(struct tg_rec *rec)
{
	buf_free(&rec->file);
	buf_free(&rec->func);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void trim_spaces(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t'))
		(*s)++, (*len)--;
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* DIGITS[.DIGITS], the form every writer uses, without strtod (a third of the parsing
 * time).  The same value as strtod's but for rare last-bit rounding. */
static int parse_time_fast(const char *s, size_t len, double *out)
{
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
	unsigned long long ip = 0, fp = 0;
	size_t i = 0, k;

	while (i < len && is_digit(s[i]) && i < 15)
		ip = ip * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || (i < len && s[i] != '.'))
		return -1;
	if (i == len) {
		*out = (double)ip;
		return 0;
	}
	for (k = ++i; i < len && is_digit(s[i]) && i - k < 9; i++)
		fp = fp * 10 + (unsigned)(s[i] - '0');
	if (i != len || i == k)
		return -1;
	*out = (double)ip + (double)fp / pow10[i - k];
	return 0;
}

/* A decimal number of seconds: digits, optional fraction and exponent; no inf/nan/hex. */
static int parse_time(const char *s, size_t len, double *out)
{
	char tmp[64];
	char *end;
	int digits = 0;

	trim_spaces(&s, &len);
	if (parse_time_fast(s, len, out) == 0)
		return 0;
	if (len == 0 || len >= sizeof tmp)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (is_digit(s[i]))
			digits++;
		else if (!strchr("+-.eE", s[i]) || s[i] == '\0')
			return -1;
	}
	if (!digits)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	if (*end || errno || !isfinite(*out))
		return -1;
	return 0;
}

static int parse_ll(const char *s, size_t len, long long *out)
{
	unsigned long long v = 0, limit;
	int neg = 0;
	size_t i = 0;

	trim_spaces(&s, &len);
	if (len && (s[0] == '-' || s[0] == '+'))
		neg = s[0] == '-', i++;
	if (i == len)
		return -1;
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

/* Finds the last ":<digits>:" (digits may start with '-') in frame; sets the positions of
 * its two colons. */
static int find_line_field(const char *s, size_t len, size_t *c1, size_t *c2)
{
	for (size_t i = len; i-- > 0;) {
		if (s[i] != ':')
			continue;
		size_t j = i;
		while (j > 0 && is_digit(s[j - 1]))
			j--;
		if (j == i || j == 0)
			continue;
		if (s[j - 1] == '-' && j >= 2)
			j--;
		if (s[j - 1] != ':')
			continue;
		*c1 = j - 1;
		*c2 = i;
		return 0;
	}
	return -1;
}

/* tg_unescape_field(), with a fast path for the usual name without a backslash. */
static void unescape(struct buf *out, const char *s, size_t len)
{
	const char *bs = memchr(s, '\\', len);

	if (!bs) {
		buf_add(out, s, len);
		return;
	}
	buf_add(out, s, (size_t)(bs - s));
	tg_unescape_field(out, bs, len - (size_t)(bs - s));
}

static int parse_frame(const char *s, size_t len, struct tg_rec *rec, const char **why)
{
	size_t c1, c2;
	long long line;

	if (find_line_field(s, len, &c1, &c2) < 0) {
		*why = "no FILE:LINE:FUNC";
		return -1;
	}
	if (parse_ll(s + c1 + 1, c2 - c1 - 1, &line) < 0 || line > LONG_MAX || line < LONG_MIN) {
		*why = "bad LINE";
		return -1;
	}
	rec->line = (long)line;
	buf_reset(&rec->file);
	buf_reset(&rec->func);
	unescape(&rec->file, s, c1);
	unescape(&rec->func, s + c2 + 1, len - c2 - 1);
	buf_grow(&rec->file, 0);
	buf_grow(&rec->func, 0);
	rec->frame = s;
	rec->frame_len = len;
	return 0;
}

/* The "=>" that separates DELTA: the last one, so an unescaped "=>" in a name survives. */
static const char *find_arrow(const char *s, size_t len)
{
	for (size_t i = len; i-- > 1;)
		if (s[i - 1] == '=' && s[i] == '>')
			return s + i - 1;
	return NULL;
}

int tgline_parse(enum tgfile_kind kind, const char *s, size_t len, struct tg_rec *rec,
		 const char **why)
{
	const char *hash, *rest, *arrow;
	size_t rest_len, indent = 0;

	while (indent < len && s[indent] == ' ')
		indent++;
	rec->indent = indent;
	hash = memchr(s, '#', len);
	if (!hash) {
		*why = "no '#'";
		return -1;
	}
	if (parse_time(s + indent, (size_t)(hash - s) - indent, &rec->time) < 0) {
		*why = "bad TIME";
		return -1;
	}
	rest = hash + 1;
	rest_len = len - (size_t)(rest - s);
	switch (kind) {
	case TGFILE_SAMPLES:
		if (parse_ll(rest, rest_len, &rec->value) < 0 || rec->value < 0) {
			*why = "bad RSS";
			return -1;
		}
		return 0;
	case TGFILE_RETURNS:
		arrow = find_arrow(rest, rest_len);
		if (!arrow) {
			*why = "no '=>'";
			return -1;
		}
		if (parse_ll(arrow + 2, rest_len - (size_t)(arrow + 2 - rest), &rec->value) < 0) {
			*why = "bad DELTA";
			return -1;
		}
		return parse_frame(rest, (size_t)(arrow - rest), rec, why);
	case TGFILE_CALLS:
		rec->value = 0;
		return parse_frame(rest, rest_len, rec, why);
	}
	*why = "unknown file kind";
	return -1;
}

int tgfile_open(struct tgfile *f, const char *path, enum tgfile_kind kind, int strict,
		struct tg_err *err)
{
	memset(f, 0, sizeof *f);
	f->fp = fopen(path, "r");
	if (!f->fp)
		return tg_err_sys(err, TG_E_DATA, "opening %s", path);
	f->path = xstrdup(path);
	f->kind = kind;
	f->strict = strict;
	f->chunk = xmalloc(CHUNK_SIZE);
	return 0;
}

void tgfile_close(struct tgfile *f)
{
	if (f->fp)
		fclose(f->fp);
	free(f->path);
	free(f->chunk);
	buf_free(&f->line);
	memset(f, 0, sizeof *f);
}

static int fill_chunk(struct tgfile *f, struct tg_err *err)
{
	size_t n;

	if (f->eof)
		return 0;
	if (interrupt_pending())
		return tg_err_set(err, TG_E_INTERNAL, "reading %s: interrupted", f->path);
	n = fread(f->chunk, 1, CHUNK_SIZE, f->fp);
	if (n == 0) {
		if (ferror(f->fp))
			return tg_err_sys(err, TG_E_DATA, "reading %s", f->path);
		f->eof = 1;
		return 0;
	}
	f->chunk_len = n;
	f->chunk_pos = 0;
	return 1;
}

int tgfile_next_line(struct tgfile *f, int *too_long, struct tg_err *err)
{
	int got = 0;

	buf_reset(&f->line);
	*too_long = 0;
	for (;;) {
		if (f->chunk_pos == f->chunk_len) {
			int r = fill_chunk(f, err);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
		}
		char *start = f->chunk + f->chunk_pos;
		size_t avail = f->chunk_len - f->chunk_pos;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl ? (size_t)(nl - start) : avail;
		size_t room = TGFILE_LINE_MAX - f->line.len;

		got = 1;
		if (take > room)
			*too_long = 1;
		buf_add(&f->line, start, take > room ? room : take);
		f->chunk_pos += take;
		if (nl) {
			f->chunk_pos++;
			break;
		}
	}
	if (!got)
		return 0;
	f->lineno++;
	buf_grow(&f->line, 0);
	return 1;
}

static int is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

int tgfile_malformed(struct tgfile *f, const char *why, struct tg_err *err)
{
	f->malformed++;
	if (f->strict)
		return tg_err_set(err, TG_E_DATA, "%s:%lu: malformed line: %s", f->path, f->lineno,
				  why);
	if (!f->quiet) {
		struct buf shown = BUF_INIT;
		text_display(&shown, f->path, strlen(f->path));
		fprintf(stderr, "%s:%lu: skipped malformed line: %s\n", buf_cstr(&shown), f->lineno,
			why);
		buf_free(&shown);
	}
	return 0;
}

int tgfile_next(struct tgfile *f, struct tg_rec *rec, struct tg_err *err)
{
	for (;;) {
		int too_long;
		int r = tgfile_next_line(f, &too_long, err);
		const char *why;

		if (r <= 0)
			return r;
		size_t len = f->line.len;
		if (len && f->line.data[len - 1] == '\r')
			len--;
		if (too_long) {
			if (tgfile_malformed(f, "line too long", err) < 0)
				return -1;
			continue;
		}
		if (is_blank(f->line.data, len))
			continue;
		if (tgline_parse(f->kind, f->line.data, len, rec, &why) == 0)
			return 1;
		if (tgfile_malformed(f, why, err) < 0)
			return -1;
	}
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

enum tgname_kind tgname_classify(const char *base, struct buf *thread)
{
	size_t len = strlen(base);
	enum tgname_kind kind;
	size_t stem;

	if (base[0] == '.' || len == 0)
		return TGNAME_OTHER;
	if (strncmp(base, "process.", 8) == 0) {
		if (strcmp(base, "process.mem") == 0)
			return TGNAME_PROCESS_MEM;
		return strcmp(base, "process.alloc") == 0 ? TGNAME_PROCESS_ALLOC : TGNAME_OTHER;
	}
	if (has_suffix(base, len, ".mem"))
		kind = TGNAME_THREAD_MEM, stem = len - 4;
	else if (has_suffix(base, len, ".stack"))
		kind = TGNAME_THREAD_STACK, stem = len - 6;
	else
		return TGNAME_OTHER;
	if (stem == 0)
		return TGNAME_OTHER;
	if (thread)
		tg_unescape_filename(thread, base, stem);
	return kind;
}
