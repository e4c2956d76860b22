/* The facade of the output modules: the directory, process.mem and process.alloc, and the
 * calls to the thread writers (sampler/outthread), the descriptor cap (sampler/outfd),
 * meta (sampler/outmeta), over files of whole lines (sampler/linefile) written in the line
 * grammar shared with render/ (common/tgline). */
#include "sampler/output.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/tgline.h"
#include "common/xalloc.h"
#include "sampler/linefile.h"
#include "sampler/outfd.h"
#include "sampler/outmeta.h"
#include "sampler/outthread.h"

struct output {
	struct linefile_dir dir; /* DIR/PID */
	unsigned flags;
	struct linefile proc;
	struct buf proc_buf;
	struct linefile alloc; /* process.alloc, opened on first use */
	struct buf alloc_buf;
	struct linefile charge; /* process.charge, opened on first use */
	struct buf charge_buf;
	int charge_started; /* this run's comment line is written */
	struct outfd fds;
	struct outthread_reg threads;
	struct outmeta meta;
	int created; /* DIR/PID did not exist before this run */
};

/* ---- threads ---- */

struct output_thread *output_thread(struct output *o, uint64_t tid, const char *name,
				    size_t namelen)
{
	return outthread_get(&o->threads, tid, name, namelen);
}

const char *output_thread_file(const struct output_thread *th)
{
	return th->base;
}

int output_thread_done(struct output *o, struct output_thread *th, struct tg_err *err)
{
	int rc = 0;

	outthread_forget(&o->threads, th);
	if (outfd_release(&o->fds, &o->dir, &th->stack, err) < 0)
		rc = -1;
	if (outfd_release(&o->fds, &o->dir, &th->mem, rc < 0 ? NULL : err) < 0)
		rc = -1;
	outthread_free(th);
	return rc;
}

/* ---- lines ---- */

int output_call(struct output *o, struct output_thread *th, double when, int depth,
		const char *file, int line, const char *func, struct tg_err *err)
{
	struct buf *b;

	if (o->flags & OUTPUT_NO_STACK)
		return 0;
	if (o->dir.broken)
		return linefile_failed(&o->dir, err);
	b = outfd_buf(&o->fds, &o->dir, &th->stack, err);
	if (!b)
		return -1;
	if (depth < 0)
		depth = 0;
	if (depth > OUTPUT_MAX_DEPTH)
		depth = OUTPUT_MAX_DEPTH;
	tgline_add_call(b, (size_t)depth, when, file, line, func);
	return linefile_line_done(&o->dir, &th->stack, b, err);
}

int output_return(struct output *o, struct output_thread *th, double when, const char *file,
		  int line, const char *func, int64_t delta, struct tg_err *err)
{
	struct buf *b;

	if (o->dir.broken)
		return linefile_failed(&o->dir, err);
	b = outfd_buf(&o->fds, &o->dir, &th->mem, err);
	if (!b)
		return -1;
	tgline_add_return(b, when, file, line, func, delta);
	return linefile_line_done(&o->dir, &th->mem, b, err);
}

int output_process_mem(struct output *o, double when, uint64_t rss, struct tg_err *err)
{
	if (o->dir.broken)
		return linefile_failed(&o->dir, err);
	tgline_add_sample(&o->proc_buf, when, rss);
	return linefile_line_done(&o->dir, &o->proc, &o->proc_buf, err);
}

/* ---- process.alloc ---- */

/* The buffer of a process file opened on first use (process.alloc, process.charge). */
static struct buf *lazy_buf(struct output *o, struct linefile *f, struct buf *b, struct tg_err *err)
{
	if (o->dir.broken) {
		linefile_failed(&o->dir, err);
		return NULL;
	}
	if (f->fd < 0 && linefile_open(&o->dir, f, err) < 0)
		return NULL;
	return b;
}

static struct buf *alloc_buf(struct output *o, struct tg_err *err)
{
	return lazy_buf(o, &o->alloc, &o->alloc_buf, err);
}

static void add_comment(struct buf *b, const char *text)
{
	buf_addstr(b, "# ");
	for (const char *p = text ? text : ""; *p; p++)
		buf_addch(b, (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p);
	buf_addch(b, '\n');
}

int output_alloc_header(struct output *o, const char *const *comments, size_t ncomments,
			const char *const *columns, size_t ncolumns, struct tg_err *err)
{
	struct buf *b = alloc_buf(o, err), line = BUF_INIT;

	if (!b)
		return -1;
	for (size_t i = 0; i < ncomments; i++)
		add_comment(b, comments[i]);
	for (size_t i = 0; i < ncolumns; i++)
		buf_addf(&line, "%s%s", i ? " " : "", columns[i]);
	add_comment(b, buf_cstr(&line));
	buf_free(&line);
	return linefile_line_done(&o->dir, &o->alloc, b, err);
}

int output_alloc_row(struct output *o, double when, const uint64_t *values, uint64_t valid,
		     size_t n, struct tg_err *err)
{
	struct buf *b = alloc_buf(o, err);

	if (!b)
		return -1;
	buf_addf(b, "%.6f", when);
	for (size_t i = 0; i < n; i++) {
		if (i < 64 && (valid & (1ull << i)))
			buf_addf(b, " %" PRIu64, values[i]);
		else
			buf_addstr(b, " ?");
	}
	buf_addch(b, '\n');
	return linefile_line_done(&o->dir, &o->alloc, b, err);
}

/* ---- process.charge ---- */

int output_charge(struct output *o, const struct output_thread *th, double when, int64_t total,
		  struct tg_err *err)
{
	struct buf *b = lazy_buf(o, &o->charge, &o->charge_buf, err);

	if (!b)
		return -1;
	if (!o->charge_started) {
		buf_addstr(b,
			   "# a run: TIME#BYTES#THREAD, BYTES charged to THREAD since it began\n");
		o->charge_started = 1;
	}
	buf_addf(b, "%.6f#%" PRId64 "#%s\n", when, total, th->base);
	return linefile_line_done(&o->dir, &o->charge, b, err);
}

/* ---- meta ---- */

int output_meta(struct output *o, const char *const *keys, const char *const *values, size_t n,
		struct tg_err *err)
{
	return outmeta_write(&o->meta, keys, values, n, err);
}

/* ---- open, flush, close ---- */

/* Directories are created rwxr-xr-x whatever the umask allows (under umask 000, 0777
 * would leave them writable by all), less what a stricter umask removes. */
#define DIR_MODE 0755

/* mkdir -p: an existing component is fine. */
static int make_dirs(const char *dir, struct tg_err *err)
{
	char *p = xstrdup(dir);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, DIR_MODE) < 0 && errno != EEXIST) {
			rc = tg_err_sys(err, TG_E_OUTPUT, "cannot create %s", p);
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* DIR/PID, opened without following a link, must be a directory of this user that no one
 * else may write to: tgattach often runs as root, and a link or a directory planted there
 * (DIR is often shared, like /tmp) would have it write where someone else chose. */
static int open_run_dir(struct output *o, struct tg_err *err)
{
	struct stat st;

	o->dir.dfd = open(o->dir.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (o->dir.dfd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    lstat(o->dir.path, &st) == 0 && S_ISLNK(st.st_mode))
		return tg_err_set(err, TG_E_OUTPUT,
				  "cannot write to %s: a symbolic link (not followed: remove it)",
				  o->dir.path);
	if (o->dir.dfd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s", o->dir.path);
	if (fstat(o->dir.dfd, &st) < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s", o->dir.path);
	if (st.st_uid != geteuid())
		return tg_err_set(err, TG_E_OUTPUT,
				  "cannot write to %s: owned by uid %u, not by this user (%u)",
				  o->dir.path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return tg_err_set(err, TG_E_OUTPUT,
				  "cannot write to %s: others may write to it (mode %03o)",
				  o->dir.path, (unsigned)(st.st_mode & 0777));
	return 0;
}

static int open_dirs(struct output *o, const char *dir, pid_t pid, struct tg_err *err)
{
	struct buf b = BUF_INIT;
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	buf_add(&b, dir, len);
	if (len == 0 || make_dirs(b.data, err) < 0) {
		if (len == 0)
			tg_err_set(err, TG_E_OUTPUT, "cannot create output directory: empty name");
		buf_free(&b);
		return -1;
	}
	if (b.data[b.len - 1] != '/')
		buf_addch(&b, '/');
	buf_addf(&b, "%ld", (long)pid);
	o->dir.path = buf_detach(&b);
	if (mkdir(o->dir.path, DIR_MODE) == 0)
		o->created = 1;
	else if (errno != EEXIST)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s", o->dir.path);
	o->dir.fresh = o->created;
	return open_run_dir(o, err);
}

struct output *output_open(const char *dir, pid_t pid, unsigned flags, struct tg_err *err)
{
	struct output *o = xcalloc(1, sizeof *o);

	o->dir.dfd = -1;
	o->flags = flags;
	outthread_init(&o->threads);
	linefile_init(&o->proc, "process", ".mem");
	linefile_init(&o->alloc, "process", ".alloc");
	linefile_init(&o->charge, "process", ".charge");
	if (open_dirs(o, dir, pid, err) < 0)
		goto fail;
	if (linefile_open(&o->dir, &o->proc, err) < 0) {
		/* the up-front check names the directory, the place to fix */
		if (err && err->sys_errno)
			snprintf(err->msg, sizeof err->msg, "cannot write to %s: %s", o->dir.path,
				 strerror(err->sys_errno));
		goto fail;
	}
	if (outmeta_load(&o->meta, o->dir.dfd, o->dir.path, err) < 0 ||
	    outmeta_write(&o->meta, NULL, NULL, 0, err) < 0)
		goto fail;
	return o;
fail:
	output_close(o, NULL);
	return NULL;
}

/* Removes the regular files of a directory this run created, then the directory. */
static void remove_created(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_REG)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}

void output_discard(struct output *o)
{
	if (!o)
		return;
	char *path = o->created ? xstrdup(o->dir.path) : NULL;
	output_close(o, NULL);
	if (path)
		remove_created(path);
	free(path);
}

const char *output_dir(const struct output *o)
{
	return o->dir.path;
}

uint64_t output_bytes(const struct output *o)
{
	return o->dir.bytes;
}

int output_flush(struct output *o, struct tg_err *err)
{
	if (o->dir.broken)
		return linefile_failed(&o->dir, err);
	if (linefile_write(&o->dir, &o->proc, &o->proc_buf, err) < 0)
		return -1;
	if (o->alloc.fd >= 0 && linefile_write(&o->dir, &o->alloc, &o->alloc_buf, err) < 0)
		return -1;
	if (o->charge.fd >= 0 && linefile_write(&o->dir, &o->charge, &o->charge_buf, err) < 0)
		return -1;
	return outfd_flush(&o->fds, &o->dir, err);
}

/* Every buffer gets its chance even after a failure: each file still ends on a whole
 * line, and only the first failure is reported. */
int output_close(struct output *o, struct tg_err *err)
{
	if (!o)
		return 0;
	if (o->proc.fd >= 0) {
		linefile_write(&o->dir, &o->proc, &o->proc_buf, NULL);
		linefile_close(&o->proc);
	}
	if (o->alloc.fd >= 0) {
		linefile_write(&o->dir, &o->alloc, &o->alloc_buf, NULL);
		linefile_close(&o->alloc);
	}
	if (o->charge.fd >= 0) {
		linefile_write(&o->dir, &o->charge, &o->charge_buf, NULL);
		linefile_close(&o->charge);
	}
	outfd_close(&o->fds, &o->dir);
	outthread_clear(&o->threads);
	linefile_dir_close(&o->dir);
	int rc = o->dir.broken ? linefile_failed(&o->dir, err) : 0;
	linefile_free(&o->proc);
	linefile_free(&o->alloc);
	linefile_free(&o->charge);
	free(o->dir.path);
	buf_free(&o->proc_buf);
	buf_free(&o->alloc_buf);
	buf_free(&o->charge_buf);
	outmeta_free(&o->meta);
	free(o);
	return rc;
}
