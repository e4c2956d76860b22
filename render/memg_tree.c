/* render memg: the process tree of a recording that followed forks.  Each process is a
 * directory OUTDIR/PID whose meta names its parent (parent=PID); meta is hostile like the
 * rest, so a missing or malformed link only makes a process a root. */
#include "render/memg.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xalloc.h"
#include "render/tgfile.h"

/* A positive decimal PID of at most 9 digits, else -1. */
static long parse_pid(const char *s, size_t len)
{
	long v = 0;

	if (len == 0 || len > 9 || strspn(s, "0123456789") != len)
		return -1;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	return v > 0 ? v : -1;
}

static char *join(const char *dir, const char *base)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", dir, base);
	return buf_detach(&b);
}

static long meta_parent(const char *dir)
{
	struct recording r = {.dir = (char *)dir};
	struct buf v = BUF_INIT;
	long parent = -1;

	if (recording_meta(&r, "parent", &v))
		parent = parse_pid(buf_cstr(&v), v.len);
	buf_free(&v);
	return parent;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_proc(struct memg_tree *t, long pid, char *dir)
{
	struct memg_proc *m;

	t->procs = xrealloc(t->procs, (t->n + 1) * sizeof *t->procs);
	m = &t->procs[t->n++];
	memset(m, 0, sizeof *m);
	m->pid = pid;
	m->dir = dir;
	m->parent = meta_parent(dir);
}

/* Every PID subdirectory of dir; *has_files: dir itself holds recording files. */
static int scan(struct memg_tree *t, const char *dir, int *has_files, struct tg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*has_files = 0;
	if (!d)
		return tg_err_sys(err, TG_E_DATA, "opening %s", dir);
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		long pid = parse_pid(e->d_name, strlen(e->d_name));
		char *sub;
		if (tgname_classify(e->d_name, NULL) != TGNAME_OTHER)
			*has_files = 1;
		if (pid < 0)
			continue;
		sub = join(dir, e->d_name);
		if (is_dir(sub))
			add_proc(t, pid, sub);
		else
			free(sub);
		errno = 0;
	}
	if (errno) {
		closedir(d);
		return tg_err_sys(err, TG_E_DATA, "reading %s", dir);
	}
	closedir(d);
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct memg_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static size_t find(const struct memg_tree *t, long pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].pid == pid)
			return i;
	return (size_t)-1;
}

/* Breadth first from procs[root]: appends to order the processes not yet taken. */
static void walk(const struct memg_tree *t, size_t root, size_t *order, size_t *n, char *taken)
{
	size_t head = *n;

	if (taken[root])
		return;
	taken[root] = 1;
	order[(*n)++] = root;
	for (; head < *n; head++) {
		long pid = t->procs[order[head]].pid;
		for (size_t i = 0; i < t->n; i++) /* procs are sorted: children by PID */
			if (!taken[i] && t->procs[i].parent == pid) {
				taken[i] = 1;
				order[(*n)++] = i;
			}
	}
}

/* Keeps the processes reached from root (or, root (size_t)-1, all: roots first, then
 * whatever a cycle of parent links left), in tree order. */
static void reorder(struct memg_tree *t, size_t root)
{
	size_t *order = xmalloc((t->n ? t->n : 1) * sizeof *order);
	char *taken = xcalloc(t->n ? t->n : 1, 1);
	struct memg_proc *procs;
	size_t n = 0;

	if (root != (size_t)-1) {
		walk(t, root, order, &n, taken);
	} else {
		for (size_t i = 0; i < t->n; i++) {
			long parent = t->procs[i].parent;
			if (parent < 0 || parent == t->procs[i].pid ||
			    find(t, parent) == (size_t)-1)
				walk(t, i, order, &n, taken);
		}
		for (size_t i = 0; i < t->n; i++)
			walk(t, i, order, &n, taken);
	}
	procs = xmalloc((t->n ? t->n : 1) * sizeof *procs);
	for (size_t i = 0; i < n; i++)
		procs[i] = t->procs[order[i]];
	for (size_t i = 0; i < t->n; i++)
		if (!taken[i])
			free(t->procs[i].dir);
	free(t->procs);
	t->procs = procs;
	t->n = n;
	free(order);
	free(taken);
}

static void open_all(struct memg_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct memg_proc *m = &t->procs[i];
		struct tg_err e;
		tg_err_clear(&e);
		m->usable = recording_open(&m->rec, 1, &m->dir, &e) == 0;
		if (!m->usable)
			fprintf(stderr, "tgattach render memg: skipping process %ld: %s\n", m->pid,
				e.msg);
	}
}

/* "A/B/123/" -> parent "A/B", base "123" */
static void split_dir(const char *arg, char **parent, char **base)
{
	char *copy = xstrdup(arg);
	size_t len = strlen(copy);
	char *slash;

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	if (!slash) {
		*parent = xstrdup(".");
		*base = copy;
		return;
	}
	*base = xstrdup(slash + 1);
	*slash = '\0';
	*parent = xstrdup(slash == copy ? "/" : copy);
	free(copy);
}

static int open_children(struct memg_tree *t, const char *arg, struct tg_err *err)
{
	char *parent, *base;
	long pid;
	size_t root;
	int has_files, rc = -1;

	if (!is_dir(arg))
		return tg_err_set(err, TG_E_USAGE, "--children: %s is not a directory", arg);
	split_dir(arg, &parent, &base);
	pid = parse_pid(base, strlen(base));
	if (pid < 0) {
		tg_err_set(err, TG_E_USAGE, "--children: %s is not named by a PID", arg);
		goto out;
	}
	if (scan(t, parent, &has_files, err) < 0)
		goto out;
	qsort(t->procs, t->n, sizeof *t->procs, by_pid);
	root = find(t, pid);
	if (root == (size_t)-1) {
		tg_err_set(err, TG_E_DATA, "--children: %s: not found in %s", base, parent);
		goto out;
	}
	t->procs[root].parent = -1; /* whatever its meta says, it is the root here */
	reorder(t, root);
	open_all(t);
	if (t->procs[0].usable)
		rc = 0;
	else if (recording_open(&t->procs[0].rec, 1, &t->procs[0].dir, err) == 0)
		t->procs[0].usable = 1, rc = 0; /* readable after all */
	/* else err says why the one asked for is no recording */
out:
	free(parent);
	free(base);
	return rc;
}

static int has_meta(const struct memg_proc *m)
{
	char *path = join(m->dir, "meta");
	struct stat st;
	int ok = stat(path, &st) == 0;

	free(path);
	return ok;
}

/* 1 when dir is a directory of PID recordings, 0 when it is something else. */
static int open_outdir(struct memg_tree *t, const char *dir, struct tg_err *err)
{
	int has_files, any_meta = 0;

	if (!is_dir(dir))
		return 0;
	if (scan(t, dir, &has_files, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		any_meta |= has_meta(&t->procs[i]);
	if (has_files || !any_meta)
		return 0;
	qsort(t->procs, t->n, sizeof *t->procs, by_pid);
	reorder(t, (size_t)-1);
	open_all(t);
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].usable)
			return 1;
	return tg_err_set(err, TG_E_DATA, "%s: no process directory holds a recording", dir);
}

int memg_tree_open(struct memg_tree *t, const struct memg_opts *o, int nargs, char *const *args,
		   struct tg_err *err)
{
	int r;

	memset(t, 0, sizeof *t);
	if (o->children) {
		if (nargs != 1)
			return tg_err_set(err, TG_E_USAGE,
					  "--children takes one recording directory OUTDIR/PID");
		r = open_children(t, args[0], err) < 0 ? -1 : 1;
	} else {
		r = nargs == 1 ? open_outdir(t, args[0], err) : 0;
	}
	if (r != 1)
		memg_tree_free(t);
	return r;
}

static int measure(struct memg_proc *m, struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int r;

	if (!m->rec.process_mem)
		return 0;
	if (tgfile_open(&f, m->rec.process_mem, TGFILE_SAMPLES, 0, err) < 0)
		return -1;
	f.quiet = 1;
	while ((r = tgfile_next(&f, &rec, err)) == 1) {
		long long kb = kb_floor(rec.value);
		if (!m->has_rss || kb > m->peak)
			m->peak = kb;
		if (!m->has_rss || rec.time < m->first)
			m->first = rec.time;
		if (!m->has_rss || rec.time > m->last)
			m->last = rec.time;
		m->has_rss = 1;
	}
	tgfile_close(&f);
	tg_rec_free(&rec);
	return r;
}

/* The usable process not drawn yet with the highest peak (the first, on ties). */
static size_t next_best(const struct memg_tree *t)
{
	size_t best = (size_t)-1;

	for (size_t i = 0; i < t->n; i++) {
		const struct memg_proc *m = &t->procs[i];
		if (m->usable && !m->drawn && (best == (size_t)-1 || m->peak > t->procs[best].peak))
			best = i;
	}
	return best;
}

int memg_tree_select(struct memg_tree *t, size_t max, struct tg_err *err)
{
	size_t drawn = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].usable && measure(&t->procs[i], err) < 0)
			return -1;
	/* the first process (the one asked for, or the first root) always */
	for (size_t i = 0; i < t->n && drawn == 0 && max > 0; i++)
		if (t->procs[i].usable)
			t->procs[i].drawn = 1, drawn = 1;
	for (size_t best; drawn < max && (best = next_best(t)) != (size_t)-1; drawn++)
		t->procs[best].drawn = 1;
	t->nother = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].usable && !t->procs[i].drawn)
			t->nother++;
	return 0;
}

void memg_tree_free(struct memg_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->procs[i].usable)
			recording_free(&t->procs[i].rec);
		free(t->procs[i].dir);
	}
	free(t->procs);
	memset(t, 0, sizeof *t);
}
