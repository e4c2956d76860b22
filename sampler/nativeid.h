/* nativeid.h: kernel thread ids of sampled threads.  Thread states before 3.11 do not
 * record them, and a forked child's thread state keeps its parent's until CPython updates
 * it: glibc's struct pthread (whose address is the thread id) knows the real one, found
 * once by calibration against /proc/PID/task; a lone thread of a lone task is that task.
 * Every TID handed out is one of the process's tasks (the task list is read again when a
 * TID is not in it): the stack walker trusts it to tell whether the thread ran. */
#ifndef TG_NATIVEID_H
#define TG_NATIVEID_H

#include <sys/types.h>

#include "attach/remote.h"
#include "sampler/walk.h"

struct native_ids;

struct native_ids *nativeid_new(pid_t pid, struct remote *r);
void nativeid_free(struct native_ids *n);

/* Check every thread's native_id against the process's tasks; fill in the missing ones
 * (those from struct pthread in one batched read).  Needs only the threads' identity, not
 * their frames. */
void nativeid_fill(struct native_ids *n, struct walk_sample *s);

#endif
