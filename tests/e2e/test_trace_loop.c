/* attach/loop (signalfd, eventfd, timerfd, epoll) run in a forked tracer against real
 * processes, and a Python target: the harness is trace_util.h. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <glob.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/loop.h"
#include "attach/trace.h"
#include "attach/tracer.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/trace_util.h"

/* ---- the event loop, run in a forked tracer ---- */

struct runner_ctx {
	int ticks;
	int stop_after; /* tick returns 1 at this tick; 0: never */
	int slow_ms;	/* the first tick takes this long */
};

static int count_tick(void *ctx, struct tg_err *err)
{
	struct runner_ctx *c = ctx;

	(void)err;
	if (++c->ticks == 1 && c->slow_ms)
		usleep((useconds_t)c->slow_ms * 1000);
	return c->ticks == c->stop_after;
}

struct loop_result {
	int end, signo, ticks;
	long ms;
	char msg[sizeof((struct tg_err *)0)->msg];
};

/* Fork a tracer that attaches to pid, says "attached" (one byte on the pipe) and runs
 * loop_run; it then detaches and writes a struct loop_result. */
static pid_t runner_start(pid_t pid, double rate, double duration, int stop_after, int slow_ms,
			  int *rd)
{
	int fds[2];
	pid_t r;

	cr_assert(pipe(fds) == 0);
	r = proc_fork_helper();
	if (r == 0) {
		struct runner_ctx ctx = {0, stop_after, slow_ms};
		struct loop_opts lo = {rate, duration, count_tick, &ctx};
		struct loop_result res = {0};
		struct tg_err err = {0};
		struct tracer *tr;
		long start;

		close(fds[0]);
		loop_block_signals();
		tr = tracer_start(pid, 0, &err);
		if (!tr || write(fds[1], "a", 1) != 1)
			_exit(90);
		start = proc_now_ms();
		res.end = (int)loop_run(tr, &lo, &res.signo, &err);
		res.ms = proc_now_ms() - start;
		res.ticks = ctx.ticks;
		snprintf(res.msg, sizeof res.msg, "%s", err.msg);
		tracer_stop(tr);
		_exit(write(fds[1], &res, sizeof res) == (ssize_t)sizeof res ? 0 : 91);
	}
	cr_assert_gt(r, 0);
	close(fds[1]);
	*rd = fds[0];
	char c;
	cr_assert_eq(read(*rd, &c, 1), 1, "runner did not attach");
	return r;
}

static void runner_finish(pid_t r, int rd, struct loop_result *res)
{
	int st;

	cr_assert_eq(read(rd, res, sizeof *res), (ssize_t)sizeof *res, "no loop result");
	close(rd);
	cr_assert_eq(waitpid(r, &st, 0), r);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "runner status %#x", st);
}

TRACE_TEST(trace_loop_ends_on_duration_and_ticks_through_stops)
{
	struct target tg;
	struct loop_result res;
	int rd, usr1 = 0;
	pid_t r;
	long end;

	tt_target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 100, 0.6, 0, 0, &rd);
	/* signal-delivery stops all along: the tick must keep its rate */
	end = proc_now_ms() + 400;
	while (proc_now_ms() < end) {
		kill(tg.pid, SIGUSR1);
		usr1 += proc_wait_line(&tg.p, "usr1", NULL, 0, 100) == 0;
	}
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_DURATION, "end %d: %s", res.end, res.msg);
	cr_assert(res.ms >= 590 && res.ms < 1500, "ran %ld ms", res.ms);
	cr_assert(res.ticks >= 40 && res.ticks <= 61, "%d ticks in %ld ms at 100 Hz", res.ticks,
		  res.ms);
	cr_assert_gt(usr1, 10, "only %d SIGUSR1 handled", usr1);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_on_target_exit)
{
	struct target tg;
	struct loop_result res;
	int rd, st;
	pid_t r;

	tt_target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 50, 0, 0, 0, &rd);
	usleep(50000);
	cr_assert(proc_send(&tg.p, "q") == 0);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_TARGET_EXIT, "end %d: %s", res.end, res.msg);
	cr_assert_lt(res.ms, 3000);
	cr_assert(proc_wait_exit(&tg.p, 3000, &st) == 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_on_sigterm)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	tt_target_start(&tg, "3", NULL);
	r = runner_start(tg.pid, 50, 0, 0, 0, &rd);
	usleep(100000);
	cr_assert(kill(r, SIGTERM) == 0);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_SIGNAL, "end %d: %s", res.end, res.msg);
	cr_assert_eq(res.signo, SIGTERM);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

TRACE_TEST(trace_loop_ends_when_tick_says_so)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	tt_target_start(&tg, "2", NULL);
	r = runner_start(tg.pid, 200, 5, 7, 0, &rd);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_TICK_STOP, "end %d: %s", res.end, res.msg);
	cr_assert_eq(res.ticks, 7);
	cr_assert_lt(res.ms, 1000);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* A tick slower than the period: the missed ticks are not made up in a burst. */
TRACE_TEST(trace_loop_overrun_is_one_tick)
{
	struct target tg;
	struct loop_result res;
	int rd;
	pid_t r;

	tt_target_start(&tg, "1", NULL);
	r = runner_start(tg.pid, 100, 0.5, 0, 300, &rd);
	runner_finish(r, rd, &res);
	cr_assert_eq(res.end, LOOP_END_DURATION, "end %d: %s", res.end, res.msg);
	/* ~1 + 190 ms / 10 ms = 20 ticks; catching up would make ~50 */
	cr_assert(res.ticks >= 8 && res.ticks <= 30, "%d ticks", res.ticks);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* SIGCHLD must be blocked before the tracer thread starts, the ending signals before the
 * loop runs: a signal that reached a thread unblocked would be lost to the run. */
TRACE_TEST(trace_loop_needs_blocked_signals)
{
	struct target tg;
	struct tracer *tr;
	struct runner_ctx ctx = {0, 0, 0};
	struct loop_opts lo = {100, 0.1, count_tick, &ctx};
	struct tg_err err = {0};
	sigset_t chld, old;
	int signo;

	tt_target_start(&tg, "1", NULL);
	cr_assert_null(tracer_start(tg.pid, 0, &err));
	cr_assert(strstr(err.msg, "loop_block_signals"), "%s", err.msg);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	tr = tracer_start(tg.pid, 0, &err);
	cr_assert_not_null(tr, "%s", err.msg);
	cr_assert_eq(loop_run(tr, &lo, &signo, &err), LOOP_END_ERROR);
	cr_assert(strstr(err.msg, "loop_block_signals"), "%s", err.msg);
	lo.rate_hz = 0;
	cr_assert_eq(loop_run(tr, &lo, &signo, &err), LOOP_END_ERROR);
	cr_assert_eq(err.code, TG_E_USAGE, "%s", err.msg);
	tracer_stop(tr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	tt_assert_free_and_running(&tg);
	tt_target_stop(&tg);
}

/* ---- a Python target ---- */

static int find_python311(char *out, size_t size)
{
	const char *root = getenv("PYENV_ROOT");
	char pattern[512];
	glob_t g;
	int found;

	snprintf(pattern, sizeof pattern, "%s/versions/3.11*/bin/python3.11",
		 root && *root ? root : "/root/.pyenv");
	if (glob(pattern, 0, NULL, &g) != 0)
		return -1;
	found = g.gl_pathc > 0 && access(g.gl_pathv[0], X_OK) == 0;
	if (found)
		snprintf(out, size, "%s", g.gl_pathv[0]);
	globfree(&g);
	return found ? 0 : -1;
}

TRACE_TEST(trace_python_threads)
{
	char python[512], script[512], line[LINE];
	struct target tg;
	struct trace *t;
	int tid;

	if (find_python311(python, sizeof python) < 0)
		cr_skip_test("pyenv Python 3.11 not found ($PYENV_ROOT/versions/3.11*)");
	memset(&tg, 0, sizeof tg);
	proc_src_path(__FILE__, "../../fixtures/trace_threads.py", script, sizeof script);
	char *argv[] = {python, script, "4", NULL};
	cr_assert(proc_spawn(&tg.p, argv) == 0);
	cr_assert(proc_wait_line(&tg.p, "ready", line, sizeof line, 10000) == 0, "no ready");
	tg.pid = tg.p.pid;
	t = tt_attach_ok(tg.pid, 0, NULL);
	tt_assert_all_traced(tg.pid);
	tt_assert_thread_list(t, tg.pid);
	cr_assert(proc_send(&tg.p, "t") == 0);
	cr_assert(tt_line_servicing(t, &tg, "thread", line, sizeof line, 3000) == 0);
	cr_assert(sscanf(line, "thread %d", &tid) == 1);
	cr_assert_eq(proc_status_long(tid, "TracerPid"), gettid());
	cr_assert(kill(tg.pid, SIGUSR1) == 0);
	/* Python runs handlers in the main thread only, between bytecodes: a signal that
	 * lands just before the main thread blocks in read() waits for that read to return
	 * (so it does untraced).  A poke ends the read; a lost signal still never shows. */
	if (tt_line_servicing(t, &tg, "usr1", NULL, 0, 1000) != 0) {
		cr_assert(proc_send(&tg.p, "p") == 0);
		cr_assert(tt_line_servicing(t, &tg, "usr1", NULL, 0, 3000) == 0, "SIGUSR1 lost");
	}
	trace_detach(t);
	tt_assert_free_and_running(&tg);
	proc_reap(&tg.p);
}
