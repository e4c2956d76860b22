/* sampler/recproc.c, the process's life across execs: a process that execs again while
 * its interpreter is still awaited (no tracker, no memory tracker yet) is handled as any
 * exec.  Events are handled late, so a launcher's `sh -c 'exec python ...'` delivers two
 * execs in a row; the second one once dereferenced the missing tracker. */
#include <criterion/criterion.h>

#include <unistd.h>

#include "sampler/recorder.h"
#include "sampler/recproc.h"

Test(recproc, exec_while_awaiting_the_interpreter)
{
	struct record_opts o = {0};
	struct tg_err err = {0};

	/* this test program carries no CPython: each exec lets the process go (1) */
	struct recproc *p = recproc_open_exec(&o, getpid(), 0, 0);
	cr_assert_not_null(p);
	cr_assert_eq(recproc_exec(p, &err), 1, "%s", err.msg);
	cr_assert_eq(recproc_exec(p, &err), 1, "%s", err.msg);
	cr_assert_eq(recproc_close(p, 1, &err), 0, "%s", err.msg);
}
