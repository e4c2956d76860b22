/* tracker_util.h: the fixture of the sampler/tracker unit tests (test_tracker*.c): an
 * output directory under /tmp, a tracker writing to it, up to four threads whose stacks are
 * made of eight named code objects ("root", "loop", "handle", "leaf", "other", "f5", "f6",
 * "f7", all in /srv/app.py), and the files read back.  Thread t has TID 100 + t and is
 * written as "T<TID>". */
#ifndef TG_TEST_TRACKER_UTIL_H
#define TG_TEST_TRACKER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "sampler/codecache.h"
#include "sampler/output.h"
#include "sampler/tracker.h"

#define TRK_PID 4242
#define TRK_MAXF 8

struct trk_fixture {
	char dir[64];
	struct output *out;
	struct tracker *tk;
	struct code_info codes[TRK_MAXF];
	struct walk_frame frames[4][TRK_MAXF];
	struct walk_thread th[4];
	struct walk_sample s;
};

void trk_init(struct trk_fixture *fx);
/* The tracker and output closed, the directory removed. */
void trk_done(struct trk_fixture *fx);
/* fx set up with thread 0 first sampled at time 1.0 on the stack `codes`. */
void trk_begin(struct trk_fixture *fx, const int *codes, size_t n);
/* Thread t's stack, outermost first: code indices, each frame at its own address. */
void trk_set_stack(struct trk_fixture *fx, int t, const int *codes, size_t n);
/* The thread's name for the tracker: "T<TID>". */
int trk_name_of(void *ctx, const struct walk_thread *th, struct buf *out);
/* A stack sample of the first nthreads threads at `when`, charged[i] its rest (or NULL). */
void trk_feed(struct trk_fixture *fx, size_t nthreads, const int64_t *charged, double when);
/* The same, now_part[i] of charged[i] for the stack now alone. */
void trk_feed_now(struct trk_fixture *fx, size_t nthreads, const int64_t *charged,
		  const int64_t *now_part, double when);
/* Thread 0 sighted between samples (tracker_feed_one); before: 0, or LET_GO (growth of a
 * thread that let go of the GIL since), or LET_GO_RUNS (and it runs all the same), or
 * LET_GO_UNSEEN (and it held no GIL at the late reading before either: ran unseen). */
enum { LET_GO = 1, LET_GO_RUNS = 2, LET_GO_UNSEEN = 3 };
int trk_feed_one(struct trk_fixture *fx, int64_t bytes, int64_t after, int before, double span,
		 double when, struct tg_err *err);
/* Growth seen by a reading between samples, thread 0 walked, the top of its data stack and
 * its innermost frame at the start of the reading's span known (tracker_charge's
 * pos_before, frame_before). */
int trk_feed_pos(struct trk_fixture *fx, int64_t bytes, uint64_t pos, uint64_t frame, double when,
		 struct tg_err *err);
/* A change seen by a reading between samples (not a sample's rest), thread 0 walked. */
void trk_reading(struct trk_fixture *fx, int64_t bytes, double when);
/* The file `name` of the recording, flushed first (malloc'd; "" when missing). */
char *trk_slurp(const struct trk_fixture *fx, const char *name);
/* Occurrences of needle in text. */
int trk_count(const char *text, const char *needle);

#endif
