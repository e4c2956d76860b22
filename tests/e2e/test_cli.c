/* Bad input, end to end: each gets a clear one-line error, a documented exit code, and the
 * target is left untouched.  Also: SIGTERM sent to the target while attached ends it just
 * as it would unattached, and tgattach then finishes its files and exits 0. */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(cli, .timeout = 60);

/* Run tgattach; the buffers hold what it printed (freed at the end of the test process by
 * done()). */
static int run_tg(char *const argv[], struct buf *out, struct buf *err)
{
	buf_reset(out);
	buf_reset(err);
	return run_capture(argv, out, err, 30);
}

static void done(struct buf *out, struct buf *err)
{
	buf_free(out);
	buf_free(err);
}

/* A parked Python fixture (fixtures/threads.py), its truth in a new directory. */
static void start_python(struct fixture *fx, char *truth_dir_out, size_t len)
{
	char *dir = temp_dir("cli");

	cr_assert_eq(threads_fixture_start(fx, dir), 0, "fixture did not start");
	snprintf(truth_dir_out, len, "%s", dir);
	free(dir);
}

static int one_line(const struct buf *b)
{
	const char *s = buf_cstr(b);
	const char *nl = strchr(s, '\n');
	return nl && nl[1] == '\0';
}

Test(cli, no_such_process)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)dead);
	char *argv[] = {TG_BIN, "-p", pid, "-q", NULL};
	cr_assert_eq(run_tg(argv, &out, &err), TG_E_NOPROC, "stderr: %s", buf_cstr(&err));
	cr_assert(strstr(buf_cstr(&err), "no such process"), "stderr: %s", buf_cstr(&err));
	cr_assert(one_line(&err), "not one line: %s", buf_cstr(&err));
	char *dump[] = {TG_BIN, "dump", "-p", pid, NULL};
	cr_assert_eq(run_tg(dump, &out, &err), TG_E_NOPROC);
	done(&out, &err);
}

Test(cli, bad_arguments)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *cases[][6] = {
	    {TG_BIN, "-p", "abc", NULL},
	    {TG_BIN, "-p", "-5", NULL},
	    {TG_BIN, "-p", "1", "-r", "0", NULL},
	    {TG_BIN, "-p", "1", "-d", "x", NULL},
	    {TG_BIN, "-q", NULL},
	    {TG_BIN, "dump", NULL},
	    {TG_BIN, "frobnicate", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_assert_eq(run_tg(cases[i], &out, &err), TG_E_USAGE, "case %zu: %s", i,
			     buf_cstr(&err));
	char *help[] = {TG_BIN, "--help", NULL};
	cr_assert_eq(run_tg(help, &out, &err), 0);
	char *version[] = {TG_BIN, "--version", NULL};
	cr_assert_eq(run_tg(version, &out, &err), 0);
	cr_assert(strncmp(buf_cstr(&out), "tgattach ", 9) == 0);
	done(&out, &err);
}

Test(cli, not_python)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *argv[] = {"/bin/sh", "-c", "echo READY; exec sleep 30", NULL};
	char pid[16];

	cr_assert_eq(fixture_start(&fx, argv, "READY", 10), 0);
	usleep(100000); /* let the shell exec sleep */
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *tg[] = {TG_BIN, "-p", pid, "-q", "-o", "/tmp", NULL};
	cr_assert_eq(run_tg(tg, &out, &err), TG_E_NOTPY, "stderr: %s", buf_cstr(&err));
	cr_assert(strstr(buf_cstr(&err), "is not Python"), "stderr: %s", buf_cstr(&err));
	cr_assert(one_line(&err));
	cr_assert_eq(proc_all_untraced_running(fx.pid), 1);
	fixture_stop(&fx);
	done(&out, &err);
}

Test(cli, unwritable_output_leaves_target_untouched)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[PATH_MAX], pid[16], file_as_dir[PATH_MAX + 16];

	start_python(&fx, dir, sizeof dir);
	snprintf(file_as_dir, sizeof file_as_dir, "%s/truth.txt", dir); /* a file, not a dir */
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pid, "-q", "-o", file_as_dir, NULL};
	cr_assert_eq(run_tg(argv, &out, &err), TG_E_OUTPUT, "stderr: %s", buf_cstr(&err));
	cr_assert(strstr(buf_cstr(&err), "truth.txt"), "stderr names no path: %s", buf_cstr(&err));
	cr_assert(one_line(&err));
	cr_assert_eq(kill(fx.pid, 0), 0);
	cr_assert(proc_all_untraced_running(fx.pid));
	fixture_stop(&fx);
	remove_tree(dir);
	done(&out, &err);
}

Test(cli, already_traced_names_the_tracer)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[PATH_MAX], pid[16], tracer_pid[16];
	int ready[2];

	start_python(&fx, dir, sizeof dir);
	cr_assert_eq(pipe(ready), 0);
	pid_t tracer = fork();
	if (tracer == 0) {
		char ok = ptrace(PTRACE_SEIZE, fx.pid, 0, 0) == 0 ? 'y' : 'n';
		if (write(ready[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char ok = 0;
	cr_assert_eq(read(ready[0], &ok, 1), 1);
	cr_assert_eq(ok, 'y', "could not set up the other tracer");
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	snprintf(tracer_pid, sizeof tracer_pid, "%d", (int)tracer);
	char *argv[] = {TG_BIN, "dump", "-p", pid, NULL};
	int rc = run_tg(argv, &out, &err);
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	cr_assert_eq(rc, TG_E_TRACED, "stderr: %s", buf_cstr(&err));
	cr_assert(strstr(buf_cstr(&err), tracer_pid), "tracer pid not named: %s", buf_cstr(&err));
	cr_assert(one_line(&err));
	fixture_stop(&fx);
	remove_tree(dir);
	done(&out, &err);
}

/* tgattach traces from a thread of its own, so the target's TracerPid is that thread: a
 * second tgattach must name the first one's process, not a thread id. */
Test(cli, already_recorded_names_the_other_tgattach)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[PATH_MAX], pid[16], first_pid[32];

	start_python(&fx, dir, sizeof dir);
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	pid_t first = fork();
	if (first == 0) {
		execl(TG_BIN, TG_BIN, "-p", pid, "-o", dir, "-q", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && proc_status_long(fx.pid, "TracerPid") <= 0; i++)
		usleep(20000);
	long tracer = proc_status_long(fx.pid, "TracerPid");
	cr_assert_eq(proc_status_long((pid_t)tracer, "Tgid"), first,
		     "TracerPid %ld is not a thread of the first tgattach %d", tracer, (int)first);
	char *argv[] = {TG_BIN, "dump", "-p", pid, NULL};
	int rc = run_tg(argv, &out, &err);
	kill(first, SIGINT);
	int st;
	cr_assert_eq(waitpid(first, &st, 0), first);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "first tgattach: status 0x%x", st);
	cr_assert_eq(rc, TG_E_TRACED, "stderr: %s", buf_cstr(&err));
	snprintf(first_pid, sizeof first_pid, "process %d (tgattach)", (int)first);
	cr_assert(strstr(buf_cstr(&err), first_pid), "want \"%s\" in: %s", first_pid,
		  buf_cstr(&err));
	cr_assert(one_line(&err));
	cr_assert(proc_all_untraced_running(fx.pid), "target left traced or stopped");
	fixture_stop(&fx);
	remove_tree(dir);
	done(&out, &err);
}

/* --consistent stops the threads for each stack sample and lets them all go again: the
 * meta counts the paused samples, the stacks are there, the target runs on untraced. */
Test(cli, consistent_pauses_each_sample_and_lets_go)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[PATH_MAX], pid[16], path[PATH_MAX + 64];

	start_python(&fx, dir, sizeof dir);
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pid, "-o",	   dir,	 "-r",
			"50",	"-d", "1", "--consistent", "-q", NULL};
	cr_assert_eq(run_tg(argv, &out, &err), 0, "stderr: %s", buf_cstr(&err));
	snprintf(path, sizeof path, "%s/%s/meta", dir, pid);
	char *meta = truth_read_text(path);
	cr_assert_not_null(meta, "no %s", path);
	long samples = -1, paused = -1, missed = -1;
	for (char *line = strtok(meta, "\n"); line; line = strtok(NULL, "\n")) {
		sscanf(line, "samples=%ld", &samples);
		sscanf(line, "paused_samples=%ld", &paused);
		sscanf(line, "pause_missed=%ld", &missed);
	}
	free(meta);
	cr_assert(samples >= 20, "%ld samples in 1 s at 50 Hz", samples);
	cr_assert_eq(paused + missed, samples, "paused %ld + missed %ld != samples %ld", paused,
		     missed, samples);
	cr_assert(paused >= samples * 9 / 10, "only %ld of %ld samples paused", paused, samples);
	snprintf(path, sizeof path, "%s/%s/sleeper-1.stack", dir, pid);
	char *stack = truth_read_text(path);
	cr_assert(stack && strstr(stack, "sleeper"), "%s: no sleeper frame", path);
	free(stack);
	cr_assert(proc_all_untraced_running(fx.pid), "target left traced or stopped");
	fixture_stop(&fx);
	remove_tree(dir);
	done(&out, &err);
}

Test(cli, no_permission_mentions_ptrace_scope)
{
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char dir[PATH_MAX], pid[16], tg[PATH_MAX], cwd[PATH_MAX];

	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs root and setpriv to run tgattach as another user");
	start_python(&fx, dir, sizeof dir);
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(tg, sizeof tg, "%s/%s", cwd, TG_BIN);
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {"/usr/bin/setpriv",
			"--reuid=65534",
			"--regid=65534",
			"--clear-groups",
			tg,
			"dump",
			"-p",
			pid,
			NULL};
	int rc = run_tg(argv, &out, &err);
	cr_assert_eq(rc, TG_E_PERM, "exit %d, stderr: %s", rc, buf_cstr(&err));
	cr_assert(strstr(buf_cstr(&err), "ptrace_scope") &&
		      strstr(buf_cstr(&err), "CAP_SYS_PTRACE"),
		  "stderr: %s", buf_cstr(&err));
	cr_assert(one_line(&err), "not one line: %s", buf_cstr(&err));
	cr_assert(proc_all_untraced_running(fx.pid));
	fixture_stop(&fx);
	remove_tree(dir);
	done(&out, &err);
}

Test(cli, sigterm_to_target_while_attached)
{
	struct fixture fx;
	char dir[PATH_MAX], pid[16];
	int status;

	start_python(&fx, dir, sizeof dir);
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	int out_pipe[2];
	cr_assert_eq(pipe(out_pipe), 0);
	pid_t tg = fork();
	if (tg == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(out_pipe[1], 2);
		execl(TG_BIN, TG_BIN, "-p", pid, "-o", dir, "-d", "20", (char *)NULL);
		_exit(127);
	}
	close(out_pipe[1]);
	for (int i = 0; i < 100 && proc_all_untraced_running(fx.pid); i++)
		usleep(20000); /* until tgattach has attached */
	cr_assert(!proc_all_untraced_running(fx.pid), "tgattach never attached");
	usleep(200000);
	kill(fx.pid, SIGTERM);
	cr_assert_eq(waitpid(fx.pid, &status, 0), fx.pid);
	fx.pid = 0;
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
		  "the target did not die of SIGTERM (status 0x%x)", status);
	int tg_status;
	cr_assert_eq(waitpid(tg, &tg_status, 0), tg);
	cr_assert(WIFEXITED(tg_status) && WEXITSTATUS(tg_status) == 0, "tgattach status 0x%x",
		  tg_status);
	char mem[PATH_MAX + 32];
	snprintf(mem, sizeof mem, "%s/%s/process.mem", dir, pid);
	struct stat st;
	cr_assert(stat(mem, &st) == 0 && st.st_size > 0, "process.mem missing or empty");
	close(out_pipe[0]);
	remove_tree(dir);
}

Test(cli, sigint_to_tgattach_detaches_cleanly)
{
	struct fixture fx;
	char dir[PATH_MAX], pid[16];

	start_python(&fx, dir, sizeof dir);
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	pid_t tg = fork();
	if (tg == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(TG_BIN, TG_BIN, "-p", pid, "-o", dir, "-q", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && proc_all_untraced_running(fx.pid); i++)
		usleep(20000);
	usleep(300000);
	kill(tg, SIGINT);
	int st;
	cr_assert_eq(waitpid(tg, &st, 0), tg);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
	cr_assert(proc_all_untraced_running(fx.pid), "target left traced or stopped");
	cr_assert_eq(kill(fx.pid, 0), 0);
	char stack[PATH_MAX + 64];
	snprintf(stack, sizeof stack, "%s/%s/sleeper-1.stack", dir, pid);
	struct stat sst;
	cr_assert(stat(stack, &sst) == 0 && sst.st_size > 0, "sleeper-1.stack missing");
	fixture_stop(&fx);
	remove_tree(dir);
}

/* The target execs something that is not Python: its recording ends there, with the
 * end-of-run keys in meta and the samples counted in the summary (issue 16, 8). */
Test(cli, exec_into_non_python_finishes_the_recording)
{
	static const char prog[] = "import os, time\n"
				   "print('READY', flush=True)\n"
				   "t = time.time()\n"
				   "while time.time() - t < 1.5:\n"
				   "    sum(range(1000))\n"
				   "os.execv('/bin/sleep', ['sleep', '5'])\n";
	char python[PATH_MAX], pid[16], meta_path[PATH_MAX + 64];
	struct fixture fx;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char *dir = temp_dir("cli-exec");

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    pyenv_python("3.11.", python, sizeof python) < 0)
		snprintf(python, sizeof python, "/usr/bin/python3");
	char *fx_argv[] = {python, "-c", (char *)prog, NULL};
	cr_assert_eq(fixture_start(&fx, fx_argv, "READY", 30), 0, "fixture did not start");
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "-p", pid, "-o", dir, "-d", "4", NULL};
	cr_assert_eq(run_tg(argv, &out, &err), 0, "stderr: %s", buf_cstr(&err));
	snprintf(meta_path, sizeof meta_path, "%s/%s/meta", dir, pid);
	char *meta = truth_read_text(meta_path);
	cr_assert_not_null(meta, "no %s", meta_path);
	cr_expect(strstr(meta, "\nsamples=") && !strstr(meta, "\nsamples=0\n"),
		  "meta lacks its samples: %s", meta);
	cr_expect(strstr(meta, "\nend=") != NULL, "meta lacks end=: %s", meta);
	cr_expect(strstr(meta, "\nclosed_at_end=") != NULL, "meta lacks closed_at_end=: %s", meta);
	free(meta);
	cr_expect(strstr(buf_cstr(&err), " 0 samples") == NULL, "summary: %s", buf_cstr(&err));
	fixture_stop(&fx);
	remove_tree(dir);
	free(dir);
	done(&out, &err);
}
