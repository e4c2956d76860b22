/* recproc_meta.c: a recorded process's meta file and process.alloc header (formats in
 * docs/formats.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/autogroup.h"
#include "common/version.h"
#include "sampler/alloc.h"
#include "sampler/output.h"
#include "sampler/recproc_int.h"

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

#define META_MAX_KEYS 64

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
/* key=N, a count. */
static void meta_count(struct meta_kv *kv, const char *key, uint64_t n)
{
	buf_addf(meta_add(kv, key), "%llu", (unsigned long long)n);
}

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
	buf_addf(meta_add(kv, "mem_realtime"), "%d", p->opts->realtime && p->micro);
	buf_addstr(meta_add(kv, "sched_autogroup"), autogroup_name(p->opts->autogroup));
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
/* The samples and the memory micro-samples (memtrack). */
static void meta_mem_totals(struct recproc *p, struct meta_kv *kv)
{
	struct memtrack_stats st;

	memtrack_stats(p->mem, &st);
	meta_count(kv, "samples", p->samples);
	meta_count(kv, "failed_samples", p->failed_samples);
	meta_count(kv, "mem_micro_samples", st.micro_samples);
	meta_count(kv, "alloc_walks", st.walks);
	meta_count(kv, "alloc_discarded", st.discarded);
	meta_count(kv, "alloc_walks_spared", st.walks_spared);
	meta_count(kv, "alloc_walks_beside", st.walks_beside);
	buf_addf(meta_add(kv, "mem_cost_us"), "sample:%.0f walk:%.0f micro:%.1f",
		 per(st.sample_s, st.samples) * 1e6, per(st.walk_s, st.walks) * 1e6,
		 per(st.micro_s, st.micro_samples) * 1e6);
	buf_addf(meta_add(kv, "unattributed_bytes"), "%lld", (long long)st.unattributed);
	if (st.read_gaps)
		buf_addf(meta_add(kv, "mem_reading_us"), "%.0f",
			 per(st.read_gap_s, st.read_gaps) * 1e6);
	if (st.read_gap_s > 0)
		buf_addf(meta_add(kv, "mem_reading_late"), "%.1f",
			 100 * st.read_late_s / st.read_gap_s);
	if (st.has_loop_waited)
		buf_addf(meta_add(kv, "mem_loop_waited"), "%.1f", st.loop_waited_pct);
	if (st.burst_gaps)
		buf_addf(meta_add(kv, "mem_burst_gap_us"), "%.0f",
			 per(st.burst_gap_s, st.burst_gaps) * 1e6);
	meta_count(kv, "mem_bursts", st.bursts);
	if (st.rt_refused)
		meta_count(kv, "mem_realtime_refused", st.rt_refused);
	buf_addf(meta_add(kv, "mem_burst_weight"), "%g", st.weight);
	buf_addf(meta_add(kv, "mem_burst_bytes"), "%lld", (long long)st.burst_bytes);
	meta_count(kv, "mem_bursts_idle", st.micro_idle);
	meta_count(kv, "mem_micro_walks", st.micro_walks);
	meta_count(kv, "mem_micro_again", st.micro_again);
}

/* The calls, walks and stacks: the tracker's, the walker's, the native unwinder's. */
static void meta_stack_totals(struct recproc *p, struct meta_kv *kv)
{
	struct tracker_counts tc = p->freed;
	if (p->tracker)
		tracker_counts_add(p->tracker, &tc);
	meta_count(kv, "suspect_returns", tc.suspect_returns);
	meta_count(kv, "held_walks", tc.held_walks);
	buf_addf(meta_add(kv, "mem_unseen_bytes"), "%lld", (long long)tc.unseen_bytes);
	meta_count(kv, "mem_unseen_charges", tc.unseen_charges);
	uint64_t walks = 0, torn = 0;
	if (p->s.walker)
		walker_counts(p->s.walker, &walks, &torn);
	meta_count(kv, "walks", walks);
	meta_count(kv, "torn_walks", torn);
	uint64_t copy_tries = 0, copy_walks = 0;
	if (p->s.walker)
		walker_copy_counts(p->s.walker, &copy_tries, &copy_walks);
	meta_count(kv, "copy_walk_tries", copy_tries);
	meta_count(kv, "copy_walks", copy_walks);
	meta_count(kv, "code_reads", (p->s.walker ? walker_code_reads(p->s.walker) : 0));
	buf_addf(meta_add(kv, "end"), "%.6f", p->ended);
	meta_count(kv, "closed_at_end", p->closed_at_end);
	if (p->nat) {
		uint64_t threads, frames, reports, unpaired;
		natstack_counts(p->nat, &threads, &frames, &reports, &unpaired);
		meta_count(kv, "native_unwinds", threads);
		meta_count(kv, "native_frames", frames);
		meta_count(kv, "native_missed", p->native_missed);
		meta_count(kv, "native_unpaired", unpaired);
		buf_addf(meta_add(kv, "native_hold_us"), "stop:%.0f work:%.0f",
			 per(p->native_held_s, p->native_holds) * 1e6,
			 per(p->native_work_s, p->native_holds) * 1e6);
		meta_count(kv, "native_module_reports", reports);
	}
	if (p->opts->consistent) {
		meta_count(kv, "paused_samples", p->paused_samples);
		meta_count(kv, "pause_missed", p->pause_missed);
		buf_addf(meta_add(kv, "pause_us"), "%.0f",
			 per(p->paused_s, p->paused_samples) * 1e6);
	}
}

int recproc_write_meta(struct recproc *p, int final, struct tg_err *err)
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
	buf_addstr(meta_add(&kv, "profile"), profile_name(o->profile));
	buf_addf(meta_add(&kv, "start"), "%.6f", p->started);
	struct buf *self = meta_add(&kv, "command");
	for (int i = 0; i < o->argc; i++)
		buf_addf(self, "%s%s", i ? " " : "", o->argv[i]);
	meta_alloc(p, &kv);
	if (final) {
		meta_mem_totals(p, &kv);
		meta_stack_totals(p, &kv);
	}
	const char *values[META_MAX_KEYS];
	for (size_t i = 0; i < kv.n; i++)
		values[i] = buf_cstr(&kv.values[i]);
	int rc = output_meta(p->out, kv.keys, values, kv.n, err);
	for (size_t i = 0; i < kv.n; i++)
		buf_free(&kv.values[i]);
	return rc;
}

/* process.alloc's header for this run. */
int recproc_write_alloc_header(struct recproc *p, struct tg_err *err)
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
