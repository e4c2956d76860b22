/* err.h: the one error convention.
 *
 * Every fallible function takes a `struct tg_err *` last and returns -1 (or NULL) after
 * filling it with a one-line message "what failed: why[: errno text]" and an exit code
 * class.  The caller may prefix context with tg_err_wrap().  Nothing is global. */
#ifndef TG_ERR_H
#define TG_ERR_H

#include <stddef.h>

/* Exit codes, documented in the README and the man page. */
enum tg_exit {
	TG_OK = 0,
	TG_E_INTERNAL = 1,  /* unexpected failure */
	TG_E_USAGE = 2,     /* bad command line */
	TG_E_NOPROC = 3,    /* no such process, or it exited before attach */
	TG_E_PERM = 4,      /* ptrace or /proc access denied */
	TG_E_NOTPY = 5,     /* the process runs no CPython we can find */
	TG_E_LAYOUT = 6,    /* CPython found, but its memory layout could not be resolved */
	TG_E_OUTPUT = 7,    /* output directory unwritable, or a write failed (full disk) */
	TG_E_TRACED = 8,    /* another tracer (debugger, profiler) is attached */
	TG_E_DATA = 9,      /* a data file to render is missing or malformed */
	TG_E_GNUPLOT = 10,  /* gnuplot failed or is missing */
};

/* What every "permission denied" on a target says, so the user knows the two ways out. */
#define TG_PTRACE_PERM_HINT                                                                      \
	"needs CAP_SYS_PTRACE, or the same user with kernel.yama.ptrace_scope 0"

struct tg_err {
	int code;        /* enum tg_exit */
	int sys_errno;   /* errno at the failure, or 0 */
	char msg[512];
};

/* Set the error; returns -1 so callers can `return tg_err_set(...)`. */
int tg_err_set(struct tg_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errno)" with the errno current at the call. */
int tg_err_sys(struct tg_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "context: ". */
int tg_err_wrap(struct tg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tg_err_clear(struct tg_err *err);

#endif
