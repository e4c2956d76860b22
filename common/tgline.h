/* tgline.h: the line grammar of ThreadGraph's data files, defined once for the writer
 * (sampler/output) and the reader (render/tgfile), so that what one writes the other reads
 * back by construction (docs/formats.md).
 *
 *   process.mem    TIME#RSS
 *   THREAD.stack   INDENT TIME#FILE:LINE:FUNC       INDENT: depth spaces, no space after it
 *   THREAD.mem     TIME#FILE:LINE:FUNC=>DELTA
 *
 * Written: TIME with 6 decimals, RSS, LINE and DELTA in decimal, FILE and FUNC field-escaped
 * (common/escape.h), so a line has one '#', FILE:LINE:FUNC has two ':' and "=>" is only the
 * separator before DELTA.
 *
 * Read: also the original ThreadGraph's files.  TIME is any decimal number (with or
 * without decimals; no inf, nan or hex); names may be unescaped, so LINE is taken from the
 * last ":<digits>:" of FILE:LINE:FUNC (a ':' inside FILE survives) and DELTA from after the
 * last "=>"; spaces and tabs around numbers are allowed.  The indentation is counted, not
 * interpreted: the original's quirk (depths 0 and 1 both unindented) is the caller's
 * (render/pair.c). */
#ifndef TG_TGLINE_H
#define TG_TGLINE_H

/* The largest |DELTA| and RSS a line may hold (1 PiB): a larger one is a corrupt line, and
 * sums of many in-range values stay far from the int64 limits. */
#define TG_VALUE_MAX (1ll << 50)
/* The latest TIME a line may hold (Unix seconds, the year 5138); a negative one is corrupt
 * too.  Anything in range is written back in the form it is read in. */
#define TG_TIME_MAX 1e11

/* The call tgattach writes for growth a thread made while it ran unseen, between two
 * readings, and came back to the stack it was last seen at (docs/memory.md): a call of its
 * own under the innermost frame, whose return carries the growth, so that frame and its
 * callers are charged it (NET) and no function as its own (SELF).  Renderers name it so. */
#define TG_UNSEEN_FILE "<tgattach>"
#define TG_UNSEEN_FUNC "[ran unseen]"

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The kind of file, which decides the form of its lines. */
enum tgfile_kind {
	TGFILE_SAMPLES, /* process.mem */
	TGFILE_RETURNS, /* THREAD.mem */
	TGFILE_CALLS,	/* THREAD.stack */
};

/* One parsed line.  file/func are owned by the record and reused from line to line. */
struct tg_rec {
	double time;
	long long value;      /* RSS bytes (samples) or DELTA bytes (returns) */
	unsigned long indent; /* leading spaces (calls) */
	long line;	      /* source line (returns, calls) */
	struct buf file;
	struct buf func;
	const char *frame; /* the raw FILE:LINE:FUNC text, valid until the next line */
	size_t frame_len;
};

#define TG_REC_INIT                                                                                \
	{                                                                                          \
		0, 0, 0, 0, BUF_INIT, BUF_INIT, NULL, 0                                            \
	}

void tg_rec_free(struct tg_rec *rec);

/* Each appends one whole line, newline included.  file and func are NUL-terminated (NULL is
 * ""); a NUL inside a name cannot be written. */
void tgline_add_sample(struct buf *b, double time, uint64_t rss);
void tgline_add_call(struct buf *b, size_t depth, double time, const char *file, long line,
		     const char *func);
void tgline_add_return(struct buf *b, double time, const char *file, long line, const char *func,
		       int64_t delta);

/* Parses one line (without its newline; may hold NUL bytes).  Returns 0, or -1 with *why
 * set to a static reason.  FILE and FUNC come back unescaped (tg_unescape_field). */
int tgline_parse(enum tgfile_kind kind, const char *s, size_t len, struct tg_rec *rec,
		 const char **why);

#endif
