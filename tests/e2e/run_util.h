/* run_util.h: helpers for end-to-end tests: start a fixture and wait for its ready line,
 * run tgattach and capture what it prints, find installed interpreters.  (Lower-level
 * process helpers are in proc_util.h.) */
#ifndef TG_RUN_UTIL_H
#define TG_RUN_UTIL_H

#include <sys/types.h>

#include "common/buf.h"

/* The ASan+UBSan tool the tests run (relative to the repository root). */
#define TG_BIN "./build/asan/tgattach"

struct fixture {
	pid_t pid;
	int out_fd;	/* the fixture's stdout */
	char line[256]; /* its ready line */
};

/* Start argv (argv[0] a path) with stdout on a pipe; wait up to timeout_s for a line that
 * starts with `ready`.  0 on success. */
int fixture_start(struct fixture *f, char *const argv[], const char *ready, double timeout_s);
/* SIGKILL and reap (safe to call twice). */
void fixture_stop(struct fixture *f);
/* Wait until the process has exactly n threads (0 on success). */
int fixture_wait_threads(pid_t pid, int n, double timeout_s);

/* fixtures/threads.py (named threads parked in known places) under the first of pyenv
 * 3.12, pyenv 3.11 or /usr/bin/python3, its truth written to DIR/truth.txt; waits for its
 * READY line.  0 on success. */
int threads_fixture_start(struct fixture *f, const char *dir);

/* Run argv, capture stdout and stderr (separately), wait up to timeout_s.  Returns the
 * exit status (0..255), or 128+signal, or -1 on timeout (the child is killed). */
int run_capture(char *const argv[], struct buf *out, struct buf *err, double timeout_s);

/* Every thread of pid: TracerPid 0 and State not t/T.  1 if so. */
int proc_all_untraced_running(pid_t pid);

/* Path of the python executable of an installed pyenv version whose name starts with
 * `prefix` ("3.11."), written into out; 0 if found. */
int pyenv_python(const char *prefix, char *out, size_t len);

/* Does a THREAD.stack file of DIR/PID hold a call of func? */
int stack_holds(const char *dir, pid_t pid, const char *func);

/* A fresh temporary directory (mkdtemp under /tmp); returns a malloc'd path. */
char *temp_dir(const char *tag);
/* rm -rf path (no shell). */
void remove_tree(const char *path);

#endif
