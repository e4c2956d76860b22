#include "render/recording.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/xalloc.h"
#include "render/text.h"
#include "render/tgfile.h"

static char *join(const char *dir, const char *base)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", dir, base);
	return buf_detach(&b);
}

static struct rec_thread *thread_for(struct recording *r, const char *dir, const char *stem,
				     size_t stem_len)
{
	struct rec_thread *t;

	for (size_t i = 0; i < r->nthreads; i++) {
		t = &r->threads[i];
		if (strcmp(t->dir, dir) == 0 && strlen(t->stem) == stem_len &&
		    memcmp(t->stem, stem, stem_len) == 0)
			return t;
	}
	r->threads = xgrow(r->threads, &r->cap, r->nthreads + 1, sizeof *r->threads);
	t = &r->threads[r->nthreads++];
	memset(t, 0, sizeof *t);
	t->dir = xstrdup(dir);
	t->stem = xstrndup(stem, stem_len);
	tg_unescape_filename(&t->name, stem, stem_len);
	buf_grow(&t->name, 0);
	return t;
}

static void set_path(char **slot, const char *dir, const char *base)
{
	free(*slot);
	*slot = join(dir, base);
}

/* Adds DIR/base if it is one of ours; returns whether it was. */
static int add_entry(struct recording *r, const char *dir, const char *base)
{
	enum tgname_kind k = tgname_classify(base, NULL);
	size_t len = strlen(base);

	switch (k) {
	case TGNAME_PROCESS_MEM:
		set_path(&r->process_mem, dir, base);
		return 1;
	case TGNAME_PROCESS_ALLOC:
		set_path(&r->process_alloc, dir, base);
		return 1;
	case TGNAME_PROCESS_CHARGE:
		set_path(&r->process_charge, dir, base);
		return 0; /* not a recording by itself */
	case TGNAME_THREAD_MEM:
		set_path(&thread_for(r, dir, base, len - 4)->mem, dir, base);
		return 1;
	case TGNAME_THREAD_STACK:
		set_path(&thread_for(r, dir, base, len - 6)->stack, dir, base);
		return 1;
	case TGNAME_OTHER:
		break;
	}
	return 0;
}

static int add_dir(struct recording *r, const char *dir, struct tg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d)
		return tg_err_sys(err, TG_E_DATA, "opening %s", dir);
	errno = 0;
	while ((e = readdir(d)) != NULL)
		found |= add_entry(r, dir, e->d_name);
	if (errno) {
		closedir(d);
		return tg_err_sys(err, TG_E_DATA, "reading %s", dir);
	}
	closedir(d);
	if (!found)
		return tg_err_set(err, TG_E_DATA,
				  "%s: not a recording (no .mem, .stack, process.mem or "
				  "process.alloc file)",
				  dir);
	return 0;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	return xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
}

static int add_arg(struct recording *r, const char *arg, struct tg_err *err)
{
	struct stat st;
	const char *slash = strrchr(arg, '/');
	char *dir;
	int ok;

	if (stat(arg, &st) < 0)
		return tg_err_sys(err, TG_E_DATA, "%s", arg);
	if (S_ISDIR(st.st_mode)) {
		if (!r->dir)
			r->dir = xstrdup(arg);
		return add_dir(r, arg, err);
	}
	dir = dir_of(arg);
	ok = add_entry(r, dir, slash ? slash + 1 : arg);
	if (ok && !r->dir)
		r->dir = dir;
	else
		free(dir);
	if (!ok)
		return tg_err_set(err, TG_E_DATA,
				  "%s: not a recording file (THREAD.mem, THREAD.stack, process.mem "
				  "or process.alloc)",
				  arg);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct rec_thread *x = a, *y = b;
	size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
	int c = strverscmp(buf_cstr(&x->name), buf_cstr(&y->name)); /* Worker-2 < Worker-10 */

	if (c)
		return c;
	c = n ? memcmp(x->name.data, y->name.data, n) : 0; /* names with NUL bytes */
	if (c)
		return c;
	if (x->name.len != y->name.len)
		return x->name.len < y->name.len ? -1 : 1;
	c = strcmp(x->dir, y->dir);
	return c ? c : strcmp(x->stem, y->stem);
}

int recording_open(struct recording *r, int nargs, char *const *args, struct tg_err *err)
{
	memset(r, 0, sizeof *r);
	for (int i = 0; i < nargs; i++) {
		if (add_arg(r, args[i], err) < 0) {
			recording_free(r);
			return -1;
		}
	}
	if (r->nthreads)
		qsort(r->threads, r->nthreads, sizeof *r->threads, by_name);
	return 0;
}

void recording_free(struct recording *r)
{
	for (size_t i = 0; i < r->nthreads; i++) {
		struct rec_thread *t = &r->threads[i];
		buf_free(&t->name);
		free(t->mem);
		free(t->stack);
		free(t->dir);
		free(t->stem);
	}
	free(r->threads);
	free(r->process_mem);
	free(r->process_alloc);
	free(r->process_charge);
	free(r->dir);
	memset(r, 0, sizeof *r);
}

/* The first well-formed line's time of one file, if any. */
static int first_of(const char *path, enum tgfile_kind kind, double *t0, int *found,
		    struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int r;

	if (!path)
		return 0;
	if (tgfile_open(&f, path, kind, 0, err) < 0)
		return -1;
	f.quiet = 1;
	r = tgfile_next(&f, &rec, err);
	tgfile_close(&f);
	if (r == 1 && (!*found || rec.time < *t0))
		*t0 = rec.time, *found = 1;
	tg_rec_free(&rec);
	return r < 0 ? -1 : 0;
}

int recording_first_time(const struct recording *r, unsigned which, double *t0, struct tg_err *err)
{
	int found = 0;

	for (size_t i = 0; i < r->nthreads; i++) {
		const struct rec_thread *t = &r->threads[i];
		if ((which & REC_MEM) && first_of(t->mem, TGFILE_RETURNS, t0, &found, err) < 0)
			return -1;
		if ((which & REC_STACK) && first_of(t->stack, TGFILE_CALLS, t0, &found, err) < 0)
			return -1;
	}
	if ((which & REC_PROCESS) && first_of(r->process_mem, TGFILE_SAMPLES, t0, &found, err) < 0)
		return -1;
	if (!found)
		return tg_err_set(err, TG_E_DATA, "no data: the files hold no well-formed line");
	return 0;
}

double recording_meta_number(const struct recording *r, const char *key)
{
	struct buf v = BUF_INIT;
	double x = 0;

	if (recording_meta(r, key, &v))
		x = strtod(buf_cstr(&v), NULL);
	buf_free(&v);
	return isfinite(x) ? x : 0;
}

double recording_interval(const struct recording *r, double given)
{
	double hz = recording_meta_number(r, "rate_hz");

	if (given > 0)
		return given;
	return hz > 0 && hz <= 1e6 ? 1 / hz : 0.01;
}

int recording_meta(const struct recording *r, const char *key, struct buf *out)
{
	char *path = join(r->dir ? r->dir : ".", "meta");
	size_t klen = strlen(key);
	struct tgfile f;
	struct tg_err err;
	int too_long, found = 0;

	if (access(path, R_OK) == 0 && tgfile_open(&f, path, TGFILE_SAMPLES, 0, &err) == 0) {
		while (tgfile_next_line(&f, &too_long, &err) == 1) {
			const char *s = buf_cstr(&f.line);
			if (too_long || f.line.len <= klen || memcmp(s, key, klen) != 0 ||
			    s[klen] != '=')
				continue;
			buf_reset(out);
			tg_unescape_field(out, s + klen + 1, f.line.len - klen - 1);
			found = 1;
		}
		tgfile_close(&f);
	}
	free(path);
	return found;
}

static void dir_name(const char *dir, struct buf *out)
{
	char *copy = xstrdup(dir);
	size_t len = strlen(copy);
	const char *slash, *base;

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	base = slash && slash[1] ? slash + 1 : copy;
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		char *real = realpath(copy, NULL);
		if (real && strcmp(real, "/") != 0) {
			dir_name(real, out);
			free(real);
			free(copy);
			return;
		}
		free(real);
	}
	if (*base && strspn(base, "0123456789") == strlen(base))
		buf_addf(out, "PID %s", base);
	else
		buf_addf(out, "recording %s", base);
	free(copy);
}

void recording_title(const struct recording *r, size_t max, struct buf *out)
{
	struct buf cmd = BUF_INIT;

	dir_name(r->dir ? r->dir : ".", out);
	if (recording_meta(r, "cmdline", &cmd) && cmd.len) {
		size_t cut = cmd.len > max ? max : cmd.len;
		/* on a UTF-8 character boundary */
		while (cut > 0 && cut < cmd.len && ((unsigned char)cmd.data[cut] & 0xc0) == 0x80)
			cut--;
		buf_addstr(out, ": ");
		buf_add(out, cmd.data, cut);
		if (cut < cmd.len)
			buf_addstr(out, "...");
	}
	buf_free(&cmd);
}

void recording_say_thread(const struct recording *r, const struct rec_thread *t)
{
	size_t i = (size_t)(t - r->threads);
	struct buf shown = BUF_INIT;

	if (i == RECORDING_SAY_MAX)
		fprintf(stderr, "Processing data for %zu more threads\n", r->nthreads - i);
	if (i >= RECORDING_SAY_MAX)
		return;
	text_display(&shown, buf_cstr(&t->name), t->name.len);
	fprintf(stderr, "Processing data for thread %s\n", buf_cstr(&shown));
	buf_free(&shown);
}

int recording_need_stacks(const struct recording *r, const char *why, struct tg_err *err)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].stack)
			return 0;
	return tg_err_set(err, TG_E_DATA,
			  "%s: no THREAD.stack files (%s needs the calls; was it recorded with "
			  "--no-stack?)",
			  r->dir ? r->dir : ".", why);
}
