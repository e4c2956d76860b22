/* natstack.c: see natstack.h. */
#include "sampler/natstack.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "sampler/natmerge.h"
#include "sampler/unwind.h"

static const char *const eval_names_2[] = {"PyEval_EvalFrameEx", NULL};
static const char *const eval_names_3[] = {"_PyEval_EvalFrameDefault", NULL};

/* What was read while one thread was stopped, until it is named and merged. */
struct slot {
	struct unwind_raw *raw;
	size_t nraw;	       /* frames unwound, not named yet */
	struct walk_frame *py; /* Python frames kept (natstack_keep_python) */
	size_t npy, py_cap;
	int have_py, py_truncated;
};

struct natstack {
	enum profile_mode mode;
	int per_frame; /* before 3.11: one evaluation call per Python frame */
	struct unwinder *u;
	struct slot *slots;
	size_t nslots;
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
	for (size_t i = 0; i < ns->nslots; i++) {
		unwind_raw_free(ns->slots[i].raw);
		free(ns->slots[i].py);
	}
	free(ns->slots);
	unwind_free(ns->u);
	free(ns);
}

int natstack_sample_begin(struct natstack *ns, struct tg_err *err)
{
	for (size_t i = 0; i < ns->nslots; i++) { /* nothing of an earlier sample is named */
		ns->slots[i].nraw = 0;
		ns->slots[i].have_py = 0;
	}
	return unwind_sample_begin(ns->u, err);
}

static struct slot *slot_at(struct natstack *ns, size_t i)
{
	ns->slots = xgrow0(ns->slots, &ns->nslots, i + 1, sizeof *ns->slots);
	struct slot *s = &ns->slots[i];
	if (!s->raw)
		s->raw = unwind_raw_new();
	return s;
}

size_t natstack_unwind(struct natstack *ns, size_t slot, pid_t tid,
		       const struct user_regs_struct *regs)
{
	struct slot *s = slot_at(ns, slot);

	s->have_py = 0;
	return s->nraw = unwind_thread(ns->u, tid, regs, s->raw);
}

void natstack_keep_python(struct natstack *ns, size_t slot, const struct walk_thread *py)
{
	struct slot *s = slot_at(ns, slot);

	s->py = xgrow(s->py, &s->py_cap, py->depth, sizeof *s->py);
	if (py->depth)
		memcpy(s->py, py->frames, py->depth * sizeof *s->py);
	s->npy = py->depth;
	s->py_truncated = py->truncated;
	s->have_py = 1;
}

/* Do the kept frames' code objects still own the cache entries they point to?  An entry is
 * reused for another code object when the cache evicts it, as walks of the other threads
 * may have done since. */
static int py_names_hold(const struct slot *s)
{
	for (size_t k = 0; k < s->npy; k++)
		if (!s->py[k].native && s->py[k].code_info->addr != s->py[k].code)
			return 0;
	return 1;
}

int natstack_apply(struct natstack *ns, size_t slot, struct walk_thread *th)
{
	struct slot *s = slot_at(ns, slot);
	int ok = s->nraw && th->frames && (!s->have_py || py_names_hold(s));
	size_t nn = ok ? unwind_frames(ns->u, s->raw, ns->native, UNWIND_MAX_FRAMES) : 0;
	const struct walk_frame *src = ns->native;
	size_t depth = nn;
	int truncated = 0;

	s->nraw = 0;
	if (nn == 0) {
		s->have_py = 0;
		return 0;
	}
	if (ns->mode == PROFILE_BOTH) {
		struct walk_thread kept = {
		    .frames = s->py, .depth = s->npy, .truncated = s->py_truncated};
		const struct walk_thread *py = s->have_py ? &kept : th;
		struct natmerge_result res;
		natmerge(ns->native, nn, py->frames, py->depth, ns->per_frame, ns->merged,
			 WALK_MAX_DEPTH, &res);
		ns->unpaired += res.paired != res.py_groups;
		src = ns->merged;
		depth = res.depth;
		truncated = res.truncated || py->truncated;
	}
	s->have_py = 0;
	if (depth > th->frames_cap) {
		depth = th->frames_cap;
		truncated = 1;
	}
	memcpy(th->frames, src, depth * sizeof *src);
	th->depth = depth;
	th->truncated = truncated;
	return 1;
}

void natstack_drop(struct natstack *ns, size_t slot)
{
	struct slot *s = slot_at(ns, slot);

	s->nraw = 0;
	s->have_py = 0;
}

void natstack_counts(const struct natstack *ns, uint64_t *threads, uint64_t *frames,
		     uint64_t *reports, uint64_t *unpaired)
{
	unwind_counts(ns->u, threads, frames, reports);
	*unpaired = ns->unpaired;
}
