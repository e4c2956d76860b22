/* recproc.c: one process's recording: its session, files, call tracker and memory
 * tracker (recproc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/recproc.h"
#include "sampler/recproc_int.h"
#include "attach/tracer.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "sampler/natstack.h"
#include "sampler/output.h"
#include "sampler/session.h"
#include "sampler/tracker.h"
#include "symbols/elfimg.h"

#define NAMES_REFRESH_TICKS 25
/* --profile c|both: longest wait for one thread to stop (one in uninterruptible sleep stops
 * only when it leaves the kernel); it is then sampled without its native stack */
#define NATIVE_PAUSE_MS 50
/* How long an exec'd Python may take to map its interpreter before it is given up. */
#define EXEC_GRACE_S 5.0

static int resume_after_exec(struct recproc *p, struct tg_err *err);

int recproc_thread_name(void *ctx, const struct walk_thread *th, struct buf *out)
{
	struct recproc *p = ctx;
	return session_thread_name(&p->s, th, out);
}

int recproc_fresh_thread_name(void *ctx, const struct walk_thread *th, struct buf *out)
{
	struct recproc *p = ctx;
	return session_fresh_thread_name(&p->s, th, out);
}

static int64_t *charged_for(struct recproc *p, size_t n)
{
	p->charged = xgrow(p->charged, &p->charged_cap, n, sizeof *p->charged);
	return p->charged;
}

/* process.mem and the process.alloc row, at most every --process-interval. */
static int write_process(struct recproc *p, double now, const struct memtrack_row *row,
			 struct tg_err *err)
{
	if (p->opts->process_interval_s > 0 && p->last_process_row > 0 &&
	    now - p->last_process_row < p->opts->process_interval_s)
		return 0;
	p->last_process_row = now;
	if (output_process_mem(p->out, now, row->v[MT_RSS], err) < 0)
		return -1;
	return output_alloc_row(p->out, now, row->v, row->valid, MT_NCOLS, err);
}

/* A walk that would end a long-running call is read again at once: a walk of a running
 * thread can be torn (read half before, half after a change), and a call that "returns" by
 * mistake takes all that was charged since it began.  The second walk must agree on where
 * the stack changed; if it shows more of the old stack, it is the one used; otherwise the
 * thread's stack stays as it was for this sighting.  (The tracker also holds walks that
 * the interpreter's own linking of a frame called from C makes look like ends, which a
 * descheduled thread shows to both walks.) */
void recproc_confirm_walk(struct recproc *p, struct walk_thread *th, double now)
{
	size_t k1, k2;

	if (th->reused || !tracker_ends_old(p->tracker, th, now, &k1))
		return;
	if (walker_walk_thread(p->s.walker, th, &p->again) < 0) {
		th->truncated = 1;
		return;
	}
	struct walk_thread *th2 = &p->again.threads[0];
	int old2 = tracker_ends_old(p->tracker, th2, now, &k2);
	if (th2->truncated || k2 < k1 || (k2 > k1 && old2)) {
		th->truncated = 1;
		return;
	}
	memcpy(th->frames, th2->frames, th2->depth * sizeof *th2->frames);
	th->depth = th2->depth;
}

void recproc_set_tracer(struct recproc *p, struct tracer *tr, int held)
{
	p->tracer = tr;
	p->held = held;
}

/* What is done with each thread from the tracer thread (tracer_hold_each): while it is
 * held, the unwind and its Python frames read again, kept in the thread's slot; the names
 * and the merge wait until every thread runs again and the tracer thread is free
 * (native_stacks). */
struct native_pass {
	struct recproc *p;
	double t0;
};

static void while_held(void *ctx, size_t i, const struct user_regs_struct *regs)
{
	struct native_pass *np = ctx;
	struct recproc *p = np->p;
	struct walk_thread *th = &p->sample.threads[i];
	double t0 = clock_mono_s();

	p->one_fresh = natstack_unwind(p->nat, i, (pid_t)th->native_id, regs) &&
		       walker_walk_thread(p->s.walker, th, &p->one) == 0;
	if (p->one_fresh)
		natstack_keep_python(p->nat, i, &p->one.threads[0]);
	p->native_work_s += clock_mono_s() - t0;
}

/* Thread i's native stack named and merged from its slot.  A thread whose native stack was
 * not read is left as it was in the tracker (a walk marked truncated): its Python frames
 * alone would end every native frame, and start them again at the next sample. */
static void native_result(struct recproc *p, size_t i)
{
	struct walk_thread *th = &p->sample.threads[i];

	if (natstack_apply(p->nat, i, th))
		return;
	th->truncated = 1;
	p->native_missed++;
}

static void once_let_go(void *ctx, size_t i, int ok)
{
	struct native_pass *np = ctx;
	struct recproc *p = np->p;
	double now = clock_mono_s();

	if (ok) {
		p->native_held_s += now - np->t0;
		p->native_holds++;
	}
	/* not stopped; or unwound, but its Python frames not read meanwhile (a merge with those
	 * of the sample could splice two moments) */
	if (!ok || (!p->one_fresh && p->opts->profile == PROFILE_BOTH))
		natstack_drop(p->nat, i);
	p->one_fresh = 0;
	np->t0 = clock_mono_s(); /* the next thread's stop is asked now */
}

/* --profile c|both: each thread stopped alone (the others run on), its native stack
 * unwound and its Python frames read again meanwhile, then let go, in one request to the
 * tracer thread for the whole sample; with --consistent every thread is held already.  A
 * thread that cannot be stopped or unwound keeps its stack as last recorded for this
 * sample (meta: native_missed). */
static void native_stacks(struct recproc *p)
{
	size_t n = p->sample.nthreads;

	if (!p->tracer || natstack_sample_begin(p->nat, NULL) < 0) {
		for (size_t i = 0; i < n; i++)
			native_result(p, i); /* nothing unwound */
		return;
	}
	if (p->held) {
		for (size_t i = 0; i < n; i++) {
			struct walk_thread *th = &p->sample.threads[i];
			struct user_regs_struct regs;
			if (th->native_id > 0 &&
			    tracer_thread_regs(p->tracer, (pid_t)th->native_id, &regs, NULL) == 0)
				natstack_unwind(p->nat, i, (pid_t)th->native_id, &regs);
			native_result(p, i);
		}
		return;
	}
	p->tids = xgrow(p->tids, &p->tids_cap, n, sizeof *p->tids);
	for (size_t i = 0; i < n; i++) /* no TID: not stopped, left with its Python frames */
		p->tids[i] =
		    p->sample.threads[i].native_id > 0 ? (pid_t)p->sample.threads[i].native_id : 0;
	struct native_pass np = {p, clock_mono_s()};
	struct tracer_hold_ops ops = {while_held, once_let_go, &np};
	tracer_hold_each(p->tracer, p->tids, n, NATIVE_PAUSE_MS, &ops, NULL);
	for (size_t i = 0; i < n; i++) /* an empty slot (not stopped, or no tracer) is a miss */
		native_result(p, i);
}

int recproc_tick(struct recproc *p, int stack_due, int may_burst, double now, struct tg_err *err)
{
	struct memtrack_row row;

	if (p->exec_since > 0)
		return stack_due ? resume_after_exec(p, err) : 0;
	if (!stack_due)
		return may_burst && p->micro ? recproc_micro_tick(p, err) : 0;
	/* the change made since the chain's last reading goes to the stacks as they were, before
	 * the sample's walk moves them on (a call that freed its objects and returned meanwhile:
	 * the job loop's crunch() lost one release in sixteen to its caller) */
	if (p->micro && memtrack_chain_open(p->mem)) {
		int rc = recproc_micro_once(p, err);
		if (rc != 0)
			return rc;
		now = clock_real_s(); /* the sample comes after: its lines must not go back */
	}
	if (memtrack_read(p->mem, &row, 0) != 0 || row.v[MT_RSS] == 0)
		return 1; /* the process is gone (or a zombie: nothing resident) */
	if (write_process(p, now, &row, err) < 0)
		return -1;
	p->in_c_vain = 0;
	if (walker_sample(p->s.walker, &p->sample, NULL) < 0) {
		p->failed_samples++;
		return 0;
	}
	if (p->nat)
		native_stacks(p);
	if (p->samples % NAMES_REFRESH_TICKS == 0 || p->sample.nthreads != p->last_nthreads ||
	    tracker_pending(p->tracker))
		session_refresh_names(&p->s, &p->sample);
	p->last_nthreads = p->sample.nthreads;
	/* native stacks are read with the thread stopped: nothing to confirm (a second walk
	 * of its Python frames alone would never agree with a merged stack) */
	for (size_t i = 0; !p->nat && i < p->sample.nthreads; i++)
		recproc_confirm_walk(p, &p->sample.threads[i], now);
	size_t nt = p->sample.nthreads;
	int64_t *charged = charged_for(p, 2 * nt);
	memtrack_charge(p->mem, &p->sample, charged, charged + nt);
	if (tracker_feed(p->tracker, &p->sample, charged, charged + nt, now, recproc_thread_name, p,
			 err) < 0)
		return -1;
	p->samples++;
	return 0;
}

/* The memory side, once the interpreter is known (it decides which metric is readable).
 * Only the first RECORD_MICRO_PROCS processes get micro-samples (the run decides): with
 * hundreds of children the reads would saturate the loop; the others' memory is charged at
 * stack-sample resolution. */
static int open_memtrack(struct recproc *p, struct tg_err *err)
{
	struct memtrack_opts mo = {.pid = p->pid,
				   .r = &p->s.remote,
				   .t = &p->s.target,
				   .metric = p->opts->metric,
				   .micro_hz = p->micro ? p->opts->mem_rate_hz : 0,
				   .realtime = p->opts->realtime};

	p->mem = memtrack_new(&mo, err);
	if (!p->mem)
		return -1;
	if (p->opts->profile == PROFILE_PYTHON)
		return 0;
	p->nat =
	    natstack_new(&p->s.target, p->opts->profile, p->opts->offsets != OFFSETS_BUILTIN, err);
	return p->nat ? 0 : -1;
}

static void recproc_free(struct recproc *p)
{
	tracker_free(p->tracker);
	memtrack_free(p->mem);
	natstack_free(p->nat);
	free(p->tids);
	walk_sample_free(&p->sample);
	walk_sample_free(&p->one);
	walk_sample_free(&p->again);
	session_close(&p->s);
	buf_free(&p->cmdline);
	free(p->charged);
	free(p);
}

/* Everything but the session: files, memory tracker, call tracker. */
static int open_recording(struct recproc *p, struct tg_err *err)
{
	if (open_memtrack(p, err) < 0)
		return -1;
	p->out = output_open(p->opts->outdir, p->pid, p->opts->no_stack ? OUTPUT_NO_STACK : 0, err);
	if (!p->out || recproc_write_meta(p, 0, err) < 0 || recproc_write_alloc_header(p, err) < 0)
		return -1;
	p->tracker = tracker_new(p->out, p->opts->filter);
	return 0;
}

struct recproc *recproc_open(const struct record_opts *o, pid_t pid, pid_t parent,
			     const struct py_target *like, int micro, struct tg_err *err)
{
	struct recproc *p = xcalloc(1, sizeof *p);
	struct session_opts sopts = {.offsets = o->offsets, .check_layout = 1};

	p->opts = o;
	p->micro = micro && o->mem_rate_hz > 0;
	p->pid = pid;
	p->parent = parent;
	p->started = clock_real_s();
	if (like) {
		session_open_like(&p->s, pid, like);
	} else if (session_open(&p->s, pid, &sopts, err) < 0) {
		free(p);
		return NULL;
	}
	if (open_recording(p, err) < 0) {
		output_close(p->out, NULL);
		p->out = NULL;
		recproc_free(p);
		return NULL;
	}
	return p;
}

struct recproc *recproc_open_exec(const struct record_opts *o, pid_t pid, pid_t parent, int micro)
{
	struct recproc *p = xcalloc(1, sizeof *p);

	p->opts = o;
	p->micro = micro && o->mem_rate_hz > 0;
	p->pid = pid;
	p->parent = parent;
	p->started = clock_real_s();
	session_clear(&p->s);
	p->exec_since = clock_mono_s(); /* the loader and the interpreter are starting */
	return p;
}

/* Does the program the process now runs carry CPython (linked in, or a libpython it
 * needs)?  Decided from the file at once: at the exec stop nothing else is mapped yet. */
int recproc_runs_python(pid_t pid)
{
	char exe[64];
	struct elf_image img;

	snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
	if (elfimg_open(&img, exe, NULL) < 0)
		return 0;
	int yes =
	    elfimg_symbol(&img, "Py_Initialize", NULL) != 0 || elfimg_needs(&img, "libpython");
	elfimg_close(&img);
	return yes;
}

int recproc_exec(struct recproc *p, struct tg_err *err)
{
	/* the old image's frames are gone: they all returned.  No tracker yet: the process
	 * execs again while its interpreter was still awaited (events are handled late, so
	 * two execs can come in a row: the first one's /proc/PID/exe is already the second's) */
	p->ended = clock_real_s();
	if (p->tracker) {
		size_t closed = 0;
		tracker_end_all(p->tracker, p->ended, &closed, NULL);
		tracker_counts_add(p->tracker, &p->freed);
		p->closed_at_end += closed;
	}
	/* the old image's run ends here: its totals, while its interpreter is still known
	 * (an exec into something else leaves it at that; into Python, the next image's
	 * meta follows) */
	int rc = p->mem ? recproc_write_meta(p, 1, err) : 0;
	tracker_free(p->tracker);
	p->tracker = NULL;
	memtrack_free(p->mem);
	p->mem = NULL;
	natstack_free(p->nat);
	p->nat = NULL;
	session_close(&p->s);
	session_clear(&p->s);
	buf_reset(&p->cmdline); /* the new program's arguments */
	if (rc < 0)
		return -1;
	if (!recproc_runs_python(p->pid))
		return 1;
	p->exec_since = clock_mono_s(); /* the loader and the interpreter are starting */
	return 0;
}

/* After an exec into Python: find the new interpreter once its library is mapped.
 * Returns 0 when recording again (or still waiting), 1 when it never showed up. */
static int resume_after_exec(struct recproc *p, struct tg_err *err)
{
	struct session_opts sopts = {.offsets = p->opts->offsets};
	struct tg_err why = {0};

	if (session_open(&p->s, p->pid, &sopts, &why) < 0) {
		session_clear(&p->s);
		if (clock_mono_s() - p->exec_since < EXEC_GRACE_S)
			return 0;
		if (err)
			*err = why;
		return 1;
	}
	p->exec_since = 0;
	if (!p->out) /* first seen running Python now (proc_open_exec): its files begin */
		return open_recording(p, err) < 0 ? -1 : 0;
	if (open_memtrack(p, err) < 0)
		return 1;
	p->tracker = tracker_new(p->out, p->opts->filter);
	return recproc_write_meta(p, 0, err) < 0 ? -1 : 0;
}

int recproc_close(struct recproc *p, int discard, struct tg_err *err)
{
	int rc = 0;

	if (discard) {
		output_discard(p->out);
	} else {
		/* the last row, with the exact heap (the growth over the recording) */
		struct memtrack_row row;
		if (p->mem && p->exec_since == 0 && memtrack_read(p->mem, &row, 1) == 0 &&
		    row.v[MT_RSS] != 0) {
			p->last_process_row = 0;
			if (write_process(p, clock_real_s(), &row, err) < 0)
				rc = -1;
		}
		/* calls still running are closed with what they were charged so far */
		if (rc == 0 && p->tracker) {
			size_t closed = 0;
			p->ended = clock_real_s();
			if (tracker_end_all(p->tracker, p->ended, &closed, err) < 0)
				rc = -1;
			p->closed_at_end += closed;
		}
		if (rc == 0 && p->mem && p->exec_since == 0 && recproc_write_meta(p, 1, err) < 0)
			rc = -1;
		if (output_close(p->out, rc < 0 ? NULL : err) < 0)
			rc = -1;
	}
	p->out = NULL;
	recproc_free(p);
	return rc;
}

int recproc_flush(struct recproc *p, struct tg_err *err)
{
	return p->out ? output_flush(p->out, err) : 0;
}

int recproc_micro(const struct recproc *p)
{
	return p->micro;
}

void recproc_share_bursts(struct recproc *p, int shared)
{
	if (p->micro && p->mem)
		memtrack_set_shared(p->mem, shared);
}

pid_t recproc_pid(const struct recproc *p)
{
	return p->pid;
}

const struct py_target *recproc_target(const struct recproc *p)
{
	return &p->s.target;
}

const char *recproc_dir(const struct recproc *p)
{
	return p->out ? output_dir(p->out) : NULL;
}

void recproc_note_pause(struct recproc *p, int paused, double held_s)
{
	if (!paused) {
		p->pause_missed++;
		return;
	}
	p->paused_samples++;
	p->paused_s += held_s;
}

uint64_t recproc_samples(const struct recproc *p)
{
	return p->samples;
}

size_t recproc_threads(const struct recproc *p)
{
	return p->tracker ? tracker_threads(p->tracker) : 0;
}

void recproc_ran_cpus(const struct recproc *p, cpu_set_t *set)
{
	if (p->mem)
		memtrack_ran_cpus(p->mem, set);
}

uint64_t recproc_bytes(const struct recproc *p)
{
	return p->out ? output_bytes(p->out) : 0;
}

int recproc_waiting(const struct recproc *p)
{
	return p->exec_since > 0;
}
