/* outfile.h: the output of a text export (render collapsed, render speedscope): standard
 * output, or a file written as PATH.tmp-XXXXXX and renamed over PATH only when complete,
 * so a failed or interrupted export leaves no partial file. */
#ifndef TG_OUTFILE_H
#define TG_OUTFILE_H

#include <stdio.h>

#include "common/err.h"

struct outfile {
	FILE *fp;
	char *path, *tmp; /* NULL for standard output */
};

/* path NULL or "-": standard output. */
int outfile_open(struct outfile *o, const char *path, struct tg_err *err);
/* Flushes; for a file, closes it and renames it into place.  TG_E_OUTPUT on a failed
 * write (full disk, closed pipe). */
int outfile_commit(struct outfile *o, struct tg_err *err);
/* Drops a file not committed (no-op after outfile_commit). */
void outfile_abort(struct outfile *o);

#endif
