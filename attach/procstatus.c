/* procstatus.c: see procstatus.h. */
#include "attach/procstatus.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/smallfile.h"

/* /proc/ID/NAME into buf, NUL-terminated; the bytes read, or -1 with errno. */
static ssize_t read_proc(pid_t id, const char *name, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)id, name);
	return tg_read_small(path, buf, size);
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

/* Children listed in one /proc/PID/task/TID/children file, appended to out. */
static size_t add_children(const char *path, pid_t *out, size_t n, size_t max)
{
	char text[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return n;
	ssize_t got = read(fd, text, sizeof text - 1);
	close(fd);
	if (got <= 0)
		return n;
	text[got] = '\0';
	for (char *p = text, *end; n < max; p = end) {
		long c = strtol(p, &end, 10);
		if (end == p || c <= 0)
			break;
		size_t k = 0;
		while (k < n && out[k] != (pid_t)c)
			k++;
		if (k == n)
			out[n++] = (pid_t)c;
	}
	return n;
}

size_t procstatus_children(pid_t pid, pid_t *out, size_t max)
{
	char path[96];
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || strlen(de->d_name) > 12)
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/children", (int)pid, de->d_name);
		n = add_children(path, out, n, max);
	}
	closedir(d);
	return n;
}
