/* debugoff.h: the _Py_DebugOffsets block CPython 3.13+ keeps at the very start of
 * _PyRuntime (also readable from the .PyRuntime section of the ELF file): a cookie
 * "xdebugpy", PY_VERSION_HEX, a free-threading flag, then uint64 offsets and sizes of the
 * structures a profiler walks.  The layout changed between 3.13 and 3.14 (fields inserted
 * inside sub-structures), so the version selects the layout; other versions are refused. */
#ifndef TG_DEBUGOFF_H
#define TG_DEBUGOFF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "symbols/offsets.h"

/* Bytes to read from the start of _PyRuntime so that every known layout fits. */
#define DEBUGOFF_READ_SIZE 1024

/* Parse the block at bytes[0..len) (the first bytes of _PyRuntime).  out is cleared to
 * OFFSET_ABSENT, then every field the block covers is set (rt_debug_offsets is 0 by
 * construction; gil_locked / gil_holder are made relative to struct _gil_runtime_state).
 * *version receives PY_VERSION_HEX.  Fails (TG_E_LAYOUT) on a wrong cookie, a version
 * other than 3.13 / 3.14 / 3.15 (alphas refused: their layouts were not final), a buffer shorter
 * than the layout, or an offset outside the structure it belongs to. */
int debugoff_parse(const unsigned char *bytes, size_t len, struct py_offsets *out,
		   uint64_t *version, struct tg_err *err);

/* The inverse of debugoff_parse, for tests and fuzzers: write the block a 3.13 / 3.14 / 3.15
 * runtime of that version would hold for the layout in `in` (GIL members relative to a
 * gil_runtime_state at offset 0; unknown sizes as 65536).  0, or -1 with err. */
int debugoff_encode(const struct py_offsets *in, uint64_t version, unsigned char *out, size_t len,
		    struct tg_err *err);

/* 1 when the block says the build is free-threaded (3.13t / 3.14t), 0 when not, -1 when
 * bytes hold no valid cookie. */
int debugoff_free_threaded(const unsigned char *bytes, size_t len);

#endif
