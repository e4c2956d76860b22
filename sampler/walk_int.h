/* walk_int.h: internal to the walk module's .c files (walk.c: the sample as a whole;
 * walk_frames.c: one thread's frame chain; walk_codes.c: the code objects of the frames).
 * Not an API: walk.h is. */
#ifndef TG_WALK_INT_H
#define TG_WALK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sampler/stackcopy.h"
#include "sampler/taskclock.h"
#include "sampler/walk.h"

#define TSTATE_READ_MAX 4096
#define FRAME_READ_MAX 256

/* The thread state words a walk starts from. */
struct ts_words {
	uint64_t frame;	     /* ts_frame (<= 3.10), current_frame (3.13+), cframe (3.11, 3.12) */
	uint64_t chunk, top; /* 3.11+: the data stack's current chunk and its top */
	int64_t recursion;   /* <= 3.10: recursion_depth; -1 when unknown */
};

/* A thread's last walk, owned by the walker, and its scheduler counters. */
struct kept {
	uint64_t tstate, interp, thread_id;
	int64_t native_id;
	struct ts_words words;		 /* the thread state's words when it was walked */
	int no_frames;			 /* that walk's walk_thread.no_frames */
	struct taskclock clock;		 /* read at every sample */
	uint64_t walk_ns, walk_switches; /* the counters read just before the walk */
	uint64_t walked_at;
	uint64_t code_misses; /* the code cache's misses when its frames were last checked */
	int usable;	      /* frames hold a whole walk that followed a counter reading */
	int taken;	      /* moved into the next sample's list */
	size_t depth, cap;
	struct walk_frame *frames;
};

struct walker {
	uint64_t walks, torn; /* fresh walks of a thread's frames; of them, those cut as torn */
	uint64_t copy_tries, copy_walks; /* walks tried from a reading's copy, and made */
	uint64_t code_reads;		 /* code object headers read */
	struct remote *r;
	const struct py_target *t;
	const struct py_offsets *o;
	struct pyobj p;
	struct codecache *codes;
	size_t tstate_len, frame_len, code_len;
	int new_frames; /* 3.11+: _PyInterpreterFrame chain */
	uint64_t code_ptr_mask;
	struct native_ids *tids; /* kernel TIDs the thread states lack or have wrong */
	struct gil_reader *gil;
	size_t gil_interps;	/* interpreters seen when the GILs were last looked up */
	struct stackcopy stack; /* 3.11+: the thread's data stack, where its frames live */
	/* per-sample scratch for the batched code-object reads */
	struct remote_iov *iov;
	unsigned char *heads;
	uint64_t *codes_seen;
	size_t scratch_cap;
	/* the thread states of the last sample in list order, read in one batch */
	uint64_t *order;
	size_t norder, order_cap;
	unsigned char *ts_batch;
	struct remote_iov *ts_iov;
	size_t batch_cap, cursor;
	struct ts_words *words; /* per thread of the sample being taken */
	size_t words_cap;
	/* the last walk of every thread of the last sample, sorted by tstate, and the list
	 * being built (in the sample's order) */
	struct kept *kept, *next_kept;
	size_t nkept, kept_cap, next_cap;
	uint64_t window;	/* how long counters must stand still (taskclock_window) */
	uint64_t misses_before; /* code cache misses before this sample's codes were read */
	size_t clock_fds;	/* scheduler counters kept open in this sample */
	int last_range;		/* the walk's last thread-owned frame: its stack range, */
	uint64_t last_owned;	/* and its address */
	int at_head;		/* the next frame read is the walk's first */
};

/* walk.c */
uint64_t walk_u64_at(const unsigned char *block, size_t len, int32_t off);
uint64_t walk_read_ptr(struct walker *w, uint64_t addr);

/* walk_frames.c */
void walk_read_words(const struct walker *w, const unsigned char *ts, struct ts_words *out);
void walk_ensure_frames(struct walk_thread *th);
/* 3.11+: walk a thread's frames from a copy of its data stack made earlier; -1 when it
 * does not hold a whole walk. */
int walk_frames_taken(struct walker *w, struct walk_thread *th, const struct stackcopy_taken *t);
void walk_thread_frames(struct walker *w, struct walk_thread *th, const struct ts_words *ws);

/* walk_codes.c */
void walk_resolve_codes(struct walker *w, struct walk_sample *s);

#endif
