/* xalloc.h: allocation that cannot fail (aborts with a message on out-of-memory). */
#ifndef TG_XALLOC_H
#define TG_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
