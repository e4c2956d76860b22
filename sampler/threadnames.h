/* threadnames.h: Python thread names, read from each interpreter's
 * threading._active {ident: Thread} registry (the Thread's `_name`, and `_native_id`
 * where the version has it).  Threads not started through `threading` have no entry;
 * the caller falls back to /proc/PID/task/TID/comm. */
#ifndef TG_THREADNAMES_H
#define TG_THREADNAMES_H

#include <stdint.h>

#include "sampler/pyobj.h"

struct thread_names;

struct thread_names *threadnames_new(void);
void threadnames_free(struct thread_names *tn);

/* Re-read the registry of interpreter interp (replacing what was known for it). */
int threadnames_refresh(struct thread_names *tn, struct pyobj *p, uint64_t interp);

/* The same for the entries of one ident only (a new thread's): the Threads of the other
 * idents are not read, and what was known of them stays. */
int threadnames_refresh_ident(struct thread_names *tn, struct pyobj *p, uint64_t interp,
			      uint64_t ident);

/* 1 when interp's modules were readable but hold no `threading`: no thread there will
 * ever have a registry name, so there is no point waiting for one. */
int threadnames_no_registry(const struct thread_names *tn, uint64_t interp);

/* The name of thread ident in interp, or NULL; *native_id gets Thread._native_id or 0.
 * When want_native > 0 and the registry knows the thread's kernel TID, they must match:
 * a new thread can reuse a dead one's ident before the registry is read again. */
const char *threadnames_get(const struct thread_names *tn, uint64_t interp, uint64_t ident,
			    int64_t want_native, int64_t *native_id);

#endif
