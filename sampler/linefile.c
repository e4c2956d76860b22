#include "sampler/linefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sampler/sparefile.h"

#define OPEN_FLAGS (O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
#define SPARE_FLAGS (O_APPEND | O_CLOEXEC | O_NONBLOCK) /* with O_TMPFILE | O_RDWR */

/* ---- errors ---- */

int linefile_failed(const struct linefile_dir *d, struct tg_err *err)
{
	if (err)
		*err = d->failure;
	return -1;
}

/* Keeps e as the failure if it is the first one, and breaks the directory. */
static int record_failure(struct linefile_dir *d, const struct tg_err *e, struct tg_err *err)
{
	if (!d->broken) {
		d->broken = 1;
		d->failure = *e;
	}
	return linefile_failed(d, err);
}

/* A failure on f, errno current. */
static int file_fail(struct linefile_dir *d, struct linefile *f, struct tg_err *err)
{
	struct tg_err e;

	tg_err_sys(&e, TG_E_OUTPUT, "cannot write to %s/%s", d->path, f->name);
	return record_failure(d, &e, err);
}

/* ---- raw I/O ---- */

int linefile_write_all(int fd, const char *p, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = write(fd, p + *done, len - *done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		*done += (size_t)n;
	}
	return 0;
}

static size_t last_line_end(const char *p, size_t len)
{
	while (len > 0 && p[len - 1] != '\n')
		len--;
	return len;
}

/* A file from an earlier run may end in a partial line (that run was killed mid-write):
 * cut it back to its last whole line, so the lines appended now stay parseable. */
static int cut_partial_line(int fd, off_t *size)
{
	char chunk[4096];
	off_t end = *size;

	while (end > 0) {
		size_t want = end < (off_t)sizeof chunk ? (size_t)end : sizeof chunk;
		ssize_t n = pread(fd, chunk, want, end - (off_t)want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)want) {
			if (n >= 0)
				errno = EIO;
			return -1;
		}
		size_t keep = last_line_end(chunk, want);
		if (keep > 0) {
			end = end - (off_t)want + (off_t)keep;
			break;
		}
		end -= (off_t)want;
	}
	if (end != *size && ftruncate(fd, end) < 0)
		return -1;
	*size = end;
	return 0;
}

/* ---- files ---- */

void linefile_init(struct linefile *f, const char *base, const char *ext)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s%s", base, ext);
	f->name = buf_detach(&b);
	f->fd = -1;
	f->slot = -1;
	f->seen = 0;
	f->good = 0;
}

void linefile_free(struct linefile *f)
{
	free(f->name);
	f->name = NULL;
}

/* Why the file just opened is not one tgattach may append to, or NULL: a regular file of
 * its own user with one link (a hard link planted in an earlier run's directory would
 * have tgattach append to the file it names). */
static const char *not_ours(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != geteuid())
		return "owned by another user, not a file tgattach wrote";
	if (st->st_nlink != 1)
		return "has other hard links, not a file tgattach wrote";
	return NULL;
}

void linefile_dir_close(struct linefile_dir *d)
{
	sparefile_stop(d->spare);
	d->spare = NULL;
	if (d->dfd >= 0)
		close(d->dfd);
	d->dfd = -1;
}

/* f opened the first time in this run: a spare file given its name, when there is one and
 * the name is new (else the caller opens it: the name taken in a directory of this run is
 * a planted file, and O_EXCL fails on it). */
static int open_spare(struct linefile_dir *d, struct linefile *f)
{
	if (!d->spare && !d->spare_tried && d->made >= LINEFILE_SPARE_AFTER) {
		d->spare_tried = 1;
		d->spare = sparefile_start(d->dfd, SPARE_FLAGS, 0644);
	}
	return d->spare ? sparefile_take(d->spare, d->dfd, f->name) : -1;
}

int linefile_open(struct linefile_dir *d, struct linefile *f, struct tg_err *err)
{
	struct stat st;
	int fd = f->seen ? -1 : open_spare(d, f), spared = fd >= 0;

	/* in a directory this run created, a file is opened the first time only if it is
	 * new: one already there was put there by someone else */
	if (fd < 0)
		fd =
		    openat(d->dfd, f->name, OPEN_FLAGS | (d->fresh && !f->seen ? O_EXCL : 0), 0644);

	if (fd < 0)
		return file_fail(d, f, err);
	if (fstat(fd, &st) < 0)
		goto fail;
	const char *why = not_ours(&st);
	if (why) {
		struct tg_err e;
		close(fd);
		tg_err_set(&e, TG_E_OUTPUT, "cannot write to %s/%s: %s", d->path, f->name, why);
		return record_failure(d, &e, err);
	}
	f->good = st.st_size;
	if (!f->seen && f->good > 0 && cut_partial_line(fd, &f->good) < 0)
		goto fail;
	d->spared += spared;
	d->made += !f->seen;
	f->seen = 1;
	f->fd = fd;
	return 0;
fail:
	file_fail(d, f, err);
	close(fd);
	return -1;
}

void linefile_close(struct linefile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* On failure the file is cut back to its last whole line. */
int linefile_write(struct linefile_dir *d, struct linefile *f, struct buf *b, struct tg_err *err)
{
	size_t done;

	if (b->len == 0)
		return 0;
	if (linefile_write_all(f->fd, b->data, b->len, &done) == 0) {
		f->good += (off_t)b->len;
		d->bytes += b->len;
		buf_reset(b);
		return 0;
	}
	int saved = errno;
	size_t keep = last_line_end(b->data, done);
	f->good += (off_t)keep;
	d->bytes += keep;
	buf_reset(b);
	if (keep != done && ftruncate(f->fd, f->good) < 0) {
		struct tg_err e;
		tg_err_set(&e, TG_E_OUTPUT,
			   "cannot write to %s/%s: %s (and cannot cut it back to its "
			   "last whole line: %s)",
			   d->path, f->name, strerror(saved), strerror(errno));
		e.sys_errno = saved;
		return record_failure(d, &e, err);
	}
	errno = saved;
	return file_fail(d, f, err);
}

int linefile_line_done(struct linefile_dir *d, struct linefile *f, struct buf *b,
		       struct tg_err *err)
{
	if (b->len < LINEFILE_FLUSH_AT)
		return 0;
	return linefile_write(d, f, b, err);
}
