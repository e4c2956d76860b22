#include "symbols/procmaps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

static const char deleted_suffix[] = " (deleted)";

static int parse_line(const char *line, struct procmap *m)
{
	int path_at = 0;
	unsigned long long start, end, offset;

	memset(m, 0, sizeof *m);
	if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &start, &end, m->perms, &offset,
		   &path_at) < 4)
		return -1;
	m->start = start;
	m->end = end;
	m->offset = offset;
	if (path_at > 0) {
		snprintf(m->path, sizeof m->path, "%s", line + path_at);
		m->path[strcspn(m->path, "\n")] = '\0';
		size_t len = strlen(m->path), sl = sizeof deleted_suffix - 1;
		if (len > sl && strcmp(m->path + len - sl, deleted_suffix) == 0) {
			m->deleted = 1;
			m->path[len - sl] = '\0';
		}
	}
	return 0;
}

int procmaps_read(pid_t pid, struct procmaps *out, struct tg_err *err)
{
	char fname[64], *line = NULL;
	size_t cap = 0, alloc = 0;
	FILE *f;

	out->maps = NULL;
	out->n = 0;
	snprintf(fname, sizeof fname, "/proc/%d/maps", (int)pid);
	f = fopen(fname, "re");
	if (!f)
		return tg_err_sys(err, errno == ENOENT ? TG_E_NOPROC : TG_E_PERM, "cannot read %s",
				  fname);
	while (getline(&line, &cap, f) > 0) {
		out->maps = xgrow(out->maps, &alloc, out->n + 1, sizeof *out->maps);
		if (parse_line(line, &out->maps[out->n]) == 0)
			out->n++;
	}
	free(line);
	fclose(f);
	if (out->n == 0)
		return tg_err_set(err, TG_E_NOPROC,
				  "%s is empty: process %d has exited or is a "
				  "kernel thread",
				  fname, (int)pid);
	return 0;
}

void procmaps_free(struct procmaps *m)
{
	free(m->maps);
	m->maps = NULL;
	m->n = 0;
}

const struct procmap *procmaps_first_of(const struct procmaps *m, const char *path)
{
	const struct procmap *best = NULL;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->maps[i].path, path) == 0 && (!best || m->maps[i].start < best->start))
			best = &m->maps[i];
	return best;
}
