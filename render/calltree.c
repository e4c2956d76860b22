#include "render/calltree.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct node {
	uint32_t parent, frame;
	uint32_t first_child, last_child, next;
	double weight[CALLTREE_WEIGHTS];
};

struct calltree {
	struct node *v;
	size_t n, cap;
	uint32_t first_root, last_root;
	uint32_t *slots; /* node + 1, 0 = empty */
	size_t nslots;
};

static size_t slot_of(uint32_t parent, uint32_t frame, size_t nslots)
{
	uint64_t h = ((uint64_t)parent << 32 | frame) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 20) & (nslots - 1);
}

struct calltree *calltree_new(void)
{
	struct calltree *t = xcalloc(1, sizeof *t);

	t->nslots = 1024;
	t->slots = xcalloc(t->nslots, sizeof *t->slots);
	t->first_root = t->last_root = CALLTREE_NONE;
	return t;
}

void calltree_free(struct calltree *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->slots);
	free(t);
}

size_t calltree_size(const struct calltree *t)
{
	return t->n;
}

static void rehash(struct calltree *t)
{
	size_t nslots = t->nslots * 2;
	uint32_t *slots = xcalloc(nslots, sizeof *slots);

	for (size_t id = 0; id < t->n; id++) {
		size_t i = slot_of(t->v[id].parent, t->v[id].frame, nslots);
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = (uint32_t)id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
}

static uint32_t add(struct calltree *t, uint32_t parent, uint32_t frame)
{
	uint32_t id = (uint32_t)t->n;
	uint32_t *last;

	t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof *t->v);
	t->v[t->n++] =
	    (struct node){parent, frame, CALLTREE_NONE, CALLTREE_NONE, CALLTREE_NONE, {0}};
	if (parent == CALLTREE_NONE) {
		last = &t->last_root;
		if (t->first_root == CALLTREE_NONE)
			t->first_root = id;
	} else {
		last = &t->v[parent].last_child;
		if (t->v[parent].first_child == CALLTREE_NONE)
			t->v[parent].first_child = id;
	}
	if (*last != CALLTREE_NONE)
		t->v[*last].next = id;
	*last = id;
	return id;
}

uint32_t calltree_child(struct calltree *t, uint32_t parent, uint32_t frame)
{
	size_t i = slot_of(parent, frame, t->nslots);
	uint32_t id;

	while (t->slots[i]) {
		id = t->slots[i] - 1;
		if (t->v[id].parent == parent && t->v[id].frame == frame)
			return id;
		i = (i + 1) & (t->nslots - 1);
	}
	id = add(t, parent, frame);
	t->slots[i] = id + 1;
	if (2 * t->n > t->nslots)
		rehash(t);
	return id;
}

void calltree_add(struct calltree *t, uint32_t node, int k, double weight)
{
	t->v[node].weight[k] += weight;
}

static int weighed(const struct node *n)
{
	for (int k = 0; k < CALLTREE_WEIGHTS; k++)
		if (n->weight[k] != 0)
			return 1;
	return 0;
}

int calltree_walk(const struct calltree *t, calltree_fn fn, void *ctx, struct tg_err *err)
{
	uint32_t *path = NULL;
	size_t cap = 0, depth = 0;
	uint32_t id = t->first_root;
	int rc = 0;

	while (id != CALLTREE_NONE) {
		const struct node *n = &t->v[id];
		path = xgrow(path, &cap, depth + 1, sizeof *path);
		path[depth] = n->frame;
		if (weighed(n) && (rc = fn(ctx, path, depth + 1, n->weight, err)) < 0)
			break;
		if (n->first_child != CALLTREE_NONE) {
			id = n->first_child;
			depth++;
			continue;
		}
		/* up to the nearest ancestor with a next sibling */
		while (id != CALLTREE_NONE && t->v[id].next == CALLTREE_NONE) {
			id = t->v[id].parent;
			depth--;
		}
		if (id != CALLTREE_NONE)
			id = t->v[id].next;
	}
	free(path);
	return rc;
}
