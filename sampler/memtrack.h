/* memtrack.h: the memory side of a recording: what the process holds at each sample (for
 * process.mem and process.alloc) and which thread is charged with each change (for the
 * THREAD.mem lines).
 *
 * Two metrics (docs/memory.md): rss, resident memory; heap, the bytes in pymalloc blocks
 * in use plus the anonymous memory outside pymalloc's arenas.  heap needs a walk over
 * every pool header, which costs about 0.7 us per 16 KiB pool: walks get at most a
 * twentieth of the time (a budget), so a large heap is walked every few samples.
 *
 * Between stack samples, micro-samples (memtrack_micro, about 1000 a second) read a quick
 * form of the metric (rss itself, or for heap the pools in use from the arena objects
 * alone), the GIL holder and the CPU time of each thread, so that each change is charged
 * to the threads that ran in that millisecond; the exact value read at a stack sample
 * corrects what the quick form missed (sampler/attrib.h). */
#ifndef TG_MEMTRACK_H
#define TG_MEMTRACK_H

#include <stdint.h>
#include <sys/types.h>

#include "attach/remote.h"
#include "common/err.h"
#include "sampler/alloc.h"
#include "sampler/walk.h"
#include "symbols/pytarget.h"

enum memtrack_metric { MEMTRACK_DEFAULT = 0, MEMTRACK_RSS, MEMTRACK_HEAP };

/* The columns of process.alloc after the time. */
enum memtrack_col {
	MT_RSS,	       /* resident bytes */
	MT_ANON,       /* anonymous resident bytes */
	MT_HEAP,       /* the heap metric */
	MT_POOL_BYTES, /* pools in use x pool size (the quick reading; every sample) */
	MT_ALLOC0,     /* then the fields of enum alloc_field, in order */
	MT_NCOLS = MT_ALLOC0 + ALLOC_NFIELDS
};

struct memtrack_row {
	uint64_t v[MT_NCOLS];
	uint64_t valid; /* bit (1 << column) for the values read and checked */
};

struct memtrack_opts {
	pid_t pid;
	struct remote *r;
	const struct py_target *t;
	enum memtrack_metric metric; /* MEMTRACK_DEFAULT: heap where readable, else rss */
	double micro_hz;	     /* micro-samples per second; 0: none */
};

struct memtrack_stats {
	uint64_t samples, micro_samples, walks, discarded;
	double sample_s, walk_s, micro_s; /* time spent in each */
	int64_t unattributed;		  /* bytes no thread could be charged with */
};

struct memtrack;

/* Fails (TG_E_LAYOUT) when heap is asked for and the allocator cannot be read. */
struct memtrack *memtrack_new(const struct memtrack_opts *o, struct tg_err *err);
void memtrack_free(struct memtrack *mt);

enum memtrack_metric memtrack_metric(const struct memtrack *mt);
struct alloc_reader *memtrack_alloc(struct memtrack *mt);
int memtrack_heap_available(const struct memtrack *mt);
const char *memtrack_col_name(enum memtrack_col c);

/* A micro-sample.  1 when the target is gone, else 0. */
int memtrack_micro(struct memtrack *mt);

/* At a stack sample, before the stack walk: read the memory into row.  1 when the target
 * is gone, else 0. */
int memtrack_read(struct memtrack *mt, struct memtrack_row *row);

/* After the stack walk: charged[i], the change charged to s->threads[i] since the last
 * call.  Without a call (the walk failed) the change waits for the next one. */
void memtrack_charge(struct memtrack *mt, const struct walk_sample *s, int64_t *charged);

void memtrack_stats(const struct memtrack *mt, struct memtrack_stats *out);

#endif
