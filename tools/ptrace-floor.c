/* ptrace-floor: the least a fork-following tracer can cost, for tools/bench_fork.py.
 *
 * Seizes one thread with the options tgattach sets, then does nothing but wait (blocking)
 * and continue every stop, re-injecting signals.  What a fork costs its parent under this
 * tracer is the kernel's part (the stop, two wake-ups across CPUs, the continue); whatever
 * tgattach adds beyond it is its own.  Ends (detaching by exiting) after SECONDS or on
 * SIGTERM/SIGINT.  Not a tool for anything else: it follows one thread of the target.
 *
 * Usage: ptrace-floor PID SECONDS */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	(void)sig;
	_exit(0); /* the kernel detaches every tracee of an exiting tracer */
}

int main(int argc, char **argv)
{
	long options =
	    PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
	pid_t pid;
	int status;

	if (argc != 3) {
		fprintf(stderr, "usage: ptrace-floor PID SECONDS\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	if (ptrace(PTRACE_SEIZE, pid, (void *)0, (void *)options) != 0) {
		perror("ptrace-floor: PTRACE_SEIZE");
		return 1;
	}
	signal(SIGALRM, on_alarm);
	signal(SIGTERM, on_alarm);
	signal(SIGINT, on_alarm);
	alarm((unsigned)atoi(argv[2]));
	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (!WIFSTOPPED(status))
			continue;
		int plain_signal = (status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP;
		ptrace(PTRACE_CONT, tid, (void *)0,
		       (void *)(long)(plain_signal ? WSTOPSIG(status) : 0));
	}
}
