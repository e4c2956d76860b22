/* threadfam.h: threads whose names differ only by numbers, taken together.  A server that
 * starts a thread per request leaves thousands of threads named "Thread-719
 * (process_request_thread)", "Thread-720 (...)": one table or one key entry each would bury
 * the answer, so the renderers show such a family as one (render top's tables, render
 * memg's series). */
#ifndef TG_THREADFAM_H
#define TG_THREADFAM_H

#include <stddef.h>

#include "common/buf.h"
#include "render/recording.h"

/* The family of a name: the name with every run of ASCII digits written "N" ("Thread-12
 * (handler)" -> "Thread-N (handler)", "ThreadPoolExecutor-0_3" -> "ThreadPoolExecutor-N_N"),
 * a tree's "PID 123: " prefix (render/proctree.h) kept as it is.  Any bytes; appended to
 * out. */
void threadfam_key(const char *name, size_t len, struct buf *out);

struct threadfam {
	struct buf key;
	size_t *threads; /* indices into the recording's threads, ascending */
	size_t n;
	size_t no_stack; /* of those, threads without a .stack file */
};

/* The families of r's threads that have a .mem or a .stack file, each within one
 * directory (one process), in the order of their first thread (r's threads are sorted by
 * name).  Returns how many; free with
 * threadfam_free(*out, n). */
size_t threadfam_group(const struct recording *r, struct threadfam **out);
void threadfam_free(struct threadfam *f, size_t n);

/* What a family is shown as: its thread's name when it has one thread, else its key. */
void threadfam_title(const struct recording *r, const struct threadfam *f, struct buf *out);

#endif
