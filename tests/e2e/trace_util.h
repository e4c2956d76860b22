/* trace_util.h: the harness of the attach/trace and attach/loop tests (test_trace.c,
 * test_trace_fork.c, test_trace_loop.c): tests/e2e/targets/trace_target.c built and
 * started, a trace attached and serviced, and the checks of the target's threads in /proc
 * (traced by whom, stopped or running).  TRACE_TEST runs a LeakSanitizer check after each
 * test body.  Every function asserts (Criterion) on failure. */
#ifndef TG_E2E_TRACE_UTIL_H
#define TG_E2E_TRACE_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "attach/trace.h"
#include "tests/e2e/proc_util.h"

#define MAXT 512
#define LINE 256

#define TRACE_TEST(name)                                                                           \
	static void name##_body(void);                                                             \
	Test(trace, name)                                                                          \
	{                                                                                          \
		name##_body();                                                                     \
		tt_leak_check();                                                                   \
	}                                                                                          \
	static void name##_body(void)

void tt_leak_check(void);

struct target {
	struct proc p;
	pid_t pid;
	int ntasks; /* from its "ready" line */
};

struct events {
	struct trace_event ev[512];
	size_t n;
};

void tt_target_start(struct target *tg, const char *nthreads, const char *mode);
void tt_target_stop(struct target *tg);
void tt_assert_answers(struct target *tg);
int tt_count_events(const struct events *e, enum trace_event_kind kind, pid_t pid, pid_t tid);
struct trace *tt_attach_ok(pid_t pid, int follow, struct events *ev);
void tt_service_for(struct trace *t, int ms);
int tt_line_servicing(struct trace *t, struct target *tg, const char *prefix, char *line,
		      size_t size, int timeout_ms);
int tt_is_stopped_state(char s);
size_t tt_assert_threads(pid_t pid, long tracer, int want_running);
void tt_assert_all_traced(pid_t pid);
void tt_assert_free_and_running(struct target *tg);
int tt_wait_all_stopped(struct trace *t, pid_t pid, int timeout_ms);
int tt_cmp_pid(const void *a, const void *b);
void tt_assert_thread_list(struct trace *t, pid_t pid);
/* Forks a helper process (a second tracer, a tracer to be killed) that runs fn(arg) and
 * says its one-byte answer on a pipe, then waits to be killed: returns its pid, *answer
 * what it said.  tt_end_helper kills and reaps it. */
pid_t tt_fork_helper(char (*fn)(void *arg), void *arg, char *answer);
void tt_end_helper(pid_t pid);

#endif
