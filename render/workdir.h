/* workdir.h: a private work directory OUTDIR/.TAG-XXXXXX for gnuplot's inputs and
 * outputs.  Results are renamed into OUTDIR only once complete, so a failed or interrupted
 * render leaves OUTDIR as it was; workdir_remove() deletes the directory with whatever is
 * in it. */
#ifndef TG_WORKDIR_H
#define TG_WORKDIR_H

#include <stdio.h>

#include "common/err.h"

struct workdir {
	char *outdir;
	char *path;   /* NULL when none */
	int replaced; /* files workdir_install() put in place of existing ones */
};

/* Creates OUTDIR (one level) if missing, then the work directory in it. */
int workdir_create(struct workdir *w, const char *outdir, const char *tag, struct tg_err *err);
/* "WORKDIR/name"; caller frees. */
char *workdir_path(const struct workdir *w, const char *name);
/* Opens WORKDIR/name for writing. */
FILE *workdir_fopen(const struct workdir *w, const char *name, struct tg_err *err);
/* Closes fp (opened by workdir_fopen) and reports a failed write as TG_E_OUTPUT. */
int workdir_fclose(const struct workdir *w, const char *name, FILE *fp, struct tg_err *err);
int workdir_write(const struct workdir *w, const char *name, const char *text, struct tg_err *err);
/* Renames WORKDIR/name to OUTDIR/name (counting it in w->replaced when OUTDIR/name
 * existed: the caller says so); an empty or missing file is TG_E_GNUPLOT "gnuplot wrote no
 * NAME" when must_have_data. */
int workdir_install(struct workdir *w, const char *name, int must_have_data, struct tg_err *err);
void workdir_remove(struct workdir *w);

#endif
