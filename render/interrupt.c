#include "render/interrupt.h"

#include <signal.h>
#include <stddef.h>

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOP (sizeof stop_signals / sizeof stop_signals[0])

int interrupt_pending(void)
{
	sigset_t set;

	if (sigpending(&set) < 0)
		return 0;
	for (size_t i = 0; i < NSTOP; i++)
		if (sigismember(&set, stop_signals[i]) == 1)
			return stop_signals[i];
	return 0;
}

void interrupt_exit(void)
{
	int signo = interrupt_pending();
	sigset_t set;

	if (!signo)
		return;
	signal(signo, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, signo);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	/* if it was ignored rather than blocked: deliver it again, now with SIG_DFL */
	raise(signo);
}

void interrupt_child_defaults(void)
{
	sigset_t none;

	/* dispositions are left alone: exec resets handlers, and a signal the shell chose to
	 * ignore (a background job) stays ignored */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}
