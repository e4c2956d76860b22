/* trace_check.h: trace.c's checks and errors before and during the seize: is this a
 * process we may try to trace, and, when the kernel says no, why (in words a user can act
 * on).  Internal to attach/. */
#ifndef TG_TRACE_CHECK_H
#define TG_TRACE_CHECK_H

#include <sys/types.h>

#include "common/err.h"

/* pid exists, is a thread group leader, is not us, and is not traced; else -1 with err
 * (TG_E_NOPROC, TG_E_USAGE, TG_E_PERM, TG_E_TRACED). */
int trace_check_target(pid_t pid, struct tg_err *err);
/* pid is traced by thread tracer: TG_E_TRACED naming the tracer's process. */
int trace_err_traced(pid_t pid, long tracer, struct tg_err *err);
/* PTRACE_SEIZE of pid said EPERM: TG_E_PERM naming ptrace_scope and CAP_SYS_PTRACE (or
 * saying it is a kernel thread). */
int trace_err_perm(pid_t pid, struct tg_err *err);

#endif
