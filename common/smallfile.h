/* smallfile.h: the first bytes of a small file (a /proc or /sys entry), in one read. */
#ifndef TG_SMALLFILE_H
#define TG_SMALLFILE_H

#include <sys/types.h>

/* path's first size - 1 bytes into buf, NUL-terminated; the bytes read, or -1 with errno.
 * One read(2): what procfs gives at once. */
ssize_t tg_read_small(const char *path, char *buf, size_t size);

#endif
