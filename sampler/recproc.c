/* recproc.c: one process's recording: its session, files, call tracker and memory
 * tracker (recproc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/recproc.h"
#include "common/clock.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "sampler/alloc.h"
#include "sampler/output.h"
#include "sampler/session.h"
#include "sampler/tracker.h"
#include "symbols/elfimg.h"

#define NAMES_REFRESH_TICKS 25
/* How long an exec'd Python may take to map its interpreter before it is given up. */
#define EXEC_GRACE_S 5.0
/* Threads a micro-sample's change may be split over (each one's stack is walked). */
#define MICRO_SHARES 4

struct recproc {
	const struct record_opts *opts;
	pid_t pid, parent;
	int micro; /* memory micro-samples between stack samples */
	struct session s;
	struct output *out;
	struct tracker *tracker;
	struct memtrack *mem;
	struct walk_sample sample;
	struct walk_sample one, again; /* a thread walked between samples; a second walk */
	int64_t *charged;
	size_t charged_cap;
	double last_process_row;
	uint64_t samples, failed_samples;
	uint64_t paused_samples, pause_missed; /* --consistent */
	uint64_t closed_at_end;		       /* frames still running when recording ended */
	uint64_t suspect_returns, held_walks;  /* of trackers freed (exec) */
	double ended;			       /* when the recording of it ended (Unix time) */
	double paused_s;
	size_t last_nthreads;
	double started;
	double exec_since; /* > 0: exec'd into Python, interpreter not found yet */
	struct buf cmdline;
};

static int resume_after_exec(struct recproc *p, struct tg_err *err);

static int thread_name(void *ctx, const struct walk_thread *th, struct buf *out)
{
	struct recproc *p = ctx;
	return session_thread_name(&p->s, th, out);
}

static int64_t *charged_for(struct recproc *p, size_t n)
{
	if (n > p->charged_cap) {
		p->charged_cap = n * 2;
		p->charged = xrealloc(p->charged, p->charged_cap * sizeof *p->charged);
	}
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
static void confirm_walk(struct recproc *p, struct walk_thread *th, double now)
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

static const struct walk_thread *sampled_thread(const struct recproc *p, uint64_t tstate)
{
	for (size_t i = 0; i < p->sample.nthreads; i++)
		if (p->sample.threads[i].tstate == tstate)
			return &p->sample.threads[i];
	return NULL;
}

/* A micro-sample's share, charged to its thread's stack as it is now.  A thread started
 * since the last stack sample (a server's thread per request) is walked all the same: when
 * the tracker has it by then, it is charged. */
static int charge_share(struct recproc *p, const struct attrib_share *sh, double now,
			struct tg_err *err)
{
	const struct walk_thread *known = sampled_thread(p, sh->tstate);
	struct walk_thread fresh = {.tstate = sh->tstate};
	int rc = 0;

	if (walker_walk_thread(p->s.walker, known ? known : &fresh, &p->one) == 0) {
		confirm_walk(p, &p->one.threads[0], now);
		/* a thread no sample listed yet is not named from here: the registry may still
		 * hold a dead thread's entry under its reused ident (the stack sample, which
		 * re-reads it when a thread is new, names it); its charge waits for that */
		rc = tracker_feed_one(p->tracker, &p->one.threads[0], sh->bytes, now,
				      known ? thread_name : NULL, p, err);
	}
	if (rc == 0)
		memtrack_keep(p->mem, sh->tstate, sh->bytes);
	return rc < 0 ? -1 : 0;
}

/* A burst of micro-samples, when one is due: each change charged to the stacks of the
 * threads that made it, as they are at that moment. */
static int micro_tick(struct recproc *p, struct tg_err *err)
{
	struct attrib_share sh[MICRO_SHARES];
	size_t n;

	while (memtrack_burst(p->mem)) {
		if (memtrack_micro(p->mem, sh, MICRO_SHARES, &n) != 0)
			return 1;
		double t0 = clock_mono_s(), now = clock_real_s();
		for (size_t i = 0; i < n; i++)
			if (charge_share(p, &sh[i], now, err) < 0)
				return -1;
		if (n)
			memtrack_micro_spent(p->mem, clock_mono_s() - t0);
		memtrack_burst_pace(p->mem);
	}
	return 0;
}

int recproc_tick(struct recproc *p, int stack_due, int may_burst, double now, struct tg_err *err)
{
	struct memtrack_row row;

	if (p->exec_since > 0)
		return stack_due ? resume_after_exec(p, err) : 0;
	if (!stack_due)
		return may_burst && p->micro ? micro_tick(p, err) : 0;
	if (memtrack_read(p->mem, &row, 0) != 0 || row.v[MT_RSS] == 0)
		return 1; /* the process is gone (or a zombie: nothing resident) */
	if (write_process(p, now, &row, err) < 0)
		return -1;
	if (walker_sample(p->s.walker, &p->sample, NULL) < 0) {
		p->failed_samples++;
		return 0;
	}
	if (p->samples % NAMES_REFRESH_TICKS == 0 || p->sample.nthreads != p->last_nthreads ||
	    tracker_pending(p->tracker))
		session_refresh_names(&p->s, &p->sample);
	p->last_nthreads = p->sample.nthreads;
	for (size_t i = 0; i < p->sample.nthreads; i++)
		confirm_walk(p, &p->sample.threads[i], now);
	int64_t *charged = charged_for(p, p->sample.nthreads);
	memtrack_charge(p->mem, &p->sample, charged);
	if (tracker_feed(p->tracker, &p->sample, charged, now, thread_name, p, err) < 0)
		return -1;
	p->samples++;
	return 0;
}

static void target_cmdline(pid_t pid, struct buf *out)
{
	char path[64], data[4096];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	size_t n = fread(data, 1, sizeof data, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		buf_addch(out, data[i] ? data[i] : ' ');
	while (out->len && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
}

#define META_MAX_KEYS 48

/* meta's key=value pairs, values owned. */
struct meta_kv {
	const char *keys[META_MAX_KEYS];
	struct buf values[META_MAX_KEYS];
	size_t n;
};

static struct buf *meta_add(struct meta_kv *kv, const char *key)
{
	if (kv->n == META_MAX_KEYS)
		abort(); /* a programming error: the keys are fixed below */
	kv->keys[kv->n] = key;
	kv->values[kv->n] = (struct buf)BUF_INIT;
	return &kv->values[kv->n++];
}

/* Which metrics and process.alloc columns this target gives, and why the others are
 * missing. */
static void meta_alloc(struct recproc *p, struct meta_kv *kv)
{
	struct alloc_reader *a = memtrack_alloc(p->mem);
	unsigned avail = alloc_available(a);
	int heap = memtrack_heap_available(p->mem);
	struct buf *cols, *missing;

	buf_addstr(meta_add(kv, "metric"),
		   memtrack_metric(p->mem) == MEMTRACK_HEAP ? "heap" : "rss");
	buf_addf(meta_add(kv, "metrics"), "rss%s", heap ? " heap" : "");
	buf_addf(meta_add(kv, "mem_rate_hz"), "%g", p->opts->mem_rate_hz);
	buf_addstr(meta_add(kv, "alloc_source"), alloc_source(a));
	cols = meta_add(kv, "alloc_columns");
	missing = meta_add(kv, "alloc_missing");
	buf_addf(cols, "time rss anon%s", heap ? " heap pool_bytes" : "");
	if (!heap)
		buf_addf(missing, "heap, pool_bytes: %s", alloc_missing_reason(a, ALLOC_BYTES));
	for (int f = 0; f < ALLOC_NFIELDS; f++) {
		if (avail & (1u << f)) {
			buf_addf(cols, " %s", alloc_field_name((enum alloc_field)f));
			continue;
		}
		buf_addf(missing, "%s%s: %s", missing->len ? "; " : "",
			 alloc_field_name((enum alloc_field)f),
			 alloc_missing_reason(a, (enum alloc_field)f));
	}
}

static double per(double total, uint64_t n)
{
	return n ? total / (double)n : 0.0;
}

/* At the end of the run: how the run went. */
static void meta_totals(struct recproc *p, struct meta_kv *kv)
{
	struct memtrack_stats st;

	memtrack_stats(p->mem, &st);
	buf_addf(meta_add(kv, "samples"), "%llu", (unsigned long long)p->samples);
	buf_addf(meta_add(kv, "failed_samples"), "%llu", (unsigned long long)p->failed_samples);
	buf_addf(meta_add(kv, "mem_micro_samples"), "%llu", (unsigned long long)st.micro_samples);
	buf_addf(meta_add(kv, "alloc_walks"), "%llu", (unsigned long long)st.walks);
	buf_addf(meta_add(kv, "alloc_discarded"), "%llu", (unsigned long long)st.discarded);
	buf_addf(meta_add(kv, "alloc_walks_spared"), "%llu", (unsigned long long)st.walks_spared);
	buf_addf(meta_add(kv, "mem_cost_us"), "sample:%.0f walk:%.0f micro:%.1f",
		 per(st.sample_s, st.samples) * 1e6, per(st.walk_s, st.walks) * 1e6,
		 per(st.micro_s, st.micro_samples) * 1e6);
	buf_addf(meta_add(kv, "unattributed_bytes"), "%lld", (long long)st.unattributed);
	buf_addf(meta_add(kv, "mem_bursts"), "%llu", (unsigned long long)st.bursts);
	buf_addf(meta_add(kv, "mem_burst_weight"), "%g", st.weight);
	buf_addf(meta_add(kv, "mem_burst_bytes"), "%lld", (long long)st.burst_bytes);
	buf_addf(meta_add(kv, "mem_bursts_idle"), "%llu", (unsigned long long)st.micro_idle);
	buf_addf(meta_add(kv, "mem_micro_walks"), "%llu", (unsigned long long)st.micro_walks);
	uint64_t suspect = 0, held = 0;
	if (p->tracker)
		tracker_stats(p->tracker, &suspect, &held);
	buf_addf(meta_add(kv, "suspect_returns"), "%llu",
		 (unsigned long long)(p->suspect_returns + suspect));
	buf_addf(meta_add(kv, "held_walks"), "%llu", (unsigned long long)(p->held_walks + held));
	uint64_t walks = 0, torn = 0;
	if (p->s.walker)
		walker_counts(p->s.walker, &walks, &torn);
	buf_addf(meta_add(kv, "walks"), "%llu", (unsigned long long)walks);
	buf_addf(meta_add(kv, "torn_walks"), "%llu", (unsigned long long)torn);
	buf_addf(meta_add(kv, "end"), "%.6f", p->ended);
	buf_addf(meta_add(kv, "closed_at_end"), "%llu", (unsigned long long)p->closed_at_end);
	if (p->opts->consistent) {
		buf_addf(meta_add(kv, "paused_samples"), "%llu",
			 (unsigned long long)p->paused_samples);
		buf_addf(meta_add(kv, "pause_missed"), "%llu", (unsigned long long)p->pause_missed);
		buf_addf(meta_add(kv, "pause_us"), "%.0f",
			 per(p->paused_s, p->paused_samples) * 1e6);
	}
}

static int write_meta(struct recproc *p, int final, struct tg_err *err)
{
	const struct py_target *t = &p->s.target;
	const struct record_opts *o = p->opts;
	struct meta_kv kv = {0};
	char v[32];

	buf_addstr(meta_add(&kv, "tgattach"), TG_VERSION);
	buf_addf(meta_add(&kv, "pid"), "%d", (int)p->pid);
	if (p->parent)
		buf_addf(meta_add(&kv, "parent"), "%d", (int)p->parent);
	/* read while the process lives (the final meta is written after it may have exited);
	 * a child just forked has its parent's arguments */
	if (!p->cmdline.len)
		target_cmdline(p->pid, &p->cmdline);
	if (!p->cmdline.len && p->parent)
		target_cmdline(p->parent, &p->cmdline);
	buf_addstr(meta_add(&kv, "cmdline"), buf_cstr(&p->cmdline));
	buf_addstr(meta_add(&kv, "interpreter"), t->image_path);
	buf_addf(meta_add(&kv, "version"), "%s%s", pytarget_version_str(t, v, sizeof v),
		 t->debug_abi ? " (debug build)" : "");
	buf_addstr(meta_add(&kv, "build"), t->is_shared ? "shared" : "static");
	buf_addstr(meta_add(&kv, "offsets"), pytarget_offsets_source_name(t->off_source));
	buf_addstr(meta_add(&kv, "offsets_detail"), t->off_detail);
	buf_addf(meta_add(&kv, "rate_hz"), "%g", o->rate_hz);
	buf_addf(meta_add(&kv, "process_interval"), "%g", o->process_interval_s);
	buf_addf(meta_add(&kv, "consistent"), "%d", o->consistent);
	buf_addf(meta_add(&kv, "start"), "%.6f", p->started);
	struct buf *self = meta_add(&kv, "command");
	for (int i = 0; i < o->argc; i++)
		buf_addf(self, "%s%s", i ? " " : "", o->argv[i]);
	meta_alloc(p, &kv);
	if (final)
		meta_totals(p, &kv);
	const char *values[META_MAX_KEYS];
	for (size_t i = 0; i < kv.n; i++)
		values[i] = buf_cstr(&kv.values[i]);
	int rc = output_meta(p->out, kv.keys, values, kv.n, err);
	for (size_t i = 0; i < kv.n; i++)
		buf_free(&kv.values[i]);
	return rc;
}

/* process.alloc's header for this run. */
static int write_alloc_header(struct recproc *p, struct tg_err *err)
{
	const char *cols[1 + MT_NCOLS];
	struct buf c1 = BUF_INIT;

	cols[0] = "time";
	for (int i = 0; i < MT_NCOLS; i++)
		cols[1 + i] = memtrack_col_name((enum memtrack_col)i);
	buf_addf(&c1, "tgattach process.alloc of process %d, run %.6f: one row per sample",
		 (int)p->pid, p->started);
	const char *comments[] = {
	    buf_cstr(&c1),
	    "bytes or counts; ? = not read (see alloc_missing in meta) or discarded as "
	    "torn; gnuplot: set datafile missing \"?\""};
	int rc = output_alloc_header(p->out, comments, 2, cols, 1 + MT_NCOLS, err);
	buf_free(&c1);
	return rc;
}

/* The memory side, once the interpreter is known (it decides which metric is readable).
 * Only the first RECORD_MICRO_PROCS processes get micro-samples (the run decides): with
 * hundreds of children the reads would saturate the loop; the others' memory is charged at
 * stack-sample resolution. */
static int open_memtrack(struct recproc *p, struct tg_err *err)
{
	struct memtrack_opts mo = {p->pid, &p->s.remote, &p->s.target, p->opts->metric,
				   p->micro ? p->opts->mem_rate_hz : 0};

	p->mem = memtrack_new(&mo, err);
	return p->mem ? 0 : -1;
}

static void recproc_free(struct recproc *p)
{
	tracker_free(p->tracker);
	memtrack_free(p->mem);
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
	if (!p->out || write_meta(p, 0, err) < 0 || write_alloc_header(p, err) < 0)
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
	/* the old image's frames are gone: they all returned */
	p->ended = clock_real_s();
	size_t closed = 0;
	tracker_end_all(p->tracker, p->ended, &closed, NULL);
	uint64_t suspect, held;
	tracker_stats(p->tracker, &suspect, &held);
	p->suspect_returns += suspect;
	p->held_walks += held;
	p->closed_at_end += closed;
	/* the old image's run ends here: its totals, while its interpreter is still known
	 * (an exec into something else leaves it at that; into Python, the next image's
	 * meta follows) */
	int rc = p->mem ? write_meta(p, 1, err) : 0;
	tracker_free(p->tracker);
	p->tracker = NULL;
	memtrack_free(p->mem);
	p->mem = NULL;
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
	return write_meta(p, 0, err) < 0 ? -1 : 0;
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
		if (rc == 0 && p->mem && p->exec_since == 0 && write_meta(p, 1, err) < 0)
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

uint64_t recproc_bytes(const struct recproc *p)
{
	return p->out ? output_bytes(p->out) : 0;
}

int recproc_waiting(const struct recproc *p)
{
	return p->exec_since > 0;
}
