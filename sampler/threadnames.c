#include "sampler/threadnames.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define NAMES_MAX 8192
#define NAME_BYTES 256

struct name_entry {
	uint64_t interp;
	uint64_t ident;
	int64_t native_id;
	char *name;
};

/* threading._active of an interpreter, found once through sys.modules (a costly walk of
 * every module name) and then reused while it still reads as a dict. */
struct registry {
	uint64_t interp;
	uint64_t active, limbo; /* threading._active and threading._limbo (3.x) */
	int missing;		/* the last refresh found no `threading` module at all */
};

#define REGISTRIES_MAX 64

struct thread_names {
	struct name_entry *e;
	size_t n, cap;
	struct registry reg[REGISTRIES_MAX];
	size_t nreg;
};

struct thread_names *threadnames_new(void)
{
	return xcalloc(1, sizeof(struct thread_names));
}

/* Forgets interp's entries (of ident only, when only is set). */
static void drop_interp(struct thread_names *tn, uint64_t interp, int only, uint64_t ident)
{
	size_t keep = 0;

	for (size_t i = 0; i < tn->n; i++) {
		if (tn->e[i].interp == interp && (!only || tn->e[i].ident == ident))
			free(tn->e[i].name);
		else
			tn->e[keep++] = tn->e[i];
	}
	tn->n = keep;
}

void threadnames_free(struct thread_names *tn)
{
	if (!tn)
		return;
	for (size_t i = 0; i < tn->n; i++)
		free(tn->e[i].name);
	free(tn->e);
	free(tn);
}

struct collect {
	struct thread_names *tn;
	struct pyobj *p;
	uint64_t interp;
	const char *name_attr;
	int only; /* only the entries of ident `ident` */
	uint64_t ident;
	size_t found; /* entries collected */
};

/* One Thread of the registry, under ident. */
static int collect_thread(struct collect *c, int64_t ident, uint64_t thread)
{
	struct buf name = BUF_INIT;
	int64_t native = 0;

	if (c->tn->n >= NAMES_MAX)
		return 1;
	const char *attrs[2] = {c->name_attr, "_native_id"};
	uint64_t got[2] = {0, 0}; /* the name, and (3.x) the kernel TID: one lookup */

	pyobj_getattrs(c->p, thread, attrs, got, c->p->t->major == 3 ? 2 : 1);
	if (!got[0] || pyobj_str(c->p, got[0], &name, NAME_BYTES) < 0) {
		buf_free(&name);
		return 0;
	}
	if (got[1] && pyobj_int(c->p, got[1], &native) < 0)
		native = 0;
	c->tn->e = xgrow(c->tn->e, &c->tn->cap, c->tn->n + 1, sizeof *c->tn->e);
	c->tn->e[c->tn->n++] =
	    (struct name_entry){c->interp, (uint64_t)ident, native, buf_detach(&name)};
	c->found++;
	return 0;
}

/* _active: {ident: Thread} */
static int collect_item(void *ctx, uint64_t key, uint64_t thread)
{
	struct collect *c = ctx;
	int64_t ident;

	if (pyobj_int(c->p, key, &ident) < 0 || (c->only && (uint64_t)ident != c->ident))
		return 0;
	return collect_thread(c, ident, thread);
}

/* _limbo: {Thread: Thread}, threads started and not in _active yet.  A new thread sets
 * its `_ident` and `_native_id`, then wakes its starter, and only then enters _active: a
 * server's thread per request, walked in its first microseconds, is named from here. */
static int collect_limbo(void *ctx, uint64_t key, uint64_t thread)
{
	struct collect *c = ctx;
	int64_t ident;
	uint64_t ident_obj = pyobj_getattr(c->p, thread, "_ident");

	(void)key;
	if (!ident_obj || pyobj_int(c->p, ident_obj, &ident) < 0)
		return 0; /* not started yet: _ident is None */
	if (c->only && (uint64_t)ident != c->ident)
		return 0;
	return collect_thread(c, ident, thread);
}

static struct registry *registry_of(struct thread_names *tn, uint64_t interp)
{
	for (size_t i = 0; i < tn->nreg; i++)
		if (tn->reg[i].interp == interp)
			return &tn->reg[i];
	if (tn->nreg == REGISTRIES_MAX)
		return NULL;
	tn->reg[tn->nreg] = (struct registry){interp, 0, 0, 0};
	return &tn->reg[tn->nreg++];
}

/* The registry's dicts of interp: _active, and for 3.x _limbo (0 when absent). */
static uint64_t registry_dicts(struct thread_names *tn, struct pyobj *p, uint64_t interp,
			       uint64_t *limbo)
{
	struct registry *reg = registry_of(tn, interp);
	uint64_t dict = p->t->sym.dict_type;

	/* reused as they are: reading them checks that they are still dicts (registry_lost) */
	if (reg && reg->active) {
		*limbo = reg->limbo;
		return reg->active;
	}
	uint64_t threading = pyobj_module(p, interp, "threading");
	uint64_t active = pyobj_module_attr(p, threading, "_active");
	*limbo = p->t->major == 3 ? pyobj_module_attr(p, threading, "_limbo") : 0;
	if (*limbo && pyobj_type(p, *limbo) != dict)
		*limbo = 0;
	if (reg) {
		reg->active = active;
		reg->limbo = *limbo;
		reg->missing = threading == 0 && pyobj_module(p, interp, "sys") != 0;
	}
	return active;
}

/* The dicts found before no longer read as dicts (the module was reloaded, or the
 * interpreter is gone): found again through sys.modules next time. */
static void registry_lost(struct thread_names *tn, uint64_t interp)
{
	struct registry *reg = registry_of(tn, interp);

	if (reg)
		reg->active = reg->limbo = 0;
}

static int collect_from(struct pyobj *p, uint64_t active, uint64_t limbo, struct collect *c)
{
	/* an ident below 2^61 - 1 is its own hash: only its entries are read */
	int rc =
	    c->only && c->ident < (1ull << 61) - 1
		? pyobj_dict_items_hashed(p, active, (int64_t)c->ident, NAMES_MAX, collect_item, c)
		: pyobj_dict_items(p, active, NAMES_MAX, collect_item, c);
	/* after _active, whose entry comes first (threadnames_get); one ident found there
	 * needs no look in _limbo, which is read for a thread in its first moments only */
	if (rc >= 0 && limbo && !(c->only && c->found))
		pyobj_dict_items(p, limbo, NAMES_MAX, collect_limbo, c);
	return rc;
}

static int refresh(struct thread_names *tn, struct pyobj *p, uint64_t interp, int only,
		   uint64_t ident)
{
	struct collect c = {tn,	  p,	 interp, p->t->major == 2 ? "_Thread__name" : "_name",
			    only, ident, 0};
	uint64_t limbo = 0, active = registry_dicts(tn, p, interp, &limbo);

	drop_interp(tn, interp, only, ident);
	if (!active)
		return -1;
	int rc = collect_from(p, active, limbo, &c);
	/* not a torn read of a dict that changed meanwhile: once more, found afresh */
	if (rc < 0 && pyobj_type(p, active) != p->t->sym.dict_type) {
		registry_lost(tn, interp);
		drop_interp(tn, interp, only, ident);
		c.found = 0;
		active = registry_dicts(tn, p, interp, &limbo);
		rc = active ? collect_from(p, active, limbo, &c) : -1;
	}
	return rc;
}

int threadnames_refresh(struct thread_names *tn, struct pyobj *p, uint64_t interp)
{
	return refresh(tn, p, interp, 0, 0);
}

int threadnames_refresh_ident(struct thread_names *tn, struct pyobj *p, uint64_t interp,
			      uint64_t ident)
{
	return refresh(tn, p, interp, 1, ident);
}

int threadnames_no_registry(const struct thread_names *tn, uint64_t interp)
{
	for (size_t i = 0; i < tn->nreg; i++)
		if (tn->reg[i].interp == interp)
			return tn->reg[i].missing;
	return 0;
}

const char *threadnames_get(const struct thread_names *tn, uint64_t interp, uint64_t ident,
			    int64_t want_native, int64_t *native_id)
{
	for (size_t i = 0; i < tn->n; i++)
		if (tn->e[i].interp == interp && tn->e[i].ident == ident) {
			if (want_native > 0 && tn->e[i].native_id > 0 &&
			    tn->e[i].native_id != want_native)
				continue; /* a dead thread's, or the next entry is the thread's */
			if (native_id)
				*native_id = tn->e[i].native_id;
			return tn->e[i].name;
		}
	return NULL;
}
