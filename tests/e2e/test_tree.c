/* Whole process trees (issue 13): the descendants that exist before the attach are
 * recorded too (Debian's gunicorn master with 3 sync workers, a multiprocessing.Pool(4)),
 * a refused second attach leaves the first recording untouched, and SIGKILL of tgattach
 * while it seizes a tree leaves every process untraced and running. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

#define GUNICORN "/usr/bin/gunicorn"
#define PY311 "/usr/bin/python3.11"

static size_t wait_children(pid_t pid, size_t want, pid_t *out, size_t max)
{
	size_t n = 0;

	for (long until = proc_now_ms() + 15000; proc_now_ms() < until; usleep(50000))
		if ((n = procstatus_children(pid, out, max)) >= want)
			break;
	return n;
}

/* meta's value of key into out; 0 when found. */
static int meta_value(const char *dir, pid_t pid, const char *key, char *out, size_t size)
{
	char path[PATH_MAX], want[64];

	snprintf(path, sizeof path, "%s/%d/meta", dir, (int)pid);
	snprintf(want, sizeof want, "\n%s=", key);
	char *text = truth_read_text(path);
	const char *hit = text ? strstr(text, want) : NULL;
	if (hit) {
		hit += strlen(want);
		snprintf(out, size, "%.*s", (int)strcspn(hit, "\n"), hit);
	}
	free(text);
	return hit ? 0 : -1;
}

/* OUTDIR/PID exists, has samples, names its parent (when parent != 0) and a .stack file. */
static void check_recorded(const char *dir, pid_t pid, pid_t parent)
{
	char v[64], path[PATH_MAX];

	cr_assert_eq(meta_value(dir, pid, "samples", v, sizeof v), 0, "%d: no samples in meta",
		     (int)pid);
	cr_expect(atol(v) >= 20, "%d: only %s samples", (int)pid, v);
	if (parent) {
		cr_assert_eq(meta_value(dir, pid, "parent", v, sizeof v), 0, "%d: no parent",
			     (int)pid);
		cr_expect_eq(atol(v), parent, "%d: parent=%s, want %d", (int)pid, v, (int)parent);
	}
	snprintf(path, sizeof path, "%s/%d", dir, (int)pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s missing", path);
	int stacks = 0;
	for (struct dirent *de; (de = readdir(d));)
		stacks += strstr(de->d_name, ".stack") != NULL;
	closedir(d);
	cr_expect(stacks > 0, "%s has no .stack file", path);
}

/* The summary's count of samples for pid ("N samples of process PID" for the root, "PID (N)"
 * for a child) is the one its meta holds. */
static void check_summary_count(const char *summary, const char *dir, pid_t pid, int root)
{
	char want[64], v[64];
	const char *hit;
	long said = -1;

	cr_assert_eq(meta_value(dir, pid, "samples", v, sizeof v), 0, "%d: no samples in meta",
		     (int)pid);
	if (root) {
		snprintf(want, sizeof want, " of process %d", (int)pid);
		hit = strstr(summary, want);
		if (hit) { /* "N sample(s) of process PID": back over the word and the space */
			const char *num = hit;
			while (num > summary && num[-1] >= 'a' && num[-1] <= 'z')
				num--;
			if (num > summary && num[-1] == ' ')
				num--;
			while (num > summary && num[-1] >= '0' && num[-1] <= '9')
				num--;
			said = atol(num);
		}
	} else {
		snprintf(want, sizeof want, " %d (", (int)pid);
		hit = strstr(summary, want);
		if (hit)
			said = atol(hit + strlen(want));
	}
	cr_expect(hit && said == atol(v), "%d: the summary says %ld samples, meta %s: %s", (int)pid,
		  said, v, summary);
}

/* Record the tree of root for 1.5 s and check every process's directory; returns the
 * recording's OUTDIR (the caller removes and frees it). */
static char *record_tree(pid_t root, const pid_t *kids, const pid_t *parents, size_t nkids)
{
	char *dir = temp_dir("tree"), pidstr[16];
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(pidstr, sizeof pidstr, "%d", (int)root);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "1.5", "-r", "50", NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "record exited %d: %s", rc, buf_cstr(&err));
	char want[64];
	const char *es = nkids == 1 ? "" : "es";
	snprintf(want, sizeof want, "recording %d and %zu existing child process%s (", (int)root,
		 nkids, es);
	cr_expect(strstr(buf_cstr(&err), want), "no start line '%s': %s", want, buf_cstr(&err));
	snprintf(want, sizeof want, "%zu child process%s:", nkids, es);
	cr_expect(strstr(buf_cstr(&err), want), "summary lacks '%s': %s", want, buf_cstr(&err));
	check_recorded(dir, root, 0);
	const char *summary = strstr(buf_cstr(&err), "tgattach: ");
	cr_assert_not_null(summary, "no summary: %s", buf_cstr(&err));
	check_summary_count(summary, dir, root, 1);
	for (size_t i = 0; i < nkids; i++) {
		check_recorded(dir, kids[i], parents ? parents[i] : root);
		check_summary_count(summary, dir, kids[i], 0);
		cr_expect(proc_all_untraced_running(kids[i]), "%d left traced", (int)kids[i]);
	}
	cr_expect(proc_all_untraced_running(root), "%d left traced", (int)root);
	buf_free(&out);
	buf_free(&err);
	return dir;
}

static void drop_dir(char *dir)
{
	remove_tree(dir);
	free(dir);
}

/* Run `tgattach render ARGS...`; its exit status, stdout and stderr. */
static int render(struct buf *out, struct buf *err, char *const args[])
{
	char *argv[16] = {TG_BIN, "render"};
	size_t n = 2;

	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	buf_reset(out);
	buf_reset(err);
	return run_capture(argv, out, err, 120);
}

/* Every renderer on the tree (OUTDIR, and OUTDIR/ROOT --children): one report, stack
 * prefix, profile or graph per process, each naming its process. */
static void check_renderers(const char *dir, pid_t root, const pid_t *kids, size_t nkids)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	char rootdir[PATH_MAX], file[PATH_MAX], graphs[PATH_MAX], want[64];
	pid_t all[17] = {root};

	for (size_t i = 0; i < nkids && i < 16; i++)
		all[i + 1] = kids[i];
	snprintf(rootdir, sizeof rootdir, "%s/%d", dir, (int)root);
	snprintf(file, sizeof file, "%s/out.json", dir);
	snprintf(graphs, sizeof graphs, "%s/graphs", dir);
	char *top[] = {"top", (char *)dir, NULL};
	char *top_children[] = {"top", rootdir, "--children", NULL};
	char *collapsed[] = {"collapsed", (char *)dir, NULL};
	char *speedscope[] = {"speedscope", rootdir, "--children", "-o", file, NULL};
	char *alloc[] = {"alloc", (char *)dir, "-o", graphs, NULL};

	for (int k = 0; k < 2; k++) {
		cr_assert_eq(render(&out, &err, k ? top_children : top), 0, "top: %s",
			     buf_cstr(&err));
		for (size_t i = 0; i <= nkids; i++) {
			snprintf(want, sizeof want, "Memory by function, PID %d:", (int)all[i]);
			cr_expect(strstr(buf_cstr(&out), want), "top lacks '%s'", want);
		}
	}
	cr_assert_eq(render(&out, &err, collapsed), 0, "collapsed: %s", buf_cstr(&err));
	for (size_t i = 0; i <= nkids; i++) {
		snprintf(want, sizeof want, "\nPID %d: ", (int)all[i]);
		cr_expect(strstr(buf_cstr(&out), want) ||
			      strncmp(buf_cstr(&out), want + 1, strlen(want + 1)) == 0,
			  "collapsed has no stack of process %d", (int)all[i]);
	}
	cr_assert_eq(render(&out, &err, speedscope), 0, "speedscope: %s", buf_cstr(&err));
	char *json = truth_read_text(file);
	cr_assert_not_null(json);
	for (size_t i = 0; i <= nkids; i++) {
		snprintf(want, sizeof want, "\"name\":\"PID %d: ", (int)all[i]);
		cr_expect(strstr(json, want), "speedscope has no profile of process %d",
			  (int)all[i]);
	}
	free(json);
	cr_assert_eq(render(&out, &err, alloc), 0, "alloc: %s", buf_cstr(&err));
	for (size_t i = 0; i <= nkids; i++) {
		snprintf(file, sizeof file, "%s/%d/alloc.svg", graphs, (int)all[i]);
		cr_expect_eq(access(file, R_OK), 0, "%s missing", file);
	}
	buf_free(&out);
	buf_free(&err);
}

/* A multiprocessing.Pool(4) (fork) of Debian's python3.11, created before any attach. */
static void start_pool(struct proc *p)
{
	char *argv[] = {PY311, "-c",
			"import multiprocessing as mp, time\n"
			"pool = mp.get_context('fork').Pool(4)\n"
			"print('READY', flush=True)\n"
			"time.sleep(120)\n",
			NULL};

	cr_assert_eq(proc_spawn_ready(p, argv), 0);
}

/* Debian's python3.11 forking a child before it says READY; with grandchild, that child
 * forks one of its own. */
static void start_forker(struct proc *p, int grandchild)
{
	char *argv[] = {PY311, "-c",
			grandchild ? "import os, time\n"
				     "if os.fork() == 0:\n"
				     "    os.fork()\n"
				     "    time.sleep(120)\n"
				     "    os._exit(0)\n"
				     "time.sleep(1)\n"
				     "print('READY', flush=True)\n"
				     "time.sleep(120)\n"
				   : "import os, time\n"
				     "if os.fork() == 0:\n"
				     "    time.sleep(120)\n"
				     "    os._exit(0)\n"
				     "print('READY', flush=True)\n"
				     "time.sleep(120)\n",
			NULL};

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	cr_assert_eq(proc_spawn_ready(p, argv), 0);
}

TestSuite(tree, .timeout = 120);

Test(tree, gunicorn_master_with_existing_workers)
{
	char app[PATH_MAX];
	struct proc g;
	pid_t kids[16];

	if (access(GUNICORN, X_OK) != 0)
		cr_skip_test(GUNICORN " is not installed");
	proc_src_path(__FILE__, "../../fixtures/realserver", app, sizeof app);
	char *argv[] = {GUNICORN,      "--chdir",	app, "-w", "3", "-b",
			"127.0.0.1:0", "flask_app:app", NULL};
	cr_assert_eq(proc_spawn(&g, argv), 0);
	size_t n = wait_children(g.pid, 3, kids, 16);
	cr_assert_eq(n, 3, "gunicorn has %zu workers", n);
	usleep(300000); /* the workers import the app */
	drop_dir(record_tree(g.pid, kids, NULL, n));
	proc_reap(&g);
}

Test(tree, multiprocessing_pool_created_before_the_attach)
{
	struct proc p;
	pid_t kids[16];

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	start_pool(&p);
	size_t n = wait_children(p.pid, 4, kids, 16);
	cr_assert_eq(n, 4, "the pool has %zu workers", n);
	pid_t root = p.pid;
	char *dir = record_tree(root, kids, NULL, n);
	proc_reap(&p);
	check_renderers(dir, root, kids, n);
	drop_dir(dir);
}

/* A second tgattach on a process being recorded is refused before it writes anything:
 * the first recording has one header in process.alloc and none of the second's options
 * in meta. */
Test(tree, refused_second_attach_writes_nothing)
{
	char fixture[PATH_MAX], cwd[PATH_MAX], pidstr[16], path[PATH_MAX];
	char *dir = temp_dir("second"), *tdir = temp_dir("truth");
	struct proc fx, first;
	struct truth_view truth;
	struct buf out = BUF_INIT, err = BUF_INIT;

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(fixture, sizeof fixture, "%s/fixtures/threads.py", cwd);
	snprintf(path, sizeof path, "%s/truth.txt", tdir);
	char *fargv[] = {PY311, fixture, path, NULL};
	truth_start_fixture("second attach", fargv, path, &fx, &truth);
	snprintf(pidstr, sizeof pidstr, "%d", (int)fx.pid);
	char *a1[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "3", "-q", NULL};
	cr_assert_eq(proc_spawn(&first, a1), 0);
	usleep(1500000);
	char *a2[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "1", "-r", "33", NULL};
	int rc = run_capture(a2, &out, &err, 30);
	cr_expect_eq(rc, 8, "second attach exited %d: %s", rc, buf_cstr(&err));
	cr_expect(strstr(buf_cstr(&err), "already traced"), "%s", buf_cstr(&err));
	int status;
	cr_assert_eq(proc_wait_exit(&first, 30000, &status), 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "first run: status %d", status);
	snprintf(path, sizeof path, "%s/%d/process.alloc", dir, (int)fx.pid);
	char *alloc = truth_read_text(path);
	cr_assert_not_null(alloc);
	int headers = 0;
	for (const char *p = alloc; (p = strstr(p, "# tgattach process.alloc")); p++)
		headers++;
	cr_expect_eq(headers, 1, "process.alloc has %d headers", headers);
	free(alloc);
	snprintf(path, sizeof path, "%s/%d/meta", dir, (int)fx.pid);
	char *meta = truth_read_text(path);
	cr_assert_not_null(meta);
	cr_expect(!strstr(meta, "-r 33"), "the second run wrote to meta:\n%s", meta);
	free(meta);
	proc_reap(&fx);
	remove_tree(dir);
	remove_tree(tdir);
	free(dir);
	free(tdir);
	buf_free(&out);
	buf_free(&err);
}

/* SIGKILL of tgattach at moments spread over the seizing of a tree (a pool of 4): every
 * process runs on, untraced. */
Test(tree, sigkill_while_seizing_a_tree)
{
	struct proc p;
	pid_t kids[16];
	char pidstr[16];
	char *dir = temp_dir("kill");

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	start_pool(&p);
	size_t n = wait_children(p.pid, 4, kids, 16);
	cr_assert_eq(n, 4);
	snprintf(pidstr, sizeof pidstr, "%d", (int)p.pid);
	for (int round = 0; round < 12; round++) {
		struct proc tg;
		char *a[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "5", "-q", NULL};
		cr_assert_eq(proc_spawn(&tg, a), 0);
		usleep((useconds_t)(round * 15000)); /* 0 to 165 ms: resolve, seize, adopt */
		kill(tg.pid, SIGKILL);
		int st;
		proc_wait_exit(&tg, 5000, &st);
		proc_reap(&tg);
		usleep(20000);
		cr_expect(proc_all_untraced_running(p.pid), "round %d: the parent is traced",
			  round);
		for (size_t i = 0; i < n; i++)
			cr_expect(proc_all_untraced_running(kids[i]),
				  "round %d: worker %d is traced or stopped", round, (int)kids[i]);
	}
	proc_reap(&p);
	remove_tree(dir);
	free(dir);
}

/* The launcher: `tgattach -- sh -c 'sleep 1; exec python ...'` starts the shell traced,
 * follows it through its exec into Python (py-spy's delayed launch), records it, ends with
 * it and passes its exit status on. */
Test(tree, launcher_follows_a_shell_into_python_and_passes_its_status)
{
	char *dir = temp_dir("launch");
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	char *argv[] = {TG_BIN,
			"-o",
			dir,
			"-d",
			"20",
			"-r",
			"50",
			"--",
			"sh",
			"-c",
			"sleep 1; exec " PY311 " -c '\n"
			"import time, sys\n"
			"def launched_work():\n"
			"    time.sleep(1.5)\n"
			"launched_work()\n"
			"sys.exit(7)'",
			NULL};
	long t0 = proc_now_ms();
	int rc = run_capture(argv, &out, &err, 60);
	cr_expect_eq(rc, 7, "the launcher exited %d, not the command's 7: %s", rc, buf_cstr(&err));
	cr_expect(proc_now_ms() - t0 < 15000, "it did not end with its command");
	const char *started = strstr(buf_cstr(&err), "as process ");
	cr_assert_not_null(started, "%s", buf_cstr(&err));
	pid_t pid = (pid_t)atol(started + strlen("as process "));
	check_recorded(dir, pid, 0);
	cr_expect(stack_holds(dir, pid, "launched_work"), "no stack of %s/%d holds launched_work",
		  dir, (int)pid);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

Test(tree, launcher_status_of_a_signal_and_of_a_command_not_found)
{
	char *dir = temp_dir("launch2");
	struct buf out = BUF_INIT, err = BUF_INIT;

	char *killed[] = {TG_BIN, "-o", dir, "-q", "--", "sh", "-c", "kill -TERM $$", NULL};
	cr_expect_eq(run_capture(killed, &out, &err, 30), 128 + 15, "%s", buf_cstr(&err));
	buf_reset(&err);
	char *missing[] = {TG_BIN, "-o", dir, "--", "/nonexistent/command", NULL};
	cr_expect_eq(run_capture(missing, &out, &err, 30), 127, "%s", buf_cstr(&err));
	cr_expect(strstr(buf_cstr(&err), "cannot run /nonexistent/command"), "%s", buf_cstr(&err));
	char *both[] = {TG_BIN, "-p", "1", "--", "true", NULL};
	cr_expect_eq(run_capture(both, &out, &err, 30), 2);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

/* -p on a shell that is not Python, with a Python child, that execs Python later: the
 * child and the exec'd shell are both recorded; the shell itself only followed. */
Test(tree, shell_above_python_is_followed_into_its_exec)
{
	char *dir = temp_dir("shell"), pidstr[16];
	struct buf out = BUF_INIT, err = BUF_INIT;
	struct proc sh;
	pid_t kids[8];

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	char *argv[] = {"/bin/sh", "-c",
			PY311 " -c 'import time; time.sleep(5)' & sleep 1.5; exec " PY311
			      " -c 'import time; time.sleep(2)'",
			NULL};
	cr_assert_eq(proc_spawn(&sh, argv), 0);
	cr_assert_eq(wait_children(sh.pid, 2, kids, 8), 2);
	usleep(200000);
	snprintf(pidstr, sizeof pidstr, "%d", (int)sh.pid);
	char *rec[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "10", "-r", "50", NULL};
	int rc = run_capture(rec, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s", buf_cstr(&err));
	cr_expect(strstr(buf_cstr(&err), "is not Python: followed, not recorded"), "%s",
		  buf_cstr(&err));
	char v[32];
	cr_expect_eq(meta_value(dir, sh.pid, "samples", v, sizeof v), 0,
		     "the shell's exec into Python was not recorded: %s", buf_cstr(&err));
	size_t python_kids = 0;
	for (size_t i = 0; i < 2; i++)
		python_kids += meta_value(dir, kids[i], "samples", v, sizeof v) == 0;
	cr_expect_eq(python_kids, 1, "the Python child was not recorded: %s", buf_cstr(&err));
	proc_reap(&sh);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

/* A child and its own child, forked before the attach: both recorded, each naming its own
 * parent; the summary says "2 child processes" and each count is its meta's. */
Test(tree, a_grandchild_existing_before_the_attach)
{
	struct proc p;
	pid_t kids[4], parents[2], grand[4];

	start_forker(&p, 1);
	cr_assert_eq(wait_children(p.pid, 1, kids, 4), 1);
	cr_assert_eq(wait_children(kids[0], 1, grand, 4), 1);
	kids[1] = grand[0];
	parents[0] = p.pid;
	parents[1] = kids[0];
	char *dir = record_tree(p.pid, kids, parents, 2);
	proc_reap(&p);
	kill(grand[0], SIGKILL);
	kill(kids[0], SIGKILL);
	drop_dir(dir);
}

/* One existing child: the start line and the summary say "1 existing child process",
 * "1 child process:". */
Test(tree, one_existing_child_in_the_singular)
{
	struct proc p;
	pid_t kids[4];

	start_forker(&p, 0);
	cr_assert_eq(wait_children(p.pid, 1, kids, 4), 1);
	char *dir = record_tree(p.pid, kids, NULL, 1);
	proc_reap(&p);
	kill(kids[0], SIGKILL);
	drop_dir(dir);
}

/* --no-follow-forks leaves the existing children alone too: no directory, not traced, and
 * the start line says no child is recorded. */
Test(tree, no_follow_forks_leaves_existing_children)
{
	struct proc p;
	pid_t kids[16];
	char pidstr[16], path[PATH_MAX];
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	start_pool(&p);
	size_t n = wait_children(p.pid, 4, kids, 16);
	cr_assert_eq(n, 4, "the pool has %zu workers", n);
	char *dir = temp_dir("tree");
	snprintf(pidstr, sizeof pidstr, "%d", (int)p.pid);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", dir, "-d", "1", "-r", "50", "--no-follow-forks",
			NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "record exited %d: %s", rc, buf_cstr(&err));
	cr_expect_null(strstr(buf_cstr(&err), "existing child processes ("), "%s", buf_cstr(&err));
	check_recorded(dir, p.pid, 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%d", dir, (int)kids[i]);
		cr_expect_neq(access(path, F_OK), 0, "%s was recorded", path);
		cr_expect(proc_all_untraced_running(kids[i]), "%d left traced", (int)kids[i]);
	}
	proc_reap(&p);
	buf_free(&out);
	buf_free(&err);
	drop_dir(dir);
}

/* The processes of a tree take turns for bursts (one at a time holds the loop): the change
 * made between two of a child's bursts is stood for by its bursts, weighted by the time
 * since its last one, not charged at its next reading as when bursts come back to back.
 * Two busy children (the parent idle) alternate: their bursts weigh about 2 each (1.0
 * when they were chained across the other's turn), and they get about as many (the second
 * got its turns on the stack samples' ticks, which have no burst: 90 against 660 in 10 s
 * on a gunicorn master and two workers). */
Test(tree, busy_children_take_turns_and_weigh_their_bursts)
{
	char *argv[] = {PY311, "-c",
			"import os, time\n"
			"def churn():\n"
			"    end = time.time() + 120\n"
			"    while time.time() < end:\n"
			"        x = [str(i) for i in range(2000)]\n"
			"        del x\n"
			"    os._exit(0)\n"
			"for _ in range(2):\n"
			"    if os.fork() == 0:\n"
			"        churn()\n"
			"print('READY', flush=True)\n"
			"time.sleep(120)\n",
			NULL};
	struct proc p;
	pid_t kids[16];
	char v[64];

	if (access(PY311, X_OK) != 0)
		cr_skip_test(PY311 " is not installed");
	cr_assert_eq(proc_spawn_ready(&p, argv), 0);
	size_t n = wait_children(p.pid, 2, kids, 16);
	cr_assert_eq(n, 2, "%zu children", n);
	char *dir = record_tree(p.pid, kids, NULL, n);
	double bursts[2];
	for (size_t i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		cr_assert_eq(meta_value(dir, kids[i], "mem_burst_weight", v, sizeof v), 0,
			     "%d: no mem_burst_weight", (int)kids[i]);
		cr_expect_geq(strtod(v, NULL), 1.5,
			      "%d: its bursts weigh %s: chained across the other's turns",
			      (int)kids[i], v);
		cr_assert_eq(meta_value(dir, kids[i], "mem_bursts", v, sizeof v), 0);
		bursts[i] = strtod(v, NULL);
	}
	cr_expect_geq(bursts[0] < bursts[1] ? bursts[0] : bursts[1],
		      0.6 * (bursts[0] > bursts[1] ? bursts[0] : bursts[1]),
		      "the children's bursts: %.0f and %.0f, not their turns in turn", bursts[0],
		      bursts[1]);
	proc_reap(&p);
	drop_dir(dir);
}
