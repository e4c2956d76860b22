/* session.h: the session object — everything tgattach holds about one target process:
 * its memory reader, the resolved interpreter, the ptrace session, the stack walker and
 * the thread-name registry.  The only mutable state of a run lives here (and in the
 * recorder that owns it). */
#ifndef TG_SESSION_H
#define TG_SESSION_H

#include <stdint.h>
#include <sys/types.h>

#include "attach/remote.h"
#include "attach/trace.h"
#include "common/buf.h"
#include "common/err.h"
#include "sampler/threadnames.h"
#include "sampler/walk.h"
#include "symbols/pytarget.h"

struct session_opts {
	enum offsets_mode offsets;
	int attach; /* PTRACE_SEIZE the target (record, dump); info does not */
	int follow_forks;
	int check_layout; /* fail (TG_E_LAYOUT) when the layout does not read the target */
	trace_event_fn on_event;
	void *ctx;
};

struct session {
	pid_t pid;
	struct remote remote;
	struct py_target target;
	struct trace *trace;
	struct walker *walker;
	struct thread_names *names;
	uint64_t names_at; /* monotonic ns just before the names were last read; 0: never */
	/* threads new between samples whose names were last read for, and when (a ring) */
	struct {
		uint64_t tstate, at;
	} fresh[8];
	unsigned fresh_next;
	int64_t *named_tids; /* TIDs of threads named in this session (open addressing) */
	size_t named_n;
};

/* Resolve the interpreter first (a process that is not Python is never touched), then
 * attach.  On failure everything is released and nothing stays attached. */
int session_open(struct session *s, pid_t pid, const struct session_opts *opts, struct tg_err *err);
/* A session for a forked child of a process whose interpreter is already resolved: the
 * child has the same mappings, so nothing is looked up again.  Does not attach. */
void session_open_like(struct session *s, pid_t pid, const struct py_target *like);

/* Attach later (record opens its output first, so a bad output directory never touches
 * the target). */
int session_attach(struct session *s, const struct session_opts *opts, struct tg_err *err);
void session_close(struct session *s);
/* No session: nothing held, session_close() on it does nothing (a process between an exec
 * and its new interpreter). */
void session_clear(struct session *s);

/* Re-read thread names of every interpreter seen in sample, and fill in kernel TIDs the
 * thread states do not record (Thread._native_id, 3.8-3.10).  The names are not read
 * again while no thread has run since they were (every thread of the sample provably
 * quiet since then: only a running thread changes the registry), nor more than about four
 * times a second while every thread of the sample has its entry (a new thread, or one
 * that reuses a dead one's ident, has not: its name is read at once). */
void session_refresh_names(struct session *s, struct walk_sample *sample);
/* The name of a thread first seen between stack samples (the thread that changed memory in
 * a micro-sample: a server's thread per request may live a millisecond, never seen by a
 * stack sample), read while the target runs, so taken only when the registry entry's
 * Thread._native_id is the thread's own kernel TID (a dead thread's entry, or a freed Thread
 * read mid-change, is not): 1 then, with the name appended to out.  The registry is read
 * again for it (at most once a millisecond per thread) unless it has that entry already.  Otherwise
 * the fallback (comm) is appended and 0 returned, so the thread waits for a name like any
 * other (always, without a kernel TID or on versions without _native_id, before 3.8). */
int session_fresh_thread_name(struct session *s, const struct walk_thread *th, struct buf *out);
/* The display name of a sampled thread: threading's name, else the kernel's comm, else
 * "Thread-<ident>".  Appends to out; returns 1 when the name is final: threading's name,
 * or the fallback when the interpreter has no threading module. */
int session_thread_name(struct session *s, const struct walk_thread *th, struct buf *out);

/* Parse a PID argument strictly (digits only, > 0). */
int session_parse_pid(const char *arg, pid_t *out, struct tg_err *err);

#endif
