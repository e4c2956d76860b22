#include "render/table.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"

#define WORD_MAX 64

int table_open(struct table *t, const char *path, int strict, struct tg_err *err)
{
	memset(t, 0, sizeof *t);
	return tgfile_open(&t->f, path, TGFILE_SAMPLES, strict, err);
}

static void drop_names(struct table *t)
{
	for (size_t i = 0; i < t->ncols; i++)
		free(t->names[i]);
	t->ncols = 0;
}

void table_close(struct table *t)
{
	drop_names(t);
	tgfile_close(&t->f);
}

int table_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

size_t table_next_word(const char *s, size_t len, size_t *pos, const char **word)
{
	size_t i = *pos, start;

	while (i < len && table_is_space(s[i]))
		i++;
	start = i;
	while (i < len && !table_is_space(s[i]))
		i++;
	*pos = i;
	*word = s + start;
	return i - start;
}

/* "# time a b c": the new column names.  Returns 1 if it was a header, 0 for another
 * comment, -1 with *why for a header that cannot be used. */
static int header(struct table *t, const char *s, size_t len, const char **why)
{
	size_t pos = 1, n;
	const char *w;

	n = table_next_word(s, len, &pos, &w);
	if (n != 4 || strncasecmp(w, "time", 4) != 0)
		return 0;
	drop_names(t);
	t->header_gen++;
	while ((n = table_next_word(s, len, &pos, &w)) != 0) {
		if (t->ncols == TABLE_MAX_COLS) {
			*why = "more than 64 columns";
			drop_names(t);
			return -1;
		}
		t->names[t->ncols++] = xstrndup(w, n);
	}
	return 1;
}

static int placeholder(const char *w, size_t n)
{
	static const char *const words[] = {"?", "-", "nan", "-nan", "na", "n/a"};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
			return 1;
	return 0;
}

/* A finite decimal number: no hex, inf or nan spelled out. */
static int number(const char *w, size_t n, double *out)
{
	char tmp[WORD_MAX];
	char *end;

	if (n == 0 || n >= sizeof tmp || strcspn(w, "xXiInN") < n)
		return -1;
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, &end);
	return *end || errno == ERANGE || !isfinite(*out) ? -1 : 0;
}

static int parse_row(const struct table *t, const char *s, size_t len, struct table_row *row,
		     const char **why)
{
	size_t pos = 0, n, i = 0;
	const char *w;

	if (t->header_gen == 0) {
		*why = "a row before the column header ('# time ...')";
		return -1;
	}
	n = table_next_word(s, len, &pos, &w);
	if (number(w, n, &row->time) < 0) {
		*why = "bad TIME";
		return -1;
	}
	while ((n = table_next_word(s, len, &pos, &w)) != 0) {
		if (i == t->ncols) {
			*why = "more fields than the header names";
			return -1;
		}
		row->have[i] = !placeholder(w, n);
		if (row->have[i] && number(w, n, &row->v[i]) < 0) {
			*why = "a field is neither a number nor a placeholder (?)";
			return -1;
		}
		i++;
	}
	if (i != t->ncols) {
		*why = "fewer fields than the header names";
		return -1;
	}
	row->n = i;
	return 0;
}

int table_next(struct table *t, struct table_row *row, struct tg_err *err)
{
	for (;;) {
		int too_long, r = tgfile_next_line(&t->f, &too_long, err);
		const char *s = buf_cstr(&t->f.line), *why = "line too long";
		size_t len = t->f.line.len, pos = 0;

		if (r <= 0)
			return r;
		if (!too_long) {
			while (pos < len && table_is_space(s[pos]))
				pos++;
			if (pos == len)
				continue;
			if (s[pos] == '#') {
				if (header(t, s + pos, len - pos, &why) >= 0)
					continue;
			} else if (memchr(s, '\0', len) == NULL &&
				   parse_row(t, s, len, row, &why) == 0) {
				return 1;
			} else if (memchr(s, '\0', len)) {
				why = "a NUL byte";
			}
		}
		if (tgfile_malformed(&t->f, why, err) < 0)
			return -1;
	}
}
