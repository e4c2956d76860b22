/* outthread.h: the thread writers of sampler/output, found by TID, and the registry of the
 * thread file names taken in this run.
 *
 * A thread's base file name is its name, tg_escape_filename()d; a name starting with
 * "process." (which readers take for the process trace) has that dot written "%2e"; a
 * thread named "process", or whose name is already taken in this run, gets "@TID" appended
 * (then "-2", "-3", ... should that be taken too).  A name stays taken for the whole run,
 * after its thread is done. */
#ifndef TG_OUTTHREAD_H
#define TG_OUTTHREAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "sampler/linefile.h"

struct output_thread {
	uint64_t tid;
	struct output_thread *next; /* in the registry's hash chain */
	char *base;		    /* the base file name */
	struct linefile stack, mem; /* BASE.stack, BASE.mem */
};

struct outthread_name;

struct outthread_reg {
	struct output_thread **tids; /* hash chains by tid */
	size_t tid_buckets, ntids;
	struct outthread_name **names; /* base names taken in this run */
	size_t name_buckets, nnames;
	struct buf scratch;
};

void outthread_init(struct outthread_reg *r);
/* The writer registered for tid; if none, a new one, named after name[0..namelen) (any
 * bytes) and registered.  Its files are not opened. */
struct output_thread *outthread_get(struct outthread_reg *r, uint64_t tid, const char *name,
				    size_t namelen);
/* Unregisters th (its name stays taken).  Its files must be closed before
 * outthread_free(). */
void outthread_forget(struct outthread_reg *r, struct output_thread *th);
void outthread_free(struct output_thread *th);
/* Frees every registered writer (files closed) and every name. */
void outthread_clear(struct outthread_reg *r);

#endif
