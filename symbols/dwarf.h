/* dwarf.h: struct layouts of a CPython build from its DWARF, with libdw.
 *
 * Fills a `struct py_offsets` by walking py_offset_descs: for each descriptor, find the
 * type by name (a typedef name such as "PyThreadState", or "struct TAG"), skipping
 * declarations, resolve typedefs/qualifiers/atomic wrappers, then follow the dotted member
 * path trying each '|' alternative.  Members not found stay OFFSET_ABSENT. */
#ifndef TG_DWARF_H
#define TG_DWARF_H

#include <stddef.h>

#include "common/err.h"
#include "symbols/offsets.h"

/* Read offsets from the DWARF of the ELF file at path.  Fails (TG_E_LAYOUT) when the file
 * has no .debug_info or a core type (PyThreadState, PyCodeObject) is not defined in it. */
int dwarf_read_offsets(const char *path, struct py_offsets *out, struct tg_err *err);

/* The value of an enumerator (e.g. "FRAME_OWNED_BY_CSTACK") from the DWARF at path.
 * Fails (TG_E_LAYOUT) when the file has no DWARF or no such enumerator. */
int dwarf_read_enum(const char *path, const char *enumerator, long *value, struct tg_err *err);

/* Locate the DWARF for an interpreter image: the file itself if it has .debug_info, else
 * /usr/lib/debug/.build-id/XX/YYYY.debug (build_id hex, may be ""), else the
 * .gnu_debuglink name next to the file, in a .debug/ subdirectory, and under
 * /usr/lib/debug/<dir of file>.  root is a prefix for every path (e.g. "/proc/PID/root",
 * or "" for this mount namespace); each candidate is tried under root, then as is.  A
 * candidate is used only if its build-id note equals build_id (else its CRC32 equals the
 * image's .gnu_debuglink CRC), so a stale debug file is never picked.  Writes the path
 * found into out; 0 found, -1 not. */
int dwarf_find_debug_file(const char *root, const char *image_path, const char *build_id,
			  const char *debuglink, char *out, size_t outlen);

#endif
