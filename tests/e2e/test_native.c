/* --profile c|both (issue 15) on fixtures/native_calls.py, whose threads are parked in
 * Python functions called back from C (sorted's key, json.loads' object_hook, a ctypes
 * callback under libc's qsort) and one compresses with zlib in a loop.  On every
 * interpreter found: pyenv 2.7 and 3.6 - 3.13 (symbols), Debian's stripped python3.11 with
 * its debug file and without any (--offsets=builtin), python3.11d, and the Debian roots'
 * python3.13, 3.14 and 3.15 with their -dbg packages and with /usr/lib/debug hidden.
 *   - `dump --profile both`, every thread paused, and with --no-pause (each thread stopped
 *     alone, its Python frames read again meanwhile): each parked thread's Python frames
 *     around its C call, C frames between them (where symbols name them: builtin_sorted,
 *     the json scanner), no frame of the evaluation loop left unreplaced, and every Python
 *     frame of the Python-only dump, in order;
 *   - the zlib thread is caught inside libz under zlib_worker within ten dumps;
 *   - `dump --profile c`: C frames only;
 *   - `record --profile both`: the merged stacks reach the files, meta counts the unwinds,
 *     `render collapsed` and `render pprof` (decoded by pprof-format) show libz's deflate;
 * and a target that plants a FIFO where its debug file is looked for does not hang it.
 *   - the target is left running, untraced.
 * One line per interpreter: passed, or skipped and why. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/droot_util.h"
#include "tests/e2e/native_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

struct parked {
	const char *thread, *inner, *outer, *named;
};

static const struct parked parked[] = {
    {"sorter", "parked_key", "sort_worker", "builtin_sorted"},
    {"jsoner", "parked_hook", "json_worker", "scanner_call"},
    {"ctyper", "parked_compare", "ctypes_worker", NULL},
};

/* --no-pause when nopause: each thread stopped alone for its native stack. */
static void dump_as(const char *label, pid_t pid, const char *profile, const char *extra,
		    int nopause, struct ndump *d)
{
	char pidstr[16], prof[32];
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	snprintf(prof, sizeof prof, "--profile=%s", profile);
	char *argv[8] = {TG_BIN, "dump", "-p", pidstr, prof};
	size_t n = 5;
	if (nopause)
		argv[n++] = "--no-pause";
	if (extra)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: dump %s exited %d: %s", label, prof, rc, buf_cstr(&err));
	cr_assert_eq(ndump_parse(buf_cstr(&out), d), 0, "%s: dump %s: %s", label, prof,
		     buf_cstr(&out));
	buf_free(&out);
	buf_free(&err);
}

static void dump(const char *label, pid_t pid, const char *profile, const char *extra,
		 struct ndump *d)
{
	dump_as(label, pid, profile, extra, 0, d);
}

static const struct nthread *thread_of(const char *label, const struct ndump *d, const char *name)
{
	const struct nthread *t = ndump_thread(d, name);
	cr_assert_not_null(t, "%s: no thread %s in the dump", label, name);
	return t;
}

/* The zlib thread inside libz below zlib_worker, in one of ten dumps (it is busy). */
static void check_zipper(const char *label, pid_t pid, const char *extra, struct ndump *d)
{
	for (int i = 0; i < 10; i++) {
		dump(label, pid, "both", extra, d);
		const struct nthread *t = thread_of(label, d, "zipper");
		int w = nthread_find(t, 0, "zlib_worker", 0);
		for (int k = 0; w > 0 && k < w; k++)
			if (t->f[k].native && (strncmp(t->f[k].file, "libz.so", 7) == 0 ||
					       strncmp(t->f[k].func, "deflate", 7) == 0))
				return;
	}
	cr_assert_fail("%s: in ten dumps, the zlib thread was never seen in libz", label);
}

/* render pprof, decoded by pprof-format (tests/js/pprof_fold.cjs, when Node.js and the
 * npm packages of make test are there): native frames with no line have line 0, pprof's
 * unknown, not -1 read back as 2^64 - 1. */
static void check_pprof(const char *label, const char *piddir, const char *dir)
{
	char pb[600];
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access("build/npm/node_modules/pprof-format", F_OK) != 0)
		return;
	snprintf(pb, sizeof pb, "%s/profile.pb.gz", dir);
	char *render[] = {TG_BIN, "render", "pprof", (char *)piddir, "-o", pb, "-q", NULL};
	cr_assert_eq(run_capture(render, &out, &err, 60), 0, "%s: render pprof: %s", label,
		     buf_cstr(&err));
	char *fold[] = {"/usr/bin/env",
			"NODE_PATH=build/npm/node_modules",
			"node",
			"tests/js/pprof_fold.cjs",
			pb,
			NULL};
	buf_reset(&out);
	cr_assert_eq(run_capture(fold, &out, &err, 60), 0, "%s: pprof_fold: %s", label,
		     buf_cstr(&err));
	cr_assert_not_null(strstr(buf_cstr(&out), "deflate ("), "%s: pprof has no deflate", label);
	cr_assert_null(strstr(buf_cstr(&out), ":1844674407"), "%s: a line read back as 2^64 - 1",
		       label);
	buf_free(&out);
	buf_free(&err);
}

static void check_record(const char *label, pid_t pid, const char *extra)
{
	char pidstr[16], meta[512], line[256];
	char *dir = temp_dir("native");
	struct buf out = BUF_INIT, err = BUF_INIT;
	long unwinds = -1;
	FILE *f;

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	/* 4 s: the first sample names its frames from the debug files, which takes about half
	 * a second with a -dbg package's 21 MB one, and CI's loaded machine has taken 2 s */
	char *argv[] = {TG_BIN, "-p", pidstr,	   "-o",   dir,		  "-d",
			"4",	"-q", "--profile", "both", (char *)extra, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: record exited %d: %s", label, rc, buf_cstr(&err));
	cr_assert(stack_holds(dir, pid, "parked_key"), "%s: no parked_key in %s", label, dir);
	cr_assert(stack_holds(dir, pid, "zlib_worker"), "%s: no zlib_worker in %s", label, dir);
	snprintf(meta, sizeof meta, "%s/%d/meta", dir, (int)pid);
	f = fopen(meta, "r");
	cr_assert_not_null(f, "%s: no %s", label, meta);
	long samples = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "native_unwinds=", 15) == 0)
			unwinds = atol(line + 15);
		if (strncmp(line, "samples=", 8) == 0)
			samples = atol(line + 8);
	}
	fclose(f);
	/* a call that grew old ends, again and again: each end followed (a walk of Python
	 * frames alone once undid every merged stack that ended an old call, and the thread's
	 * stack stood still from then on: 1 call).  The work is a quarter of the cycle, seen by
	 * about one sample in four: at least 2, and 4 when there were 100 samples (a large
	 * debug file makes the first samples slow, a loaded machine fewer: CI once had 2
	 * samples in a 2 s recording) */
	snprintf(meta, sizeof meta, "%s/%d/ticker.stack", dir, (int)pid);
	f = fopen(meta, "r");
	cr_assert_not_null(f, "%s: no %s", label, meta);
	int works = 0;
	while (fgets(line, sizeof line, f))
		works += strstr(line, ":tick_work\n") != NULL;
	fclose(f);
	cr_assert_geq(works, samples >= 100 ? 4 : 2,
		      "%s: tick_work called %d times in %ld samples (1 when stuck)", label, works,
		      samples);
	cr_assert_gt(unwinds, 0, "%s: meta native_unwinds %ld", label, unwinds);
	/* the exports show the C frames: libz's exported deflate below zlib_worker */
	char piddir[600], folded[600];
	snprintf(piddir, sizeof piddir, "%s/%d", dir, (int)pid);
	snprintf(folded, sizeof folded, "%s/folded.txt", dir);
	char *render[] = {TG_BIN, "render", "collapsed", piddir, "-o", folded, "-q", NULL};
	buf_reset(&out);
	buf_reset(&err);
	cr_assert_eq(run_capture(render, &out, &err, 60), 0, "%s: render collapsed: %s", label,
		     buf_cstr(&err));
	f = fopen(folded, "r");
	cr_assert_not_null(f, "%s: no %s", label, folded);
	int shown = 0;
	char row[8192];
	while (!shown && fgets(row, sizeof row, f)) {
		char *w = strstr(row, "zlib_worker");
		shown = w && strstr(w, ";deflate") != NULL;
	}
	fclose(f);
	cr_assert(shown, "%s: render collapsed shows no deflate below zlib_worker", label);
	check_pprof(label, piddir, dir);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

/* Does the sorter's stack show libc's own source files (its DWARF, from libc6-dbg)? */
static int libc_sources(const struct nthread *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->f[i].native && strncmp(t->f[i].file, "nptl/", 5) == 0)
			return 1;
	return 0;
}

static void check_parked(const char *label, const struct ndump *both, const struct ndump *py,
			 int named, const char *how)
{
	char why[512];

	for (size_t i = 0; i < sizeof parked / sizeof parked[0]; i++) {
		const struct parked *p = &parked[i];
		const struct nthread *t = thread_of(label, both, p->thread);
		int rc = nthread_check_merged(t, p->inner, p->outer, named ? p->named : NULL,
					      thread_of(label, py, p->thread), why, sizeof why);
		cr_assert_eq(rc, 0, "%s%s: thread %s: %s", label, how, p->thread, why);
	}
}

/* named: symbols name the C functions checked between the parked frames; libc: 1 when
 * libc's debug file (libc6-dbg) must name its frames with their sources, -1 when it must
 * not be read (--offsets=builtin), 0 not checked. */
static void native_entry(const char *label, char *const argv[], const char *extra, int named,
			 int libc)
{
	struct proc fx;
	static struct ndump py_, both_; /* large: not on the stack */
	struct ndump *py = &py_, *both = &both_;

	cr_assert_eq(proc_spawn_ready(&fx, argv), 0, "%s: the fixture did not start", label);
	dump(label, fx.pid, "python", extra, py);
	dump(label, fx.pid, "both", extra, both);
	check_parked(label, both, py, named, "");
	/* --no-pause: each thread stopped alone, its Python frames read again meanwhile */
	dump_as(label, fx.pid, "both", extra, 1, both);
	check_parked(label, both, py, named, " (--no-pause)");
	if (libc)
		cr_assert_eq(libc_sources(thread_of(label, both, "sorter")), libc > 0,
			     "%s: libc's frames %s named from libc6-dbg's sources", label,
			     libc > 0 ? "are not" : "are");
	check_zipper(label, fx.pid, extra, both);
	dump(label, fx.pid, "c", extra, both);
	const struct nthread *t = thread_of(label, both, "sorter");
	cr_assert_eq(nthread_find(t, 0, "parked_key", 0), -1, "%s: --profile c shows Python",
		     label);
	cr_assert_gt(t->n, 3, "%s: --profile c: %zu frames", label, t->n);
	check_record(label, fx.pid, extra);
	cr_assert(proc_all_untraced_running(fx.pid), "%s: the target is left traced or stopped",
		  label);
	proc_reap(&fx);
	fprintf(stderr, "native      %-34s passed\n", label);
}

static char fixture_path[] = "fixtures/native_calls.py";

static void pyenv_entry(const char *prefix)
{
	char python[4096], label[64];

	snprintf(label, sizeof label, "pyenv %s", prefix);
	if (pyenv_python(prefix, python, sizeof python) < 0) {
		fprintf(stderr, "native      %-34s skipped: no pyenv %sx installed\n", label,
			prefix);
		cr_skip_test("pyenv %sx is not installed", prefix);
	}
	char *argv[] = {python, fixture_path, NULL};
	native_entry(label, argv, NULL, 1, 0);
}

TestSuite(native, .timeout = 180);

#define PYENV_TEST(id, prefix)                                                                     \
	Test(native, pyenv_##id)                                                                   \
	{                                                                                          \
		pyenv_entry(prefix);                                                               \
	}
PYENV_TEST(2_7, "2.7.")
PYENV_TEST(3_6, "3.6.")
PYENV_TEST(3_7, "3.7.")
PYENV_TEST(3_8, "3.8.")
PYENV_TEST(3_9, "3.9.")
PYENV_TEST(3_10, "3.10.")
PYENV_TEST(3_11, "3.11.")
PYENV_TEST(3_12, "3.12.")
PYENV_TEST(3_13, "3.13.")

static int exists(const char *path)
{
	return access(path, X_OK) == 0;
}

/* Debian 12's own: the stripped static python3.11 (with the debug file from
 * python3.11-dbg when it is installed, and without any), and python3.11d. */
static void debian_host(const char *python, const char *extra, int named, const char *label)
{
	/* libc6-dbg (tools/deps.sh installs it): libc's frames named from its sources */
	int libc = extra ? -1 : access("/usr/share/doc/libc6-dbg", F_OK) == 0;
	if (!exists(python)) {
		fprintf(stderr, "native      %-34s skipped: %s not installed\n", label, python);
		cr_skip_test("%s is not installed", python);
	}
	char *argv[] = {(char *)python, fixture_path, NULL};
	native_entry(label, argv, extra, named, libc);
}

Test(native, debian_3_11_debug_file)
{
	debian_host("/usr/bin/python3.11", NULL, 1, "debian python3.11 (debug file)");
}

Test(native, debian_3_11_no_debug_file)
{
	debian_host("/usr/bin/python3.11", "--offsets=builtin", 0,
		    "debian python3.11 (no debug file)");
}

Test(native, debian_3_11d)
{
	debian_host("/usr/bin/python3.11d", NULL, 1, "debian python3.11d");
}

/* The Debian roots: with their -dbg packages, and with /usr/lib/debug hidden by an empty
 * tmpfs in the target's own mount namespace (what a server without them has). */
static void root_entry(const char *root_name, const char *python, int hidden)
{
	char label[96];
	struct droot d;

	snprintf(label, sizeof label, "debian %s %s (%s)", root_name, python,
		 hidden ? "no debug files" : "-dbg");
	if (droot_find(&d, root_name, python) < 0) {
		fprintf(stderr, "native      %-34s skipped: %s not found (make roots builds it)\n",
			label, d.exe);
		cr_skip_test("%s not found", d.exe);
	}
	droot_stage(&d, "native_calls.py");
	char *args[] = {d.fixture, NULL}, *argv[24];
	droot_argv(&d, hidden, args, argv, sizeof argv / sizeof argv[0]);
	native_entry(label, argv, NULL, !hidden, 0);
	droot_cleanup(&d);
}

/* A target that plants a FIFO where its interpreter's debug file is looked for (by
 * build-id, under its root): opened without blocking and refused, the merge goes on by the
 * entry frames, and nothing waits. */
Test(native, planted_fifo_debug_file)
{
	const char *label = "debian unstable python3.14 (FIFO as debug file)";
	struct droot d;

	if (droot_find(&d, "unstable", "python3.14") < 0) {
		fprintf(stderr, "native      %-34s skipped: %s not found\n", label, d.exe);
		cr_skip_test("%s not found", d.exe);
	}
	droot_stage(&d, "native_calls.py");
	char *argv[] = {"unshare",
			"--mount",
			"--propagation",
			"private",
			"sh",
			"-c",
			"d=\"$0/usr/lib/debug\" && mount -t tmpfs tgattach-fifo \"$d\" && "
			"id=$(readelf -n \"$0$1\" | sed -n 's/.*Build ID: //p') && "
			"mkdir -p \"$d/.build-id/${id%${id#??}}\" && "
			"mkfifo \"$d/.build-id/${id%${id#??}}/${id#??}.debug\" && "
			"exec chroot \"$0\" \"$@\"",
			d.root,
			d.python,
			d.fixture,
			NULL};
	native_entry(label, argv, NULL, 0, 0);
	droot_cleanup(&d);
}

#define ROOT_TESTS(id, root, python)                                                               \
	Test(native, id##_dbg)                                                                     \
	{                                                                                          \
		root_entry(root, python, 0);                                                       \
	}                                                                                          \
	Test(native, id##_hidden)                                                                  \
	{                                                                                          \
		root_entry(root, python, 1);                                                       \
	}
ROOT_TESTS(debian_3_13, "trixie", "python3.13")
ROOT_TESTS(debian_3_14, "unstable", "python3.14")
ROOT_TESTS(debian_3_15, "unstable", "python3.15")
