#include "sampler/layoutcheck.h"

#include <time.h>

#include "sampler/pyobj.h"

#define CHECK_SAMPLES 5
#define CHECK_SAMPLES_MOVING 25
#define CHECK_GAP_NS 20000000L

int layoutcheck_judge(const struct layoutcheck_view *v, const struct py_target *t,
		      struct tg_err *err)
{
	const char *what = NULL;

	if (!v->modules_ok)
		what = "the main interpreter's modules (sys.modules) could not be read as a dict "
		       "holding sys";
	else if (v->good_stacks == 0 && v->bad_stacks > 0)
		what = "every thread's frame chain was cut by a bad link (or moved under "
		       "every walk)";
	if (!what)
		return 0;
	return tg_err_set(err, TG_E_LAYOUT,
			  "the layout does not fit this interpreter (offsets: %s, %s): in %zu "
			  "samples of %zu threads, %s",
			  pytarget_offsets_source_name(t->off_source), t->off_detail, v->samples,
			  v->threads, what);
}

static int modules_readable(struct remote *r, const struct py_target *t, uint64_t interp)
{
	struct pyobj p;

	pyobj_init(&p, r, t);
	uint64_t sys = pyobj_module(&p, interp, "sys");
	return sys && pyobj_module_attr(&p, sys, "modules") != 0;
}

static void count_stacks(const struct walk_sample *s, struct layoutcheck_view *v)
{
	v->threads = s->nthreads;
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct walk_thread *th = &s->threads[i];
		if (!th->truncated && th->depth > 0)
			v->good_stacks++;
		else if (th->truncated && th->depth >= WALK_MAX_DEPTH)
			v->good_stacks++; /* deep, not broken */
		else if (th->truncated)
			v->bad_stacks++;
		if (!v->interp || th->interp_id == 0)
			v->interp = th->interp;
	}
}

int layoutcheck_more(const struct layoutcheck_view *v)
{
	if (v->good_stacks > 0)
		return 0;
	return v->samples < (v->bad_stacks ? CHECK_SAMPLES_MOVING : CHECK_SAMPLES);
}

int layoutcheck_run(struct remote *r, const struct py_target *t, struct walker *w,
		    struct tg_err *err)
{
	struct layoutcheck_view v = {0};
	struct walk_sample s = {0};

	while (layoutcheck_more(&v)) {
		if (v.samples) {
			struct timespec gap = {0, CHECK_GAP_NS};
			nanosleep(&gap, NULL);
		}
		if (walker_sample(w, &s, NULL) == 0)
			count_stacks(&s, &v);
		v.samples++;
	}
	walk_sample_free(&s);
	/* a process with no thread state at all (finalizing) is left to the sampler */
	if (!v.interp)
		return 0;
	v.modules_ok = modules_readable(r, t, v.interp);
	return layoutcheck_judge(&v, t, err);
}
