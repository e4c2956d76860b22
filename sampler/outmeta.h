/* outmeta.h: DIR/PID/meta of sampler/output: key=value lines, one block per run.
 *
 * The lines of earlier runs are kept as they were; this run's block starts with "run=N"
 * (N = 1 + the earlier "run=" lines).  The file is rewritten atomically (meta.tmp, then
 * rename), O_NOFOLLOW relative to the directory.  In keys and values '\\', control bytes
 * (newlines included) and, in keys, '=' are written as \xHH (tg_unescape_field reverses
 * it). */
#ifndef TG_OUTMETA_H
#define TG_OUTMETA_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

struct outmeta {
	int dfd;	  /* the directory */
	const char *path; /* its name, for messages */
	struct buf prior; /* the lines of earlier runs */
	unsigned run;	  /* this run's number */
};

/* Reads the earlier runs' lines of meta in dfd (none if it does not exist) and numbers
 * this run.  path (DIR/PID) must outlive m. */
int outmeta_load(struct outmeta *m, int dfd, const char *path, struct tg_err *err);
/* Rewrites meta: the earlier runs' lines, "run=N", then the n key=value pairs. */
int outmeta_write(const struct outmeta *m, const char *const *keys, const char *const *values,
		  size_t n, struct tg_err *err);
void outmeta_free(struct outmeta *m);

#endif
