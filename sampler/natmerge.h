/* natmerge.h: one thread's native frames and Python frames as one stack (`--profile
 * both`): each frame of the interpreter's evaluation loop (WALK_NATIVE_EVAL) replaced by
 * the Python frames it runs, in order, so a stack reads caller -> sorted ->
 * list_sort_impl -> ... -> key function.  Before 3.11 each Python frame has an evaluation
 * call of its own; from 3.11 one evaluation call runs Python frames from one marked
 * eval_entry (walk.h) to the innermost one it has called. */
#ifndef TG_NATMERGE_H
#define TG_NATMERGE_H

#include <stddef.h>

#include "sampler/walk.h"

struct natmerge_result {
	size_t depth;	  /* frames written */
	size_t py_groups; /* evaluation calls the Python frames show */
	size_t by_entry;  /* groups placed by their entry frame's address (3.12+) */
	size_t paired;	  /* groups placed by either rule (the rest went with a neighbour) */
	int truncated;	  /* out was too small */
};

/* native[0..nn) and py[0..np) innermost first; per_frame: one evaluation call per Python
 * frame (before 3.11).  Into out[0..max), innermost first.  No Python frame is dropped: a
 * group no native frame is found for goes with a neighbour's, and with none at all the
 * Python frames are put outermost (natmerge.c says how frames are found). */
void natmerge(const struct walk_frame *native, size_t nn, const struct walk_frame *py, size_t np,
	      int per_frame, struct walk_frame *out, size_t max, struct natmerge_result *res);

#endif
