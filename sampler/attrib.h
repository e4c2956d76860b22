/* attrib.h: who grew the process.  Between two samples the change of the process's
 * memory is charged to the threads that could have caused it: those that ran on a CPU in
 * that interval (time from /proc/PID/task/TID/schedstat, in nanoseconds), in proportion
 * to their CPU time; if none ran measurably, the thread holding the GIL; else nobody (the
 * change is counted as unattributed).  Threads that slept or waited are never charged. */
#ifndef TG_ATTRIB_H
#define TG_ATTRIB_H

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "sampler/walk.h"

struct attrib;

struct attrib *attrib_new(pid_t pid);
void attrib_free(struct attrib *a);

/* Resident set size of the process now, in bytes.  -1 when it cannot be read (exited). */
int attrib_rss(struct attrib *a, uint64_t *rss);

/* Split `delta` bytes over the threads of sample s: charged[i] for s->threads[i].
 * Also advances every thread's CPU baseline. */
void attrib_charge(struct attrib *a, const struct walk_sample *s, int64_t delta,
		   int64_t *charged);

/* Bytes of change no thread could be charged with, since the start. */
int64_t attrib_unattributed(const struct attrib *a);

#endif
