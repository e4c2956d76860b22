#include "common/tgline.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"

/* ---- writing ---- */

/* TIME#FILE:LINE:FUNC */
static void add_site(struct buf *b, double time, const char *file, long line, const char *func)
{
	buf_addf(b, "%.6f#", time);
	tg_escape_field(b, file ? file : "", file ? strlen(file) : 0);
	buf_addf(b, ":%ld:", line);
	tg_escape_field(b, func ? func : "", func ? strlen(func) : 0);
}

void tgline_add_sample(struct buf *b, double time, uint64_t rss)
{
	buf_addf(b, "%.6f#%" PRIu64 "\n", time, rss);
}

void tgline_add_call(struct buf *b, size_t depth, double time, const char *file, long line,
		     const char *func)
{
	buf_grow(b, depth);
	memset(b->data + b->len, ' ', depth);
	b->len += depth;
	add_site(b, time, file, line, func);
	buf_addch(b, '\n');
}

void tgline_add_return(struct buf *b, double time, const char *file, long line, const char *func,
		       int64_t delta)
{
	add_site(b, time, file, line, func);
	buf_addf(b, "=>%" PRId64 "\n", delta);
}

/* ---- reading ---- */

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
	if (*end || errno || !isfinite(*out) || *out < 0 || *out > TG_TIME_MAX)
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
		if (parse_ll(rest, rest_len, &rec->value) < 0 || rec->value < 0 ||
		    rec->value > TG_VALUE_MAX) {
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
		if (parse_ll(arrow + 2, rest_len - (size_t)(arrow + 2 - rest), &rec->value) < 0 ||
		    rec->value > TG_VALUE_MAX || rec->value < -TG_VALUE_MAX) {
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
