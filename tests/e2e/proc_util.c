/* proc_util.c: see proc_util.h. */
#include "tests/e2e/proc_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int proc_die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return getppid() == parent ? 0 : -1; /* it may have ended before the prctl */
}

pid_t proc_fork_helper(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0 && proc_die_with_parent(parent) < 0)
		_exit(0);
	return pid;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(int in[2], int out[2], pid_t parent, char *const argv[])
{
	struct rlimit no_core = {0, 0};

	if (proc_die_with_parent(parent) < 0)
		_exit(127);
	setrlimit(RLIMIT_CORE, &no_core);
	if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
		_exit(127);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	execvp(argv[0], argv);
	_exit(127);
}

int proc_spawn(struct proc *p, char *const argv[])
{
	int in[2], out[2];
	pid_t parent = getpid();

	memset(p, 0, sizeof *p);
	p->to_child = p->from_child = -1;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	p->pid = fork();
	if (p->pid == 0)
		exec_child(in, out, parent, argv);
	close(in[0]);
	close(out[1]);
	if (p->pid < 0) {
		close(in[1]);
		close(out[0]);
		p->pid = 0;
		return -1;
	}
	p->to_child = in[1];
	p->from_child = out[0];
	return 0;
}

int proc_send(struct proc *p, const char *text)
{
	size_t len = strlen(text), done = 0;

	while (done < len) {
		ssize_t w = write(p->to_child, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* A complete line from p->buf into line, if there is one. */
static int take_line(struct proc *p, char *line, size_t size)
{
	char *nl = memchr(p->buf, '\n', p->len);
	size_t n, copy;

	if (!nl && p->len < sizeof p->buf)
		return -1;
	n = nl ? (size_t)(nl - p->buf) : p->len; /* a full buffer is returned as a line */
	copy = n < size - 1 ? n : size - 1;
	memcpy(line, p->buf, copy);
	line[copy] = '\0';
	if (nl)
		n++;
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
	return (int)copy;
}

int proc_read_line(struct proc *p, char *line, size_t size, int timeout_ms)
{
	long deadline = proc_now_ms() + timeout_ms;

	for (;;) {
		int got = take_line(p, line, size);
		struct pollfd pfd = {p->from_child, POLLIN, 0};
		long left = deadline - proc_now_ms();
		ssize_t r;

		if (got >= 0)
			return got;
		if (p->from_child < 0 || left < 0)
			return -1;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		r = read(p->from_child, p->buf + p->len, sizeof p->buf - p->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p->len += (size_t)r;
	}
}

int proc_wait_line(struct proc *p, const char *prefix, char *line, size_t size, int timeout_ms)
{
	long deadline = proc_now_ms() + timeout_ms;
	char tmp[512];

	if (!line) {
		line = tmp;
		size = sizeof tmp;
	}
	for (;;) {
		long left = deadline - proc_now_ms();
		if (left < 0 || proc_read_line(p, line, size, (int)left) < 0)
			return -1;
		if (!strncmp(line, prefix, strlen(prefix)))
			return 0;
	}
}

int proc_wait_exit(struct proc *p, int timeout_ms, int *status)
{
	long deadline = proc_now_ms() + timeout_ms;
	int st;

	if (!p->pid)
		return -1;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == p->pid) {
			p->pid = 0;
			if (status)
				*status = st;
			return 0;
		}
		if (proc_now_ms() >= deadline)
			return -1;
		sleep_ms(2);
	}
}

void proc_reap(struct proc *p)
{
	siginfo_t si;

	/* Still our child (alive or zombie)?  Then its pid cannot have been reused. */
	memset(&si, 0, sizeof si);
	if (p->pid > 0 && waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->pid = 0;
	if (p->to_child >= 0)
		close(p->to_child);
	if (p->from_child >= 0)
		close(p->from_child);
	p->to_child = p->from_child = -1;
	p->len = 0;
}

int proc_status_field(pid_t tid, const char *name, char *out, size_t size)
{
	char path[64], line[512];
	size_t len = strlen(name);
	int found = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		if (strncmp(line, name, len) || line[len] != ':')
			continue;
		char *v = line + len + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, size, "%s", v);
		found = 0;
	}
	fclose(f);
	return found;
}

long proc_status_long(pid_t tid, const char *name)
{
	char v[64];

	return proc_status_field(tid, name, v, sizeof v) < 0 ? -1 : strtol(v, NULL, 10);
}

long proc_stat_long(pid_t tid, int field)
{
	char path[64], text[1024];
	ssize_t n;

	if (field < 4) /* 1 and 2 are the pid and the name, 3 the state letter */
		return -1;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	char *p = strrchr(text, ')'); /* the name may hold anything, even ')' */
	for (int k = 2; p && k < field; k++)
		p = strchr(p + 1, ' ');
	return p ? strtol(p + 1, NULL, 10) : -1;
}

char proc_state(pid_t tid)
{
	char v[64];

	return proc_status_field(tid, "State", v, sizeof v) < 0 ? '\0' : v[0];
}

size_t proc_tasks(pid_t pid, pid_t *out, size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (!*end && tid > 0)
			out[n++] = (pid_t)tid;
	}
	closedir(d);
	return n;
}

int proc_build_c(const char *src, const char *extra_flags, char *exe, size_t size)
{
	char dir[] = "/tmp/tg-e2e-XXXXXX", cmd[4096];
	const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	int n;

	if (!mkdtemp(dir))
		return -1;
	n = snprintf(exe, size, "%s/%.*s", dir, (int)strcspn(base, "."), base);
	if (n < 0 || (size_t)n >= size)
		return -1;
	n = snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O1 -g -pthread %s -o '%s' '%s' 1>&2",
		     extra_flags ? extra_flags : "", exe, src);
	if (n < 0 || (size_t)n >= sizeof cmd || system(cmd) != 0) {
		rmdir(dir);
		return -1;
	}
	return 0;
}

void proc_build_clean(const char *exe)
{
	char dir[4096];
	char *slash;

	snprintf(dir, sizeof dir, "%s", exe);
	unlink(exe);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		rmdir(dir);
	}
}

const char *proc_src_path(const char *this_file, const char *name, char *out, size_t size)
{
	const char *root = getenv("TG_SRCDIR");
	const char *slash = strrchr(this_file, '/');
	int dirlen = slash ? (int)(slash - this_file) : 0;

	if (this_file[0] != '/' && root && *root)
		snprintf(out, size, "%s/%.*s%s%s", root, dirlen, this_file, slash ? "/" : "", name);
	else
		snprintf(out, size, "%.*s%s%s", dirlen, this_file, slash ? "/" : "", name);
	return out;
}

int proc_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int proc_spawn_ready(struct proc *p, char *const argv[])
{
	char line[128];

	if (proc_spawn(p, argv) != 0)
		return -1;
	return proc_wait_line(p, "READY", line, sizeof line, 15000);
}
