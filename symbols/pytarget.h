/* pytarget.h: find the CPython inside a process and resolve everything needed to read it:
 * which ELF file holds the interpreter (libpython*.so or a static python executable, also
 * when deleted or inside a container), where it is loaded, the exact version, the
 * addresses of the root symbols and type objects, and the struct layouts (DWARF when the
 * build has it, else a built-in table generated from DWARF, cross-checked with
 * _Py_DebugOffsets on 3.13+). */
#ifndef TG_PYTARGET_H
#define TG_PYTARGET_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/remote.h"
#include "common/err.h"
#include "symbols/offsets.h"

enum offsets_mode { OFFSETS_AUTO = 0, OFFSETS_DWARF, OFFSETS_BUILTIN };

enum offsets_source { OFFSRC_NONE = 0, OFFSRC_DWARF, OFFSRC_BUILTIN, OFFSRC_DEBUG_OFFSETS };

/* Addresses in the target (load bias applied); 0 = not found. */
struct py_syms {
	uint64_t runtime;          /* _PyRuntime (3.7+) */
	uint64_t runtime_size;
	uint64_t interp_head;      /* address of the static `interp_head` (2.7, 3.6) */
	uint64_t tstate_current;   /* _PyThreadState_Current (2.7, 3.6) */
	uint64_t gil_locked;       /* 3.6 statics */
	uint64_t gil_last_holder;
	uint64_t py_version;       /* Py_Version (3.11+) */
	uint64_t code_type, unicode_type, string_type, bytes_type, dict_type, long_type,
		int_type, module_type, type_type;
	/* pymalloc statics (2.7 - 3.11; 3.12+ keep them in the interpreter state): by name
	 * from .symtab (LTO builds name them `NAME.lto_priv.0`), else, for a stripped build,
	 * decoded from the RIP-relative loads of the exported _Py_GetAllocatedBlocks
	 * (om_from_code = 1), which names only some of them. */
	uint64_t om_arenas, om_maxarenas, om_narenas, om_narenas_highwater, om_raw_blocks,
		om_allocated_blocks;
	int om_from_code;
};

/* A thread that runs no Python has its frame word point inside its own thread state on
 * 3.11 and 3.12 (its C frame: root_cframe, 336 bytes in on 3.11, 272 on 3.12) and 3.15 (its
 * current frame: the base frame, 888 bytes in); 3.13 and 3.14 set the current frame to
 * NULL, and so do older versions their frame object.  Within this span of the start. */
#define PY_TSTATE_FRAME_SPAN 1024
/* The offset in a thread state of its frame word, where a walk starts and what tells a
 * thread running C only: 3.13+ its current frame, 3.11 and 3.12 its C frame, up to 3.10 its
 * frame object; -1: none. */
static inline int32_t py_frame_word_off(const struct py_offsets *o)
{
	if (o->ts_current_frame >= 0)
		return o->ts_current_frame;
	return o->cf_current_frame >= 0 ? o->ts_cframe : o->ts_frame;
}
/* Does addr lie inside the thread state at tstate (PY_TSTATE_FRAME_SPAN)? */
static inline int py_inside_tstate(uint64_t addr, uint64_t tstate)
{
	return addr >= tstate && addr - tstate < PY_TSTATE_FRAME_SPAN;
}

struct py_target {
	pid_t pid;
	char image_path[PATH_MAX]; /* the interpreter file as the target maps it */
	char open_path[PATH_MAX];  /* the path tgattach opened to read it */
	int image_deleted;         /* the file was deleted or replaced after start */
	int is_shared;             /* libpython shared object (else a static executable) */
	int debug_abi;             /* a --with-pydebug build (Py_DEBUG) */
	uint64_t load_bias;
	char build_id[41];
	int major, minor, micro;
	uint32_t hexversion;       /* 0 when unknown */
	enum offsets_source off_source;
	char off_detail[PATH_MAX]; /* the DWARF file, or which built-in table */
	char off_check[256];       /* result of the _Py_DebugOffsets cross-check, if any */
	struct py_offsets off;
	struct py_syms sym;
	int frame_cstack_owner;    /* _frameowner value of shim frames (3.12+), else -1 */
};

struct pytarget_opts {
	enum offsets_mode offsets;
};

/* Resolve the interpreter of process pid, reading its memory through r where needed.
 * Errors: TG_E_NOPROC, TG_E_PERM, TG_E_NOTPY ("no libpython or python executable
 * mapped"), TG_E_LAYOUT ("no debug info and no built-in table for 3.x"). */
int pytarget_resolve(struct py_target *t, pid_t pid, struct remote *r,
		     const struct pytarget_opts *opts, struct tg_err *err);

/* Take the layout from a parsed _Py_DebugOffsets block (3.13+ without DWARF): every
 * offset it describes exactly as it says (patch releases move members), the rest (str,
 * dict and type internals, the allocator, the data stack) from the built-in table of the
 * same minor version and ABI that agrees with it most.  -1 with err (TG_E_LAYOUT) when
 * there is no such table: another version's is never borrowed. */
int pytarget_use_debug_offsets(struct py_target *t, const struct py_offsets *dbg,
			       struct tg_err *err);

/* "3.11.7", "2.7" ... into buf. */
const char *pytarget_version_str(const struct py_target *t, char *buf, size_t len);
const char *pytarget_offsets_source_name(enum offsets_source s);

#endif
