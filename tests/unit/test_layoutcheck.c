/* layoutcheck_judge: a layout that does not read the interpreter must fail the attach
 * with exit 6, naming its source; an idle embedding program (no frames) must not. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sampler/layoutcheck.h"

static struct py_target target(void)
{
	struct py_target t;

	memset(&t, 0, sizeof t);
	t.off_source = OFFSRC_DEBUG_OFFSETS;
	snprintf(t.off_detail, sizeof t.off_detail, "built-in 3.14 table (test)");
	return t;
}

Test(layoutcheck, modules_unreadable_fails_naming_the_source)
{
	struct py_target t = target();
	struct layoutcheck_view v = {.samples = 1, .threads = 2, .good_stacks = 2};
	struct tg_err err = {0};

	cr_assert_eq(layoutcheck_judge(&v, &t, &err), -1);
	cr_expect_eq(err.code, TG_E_LAYOUT);
	cr_expect(strstr(err.msg, "offsets: debug-offsets") && strstr(err.msg, "3.14 table") &&
		      strstr(err.msg, "sys.modules"),
		  "%s", err.msg);
}

Test(layoutcheck, only_broken_stacks_fail)
{
	struct py_target t = target();
	struct layoutcheck_view v = {.samples = 5, .threads = 3, .bad_stacks = 15, .modules_ok = 1};
	struct tg_err err = {0};

	cr_assert_eq(layoutcheck_judge(&v, &t, &err), -1);
	cr_expect(strstr(err.msg, "in 5 samples of 3 threads") && strstr(err.msg, "bad link"), "%s",
		  err.msg);
}

Test(layoutcheck, one_whole_stack_passes)
{
	struct py_target t = target();
	struct layoutcheck_view v = {
	    .samples = 1, .threads = 3, .good_stacks = 1, .bad_stacks = 2, .modules_ok = 1};
	struct tg_err err = {0};

	cr_expect_eq(layoutcheck_judge(&v, &t, &err), 0, "%s", err.msg);
}

Test(layoutcheck, no_frames_at_all_passes_when_modules_read)
{
	struct py_target t = target();
	struct layoutcheck_view v = {.samples = 5, .threads = 1, .modules_ok = 1};
	struct tg_err err = {0};

	cr_expect_eq(layoutcheck_judge(&v, &t, &err), 0, "%s", err.msg);
}

/* Five samples without a frame are enough to judge; cut stacks may be a thread moving
 * under the walk, and are sampled up to twenty-five times. */
Test(layoutcheck, cut_stacks_sampled_longer)
{
	struct layoutcheck_view v = {.samples = 5, .threads = 1};

	cr_expect_not(layoutcheck_more(&v), "five samples without a frame: judged");
	v.bad_stacks = 5;
	cr_expect(layoutcheck_more(&v), "five cut stacks: sampled again");
	v.samples = 25;
	cr_expect_not(layoutcheck_more(&v), "twenty-five samples: judged");
	v.samples = 3;
	v.good_stacks = 1;
	cr_expect_not(layoutcheck_more(&v), "a whole stack: judged at once");
}
