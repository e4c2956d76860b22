/* tracker_util.c: the fixture of the sampler/tracker unit tests (tracker_util.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tracker_util.h"

void trk_init(struct trk_fixture *fx)
{
	struct tg_err err = {0};
	static const char *names[TRK_MAXF] = {"root",  "loop", "handle", "leaf",
					      "other", "f5",   "f6",	 "f7"};

	memset(fx, 0, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/tg-tracker-test-XXXXXX");
	cr_assert_not_null(mkdtemp(fx->dir), "mkdtemp: %s", strerror(errno));
	fx->out = output_open(fx->dir, TRK_PID, 0, &err);
	cr_assert_not_null(fx->out, "%s", err.msg);
	fx->tk = tracker_new(fx->out, NULL);
	for (int i = 0; i < TRK_MAXF; i++) {
		fx->codes[i].addr = 0x1000 + (uint64_t)i * 0x100;
		fx->codes[i].file = (char *)"/srv/app.py";
		fx->codes[i].func = (char *)names[i];
	}
	for (int t = 0; t < 4; t++) {
		fx->th[t].frames = fx->frames[t];
		fx->th[t].frames_cap = TRK_MAXF;
		fx->th[t].tstate = 0x7000 + (uint64_t)t * 0x1000;
		fx->th[t].interp = 0x5000;
		fx->th[t].thread_id = 0x9000 + (uint64_t)t;
		fx->th[t].native_id = 100 + t;
	}
	fx->s.threads = fx->th;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void trk_done(struct trk_fixture *fx)
{
	tracker_free(fx->tk);
	output_close(fx->out, NULL);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void trk_set_stack(struct trk_fixture *fx, int t, const int *codes, size_t n)
{
	struct walk_thread *th = &fx->th[t];

	th->depth = n;
	th->truncated = 0;
	for (size_t k = 0; k < n; k++) {
		struct walk_frame *f = &th->frames[n - 1 - k];
		f->code = fx->codes[codes[k]].addr;
		f->code_info = &fx->codes[codes[k]];
		f->addr = 0x100000 + (uint64_t)t * 0x10000 + k * 0x100;
		f->pos = 10;
		f->line = 3;
	}
}

int trk_name_of(void *ctx, const struct walk_thread *th, struct buf *out)
{
	(void)ctx;
	buf_addf(out, "T%lld", (long long)th->native_id);
	return 1;
}

void trk_feed_now(struct trk_fixture *fx, size_t nthreads, const int64_t *charged,
		  const int64_t *now_part, double when)
{
	struct tg_err err = {0};

	fx->s.nthreads = nthreads;
	cr_assert_eq(tracker_feed(fx->tk, &fx->s, charged, now_part, when, trk_name_of, NULL, &err),
		     0, "%s", err.msg);
}

void trk_feed(struct trk_fixture *fx, size_t nthreads, const int64_t *charged, double when)
{
	trk_feed_now(fx, nthreads, charged, NULL, when);
}

int trk_feed_one(struct trk_fixture *fx, int64_t bytes, int64_t after, int before, double span,
		 double when, struct tg_err *err)
{
	struct tracker_charge c = {.bytes = bytes,
				   .after = after,
				   .growth_before = before != 0,
				   .runs_free = before == LET_GO_RUNS,
				   .ran_unseen = before == LET_GO_UNSEEN,
				   .span = span};

	return tracker_feed_one(fx->tk, &fx->th[0], &c, when, trk_name_of, NULL, err);
}

int trk_feed_pos(struct trk_fixture *fx, int64_t bytes, uint64_t pos, uint64_t frame, double when,
		 struct tg_err *err)
{
	struct tracker_charge c = {
	    .bytes = bytes, .span = 1e-4, .pos_before = pos, .frame_before = frame};

	return tracker_feed_one(fx->tk, &fx->th[0], &c, when, trk_name_of, NULL, err);
}

void trk_reading(struct trk_fixture *fx, int64_t bytes, double when)
{
	struct tg_err err = {0};

	cr_assert_eq(trk_feed_one(fx, bytes, 0, 0, 0, when, &err), 1, "%s", err.msg);
}

char *trk_slurp(const struct trk_fixture *fx, const char *name)
{
	char path[256];
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	output_flush(fx->out, NULL);
	snprintf(path, sizeof path, "%s/%d/%s", fx->dir, TRK_PID, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return strdup("");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

int trk_count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

void trk_begin(struct trk_fixture *fx, const int *codes, size_t n)
{
	trk_init(fx);
	trk_set_stack(fx, 0, codes, n);
	trk_feed(fx, 1, NULL, 1.0);
}
