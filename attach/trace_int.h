/* trace_int.h: internal to the trace module's .c files (trace.c: the thread table, letting
 * threads go, pause, resume, release and detach; trace_seize.c: the seize of every thread of a
 * process, trace_attach and trace_adopt; trace_events.c: the wait reports, new threads and
 * processes, execs, exits and trace_service).  Not an API: trace.h is. */
#ifndef TG_TRACE_INT_H
#define TG_TRACE_INT_H

#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "attach/trace.h"
#include "common/err.h"

#define REAPED_KEPT 64

/* How a thread held in a ptrace-stop is to be let go. */
enum hold {
	HOLD_NONE = 0, /* running (or stopped in a report we have not read yet) */
	HOLD_EVENT,    /* PTRACE_EVENT_* stop: continue with no signal */
	HOLD_SIGNAL,   /* signal-delivery-stop: continue with `sig` */
	HOLD_GROUP,    /* group-stop: PTRACE_LISTEN, so the stop lasts until SIGCONT */
};

struct tthread {
	pid_t tid;
	pid_t pid;		 /* thread group it belongs to */
	int sig;		 /* HOLD_SIGNAL: the signal to deliver */
	unsigned char hold;	 /* enum hold */
	unsigned char want_stop; /* interrupted for a pause: hold the next stop */
	unsigned char unwanted;	 /* a new process we do not follow: detach at its first stop */
	unsigned char gone;	 /* will not stop again: dead (a zombie leader) or not ours */
};

struct trace {
	pid_t target;
	pid_t self; /* our tid: the TracerPid of every thread we trace */
	int alive;
	int status;
	int detaching; /* trace_detach: let every thread go at its next stop */
	long options;
	struct trace_opts opts;
	struct tthread *th; /* sorted by tid */
	size_t n, cap;
	/* The last threads reaped: a fork or clone event that comes after its child's own
	 * first stop and exit must not bring the child back. */
	pid_t reaped[REAPED_KEPT];
	unsigned reaped_next;
	/* First stops of threads we do not know yet, held until their creator's event says
	 * what they are (or, failing that, /proc does, at the end of the service). */
	struct early {
		pid_t tid;
		int status;
	} * early;
	size_t nearly, early_cap;
};

/* trace.c */
long trace_pt(enum __ptrace_request req, pid_t tid, long data);
struct tthread *trace_find(const struct trace *t, pid_t tid);
struct tthread *trace_add(struct trace *t, pid_t tid, pid_t pid);
void trace_del(struct trace *t, pid_t tid);
int trace_has_threads(const struct trace *t, pid_t pid);
int trace_stopped(struct trace *t, pid_t tid, enum hold how, int sig, struct tg_err *err);

#endif
