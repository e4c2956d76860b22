#include "render/proctree.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "render/memg.h"

int proctree_open(struct proctree *t, int nargs, char *const *args, int children,
		  struct tg_err *err)
{
	struct memg_opts mo;
	struct memg_tree mt;

	memset(t, 0, sizeof *t);
	memset(&mo, 0, sizeof mo);
	mo.children = children;
	int r = memg_tree_open(&mt, &mo, nargs, args, err);
	if (r != 1)
		return r;
	t->dirs = xcalloc(mt.n, sizeof *t->dirs);
	t->pids = xcalloc(mt.n, sizeof *t->pids);
	for (size_t i = 0; i < mt.n; i++) {
		if (!mt.procs[i].usable)
			continue;
		t->dirs[t->n] = xstrdup(mt.procs[i].dir);
		t->pids[t->n++] = mt.procs[i].pid;
	}
	memg_tree_free(&mt);
	return 1;
}

void proctree_free(struct proctree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->dirs[i]);
	free(t->dirs);
	free(t->pids);
	memset(t, 0, sizeof *t);
}

/* The PID a process directory is named by ("A/B/123" -> "123"). */
static const char *dir_pid(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	return slash ? slash + 1 : dir;
}

void proctree_name_threads(struct recording *r)
{
	for (size_t i = 0; i < r->nthreads; i++) {
		struct rec_thread *th = &r->threads[i];
		struct buf name = BUF_INIT;
		buf_addf(&name, "PID %s: ", dir_pid(th->dir));
		buf_add(&name, th->name.data, th->name.len);
		buf_free(&th->name);
		th->name = name;
	}
}

int proctree_recording(struct recording *rec, int nargs, char *const *args, int children,
		       struct tg_err *err)
{
	struct proctree t;
	int r = proctree_open(&t, nargs, args, children, err);

	if (r < 0)
		return -1;
	if (r == 0)
		return recording_open(rec, nargs, args, err);
	if (t.n == 0) {
		proctree_free(&t);
		return tg_err_set(err, TG_E_DATA, "%s: no process holds a recording", args[0]);
	}
	r = recording_open(rec, (int)t.n, t.dirs, err);
	if (r == 0 && t.n > 1)
		proctree_name_threads(rec);
	proctree_free(&t);
	return r;
}
