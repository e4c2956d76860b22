/* tgfile.h: streaming reader of ThreadGraph data files (process.mem, THREAD.mem,
 * THREAD.stack), written by tgattach or by the original ThreadGraph.
 *
 *   process.mem    TIME#RSS_BYTES
 *   THREAD.mem     TIME#FILE:LINE:FUNC=>DELTA      (one per return, post-order)
 *   THREAD.stack   <indent>TIME#FILE:LINE:FUNC     (one per call, pre-order)
 *
 * Lines are parsed by the grammar the sampler writes them with (common/tgline.h: the kinds,
 * struct tg_rec, tgline_parse(), and what is accepted from the original's files).
 *
 * Memory stays bounded: one reused line buffer; a line longer than TGFILE_LINE_MAX is
 * skipped as malformed.  A malformed line is reported on stderr as
 * "PATH:LINENO: skipped malformed line: WHY" and counted; in strict mode it is an error
 * (TG_E_DATA).  Blank lines are skipped silently.  Reading stops with an error when a
 * Ctrl-C is pending (render/interrupt.h). */
#ifndef TG_TGFILE_H
#define TG_TGFILE_H

#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/tgline.h"

#define TGFILE_LINE_MAX (1u << 20)

struct tgfile {
	FILE *fp;
	char *path;
	enum tgfile_kind kind;
	int strict;
	int quiet;	 /* don't report malformed lines (still counted) */
	struct buf line; /* the current line, newline stripped */
	char *chunk;	 /* read buffer */
	size_t chunk_len, chunk_pos;
	int eof;
	unsigned long lineno;	 /* line number of the last line read, 1-based */
	unsigned long malformed; /* lines skipped so far */
};

int tgfile_open(struct tgfile *f, const char *path, enum tgfile_kind kind, int strict,
		struct tg_err *err);
/* Reads the next well-formed record.  Returns 1 with *rec filled (f->lineno is its line
 * number), 0 at end of file, -1 on a read error or, in strict mode, a malformed line. */
int tgfile_next(struct tgfile *f, struct tg_rec *rec, struct tg_err *err);
void tgfile_close(struct tgfile *f);

/* Reads the next raw line (newline stripped, trailing '\r' kept).  Returns 1, 0 at end,
 * -1 on a read error; an over-long line is returned cut to TGFILE_LINE_MAX with
 * *too_long set. */
int tgfile_next_line(struct tgfile *f, int *too_long, struct tg_err *err);

/* Counts the current line (f->lineno) as malformed: reported on stderr and 0, or in strict
 * mode -1 with err.  For readers of other line formats built on tgfile_next_line(). */
int tgfile_malformed(struct tgfile *f, const char *why, struct tg_err *err);

enum tgname_kind {
	TGNAME_OTHER,
	TGNAME_PROCESS_MEM,
	TGNAME_PROCESS_ALLOC,
	TGNAME_PROCESS_CHARGE,
	TGNAME_THREAD_MEM,
	TGNAME_THREAD_STACK,
};

/* Classifies a directory entry by its base name; for thread files, appends the thread
 * name (file name minus its last extension, tg_unescape_filename applied) to *thread. */
enum tgname_kind tgname_classify(const char *base, struct buf *thread);

#endif
