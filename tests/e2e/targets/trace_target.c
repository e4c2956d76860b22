/* trace_target.c: the program that test_trace.c traces, built by the test at run time
 * (tests/e2e/targets/ is not part of the e2e test binary).
 *
 * Usage: trace_target NTHREADS [zombie-leader]
 * Starts NTHREADS workers (odd ones spin a little, even ones sleep), then prints
 * "ready PID NTASKS".  One-byte commands on stdin, answers on stdout:
 *   p  "pong"
 *   t  start a worker: "thread TID"
 *   c  start a thread that keeps creating short-lived threads: "churn"
 *   f  fork a child that waits to be killed: "child PID"
 *   e  a worker thread (not the leader) execs this program again, which prints "ready"
 *   s  die of SIGSEGV
 *   z  (main thread only) pass stdin to a new thread, say "leader-exit", pthread_exit
 *   q  exit(0)
 * SIGUSR1: the handler writes "usr1".  EOF on stdin: exit(0).
 * zombie-leader: the main thread passes stdin to a worker and calls pthread_exit, so the
 * process lives on with a zombie leader. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static char **self_argv;

static void say(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n)
		_exit(2);
}

static void on_usr1(int sig)
{
	(void)sig;
	if (write(1, "usr1\n", 5) != 5)
		_exit(2);
}

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void *worker(void *arg)
{
	volatile unsigned long x = 0;

	for (;;) {
		if (arg)
			for (int i = 0; i < 100000; i++)
				x++;
		nap_us(1000);
	}
	return NULL;
}

struct start {
	void *(*fn)(void *);
	void *arg;
	pid_t tid;
	sem_t started;
};

static void *trampoline(void *p)
{
	struct start *s = p;
	void *(*fn)(void *) = s->fn;
	void *arg = s->arg;

	s->tid = gettid();
	sem_post(&s->started);
	return fn(arg);
}

/* Start a detached thread running fn(arg); its tid. */
static pid_t start_thread(void *(*fn)(void *), void *arg)
{
	struct start s = {fn, arg, 0, {{0}}};
	pthread_t th;

	sem_init(&s.started, 0, 0);
	if (pthread_create(&th, NULL, trampoline, &s) != 0)
		_exit(3);
	pthread_detach(th);
	while (sem_wait(&s.started) < 0 && errno == EINTR)
		;
	sem_destroy(&s.started);
	return s.tid;
}

static void *short_lived(void *arg)
{
	(void)arg;
	nap_us(300);
	return NULL;
}

static void *churn(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t th;
		if (pthread_create(&th, NULL, short_lived, NULL) == 0)
			pthread_detach(th);
		nap_us(1000);
	}
	return NULL;
}

static void *exec_again(void *arg)
{
	(void)arg;
	execv("/proc/self/exe", self_argv);
	_exit(4);
}

static void fork_child(void)
{
	pid_t parent = getpid();
	pid_t child = fork();

	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(0);
		close(1);
		for (;;)
			pause();
	}
	say("child %d", (int)child);
}

static void *commands(void *arg);

static void *commands_quiet(void *arg)
{
	(void)arg;
	return commands("quiet");
}

static void *commands(void *arg)
{
	char c;

	if (!arg)
		say("ready %d %d", (int)getpid(), count_tasks());
	for (;;) {
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			exit(0);
		switch (c) {
		case 'p':
			say("pong");
			break;
		case 't':
			say("thread %d", (int)start_thread(worker, NULL));
			break;
		case 'c':
			start_thread(churn, NULL);
			say("churn");
			break;
		case 'f':
			fork_child();
			break;
		case 'e':
			start_thread(exec_again, NULL);
			break;
		case 's':
			*(volatile int *)(long)(c - 's') = 1; /* NULL */
			break;
		case 'z':
			if (gettid() != getpid())
				break;
			start_thread(commands_quiet, NULL);
			say("leader-exit");
			pthread_exit(NULL);
		case 'q':
			exit(0);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int n = argc > 1 ? atoi(argv[1]) : 2;

	self_argv = argv;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < n; i++)
		start_thread(worker, (void *)(long)(i % 2));
	if (argc > 2 && !strcmp(argv[2], "zombie-leader")) {
		start_thread(commands, NULL);
		pthread_exit(NULL);
	}
	commands(NULL);
	return 0;
}
