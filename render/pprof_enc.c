/* pprof_enc.c: pprof profiles with protobuf-c and zlib (pprof_enc.h). */
#include "render/pprof_enc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/xalloc.h"
#include "render/profile.pb-c.h"
#include "render/text.h"

enum { VALUES = 2, LABELS = 2 };

/* A sample and the arrays it points to, allocated together. */
struct sample {
	Tgpprof__Sample s;
	Tgpprof__Label lab[LABELS];
	Tgpprof__Label *labp[LABELS];
	int64_t value[VALUES];
	uint64_t loc[]; /* leaf first */
};

struct pprof_enc {
	struct frames *strings; /* interned strings: string i + 1 is the FILE of entry i */
	struct frames *funcs;	/* (FILE, FUNC) pairs: function i + 1 */
	struct sample **samples;
	size_t nsamples, cap;
	int64_t key_thread, key_pid;
};

/* The string table index of s, cleaned, added if new (0 is ""). */
static int64_t str_id(struct pprof_enc *e, const char *s, size_t len)
{
	struct buf clean = BUF_INIT;

	if (len == 0)
		return 0;
	text_clean(&clean, s, len);
	uint32_t id = frames_intern(e->strings, clean.data, clean.len, "", 0, 0);
	buf_free(&clean);
	return (int64_t)id + 1;
}

struct pprof_enc *pprof_enc_new(void)
{
	struct pprof_enc *e = xcalloc(1, sizeof *e);

	e->strings = frames_new();
	e->funcs = frames_new();
	e->key_thread = str_id(e, "thread", 6);
	e->key_pid = str_id(e, "pid", 3);
	return e;
}

void pprof_enc_free(struct pprof_enc *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nsamples; i++)
		free(e->samples[i]);
	free(e->samples);
	frames_free(e->strings);
	frames_free(e->funcs);
	free(e);
}

size_t pprof_enc_samples(const struct pprof_enc *e)
{
	return e->nsamples;
}

void pprof_enc_sample(struct pprof_enc *e, const uint32_t *path, size_t n, const int64_t *v,
		      const char *thread, size_t thread_len, long pid)
{
	struct sample *s = xcalloc(1, sizeof *s + n * sizeof s->loc[0]);
	size_t nlab = 0;

	tgpprof__sample__init(&s->s);
	for (size_t i = 0; i < n; i++)
		s->loc[i] = (uint64_t)path[n - 1 - i] + 1;
	memcpy(s->value, v, sizeof s->value);
	tgpprof__label__init(&s->lab[nlab]);
	s->lab[nlab].key = e->key_thread;
	s->lab[nlab++].str = str_id(e, thread, thread_len);
	if (pid > 0) {
		tgpprof__label__init(&s->lab[nlab]);
		s->lab[nlab].key = e->key_pid;
		s->lab[nlab++].num = pid;
	}
	for (size_t i = 0; i < nlab; i++)
		s->labp[i] = &s->lab[i];
	s->s.n_location_id = n;
	s->s.location_id = s->loc;
	s->s.n_value = VALUES;
	s->s.value = s->value;
	s->s.n_label = nlab;
	s->s.label = s->labp;
	if (e->nsamples == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 256;
		e->samples = xrealloc(e->samples, e->cap * sizeof *e->samples);
	}
	e->samples[e->nsamples++] = s;
}

/* Locations (one per frame of fr) and their functions, with their strings. */
struct locs {
	Tgpprof__Location *loc;
	Tgpprof__Location **locp;
	Tgpprof__Line *line;
	Tgpprof__Line **linep;
	Tgpprof__Function *fn;
	Tgpprof__Function **fnp;
	size_t nloc, nfn;
};

static void locs_build(struct pprof_enc *e, const struct frames *fr, struct locs *l)
{
	l->nloc = frames_count(fr);
	l->loc = xcalloc(l->nloc + 1, sizeof *l->loc);
	l->locp = xcalloc(l->nloc + 1, sizeof *l->locp);
	l->line = xcalloc(l->nloc + 1, sizeof *l->line);
	l->linep = xcalloc(l->nloc + 1, sizeof *l->linep);
	l->fn = xcalloc(l->nloc + 1, sizeof *l->fn);
	l->fnp = xcalloc(l->nloc + 1, sizeof *l->fnp);
	for (size_t i = 0; i < l->nloc; i++) {
		const struct frame *f = frames_get(fr, (uint32_t)i);
		uint32_t fid =
		    frames_intern(e->funcs, f->file, f->file_len, f->func, f->func_len, 0);
		if (fid == l->nfn) { /* a new function */
			Tgpprof__Function *fn = &l->fn[l->nfn];
			tgpprof__function__init(fn);
			fn->id = fid + 1;
			fn->name = fn->system_name = str_id(e, f->func, f->func_len);
			fn->filename = str_id(e, f->file, f->file_len);
			l->fnp[l->nfn++] = fn;
		}
		tgpprof__line__init(&l->line[i]);
		l->line[i].function_id = fid + 1;
		l->line[i].line = f->line;
		l->linep[i] = &l->line[i];
		tgpprof__location__init(&l->loc[i]);
		l->loc[i].id = i + 1;
		l->loc[i].n_line = 1;
		l->loc[i].line = &l->linep[i];
		l->locp[i] = &l->loc[i];
	}
}

static void locs_free(struct locs *l)
{
	free(l->loc);
	free(l->locp);
	free(l->line);
	free(l->linep);
	free(l->fn);
	free(l->fnp);
}

/* data, gzip-compressed, to fp. */
static int gzip_to(FILE *fp, const uint8_t *data, size_t len, size_t *bytes, struct tg_err *err)
{
	z_stream zs;
	unsigned char out[65536];
	int zrc = Z_OK;

	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return tg_err_set(err, TG_E_INTERNAL, "pprof: zlib would not start");
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)len; /* the caller keeps len below 4 GiB */
	*bytes = 0;
	while (zrc != Z_STREAM_END) {
		zs.next_out = out;
		zs.avail_out = sizeof out;
		zrc = deflate(&zs, Z_FINISH);
		if (zrc != Z_OK && zrc != Z_STREAM_END)
			break;
		size_t have = sizeof out - zs.avail_out;
		if (fwrite(out, 1, have, fp) != have)
			break;
		*bytes += have;
	}
	deflateEnd(&zs);
	if (zrc != Z_STREAM_END)
		return tg_err_sys(err, TG_E_OUTPUT, "pprof: cannot write the profile");
	return 0;
}

/* The string table, in index order: "" then each interned string. */
static char **string_table(const struct pprof_enc *e, size_t *n)
{
	*n = frames_count(e->strings) + 1;
	char **v = xcalloc(*n, sizeof *v);

	v[0] = "";
	for (size_t i = 1; i < *n; i++)
		v[i] = (char *)frames_get(e->strings, (uint32_t)(i - 1))->file;
	return v;
}

static int64_t nanos(double s)
{
	return isfinite(s) && s > 0 && s < 9e9 ? (int64_t)llround(s * 1e9) : 0;
}

int pprof_enc_write(struct pprof_enc *e, const struct frames *fr, const struct pprof_times *tm,
		    FILE *fp, size_t *bytes, struct tg_err *err)
{
	Tgpprof__Profile p = TGPPROF__PROFILE__INIT;
	Tgpprof__ValueType vt[VALUES + 1], *vtp[VALUES];
	static const char *const names[VALUES + 1][2] = {
	    {"samples", "count"}, {"memory", "bytes"}, {"wall", "nanoseconds"}};
	struct locs l = {0};

	for (size_t i = 0; i < VALUES + 1; i++) {
		tgpprof__value_type__init(&vt[i]);
		vt[i].type = str_id(e, names[i][0], strlen(names[i][0]));
		vt[i].unit = str_id(e, names[i][1], strlen(names[i][1]));
		if (i < VALUES)
			vtp[i] = &vt[i];
	}
	locs_build(e, fr, &l);
	p.n_sample_type = VALUES;
	p.sample_type = vtp;
	p.n_sample = e->nsamples;
	p.sample = (Tgpprof__Sample **)e->samples; /* each struct sample begins with one */
	p.n_location = l.nloc;
	p.location = l.locp;
	p.n_function = l.nfn;
	p.function = l.fnp;
	p.time_nanos = nanos(tm->start);
	p.duration_nanos = tm->end > tm->start ? nanos(tm->end - tm->start) : 0;
	p.period_type = &vt[VALUES];
	p.period = nanos(tm->interval);
	p.string_table = string_table(e, &p.n_string_table);
	size_t len = tgpprof__profile__get_packed_size(&p);
	int rc = -1;
	if (len >= (1ull << 32)) {
		tg_err_set(err, TG_E_DATA, "pprof: the profile would be %zu bytes (4 GiB at most)",
			   len);
	} else {
		uint8_t *data = xmalloc(len ? len : 1);
		tgpprof__profile__pack(&p, data);
		rc = gzip_to(fp, data, len, bytes, err);
		free(data);
	}
	free(p.string_table);
	locs_free(&l);
	return rc;
}
