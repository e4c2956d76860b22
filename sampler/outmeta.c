#include "sampler/outmeta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sampler/linefile.h"

#define META_MAX (1024 * 1024)

static void meta_escape(struct buf *b, const char *s, int is_key)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\' || (is_key && c == '='))
			buf_addf(b, "\\x%02x", c);
		else
			buf_addch(b, (char)c);
	}
}

static int meta_replace(const struct outmeta *m, const struct buf *content, struct tg_err *err)
{
	size_t done;
	/* a new file each time: whatever is at meta.tmp (a FIFO would block the open, a link
	 * would be written through) goes first */
	if (unlinkat(m->dfd, "meta.tmp", 0) < 0 && errno != ENOENT)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta.tmp", m->path);
	int fd = openat(m->dfd, "meta.tmp",
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);

	if (fd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta.tmp", m->path);
	/* no fsync: the rename keeps readers from seeing a half-written file, and a sync per
	 * meta write would cost milliseconds for every forked child of a busy server */
	if (linefile_write_all(fd, content->data, content->len, &done) < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta.tmp", m->path);
		close(fd);
		unlinkat(m->dfd, "meta.tmp", 0);
		return -1;
	}
	if (close(fd) < 0 || renameat(m->dfd, "meta.tmp", m->dfd, "meta") < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta", m->path);
		unlinkat(m->dfd, "meta.tmp", 0);
		return -1;
	}
	return 0;
}

int outmeta_write(const struct outmeta *m, const char *const *keys, const char *const *values,
		  size_t n, struct tg_err *err)
{
	struct buf b = BUF_INIT;
	int rc;

	buf_add(&b, buf_cstr(&m->prior), m->prior.len);
	buf_addf(&b, "run=%u\n", m->run);
	for (size_t i = 0; i < n; i++) {
		meta_escape(&b, keys[i] ? keys[i] : "", 1);
		buf_addch(&b, '=');
		meta_escape(&b, values[i] ? values[i] : "", 0);
		buf_addch(&b, '\n');
	}
	rc = meta_replace(m, &b, err);
	buf_free(&b);
	return rc;
}

/* Reads fd, size bytes at most, into m->prior. */
static int read_prior(struct outmeta *m, int fd, size_t size, struct tg_err *err)
{
	struct buf *b = &m->prior;

	buf_grow(b, size);
	while (b->len < size) {
		ssize_t n = read(fd, b->data + b->len, size - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", m->path);
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	return 0;
}

int outmeta_load(struct outmeta *m, int dfd, const char *path, struct tg_err *err)
{
	struct stat st;
	int fd = openat(dfd, "meta", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	m->dfd = dfd;
	m->path = path;
	m->run = 1;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", path);
	if (fstat(fd, &st) < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > META_MAX) {
		tg_err_set(err, TG_E_OUTPUT, "cannot read %s/meta: %s", path,
			   S_ISREG(st.st_mode) ? "over 1 MiB, not a tgattach meta file"
					       : "not a regular file");
		close(fd);
		return -1;
	}
	int rc = read_prior(m, fd, (size_t)st.st_size, err);
	close(fd);
	if (rc < 0)
		return -1;
	struct buf *b = &m->prior;
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		buf_addch(b, '\n');
	for (size_t i = 0; i < b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') && strncmp(b->data + i, "run=", 4) == 0)
			m->run++;
	return 0;
}

void outmeta_free(struct outmeta *m)
{
	buf_free(&m->prior);
}
