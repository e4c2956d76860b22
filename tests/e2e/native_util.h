/* native_util.h: `tgattach dump` output read back (threads, and each frame's kind, file and
 * function), and the checks of a merged stack of fixtures/native_calls.py
 * (test_native.c). */
#ifndef TG_E2E_NATIVE_UTIL_H
#define TG_E2E_NATIVE_UTIL_H

#include <stddef.h>

#define NDUMP_MAX_THREADS 16
#define NDUMP_MAX_FRAMES 256

struct nframe {
	int native; /* a `C frame` line, else a `File` line */
	char file[256];
	char func[128];
};

struct nthread {
	char name[64];
	size_t n;
	struct nframe f[NDUMP_MAX_FRAMES];
};

struct ndump {
	size_t n;
	struct nthread th[NDUMP_MAX_THREADS];
};

/* Parse dump's stdout; 0, or -1 when no thread could be read. */
int ndump_parse(const char *text, struct ndump *d);
const struct nthread *ndump_thread(const struct ndump *d, const char *name);
/* Index of the first frame of kind native (0/1) whose function is func, or -1.
 * prefix: a function that starts with func followed by nothing or '.' matches too. */
int nthread_find(const struct nthread *t, int native, const char *func, int prefix);

/* A parked thread of the fixture, merged (`--profile both`): in why (when it returns -1)
 * what did not check out.  inner, outer: its Python frames around the C call; named: the
 * C function expected between them (NULL: none checked); python: the same thread's
 * Python-only dump (its Python frames must all be there, in order). */
int nthread_check_merged(const struct nthread *t, const char *inner, const char *outer,
			 const char *named, const struct nthread *python, char *why, size_t len);

#endif
