#include "common/rdopen.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *tg_rdopen(const char *path, int code, struct tg_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		tg_err_sys(err, code, "opening %s", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		tg_err_sys(err, code, "opening %s", path);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		tg_err_set(err, code, "opening %s: not a regular file", path);
		errno = EINVAL;
		return NULL;
	}
	/* a regular file never blocks: the flag only mattered for the open */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	FILE *fp = fdopen(fd, "r");
	if (!fp) {
		tg_err_sys(err, code, "opening %s", path);
		close(fd);
	}
	return fp;
}
