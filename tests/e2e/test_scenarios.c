/* The situations py-spy's and austin's integration tests cover, on every interpreter found:
 * fixtures/scenarios.py parks a thread with a Cyrillic name in a function with a Cyrillic
 * name, one 40 calls deep in a recursion, one in a call whose line comes before the line
 * executed just before it (a negative line delta), after 20 threads came and went (reused
 * idents and thread states), one inside a constructor entered from a hot call site (the
 * 3.13+ `__init__` clean-up shim must not show), one whose Thread is in threading._limbo
 * only (named from there, as a thread per request in its first microseconds), and with a
 * zombie child.  `dump` must equal the
 * fixture's own sys._current_frames(), and a short recording must hold the same stacks. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/droot_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

/* The fixture forked a child that exited: it must be there, a zombie, for the scenario to
 * be the one claimed. */
static void check_zombie_child(const char *label, pid_t pid)
{
	char path[64], stat[512];

	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *children = truth_read_text(path);
	cr_assert(children && children[0], "%s: the fixture has no child", label);
	long child = strtol(children, NULL, 10);
	free(children);
	snprintf(path, sizeof path, "/proc/%ld/stat", child);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", label, path);
	cr_assert_not_null(fgets(stat, sizeof stat, f));
	fclose(f);
	const char *close = strrchr(stat, ')');
	cr_assert(close && close[1] == ' ' && close[2] == 'Z', "%s: child %ld is not a zombie: %s",
		  label, child, stat);
}

static void run_scenarios(const char *label, char *const argv[], const char *truth_host,
			  const char *extra)
{
	struct proc fx;
	struct truth_view truth;

	int n = truth_start_fixture(label, argv, truth_host, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	check_zombie_child(label, fx.pid);
	truth_dump_and_compare(label, fx.pid, extra, &truth);
	truth_record_and_check(label, fx.pid, &truth, extra, NULL);
	proc_reap(&fx);
	fprintf(stderr, "scenarios   %-30s passed\n", label);
}

/* The launcher on a shell that execs python a second later (py-spy's and austin's delayed
 * launch): recorded once it runs Python, ended with it, its exit status passed on.  root:
 * run under chroot there (python is its path inside), else NULL. */
static void launch_check(const char *label, const char *root, const char *python, const char *extra)
{
	char *dir = temp_dir("launch"), script[512];
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *argv[20];
	size_t n = 0;

	snprintf(script, sizeof script,
		 "sleep 1; exec %s -c 'import time, sys\n"
		 "def launched_work():\n"
		 "    time.sleep(1.5)\n"
		 "launched_work()\n"
		 "sys.exit(7)'",
		 python);
	char *head[] = {TG_BIN, "-o", dir, "-d", "30", "-r", "50"};
	for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
		argv[n++] = head[i];
	if (extra)
		argv[n++] = (char *)extra;
	argv[n++] = "--";
	if (root) {
		argv[n++] = "chroot";
		argv[n++] = (char *)root;
	}
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n] = NULL;
	int rc = run_capture(argv, &out, &err, 90);
	cr_assert_eq(rc, 7, "%s: the launcher exited %d, not the command's 7: %s", label, rc,
		     buf_cstr(&err));
	const char *started = strstr(buf_cstr(&err), "as process ");
	cr_assert_not_null(started, "%s: %s", label, buf_cstr(&err));
	pid_t pid = (pid_t)atol(started + strlen("as process "));
	cr_assert(stack_holds(dir, pid, "launched_work"),
		  "%s: no stack of %s/%d holds launched_work", label, dir, (int)pid);
	fprintf(stderr, "launcher    %-30s passed\n", label);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

static void host_entry(const char *label, const char *python, const char *extra)
{
	char *dir = temp_dir("scen");
	char truth[PATH_MAX], fixture[PATH_MAX], cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(fixture, sizeof fixture, "%s/fixtures/scenarios.py", cwd);
	snprintf(truth, sizeof truth, "%s/truth.txt", dir);
	char *argv[] = {(char *)python, fixture, truth, NULL};
	run_scenarios(label, argv, truth, extra);
	remove_tree(dir);
	free(dir);
	launch_check(label, NULL, python, extra);
}

static void pyenv_entry(const char *prefix)
{
	char python[PATH_MAX], label[64];

	snprintf(label, sizeof label, "pyenv %s", prefix);
	if (pyenv_python(prefix, python, sizeof python) < 0) {
		fprintf(stderr, "scenarios   %-30s skipped: no pyenv %sx installed\n", label,
			prefix);
		cr_skip_test("pyenv %sx is not installed", prefix);
	}
	host_entry(label, python, NULL);
}

static void system_entry(const char *label, const char *python, const char *extra)
{
	if (access(python, X_OK) != 0) {
		fprintf(stderr, "scenarios   %-30s skipped: %s is not installed\n", label, python);
		cr_skip_test("%s is not installed", python);
	}
	host_entry(label, python, extra);
}

/* Debian's current builds run under chroot, without their debug info (--offsets=builtin:
 * what most servers have). */
static void root_entry(const char *root_name, const char *python)
{
	char label[64];
	struct droot d;

	snprintf(label, sizeof label, "debian %s %s", root_name, python);
	if (droot_find(&d, root_name, python) < 0) {
		fprintf(stderr, "scenarios   %-30s skipped: %s not found (make roots builds it)\n",
			label, d.exe);
		cr_skip_test("%s not found", d.exe);
	}
	droot_stage(&d, "scenarios.py");
	char *argv[] = {"chroot", d.root, d.python, d.fixture, d.truth, NULL};
	run_scenarios(label, argv, d.truth_host, "--offsets=builtin");
	droot_cleanup(&d);
	launch_check(label, d.root, d.python, "--offsets=builtin");
}

TestSuite(scenarios, .timeout = 120);

Test(scenarios, pyenv_2_7)
{
	pyenv_entry("2.7.");
}
Test(scenarios, pyenv_3_6)
{
	pyenv_entry("3.6.");
}
Test(scenarios, pyenv_3_7)
{
	pyenv_entry("3.7.");
}
Test(scenarios, pyenv_3_8)
{
	pyenv_entry("3.8.");
}
Test(scenarios, pyenv_3_9)
{
	pyenv_entry("3.9.");
}
Test(scenarios, pyenv_3_10)
{
	pyenv_entry("3.10.");
}
Test(scenarios, pyenv_3_11)
{
	pyenv_entry("3.11.");
}
Test(scenarios, pyenv_3_12)
{
	pyenv_entry("3.12.");
}
Test(scenarios, pyenv_3_13)
{
	pyenv_entry("3.13.");
}
Test(scenarios, debian_3_11)
{
	system_entry("debian 3.11 (builtin)", "/usr/bin/python3.11", "--offsets=builtin");
}
Test(scenarios, debian_3_13)
{
	root_entry("trixie", "python3.13");
}
Test(scenarios, debian_3_14)
{
	root_entry("unstable", "python3.14");
}
Test(scenarios, debian_3_15)
{
	root_entry("unstable", "python3.15");
}
Test(scenarios, debian_3_15d)
{
	root_entry("unstable", "python3.15d");
}
Test(scenarios, debian_3_13d)
{
	root_entry("trixie", "python3.13d");
}
Test(scenarios, debian_3_14d)
{
	root_entry("unstable", "python3.14d");
}
