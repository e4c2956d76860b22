/* fork_util.h: the harness of the fork-following tests (test_fork.c, test_fork_storm.c):
 * a fixture of fixtures/fork_*.py started, tgattach recording it, what the fixture says
 * about its children (fork_common.py's protocol) collected, and the checks of what
 * tgattach wrote against it.  Every function asserts (Criterion) on failure. */
#ifndef TG_E2E_FORK_UTIL_H
#define TG_E2E_FORK_UTIL_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "tests/e2e/proc_util.h"

#define FORK_MAX_CHILDREN 2048
#define FORK_MAX_DIRS 2048
#define FORK_RATE_HZ 100 /* tgattach's default sample rate, used by every test */

struct fork_child {
	pid_t pid;
	char kind[32];
	long tracer;	 /* TracerPid the child read first thing; -1 when it does not say */
	double lived_ms; /* storm children: their life from first instruction to exit */
	char version[16];
};

struct fork_run {
	char tmp[PATH_MAX];
	char out[PATH_MAX];	 /* OUTDIR */
	char err_path[PATH_MAX]; /* tgattach's stderr */
	char python[PATH_MAX];
	struct proc fx;
	pid_t tg;     /* tgattach while it runs, 0 once reaped */
	pid_t tracer; /* its tracer thread: the TracerPid of what it traces */
	int nchildren;
	struct fork_child children[FORK_MAX_CHILDREN];
	int nresults; /* fork_mp.py: workers that ran mp_work */
	pid_t results[16];
	char ready[256], done[512], storm[256];
};

/* The process tree below root (/proc PPid links), and none of it stopped or traced. */
size_t fork_tree(pid_t root, pid_t *out, size_t max);
void fork_tree_check_clean(pid_t root, const char *when);
/* A run: its temporary directories, the fixture fixtures/NAME.py started with args,
 * tgattach recording it (duration, extra options), stopped and waited for, freed. */
void fork_run_init(struct fork_run *r, const char *tag);
void fork_fx_start(struct fork_run *r, const char *name, const char *const *args);
char *fork_tg_stderr(struct fork_run *r);
void fork_tg_start(struct fork_run *r, const char *duration, const char *extra);
int fork_tg_wait(struct fork_run *r, int timeout_ms);
void fork_tg_stop(struct fork_run *r, int sig);
void fork_tg_require_running(struct fork_run *r, const char *when);
void fork_tg_wait_traced(struct fork_run *r);
void fork_tg_wait_sampling(struct fork_run *r);
void fork_run_free(struct fork_run *r);
/* The fixture's protocol lines (fork_common.py): KEY=VALUE fields, one line noted, lines
 * collected for ms (each_50ms called meanwhile), until DONE. */
long fork_kv_long(const char *line, const char *key);
const char *fork_kv_str(const char *line, const char *key, char *out, size_t size);
void fork_note_line(struct fork_run *r, const char *line);
int fork_fx_collect(struct fork_run *r, int ms, void (*each_50ms)(struct fork_run *, void *),
		    void *ctx);
void fork_fx_require_done(struct fork_run *r, int ms, void (*each_50ms)(struct fork_run *, void *),
			  void *ctx);
void fork_fx_go_and_finish(struct fork_run *r, int ms);
/* The children the fixture reported, and what tgattach wrote: directories, process.mem
 * lines in a time window, meta values, a function in a .stack file. */
struct fork_child *fork_find_child(struct fork_run *r, pid_t pid);
int fork_count_kind(struct fork_run *r, const char *kind);
int fork_is_python_kind(const char *kind);
int fork_list_dirs(const char *out, pid_t *pids, int max);
int fork_has_dir(const char *out, pid_t pid);
int fork_mem_lines(const char *dir, double from, double to, int *in_window);
const char *fork_meta_value(const char *meta, const char *key, char *out, size_t size);
int fork_stack_has(const char *dir, const char *func, const char *only_file);
/* Asserting checks: a child's directory (meta pid= and parent=, process.mem lines, func
 * in its stacks), no directory tgattach should not have written, children traced from
 * their first instruction. */
void fork_check_process_dir(struct fork_run *r, pid_t pid, pid_t parent, int min_mem,
			    const char *func);
void fork_check_no_stray_dirs(struct fork_run *r);
void fork_check_traced_from_birth(struct fork_run *r, const char *kind, long want);

#endif
