/* pair.h: matching the calls of a THREAD.stack with the returns of its THREAD.mem.
 *
 * Both files are streamed together and replayed as one event sequence (call, call,
 * return, ...), keeping only the calls still open: memory grows with the call depth, not
 * with the file sizes.  Which comes next, the next call or the next return, is decided by
 *   1. indentation: a call indented deeper than the innermost open call is its child; one
 *      indented less means the open call has returned;
 *   2. time: a call stamped before the next return happened first;
 *   3. names: a return closes the innermost open call with the same FILE and FUNC.
 * Files of the original ThreadGraph wrote depths 0 and 1 both without indent; an
 * unindented call that rule 2 or 3 places inside an unindented open call is taken as its
 * child, which recovers that lost level.  Returns that match no open call (their call
 * predates the recording) are skipped and counted; calls left without a return (lost or
 * not yet returned lines) are closed without one. */
#ifndef TG_PAIR_H
#define TG_PAIR_H

#include "common/buf.h"
#include "common/err.h"
#include "render/tgfile.h"

#define PAIR_MAX_DEPTH 100000

struct pair_node {
	unsigned long call_lineno; /* line in STACK */
	unsigned long indent;
	double call_time;
	long call_line;
	struct buf file;
	struct buf func;
	int has_return;
	unsigned long ret_lineno; /* line in MEM (when has_return) */
	double ret_time;
	long ret_line;
	long long delta;
	size_t tag; /* free for the caller */
};

enum pair_event_kind {
	PAIR_OPEN,  /* a call starts: node is the new innermost open call */
	PAIR_CLOSE, /* a call ends: node carries its return, if any */
};

struct pair_event {
	enum pair_event_kind kind;
	struct pair_node *node; /* valid until the next pair_next() */
	size_t depth;		/* 0 for an outermost call */
};

struct pairer;

enum {
	PAIR_STRICT = 1, /* a malformed line is an error */
	PAIR_QUIET = 2,	 /* don't report malformed lines (a second pass over the same files) */
};

struct pairer *pair_open(const char *mem_path, const char *stack_path, unsigned flags,
			 struct tg_err *err);
/* Returns 1 with *ev filled, 0 when both files are consumed and all calls closed, -1 on
 * error (unreadable file, malformed line in strict mode). */
int pair_next(struct pairer *p, struct pair_event *ev, struct tg_err *err);
/* Malformed lines skipped so far in both files. */
unsigned long pair_malformed(const struct pairer *p);
/* Returns that matched no open call, so far. */
unsigned long pair_stray_returns(const struct pairer *p);
void pair_close(struct pairer *p);

#endif
