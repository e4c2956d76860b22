/* The unusual interpreters, continued: sub-interpreters (3.12, 3.13, and their churn), a
 * process in another mount namespace, and what `tgattach info` reports about each kind
 * of build and about a process that is not Python.  Helpers: exotic_util.h. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"
#include "tests/e2e/exotic_util.h"

/* ---- sub-interpreters ---- */

static void subinterp_entry(const char *version)
{
	char label[64], python[PATH_MAX], fixture[PATH_MAX], truth_path[PATH_MAX], ver[32];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(label, sizeof label, "subinterp %sx", version);
	if (pyenv_python(version, python, sizeof python) < 0) {
		char why[64];
		snprintf(why, sizeof why, "no pyenv %sx installed", version);
		ex_skipped(label, why);
		return;
	}
	ex_python_version(python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	ex_fixture_path("subinterp.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {python, fixture, truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(n, 3, "%s: %d threads stay", label, n);
	cr_assert_eq(truth.nthreads, 4, "%s: truth has %d thread states", label, truth.nthreads);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(ex_tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	ex_expect_field(label, buf_cstr(&out), "interpreters", "2");
	ex_expect_field(label, buf_cstr(&out), "threads", "4");
	truth_record_and_check(label, fx.pid, &truth, NULL, ver);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label, "threads of both interpreters");
}

Test(exotic, subinterp_3_12)
{
	subinterp_entry("3.12.");
}
Test(exotic, subinterp_3_13)
{
	subinterp_entry("3.13.");
}

/* Replay a thread's calls (.stack) and returns (.mem) in time order: every call must be at
 * the depth of the frames open, every return must be of the innermost open frame.  At
 * equal times a sample's returns come before its calls, but the returns of a thread that
 * ended carry the time it was last seen, when it may have made calls: so a return is
 * taken first only when it is of the innermost open frame. */
struct event {
	double t;
	int depth; /* -1 for a return */
	char where[512];
};

static int read_events(const char *path, int returns, struct event *ev, int max)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof line, f)) {
		struct event *e = &ev[n];
		int depth = (int)strspn(line, " ");
		char *hash = strchr(line, '#');
		cr_assert_not_null(hash, "%s: bad line %s", path, line);
		e->t = atof(line + depth);
		e->depth = returns ? -1 : depth;
		char *rest = hash + 1;
		rest[strcspn(rest, returns ? "=" : "\n")] = '\0';
		/* FILE:LINE:FUNC -> FILE:FUNC (a return carries the last line seen) */
		char *c1 = strchr(rest, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		cr_assert(c1 && c2, "%s: bad line %s", path, line);
		snprintf(e->where, sizeof e->where, "%.*s%s", (int)(c1 - rest + 1), rest, c2 + 1);
		n++;
	}
	fclose(f);
	return n;
}

static void check_pairing(const char *dir, const char *base)
{
	enum { MAXEV = 8192 };
	char path[PATH_MAX];
	static struct event calls[MAXEV], rets[MAXEV];
	static char open[256][512];
	int nopen = 0;

	snprintf(path, sizeof path, "%s/%s.stack", dir, base);
	int nc = read_events(path, 0, calls, MAXEV);
	snprintf(path, sizeof path, "%s/%s.mem", dir, base);
	int nr = read_events(path, 1, rets, MAXEV);
	for (int i = 0, k = 0; i < nc || k < nr;) {
		int tie = k < nr && i < nc && rets[k].t == calls[i].t;
		if (k < nr && (i >= nc || rets[k].t < calls[i].t ||
			       (tie && nopen > 0 && strcmp(open[nopen - 1], rets[k].where) == 0))) {
			cr_assert(nopen > 0 && strcmp(open[nopen - 1], rets[k].where) == 0,
				  "%s: return of %s at %.6f, innermost open frame %s", base,
				  rets[k].where, rets[k].t, nopen ? open[nopen - 1] : "(none)");
			nopen--;
			k++;
		} else {
			cr_assert_eq(calls[i].depth, nopen,
				     "%s: call of %s at %.6f at depth %d with %d frames open", base,
				     calls[i].where, calls[i].t, calls[i].depth, nopen);
			cr_assert(nopen < 256);
			snprintf(open[nopen++], sizeof open[0], "%s", calls[i].where);
			i++;
		}
	}
}

/* Thread states of a sub-interpreter that come and go (3.13 makes one per run_string())
 * on a thread that also has one in the main interpreter: each must have its own files,
 * whose calls and returns pair up. */
Test(exotic, subinterp_churn)
{
	const char *label = "subinterp churn 3.13";
	char python[PATH_MAX], fixture[PATH_MAX], pidstr[16], sub[PATH_MAX];
	struct proc fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	int nfiles = 0, churner = 0;

	if (pyenv_python("3.13.", python, sizeof python) < 0 &&
	    ex_skipped(label, "no pyenv 3.13.x installed"))
		return;
	ex_fixture_path("subinterp.py", fixture, sizeof fixture);
	char *fargv[] = {python, fixture, "--churn", NULL};
	cr_assert_eq(proc_spawn(&fx, fargv), 0, "%s: %s", label, strerror(errno));
	cr_assert_eq(proc_wait_line(&fx, "READY", NULL, 0, 30000), 0, "%s: fixture did not start",
		     label);
	char *dir = temp_dir("exotic");
	snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "1.5", "-r", "100", "-q", NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: record exited %d: %.400s", label, rc, buf_cstr(&err));
	cr_assert(proc_all_untraced_running(fx.pid), "%s: left traced or stopped", label);
	snprintf(sub, sizeof sub, "%s/%d", dir, (int)fx.pid);
	DIR *d = opendir(sub);
	cr_assert_not_null(d, "%s: %s missing", label, sub);
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 6, ".stack") != 0)
			continue;
		char base[256];
		snprintf(base, sizeof base, "%.*s", (int)(len - 6), de->d_name);
		check_pairing(sub, base);
		nfiles++;
		churner += strcmp(base, "churner") == 0;
	}
	closedir(d);
	cr_assert(churner, "%s: no churner.stack", label);
	cr_assert(nfiles >= 3, "%s: only %d .stack files", label, nfiles);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label, "thread states coming and going");
}

/* ---- another mount namespace ---- */

/* Python started from a bind mount that exists only in its own mount namespace: the paths
 * in /proc/PID/maps resolve only through /proc/PID/root. */
Test(exotic, mount_namespace)
{
	const char *label = "pyenv 3.12 in mount ns";
	const char *script = "mount -t tmpfs tgattach-test /opt && mkdir /opt/tgpy && "
			     "mount --bind \"$1\" /opt/tgpy && "
			     "LD_LIBRARY_PATH=/opt/tgpy/lib exec /opt/tgpy/bin/python3.12 \"$2\" "
			     "\"$3\"";
	const char *lib = "/opt/tgpy/lib/libpython3.12.so.1.0";
	char prefix[PATH_MAX], fixture[PATH_MAX], truth_path[PATH_MAX], want[PATH_MAX + 64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (ex_pyenv_prefix("3.12.", prefix, sizeof prefix) < 0 &&
	    ex_skipped(label, "no pyenv 3.12.x installed"))
		return;
	if (geteuid() != 0 && ex_skipped(label, "unshare --mount needs root"))
		return;
	if (access("/opt", F_OK) != 0 && ex_skipped(label, "no /opt to mount over"))
		return;
	if (access(lib, F_OK) == 0 && ex_skipped(label, "/opt/tgpy exists on this host"))
		return;
	char *probe[] = {"/usr/bin/unshare", "--mount", "/bin/true", NULL};
	if (run_capture(probe, NULL, &err, 10) != 0 &&
	    ex_skipped(label, "unshare --mount does not work here"))
		return;
	char *dir = temp_dir("exotic");
	ex_fixture_path("threads.py", fixture, sizeof fixture);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *argv[] = {
	    "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh",  "-c",
	    (char *)script,	"sh",	   prefix,	    fixture,   truth_path, NULL};
	int n = truth_start_fixture(label, argv, truth_path, &fx, &truth);
	cr_assert_eq(truth.nthreads, n, "%s: truth has %d threads", label, truth.nthreads);
	cr_assert(ex_map_base(fx.pid, lib), "%s: %s is not mapped in the target", label, lib);
	cr_assert_neq(access(lib, F_OK), 0, "%s: %s is visible on the host", label, lib);

	truth_dump_and_compare(label, fx.pid, NULL, &truth);
	cr_assert_eq(ex_tg_info(fx.pid, NULL, &out, &err), 0, "%s: info: %s", label,
		     buf_cstr(&err));
	ex_expect_field(label, buf_cstr(&out), "interpreter", lib);
	snprintf(want, sizeof want, "/proc/%d/root%s", (int)fx.pid, lib);
	ex_expect_field(label, buf_cstr(&out), "opened as", want);
	snprintf(want, sizeof want, "/proc/%d/root%s", (int)fx.pid, lib);
	ex_expect_dwarf_from(label, buf_cstr(&out), want);
	truth_record_and_check(label, fx.pid, &truth, NULL, NULL);
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	ex_passed(label, "read through /proc/PID/root");
}

/* ---- info ---- */

enum info_offsets { INFO_DWARF_IMAGE, INFO_DWARF_BUILD_ID, INFO_BUILTIN };

/* The offsets line: DWARF from the interpreter file itself, or from the detached debug
 * file named by its build-id (both through /proc/PID/root), or the built-in table. */
static void expect_offsets(const char *label, const char *text, pid_t pid, enum info_offsets kind)
{
	char image[PATH_MAX], id[64], want[2 * PATH_MAX];

	ex_info_field(text, "interpreter", image, sizeof image);
	ex_info_field(text, "build-id", id, sizeof id);
	if (kind == INFO_BUILTIN) {
		ex_expect_field_prefix(label, text, "offsets", "builtin (built-in table from ");
		return;
	}
	if (kind == INFO_DWARF_IMAGE)
		snprintf(want, sizeof want, "/proc/%d/root%s", (int)pid, image);
	else
		snprintf(want, sizeof want, "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug",
			 (int)pid, id, id + 2);
	ex_expect_dwarf_from(label, text, want);
}

/* Every field info prints, for threads.py under python: path, exact version, build,
 * offsets source, symbol addresses (nm's plus the load bias), threads with their names. */
static void info_entry(const char *label, const char *python, const char *extra, const char *build,
		       enum info_offsets offsets)
{
	char ver[32], val[PATH_MAX + 64], want[PATH_MAX + 64];
	struct proc fx;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access(python, X_OK) != 0) {
		snprintf(want, sizeof want, "%s is not installed", python);
		ex_skipped(label, want);
		return;
	}
	ex_python_version(python, ver, sizeof ver);
	char *dir = temp_dir("exotic");
	ex_start_threads(label, python, dir, &fx, &truth);
	int rc = ex_tg_info(fx.pid, extra, &out, &err);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", label, rc, buf_cstr(&err));
	const char *text = buf_cstr(&out);
	snprintf(want, sizeof want, "%d", (int)fx.pid);
	ex_expect_field(label, text, "pid", want);
	ex_expect_field(label, text, "version", ver);
	ex_expect_field(label, text, "build", build);
	expect_offsets(label, text, fx.pid, offsets);
	ex_info_field(text, "interpreter", val, sizeof val);
	int shared = strncmp(build, "shared", 6) == 0;
	uint64_t bias = shared ? ex_map_base(fx.pid, val) : 0;
	cr_assert(!shared || bias, "%s: %s not mapped", label, val);
	if (!shared) { /* Debian's are not PIE */
		cr_assert_str_eq(val, python, "%s: interpreter", label);
		ex_expect_field(label, text, "load bias", "0x0");
	}
	ex_expect_symbol(label, text, val, bias, "_PyRuntime");
	ex_expect_symbol(label, text, val, bias, "PyCode_Type");
	ex_expect_symbol(label, text, val, bias, "Py_Version");
	snprintf(want, sizeof want, "%d", truth.nthreads);
	ex_expect_field(label, text, "threads", want);
	for (int i = 0; i < truth.nthreads; i++) {
		snprintf(want, sizeof want, "TID %-8ld", truth.threads[i].native);
		const char *line = strstr(text, want);
		cr_assert_not_null(line, "%s: info lists no %s", label, want);
		const char *name = strstr(line, truth.threads[i].name);
		cr_assert(name && name < strchr(line, '\n'), "%s: %s is not named %s", label, want,
			  truth.threads[i].name);
	}
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	snprintf(want, sizeof want, "info: %s, %s", ver, build);
	ex_passed(label, want);
}

Test(exotic, info_pyenv_shared)
{
	char python[PATH_MAX];

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    ex_skipped("info pyenv 3.12", "no pyenv 3.12.x installed"))
		return;
	info_entry("info pyenv 3.12", python, NULL, "shared libpython", INFO_DWARF_IMAGE);
}

Test(exotic, info_debian_static)
{
	info_entry("info debian 3.11", DEBIAN_PY, NULL, "static executable", INFO_DWARF_BUILD_ID);
}

Test(exotic, info_debian_builtin)
{
	info_entry("info debian 3.11 builtin", DEBIAN_PY, "--offsets=builtin", "static executable",
		   INFO_BUILTIN);
}

Test(exotic, info_debian_debug)
{
	info_entry("info debian 3.11d", DEBIAN_PYD, NULL, "static executable, debug (Py_DEBUG)",
		   INFO_DWARF_IMAGE);
}

/* The exact version of every installed pyenv build, 2.7 to 3.10 included (no Py_Version
 * there: read from the target's sys.version). */
Test(exotic, info_exact_versions)
{
	static const char *const versions[] = {"2.7.",	"3.6.",	 "3.7.",  "3.8.", "3.9.",
					       "3.10.", "3.11.", "3.12.", "3.13."};
	const char *code = "import sys, time\n"
			   "sys.stdout.write('V %d.%d.%d\\n' % sys.version_info[:3])\n"
			   "sys.stdout.flush()\n"
			   "time.sleep(60)\n";
	char python[PATH_MAX], list[512] = "";
	struct buf out = BUF_INIT, err = BUF_INIT;

	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		struct proc fx;
		if (pyenv_python(versions[i], python, sizeof python) < 0)
			continue;
		char *argv[] = {python, "-c", (char *)code, NULL};
		char line[64];
		cr_assert_eq(proc_spawn(&fx, argv), 0, "%s: %s", python, strerror(errno));
		cr_assert_eq(proc_wait_line(&fx, "V ", line, sizeof line, 30000), 0,
			     "%s did not start", python);
		cr_assert_eq(ex_tg_info(fx.pid, NULL, &out, &err), 0, "info on %s: %s", python,
			     buf_cstr(&err));
		ex_expect_field(python, buf_cstr(&out), "version", line + 2);
		proc_reap(&fx);
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? " " : "",
			 line + 2);
	}
	if (!*list && ex_skipped("info exact versions", "no pyenv build installed"))
		return;
	buf_free(&out);
	buf_free(&err);
	ex_passed("info exact versions", list);
}

/* A process that is not Python: exit 5, naming what was looked for and where. */
Test(exotic, info_not_python)
{
	struct proc fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *argv[] = {"/bin/sh", "-c", "echo READY; exec sleep 60", NULL};

	cr_assert_eq(proc_spawn(&fx, argv), 0);
	cr_assert_eq(proc_wait_line(&fx, "READY", NULL, 0, 10000), 0);
	usleep(100000); /* let sh exec sleep */
	int rc = ex_tg_info(fx.pid, NULL, &out, &err);
	cr_assert_eq(rc, 5, "info on sleep exited %d: %s", rc, buf_cstr(&err));
	const char *msg = buf_cstr(&err);
	cr_assert(strstr(msg, "is not Python") && strstr(msg, "libpython") &&
		      strstr(msg, "Py_Initialize") && strstr(msg, "sleep"),
		  "info on sleep says: %s", msg);
	cr_assert_eq(strchr(msg, '\n'), msg + strlen(msg) - 1, "not one line: %s", msg);
	cr_assert_eq(buf_cstr(&out)[0], '\0', "info printed on stdout: %s", buf_cstr(&out));
	proc_reap(&fx);
	buf_free(&out);
	buf_free(&err);
}
