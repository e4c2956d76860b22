/* rdopen.h: open a file for reading that may have been planted.
 *
 * A recording's directory may hold what someone else put there: a FIFO would block an
 * fopen() for ever (no signal handler runs meanwhile in a process blocked in open), a
 * device would be read.  tg_rdopen() opens without blocking and accepts only a regular
 * file. */
#ifndef TG_RDOPEN_H
#define TG_RDOPEN_H

#include <stdio.h>

#include "common/err.h"

/* A stdio stream on the regular file at path; NULL and err (code, "opening PATH: why")
 * otherwise.  errno is the open's when it failed (ENOENT for a missing file). */
FILE *tg_rdopen(const char *path, int code, struct tg_err *err);
/* The same as a descriptor (O_CLOEXEC, blocking again once open); -1 with errno (EINVAL:
 * not a regular file).  For files a target names (the objects it maps, debug files under
 * its root), which it may have replaced with a FIFO. */
int tg_rdopen_fd(const char *path);

#endif
