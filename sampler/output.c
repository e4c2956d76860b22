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
#include "common/escape.h"
#include "common/tgline.h"
#include "common/xalloc.h"

#define BUF_SIZE (64 * 1024)
#define FLUSH_AT (BUF_SIZE - 4096) /* most lines then still fit without a realloc */
#define META_MAX (1024 * 1024)
#define OPEN_FLAGS (O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)

/* One data file.  While it is "active" it owns a slot: an open descriptor and a buffer. */
struct tfile {
	char *name; /* relative to DIR/PID */
	int fd;	    /* -1 while closed */
	int slot;   /* index in output.slots while active, else -1 */
	int seen;   /* opened before in this run: its tail was checked */
	off_t good; /* file size up to its last whole line on disk */
};

struct slot {
	struct buf buf;
	struct tfile *file; /* NULL when free */
	uint64_t used;	    /* LRU clock */
};

struct output_thread {
	uint64_t tid;
	struct output_thread *next; /* in output.tids */
	char *base;
	struct tfile stack, mem;
};

struct name_node {
	struct name_node *next;
	char name[];
};

struct output {
	char *path; /* DIR/PID */
	int dfd;
	unsigned flags;
	struct tfile proc;
	struct buf proc_buf;
	struct tfile alloc; /* process.alloc, opened on first use */
	struct buf alloc_buf;
	struct slot slots[OUTPUT_MAX_OPEN];
	uint64_t clock;
	struct output_thread **tids; /* hash chains by tid */
	size_t tid_buckets, ntids;
	struct name_node **names; /* file base names taken in this run */
	size_t name_buckets, nnames;
	struct buf prior_meta; /* meta lines of earlier runs */
	unsigned run;
	struct buf scratch;
	uint64_t bytes;
	int broken;
	int created; /* DIR/PID did not exist before this run */
	struct tg_err failure;
};

/* ---- errors ---- */

static int copy_failure(struct output *o, struct tg_err *err)
{
	if (err)
		*err = o->failure;
	return -1;
}

/* Keeps e as the failure if it is the first one, and breaks the output. */
static int record_failure(struct output *o, const struct tg_err *e, struct tg_err *err)
{
	if (!o->broken) {
		o->broken = 1;
		o->failure = *e;
	}
	return copy_failure(o, err);
}

/* A failure on f, errno current. */
static int file_fail(struct output *o, struct tfile *f, struct tg_err *err)
{
	struct tg_err e;

	tg_err_sys(&e, TG_E_OUTPUT, "cannot write to %s/%s", o->path, f->name);
	return record_failure(o, &e, err);
}

/* ---- raw I/O ---- */

/* Writes all of p; on failure returns -1 with errno set and *done the bytes written. */
static int write_all(int fd, const char *p, size_t len, size_t *done)
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

/* Opens f for appending. */
static int file_open_fd(struct output *o, struct tfile *f, struct tg_err *err)
{
	struct stat st;
	int fd = openat(o->dfd, f->name, OPEN_FLAGS, 0644);

	if (fd < 0)
		return file_fail(o, f, err);
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		struct tg_err e;
		close(fd);
		tg_err_set(&e, TG_E_OUTPUT, "cannot write to %s/%s: not a regular file", o->path,
			   f->name);
		return record_failure(o, &e, err);
	}
	f->good = st.st_size;
	if (!f->seen && f->good > 0 && cut_partial_line(fd, &f->good) < 0)
		goto fail;
	f->seen = 1;
	f->fd = fd;
	return 0;
fail:
	file_fail(o, f, err);
	close(fd);
	return -1;
}

/* Writes b to f and empties b.  On failure the file is cut back to its last whole line. */
static int file_flush(struct output *o, struct tfile *f, struct buf *b, struct tg_err *err)
{
	size_t done;

	if (b->len == 0)
		return 0;
	if (write_all(f->fd, b->data, b->len, &done) == 0) {
		f->good += (off_t)b->len;
		o->bytes += b->len;
		buf_reset(b);
		return 0;
	}
	int saved = errno;
	size_t keep = last_line_end(b->data, done);
	f->good += (off_t)keep;
	o->bytes += keep;
	buf_reset(b);
	if (keep != done && ftruncate(f->fd, f->good) < 0) {
		struct tg_err e;
		tg_err_set(&e, TG_E_OUTPUT,
			   "cannot write to %s/%s: %s (and cannot cut it back to its "
			   "last whole line: %s)",
			   o->path, f->name, strerror(saved), strerror(errno));
		e.sys_errno = saved;
		return record_failure(o, &e, err);
	}
	errno = saved;
	return file_fail(o, f, err);
}

/* ---- the descriptor cap: slots ---- */

static int slot_release(struct output *o, struct slot *s, struct tg_err *err)
{
	struct tfile *f = s->file;
	int rc;

	if (!f)
		return 0;
	rc = file_flush(o, f, &s->buf, err);
	close(f->fd);
	f->fd = -1;
	f->slot = -1;
	s->file = NULL;
	return rc;
}

static struct slot *slot_pick(struct output *o)
{
	struct slot *lru = &o->slots[0];

	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		struct slot *s = &o->slots[i];
		if (!s->file)
			return s;
		if (s->used < lru->used)
			lru = s;
	}
	return lru;
}

/* The buffer to append f's next line to: f open, in a slot. */
static struct buf *file_buf(struct output *o, struct tfile *f, struct tg_err *err)
{
	struct slot *s;

	if (f->slot < 0) {
		s = slot_pick(o);
		if (slot_release(o, s, err) < 0)
			return NULL;
		if (file_open_fd(o, f, err) < 0)
			return NULL;
		s->file = f;
		f->slot = (int)(s - o->slots);
		if (!s->buf.data)
			buf_grow(&s->buf, BUF_SIZE - 1);
	}
	s = &o->slots[f->slot];
	s->used = ++o->clock;
	return &s->buf;
}

static int line_done(struct output *o, struct tfile *f, struct buf *b, struct tg_err *err)
{
	if (b->len < FLUSH_AT)
		return 0;
	return file_flush(o, f, b, err);
}

/* ---- hash tables ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t tid_bucket(const struct output *o, uint64_t tid)
{
	return (size_t)((tid * 0x9e3779b97f4a7c15ull) >> 20) & (o->tid_buckets - 1);
}

static void tids_grow(struct output *o)
{
	struct output_thread **old = o->tids;
	size_t n = o->tid_buckets;

	o->tid_buckets = n ? n * 2 : 64;
	o->tids = xcalloc(o->tid_buckets, sizeof *o->tids);
	for (size_t i = 0; i < n; i++) {
		while (old[i]) {
			struct output_thread *th = old[i];
			old[i] = th->next;
			size_t b = tid_bucket(o, th->tid);
			th->next = o->tids[b];
			o->tids[b] = th;
		}
	}
	free(old);
}

static struct output_thread **tid_slot(struct output *o, uint64_t tid)
{
	struct output_thread **p = &o->tids[tid_bucket(o, tid)];

	while (*p && (*p)->tid != tid)
		p = &(*p)->next;
	return p;
}

static int name_taken(const struct output *o, const char *name)
{
	const struct name_node *n = o->names[hash_str(name) & (o->name_buckets - 1)];

	for (; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return 1;
	return 0;
}

static void names_insert(struct name_node **table, size_t buckets, struct name_node *n)
{
	size_t b = hash_str(n->name) & (buckets - 1);

	n->next = table[b];
	table[b] = n;
}

static void name_take(struct output *o, const char *name)
{
	size_t len = strlen(name);
	struct name_node *n = xmalloc(sizeof *n + len + 1);

	memcpy(n->name, name, len + 1);
	if (o->nnames + 1 > o->name_buckets) {
		size_t nb = o->name_buckets * 2;
		struct name_node **t = xcalloc(nb, sizeof *t);
		for (size_t i = 0; i < o->name_buckets; i++) {
			while (o->names[i]) {
				struct name_node *m = o->names[i];
				o->names[i] = m->next;
				names_insert(t, nb, m);
			}
		}
		free(o->names);
		o->names = t;
		o->name_buckets = nb;
	}
	names_insert(o->names, o->name_buckets, n);
	o->nnames++;
}

/* ---- threads ---- */

/* The escaped, unique base file name for a thread, left in o->scratch. */
static void thread_base(struct output *o, uint64_t tid, const char *name, size_t namelen)
{
	static const char proc[] = "process";
	struct buf *b = &o->scratch;

	buf_reset(b);
	tg_escape_filename(b, name ? name : "", name ? namelen : 0);
	if (b->len >= sizeof proc && memcmp(b->data, "process.", sizeof proc) == 0) {
		/* "process.x" -> "process%2ex": still reads back as the thread's name */
		size_t rest = b->len - sizeof proc;
		buf_add(b, "..", 2);
		memmove(b->data + sizeof proc + 2, b->data + sizeof proc, rest);
		memcpy(b->data + sizeof proc - 1, "%2e", 3);
	}
	if (!name_taken(o, b->data) && strcmp(b->data, proc) != 0)
		return;
	buf_addf(b, "@%" PRIu64, tid);
	size_t len = b->len;
	for (unsigned k = 2; name_taken(o, b->data); k++) {
		b->len = len;
		buf_addf(b, "-%u", k);
	}
}

static void tfile_init(struct tfile *f, const char *base, const char *ext)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s%s", base, ext);
	f->name = buf_detach(&b);
	f->fd = -1;
	f->slot = -1;
	f->seen = 0;
	f->good = 0;
}

struct output_thread *output_thread(struct output *o, uint64_t tid, const char *name,
				    size_t namelen)
{
	struct output_thread **p = tid_slot(o, tid);

	if (*p)
		return *p;
	thread_base(o, tid, name, namelen);
	name_take(o, o->scratch.data);

	struct output_thread *th = xcalloc(1, sizeof *th);
	th->tid = tid;
	th->base = xstrdup(o->scratch.data);
	tfile_init(&th->stack, th->base, ".stack");
	tfile_init(&th->mem, th->base, ".mem");
	if (o->ntids + 1 > o->tid_buckets) {
		tids_grow(o);
		p = tid_slot(o, tid);
	}
	*p = th;
	o->ntids++;
	return th;
}

const char *output_thread_file(const struct output_thread *th)
{
	return th->base;
}

static int tfile_close(struct output *o, struct tfile *f, struct tg_err *err)
{
	int rc = 0;

	if (f->slot >= 0)
		rc = slot_release(o, &o->slots[f->slot], err);
	free(f->name);
	return rc;
}

static void thread_free(struct output_thread *th)
{
	free(th->base);
	free(th);
}

int output_thread_done(struct output *o, struct output_thread *th, struct tg_err *err)
{
	struct output_thread **p = tid_slot(o, th->tid);
	int rc = 0;

	if (*p == th) {
		*p = th->next;
		o->ntids--;
	}
	if (tfile_close(o, &th->stack, err) < 0)
		rc = -1;
	if (tfile_close(o, &th->mem, rc < 0 ? NULL : err) < 0)
		rc = -1;
	thread_free(th);
	return rc;
}

/* ---- lines ---- */

int output_call(struct output *o, struct output_thread *th, double when, int depth,
		const char *file, int line, const char *func, struct tg_err *err)
{
	struct buf *b;

	if (o->flags & OUTPUT_NO_STACK)
		return 0;
	if (o->broken)
		return copy_failure(o, err);
	b = file_buf(o, &th->stack, err);
	if (!b)
		return -1;
	if (depth < 0)
		depth = 0;
	if (depth > OUTPUT_MAX_DEPTH)
		depth = OUTPUT_MAX_DEPTH;
	tgline_add_call(b, (size_t)depth, when, file, line, func);
	return line_done(o, &th->stack, b, err);
}

int output_return(struct output *o, struct output_thread *th, double when, const char *file,
		  int line, const char *func, int64_t delta, struct tg_err *err)
{
	struct buf *b;

	if (o->broken)
		return copy_failure(o, err);
	b = file_buf(o, &th->mem, err);
	if (!b)
		return -1;
	tgline_add_return(b, when, file, line, func, delta);
	return line_done(o, &th->mem, b, err);
}

int output_process_mem(struct output *o, double when, uint64_t rss, struct tg_err *err)
{
	if (o->broken)
		return copy_failure(o, err);
	tgline_add_sample(&o->proc_buf, when, rss);
	return line_done(o, &o->proc, &o->proc_buf, err);
}

static struct buf *alloc_buf(struct output *o, struct tg_err *err)
{
	if (o->broken) {
		copy_failure(o, err);
		return NULL;
	}
	if (o->alloc.fd < 0 && file_open_fd(o, &o->alloc, err) < 0)
		return NULL;
	return &o->alloc_buf;
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
	return line_done(o, &o->alloc, b, err);
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
	return line_done(o, &o->alloc, b, err);
}

/* ---- meta ---- */

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

static int meta_write(struct output *o, const struct buf *content, struct tg_err *err)
{
	size_t done;
	int fd =
	    openat(o->dfd, "meta.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta.tmp", o->path);
	/* no fsync: the rename keeps readers from seeing a half-written file, and a sync per
	 * meta write would cost milliseconds for every forked child of a busy server */
	if (write_all(fd, content->data, content->len, &done) < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta.tmp", o->path);
		close(fd);
		unlinkat(o->dfd, "meta.tmp", 0);
		return -1;
	}
	if (close(fd) < 0 || renameat(o->dfd, "meta.tmp", o->dfd, "meta") < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s/meta", o->path);
		unlinkat(o->dfd, "meta.tmp", 0);
		return -1;
	}
	return 0;
}

int output_meta(struct output *o, const char *const *keys, const char *const *values, size_t n,
		struct tg_err *err)
{
	struct buf b = BUF_INIT;
	int rc;

	buf_add(&b, buf_cstr(&o->prior_meta), o->prior_meta.len);
	buf_addf(&b, "run=%u\n", o->run);
	for (size_t i = 0; i < n; i++) {
		meta_escape(&b, keys[i] ? keys[i] : "", 1);
		buf_addch(&b, '=');
		meta_escape(&b, values[i] ? values[i] : "", 0);
		buf_addch(&b, '\n');
	}
	rc = meta_write(o, &b, err);
	buf_free(&b);
	return rc;
}

/* Reads the meta of earlier runs into o->prior_meta and numbers this run. */
static int meta_load(struct output *o, struct tg_err *err)
{
	struct stat st;
	int fd = openat(o->dfd, "meta", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	o->run = 1;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", o->path);
	if (fstat(fd, &st) < 0) {
		tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", o->path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > META_MAX) {
		tg_err_set(err, TG_E_OUTPUT, "cannot read %s/meta: %s", o->path,
			   S_ISREG(st.st_mode) ? "over 1 MiB, not a tgattach meta file"
					       : "not a regular file");
		close(fd);
		return -1;
	}
	buf_grow(&o->prior_meta, (size_t)st.st_size);
	while (o->prior_meta.len < (size_t)st.st_size) {
		struct buf *b = &o->prior_meta;
		ssize_t n = read(fd, b->data + b->len, (size_t)st.st_size - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tg_err_sys(err, TG_E_OUTPUT, "cannot read %s/meta", o->path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	close(fd);
	struct buf *b = &o->prior_meta;
	if (b->len > 0 && b->data[b->len - 1] != '\n')
		buf_addch(b, '\n');
	for (size_t i = 0; i < b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') && strncmp(b->data + i, "run=", 4) == 0)
			o->run++;
	return 0;
}

/* ---- open, flush, close ---- */

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
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
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
	o->path = buf_detach(&b);
	if (mkdir(o->path, 0777) == 0)
		o->created = 1;
	else if (errno != EEXIST)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s", o->path);
	o->dfd = open(o->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dfd < 0)
		return tg_err_sys(err, TG_E_OUTPUT, "cannot write to %s", o->path);
	return 0;
}

struct output *output_open(const char *dir, pid_t pid, unsigned flags, struct tg_err *err)
{
	struct output *o = xcalloc(1, sizeof *o);

	o->dfd = -1;
	o->flags = flags;
	o->name_buckets = 64;
	o->names = xcalloc(o->name_buckets, sizeof *o->names);
	tids_grow(o);
	tfile_init(&o->proc, "process", ".mem");
	tfile_init(&o->alloc, "process", ".alloc");
	if (open_dirs(o, dir, pid, err) < 0)
		goto fail;
	if (file_open_fd(o, &o->proc, err) < 0) {
		/* the up-front check names the directory, the place to fix */
		if (err && err->sys_errno)
			snprintf(err->msg, sizeof err->msg, "cannot write to %s: %s", o->path,
				 strerror(err->sys_errno));
		goto fail;
	}
	if (meta_load(o, err) < 0 || output_meta(o, NULL, NULL, 0, err) < 0)
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
	char *path = o->created ? xstrdup(o->path) : NULL;
	output_close(o, NULL);
	if (path)
		remove_created(path);
	free(path);
}

const char *output_dir(const struct output *o)
{
	return o->path;
}

uint64_t output_bytes(const struct output *o)
{
	return o->bytes;
}

int output_flush(struct output *o, struct tg_err *err)
{
	if (o->broken)
		return copy_failure(o, err);
	if (file_flush(o, &o->proc, &o->proc_buf, err) < 0)
		return -1;
	if (o->alloc.fd >= 0 && file_flush(o, &o->alloc, &o->alloc_buf, err) < 0)
		return -1;
	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		struct slot *s = &o->slots[i];
		if (s->file && file_flush(o, s->file, &s->buf, err) < 0)
			return -1;
	}
	return 0;
}

/* Every buffer gets its chance even after a failure: each file still ends on a whole
 * line, and only the first failure is reported. */
int output_close(struct output *o, struct tg_err *err)
{
	if (!o)
		return 0;
	if (o->proc.fd >= 0) {
		file_flush(o, &o->proc, &o->proc_buf, NULL);
		close(o->proc.fd);
	}
	if (o->alloc.fd >= 0) {
		file_flush(o, &o->alloc, &o->alloc_buf, NULL);
		close(o->alloc.fd);
	}
	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		slot_release(o, &o->slots[i], NULL);
		buf_free(&o->slots[i].buf);
	}
	for (size_t i = 0; i < o->tid_buckets; i++) {
		while (o->tids[i]) {
			struct output_thread *th = o->tids[i];
			o->tids[i] = th->next;
			free(th->stack.name);
			free(th->mem.name);
			thread_free(th);
		}
	}
	for (size_t i = 0; i < o->name_buckets; i++) {
		while (o->names[i]) {
			struct name_node *n = o->names[i];
			o->names[i] = n->next;
			free(n);
		}
	}
	if (o->dfd >= 0)
		close(o->dfd);
	int rc = o->broken ? copy_failure(o, err) : 0;
	free(o->tids);
	free(o->names);
	free(o->proc.name);
	free(o->alloc.name);
	free(o->path);
	buf_free(&o->proc_buf);
	buf_free(&o->alloc_buf);
	buf_free(&o->prior_meta);
	buf_free(&o->scratch);
	free(o);
	return rc;
}
