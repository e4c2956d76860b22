/* poolwalk.h: pool walks made by a helper thread beside the recording loop.
 *
 * A walk of every pool header takes milliseconds (about 50 us per MiB of arenas,
 * docs/benchmarks.md).  Made by the loop, it held up a burst's memory readings for that
 * long, and whatever changed meanwhile went to the stack seen at the next reading
 * (docs/memory.md, "Readings on time").  The helper walks with its own reader of the
 * target's memory and its own allocator reader while the loop reads on; the loop asks for
 * a walk at one stack sample and takes its result at a later one, and never waits for the
 * helper: it only tries the lock, which the helper holds for a few instructions.
 *
 * The helper runs under SCHED_OTHER whatever the loop's policy (--realtime), with every
 * signal blocked.  It only reads the target's memory (process_vm_readv) and its statm. */
#ifndef TG_POOLWALK_H
#define TG_POOLWALK_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sampler/alloc.h"
#include "symbols/pytarget.h"

struct poolwalk_result {
	struct alloc_stats st; /* counters and walk, as alloc_read(..., 1, ...) gives them */
	int64_t tag; /* the counter poolwalk_ask was given, midway between its values when the
			walk began and ended */
	uint64_t rss, anon; /* /proc/PID/statm right after the walk; have_mem */
	int have_mem;
	int clock_ok;	  /* proc_ns and mono were read */
	uint64_t proc_ns; /* the process CPU clock just before the walk */
	uint64_t mono;	  /* taskclock_now() then */
	double spent;	  /* the helper's CPU seconds the walk took */
};

struct poolwalk;

/* A helper for process pid; NULL when no thread could be made (the caller walks itself). */
struct poolwalk *poolwalk_start(pid_t pid, const struct py_target *t);
/* Ask for a walk, tagged with a counter the caller goes on adding to (read by the helper
 * as the walk begins and ends; it must outlive the helper): 0, or -1 when one is under way
 * or its result not taken yet, or the lock is held. */
int poolwalk_ask(struct poolwalk *pw, _Atomic int64_t *counter);
/* 1 with the result of the walk asked for, 0 when none is ready (or the lock is held). */
int poolwalk_take(struct poolwalk *pw, struct poolwalk_result *out);
/* Ends the helper (a walk under way first finishes) and frees everything. */
void poolwalk_stop(struct poolwalk *pw);

#endif
