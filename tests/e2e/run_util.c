#include "tests/e2e/run_util.h"

#include "tests/e2e/proc_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fork/exec with stdout (and optionally stderr) on pipes; signals unblocked in the child. */
static pid_t spawn(char *const argv[], int *out_fd, int *err_fd)
{
	int out[2], errp[2] = {-1, -1};
	sigset_t none;

	if (pipe2(out, O_CLOEXEC) < 0 || (err_fd && pipe2(errp, O_CLOEXEC) < 0))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		/* never outlive the test: a failed assertion must not leave a fixture behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* not the runner's terminal: tgattach behaves as under CI (common/ownsession.h) */
		int null = open("/dev/null", O_RDONLY);
		if (null > 0) {
			dup2(null, 0);
			close(null);
		}
		dup2(out[1], 1);
		if (err_fd)
			dup2(errp[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	*out_fd = out[0];
	if (err_fd) {
		close(errp[1]);
		*err_fd = errp[0];
	}
	return pid;
}

int fixture_start(struct fixture *f, char *const argv[], const char *ready, double timeout_s)
{
	size_t len = 0;
	double until = mono_now() + timeout_s;

	memset(f, 0, sizeof *f);
	f->pid = spawn(argv, &f->out_fd, NULL);
	if (f->pid < 0)
		return -1;
	while (mono_now() < until && len < sizeof f->line - 1) {
		struct pollfd p = {f->out_fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(f->out_fd, f->line + len, 1);
		if (n <= 0)
			break;
		if (f->line[len] == '\n') {
			f->line[len] = '\0';
			if (strncmp(f->line, ready, strlen(ready)) == 0)
				return 0;
			len = 0;
			continue;
		}
		len++;
	}
	fixture_stop(f);
	return -1;
}

void fixture_stop(struct fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		close(f->out_fd);
	}
	f->pid = 0;
}

static int count_threads(pid_t pid)
{
	char path[64];
	int n = 0;
	struct dirent *de;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

int fixture_wait_threads(pid_t pid, int n, double timeout_s)
{
	double until = mono_now() + timeout_s;

	while (mono_now() < until) {
		if (count_threads(pid) == n)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void drain(int fd, struct buf *into)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof chunk);

	if (n > 0 && into)
		buf_add(into, chunk, (size_t)n);
}

int run_capture(char *const argv[], struct buf *out, struct buf *err, double timeout_s)
{
	int out_fd, err_fd, status, open_fds = 2;
	double until = mono_now() + timeout_s;
	pid_t pid = spawn(argv, &out_fd, &err_fd);

	if (pid < 0)
		return -1;
	while (open_fds > 0 && mono_now() < until) {
		struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
		if (poll(p, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			char chunk[4096];
			ssize_t n = read(p[i].fd, chunk, sizeof chunk);
			if (n <= 0) {
				close(p[i].fd);
				if (i == 0)
					out_fd = -1;
				else
					err_fd = -1;
				open_fds--;
			} else if (i == 0 ? out != NULL : err != NULL) {
				buf_add(i == 0 ? out : err, chunk, (size_t)n);
			}
		}
		if (out_fd < 0 && err_fd < 0)
			break;
	}
	if (open_fds > 0) {
		kill(pid, SIGKILL);
		if (out_fd >= 0) {
			drain(out_fd, out);
			close(out_fd);
		}
		if (err_fd >= 0) {
			drain(err_fd, err);
			close(err_fd);
		}
		waitpid(pid, NULL, 0);
		return -1;
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int proc_all_untraced_running(pid_t pid)
{
	pid_t tids[1024];
	size_t n = proc_tasks(pid, tids, 1024);
	int ok = n > 0;

	for (size_t i = 0; i < n; i++) {
		char state = proc_state(tids[i]);
		if (proc_status_long(tids[i], "TracerPid") > 0 || state == 't' || state == 'T')
			ok = 0;
	}
	return ok;
}

int pyenv_python(const char *prefix, char *out, size_t len)
{
	const char *root = getenv("PYENV_ROOT");
	char dir[512];
	struct dirent *de;
	int found = -1;

	snprintf(dir, sizeof dir, "%s/versions", root && *root ? root : "/root/.pyenv");
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(out, len, "%s/%s/bin/python", dir, de->d_name);
			if (access(out, X_OK) == 0) {
				found = 0;
				break;
			}
		}
	closedir(d);
	return found;
}

char *temp_dir(const char *tag)
{
	char tmpl[256];

	snprintf(tmpl, sizeof tmpl, "/tmp/tgattach-%s-XXXXXX", tag);
	char *p = mkdtemp(tmpl);
	return p ? strdup(p) : NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void remove_tree(const char *path)
{
	if (path)
		nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int threads_fixture_start(struct fixture *f, const char *dir)
{
	char python[PATH_MAX], cwd[PATH_MAX], fixture[PATH_MAX + 32], truth[PATH_MAX + 32];

	if (pyenv_python("3.12.", python, sizeof python) < 0 &&
	    pyenv_python("3.11.", python, sizeof python) < 0)
		snprintf(python, sizeof python, "/usr/bin/python3");
	if (!getcwd(cwd, sizeof cwd))
		return -1;
	snprintf(fixture, sizeof fixture, "%s/fixtures/threads.py", cwd);
	snprintf(truth, sizeof truth, "%s/truth.txt", dir);
	char *argv[] = {python, fixture, truth, NULL};
	return fixture_start(f, argv, "READY", 30);
}

int stack_holds(const char *dir, pid_t pid, const char *func)
{
	char path[PATH_MAX], want[128];
	int found = 0;

	snprintf(path, sizeof path, "%s/%d", dir, (int)pid);
	snprintf(want, sizeof want, ":%s\n", func);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	for (struct dirent *de; !found && (de = readdir(d));) {
		if (!strstr(de->d_name, ".stack"))
			continue;
		char file[PATH_MAX + 256];
		snprintf(file, sizeof file, "%s/%s", path, de->d_name);
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		char *text = fstat(fd, &st) == 0 ? calloc(1, (size_t)st.st_size + 1) : NULL;
		if (text && read(fd, text, (size_t)st.st_size) == st.st_size)
			found = strstr(text, want) != NULL;
		free(text);
		close(fd);
	}
	closedir(d);
	return found;
}
