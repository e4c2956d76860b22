/* proc_util.h: child processes for the end-to-end tests.
 *
 * Spawn a program with its stdin and stdout on pipes, talk to it one line at a time with
 * timeouts, read fields of /proc/PID/status and /proc/PID/task/, build a C target program
 * at run time, kill and reap.  Nothing here calls Criterion: every function reports
 * failure by its return value, so it is usable in forked helper processes too. */
#ifndef TG_E2E_PROC_UTIL_H
#define TG_E2E_PROC_UTIL_H

#include <stddef.h>
#include <sys/types.h>

struct proc {
	pid_t pid;	/* 0 once reaped */
	int to_child;	/* the child's stdin, -1 when closed */
	int from_child; /* the child's stdout, -1 when closed */
	char buf[4096]; /* output read but not yet returned as lines */
	size_t len;
};

/* Start argv (argv[0] searched in PATH) with stdin/stdout on pipes, stderr inherited.
 * The child dies with the calling thread (PR_SET_PDEATHSIG) and dumps no core.  0 or
 * -1 (errno set). */
int proc_spawn(struct proc *p, char *const argv[]);

/* fork() for a helper process of a test (a second tracer, a tracer run as another
 * user...): in the child, SIGKILL is armed for when the calling thread ends, so a test
 * that fails half-way never leaves its helpers behind.  Returns what fork() returns.
 * A child that changes its credentials (setuid) must call proc_die_with_parent() again:
 * the kernel clears the setting then. */
pid_t proc_fork_helper(void);
/* Arm SIGKILL for when the parent ends; 0, or -1 when it already has. */
int proc_die_with_parent(pid_t parent);

/* Write text to the child's stdin.  0 or -1. */
int proc_send(struct proc *p, const char *text);

/* Next line of the child's stdout without its newline, waiting at most timeout_ms.
 * Returns its length, or -1 on timeout, EOF or error.  A line longer than size is cut. */
int proc_read_line(struct proc *p, char *line, size_t size, int timeout_ms);

/* Read lines until one starts with prefix (others are skipped); that line is copied to
 * line (may be NULL).  0, or -1 when timeout_ms passed first or the pipe closed. */
int proc_wait_line(struct proc *p, const char *prefix, char *line, size_t size, int timeout_ms);
/* proc_spawn, then its "READY" line within 15 s; 0 when both happened. */
int proc_spawn_ready(struct proc *p, char *const argv[]);

/* Wait up to timeout_ms (< 0: forever) for the child to end; *status gets its wait
 * status.  0 when reaped, -1 on timeout or when it is not (any more) our child. */
int proc_wait_exit(struct proc *p, int timeout_ms, int *status);

/* Kill (SIGKILL) and reap the child if it is still our child, close the pipes.  Never
 * signals a pid that was already reaped by someone else.  Safe to call twice. */
void proc_reap(struct proc *p);

/* Field "name" of /proc/TID/status (any thread id), its value with leading blanks
 * skipped, into out.  0, or -1 when the thread or field does not exist. */
int proc_status_field(pid_t tid, const char *name, char *out, size_t size);
/* The same field as a number, or -1. */
long proc_status_long(pid_t tid, const char *name);
/* Numeric field `field` (from 4, as proc(5) counts them) of /proc/TID/stat, or -1. */
long proc_stat_long(pid_t tid, int field);
/* The state letter (R S D T t Z X ...) of tid, or '\0' when it does not exist. */
char proc_state(pid_t tid);
/* Thread ids listed in /proc/PID/task, up to max; returns how many (0 when gone). */
size_t proc_tasks(pid_t pid, pid_t *out, size_t max);
/* Open descriptors of pid, or -1. */
int proc_count_fds(pid_t pid);

/* Compile one C file with `cc -O1 -pthread extra` into a fresh temporary directory;
 * exe receives the executable's path.  0 or -1 (compiler output goes to stderr). */
int proc_build_c(const char *src, const char *extra_flags, char *exe, size_t size);
/* Remove an executable made by proc_build_c and its directory. */
void proc_build_clean(const char *exe);

/* Path of file `name` in the directory of the source file `this_file` (pass __FILE__).
 * __FILE__ is relative to the directory the build ran in (the repository root); when the
 * tests run elsewhere, set $TG_SRCDIR to that directory.  Returns out. */
const char *proc_src_path(const char *this_file, const char *name, char *out, size_t size);

/* Milliseconds on the monotonic clock. */
long proc_now_ms(void);

#endif
