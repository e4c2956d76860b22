/* libFuzzer: the line grammar (common/tgline) on every line of the input, as each of the
 * three kinds; a line that parses as a return is written back and must parse to the same
 * text again (what the writer writes the reader reads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tgline.h"

static int has_nul(const struct buf *b)
{
	return b->len && memchr(b->data, '\0', b->len) != NULL;
}

static void round_trip(struct tg_rec *rec)
{
	struct buf one = BUF_INIT, two = BUF_INIT;
	struct tg_rec again = TG_REC_INIT;
	const char *why;

	if (has_nul(&rec->file) || has_nul(&rec->func))
		return; /* a NUL cannot be written */
	tgline_add_return(&one, rec->time, buf_cstr(&rec->file), rec->line, buf_cstr(&rec->func),
			  rec->value);
	if (tgline_parse(TGFILE_RETURNS, one.data, one.len - 1, &again, &why) != 0) {
		fprintf(stderr, "written, refused (%s): %s", why, buf_cstr(&one));
		abort(); /* the writer wrote what the reader refuses */
	}
	/* the writer's NUL marker (C0 80, common/escape.h) in a name is read back as a NUL */
	if (has_nul(&again.file) || has_nul(&again.func))
		goto out;
	tgline_add_return(&two, again.time, buf_cstr(&again.file), again.line,
			  buf_cstr(&again.func), again.value);
	if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0) {
		fprintf(stderr, "round trip:\n%s%s", buf_cstr(&one), buf_cstr(&two));
		abort(); /* written, read and written again: not the same line */
	}
out:
	buf_free(&one);
	buf_free(&two);
	tg_rec_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tg_rec rec = TG_REC_INIT;
	const char *s = (const char *)data, *end = s + len, *why;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		for (int kind = TGFILE_SAMPLES; kind <= TGFILE_CALLS; kind++)
			if (tgline_parse((enum tgfile_kind)kind, s, n, &rec, &why) == 0 &&
			    kind == TGFILE_RETURNS)
				round_trip(&rec);
		s += n + 1;
	}
	tg_rec_free(&rec);
	return 0;
}
