/* procmaps.h: the mappings of a process, from /proc/PID/maps. */
#ifndef TG_PROCMAPS_H
#define TG_PROCMAPS_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct procmap {
	uint64_t start, end, offset;
	char perms[5];
	int deleted; /* the path ended in " (deleted)" (which is stripped from path) */
	char path[PATH_MAX];
};

struct procmaps {
	struct procmap *maps;
	size_t n;
};

/* TG_E_NOPROC when the process does not exist, TG_E_PERM when maps is unreadable. */
int procmaps_read(pid_t pid, struct procmaps *out, struct tg_err *err);
void procmaps_free(struct procmaps *m);

/* The lowest mapping of the file `path` (its load base), or NULL. */
const struct procmap *procmaps_first_of(const struct procmaps *m, const char *path);

#endif
