/* trace_check.c: see trace_check.h. */
#include "attach/trace_check.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "attach/procstatus.h"
#include "common/buf.h"

#define PF_KTHREAD_FLAG 0x00200000u

/* TracerPid names a thread (another tgattach traces from a thread of its own): the user
 * wants the process. */
int trace_err_traced(pid_t pid, long tracer, struct tg_err *err)
{
	struct buf comm = BUF_INIT;
	char st[4096];
	long process = tracer;

	if (procstatus_read((pid_t)tracer, st, sizeof st) == 0 && procstatus_long(st, "Tgid") > 0)
		process = procstatus_long(st, "Tgid");
	procstatus_comm((pid_t)process, &comm);
	tg_err_set(err, TG_E_TRACED,
		   "attach to process %d: already traced by process %ld (%s); detach that "
		   "debugger or profiler first",
		   (int)pid, process, buf_cstr(&comm));
	buf_free(&comm);
	return -1;
}

int trace_err_perm(pid_t pid, struct tg_err *err)
{
	char scope[16];
	ssize_t got = -1;
	int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		got = read(fd, scope, sizeof scope - 1);
		close(fd);
	}
	if (procstatus_flags(pid) & PF_KTHREAD_FLAG)
		return tg_err_set(err, TG_E_PERM, "attach to process %d: it is a kernel thread",
				  (int)pid);
	errno = EPERM;
	if (got <= 0)
		return tg_err_sys(
		    err, TG_E_PERM,
		    "attach to process %d: ptrace denied (needs CAP_SYS_PTRACE or the "
		    "same user; kernel.yama.ptrace_scope is not set on this kernel)",
		    (int)pid);
	scope[got] = '\0';
	scope[strcspn(scope, "\n")] = '\0';
	return tg_err_sys(err, TG_E_PERM,
			  "attach to process %d: ptrace denied (needs CAP_SYS_PTRACE, or the same "
			  "user and kernel.yama.ptrace_scope 0; it is %s)",
			  (int)pid, scope);
}

/* pid is a process we may try to seize: exists, is a thread group, is not us, untraced. */
int trace_check_target(pid_t pid, struct tg_err *err)
{
	char st[4096];
	long tgid, tracer;

	if (pid <= 0)
		return tg_err_set(err, TG_E_NOPROC, "attach to process %d: no such process",
				  (int)pid);
	if (procstatus_read(pid, st, sizeof st) < 0) {
		if (errno == ENOENT || errno == ESRCH)
			return tg_err_set(err, TG_E_NOPROC, "attach to process %d: no such process",
					  (int)pid);
		return tg_err_sys(err, TG_E_PERM, "attach to process %d: read /proc/%d/status",
				  (int)pid, (int)pid);
	}
	tgid = procstatus_long(st, "Tgid");
	if (tgid != pid)
		return tg_err_set(err, TG_E_USAGE,
				  "attach to process %d: it is a thread of process %ld; give the "
				  "process id",
				  (int)pid, tgid);
	if (pid == getpid())
		return tg_err_set(err, TG_E_USAGE, "attach to process %d: that is tgattach itself",
				  (int)pid);
	tracer = procstatus_long(st, "TracerPid");
	if (tracer > 0)
		return trace_err_traced(pid, tracer, err);
	return 0;
}
