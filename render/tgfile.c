#include "render/tgfile.h"

#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/rdopen.h"
#include "common/xalloc.h"
#include "render/interrupt.h"
#include "render/text.h"

#define CHUNK_SIZE 65536

int tgfile_open(struct tgfile *f, const char *path, enum tgfile_kind kind, int strict,
		struct tg_err *err)
{
	memset(f, 0, sizeof *f);
	f->fp = tg_rdopen(path, TG_E_DATA, err);
	if (!f->fp)
		return -1;
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
		if (strcmp(base, "process.charge") == 0)
			return TGNAME_PROCESS_CHARGE;
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
