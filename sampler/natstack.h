/* natstack.h: `--profile c|both` for one process: a thread's native stack, unwound while
 * the thread is stopped (sampler/unwind.h), becomes its stack (`c`), or is merged with
 * its Python frames read while it was stopped (`both`, sampler/natmerge.h). */
#ifndef TG_NATSTACK_H
#define TG_NATSTACK_H

#include <sys/types.h>
#include <sys/user.h>

#include "common/err.h"
#include "sampler/walk.h"
#include "symbols/pytarget.h"

enum profile_mode { PROFILE_PYTHON = 0, PROFILE_C, PROFILE_BOTH };

/* "python", "c", "both" -> *mode; else -1 with err (TG_E_USAGE, naming --profile). */
int profile_parse(const char *s, enum profile_mode *mode, struct tg_err *err);
const char *profile_name(enum profile_mode mode);

struct natstack;

/* For mode c or both (NULL, no error, for python); debug_files as unwind_new(). */
struct natstack *natstack_new(const struct py_target *t, enum profile_mode mode, int debug_files,
			      struct tg_err *err);
void natstack_free(struct natstack *ns);

/* Before a sample's threads (unwind_sample_begin). */
int natstack_sample_begin(struct natstack *ns, struct tg_err *err);

/* A sample's threads each have a slot (their index in the sample): what is read while a
 * thread is stopped is kept there, and named and merged once every thread runs again, so
 * that no thread is held, nor the tracer thread kept, while names are looked up in debug
 * files (the first sample of a large one takes about half a second).
 *
 * Thread tid, of slot `slot`, is stopped with registers regs: unwind it (addresses only: it
 * is held for no longer).  Returns the native frames found (0: none could be). */
size_t natstack_unwind(struct natstack *ns, size_t slot, pid_t tid,
		       const struct user_regs_struct *regs);
/* Its Python frames, read while it was stopped, kept (copied) for the merge. */
void natstack_keep_python(struct natstack *ns, size_t slot, const struct walk_thread *py);
/* Once it runs again: th's frames become the profile's stack from the slot's unwind,
 * innermost first (at most th->frames_cap; truncated set when they did not fit), merged
 * (both) with the Python frames kept for the slot, else th's own.  After an unwind that
 * found nothing, or when a code object the kept frames name has left the walker's code
 * cache since (its names are another's now), th is left as it was, and 0 returned; else
 * 1.  The slot is empty again. */
int natstack_apply(struct natstack *ns, size_t slot, struct walk_thread *th);

/* Forget the slot's unwind (its thread's Python frames could not be read while it was held:
 * a merge with frames read earlier could splice two moments). */
void natstack_drop(struct natstack *ns, size_t slot);

/* Threads unwound, native frames, module reports, and merges whose evaluation frames and
 * Python groups did not pair. */
void natstack_counts(const struct natstack *ns, uint64_t *threads, uint64_t *frames,
		     uint64_t *reports, uint64_t *unpaired);

#endif
