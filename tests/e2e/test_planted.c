/* Planted output paths, end to end (issue 16): tgattach often runs as root beside a server,
 * writing under a directory others may share.  What someone put at OUTDIR/PID or inside an
 * earlier run's directory must never redirect its writes, block it, or be appended to:
 *   - OUTDIR/PID a symbolic link to another directory: refused (exit 7), nothing written
 *     there, the target untouched;
 *   - OUTDIR/PID a directory of another user, or writable by others: refused;
 *   - directories created under umask 000: not writable by others;
 *   - a FIFO at OUTDIR/PID/meta.tmp: no hang (it is replaced), SIGTERM still ends the run;
 *   - a hard link at OUTDIR/PID/MainThread.stack: the file it names does not grow;
 *   - a FIFO among a recording's files: `render top` and `render speedscope` fail at once
 *     with a clear error instead of blocking. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/test_render_run.h"

TestSuite(planted, .timeout = 90);

struct setup {
	struct fixture fx;
	char *dir; /* a scratch directory: OUTDIR is dir/out */
	char out[PATH_MAX];
	char piddir[PATH_MAX + 32];
	char pid[16];
	struct buf so, se;
};

static void start(struct setup *s)
{
	char python[PATH_MAX], fixture[PATH_MAX], cwd[PATH_MAX], truth[PATH_MAX + 16];

	memset(s, 0, sizeof *s);
	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    pyenv_python("3.11.", python, sizeof python) < 0)
		snprintf(python, sizeof python, "/usr/bin/python3");
	s->dir = temp_dir("planted");
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(fixture, sizeof fixture, "%s/fixtures/threads.py", cwd);
	snprintf(truth, sizeof truth, "%s/truth.txt", s->dir);
	char *argv[] = {python, fixture, truth, NULL};
	cr_assert_eq(fixture_start(&s->fx, argv, "READY", 30), 0, "fixture did not start");
	snprintf(s->pid, sizeof s->pid, "%d", (int)s->fx.pid);
	snprintf(s->out, sizeof s->out, "%s/out", s->dir);
	snprintf(s->piddir, sizeof s->piddir, "%s/%s", s->out, s->pid);
}

static void stop(struct setup *s)
{
	cr_expect(proc_all_untraced_running(s->fx.pid), "the target was left traced or stopped");
	fixture_stop(&s->fx);
	remove_tree(s->dir);
	free(s->dir);
	buf_free(&s->so);
	buf_free(&s->se);
}

/* tgattach -p PID -o OUTDIR -q -d SECONDS; its exit code. */
static int record(struct setup *s, const char *seconds)
{
	char *argv[] = {TG_BIN, "-p", s->pid, "-o", s->out, "-q", "-d", (char *)seconds, NULL};

	buf_reset(&s->so);
	buf_reset(&s->se);
	return run_capture(argv, &s->so, &s->se, 40);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

Test(planted, pid_dir_symlink_is_not_followed)
{
	struct setup s;
	char victim[PATH_MAX + 16], meta[PATH_MAX + 32];

	start(&s);
	snprintf(victim, sizeof victim, "%s/victim", s.dir);
	cr_assert_eq(mkdir(victim, 0755), 0);
	snprintf(meta, sizeof meta, "%s/meta", victim);
	FILE *f = fopen(meta, "w");
	cr_assert_not_null(f);
	fputs("precious\n", f);
	fclose(f);
	cr_assert_eq(mkdir(s.out, 0755), 0);
	cr_assert_eq(symlink(victim, s.piddir), 0, "symlink: %s", strerror(errno));
	int rc = record(&s, "1");
	cr_expect_eq(rc, TG_E_OUTPUT, "exit %d, stderr: %s", rc, buf_cstr(&s.se));
	cr_expect(strstr(buf_cstr(&s.se), "symbolic link") != NULL, "stderr: %s", buf_cstr(&s.se));
	cr_expect_eq(rrun_count_entries(victim), (size_t)1,
		     "tgattach wrote into the link's target");
	cr_expect_eq(file_size(meta), 9, "the victim's meta was replaced");
	stop(&s);
}

Test(planted, pid_dir_writable_by_others_is_refused)
{
	struct setup s;

	start(&s);
	cr_assert_eq(mkdir(s.out, 0755), 0);
	cr_assert_eq(mkdir(s.piddir, 0755), 0);
	cr_assert_eq(chmod(s.piddir, 0777), 0);
	int rc = record(&s, "1");
	cr_expect_eq(rc, TG_E_OUTPUT, "exit %d, stderr: %s", rc, buf_cstr(&s.se));
	cr_expect(strstr(buf_cstr(&s.se), "others may write") != NULL, "stderr: %s",
		  buf_cstr(&s.se));
	cr_expect_eq(rrun_count_entries(s.piddir), (size_t)0, "tgattach wrote into it");
	/* another user's directory */
	cr_assert_eq(chmod(s.piddir, 0755), 0);
	cr_assert_eq(chown(s.piddir, 65534, 65534), 0, "chown: %s", strerror(errno));
	rc = record(&s, "1");
	cr_expect_eq(rc, TG_E_OUTPUT, "exit %d, stderr: %s", rc, buf_cstr(&s.se));
	cr_expect(strstr(buf_cstr(&s.se), "owned by uid 65534") != NULL, "stderr: %s",
		  buf_cstr(&s.se));
	cr_expect_eq(rrun_count_entries(s.piddir), (size_t)0, "tgattach wrote into it");
	stop(&s);
}

Test(planted, directories_ignore_a_permissive_umask)
{
	struct setup s;
	struct stat st;

	start(&s);
	mode_t old = umask(0);
	int rc = record(&s, "1");
	umask(old);
	cr_assert_eq(rc, 0, "exit %d, stderr: %s", rc, buf_cstr(&s.se));
	cr_assert_eq(stat(s.out, &st), 0);
	cr_expect_eq(st.st_mode & 022, 0, "OUTDIR is mode %03o", st.st_mode & 0777);
	cr_assert_eq(stat(s.piddir, &st), 0);
	cr_expect_eq(st.st_mode & 022, 0, "OUTDIR/PID is mode %03o", st.st_mode & 0777);
	stop(&s);
}

Test(planted, fifo_at_meta_tmp_neither_blocks_nor_stops_signals)
{
	struct setup s;
	char fifo[PATH_MAX + 48];

	start(&s);
	cr_assert_eq(mkdir(s.out, 0755), 0);
	cr_assert_eq(mkdir(s.piddir, 0755), 0);
	snprintf(fifo, sizeof fifo, "%s/meta.tmp", s.piddir);
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	/* a long run, ended by SIGTERM once it wrote its first meta */
	struct proc tg;
	char *argv[] = {TG_BIN, "-p", s.pid, "-o", s.out, "-q", NULL};
	cr_assert_eq(proc_spawn(&tg, argv), 0);
	char meta[PATH_MAX + 48];
	snprintf(meta, sizeof meta, "%s/meta", s.piddir);
	long until = proc_now_ms() + 20000;
	while (file_size(meta) <= 0 && proc_now_ms() < until)
		usleep(20000);
	cr_expect_gt(file_size(meta), 0, "no meta written: blocked on the FIFO?");
	kill(tg.pid, SIGTERM);
	int status;
	cr_assert_eq(proc_wait_exit(&tg, 15000, &status), 0, "SIGTERM did not end tgattach");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	proc_reap(&tg);
	stop(&s);
}

Test(planted, hard_link_in_an_earlier_run_is_not_appended_to)
{
	struct setup s;
	char victim[PATH_MAX + 16], link_path[PATH_MAX + 48];

	start(&s);
	snprintf(victim, sizeof victim, "%s/victim.txt", s.dir);
	FILE *f = fopen(victim, "w");
	cr_assert_not_null(f);
	fputs("precious\n", f);
	fclose(f);
	cr_assert_eq(mkdir(s.out, 0755), 0);
	cr_assert_eq(mkdir(s.piddir, 0755), 0);
	snprintf(link_path, sizeof link_path, "%s/MainThread.stack", s.piddir);
	cr_assert_eq(link(victim, link_path), 0, "link: %s", strerror(errno));
	int rc = record(&s, "1");
	cr_expect_eq(file_size(victim), 9, "the hard-linked file grew");
	cr_expect_eq(rc, TG_E_OUTPUT, "exit %d, stderr: %s", rc, buf_cstr(&s.se));
	cr_expect(strstr(buf_cstr(&s.se), "hard links") != NULL, "stderr: %s", buf_cstr(&s.se));
	stop(&s);
}

/* A FIFO among a recording's files: each renderer gives up on it at once. */
Test(planted, fifo_in_a_recording_does_not_block_render)
{
	struct setup s;
	char fifo[PATH_MAX + 48], json[PATH_MAX + 16];

	start(&s);
	cr_assert_eq(record(&s, "1"), 0, "stderr: %s", buf_cstr(&s.se));
	snprintf(fifo, sizeof fifo, "%s/Planted.mem", s.piddir);
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	snprintf(fifo, sizeof fifo, "%s/Planted.stack", s.piddir);
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	snprintf(json, sizeof json, "%s/p.json", s.dir);
	char *top[] = {TG_BIN, "render", "top", s.piddir, NULL};
	char *ss[] = {TG_BIN, "render", "speedscope", s.piddir, "-o", json, NULL};
	char *const *cmds[] = {top, ss};
	for (int i = 0; i < 2; i++) {
		buf_reset(&s.se);
		int rc = run_capture(cmds[i], NULL, &s.se, 20);
		cr_expect_eq(rc, TG_E_DATA, "render %s: exit %d (-1: blocked), stderr: %s",
			     cmds[i][2], rc, buf_cstr(&s.se));
		cr_expect(strstr(buf_cstr(&s.se), "not a regular file") != NULL, "render %s: %s",
			  cmds[i][2], buf_cstr(&s.se));
	}
	stop(&s);
}

/* A NUL inside a thread or function name is escaped, not a place where the name ends. */
static const char nul_py[] =
    "import threading, time\n"
    "def park():\n"
    "    time.sleep(3600)\n"
    "code = park.__code__.replace(co_name='pa\\x00rk', co_qualname='pa\\x00rk')\n"
    "parked = type(park)(code, park.__globals__)\n"
    "t = threading.Thread(target=parked, name='th\\x00read', daemon=True)\n"
    "t.start()\n"
    "print('READY', flush=True)\n"
    "time.sleep(3600)\n";

Test(planted, nul_in_names_is_escaped)
{
	char python[PATH_MAX], pid[16], stack[PATH_MAX + 64];
	char *dir = temp_dir("nul");
	struct fixture fx;
	struct buf so = BUF_INIT, se = BUF_INIT;

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    pyenv_python("3.11.", python, sizeof python) < 0)
		cr_skip_test("no pyenv 3.12 or 3.11 (co_qualname)");
	char *fx_argv[] = {python, "-c", (char *)nul_py, NULL};
	cr_assert_eq(fixture_start(&fx, fx_argv, "READY", 30), 0, "fixture did not start");
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pid, "-o", dir, "-q", "-d", "1", NULL};
	cr_assert_eq(run_capture(argv, &so, &se, 40), 0, "stderr: %s", buf_cstr(&se));
	snprintf(stack, sizeof stack, "%s/%s/th%%00read.stack", dir, pid);
	FILE *f = fopen(stack, "r");
	cr_assert_not_null(f, "no %s: the thread name was cut at its NUL", stack);
	char line[512];
	int found = 0;
	while (fgets(line, sizeof line, f))
		found |= strstr(line, ":pa\\x00rk") != NULL;
	fclose(f);
	cr_expect(found, "no call of pa\\x00rk in %s: the function name was cut", stack);
	cr_expect(proc_all_untraced_running(fx.pid));
	fixture_stop(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&so);
	buf_free(&se);
}
