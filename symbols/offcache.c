#include "symbols/offcache.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_FORMAT 1

static int cache_dir(char *out, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg == '/')
		snprintf(out, len, "%s/tgattach", xdg);
	else if (home && *home == '/')
		snprintf(out, len, "%s/.cache/tgattach", home);
	else
		return -1;
	return 0;
}

static int valid_build_id(const char *id)
{
	size_t n = strlen(id);

	if (n < 16 || n > 40)
		return 0;
	return strspn(id, "0123456789abcdef") == n;
}

static int cache_path(const char *build_id, char *out, size_t len)
{
	char dir[PATH_MAX];

	if (!valid_build_id(build_id) || cache_dir(dir, sizeof dir) < 0)
		return -1;
	snprintf(out, len, "%s/offsets-%s", dir, build_id);
	return 0;
}

int offcache_load(const char *build_id, struct py_offsets *out)
{
	char path[PATH_MAX], id[64], field[128];
	int format;
	size_t count, seen = 0;
	long value;

	if (cache_path(build_id, path, sizeof path) < 0)
		return -1;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	py_offsets_clear(out);
	int ok = fscanf(f, "tgattach-offsets %d %63s %zu", &format, id, &count) == 3 &&
		 format == CACHE_FORMAT && strcmp(id, build_id) == 0 && count == py_offset_ndescs;
	while (ok && fscanf(f, "%127s %ld", field, &value) == 2) {
		const struct py_offset_desc *d = py_offsets_find(field);
		if (!d || value < OFFSET_ABSENT || value > INT32_MAX) {
			ok = 0;
			break;
		}
		py_offsets_set(out, d, (int32_t)value);
		seen++;
	}
	fclose(f);
	return ok && seen == count ? 0 : -1;
}

static void make_dirs(const char *dir)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	mkdir(tmp, 0755);
}

void offcache_store(const char *build_id, const struct py_offsets *in)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16], dir[PATH_MAX];

	if (cache_path(build_id, path, sizeof path) < 0 || cache_dir(dir, sizeof dir) < 0)
		return;
	make_dirs(dir);
	snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "tgattach-offsets %d %s %zu\n", CACHE_FORMAT, build_id, py_offset_ndescs);
	for (size_t i = 0; i < py_offset_ndescs; i++)
		fprintf(f, "%s %d\n", py_offset_descs[i].field,
			py_offsets_get(in, &py_offset_descs[i]));
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}
