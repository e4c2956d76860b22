/* dwarf_int.h: internal to the dwarf module's .c files (dwarf.c: the offset table's type
 * names found in one pass over the units, the offsets filled in, dwarf_read_offsets and
 * dwarf_read_enum; dwarf_members.c: typedef / qualifier stripping and the member paths;
 * dwarf_debugfile.c, dwarf_find_debug_file, shares nothing and does not include it).  Not an
 * API: dwarf.h is. */
#ifndef TG_DWARF_INT_H
#define TG_DWARF_INT_H

#include <elfutils/libdw.h>
#include <stdint.h>

#include "symbols/dwarf.h"
#include "symbols/offsets.h"

/* dwarf_members.c */
int dwarf_is_aggregate(int tag);
int dwarf_type_of(Dwarf_Die *die, Dwarf_Die *out);
int dwarf_resolve_path(Dwarf_Die *type, const char *path, enum py_offset_kind kind, int64_t *value);

#endif
