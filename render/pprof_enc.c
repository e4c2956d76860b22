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

/* A profile is written as it is built: each sample packed on its own as field 2 of the
 * Profile message (a message is the concatenation of its fields, and a repeated field's
 * elements may come apart), deflated at once; the other fields, which need every sample
 * seen (strings, functions, locations), are packed last.  Only the strings and frames are
 * held, whatever the number of samples. */
enum { SAMPLE_FIELD_KEY = (2 << 3) | 2 }; /* field 2, length-delimited */

struct pprof_enc {
	struct frames *strings; /* interned strings: string i + 1 is the FILE of entry i */
	struct frames *funcs;	/* (FILE, FUNC) pairs: function i + 1 */
	size_t nsamples;
	int64_t key_thread, key_pid;
	FILE *fp;
	z_stream zs;
	int z_ok;	/* deflateInit2 succeeded */
	int failed;	/* a write failed */
	size_t written; /* compressed bytes */
	uint8_t *pack;	/* a sample's packed bytes, reused */
	size_t pack_cap;
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

struct pprof_enc *pprof_enc_new(FILE *fp)
{
	struct pprof_enc *e = xcalloc(1, sizeof *e);

	e->strings = frames_new();
	e->funcs = frames_new();
	e->key_thread = str_id(e, "thread", 6);
	e->key_pid = str_id(e, "pid", 3);
	e->fp = fp;
	e->z_ok = deflateInit2(&e->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			       Z_DEFAULT_STRATEGY) == Z_OK;
	return e;
}

void pprof_enc_free(struct pprof_enc *e)
{
	if (!e)
		return;
	if (e->z_ok)
		deflateEnd(&e->zs);
	free(e->pack);
	frames_free(e->strings);
	frames_free(e->funcs);
	free(e);
}

/* len bytes into the gzip stream (flush: Z_NO_FLUSH, or Z_FINISH at the end). */
static void deflate_to(struct pprof_enc *e, const void *data, size_t len, int flush)
{
	unsigned char out[65536];
	int zrc;

	if (!e->z_ok || e->failed)
		return;
	e->zs.next_in = (unsigned char *)data;
	e->zs.avail_in = (uInt)len;
	do {
		e->zs.next_out = out;
		e->zs.avail_out = sizeof out;
		zrc = deflate(&e->zs, flush);
		size_t have = sizeof out - e->zs.avail_out;
		if (zrc == Z_STREAM_ERROR || fwrite(out, 1, have, e->fp) != have) {
			e->failed = 1;
			return;
		}
		e->written += have;
	} while (e->zs.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
}

/* A field key and a length, as protobuf varints. */
static size_t varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

size_t pprof_enc_samples(const struct pprof_enc *e)
{
	return e->nsamples;
}

void pprof_enc_sample(struct pprof_enc *e, const uint32_t *path, size_t n, const int64_t *v,
		      const char *thread, size_t thread_len, long pid)
{
	Tgpprof__Sample s = TGPPROF__SAMPLE__INIT;
	Tgpprof__Label lab[LABELS], *labp[LABELS];
	uint64_t *loc = xcalloc(n + 1, sizeof *loc);
	int64_t value[VALUES];
	size_t nlab = 0;

	for (size_t i = 0; i < n; i++)
		loc[i] = (uint64_t)path[n - 1 - i] + 1;
	memcpy(value, v, sizeof value);
	tgpprof__label__init(&lab[nlab]);
	lab[nlab].key = e->key_thread;
	lab[nlab++].str = str_id(e, thread, thread_len);
	if (pid > 0) {
		tgpprof__label__init(&lab[nlab]);
		lab[nlab].key = e->key_pid;
		lab[nlab++].num = pid;
	}
	for (size_t i = 0; i < nlab; i++)
		labp[i] = &lab[i];
	s.n_location_id = n;
	s.location_id = loc;
	s.n_value = VALUES;
	s.value = value;
	s.n_label = nlab;
	s.label = labp;
	size_t len = tgpprof__sample__get_packed_size(&s);
	if (len + 20 > e->pack_cap) {
		e->pack_cap = (len + 20) * 2;
		e->pack = xrealloc(e->pack, e->pack_cap);
	}
	size_t head = varint(e->pack, SAMPLE_FIELD_KEY);
	head += varint(e->pack + head, len);
	tgpprof__sample__pack(&s, e->pack + head);
	deflate_to(e, e->pack, head + len, Z_NO_FLUSH);
	e->nsamples++;
	free(loc);
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
		l->line[i].line = f->line > 0 ? f->line : 0; /* pprof: 0 is unknown (native -1) */
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

int pprof_enc_finish(struct pprof_enc *e, const struct frames *fr, const struct pprof_times *tm,
		     size_t *bytes, struct tg_err *err)
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
	uint8_t *data = xmalloc(len ? len : 1);
	tgpprof__profile__pack(&p, data);
	for (size_t off = 0; off < len; off += 1u << 30) /* avail_in is 32 bits */
		deflate_to(e, data + off, len - off < (1u << 30) ? len - off : 1u << 30,
			   Z_NO_FLUSH);
	deflate_to(e, NULL, 0, Z_FINISH);
	free(data);
	free(p.string_table);
	locs_free(&l);
	*bytes = e->written;
	if (!e->z_ok)
		return tg_err_set(err, TG_E_INTERNAL, "pprof: zlib would not start");
	if (e->failed)
		return tg_err_sys(err, TG_E_OUTPUT, "pprof: cannot write the profile");
	return 0;
}
