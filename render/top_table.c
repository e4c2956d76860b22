/* render top's tables: one row of statistics per function id (top_table.h). */
#include "render/top_table.h"

#include <stdlib.h>
#include <string.h>

#include "common/satint.h"
#include "common/xalloc.h"

static struct fstat *table_at(struct table *t, uint32_t f)
{
	t->v = xgrow0(t->v, &t->cap, (size_t)f + 1, sizeof *t->v);
	if (!t->v[f].touched) {
		t->used = xgrow(t->used, &t->used_cap, t->nused + 1, sizeof *t->used);
		t->used[t->nused++] = f;
		t->v[f].touched = 1;
	}
	return &t->v[f];
}

/* A folded call (a comprehension in its caller's row) adds its SELF only: its caller's
 * call is the row's call, and holds its NET. */
void table_add(struct table *t, uint32_t f, long long net, long long self, int has_self,
	       int count_net, int running, int folded)
{
	struct fstat *s = table_at(t, f);

	s->has_self |= has_self;
	s->self = tg_sat_add(s->self, self);
	if (folded) {
		t->folded++;
		return;
	}
	s->calls++;
	s->running += running != 0;
	if (count_net)
		s->net = tg_sat_add(s->net, net);
	t->calls++;
}

void table_reset(struct table *t)
{
	for (size_t i = 0; i < t->nused; i++)
		memset(&t->v[t->used[i]], 0, sizeof *t->v);
	t->nused = 0;
	t->calls = 0;
	t->folded = 0;
}

void table_free(struct table *t)
{
	free(t->v);
	free(t->used);
}
