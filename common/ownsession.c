/* tgattach in a session of its own (ownsession.h). */
#include "common/ownsession.h"

#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/autogroup.h"

/* The signals that end a recording, and SIGQUIT, passed on to the child. */
static const int relayed[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NRELAYED (sizeof relayed / sizeof *relayed)

/* The child's pid, for the parent's handlers (set before they are installed). */
static volatile sig_atomic_t child_pid;

static void relay(int sig)
{
	int e = errno;

	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	errno = e;
}

static int may_lower_nice(int nice)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	struct rlimit lim;

	memset(d, 0, sizeof d);
	if (syscall(SYS_capget, &h, d) == 0 &&
	    (d[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))))
		return 1;
	if (getrlimit(RLIMIT_NICE, &lim) < 0)
		return 0;
	/* RLIMIT_NICE allows nice values down to 20 - its value */
	return lim.rlim_cur == RLIM_INFINITY || 20 - (long long)lim.rlim_cur <= nice;
}

int ownsession_wanted(int nice)
{
	return isatty(STDIN_FILENO) && getsid(0) != getpid() && autogroup_enabled() &&
	       may_lower_nice(nice);
}

/* The parent: waits for the child, passing signals on, and ends as it did. */
static void wait_child(pid_t pid, const sigset_t *old)
{
	struct sigaction sa;
	int status;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = relay;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	child_pid = pid;
	for (size_t i = 0; i < NRELAYED; i++)
		sigaction(relayed[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, old, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(70); /* cannot happen: the child is ours */
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	int sig = WTERMSIG(status);
	signal(sig, SIG_DFL);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	_exit(128 + sig);
}

int ownsession_enter(void)
{
	sigset_t block, old;
	pid_t parent = getpid(), pid;

	/* no signal between the fork and the parent's handlers: it waits, blocked */
	sigemptyset(&block);
	for (size_t i = 0; i < NRELAYED; i++)
		sigaddset(&block, relayed[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		errno = e;
		return -1;
	}
	if (pid > 0)
		wait_child(pid, &old); /* does not return */
	if (setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
		static const char msg[] = "tgattach: a session of its own: setsid failed\n";
		(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
		_exit(70);
	}
	if (getppid() != parent) /* the parent died before PDEATHSIG was set */
		raise(SIGTERM);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}
