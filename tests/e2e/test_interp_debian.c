/* Debian's own current interpreters (issue 12), run under chroot in the minimal roots that
 * tools/mkroots.sh builds once per machine ($TG_ROOTS, default /var/tmp/tgattach-roots):
 * unstable's python3.14 and python3.15, trixie's python3.13, and their debug builds
 * (python3.Xd).  tgattach attaches from outside, through /proc/PID/root.  Each interpreter
 * is tested three ways:
 *   dwarf    --offsets=dwarf: its detached debug info (the -dbg package) must be used;
 *   hidden   the root's /usr/lib/debug covered by an empty tmpfs in the target's own mount
 *            namespace, and an empty layout cache: what a server without -dbg sees;
 *   builtin  --offsets=builtin: nothing but the interpreter file and tgattach's tables.
 * In each, `dump` must equal the fixture's own sys._current_frames() frame for frame, and a
 * short recording must write the expected files with the heap metric. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/droot_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

enum mode { MODE_DWARF, MODE_HIDDEN, MODE_BUILTIN };

static const char *const mode_names[] = {"dwarf", "hidden", "builtin"};

/* Debian's debug builds (python3.Xd) keep their DWARF in the executable itself. */
static int has_own_dwarf(const char *exe)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *argv[] = {"/usr/bin/readelf", "-S", "-W", (char *)exe, NULL};

	cr_assert_eq(run_capture(argv, &out, &err, 30), 0, "readelf %s: %s", exe, buf_cstr(&err));
	int has = strstr(buf_cstr(&out), " .debug_info ") != NULL;
	buf_free(&out);
	buf_free(&err);
	return has;
}

/* The layout source must be DWARF, or without it the target's _Py_DebugOffsets (every
 * build here is 3.13+), which `info` says too. */
static void check_source(const char *label, pid_t pid, enum mode mode, const char *extra)
{
	char pidstr[16];
	struct buf out = BUF_INIT, err = BUF_INIT;

	truth_check_source(label, pid, extra, mode == MODE_DWARF ? "dwarf" : "debug-offsets");
	if (mode == MODE_DWARF)
		return;
	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *info[] = {TG_BIN, "info", "-p", pidstr, (char *)extra, NULL};
	cr_assert_eq(run_capture(info, &out, &err, 60), 0, "%s: info: %s", label, buf_cstr(&err));
	cr_assert_not_null(strstr(buf_cstr(&out), "offsets:        debug-offsets ("),
			   "%s: info: %s", label, buf_cstr(&out));
	buf_free(&out);
	buf_free(&err);
}

static void debian_entry(const char *root_name, const char *python, enum mode mode)
{
	char label[96];
	struct droot d;
	struct proc fx;
	struct truth_view truth;

	snprintf(label, sizeof label, "debian %s %s (%s)", root_name, python, mode_names[mode]);
	if (droot_find(&d, root_name, python) < 0) {
		fprintf(stderr, "interpreter %-34s skipped: %s not found (make roots builds it)\n",
			label, d.exe);
		cr_skip_test("%s not found", d.exe);
	}
	if (mode == MODE_HIDDEN && has_own_dwarf(d.exe)) {
		fprintf(stderr,
			"interpreter %-34s skipped: its DWARF is inside the binary (nothing to "
			"hide; builtin covers running without it)\n",
			label);
		cr_skip_test("%s carries its own DWARF", d.exe);
	}
	droot_stage(&d, "threads.py");
	char *args[] = {d.fixture, d.truth, NULL}, *argv[24];
	droot_argv(&d, mode == MODE_HIDDEN, args, argv, sizeof argv / sizeof argv[0]);
	char *cache = NULL;
	if (mode == MODE_HIDDEN) {
		cache = temp_dir("cache");
		setenv("XDG_CACHE_HOME", cache, 1);
	}
	int n = truth_start_fixture(label, argv, d.truth_host, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	const char *extra = mode == MODE_DWARF	   ? "--offsets=dwarf"
			    : mode == MODE_BUILTIN ? "--offsets=builtin"
						   : NULL;
	check_source(label, fx.pid, mode, extra);
	truth_dump_and_compare(label, fx.pid, extra, &truth);
	truth_record_check(label, fx.pid, &truth, extra, NULL, 1);
	proc_reap(&fx);
	droot_cleanup(&d);
	if (cache) {
		remove_tree(cache);
		free(cache);
	}
	fprintf(stderr, "interpreter %-34s passed (%s)\n", label, d.exe);
}

TestSuite(debian, .timeout = 120);

#define DEBIAN_TESTS(id, root, python)                                                             \
	Test(debian, id##_dwarf)                                                                   \
	{                                                                                          \
		debian_entry(root, python, MODE_DWARF);                                            \
	}                                                                                          \
	Test(debian, id##_hidden)                                                                  \
	{                                                                                          \
		debian_entry(root, python, MODE_HIDDEN);                                           \
	}                                                                                          \
	Test(debian, id##_builtin)                                                                 \
	{                                                                                          \
		debian_entry(root, python, MODE_BUILTIN);                                          \
	}

DEBIAN_TESTS(py3_13, "trixie", "python3.13")
DEBIAN_TESTS(py3_13d, "trixie", "python3.13d")
DEBIAN_TESTS(py3_14, "unstable", "python3.14")
DEBIAN_TESTS(py3_14d, "unstable", "python3.14d")
DEBIAN_TESTS(py3_15, "unstable", "python3.15")
DEBIAN_TESTS(py3_15d, "unstable", "python3.15d")
