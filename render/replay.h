/* replay.h: one thread's calls and returns replayed as a properly nested sequence of
 * frame openings and closings, with each call's own ("self") time and memory.
 *
 * Built on the pairer (render/pair.h), so memory grows with the call depth only.  Times
 * are made monotonic (a time earlier than the previous event's is raised to it), so that
 * every call lies within its caller.  A call whose return is missing (lost, or still
 * running when the recording ended) ends at the latest time seen so far, with delta 0.
 *
 *   delta       what the THREAD.mem line says: memory change over the call, callees in
 *   self_delta  delta minus the deltas of its direct callees
 *   self_time   duration minus the durations of its direct callees */
#ifndef TG_REPLAY_H
#define TG_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "render/frames.h"
#include "render/pair.h"

struct replay_event {
	enum pair_event_kind kind; /* PAIR_OPEN or PAIR_CLOSE */
	size_t depth;		   /* 0 for an outermost call */
	uint32_t frame;
	double at; /* OPEN: call time; CLOSE: return time */
	/* CLOSE only: */
	int has_return;
	long line; /* the return's LINE */
	long long delta, self_delta;
	double duration, self_time;
	int nested; /* the same frame is open further out (recursion) */
};

struct replay;

/* mem_path may be NULL (no returns: every call ends without one).  flags: PAIR_STRICT,
 * PAIR_QUIET. */
struct replay *replay_open(const char *mem_path, const char *stack_path, struct frames *fr,
			   unsigned flags, struct tg_err *err);
/* 1 with *ev, 0 at the end, -1 on error. */
int replay_next(struct replay *r, struct replay_event *ev, struct tg_err *err);
unsigned long replay_malformed(const struct replay *r);
unsigned long replay_stray_returns(const struct replay *r);
/* The latest time seen (after the end: the thread's last event). */
double replay_last_time(const struct replay *r);
void replay_close(struct replay *r);

#endif
