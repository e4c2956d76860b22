#include "render/workdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

int workdir_create(struct workdir *w, const char *outdir, const char *tag, struct tg_err *err)
{
	struct buf b = BUF_INIT;

	w->outdir = xstrdup(outdir);
	w->path = NULL;
	if (mkdir(outdir, 0777) < 0 && errno != EEXIST)
		return tg_err_sys(err, TG_E_OUTPUT, "creating %s", outdir);
	buf_addf(&b, "%s/.%s-XXXXXX", outdir, tag);
	w->path = buf_detach(&b);
	if (!mkdtemp(w->path)) {
		tg_err_sys(err, TG_E_OUTPUT, "creating a work directory in %s", outdir);
		free(w->path);
		w->path = NULL;
		return -1;
	}
	return 0;
}

char *workdir_path(const struct workdir *w, const char *name)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", w->path, name);
	return buf_detach(&b);
}

FILE *workdir_fopen(const struct workdir *w, const char *name, struct tg_err *err)
{
	char *path = workdir_path(w, name);
	FILE *fp = fopen(path, "w");

	if (!fp)
		tg_err_sys(err, TG_E_OUTPUT, "creating %s", path);
	free(path);
	return fp;
}

int workdir_fclose(const struct workdir *w, const char *name, FILE *fp, struct tg_err *err)
{
	int bad = ferror(fp);

	if (fclose(fp) != 0 || bad) {
		char *path = workdir_path(w, name);
		if (bad && !errno)
			errno = EIO;
		tg_err_sys(err, TG_E_OUTPUT, "writing %s", path);
		free(path);
		return -1;
	}
	return 0;
}

int workdir_write(const struct workdir *w, const char *name, const char *text, struct tg_err *err)
{
	FILE *fp = workdir_fopen(w, name, err);

	if (!fp)
		return -1;
	fputs(text, fp);
	return workdir_fclose(w, name, fp, err);
}

int workdir_install(struct workdir *w, const char *name, int must_have_data, struct tg_err *err)
{
	char *from = workdir_path(w, name);
	struct buf to = BUF_INIT;
	struct stat st;
	int rc = 0;

	buf_addf(&to, "%s/%s", w->outdir, name);
	if (must_have_data && (stat(from, &st) < 0 || st.st_size == 0))
		rc = tg_err_set(err, TG_E_GNUPLOT, "gnuplot wrote no %s", name);
	else {
		w->replaced += lstat(buf_cstr(&to), &st) == 0;
		if (rename(from, buf_cstr(&to)) < 0)
			rc = tg_err_sys(err, TG_E_OUTPUT, "writing %s", buf_cstr(&to));
	}
	free(from);
	buf_free(&to);
	return rc;
}

void workdir_remove(struct workdir *w)
{
	DIR *d;
	struct dirent *e;

	if (w->path && (d = opendir(w->path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char *p = workdir_path(w, e->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
		rmdir(w->path);
	}
	free(w->path);
	free(w->outdir);
	w->path = w->outdir = NULL;
}
