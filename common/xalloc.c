#include "common/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *checked(void *p, size_t n)
{
	if (!p && n) {
		fprintf(stderr, "tgattach: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

void *xmalloc(size_t n)
{
	return checked(malloc(n ? n : 1), n);
}

void *xcalloc(size_t count, size_t size)
{
	return checked(calloc(count ? count : 1, size ? size : 1), count * size);
}

void *xrealloc(void *p, size_t n)
{
	return checked(realloc(p, n ? n : 1), n);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

size_t xgrow_cap(size_t cap, size_t need)
{
	size_t next;

	if (need <= cap)
		return cap;
	next = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (next < need)
		next = need;
	return next < 8 ? 8 : next;
}

void *xreallocarray(void *p, size_t count, size_t elem)
{
	if (elem && count > SIZE_MAX / elem) {
		fprintf(stderr, "tgattach: out of memory allocating %zu elements of %zu bytes\n",
			count, elem);
		abort();
	}
	return xrealloc(p, count * elem);
}

void *xgrow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t next = xgrow_cap(*cap, need);

	if (next == *cap)
		return p;
	p = xreallocarray(p, next, elem);
	*cap = next;
	return p;
}

void *xgrow0(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t old = *cap;

	p = xgrow(p, cap, need, elem);
	if (*cap > old)
		memset((char *)p + old * elem, 0, (*cap - old) * elem);
	return p;
}
