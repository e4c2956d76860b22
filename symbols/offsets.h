/* offsets.h: the one table type for CPython struct layouts.
 *
 * Every offset the sampler uses is a field of `struct py_offsets`, described once in
 * PY_OFFSET_FIELDS below: (field, C type name as DWARF knows it, member path, kind).
 * - The DWARF reader (symbols/dwarf.c) fills a table by walking this list.
 * - tools/gen-offsets prints the built-in tables (symbols/offsets_builtin.c) from DWARF.
 * - _Py_DebugOffsets (3.13+) fills the subset it covers.
 * A member path is dotted ("interpreters.head") and may list alternatives separated by
 * '|' ("tstate_head|threads.head"): the first that exists wins.  An absent member has
 * the value OFFSET_ABSENT.  Kinds: OFF = byte offset of the member from the start of the
 * type; SIZE = sizeof(type) (path is NULL); BIT = bit offset of a bit-field member from
 * the start of the struct that directly contains it. */
#ifndef TG_OFFSETS_H
#define TG_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define OFFSET_ABSENT (-1)

enum py_offset_kind { PYOFF_OFF = 1, PYOFF_SIZE = 2, PYOFF_BIT = 3 };

/* X(field, type, path, kind) */
#define PY_OFFSET_FIELDS(X)                                                                     \
	/* runtime (3.7+) */                                                                   \
	X(rt_size, "_PyRuntimeState", NULL, SIZE)                                              \
	X(rt_interp_head, "_PyRuntimeState", "interpreters.head", OFF)                         \
	X(rt_interp_main, "_PyRuntimeState", "interpreters.main", OFF)                         \
	X(rt_gil_locked, "_PyRuntimeState", "ceval.gil.locked", OFF)                           \
	X(rt_gil_holder, "_PyRuntimeState", "ceval.gil.last_holder", OFF)                      \
	X(rt_gil_switch, "_PyRuntimeState", "ceval.gil.switch_number", OFF)                    \
	X(rt_tstate_current, "_PyRuntimeState", "gilstate.tstate_current", OFF)                \
	X(rt_main_interp, "_PyRuntimeState", "_main_interpreter", OFF)                         \
	X(rt_debug_offsets, "_PyRuntimeState", "debug_offsets", OFF)                           \
	/* interpreter */                                                                      \
	X(is_size, "PyInterpreterState", NULL, SIZE)                                           \
	X(is_next, "PyInterpreterState", "next", OFF)                                          \
	X(is_tstate_head, "PyInterpreterState", "tstate_head|threads.head", OFF)               \
	X(is_modules, "PyInterpreterState", "modules|imports.modules", OFF)                    \
	X(is_sysdict, "PyInterpreterState", "sysdict", OFF)                                    \
	X(is_id, "PyInterpreterState", "id", OFF)                                              \
	X(is_gil_ptr, "PyInterpreterState", "ceval.gil", OFF)                                  \
	X(is_obmalloc, "PyInterpreterState", "obmalloc", OFF)                                  \
	/* GIL state (pointed to by interp->ceval.gil in 3.12+) */                             \
	X(gil_locked, "struct _gil_runtime_state", "locked", OFF)                              \
	X(gil_holder, "struct _gil_runtime_state", "last_holder", OFF)                         \
	X(gil_switch, "struct _gil_runtime_state", "switch_number", OFF)                       \
	/* thread state */                                                                     \
	X(ts_size, "PyThreadState", NULL, SIZE)                                                \
	X(ts_next, "PyThreadState", "next", OFF)                                               \
	X(ts_interp, "PyThreadState", "interp", OFF)                                           \
	X(ts_frame, "PyThreadState", "frame", OFF)                                             \
	X(ts_cframe, "PyThreadState", "cframe", OFF)                                           \
	X(ts_current_frame, "PyThreadState", "current_frame", OFF)                             \
	X(ts_thread_id, "PyThreadState", "thread_id", OFF)                                     \
	X(ts_native_id, "PyThreadState", "native_thread_id", OFF)                              \
	X(ts_datastack_chunk, "PyThreadState", "datastack_chunk", OFF)                         \
	X(ts_datastack_top, "PyThreadState", "datastack_top", OFF)                             \
	X(chunk_data, "_PyStackChunk", "data", OFF)                                            \
	X(ts_status, "PyThreadState", "_status", OFF)                                          \
	X(ts_recursion_depth, "PyThreadState", "recursion_depth", OFF)                         \
	X(ts_state, "PyThreadState", "state", OFF)                                             \
	X(cf_current_frame, "_PyCFrame", "current_frame", OFF)                                 \
	/* frame objects (<= 3.10) */                                                          \
	X(fo_back, "PyFrameObject", "f_back", OFF)                                             \
	X(fo_code, "PyFrameObject", "f_code", OFF)                                             \
	X(fo_lasti, "PyFrameObject", "f_lasti", OFF)                                           \
	/* interpreter frames (3.11+) */                                                       \
	X(if_size, "_PyInterpreterFrame", NULL, SIZE)                                          \
	X(if_code, "_PyInterpreterFrame", "f_code|f_executable", OFF)                          \
	X(if_previous, "_PyInterpreterFrame", "previous", OFF)                                 \
	X(if_instr, "_PyInterpreterFrame", "prev_instr|instr_ptr", OFF)                        \
	X(if_owner, "_PyInterpreterFrame", "owner", OFF)                                       \
	/* code objects */                                                                     \
	X(co_size, "PyCodeObject", NULL, SIZE)                                                 \
	X(co_nunits, "PyCodeObject", "ob_base.ob_size", OFF)                                   \
	X(co_filename, "PyCodeObject", "co_filename", OFF)                                     \
	X(co_name, "PyCodeObject", "co_name", OFF)                                             \
	X(co_qualname, "PyCodeObject", "co_qualname", OFF)                                     \
	X(co_firstlineno, "PyCodeObject", "co_firstlineno", OFF)                               \
	X(co_stacksize, "PyCodeObject", "co_stacksize", OFF)                                   \
	X(co_nlocalsplus, "PyCodeObject", "co_nlocalsplus", OFF)                               \
	X(co_framesize, "PyCodeObject", "co_framesize", OFF)                                   \
	X(co_linetable, "PyCodeObject", "co_linetable|co_lnotab", OFF)                         \
	X(co_code, "PyCodeObject", "co_code", OFF)                                             \
	X(co_code_adaptive, "PyCodeObject", "co_code_adaptive", OFF)                           \
	/* generic objects */                                                                  \
	X(ob_type, "PyObject", "ob_type", OFF)                                                 \
	X(var_size, "PyVarObject", "ob_size", OFF)                                             \
	X(bytes_sval, "PyBytesObject", "ob_sval", OFF)                                         \
	X(str27_sval, "PyStringObject", "ob_sval", OFF)                                        \
	/* str (PEP 393, 3.3+) and 2.7 unicode */                                              \
	X(u_length, "PyASCIIObject", "length", OFF)                                            \
	X(u_state, "PyASCIIObject", "state", OFF)                                              \
	X(u_ascii_size, "PyASCIIObject", NULL, SIZE)                                           \
	X(u_compact_size, "PyCompactUnicodeObject", NULL, SIZE)                                \
	X(u_data_any, "PyUnicodeObject", "data.any", OFF)                                      \
	X(u_kind_bit, "PyASCIIObject", "state.kind", BIT)                                      \
	X(u_compact_bit, "PyASCIIObject", "state.compact", BIT)                                \
	X(u_ascii_bit, "PyASCIIObject", "state.ascii", BIT)                                    \
	X(u_ready_bit, "PyASCIIObject", "state.ready", BIT)                                    \
	X(u27_length, "PyUnicodeObject", "length", OFF)                                        \
	X(u27_str, "PyUnicodeObject", "str", OFF)                                              \
	/* types */                                                                            \
	X(tp_name, "PyTypeObject", "tp_name", OFF)                                             \
	X(tp_basicsize, "PyTypeObject", "tp_basicsize", OFF)                                   \
	X(tp_itemsize, "PyTypeObject", "tp_itemsize", OFF)                                     \
	X(tp_flags, "PyTypeObject", "tp_flags", OFF)                                           \
	X(tp_dictoffset, "PyTypeObject", "tp_dictoffset", OFF)                                 \
	X(ht_cached_keys, "PyHeapTypeObject", "ht_cached_keys", OFF)                           \
	/* dicts */                                                                            \
	X(d_used, "PyDictObject", "ma_used", OFF)                                              \
	X(d_keys, "PyDictObject", "ma_keys", OFF)                                              \
	X(d_values, "PyDictObject", "ma_values", OFF)                                          \
	X(d27_mask, "PyDictObject", "ma_mask", OFF)                                            \
	X(d27_table, "PyDictObject", "ma_table", OFF)                                          \
	X(d27_entry_size, "PyDictEntry", NULL, SIZE)                                           \
	X(dk_size, "PyDictKeysObject", "dk_size", OFF)                                         \
	X(dk_log2_size, "PyDictKeysObject", "dk_log2_size", OFF)                               \
	X(dk_log2_index_bytes, "PyDictKeysObject", "dk_log2_index_bytes", OFF)                 \
	X(dk_kind, "PyDictKeysObject", "dk_kind", OFF)                                         \
	X(dk_nentries, "PyDictKeysObject", "dk_nentries", OFF)                                 \
	X(dk_indices, "PyDictKeysObject", "dk_indices", OFF)                                   \
	X(dk_entry_size, "PyDictKeyEntry", NULL, SIZE)                                         \
	X(dk_uentry_size, "PyDictUnicodeEntry", NULL, SIZE)                                    \
	X(dv_values, "PyDictValues", "values", OFF)                                            \
	X(dv_valid, "PyDictValues", "valid", OFF)                                              \
	/* ints */                                                                             \
	X(long_size, "PyLongObject", "ob_base.ob_size", OFF)                                   \
	X(long_tag, "PyLongObject", "long_value.lv_tag", OFF)                                  \
	X(long_digit, "PyLongObject", "ob_digit|long_value.ob_digit", OFF)                     \
	X(int27_ival, "PyIntObject", "ob_ival", OFF)                                           \
	/* modules, GC */                                                                      \
	X(mod_dict, "PyModuleObject", "md_dict", OFF)                                          \
	X(gc_head_size, "PyGC_Head", NULL, SIZE)                                               \
	/* pymalloc */                                                                         \
	X(arena_size, "struct arena_object", NULL, SIZE)                                       \
	X(arena_address, "struct arena_object", "address", OFF)                                \
	X(arena_pool_address, "struct arena_object", "pool_address", OFF)                     \
	X(pool_count, "struct pool_header", "ref.count", OFF)                                  \
	X(pool_szidx, "struct pool_header", "szidx", OFF)                                      \
	X(pool_maxnextoffset, "struct pool_header", "maxnextoffset", OFF)                      \
	X(om_arenas, "struct _obmalloc_state", "mgmt.arenas", OFF)                             \
	X(om_maxarenas, "struct _obmalloc_state", "mgmt.maxarenas", OFF)                       \
	X(om_narenas, "struct _obmalloc_state", "mgmt.narenas_currently_allocated", OFF)       \
	X(om_narenas_highwater, "struct _obmalloc_state", "mgmt.narenas_highwater", OFF)       \
	X(om_raw_blocks, "struct _obmalloc_state", "mgmt.raw_allocated_blocks", OFF)

struct py_offsets {
#define PYOFF_MEMBER(field, type, path, kind) int32_t field;
	PY_OFFSET_FIELDS(PYOFF_MEMBER)
#undef PYOFF_MEMBER
};

/* Description of one field, for code that handles the table by name. */
struct py_offset_desc {
	const char *field;   /* "ts_next" */
	const char *type;    /* "PyThreadState" */
	const char *path;    /* "next", or NULL for SIZE */
	enum py_offset_kind kind;
	size_t where;        /* offsetof(struct py_offsets, field) */
};

extern const struct py_offset_desc py_offset_descs[];
extern const size_t py_offset_ndescs;

/* Every field set to OFFSET_ABSENT. */
void py_offsets_clear(struct py_offsets *o);
int32_t py_offsets_get(const struct py_offsets *o, const struct py_offset_desc *d);
void py_offsets_set(struct py_offsets *o, const struct py_offset_desc *d, int32_t value);
/* Field by name ("ts_next"); NULL if unknown. */
const struct py_offset_desc *py_offsets_find(const char *field);

/* A built-in table, generated from DWARF by tools/gen-offsets (symbols/offsets_builtin.c). */
struct py_builtin_table {
	int major, minor;
	int debug_abi;          /* 1 for --with-pydebug builds (Py_DEBUG) */
	const char *source;     /* which build it was generated from, e.g. "pyenv 3.11.7" */
	struct py_offsets off;
};

extern const struct py_builtin_table py_builtin_tables[];
extern const size_t py_builtin_ntables;

/* The built-in table for a version, or NULL. */
const struct py_builtin_table *py_builtin_find(int major, int minor, int debug_abi);
/* Of the tables for exactly major.minor and ABI (patch releases may have several), the one
 * that agrees with most of the offsets dbg describes (a layout read from the target's
 * _Py_DebugOffsets), or NULL; *agree of *described agree. */
const struct py_builtin_table *py_builtin_closest(int major, int minor, int debug_abi,
						  const struct py_offsets *dbg, size_t *agree,
						  size_t *described);

#endif
