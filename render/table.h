/* table.h: reading process.alloc, a whitespace-separated table for gnuplot
 * (docs/formats.md):
 *
 *   # any comment
 *   # time rss anon heap arenas ...      <- the column header: a comment starting "time"
 *   1700000000.250000 31582596 1234 ? 17 ...
 *
 * A comment line whose first word is "time" names the columns of the rows after it (a
 * rerun appends a new header, maybe with other columns).  A row has exactly as many
 * fields as its header; the first is the time (Unix seconds), each other one a number or
 * a placeholder for "no value": ?, -, NaN, NA.  Anything else is a malformed line,
 * reported with file name and line number and skipped (an error in strict mode), as
 * tgfile does.  One line in memory at a time. */
#ifndef TG_TABLE_H
#define TG_TABLE_H

#include <stddef.h>

#include "common/err.h"
#include "render/tgfile.h"

#define TABLE_MAX_COLS 64

struct table_row {
	double time;
	size_t n;			    /* columns after time */
	double v[TABLE_MAX_COLS];	    /* v[i]: column i + 1 */
	unsigned char have[TABLE_MAX_COLS]; /* 0: placeholder */
};

struct table {
	struct tgfile f;
	char *names[TABLE_MAX_COLS]; /* names[i]: column i + 1; NULL before a header */
	size_t ncols;		     /* columns after time */
	unsigned long header_gen;    /* incremented at each header line */
};

int table_open(struct table *t, const char *path, int strict, struct tg_err *err);
/* The next well-formed row: 1, 0 at the end, -1 on a read error or, in strict mode, a
 * malformed line.  t->names describe it. */
int table_next(struct table *t, struct table_row *row, struct tg_err *err);
void table_close(struct table *t);

/* Words of a row: blanks are spaces, tabs and '\r'. */
int table_is_space(char c);
/* The next word of s[*pos..len): its start in *word and its length, 0 at the end. */
size_t table_next_word(const char *s, size_t len, size_t *pos, const char **word);

#endif
