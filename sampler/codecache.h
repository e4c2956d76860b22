/* codecache.h: what the sampler knows about code objects, by address.
 *
 * A code object's file name, function name and line table are read once and kept; on
 * every later sight the cheap header read by the caller (filename, name and line-table
 * pointers, first line number) must still match, or the entry is re-read: code objects
 * die and their memory is reused.  The cache is bounded (a fixed number of slots,
 * evicting the least recently used), so a long recording keeps flat memory. */
#ifndef TG_CODECACHE_H
#define TG_CODECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "sampler/linetable.h"
#include "sampler/pyobj.h"

struct code_info {
	uint64_t addr;
	uint64_t filename_ptr, name_ptr, linetable_ptr; /* validity key */
	int firstlineno;
	unsigned framesize; /* 3.11+: words a frame of it takes on the data stack; 0: unknown */
	char *file;	    /* UTF-8, as the interpreter has it */
	char *func;	    /* qualified name where the version has one */
	unsigned char *linetable;
	size_t linetable_len;
	uint64_t last_used;
	int64_t memo_pos; /* the last position codecache_line resolved, and its line: an outer */
	int memo_line;	  /* frame waits at one position while the walks go by */
};

struct codecache;

struct codecache *codecache_new(size_t slots);
void codecache_free(struct codecache *c);

/* The entry for the code object at addr, whose first bytes (at least co_size, as read by
 * the caller) are in head.  NULL when the object is not a readable code object. */
const struct code_info *codecache_get(struct codecache *c, struct pyobj *p, uint64_t addr,
				      const unsigned char *head, size_t headlen);

/* Current line of a frame of this code at raw instruction position `pos` (f_lasti for
 * <= 3.10, the instruction pointer address for 3.11+). -1 if unknown.  ci is an entry of
 * the cache: its memo of the last position is updated. */
int codecache_line(const struct py_target *t, const struct code_info *ci, int64_t pos);

size_t codecache_size(const struct codecache *c);
uint64_t codecache_misses(const struct codecache *c);

#endif
