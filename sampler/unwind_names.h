/* unwind_names.h: the names of the native frames at a pc (internal to the unwinder,
 * sampler/unwind.h), kept per pc: the function from DWARF (inlined functions expanded,
 * innermost first) or the ELF symbol table, the source file and line from DWARF, else the
 * mapped object's file name; `0x...` (the offset in the object) when no symbol covers pc. */
#ifndef TG_UNWIND_NAMES_H
#define TG_UNWIND_NAMES_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

#include "sampler/codecache.h"

#define UNWIND_MAX_INLINE 8

struct unwind_name {
	struct code_info ci; /* file and func set; no line table */
	int line;	     /* -1 when unknown */
	uint64_t id;	     /* the function's identity: its entry address, tagged */
	int eval;	     /* one of the interpreter's evaluation functions */
};

struct unwind_names;

/* eval_names: as unwind_new(); not copied, must outlive the cache. */
struct unwind_names *unames_new(const char *const *eval_names);
void unames_free(struct unwind_names *n);
/* Forget every name when the cache is over its bound, or always (all: the modules were
 * reported again, a pc may be in another object now).  Between samples only. */
void unames_trim(struct unwind_names *n, int all);
/* The names at pc in mod (pc: the address looked up, already moved into the call
 * instruction for a return address), innermost first, in *out; their number (>= 1). */
size_t unames_at(struct unwind_names *n, Dwfl_Module *mod, uint64_t pc,
		 const struct unwind_name **out);

#endif
