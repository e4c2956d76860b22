#include "common/rdopen.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int tg_rdopen_fd(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = fstat(fd, &st) < 0 ? errno : EINVAL;
		close(fd);
		errno = e;
		return -1;
	}
	/* a regular file never blocks: the flag only mattered for the open */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

FILE *tg_rdopen(const char *path, int code, struct tg_err *err)
{
	int fd = tg_rdopen_fd(path);

	if (fd < 0) {
		if (errno == EINVAL)
			tg_err_set(err, code, "opening %s: not a regular file", path);
		else
			tg_err_sys(err, code, "opening %s", path);
		return NULL;
	}
	FILE *fp = fdopen(fd, "r");
	if (!fp) {
		tg_err_sys(err, code, "opening %s", path);
		close(fd);
	}
	return fp;
}
