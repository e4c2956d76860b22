#include "render/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

int outfile_open(struct outfile *o, const char *path, struct tg_err *err)
{
	struct buf tmp = BUF_INIT;
	int fd;

	memset(o, 0, sizeof *o);
	if (!path || strcmp(path, "-") == 0) {
		o->fp = stdout;
		return 0;
	}
	buf_addf(&tmp, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp.data);
	if (fd < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "creating %s", buf_cstr(&tmp));
		buf_free(&tmp);
		return -1;
	}
	fchmod(fd, 0644);
	o->fp = fdopen(fd, "w");
	if (!o->fp) {
		tg_err_sys(err, TG_E_OUTPUT, "creating %s", buf_cstr(&tmp));
		close(fd);
		unlink(buf_cstr(&tmp));
		buf_free(&tmp);
		return -1;
	}
	o->path = xstrdup(path);
	o->tmp = buf_detach(&tmp);
	return 0;
}

int outfile_commit(struct outfile *o, struct tg_err *err)
{
	const char *shown = o->path ? o->path : "standard output";
	int bad;

	if (!o->tmp) {
		bad = fflush(o->fp) != 0 || ferror(o->fp);
		o->fp = NULL;
		if (bad)
			return tg_err_sys(err, TG_E_OUTPUT, "writing %s", shown);
		return 0;
	}
	bad = ferror(o->fp);
	if (fclose(o->fp) != 0 || bad) {
		o->fp = NULL;
		if (bad && !errno)
			errno = EIO;
		tg_err_sys(err, TG_E_OUTPUT, "writing %s", shown);
		outfile_abort(o);
		return -1;
	}
	o->fp = NULL;
	if (rename(o->tmp, o->path) < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "writing %s", shown);
		outfile_abort(o);
		return -1;
	}
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return 0;
}

void outfile_abort(struct outfile *o)
{
	if (o->tmp) {
		if (o->fp)
			fclose(o->fp);
		unlink(o->tmp);
	}
	o->fp = NULL;
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}
