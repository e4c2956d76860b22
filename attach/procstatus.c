/* procstatus.c: see procstatus.h. */
#include "attach/procstatus.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"

/* /proc/TID/status (any thread id works there) into buf; 0 or -1 with errno. */
int procstatus_read(pid_t tid, char *buf, size_t size)
{
	char path[64];
	ssize_t got;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = read(fd, buf, size - 1);
	close(fd);
	if (got < 0)
		return -1;
	buf[got] = '\0';
	return 0;
}

/* The numeric value of "Name:\tVALUE" in a status text, or -1. */
long procstatus_long(const char *status, const char *name)
{
	size_t len = strlen(name);
	const char *p = status;

	while (p) {
		if (!strncmp(p, name, len) && p[len] == ':')
			return strtol(p + len + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

char procstatus_state(const char *status)
{
	const char *p = strstr(status, "\nState:");

	if (!p)
		return '\0';
	p += strlen("\nState:");
	while (*p == ' ' || *p == '\t')
		p++;
	return *p;
}

/* comm of pid, escaped: it is a name chosen by that process. */
void procstatus_comm(pid_t pid, struct buf *out)
{
	char path[64], raw[64];
	ssize_t got = -1;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = read(fd, raw, sizeof raw - 1);
		close(fd);
	}
	if (got <= 0) {
		buf_addstr(out, "?");
		return;
	}
	if (raw[got - 1] == '\n')
		got--;
	tg_escape_field(out, raw, (size_t)got);
}

unsigned long procstatus_flags(pid_t pid)
{
	char path[64], st[1024];
	unsigned long flags = 0;
	ssize_t got = -1;
	char *p;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = read(fd, st, sizeof st - 1);
		close(fd);
	}
	if (got <= 0)
		return 0;
	st[got] = '\0';
	p = strrchr(st, ')'); /* comm may hold anything, even ')' */
	/* after ")": state ppid pgrp session tty_nr tpgid flags */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return 0;
	return flags;
}
