#include "sampler/session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "sampler/layoutcheck.h"
#include "sampler/pyversion.h"
#include "sampler/taskclock.h"

/* TIDs remembered as named (session_thread_name). */
#define NAMED_TIDS_CAP 4096
/* The thread registry is read at most this often while every thread has a name. */
#define NAMES_MIN_AGE_NS 250000000u
/* ... and at most this often for threads new between stack samples. */
#define FRESH_NAMES_MIN_NS 1000000u

static int check_exists(pid_t pid, struct tg_err *err)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (access(path, F_OK) != 0)
		return tg_err_set(err, TG_E_NOPROC, "no such process: %d", (int)pid);
	if (pid == getpid())
		return tg_err_set(err, TG_E_USAGE, "process %d is tgattach itself", (int)pid);
	return 0;
}

int session_open(struct session *s, pid_t pid, const struct session_opts *opts, struct tg_err *err)
{
	struct pytarget_opts topts = {opts->offsets};

	memset(s, 0, sizeof *s);
	s->pid = pid;
	if (check_exists(pid, err) < 0)
		return -1;
	remote_init_process(&s->remote, pid);
	if (pytarget_resolve(&s->target, pid, &s->remote, &topts, err) < 0) {
		if (err && err->code == TG_E_PERM)
			tg_err_set(err, TG_E_PERM, "cannot read process %d: permission denied (%s)",
				   (int)pid, TG_PTRACE_PERM_HINT);
		remote_close(&s->remote);
		return -1;
	}
	pyversion_read(&s->target, &s->remote); /* the micro version, before 3.11 */
	s->walker = walker_new(&s->remote, &s->target);
	s->names = threadnames_new();
	/* before anything is attached or written: a layout that does not read this
	 * interpreter fails here (exit 6), never as empty or invented stacks */
	if (opts->check_layout && layoutcheck_run(&s->remote, &s->target, s->walker, err) < 0) {
		session_close(s);
		return -1;
	}
	if (opts->attach && session_attach(s, opts, err) < 0) {
		session_close(s);
		return -1;
	}
	return 0;
}

void session_open_like(struct session *s, pid_t pid, const struct py_target *like)
{
	memset(s, 0, sizeof *s);
	s->pid = pid;
	remote_init_process(&s->remote, pid);
	s->target = *like;
	s->target.pid = pid;
	s->walker = walker_new(&s->remote, &s->target);
	s->names = threadnames_new();
}

int session_attach(struct session *s, const struct session_opts *opts, struct tg_err *err)
{
	struct trace_opts tr = {opts->follow_forks, opts->on_event, opts->ctx};

	s->trace = trace_attach(s->pid, &tr, err);
	return s->trace ? 0 : -1;
}

void session_clear(struct session *s)
{
	memset(s, 0, sizeof *s);
	remote_init_none(&s->remote);
}

void session_close(struct session *s)
{
	trace_detach(s->trace);
	s->trace = NULL;
	walker_free(s->walker);
	s->walker = NULL;
	threadnames_free(s->names);
	s->names = NULL;
	free(s->named_tids);
	s->named_tids = NULL;
	remote_close(&s->remote);
}

/* Are the names read last still good enough?  Yes when no thread has run since; and for a
 * while (NAMES_MIN_AGE_NS) when every thread has its own entry: the registry is read for
 * threads that are new, the rest is renames, which a tracker does not take anyway. */
static int names_current(const struct session *s, const struct walk_sample *sample)
{
	int quiet = 1, named = 1;

	if (!s->names_at || !sample->nthreads)
		return 0;
	for (size_t i = 0; i < sample->nthreads && (quiet || named); i++) {
		const struct walk_thread *th = &sample->threads[i];
		int64_t native = 0;
		quiet = quiet && th->quiet_since && th->quiet_since <= s->names_at;
		named = named && (threadnames_get(s->names, th->interp, th->thread_id,
						  th->native_id > 0 ? th->native_id : 0, &native) ||
				  threadnames_no_registry(s->names, th->interp));
	}
	return quiet || (named && taskclock_now() - s->names_at < NAMES_MIN_AGE_NS);
}

void session_refresh_names(struct session *s, struct walk_sample *sample)
{
	uint64_t done[WALK_MAX_INTERPS];
	size_t ndone = 0;
	int current = names_current(s, sample);

	if (!current)
		s->names_at = taskclock_now();
	for (size_t i = 0; i < sample->nthreads && !current; i++) {
		uint64_t interp = sample->threads[i].interp;
		size_t k = 0;
		while (k < ndone && done[k] != interp)
			k++;
		if (k < ndone || ndone == WALK_MAX_INTERPS)
			continue;
		done[ndone++] = interp;
		threadnames_refresh(s->names, walker_pyobj(s->walker), interp);
	}
	for (size_t i = 0; i < sample->nthreads; i++) {
		struct walk_thread *th = &sample->threads[i];
		int64_t native = 0;
		if (th->native_id <= 0 &&
		    threadnames_get(s->names, th->interp, th->thread_id, 0, &native) && native > 0)
			th->native_id = native;
	}
}

static int read_comm(pid_t pid, int64_t tid, struct buf *out)
{
	char path[96], comm[64];

	snprintf(path, sizeof path, "/proc/%d/task/%lld/comm", (int)pid, (long long)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *got = fgets(comm, sizeof comm, f);
	fclose(f);
	if (!got)
		return -1;
	comm[strcspn(comm, "\n")] = '\0';
	buf_addstr(out, comm);
	return 0;
}

static int task_exists(pid_t pid, int64_t tid)
{
	char path[96];

	snprintf(path, sizeof path, "/proc/%d/task/%lld", (int)pid, (long long)tid);
	return access(path, F_OK) == 0;
}

/* The set of TIDs named in this session: bounded, forgotten all at once when 3/4 full
 * (then a stale entry may pass for a while, as before the set existed). */
static size_t named_slot(const struct session *s, int64_t tid)
{
	size_t i = (size_t)((uint64_t)tid * 0x9e3779b97f4a7c15u >> 52) % NAMED_TIDS_CAP;

	while (s->named_tids[i] && s->named_tids[i] != tid)
		i = (i + 1) % NAMED_TIDS_CAP;
	return i;
}

static void note_named(struct session *s, int64_t tid)
{
	if (tid <= 0)
		return;
	if (!s->named_tids || s->named_n >= NAMED_TIDS_CAP / 4 * 3) {
		free(s->named_tids);
		s->named_tids = xcalloc(NAMED_TIDS_CAP, sizeof *s->named_tids);
		s->named_n = 0;
	}
	size_t i = named_slot(s, tid);
	if (!s->named_tids[i]) {
		s->named_tids[i] = tid;
		s->named_n++;
	}
}

static int was_named(const struct session *s, int64_t tid)
{
	return s->named_tids && s->named_tids[named_slot(s, tid)] == tid;
}

/* May the registry be read again for thread state tstate?  Not if it was read for it less
 * than FRESH_NAMES_MIN_NS ago (a thread not registered yet would have it read at every
 * micro-sample); other threads are not held back by it. */
static int fresh_due(struct session *s, uint64_t tstate, uint64_t now)
{
	size_t n = sizeof s->fresh / sizeof s->fresh[0];

	for (size_t i = 0; i < n; i++)
		if (s->fresh[i].tstate == tstate) {
			if (now - s->fresh[i].at < FRESH_NAMES_MIN_NS)
				return 0;
			s->fresh[i].at = now;
			return 1;
		}
	s->fresh[s->fresh_next % n].tstate = tstate;
	s->fresh[s->fresh_next++ % n].at = now;
	return 1;
}

/* The kernel's name of a thread, else Thread-<ident>; 0: not final. */
static int fallback_name(struct session *s, const struct walk_thread *th, struct buf *out)
{
	if (th->native_id <= 0 || read_comm(s->pid, th->native_id, out) < 0)
		buf_addf(out, "Thread-%llx", (unsigned long long)th->thread_id);
	return 0;
}

int session_fresh_thread_name(struct session *s, const struct walk_thread *th, struct buf *out)
{
	int64_t native = 0;
	uint64_t now = taskclock_now();

	if (th->native_id <= 0)
		return fallback_name(s, th, out);
	const char *name =
	    threadnames_get(s->names, th->interp, th->thread_id, th->native_id, &native);
	if (!(name && native == th->native_id) && fresh_due(s, th->tstate, now)) {
		threadnames_refresh_ident(s->names, walker_pyobj(s->walker), th->interp,
					  th->thread_id);
		name = threadnames_get(s->names, th->interp, th->thread_id, th->native_id, &native);
	}
	if (!name || native != th->native_id)
		return fallback_name(s, th, out);
	note_named(s, th->native_id);
	buf_addstr(out, name);
	return 1;
}

int session_thread_name(struct session *s, const struct walk_thread *th, struct buf *out)
{
	int64_t native = 0;
	const char *name = threadnames_get(s->names, th->interp, th->thread_id, 0, &native);

	/* The registry entry belongs to another thread when its TID differs and is, or was, a
	 * thread of this process: a new thread reused a dead one's ident, and the registry was
	 * read before it replaced the entry.  (A TID never seen here is stale: after fork,
	 * CPython keeps the parent's _native_id.) */
	if (name && native > 0 && th->native_id > 0 && native != th->native_id &&
	    (was_named(s, native) || task_exists(s->pid, native)))
		name = NULL;
	/* a thread whose TID is not known yet cannot be told from the one the entry names:
	 * it waits (the tracker asks again) */
	int wait = name && native > 0 && th->native_id <= 0;
	if (wait)
		name = NULL;
	note_named(s, th->native_id);
	if (name) {
		buf_addstr(out, name);
		return 1;
	}
	fallback_name(s, th, out);
	return !wait && threadnames_no_registry(s->names, th->interp);
}

int session_parse_pid(const char *arg, pid_t *out, struct tg_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = arg ? strtol(arg, &end, 10) : 0;
	if (!arg || !*arg || *end || errno || v <= 0 || v > 0x3fffffff)
		return tg_err_set(err, TG_E_USAGE, "invalid PID '%s': expected a positive number",
				  arg ? arg : "");
	*out = (pid_t)v;
	return 0;
}
