/* procstatus.h: what /proc says about a thread or process (status, stat, comm), read
 * with one open/read/close each.  Any thread id works where a pid is asked. */
#ifndef TG_PROCSTATUS_H
#define TG_PROCSTATUS_H

#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"

/* /proc/TID/status into buf (NUL-terminated); 0, or -1 with errno. */
int procstatus_read(pid_t tid, char *buf, size_t size);
/* The number in the line "Name:\tVALUE" of a status text, or -1. */
long procstatus_long(const char *status, const char *name);
/* The state letter of a status text (R, S, D, T, t, Z, X...), or '\0'. */
char procstatus_state(const char *status);
/* comm of pid appended to out, escaped (the process chose it), or "?". */
void procstatus_comm(pid_t pid, struct buf *out);
/* The children of process pid (the children files of every thread in /proc/PID/task's), at most
 * max, into out; their number (0 when unreadable). */
size_t procstatus_children(pid_t pid, pid_t *out, size_t max);
/* The flags field of /proc/PID/stat (PF_*), 0 when unreadable. */
unsigned long procstatus_flags(pid_t pid);

#endif
