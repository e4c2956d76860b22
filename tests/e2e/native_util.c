/* native_util.c: see native_util.h. */
#include "tests/e2e/native_util.h"

#include <stdio.h>
#include <string.h>

/* `"FILE", line N, in FUNC` after the prefix */
static int parse_frame(const char *s, struct nframe *f)
{
	const char *q = strchr(s, '"'), *e = q ? strchr(q + 1, '"') : NULL;
	const char *in = e ? strstr(e, ", in ") : NULL;

	if (!in)
		return -1;
	snprintf(f->file, sizeof f->file, "%.*s", (int)(e - q - 1), q + 1);
	snprintf(f->func, sizeof f->func, "%s", in + 5);
	return 0;
}

int ndump_parse(const char *text, struct ndump *d)
{
	struct nthread *cur = NULL;
	char line[1024];

	memset(d, 0, sizeof *d);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof line, "%.*s", (int)len, p);
		p = nl ? nl + 1 : NULL;
		if (strncmp(line, "Thread ", 7) == 0 && d->n < NDUMP_MAX_THREADS) {
			cur = &d->th[d->n++];
			const char *q = strchr(line, '"'), *e = q ? strchr(q + 1, '"') : NULL;
			if (e)
				snprintf(cur->name, sizeof cur->name, "%.*s", (int)(e - q - 1),
					 q + 1);
			continue;
		}
		int native = strncmp(line, "    C frame ", 12) == 0;
		if (!cur || cur->n == NDUMP_MAX_FRAMES ||
		    (!native && strncmp(line, "    File ", 9) != 0))
			continue;
		cur->f[cur->n].native = native;
		if (parse_frame(line, &cur->f[cur->n]) == 0)
			cur->n++;
	}
	return d->n ? 0 : -1;
}

const struct nthread *ndump_thread(const struct ndump *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->th[i].name, name) == 0)
			return &d->th[i];
	return NULL;
}

int nthread_find(const struct nthread *t, int native, const char *func, int prefix)
{
	size_t len = strlen(func);

	for (size_t i = 0; i < t->n; i++) {
		const char *f = t->f[i].func;
		if (t->f[i].native != native)
			continue;
		if (strcmp(f, func) == 0 ||
		    (prefix && strncmp(f, func, len) == 0 && (f[len] == '.' || f[len] == 0)))
			return (int)i;
	}
	return -1;
}

/* The Python frames of t in order, as in python's dump of the same thread. */
static int same_python_frames(const struct nthread *t, const struct nthread *python, char *why,
			      size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->f[i].native)
			continue;
		if (k == python->n || strcmp(t->f[i].func, python->f[k].func) != 0) {
			snprintf(why, len, "Python frame %zu is %s, the Python-only dump has %s", k,
				 t->f[i].func, k < python->n ? python->f[k].func : "no more");
			return -1;
		}
		k++;
	}
	if (k != python->n) {
		snprintf(why, len, "%zu Python frames, the Python-only dump has %zu", k, python->n);
		return -1;
	}
	return 0;
}

int nthread_check_merged(const struct nthread *t, const char *inner, const char *outer,
			 const char *named, const struct nthread *python, char *why, size_t len)
{
	int i = nthread_find(t, 0, inner, 0), j = nthread_find(t, 0, outer, 0), c = 0;

	if (i < 0 || j < 0 || j < i) {
		snprintf(why, len, "no %s (at %d) inside %s (at %d)", inner, i, outer, j);
		return -1;
	}
	for (int k = i + 1; k < j; k++)
		c += t->f[k].native;
	if (c == 0) {
		snprintf(why, len, "no C frame between %s and %s", inner, outer);
		return -1;
	}
	if (named) {
		int n = nthread_find(t, 1, named, 1);
		if (n <= i || n >= j) {
			snprintf(why, len, "no C frame %s between %s and %s (at %d)", named, inner,
				 outer, n);
			return -1;
		}
	}
	static const char *const evals[] = {"_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx"};
	for (size_t e = 0; e < 2; e++)
		if (nthread_find(t, 1, evals[e], 1) >= 0) {
			snprintf(why, len, "a frame of %s was not replaced by its Python frames",
				 evals[e]);
			return -1;
		}
	return same_python_frames(t, python, why, len);
}
