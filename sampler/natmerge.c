/* natmerge.c: see natmerge.h.
 *
 * Which native frame runs which group of Python frames:
 *  1. From 3.12 each evaluation call keeps its entry frame (the frame below its first
 *     Python frame) on the C stack, as a local: the native frame whose stack area holds
 *     that address runs the group.  This needs no symbol, so stripped builds whose
 *     evaluation loop is split into parts without names merge right too.  (3.15 keeps the
 *     entry frame of a thread's first call in its thread state, off the C stack.)
 *  2. The other groups go to the evaluation frames left (named as the evaluation
 *     function, or the same function as a frame found by 1), paired from the outermost:
 *     a thread caught entering or leaving a call differs at its innermost end (an
 *     evaluation call that has not pushed its first frame yet, or has popped its last),
 *     never at its first frames.
 *  3. A group still without a frame goes with its nearest inner neighbour's frame, else
 *     its outer neighbour's; with none at all, the Python frames go outermost. */
#include "sampler/natmerge.h"

#include <stdint.h>

#define NONE SIZE_MAX
#define STACK_SPAN (8u << 20) /* beyond the outermost frame's sp: not this C stack */
#define NATIVE_MAX 1024	      /* native frames looked at for rule 2 */
#define EVAL_CODES 8	      /* distinct functions found by rule 1, at most */

static void put(struct walk_frame *out, size_t max, struct natmerge_result *res,
		const struct walk_frame *f)
{
	if (res->depth < max)
		out[res->depth++] = *f;
	else
		res->truncated = 1;
}

/* The Python groups, innermost first: group g is py[start[g] .. start[g + 1]). */
static size_t find_groups(const struct walk_frame *py, size_t np, int per_frame, size_t *start)
{
	size_t g = 0;

	for (size_t i = 0; i < np && g < WALK_MAX_DEPTH; i++) {
		if (i == 0 || per_frame || py[i - 1].eval_entry)
			start[g++] = i;
	}
	start[g] = np;
	return g;
}

/* 1: the native frame whose stack area [its sp, its caller's sp) holds address a (of an
 * inline chain, the function itself: the outermost entry at that sp), or NONE. */
static size_t holder(const struct walk_frame *native, size_t nn, uint64_t a)
{
	if (!a || nn == 0 || !native[0].addr || a < native[0].addr ||
	    a - native[0].addr > STACK_SPAN)
		return NONE;
	for (size_t k = 0; k < nn && native[k].addr && native[k].addr <= a; k++)
		if (k + 1 == nn || native[k + 1].addr > a)
			return k;
	return NONE;
}

/* 2: the frames that may run a group: named as the evaluation function, or the same
 * function as a frame found by 1, and not found by 1 already.  Marked once, then one pass
 * downwards: before 3.11 a stack has a group per Python frame (up to 1024) over at most
 * UNWIND_MAX_FRAMES native frames, and rescanning them per group was quadratic. */
static void pair_the_rest(const struct walk_frame *native, size_t nn, size_t ngroups, size_t *owner)
{
	unsigned char cand[NATIVE_MAX] = {0};
	uint64_t codes[EVAL_CODES];
	size_t ncodes = 0, k;

	if (nn > NATIVE_MAX)
		nn = NATIVE_MAX;
	for (size_t g = 0; g < ngroups; g++) {
		if (owner[g] == NONE || owner[g] >= nn)
			continue;
		for (k = 0; k < ncodes && codes[k] != native[owner[g]].code; k++)
			;
		if (k == ncodes && ncodes < EVAL_CODES)
			codes[ncodes++] = native[owner[g]].code;
	}
	for (k = 0; k < nn; k++) {
		cand[k] = native[k].native == WALK_NATIVE_EVAL;
		for (size_t c = 0; !cand[k] && c < ncodes; c++)
			cand[k] = native[k].code == codes[c];
	}
	for (size_t g = 0; g < ngroups; g++)
		if (owner[g] < nn)
			cand[owner[g]] = 0;
	k = nn; /* owners lie below the outer neighbour's, and above the inner one's */
	for (size_t g = ngroups; g-- > 0;) {
		if (owner[g] != NONE) {
			k = owner[g] < nn ? owner[g] : nn;
			continue;
		}
		size_t floor = g > 0 && owner[g - 1] != NONE ? owner[g - 1] + 1 : 0;
		while (k > floor && !cand[k - 1])
			k--;
		if (k > floor)
			owner[g] = --k;
	}
}

static void fill_gaps(size_t ngroups, size_t *owner)
{
	for (size_t g = 1; g < ngroups; g++) /* an inner neighbour's frame first */
		if (owner[g] == NONE)
			owner[g] = owner[g - 1];
	for (size_t g = ngroups; g-- > 1;) /* the innermost: the outer neighbour's */
		if (owner[g - 1] == NONE)
			owner[g - 1] = owner[g];
}

void natmerge(const struct walk_frame *native, size_t nn, const struct walk_frame *py, size_t np,
	      int per_frame, struct walk_frame *out, size_t max, struct natmerge_result *res)
{
	size_t start[WALK_MAX_DEPTH + 1], owner[WALK_MAX_DEPTH];

	*res = (struct natmerge_result){0};
	if (np > WALK_MAX_DEPTH)
		np = WALK_MAX_DEPTH;
	size_t ngroups = find_groups(py, np, per_frame, start), g = 0;
	res->py_groups = ngroups;
	for (size_t i = 0; i < ngroups; i++) {
		owner[i] = holder(native, nn, py[start[i + 1] - 1].entry_addr);
		res->by_entry += owner[i] != NONE;
	}
	pair_the_rest(native, nn, ngroups, owner);
	for (size_t i = 0; i < ngroups; i++)
		res->paired += owner[i] != NONE;
	fill_gaps(ngroups, owner);
	/* innermost first: a native frame that runs groups is replaced by them */
	for (size_t k = 0; k < nn; k++) {
		size_t from = g;
		while (g < ngroups && owner[g] == k)
			g++;
		if (g == from)
			put(out, max, res, &native[k]);
		for (size_t i = start[from]; i < start[g]; i++)
			put(out, max, res, &py[i]);
	}
	for (size_t i = start[g]; i < np; i++) /* owned by no native frame: outermost */
		put(out, max, res, &py[i]);
}
