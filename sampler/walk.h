/* walk.h: one sample of every Python thread of every interpreter in the target: thread
 * identity, whether it holds the GIL, and its frame chain with file, function and the
 * current line.  Reads only (process_vm_readv); the target is not paused.  All loops
 * over remote memory are bounded; a torn read gives a shorter stack, never a crash.
 * Storage is reused from sample to sample: no allocation once warmed up.
 *
 * A thread that has provably not run since its last walk (sampler/taskclock.h: its
 * kernel TID's scheduler counters stood still for longer than a tick, and they are those
 * read just before that walk) has the same stack: the walker keeps its own copy of every
 * thread's last walk and hands that out again instead of reading the frames.  Not reused:
 * a thread without a TID the process is known to have, a thread holding a GIL, one whose
 * thread state moved (frame pointers, data stack), a walk that was torn or truncated, one
 * whose code objects left the code cache, and any walk older than about a second.  The
 * thread states themselves are read at every sample (the list may change), in one batched
 * read of those of the previous sample.  The counters read for each thread are handed on
 * (cpu_ns, quiet_since) for the memory attribution, which then need not read them again. */
#ifndef TG_WALK_H
#define TG_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "attach/remote.h"
#include "sampler/stackcopy.h"
#include "common/err.h"
#include "sampler/codecache.h"
#include "symbols/pytarget.h"

#define WALK_MAX_DEPTH 1024
#define WALK_MAX_THREADS 4096
#define WALK_MAX_INTERPS 64

struct walk_frame {
	uint64_t addr; /* PyFrameObject or _PyInterpreterFrame address */
	uint64_t code; /* code object address */
	int64_t pos;   /* f_lasti, or the instruction pointer (3.11+) */
	const struct code_info *code_info;
	int line;	     /* current line, -1 when unknown */
	size_t code_slot;    /* index in the sample's list of code objects */
	int from_c;	     /* 3.11+: called from C (an entry frame links it to its caller) */
	int eval_entry;	     /* 3.11+: the outermost frame its C evaluation call runs */
	uint64_t entry_addr; /* 3.12+, on an eval_entry frame: the address of the entry
				frame below it, a local of the evaluation call (C stack) */
	int native;	     /* 0: a Python frame; WALK_NATIVE: a C frame (sampler/unwind.h);
				WALK_NATIVE_EVAL: a C frame of the interpreter's evaluation loop */
	int chunk;	     /* 3.11+: 1 + the range of the data stack copy a frame of the
				thread's own was read from; 0: another frame */
};

/* 3.11+: where a frame of the thread's own data stack ends (its address plus its code's frame
 * size; the data stack's top while it is the innermost), or 0 when unknown: a frame outside
 * the data stack (a generator's), or a size not read. */
static inline uint64_t walk_frame_end(const struct walk_frame *f)
{
	return f->chunk && f->code_info && f->code_info->framesize
		   ? f->addr + 8 * (uint64_t)f->code_info->framesize
		   : 0;
}

enum { WALK_NATIVE = 1, WALK_NATIVE_EVAL = 2 };

struct walk_thread {
	uint64_t tstate;
	uint64_t interp;
	int64_t interp_id;
	uint64_t thread_id;   /* pthread_t (threading.get_ident()) */
	int64_t native_id;    /* kernel TID, 0 when not known */
	int64_t native_field; /* the state's own native_thread_id as read: a forked child's
				 keeps its parent's TID until CPython updates it (uWSGI's
				 workers, by default), and native_id is corrected then */
	int holds_gil;
	int truncated;	      /* stack deeper than WALK_MAX_DEPTH, or a bad link */
	int no_frames;	      /* no Python frame, read in a steady state (not a frame being
				 linked): the thread runs C only (walk_frames.c) */
	int reused;	      /* frames kept from an earlier walk: it has not run since */
	int cpu_known;	      /* cpu_ns and quiet_since were read at this sample */
	uint64_t cpu_ns;      /* CPU time the kernel has accounted to it (schedstat) */
	uint64_t quiet_since; /* CLOCK_MONOTONIC ns since which it provably has not
				 run (up to this sample); 0 when not proven */
	size_t depth;
	struct walk_frame *frames; /* [0] is the innermost frame */
	size_t frames_cap;
};

struct walk_sample {
	size_t nthreads;
	size_t cap;
	struct walk_thread *threads;
	size_t ninterps;
	uint64_t gil_holder; /* tstate holding the GIL, 0 if none/unknown */
	size_t nreused;	     /* threads whose frames were kept, not read */
};

struct walker;

struct walker *walker_new(struct remote *r, const struct py_target *t);
void walker_free(struct walker *w);
/* Fresh walks of a thread's frames so far, and of them those cut as torn (a bad link, a
 * frame out of place, a thread that moved under the walk): not recorded. */
void walker_counts(const struct walker *w, uint64_t *walks, uint64_t *torn);
/* Walks tried from a reading's copy of a data stack (walker_walk_thread_at), and made. */
void walker_copy_counts(const struct walker *w, uint64_t *tries, uint64_t *walks);
/* Code object headers read so far (each distinct code object of a fresh walk, except the
 * frames a walk between samples takes from the last sample's: walker_walk_thread). */
uint64_t walker_code_reads(const struct walker *w);

/* Take one sample.  -1 with err only when the interpreter list itself is unreadable
 * (e.g. the interpreter is finalizing or the target exited). */
int walker_sample(struct walker *w, struct walk_sample *s, struct tg_err *err);

/* Walk one thread again, now, between samples: `known` is the thread as the last sample
 * listed it (identity, TID, GIL); out receives it as its only thread, with fresh frames
 * (never a kept walk; a frame that the last sample walked at the same address with the
 * same code object takes its code entry, its header not read again).  The thread state is
 * read again and must still belong to the same thread.  -1 when it is gone or belongs to another
 * thread now.  A `known` with only its tstate set (thread_id 0) is a thread no sample listed: its
 * identity is read from its state (its TID only where the state has one, 3.11+; its interpreter id
 * is not read). */
int walker_walk_thread(struct walker *w, const struct walk_thread *known, struct walk_sample *out);
/* The same, with the frames taken from a copy of the thread's data stack made earlier
 * (3.11+: memtrack_stack, with a memory reading); the rest read now (its state, for who it
 * is; the earlier chunks; the code objects).  1 when the walk is the copy's, 0 when the
 * copy did not hold a whole walk (torn, another chunk) and it was walked now instead, -1
 * as walker_walk_thread. */
int walker_walk_thread_at(struct walker *w, const struct walk_thread *known,
			  const struct stackcopy_taken *copy, struct walk_sample *out);

void walk_sample_free(struct walk_sample *s);

struct pyobj *walker_pyobj(struct walker *w);
struct codecache *walker_codecache(struct walker *w);

#endif
