/* Unit tests of render/pair: which return closes which call. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/pair.h"

static char *write_temp(const char *data)
{
	char *path = strdup("/tmp/tg-test-pair-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	return path;
}

/* Pairs the files; ret_of[CALL_LINE] = the MEM line of its return (0 for none),
 * depth_of[CALL_LINE] = its depth.  Returns the number of stray returns. */
static unsigned long pair_all(const char *mem, const char *stack, unsigned long *ret_of,
			      size_t *depth_of, size_t max)
{
	char *mp = write_temp(mem), *sp = write_temp(stack);
	struct tg_err err;
	struct pairer *p = pair_open(mp, sp, PAIR_STRICT, &err);
	struct pair_event ev;
	unsigned long stray;
	int r, open = 0;

	cr_assert_not_null(p, "%s", err.msg);
	memset(ret_of, 0, max * sizeof *ret_of);
	while ((r = pair_next(p, &ev, &err)) == 1) {
		cr_assert_lt(ev.node->call_lineno, max);
		if (ev.kind == PAIR_OPEN) {
			depth_of[ev.node->call_lineno] = ev.depth;
			open++;
			continue;
		}
		open--;
		cr_assert_eq(depth_of[ev.node->call_lineno], ev.depth);
		if (ev.node->has_return)
			ret_of[ev.node->call_lineno] = ev.node->ret_lineno;
	}
	cr_assert_eq(r, 0, "%s", err.msg);
	cr_assert_eq(open, 0, "every opened call is closed");
	stray = pair_stray_returns(p);
	pair_close(p);
	unlink(mp);
	unlink(sp);
	free(mp);
	free(sp);
	return stray;
}

static void expect(const unsigned long *ret_of, const unsigned long *want, size_t n)
{
	for (size_t i = 1; i <= n; i++)
		cr_assert_eq(ret_of[i], want[i - 1], "call on STACK line %zu: return %lu, want %lu",
			     i, ret_of[i], want[i - 1]);
}

/* f called three times, nested in g and recursively; tgattach's indent, distinct times */
Test(render_pair, repeated_and_recursive_calls)
{
	static const char stack[] = "1.0#a.py:1:main\n"	  /* 1 */
				    " 1.1#a.py:5:f\n"	  /* 2 */
				    " 1.3#a.py:9:g\n"	  /* 3 */
				    "  1.4#a.py:5:f\n"	  /* 4 */
				    "   1.5#a.py:5:f\n"	  /* 5 */
				    " 1.8#a.py:5:f\n";	  /* 6 */
	static const char mem[] = "1.2#a.py:6:f=>1\n"	  /* 1: f (2) */
				  "1.6#a.py:6:f=>2\n"	  /* 2: f (5) */
				  "1.65#a.py:6:f=>3\n"	  /* 3: f (4) */
				  "1.7#a.py:10:g=>4\n"	  /* 4: g (3) */
				  "1.9#a.py:6:f=>5\n"	  /* 5: f (6) */
				  "2.0#a.py:2:main=>6\n"; /* 6: main (1) */
	unsigned long ret_of[8];
	size_t depth_of[8];
	static const unsigned long want[] = {6, 1, 4, 3, 2, 5};

	cr_assert_eq(pair_all(mem, stack, ret_of, depth_of, 8), 0);
	expect(ret_of, want, 6);
	cr_assert_eq(depth_of[5], 3);
	cr_assert_eq(depth_of[6], 1);
}

/* The same, with every time equal: the indentation alone must decide. */
Test(render_pair, equal_times_use_indentation)
{
	static const char stack[] = "1#a.py:1:main\n"
				    " 1#a.py:5:f\n"
				    " 1#a.py:9:g\n"
				    "  1#a.py:5:f\n"
				    "   1#a.py:5:f\n"
				    " 1#a.py:5:f\n";
	static const char mem[] = "1#a.py:6:f=>1\n"
				  "1#a.py:6:f=>2\n"
				  "1#a.py:6:f=>3\n"
				  "1#a.py:10:g=>4\n"
				  "1#a.py:6:f=>5\n"
				  "1#a.py:2:main=>6\n";
	unsigned long ret_of[8];
	size_t depth_of[8];
	static const unsigned long want[] = {6, 1, 4, 3, 2, 5};

	cr_assert_eq(pair_all(mem, stack, ret_of, depth_of, 8), 0);
	expect(ret_of, want, 6);
}

/* The original's writer: depths 0 and 1 both unindented, depth 2 one space. */
Test(render_pair, original_indent_quirk)
{
	static const char stack[] = "1.0#m.py:80:main\n"	/* 1 depth 0 */
				    "1.0#m.py:27:doStuff\n"	/* 2 depth 1 */
				    " 1.0#r.py:236:randint\n"	/* 3 depth 2 */
				    "1.01#m.py:27:doStuff\n"	/* 4 depth 1 */
				    " 1.01#r.py:236:randint\n"	/* 5 depth 2 */
				    "1.5#m.py:100:shutdown\n";	/* 6 depth 0, after main */
	static const char mem[] = "1.0#r.py:240:randint=>0\n"	/* 1: 3 */
				  "1.01#m.py:39:doStuff=>7\n"	/* 2: 2 */
				  "1.01#r.py:240:randint=>0\n"	/* 3: 5 */
				  "1.02#m.py:39:doStuff=>8\n"	/* 4: 4 */
				  "1.4#m.py:95:main=>9\n"	/* 5: 1 */
				  "1.6#m.py:104:shutdown=>1\n"; /* 6: 6 */
	unsigned long ret_of[8];
	size_t depth_of[8];
	static const unsigned long want[] = {5, 2, 1, 4, 3, 6};

	cr_assert_eq(pair_all(mem, stack, ret_of, depth_of, 8), 0);
	expect(ret_of, want, 6);
	cr_assert_eq(depth_of[1], 0);
	cr_assert_eq(depth_of[2], 1);
	cr_assert_eq(depth_of[3], 2);
	cr_assert_eq(depth_of[6], 0);
}

/* A return whose call predates the recording, a lost return, calls never returned. */
Test(render_pair, stray_lost_and_open)
{
	static const char stack[] = "2.0#a.py:1:f\n"	   /* 1 */
				    " 2.1#a.py:5:g\n"	   /* 2: its return is lost */
				    "3.0#a.py:1:f\n"	   /* 3: still running at the end */
				    " 3.1#a.py:5:h\n";	   /* 4: still running at the end */
	static const char mem[] = "1.0#a.py:20:outer=>1\n" /* 1: stray */
				  "2.5#a.py:2:f=>2\n";	   /* 2: f (1) */
	unsigned long ret_of[8];
	size_t depth_of[8];
	static const unsigned long want[] = {2, 0, 0, 0};

	cr_assert_eq(pair_all(mem, stack, ret_of, depth_of, 8), 1);
	expect(ret_of, want, 4);
	cr_assert_eq(depth_of[4], 1);
}

Test(render_pair, malformed_line_in_strict_mode)
{
	char *mp = write_temp("1.0#a.py:1:f=>1\n");
	char *sp = write_temp("0.5#a.py:1:f\nnot a line\n");
	struct tg_err err;
	struct pairer *p = pair_open(mp, sp, PAIR_STRICT, &err);
	struct pair_event ev;
	int r;

	/* the lookahead reads line 2 when line 1 is consumed */
	if (p) {
		while ((r = pair_next(p, &ev, &err)) == 1)
			;
		cr_assert_eq(r, -1);
		pair_close(p);
	}
	cr_assert_eq(err.code, TG_E_DATA);
	cr_assert_not_null(strstr(err.msg, ":2:"), "%s", err.msg);
	unlink(mp);
	unlink(sp);
	free(mp);
	free(sp);
}
