/* memg_group.h: how `render memg` draws each thread series when there are many threads
 * (render/memg_group.c). */
#ifndef TG_MEMG_GROUP_H
#define TG_MEMG_GROUP_H

#include <stddef.h>

#include "common/buf.h"
#include "render/memg.h"

struct memg_style {
	int other;    /* grey, under the one "other threads (K)" key entry */
	size_t color; /* plot_line_style() index: its group's rank */
	char *title;  /* the key entry it carries, or NULL (notitle) */
};

/* The key threads are grouped by: the name's family (render/threadfam.h; in a tree, the
 * "PID:" prefix kept as it is). */
void memg_group_key(const char *title, int tree, struct buf *out);

/* One style per series of p (process series get a zeroed one); *other_threads gets how
 * many threads are drawn grey.  Free with memg_styles_free(st, p->nseries). */
struct memg_style *memg_group(const struct memg_plot *p, size_t *other_threads);
void memg_styles_free(struct memg_style *st, size_t n);

#endif
