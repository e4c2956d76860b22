/* layoutcheck.h: is the layout in use really this interpreter's?  Run once, before a
 * recording or a dump starts, so that a wrong layout (a table of another build, a
 * _Py_DebugOffsets block misread) fails with exit 6 instead of writing empty or invented
 * stacks. */
#ifndef TG_LAYOUTCHECK_H
#define TG_LAYOUTCHECK_H

#include "attach/remote.h"
#include "common/err.h"
#include "sampler/walk.h"
#include "symbols/pytarget.h"

/* What the first samples of a process say about a layout. */
struct layoutcheck_view {
	size_t samples;	    /* samples taken */
	size_t threads;	    /* threads in the last one */
	size_t good_stacks; /* thread stacks read whole (or deeper than the walker goes) */
	size_t bad_stacks;  /* thread stacks cut by a bad link */
	int modules_ok;	    /* sys found in the main interpreter's modules, and its dict */
	uint64_t interp;    /* the interpreter whose modules were read, 0 when none */
};

/* Judge a view: 0 when the layout reads this interpreter, else -1 with err (TG_E_LAYOUT)
 * naming the layout source and what did not check out.  No frame at all is not an
 * error by itself (an embedding program may be idle in C), but then the modules must
 * read. */
int layoutcheck_judge(const struct layoutcheck_view *v, const struct py_target *t,
		      struct tg_err *err);

/* Whether to take another sample: none read whole yet, and fewer than five taken, or
 * fewer than twenty-five when some stack was cut (a thread that runs moves under a walk:
 * a gunicorn worker under load, every walk of its first five cut, failed a CI run; a
 * layout that does not fit takes 0.5 s to be refused). */
int layoutcheck_more(const struct layoutcheck_view *v);

/* Take samples 20 ms apart while layoutcheck_more() says so, and judge them. */
int layoutcheck_run(struct remote *r, const struct py_target *t, struct walker *w,
		    struct tg_err *err);

#endif
