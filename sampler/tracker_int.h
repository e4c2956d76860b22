/* tracker_int.h: internal to the tracker's .c files (tracker.c: the feeding of samples, their
 * calls and returns; tracker_threads.c: which thread a walk is, and its name).  Not an API:
 * tracker.h is. */
#ifndef TG_TRACKER_INT_H
#define TG_TRACKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sampler/tracker.h"

#define PENDING_RETURNS 64

struct tframe {
	uint64_t addr, code;
	int64_t pos;	  /* instruction position at the last sample */
	const char *file; /* interned */
	const char *func; /* interned */
	int line;	  /* line at the last sample */
	int kept;	  /* passes the filter */
	int64_t mem_at_call;
	double first_when;  /* time of its call */
	uint32_t sightings; /* walks that saw it */
};

struct tthread {
	uint64_t tstate, interp, thread_id;
	uint64_t key;	    /* its writer's key (output_thread) */
	uint64_t name_hash; /* of the name it is written under */
	int64_t native_id;
	uint64_t seen;	     /* sample number of the last sighting */
	double last_when;    /* its time */
	int64_t mem;	     /* memory charged so far */
	int64_t mem_written; /* in process.charge */
	double charge_at;    /* when it was written there; 0: never */
	double hold_since;   /* a suspect return seen first then; 0: none */
	int from_start;	     /* its first frames are those it had when the recording began */
	/* returns seen at pend_when, not written yet: a release seen soon after is theirs */
	struct pending_return {
		struct tframe f;
		int64_t delta;
	} pend[PENDING_RETURNS];
	size_t npend;
	double pend_when;
	size_t pend_base; /* the depth they returned to: frames above it were called after */
	struct output_thread *out;
	size_t depth;
	struct tframe frames[WALK_MAX_DEPTH]; /* [0] outermost */
};

/* Interned strings: file and function names live as long as the tracker, so frames can
 * outlive the code cache entry they came from.  Bounded by the number of distinct names. */
struct intern {
	char **slots;
	size_t cap, used;
};

struct pending {
	uint64_t thread_id;
	int64_t native_id;
	uint64_t first; /* sample number of the first sighting */
};

#define PENDING_MAX 256
#define USED_NAMES 16384

struct tracker {
	struct output *out;
	struct pending pending[PENDING_MAX];
	size_t npending;
	char *filter;
	size_t filter_len;
	uint64_t samples;
	struct tracker_counts counts;
	struct tthread **threads;
	size_t nthreads;
	uint64_t used[USED_NAMES]; /* names written under (hashes) */
	size_t nused;
	struct intern names;
};

/* tracker_threads.c */
const char *tracker_intern(struct intern *in, const char *s);
struct tthread *tracker_find_thread(struct tracker *tk, const struct walk_thread *th);
void tracker_pending_prune(struct tracker *tk);
struct tthread *tracker_add_thread(struct tracker *tk, const struct walk_thread *th,
				   tracker_name_fn name_fn, void *ctx);
int tracker_identity_taken(const struct walk_sample *s, size_t i);

#endif
