/* offcache.h: layouts read from DWARF, cached on disk per build-id, so the second attach to
 * the same interpreter build starts without parsing DWARF again.
 *
 * Directory: $XDG_CACHE_HOME/tgattach, else $HOME/.cache/tgattach.  One file per build-id,
 * "offsets-<build-id>", holding a header line "tgattach-offsets 1 <build-id> <count>" and
 * one "field value" line per table field.  A file that does not match exactly (another
 * table version, a truncated write, a field unknown to this tgattach) is ignored. */
#ifndef TG_OFFCACHE_H
#define TG_OFFCACHE_H

#include "symbols/offsets.h"

/* 0 and *out filled when a valid cache entry exists for build_id. */
int offcache_load(const char *build_id, struct py_offsets *out);
/* Best effort: failures to write the cache are silent (it is only a cache). */
void offcache_store(const char *build_id, const struct py_offsets *in);

#endif
