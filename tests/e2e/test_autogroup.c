/* tgattach's session's autogroup (common/autogroup.h), end to end: raised to nice -10 when
 * tgattach leads a session of its own (started under setsid), or from a terminal, where a
 * child of its own session records (common/ownsession.h); left alone when it shares one
 * without a terminal (this test's session, whose autogroup must not change), with
 * --no-autogroup, or without CAP_SYS_NICE; meta's sched_autogroup says which.  Where the kernel has
 * autogroups off, every case says "off". */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/e2e/fork_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(autogroup, .timeout = 120);

static const char idle_src[] = "import time\n"
			       "print('READY', flush=True)\n"
			       "keep = []\n"
			       "end = time.time() + 100\n"
			       "while time.time() < end:\n"
			       "    keep.append(bytearray(64))\n"
			       "    time.sleep(0.001)\n";

/* What /proc/self/autogroup says ("/autogroup-N nice K"), or "" */
static void own_autogroup(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/autogroup", "r");

	out[0] = '\0';
	if (f) {
		if (!fgets(out, (int)size, f))
			out[0] = '\0';
		fclose(f);
	}
}

static int autogroups_on(void)
{
	FILE *f = fopen("/proc/sys/kernel/sched_autogroup_enabled", "r");
	int c = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	return c == '1';
}

/* Runs argv, which records pid into dir; returns meta's sched_autogroup in val. */
static void run_and_read(char *const argv[], const char *dir, pid_t pid, char *val, size_t size)
{
	char path[PATH_MAX];
	struct buf out = BUF_INIT, err = BUF_INIT;

	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: exit %d: %s%s", argv[0], rc, buf_cstr(&out), buf_cstr(&err));
	snprintf(path, sizeof path, "%s/%d/meta", dir, (int)pid);
	char *meta = truth_read_text(path);
	cr_assert_not_null(meta, "%s missing", path);
	fork_meta_value(meta, "sched_autogroup", val, size);
	free(meta);
	remove_tree(dir);
	buf_free(&out);
	buf_free(&err);
}

/* Records pid for a second, tgattach's command line after prefix and before extra. */
static void record(const char *const *prefix, const char *extra, pid_t pid, char *val, size_t size)
{
	char pidarg[16];
	char *argv[16];
	size_t n = 0;
	char *dir = temp_dir("autogroup");

	snprintf(pidarg, sizeof pidarg, "%d", (int)pid);
	for (; prefix && *prefix; prefix++)
		argv[n++] = (char *)*prefix;
	char *rest[] = {TG_BIN, "-p", pidarg, "-o", dir, "-q", "-d", "1", NULL};
	for (char **r = rest; *r; r++)
		argv[n++] = *r;
	if (extra)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	run_and_read(argv, dir, pid, val, size);
	free(dir);
}

/* The same, tgattach's command line given to script -qec as one string (and its
 * transcript to /dev/null). */
static void record_in_shell(const char *const *prefix, pid_t pid, char *val, size_t size)
{
	char line[PATH_MAX * 2];
	char *argv[8];
	size_t n = 0;
	char *dir = temp_dir("autogroup-tty");

	snprintf(line, sizeof line, "%s -p %d -o %s -q -d 1", TG_BIN, (int)pid, dir);
	for (; *prefix; prefix++)
		argv[n++] = (char *)*prefix;
	argv[n++] = line;
	argv[n++] = "/dev/null";
	argv[n] = NULL;
	run_and_read(argv, dir, pid, val, size);
	free(dir);
}

Test(autogroup, raised_only_in_a_session_of_its_own)
{
	char py[PATH_MAX], val[64], before[128], after[128];
	struct proc fx;
	int on = autogroups_on();

	if (pyenv_python("3.12.", py, sizeof py) < 0) {
		fprintf(stderr, "autogroup: skipped: pyenv 3.12 not installed\n");
		cr_skip_test("pyenv 3.12 is not installed");
	}
	char *fargv[] = {py, "-c", (char *)idle_src, NULL};
	cr_assert_eq(proc_spawn_ready(&fx, fargv), 0);
	own_autogroup(before, sizeof before);

	const char *setsid[] = {"/usr/bin/setsid", "-w", NULL};
	record(setsid, NULL, fx.pid, val, sizeof val);
	cr_assert_str_eq(val, on ? "raised" : "off");

	record(NULL, NULL, fx.pid, val, sizeof val); /* this test's session */
	cr_assert_str_eq(val, on ? "shared" : "off");
	own_autogroup(after, sizeof after);
	cr_assert_str_eq(after, before, "this session's autogroup changed");

	record(setsid, "--no-autogroup", fx.pid, val, sizeof val);
	cr_assert_str_eq(val, "left");

	/* from a terminal (script(1) gives it one): a child in a session of its own records,
	 * the parent stays in this session, whose autogroup must not change */
	if (access("/usr/bin/script", X_OK) == 0) {
		const char *tty[] = {"/usr/bin/script", "-qec", NULL};
		record_in_shell(tty, fx.pid, val, sizeof val);
		cr_assert_str_eq(val, on ? "raised" : "off");
		own_autogroup(after, sizeof after);
		cr_assert_str_eq(after, before, "this session's autogroup changed");
	} else {
		fprintf(stderr, "autogroup: terminal case skipped: no script(1)\n");
	}
	if (access("/usr/bin/setpriv", X_OK) == 0) {
		const char *nocap[] = {"/usr/bin/setsid", "-w",	       "/usr/bin/setpriv",
				       "--bounding-set",  "-sys_nice", NULL};
		record(nocap, NULL, fx.pid, val, sizeof val);
		cr_assert_str_eq(val, on ? "refused" : "off");
	} else {
		fprintf(stderr, "autogroup: refused case skipped: no setpriv\n");
	}
	cr_assert(proc_all_untraced_running(fx.pid));
	proc_reap(&fx);
}
