/* xalloc.h: allocation that cannot fail (aborts with a message on out-of-memory), and the
 * one growth policy of every growable array. */
#ifndef TG_XALLOC_H
#define TG_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* The capacity an array of cap elements grows to so that it holds need: cap itself when
 * it does, else the larger of need and twice cap, at least 8.  For arrays that share one
 * capacity (parallel arrays): each is then xreallocarray'd to it. */
size_t xgrow_cap(size_t cap, size_t need);
/* p resized to count elements of size elem; aborts when count * elem overflows. */
void *xreallocarray(void *p, size_t count, size_t elem);
/* The array p, of *cap elements of size elem, grown to hold at least need (xgrow_cap);
 * *cap updated.  The elements past the old capacity are not initialised. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elem);
/* xgrow, with the elements past the old capacity zeroed. */
void *xgrow0(void *p, size_t *cap, size_t need, size_t elem);

#endif
