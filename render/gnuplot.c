#include "render/gnuplot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "render/interrupt.h"
#include "render/text.h"

#define STDERR_KEEP 65536
#define EXEC_FAILED 127
#define POLL_MS 100

/* In the child: only async-signal-safe calls until exec. */
static void child(const char *dir, const char *script, int errfd)
{
	char *const argv[] = {(char *)"gnuplot", (char *)script, NULL};
	const char *what = "cannot open /dev/null";
	int null;

	interrupt_child_defaults();
	null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		what = "cannot enter the work directory";
		if (dup2(null, 0) >= 0 && dup2(null, 1) >= 0 && dup2(errfd, 2) >= 0 &&
		    chdir(dir) == 0) {
			execvp("gnuplot", argv);
			what = "cannot execute gnuplot";
		}
	}
	const char *why = strerror(errno);
	if (write(errfd, what, strlen(what)) < 0 || write(errfd, ": ", 2) < 0 ||
	    write(errfd, why, strlen(why)) < 0 || write(errfd, "\n", 1) < 0)
		_exit(EXEC_FAILED);
	_exit(EXEC_FAILED);
}

/* Collects gnuplot's stderr until it closes it.  Returns 0, or -1 when a Ctrl-C is
 * pending (gnuplot may still be running). */
static int read_all(int fd, struct buf *out)
{
	char tmp[4096];
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t n;

	for (;;) {
		if (interrupt_pending())
			return -1;
		if (poll(&pfd, 1, POLL_MS) == 0)
			continue;
		n = read(fd, tmp, sizeof tmp);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0;
		if (out->len < STDERR_KEEP)
			buf_add(out, tmp, (size_t)n);
	}
}

/* Copies gnuplot's stderr to ours, one "gnuplot: " line per non-blank line, and leaves
 * the last non-blank line in *last. */
static void relay(const struct buf *text, struct buf *last)
{
	const char *s = buf_cstr(text);
	size_t len = text->len;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (s + i)) : len - i;
		size_t k = 0;
		while (k < n && (s[i + k] == ' ' || s[i + k] == '\t' || s[i + k] == '\r'))
			k++;
		if (k < n) {
			struct buf shown = BUF_INIT;
			text_display(&shown, s + i, n);
			fprintf(stderr, "gnuplot: %s\n", buf_cstr(&shown));
			buf_reset(last);
			buf_addstr(last, buf_cstr(&shown));
			buf_free(&shown);
		}
		i += n + 1;
	}
}

int gnuplot_run(const char *dir, const char *script, struct tg_err *err)
{
	struct buf out = BUF_INIT, last = BUF_INIT;
	int fds[2], status = 0, rc = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return tg_err_sys(err, TG_E_GNUPLOT, "running gnuplot: pipe");
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return tg_err_sys(err, TG_E_GNUPLOT, "running gnuplot: fork");
	}
	if (pid == 0)
		child(dir, script, fds[1]);
	close(fds[1]);
	if (read_all(fds[0], &out) < 0) {
		/* it is thrown away: no need to let it finish */
		kill(pid, SIGKILL);
		rc = tg_err_set(err, TG_E_GNUPLOT, "running gnuplot: interrupted");
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = tg_err_sys(err, TG_E_GNUPLOT, "running gnuplot: waitpid");
			goto done;
		}
	}
	if (rc < 0)
		goto done;
	relay(&out, &last);
	if (WIFSIGNALED(status))
		rc = tg_err_set(err, TG_E_GNUPLOT, "running gnuplot: killed by signal %d",
				WTERMSIG(status));
	else if (WEXITSTATUS(status) == EXEC_FAILED && strstr(buf_cstr(&last), "gnuplot"))
		rc = tg_err_set(err, TG_E_GNUPLOT, "running gnuplot: %s (is gnuplot installed?)",
				buf_cstr(&last));
	else if (WEXITSTATUS(status) != 0)
		rc = tg_err_set(err, TG_E_GNUPLOT, "running gnuplot: exit status %d: %s",
				WEXITSTATUS(status), last.len ? buf_cstr(&last) : "no message");
done:
	buf_free(&out);
	buf_free(&last);
	return rc;
}
