/* The first bytes of a small file (smallfile.h). */
#include "common/smallfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t tg_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, buf, size - 1);
	int e = errno;
	close(fd);
	if (got < 0) {
		errno = e;
		return -1;
	}
	buf[got] = '\0';
	return got;
}
