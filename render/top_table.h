/* top_table.h: render top's rows, the statistics of each function (FILE, FUNC) of a
 * table, by function id (render/top_table.c). */
#ifndef TG_TOP_TABLE_H
#define TG_TOP_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct fstat {
	unsigned long long calls;
	unsigned long long running; /* of calls, those closed at the end of the recording */
	long long net, self;
	int has_self; /* SELF is known (the thread has a .stack) */
	int touched;
};

/* Stats by function id, with the ids touched so far.  Zeroed to begin. */
struct table {
	struct fstat *v;
	size_t cap;
	uint32_t *used;
	size_t nused, used_cap;
	unsigned long long calls;
	unsigned long long folded; /* comprehension calls counted in their function's row */
};

/* A call of function f: its NET (counted only when count_net: an outermost call of a
 * recursive function), its SELF, whether it ran to the end of the recording.  A folded
 * call (a comprehension counted in its caller's row) adds its SELF only. */
void table_add(struct table *t, uint32_t f, long long net, long long self, int has_self,
	       int count_net, int running, int folded);
/* Empties t for the next table, keeping its memory. */
void table_reset(struct table *t);
void table_free(struct table *t);

#endif
