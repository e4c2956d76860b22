/* sampler/natmerge: native and Python frames as one stack.  Stacks are written here
 * innermost first, one letter per frame: lower case a Python frame, upper case a native
 * one (mk_py and mk_native say what may follow a letter); the merge is checked as the
 * string of its frames' letters. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "sampler/natmerge.h"

#define MAXF 64

struct stk {
	struct code_info ci[MAXF];
	char names[MAXF][2];
	struct walk_frame f[MAXF];
	size_t n;
};

/* Python frames: "c b* a*" = c called by b (b the first frame of its evaluation call),
 * called by a.  An `@HEX` after a frame: its entry frame's address (3.12+). */
static void mk_py(struct stk *s, const char *spec)
{
	memset(s, 0, sizeof *s);
	for (const char *p = spec; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		struct walk_frame *f = &s->f[s->n];
		s->names[s->n][0] = *p++;
		s->ci[s->n].func = s->names[s->n];
		s->ci[s->n].file = "x.py";
		f->code_info = &s->ci[s->n];
		f->code = 0x1000 + (uint64_t)s->names[s->n][0];
		if (*p == '*') {
			f->eval_entry = 1;
			p++;
		}
		if (*p == '@') {
			char *end;
			f->entry_addr = strtoull(p + 1, &end, 16);
			p = end;
		}
		s->n++;
	}
}

/* Native frames: letters, `E` the evaluation function by name; `:HEX` after a frame sets
 * its stack pointer (frames without one take the previous one's + 0x10); `=K` gives its
 * function identity K (frames of one function share it). */
static void mk_native(struct stk *s, const char *spec)
{
	uint64_t sp = 0x7000;

	memset(s, 0, sizeof *s);
	for (const char *p = spec; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		struct walk_frame *f = &s->f[s->n];
		s->names[s->n][0] = *p++;
		s->ci[s->n].func = s->names[s->n];
		s->ci[s->n].file = "lib.so";
		f->code_info = &s->ci[s->n];
		f->native = s->names[s->n][0] == 'E' ? WALK_NATIVE_EVAL : WALK_NATIVE;
		f->code = 0x9000 + (uint64_t)s->names[s->n][0];
		sp += 0x10;
		if (*p == ':') {
			char *end;
			sp = strtoull(p + 1, &end, 16);
			p = end;
		}
		if (*p == '=') {
			f->code = 0x9000 + (uint64_t)p[1];
			p += 2;
		}
		f->addr = sp;
		s->n++;
	}
}

/* The merge of the stacks `native` and `py` (as mk_native and mk_py read them), its frames'
 * letters in out. */
static struct natmerge_result merged(const char *native, const char *py, int per_frame, char *out)
{
	struct stk nat, pyf;
	struct walk_frame m[MAXF];
	struct natmerge_result res;

	mk_native(&nat, native);
	mk_py(&pyf, py);
	natmerge(nat.f, nat.n, pyf.f, pyf.n, per_frame, m, MAXF, &res);
	for (size_t i = 0; i < res.depth; i++)
		out[i] = m[i].code_info->func[0];
	out[res.depth] = 0;
	return res;
}

Test(natmerge, one_evaluation_call_per_frame_before_3_11)
{
	char got[MAXF + 1];

	/* futex, lock, E(c), call, sort, E(b), E(a), start */
	struct natmerge_result r = merged("F L E C S E E T", "c b a", 1, got);

	cr_assert_str_eq(got, "FLcCSbaT");
	cr_assert_eq(r.py_groups, 3);
	cr_assert_eq(r.paired, 3);
}

Test(natmerge, groups_by_name_from_3_11)
{
	char got[MAXF + 1];

	/* d, c run by one call (c its first frame); b, a by the outer one */
	struct natmerge_result r = merged("F E V S E T", "d c* b a*", 0, got);

	cr_assert_str_eq(got, "FdcVSbaT");
	cr_assert_eq(r.paired, 2);
	cr_assert_eq(r.by_entry, 0);
}

Test(natmerge, paired_from_the_outermost)
{
	char got[MAXF + 1];

	/* an evaluation call entered, its frame not pushed yet: it stays a C frame, and the
	 * groups keep their own calls */
	struct natmerge_result r = merged("E V E S E T", "b* a*", 0, got);

	cr_assert_str_eq(got, "EVbSaT");
	cr_assert_eq(r.paired, 2);
}

Test(natmerge, inner_groups_without_a_call_go_with_the_innermost_paired)
{
	char got[MAXF + 1];

	struct natmerge_result r = merged("F E S E T", "d* c* b* a*", 0, got);

	cr_assert_str_eq(got, "FdcbSaT");
	cr_assert_eq(r.paired, 2);
}

Test(natmerge, no_evaluation_frame_puts_python_outermost)
{
	char got[MAXF + 1];

	struct natmerge_result r = merged("F G H", "b a*", 0, got);

	cr_assert_str_eq(got, "FGHba");
	cr_assert_eq(r.paired, 0);
}

Test(natmerge, entry_frames_on_the_c_stack_need_no_names)
{
	char got[MAXF + 1];

	/* 3.12+ on a stripped build: nothing is named E; the entry frames' addresses lie in
	 * the stack areas of X (0x7100..0x7200) and Y (0x7300..) */
	struct natmerge_result r =
	    merged("F:7000 G:7080 X:7100 V:7200 Y:7300 T:7400", "c b*@7150 a*@7350", 0, got);

	cr_assert_str_eq(got, "FGcbVaT");
	cr_assert_eq(r.by_entry, 2);
}

Test(natmerge, an_entry_frame_off_the_stack_goes_to_the_same_function)
{
	char got[MAXF + 1];

	/* 3.15: a thread's first call keeps its entry frame in the thread state, far from
	 * the C stack; the outer frame of the same function (=X) runs that group */
	struct natmerge_result r =
	    merged("F:7000 X:7100=X V:7200 Z:7300=X T:7400", "b*@7150 a*@22807000", 0, got);

	cr_assert_str_eq(got, "FbVaT");
	cr_assert_eq(r.by_entry, 1);
	cr_assert_eq(r.paired, 2);
}

Test(natmerge, truncated_when_out_is_full)
{
	struct stk n, p;
	struct walk_frame m[3];
	struct natmerge_result r;

	mk_native(&n, "F G E T");
	mk_py(&p, "b a*");
	natmerge(n.f, n.n, p.f, p.n, 0, m, 3, &r);
	cr_assert_eq(r.depth, 3);
	cr_assert(r.truncated);
}
