/* pprof_enc.h: a pprof profile (profile.proto) written gzip-compressed as it is built,
 * sample by sample (only its strings and frames are held).  Names are made valid UTF-8 without
 * control bytes (text_clean), as the format's strings must be.  Locations are the frames of a
 * frames table (render/frames.h): one per frame, FILE:LINE of its first call, with a function per
 * (FILE, FUNC). */
#ifndef TG_PPROF_ENC_H
#define TG_PPROF_ENC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "render/frames.h"

struct pprof_enc;

/* The profile goes to fp (its samples as they come, the rest at pprof_enc_finish). */
struct pprof_enc *pprof_enc_new(FILE *fp);
void pprof_enc_free(struct pprof_enc *e);

/* One sample: the stack (frame ids, outermost first), its values (samples, bytes) and its
 * labels: thread (a name, any bytes) and pid (0: none). */
void pprof_enc_sample(struct pprof_enc *e, const uint32_t *path, size_t n, const int64_t *v,
		      const char *thread, size_t thread_len, long pid);
size_t pprof_enc_samples(const struct pprof_enc *e);

/* The recording's span (Unix seconds; 0 when unknown) and the sample interval (s). */
struct pprof_times {
	double start, end, interval;
};

/* The rest of the profile (locations from fr, functions, strings, types, times) and the
 * end of the gzip stream; *bytes gets the compressed size.  TG_E_OUTPUT when a write to fp
 * failed, now or before. */
int pprof_enc_finish(struct pprof_enc *e, const struct frames *fr, const struct pprof_times *tm,
		     size_t *bytes, struct tg_err *err);

#endif
