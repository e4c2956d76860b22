#include "sampler/outthread.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/xalloc.h"

struct outthread_name {
	struct outthread_name *next;
	char name[];
};

/* ---- hash tables ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t tid_bucket(const struct outthread_reg *r, uint64_t tid)
{
	return (size_t)((tid * 0x9e3779b97f4a7c15ull) >> 20) & (r->tid_buckets - 1);
}

static void tids_grow(struct outthread_reg *r)
{
	struct output_thread **old = r->tids;
	size_t n = r->tid_buckets;

	r->tid_buckets = n ? n * 2 : 64;
	r->tids = xcalloc(r->tid_buckets, sizeof *r->tids);
	for (size_t i = 0; i < n; i++) {
		while (old[i]) {
			struct output_thread *th = old[i];
			old[i] = th->next;
			size_t b = tid_bucket(r, th->tid);
			th->next = r->tids[b];
			r->tids[b] = th;
		}
	}
	free(old);
}

static struct output_thread **tid_slot(struct outthread_reg *r, uint64_t tid)
{
	struct output_thread **p = &r->tids[tid_bucket(r, tid)];

	while (*p && (*p)->tid != tid)
		p = &(*p)->next;
	return p;
}

static int name_taken(const struct outthread_reg *r, const char *name)
{
	const struct outthread_name *n = r->names[hash_str(name) & (r->name_buckets - 1)];

	for (; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return 1;
	return 0;
}

static void names_insert(struct outthread_name **table, size_t buckets, struct outthread_name *n)
{
	size_t b = hash_str(n->name) & (buckets - 1);

	n->next = table[b];
	table[b] = n;
}

static void name_take(struct outthread_reg *r, const char *name)
{
	size_t len = strlen(name);
	struct outthread_name *n = xmalloc(sizeof *n + len + 1);

	memcpy(n->name, name, len + 1);
	if (r->nnames + 1 > r->name_buckets) {
		size_t nb = r->name_buckets * 2;
		struct outthread_name **t = xcalloc(nb, sizeof *t);
		for (size_t i = 0; i < r->name_buckets; i++) {
			while (r->names[i]) {
				struct outthread_name *m = r->names[i];
				r->names[i] = m->next;
				names_insert(t, nb, m);
			}
		}
		free(r->names);
		r->names = t;
		r->name_buckets = nb;
	}
	names_insert(r->names, r->name_buckets, n);
	r->nnames++;
}

/* ---- threads ---- */

void outthread_init(struct outthread_reg *r)
{
	memset(r, 0, sizeof *r);
	r->name_buckets = 64;
	r->names = xcalloc(r->name_buckets, sizeof *r->names);
	tids_grow(r);
}

/* The escaped, unique base file name for a thread, left in r->scratch. */
static void thread_base(struct outthread_reg *r, uint64_t tid, const char *name, size_t namelen)
{
	static const char proc[] = "process";
	struct buf *b = &r->scratch;

	buf_reset(b);
	tg_escape_filename(b, name ? name : "", name ? namelen : 0);
	if (b->len >= sizeof proc && memcmp(b->data, "process.", sizeof proc) == 0) {
		/* "process.x" -> "process%2ex": still reads back as the thread's name */
		size_t rest = b->len - sizeof proc;
		buf_add(b, "..", 2);
		memmove(b->data + sizeof proc + 2, b->data + sizeof proc, rest);
		memcpy(b->data + sizeof proc - 1, "%2e", 3);
	}
	if (!name_taken(r, b->data) && strcmp(b->data, proc) != 0)
		return;
	buf_addf(b, "@%" PRIu64, tid);
	size_t len = b->len;
	for (unsigned k = 2; name_taken(r, b->data); k++) {
		b->len = len;
		buf_addf(b, "-%u", k);
	}
}

struct output_thread *outthread_get(struct outthread_reg *r, uint64_t tid, const char *name,
				    size_t namelen)
{
	struct output_thread **p = tid_slot(r, tid);

	if (*p)
		return *p;
	thread_base(r, tid, name, namelen);
	name_take(r, r->scratch.data);

	struct output_thread *th = xcalloc(1, sizeof *th);
	th->tid = tid;
	th->base = xstrdup(r->scratch.data);
	linefile_init(&th->stack, th->base, ".stack");
	linefile_init(&th->mem, th->base, ".mem");
	if (r->ntids + 1 > r->tid_buckets) {
		tids_grow(r);
		p = tid_slot(r, tid);
	}
	*p = th;
	r->ntids++;
	return th;
}

void outthread_forget(struct outthread_reg *r, struct output_thread *th)
{
	struct output_thread **p = tid_slot(r, th->tid);

	if (*p == th) {
		*p = th->next;
		r->ntids--;
	}
}

void outthread_free(struct output_thread *th)
{
	linefile_free(&th->stack);
	linefile_free(&th->mem);
	free(th->base);
	free(th);
}

void outthread_clear(struct outthread_reg *r)
{
	for (size_t i = 0; i < r->tid_buckets; i++) {
		while (r->tids[i]) {
			struct output_thread *th = r->tids[i];
			r->tids[i] = th->next;
			outthread_free(th);
		}
	}
	for (size_t i = 0; i < r->name_buckets; i++) {
		while (r->names[i]) {
			struct outthread_name *n = r->names[i];
			r->names[i] = n->next;
			free(n);
		}
	}
	free(r->tids);
	free(r->names);
	buf_free(&r->scratch);
	memset(r, 0, sizeof *r);
}
