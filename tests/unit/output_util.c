/* output_util.c: see output_util.h. */
#include "tests/unit/output_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/escape.h"

char *outt_tmpdir_make(void)
{
	char tmpl[] = "/tmp/tg-output-test-XXXXXX";

	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
	return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void outt_tmpdir_remove(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *outt_path_join(const char *a, const char *b)
{
	struct buf p = BUF_INIT;

	buf_addf(&p, "%s/%s", a, b);
	return buf_detach(&p);
}

/* The whole file, or NULL if it does not exist. */
char *outt_file_read(const char *dir, const char *name, size_t *len)
{
	char *path = outt_path_join(dir, name);
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char chunk[8192];
	size_t n;

	free(path);
	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return buf_detach(&b);
}

void outt_file_write(const char *dir, const char *name, const char *content)
{
	char *path = outt_path_join(dir, name);
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
	free(path);
}

int outt_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static size_t count_str(const char *s, size_t len, const char *what)
{
	size_t n = 0, wl = strlen(what);

	for (size_t i = 0; i + wl <= len; i++)
		if (memcmp(s + i, what, wl) == 0)
			n++;
	return n;
}

/* Checks one ThreadGraph line (without '\n') in the format for its file and returns the
 * FILE:LINE:FUNC part in site (start, length). */
static void line_check(const char *name, const char *l, size_t len, int is_mem, int is_proc,
		       const char **site, size_t *sitelen)
{
	const char *hash = memchr(l, '#', len);

	cr_assert_eq(count_str(l, len, "#"), 1, "%s: not exactly one '#': %.*s", name, (int)len, l);
	cr_assert_eq(count_str(l, len, "\n"), 0);
	if (is_proc) {
		char *end;
		strtoull(hash + 1, &end, 10);
		cr_assert(end == l + len && end > hash + 1, "%s: bad RSS", name);
		return;
	}
	const char *s = hash + 1;
	size_t n = len - (size_t)(s - l);
	if (is_mem) {
		cr_assert_eq(count_str(l, len, "=>"), 1, "%s: not exactly one '=>': %.*s", name,
			     (int)len, l);
		const char *arrow = strstr(s, "=>");
		char *end;
		strtoll(arrow + 2, &end, 10);
		cr_assert(end == l + len && end > arrow + 2, "%s: bad delta: %.*s", name, (int)len,
			  l);
		n = (size_t)(arrow - s);
	}
	cr_assert_eq(count_str(s, n, ":"), 2, "%s: not exactly two ':' in %.*s", name, (int)n, s);
	*site = s;
	*sitelen = n;
}

/* Every line of every file in dir is whole and well-formed; returns the number of files. */
int outt_dir_check_lines(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		files++;
		if (strcmp(e->d_name, "meta") == 0)
			continue;
		size_t len, nl = strlen(e->d_name);
		int is_mem = nl > 4 && strcmp(e->d_name + nl - 4, ".mem") == 0;
		int is_stack = nl > 6 && strcmp(e->d_name + nl - 6, ".stack") == 0;
		cr_assert(is_mem || is_stack, "unexpected file %s", e->d_name);
		char *c = outt_file_read(dir, e->d_name, &len);
		cr_assert(len == 0 || c[len - 1] == '\n', "%s does not end with a newline",
			  e->d_name);
		for (size_t i = 0; i < len;) {
			const char *l = c + i, *site;
			size_t ll = (size_t)((char *)memchr(l, '\n', len - i) - l), sl;
			line_check(e->d_name, l, ll, is_mem, strcmp(e->d_name, "process.mem") == 0,
				   &site, &sl);
			i += ll + 1;
		}
		free(c);
	}
	closedir(d);
	return files;
}

/* Unescapes the first line's FILE and FUNC. */
void outt_first_site(const char *dir, const char *name, int is_mem, struct buf *file,
		     struct buf *func)
{
	size_t len, sl;
	const char *site;
	char *c = outt_file_read(dir, name, &len);

	cr_assert_not_null(c, "%s missing", name);
	size_t ll = (size_t)((char *)memchr(c, '\n', len) - c);
	line_check(name, c, ll, is_mem, 0, &site, &sl);
	const char *colon1 = memchr(site, ':', sl);
	const char *colon2 = memchr(colon1 + 1, ':', sl - (size_t)(colon1 + 1 - site));
	tg_unescape_field(file, site, (size_t)(colon1 - site));
	tg_unescape_field(func, colon2 + 1, sl - (size_t)(colon2 + 1 - site));
	free(c);
}
