/* The interpreter matrix: for every CPython installed here, `tgattach dump` must equal the
 * fixture's own sys._current_frames() frame for frame, and a short recording must write
 * the expected files, after which the fixture runs on untraced. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

/* source: the layout source dump must name, or NULL */
static void run_matrix_entry(const char *label, const char *python, const char *offsets_arg,
			     const char *source)
{
	char *dir = temp_dir("truth");
	char truth_path[PATH_MAX], fixture[PATH_MAX], cwd[PATH_MAX];
	struct proc fx;
	struct truth_view truth;

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(fixture, sizeof fixture, "%s/fixtures/threads.py", cwd);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *fargv[] = {(char *)python, fixture, truth_path, NULL};
	int nthreads = truth_start_fixture(label, fargv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, nthreads, "%s: truth has %d threads", label, truth.nthreads);

	truth_dump_and_compare(label, fx.pid, offsets_arg, &truth);
	if (source)
		truth_check_source(label, fx.pid, offsets_arg, source);
	truth_record_and_check(label, fx.pid, &truth, offsets_arg, NULL);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	fprintf(stderr, "interpreter %-22s passed (%s)\n", label, python);
}

static void pyenv_entry(const char *prefix)
{
	char python[PATH_MAX], label[64];

	snprintf(label, sizeof label, "pyenv %s", prefix);
	if (pyenv_python(prefix, python, sizeof python) < 0) {
		fprintf(stderr, "interpreter %-22s skipped: no pyenv %sx installed\n", label, prefix);
		cr_skip_test("pyenv %sx is not installed", prefix);
	}
	run_matrix_entry(label, python, NULL, NULL);
}

static void system_entry(const char *label, const char *python, const char *offsets_arg)
{
	if (access(python, X_OK) != 0) {
		fprintf(stderr, "interpreter %-22s skipped: %s is not installed\n", label, python);
		cr_skip_test("%s is not installed", python);
	}
	run_matrix_entry(label, python, offsets_arg, NULL);
}

TestSuite(interp, .timeout = 120);

Test(interp, pyenv_2_7) { pyenv_entry("2.7."); }
Test(interp, pyenv_3_6) { pyenv_entry("3.6."); }
Test(interp, pyenv_3_7) { pyenv_entry("3.7."); }
Test(interp, pyenv_3_8) { pyenv_entry("3.8."); }
Test(interp, pyenv_3_9) { pyenv_entry("3.9."); }
Test(interp, pyenv_3_10) { pyenv_entry("3.10."); }
Test(interp, pyenv_3_11) { pyenv_entry("3.11."); }
Test(interp, pyenv_3_12) { pyenv_entry("3.12."); }
Test(interp, pyenv_3_13) { pyenv_entry("3.13."); }
/* 3.13 without DWARF: _Py_DebugOffsets, completed by the 3.13 table that agrees with it */
Test(interp, pyenv_3_13_builtin)
{
	char python[PATH_MAX];

	if (pyenv_python("3.13.", python, sizeof python) < 0) {
		fprintf(stderr, "interpreter %-22s skipped: no pyenv 3.13.x installed\n",
			"pyenv 3.13. (builtin)");
		cr_skip_test("pyenv 3.13.x is not installed");
	}
	run_matrix_entry("pyenv 3.13. (builtin)", python, "--offsets=builtin", "debug-offsets");
}
Test(interp, debian_3_11_static) { system_entry("debian 3.11 (dwarf)", "/usr/bin/python3.11", NULL); }
Test(interp, debian_3_11_builtin)
{
	system_entry("debian 3.11 (builtin)", "/usr/bin/python3.11", "--offsets=builtin");
}
Test(interp, debian_3_11_debug) { system_entry("debian 3.11d", "/usr/bin/python3.11d", NULL); }
