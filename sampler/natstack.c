/* natstack.c: see natstack.h. */
#include "sampler/natstack.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/natmerge.h"
#include "sampler/unwind.h"

static const char *const eval_names_2[] = {"PyEval_EvalFrameEx", NULL};
static const char *const eval_names_3[] = {"_PyEval_EvalFrameDefault", NULL};

struct natstack {
	enum profile_mode mode;
	int per_frame; /* before 3.11: one evaluation call per Python frame */
	struct unwinder *u;
	size_t nraw; /* frames of the last unwind, not named yet */
	struct walk_frame native[UNWIND_MAX_FRAMES];
	struct walk_frame merged[WALK_MAX_DEPTH];
	uint64_t unpaired;
};

/* by enum profile_mode */
static const char *const profile_names[] = {"python", "c", "both"};

int profile_parse(const char *s, enum profile_mode *mode, struct tg_err *err)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, profile_names[i]) == 0) {
			*mode = (enum profile_mode)i;
			return 0;
		}
	return tg_err_set(err, TG_E_USAGE, "--profile: '%s' is not python, c or both", s);
}

const char *profile_name(enum profile_mode mode)
{
	return profile_names[mode == PROFILE_C || mode == PROFILE_BOTH ? mode : PROFILE_PYTHON];
}

struct natstack *natstack_new(const struct py_target *t, enum profile_mode mode, int debug_files,
			      struct tg_err *err)
{
	if (mode == PROFILE_PYTHON)
		return NULL;
	struct natstack *ns = xcalloc(1, sizeof *ns);
	ns->mode = mode;
	ns->per_frame = t->major < 3 || (t->major == 3 && t->minor < 11);
	ns->u = unwind_new(t->pid, t->major < 3 ? eval_names_2 : eval_names_3, debug_files, err);
	if (!ns->u) {
		free(ns);
		return NULL;
	}
	return ns;
}

void natstack_free(struct natstack *ns)
{
	if (!ns)
		return;
	unwind_free(ns->u);
	free(ns);
}

int natstack_sample_begin(struct natstack *ns, struct tg_err *err)
{
	return unwind_sample_begin(ns->u, err);
}

size_t natstack_unwind(struct natstack *ns, pid_t tid, const struct user_regs_struct *regs)
{
	return ns->nraw = unwind_thread(ns->u, tid, regs);
}

int natstack_apply(struct natstack *ns, struct walk_thread *th, const struct walk_thread *fresh)
{
	size_t nn = ns->nraw ? unwind_frames(ns->u, ns->native, UNWIND_MAX_FRAMES) : 0;
	const struct walk_frame *src = ns->native;
	size_t depth = nn;
	int truncated = 0;

	ns->nraw = 0;
	if (nn == 0 || !th->frames)
		return 0;
	if (ns->mode == PROFILE_BOTH) {
		const struct walk_thread *py = fresh ? fresh : th;
		struct natmerge_result res;
		natmerge(ns->native, nn, py->frames, py->depth, ns->per_frame, ns->merged,
			 WALK_MAX_DEPTH, &res);
		ns->unpaired += res.paired != res.py_groups;
		src = ns->merged;
		depth = res.depth;
		truncated = res.truncated || py->truncated;
	}
	if (depth > th->frames_cap) {
		depth = th->frames_cap;
		truncated = 1;
	}
	memcpy(th->frames, src, depth * sizeof *src);
	th->depth = depth;
	th->truncated = truncated;
	return 1;
}

void natstack_drop(struct natstack *ns)
{
	ns->nraw = 0;
}

void natstack_counts(const struct natstack *ns, uint64_t *threads, uint64_t *frames,
		     uint64_t *reports, uint64_t *unpaired)
{
	unwind_counts(ns->u, threads, frames, reports);
	*unpaired = ns->unpaired;
}
