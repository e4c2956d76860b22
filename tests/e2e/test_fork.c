/* Fork following (issue 5), end to end: real Python programs that fork, run while tgattach
 * records them, and what they say about their own children (fixtures/fork_*.py, protocol in
 * fork_common.py) against what tgattach wrote:
 *  - every Python child has OUTDIR/CHILDPID with meta (pid=, parent=), well-formed
 *    process.mem and .stack files that show the child's own code; it was traced from its
 *    first instruction (the TracerPid it read itself);
 *  - no child that exec'd a non-Python program has a directory, nor does anything else the
 *    fixture did not report; --no-follow-forks writes the parent's directory only;
 *  - counts match what the fixture reports, a fork storm neither starves sampling nor makes
 *    tgattach's descriptors grow;
 *  - after tgattach ends (normally, or by kill -9 while children are forking) no process
 *    of the fixture's tree is stopped or traced, and every child could be reaped;
 *  - signals behave as unattached (the same scenario run unattached is the control). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "tests/e2e/fork_util.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(fork, .timeout = 60);

/* ---- scenarios ---------------------------------------------------------------------- */

/* One request to the prefork server; the answer's first word and pid. */
static void prefork_request(int port, const char *req, char *word, pid_t *pid)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {10, 0};
	char answer[128] = "";
	size_t len = 0;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(s >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s",
		     strerror(errno));
	cr_assert_eq(write(s, req, strlen(req)), (ssize_t)strlen(req));
	while (len < sizeof answer - 1 && !memchr(answer, '\n', len)) {
		ssize_t got = read(s, answer + len, sizeof answer - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	answer[len] = '\0';
	close(s);
	int p = 0;
	cr_assert_eq(sscanf(answer, "%15s %d", word, &p), 2, "bad answer to %s: '%s'", req, answer);
	*pid = p;
}

/* Three workers share the listening socket; nine requests and three QUITs over loopback.
 * Each worker is recorded, shows worker_loop, and some worker shows handle_request. */
Test(fork, prefork_server)
{
	struct fork_run run, *r = &run;
	int port;

	fork_run_init(r, "fork-prefork");

	fork_fx_start(r, "fork_prefork.py", NULL);
	cr_assert_eq(sscanf(r->ready, "READY %d", &port), 1);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_sampling(r);
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);
	for (long until = proc_now_ms() + 15000; r->nchildren < 3 && proc_now_ms() < until;)
		fork_fx_collect(r, 100, NULL, NULL);
	cr_assert_eq(r->nchildren, 3, "%d workers reported, want 3", r->nchildren);
	for (int i = 0; i < 9; i++) {
		char word[16];
		pid_t pid;
		prefork_request(port, "GET\n", word, &pid);
		cr_assert_str_eq(word, "OK");
		cr_assert_not_null(fork_find_child(r, pid), "answer from %d, not a worker",
				   (int)pid);
	}
	for (int i = 0; i < 3; i++) {
		char word[16];
		pid_t pid;
		prefork_request(port, "QUIT\n", word, &pid);
		cr_assert_str_eq(word, "BYE");
	}
	fork_fx_require_done(r, 20000, NULL, NULL);
	cr_assert(strstr(r->done, "children=3 statuses=exit=0,exit=0,exit=0"), "%s", r->done);
	fork_tg_stop(r, SIGINT);
	fork_check_process_dir(r, r->fx.pid, 0, 1, "main");
	int handled = 0;
	for (int i = 0; i < r->nchildren; i++) {
		char dir[PATH_MAX + 32];
		fork_check_process_dir(r, r->children[i].pid, r->fx.pid, 1, "worker_loop");
		snprintf(dir, sizeof dir, "%s/%d", r->out, (int)r->children[i].pid);
		handled += fork_stack_has(dir, "handle_request", NULL);
	}
	cr_assert(handled > 0, "no worker's .stack shows handle_request (9 requests of 50 ms)");
	fork_check_traced_from_birth(r, "prefork", r->tracer);
	fork_check_no_stray_dirs(r);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

/* A multiprocessing Pool(3) under one start method: every worker (forked, spawned, or forked
 * by the forkserver) is recorded and shows mp_work; only the fixture, its workers and its
 * helper processes have directories. */
static void mp_scenario(const char *method)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-mp");
	const char *args[] = {method, NULL};

	fork_fx_start(r, "fork_mp.py", args);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_sampling(r);
	fork_fx_go_and_finish(r, 40000);
	cr_assert(strstr(r->done, "workers=3 items=6"), "%s", r->done);
	cr_assert_eq(fork_count_kind(r, "mp-worker"), 3, "%s: %d workers reported", method,
		     fork_count_kind(r, "mp-worker"));
	cr_assert(r->nresults >= 1);
	fork_tg_stop(r, SIGINT);
	fork_check_process_dir(r, r->fx.pid, 0, 1, NULL);
	for (int i = 0; i < r->nchildren; i++) {
		struct fork_child *c = &r->children[i];
		if (strcmp(c->kind, "mp-worker"))
			continue;
		char dir[PATH_MAX + 32], path[PATH_MAX + 64], value[32];
		fork_check_process_dir(r, c->pid, -1, 1, NULL);
		snprintf(dir, sizeof dir, "%s/%d", r->out, (int)c->pid);
		snprintf(path, sizeof path, "%s/meta", dir);
		char *meta = truth_read_text(path);
		pid_t parent = (pid_t)atol(fork_meta_value(meta, "parent", value, sizeof value));
		free(meta);
		struct fork_child *pc = fork_find_child(r, parent);
		cr_assert(parent == r->fx.pid || (pc && !strcmp(pc->kind, "helper")),
			  "%s: worker %d: parent=%d is neither the fixture nor a helper", method,
			  (int)c->pid, (int)parent);
	}
	for (int i = 0; i < r->nresults; i++) {
		char dir[PATH_MAX + 32];
		cr_assert_not_null(fork_find_child(r, r->results[i]), "result from unknown %d",
				   (int)r->results[i]);
		snprintf(dir, sizeof dir, "%s/%d", r->out, (int)r->results[i]);
		cr_assert(fork_stack_has(dir, "mp_work", NULL),
			  "%s: worker %d ran mp_work for >= 300 ms "
			  "but no .stack in %s has it",
			  method, (int)r->results[i], dir);
	}
	fork_check_traced_from_birth(r, "mp-worker", r->tracer);
	fork_check_no_stray_dirs(r);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

Test(fork, mp_pool_fork)
{
	mp_scenario("fork");
}
Test(fork, mp_pool_spawn)
{
	mp_scenario("spawn");
}
Test(fork, mp_pool_forkserver)
{
	mp_scenario("forkserver");
}

/* os.fork + os.execv(python): the child is resolved again after exec and shows the exec'd
 * program's code; meta describes the interpreter it runs now. */
static void exec_python_scenario(const char *other_prefix)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-exec");
	char other[PATH_MAX];
	const char *args[] = {other, NULL};

	if (other_prefix && pyenv_python(other_prefix, other, sizeof other) < 0) {
		fork_run_free(r);
		cr_skip_test("pyenv %sx is not installed: no second interpreter to exec",
			     other_prefix);
	}
	fork_fx_start(r, "fork_exec_python.py", other_prefix ? args : NULL);
	fork_tg_start(r, NULL, NULL);
	fork_tg_wait_sampling(r);
	fork_fx_go_and_finish(r, 30000);
	int want = other_prefix ? 2 : 1;
	char status_want[64];
	snprintf(status_want, sizeof status_want, "children=%d statuses=exit=0%s", want,
		 other_prefix ? ",exit=0" : "");
	cr_assert(strstr(r->done, status_want), "%s", r->done);
	cr_assert_eq(r->nchildren, want);
	fork_tg_stop(r, SIGINT);
	for (int i = 0; i < r->nchildren; i++) {
		struct fork_child *c = &r->children[i];
		char path[PATH_MAX + 64], version[64];
		fork_check_process_dir(r, c->pid, r->fx.pid, 1, "exec_child_work");
		snprintf(path, sizeof path, "%s/%d/meta", r->out, (int)c->pid);
		char *meta = truth_read_text(path);
		fork_meta_value(meta, "version", version, sizeof version);
		free(meta);
		cr_assert(!strncmp(version, c->version, strlen(c->version)) &&
			      version[strlen(c->version)] == '.',
			  "%s: version=%s, but the exec'd child runs Python %s", path, version,
			  c->version);
		cr_assert_eq(c->tracer, r->tracer, "child %d (%s) was not traced after exec",
			     (int)c->pid, c->kind);
	}
	fork_check_no_stray_dirs(r);
	fork_tree_check_clean(r->fx.pid, "after tgattach exited");
	fork_run_free(r);
}

Test(fork, exec_same_python)
{
	exec_python_scenario(NULL);
}
Test(fork, exec_other_python_3_11)
{
	exec_python_scenario("3.11.");
}

/* ---- signals ------------------------------------------------------------------------ */

/* Next line starting with prefix (others are noted, TICKs counted); asserts on timeout. */
static void expect_line(struct fork_run *r, const char *prefix, char *line, size_t size,
			int timeout_ms, int *ticks)
{
	for (long until = proc_now_ms() + timeout_ms; proc_now_ms() < until;) {
		if (proc_read_line(&r->fx, line, size, 50) < 0)
			continue;
		fork_note_line(r, line);
		if (ticks && !strncmp(line, "TICK ", 5))
			(*ticks)++;
		if (!strncmp(line, prefix, strlen(prefix)))
			return;
	}
	cr_assert_fail("no line '%s...' from the fixture within %d ms", prefix, timeout_ms);
}

static pid_t expect_child(struct fork_run *r, const char *kind)
{
	char line[512], prefix[64];

	snprintf(prefix, sizeof prefix, "CHILD ");
	expect_line(r, prefix, line, sizeof line, 15000, NULL);
	struct fork_child *c = &r->children[r->nchildren - 1];
	cr_assert_str_eq(c->kind, kind, "expected a %s child: %s", kind, line);
	return c->pid;
}

static void expect_reaped(struct fork_run *r, pid_t pid, const char *how, int *ticks)
{
	char line[512], want[64];

	snprintf(want, sizeof want, "REAPED %d ", (int)pid);
	expect_line(r, want, line, sizeof line, 10000, ticks);
	cr_assert_str_eq(line + strlen(want), how, "child %d: %s, want %s", (int)pid,
			 line + strlen(want), how);
}

/* The SIGSTOP/SIGCONT phase: the child stops (its parent sees it stopped, it ticks no
 * more), then continues (its parent sees it continued, it ticks again) and ends normally
 * after its 30 ticks. */
static void stop_phase(struct fork_run *r)
{
	char line[512], want[64];
	int ticks = 0;
	pid_t pid = expect_child(r, "stop");

	snprintf(want, sizeof want, "TICK %d 3", (int)pid);
	expect_line(r, want, line, sizeof line, 10000, &ticks);
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	snprintf(want, sizeof want, "STOPPED %d sig=%d", (int)pid, SIGSTOP);
	expect_line(r, want, line, sizeof line, 5000, &ticks);
	char state = proc_state(pid);
	cr_assert(state == 'T' || state == 't', "child %d stopped but its state is %c", (int)pid,
		  state);
	for (long until = proc_now_ms() + 500; proc_now_ms() < until;)
		if (proc_read_line(&r->fx, line, sizeof line, 50) >= 0)
			cr_assert_fail("child %d, stopped, went on: %s", (int)pid, line);
	cr_assert_eq(kill(pid, SIGCONT), 0);
	snprintf(want, sizeof want, "CONTINUED %d", (int)pid);
	expect_line(r, want, line, sizeof line, 5000, &ticks);
	expect_reaped(r, pid, "exit=0", &ticks);
	cr_assert_eq(ticks, 30, "child %d ticked %d times, want 30", (int)pid, ticks);
}

/* The fixture's five phases (see fork_signals.py), attached or not: the assertions are what
 * an unattached program sees, and the unattached run checks the fixture itself. */
static void signals_scenario(int attached)
{
	struct fork_run run, *r = &run;

	fork_run_init(r, "fork-signals");
	char line[512];
	pid_t pid;

	fork_fx_start(r, "fork_signals.py", NULL);
	if (attached) {
		fork_tg_start(r, NULL, NULL);
		fork_tg_wait_sampling(r);
	}
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);

	expect_line(r, "SIGCHLD ", line, sizeof line, 20000, NULL);
	cr_assert_eq(fork_kv_long(line, "got"), 3, "the parent's SIGCHLD handler: %s", line);

	pid = expect_child(r, "term");
	usleep(300000);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	expect_reaped(r, pid, "signal=15", NULL);

	pid = expect_child(r, "usr1");
	usleep(300000);
	cr_assert_eq(kill(pid, SIGUSR1), 0);
	snprintf(line, sizeof line, "USR1 %d", (int)pid);
	expect_line(r, line, line, sizeof line, 5000, NULL);
	cr_assert_eq(kill(pid, SIGINT), 0);
	snprintf(line, sizeof line, "INT %d", (int)pid);
	expect_line(r, line, line, sizeof line, 5000, NULL);
	expect_reaped(r, pid, "exit=5", NULL);

	stop_phase(r);

	pid = expect_child(r, "fault");
	expect_reaped(r, pid, "signal=11", NULL);
	expect_line(r, "DONE", line, sizeof line, 5000, NULL);
	cr_assert_eq(r->nchildren, 7);

	if (attached) {
		fork_tg_stop(r, SIGINT);
		fork_check_process_dir(r, r->fx.pid, 0, 1, NULL);
		for (int i = 0; i < r->nchildren; i++)
			fork_check_process_dir(r, r->children[i].pid, r->fx.pid, 1, NULL);
		fork_check_no_stray_dirs(r);
	}
	for (int i = 0; i < r->nchildren; i++)
		cr_assert_eq(r->children[i].tracer, attached ? r->tracer : 0,
			     "child %d (%s): TracerPid %ld at its start", (int)r->children[i].pid,
			     r->children[i].kind, r->children[i].tracer);
	fork_tree_check_clean(r->fx.pid, "at the end");
	fork_run_free(r);
}

Test(fork, signals_unattached_control)
{
	signals_scenario(0);
}
Test(fork, signals_attached)
{
	signals_scenario(1);
}
