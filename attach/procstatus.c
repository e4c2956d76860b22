/* procstatus.c: see procstatus.h. */
#include "attach/procstatus.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"

/* /proc/ID/NAME into buf, NUL-terminated; the bytes read, or -1 with errno. */
static ssize_t read_proc(pid_t id, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t got;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)id, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	got = read(fd, buf, size - 1);
	close(fd);
	if (got < 0)
		return -1;
	buf[got] = '\0';
	return got;
}

int procstatus_read(pid_t tid, char *buf, size_t size)
{
	return read_proc(tid, "status", buf, size) < 0 ? -1 : 0;
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
	char raw[64];
	ssize_t got = read_proc(pid, "comm", raw, sizeof raw);

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
	char st[1024];
	unsigned long flags = 0;
	char *p;

	if (read_proc(pid, "stat", st, sizeof st) <= 0)
		return 0;
	p = strrchr(st, ')'); /* comm may hold anything, even ')' */
	/* after ")": state ppid pgrp session tty_nr tpgid flags */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return 0;
	return flags;
}
