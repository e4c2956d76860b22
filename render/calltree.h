/* calltree.h: distinct call stacks as a tree of (parent, frame) nodes, each with
 * CALLTREE_WEIGHTS weights (render collapsed sums one, render pprof time and memory).
 * Memory grows with the number of distinct stacks. */
#ifndef TG_CALLTREE_H
#define TG_CALLTREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CALLTREE_NONE UINT32_MAX
#define CALLTREE_WEIGHTS 2

struct calltree;

struct calltree *calltree_new(void);
/* The node for frame called from parent (CALLTREE_NONE: an outermost call). */
uint32_t calltree_child(struct calltree *t, uint32_t parent, uint32_t frame);
/* Adds weight to the node's weight number k (< CALLTREE_WEIGHTS). */
void calltree_add(struct calltree *t, uint32_t node, int k, double weight);
size_t calltree_size(const struct calltree *t);

/* Called for each node with a weight that is not 0, in depth-first order (children in
 * order of first sight), with its frames from the outermost and its weights. */
typedef int (*calltree_fn)(void *ctx, const uint32_t *frames, size_t n, const double *weights,
			   struct tg_err *err);
int calltree_walk(const struct calltree *t, calltree_fn fn, void *ctx, struct tg_err *err);
void calltree_free(struct calltree *t);

#endif
