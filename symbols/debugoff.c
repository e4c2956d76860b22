#include "symbols/debugoff.h"

#include <stdio.h>
#include <string.h>

/* Layouts written down from the DWARF of struct _Py_DebugOffsets in the pyenv 3.13.0 build
 * and, for 3.14, from the reference notes (cpython-internals.md section 7.2), checked
 * against the DWARF of Debian's python3.14 3.14.10.  Every slot
 * is a uint64; a section is a run of slots describing one CPython structure, and starts
 * with that structure's size except where noted. */

#define HEADER_SIZE 24 /* cookie[8], version, free_threaded */
#define MAX_STRUCT_SIZE (64u << 20)
#define NONE ((size_t)-1)
#define F(field) offsetof(struct py_offsets, field)

enum slot_use {
	USE_IGNORE = 0, /* not needed by tgattach */
	USE_FIELD,	/* an offset (or the size) of the section's structure */
	USE_GIL_BASE,	/* interp offset of the embedded struct _gil_runtime_state */
	USE_GIL_FIELD,	/* interp offset of a member of it: stored relative to the base */
};

struct slot {
	const char *name;
	enum slot_use use;
	size_t field; /* offsetof(struct py_offsets, ...) or NONE */
};

struct section {
	const char *name;
	int sized; /* the first slot is sizeof(structure) and bounds the others */
	const struct slot *slots;
	size_t nslots;
};

/* clang-format off */
#define SLOTS(...)                                                                         \
	(const struct slot[]){__VA_ARGS__},                                                \
		sizeof((const struct slot[]){__VA_ARGS__}) / sizeof(struct slot)
#define IGN(n) {n, USE_IGNORE, NONE}
#define FLD(n, f) {n, USE_FIELD, F(f)}

/* Sections several layouts share, word for word. */
#define SEC_RUNTIME                                                                        \
	{"runtime_state", 1, SLOTS(FLD("size", rt_size), IGN("finalizing"),                  \
				   FLD("interpreters_head", rt_interp_head))}
#define GIL_SLOTS                                                                          \
	FLD("ceval_gil", is_gil_ptr), {"gil_runtime_state", USE_GIL_BASE, NONE},             \
	IGN("gil_runtime_state_enabled"),                                                    \
	{"gil_runtime_state_locked", USE_GIL_FIELD, F(gil_locked)},                          \
	{"gil_runtime_state_holder", USE_GIL_FIELD, F(gil_holder)}
/* 3.14+: threads_main after threads_head, two generations at the end */
#define SEC_INTERP_314                                                                     \
	{"interpreter_state", 1,                                                           \
	 SLOTS(FLD("size", is_size), FLD("id", is_id), FLD("next", is_next),                 \
	       FLD("threads_head", is_tstate_head), IGN("threads_main"), IGN("gc"),          \
	       FLD("imports_modules", is_modules), FLD("sysdict", is_sysdict),               \
	       IGN("builtins"), GIL_SLOTS, IGN("code_object_generation"),                    \
	       IGN("tlbc_generation"))}
#define CODE_SLOTS                                                                         \
	FLD("size", co_size), FLD("filename", co_filename), FLD("name", co_name),            \
	FLD("qualname", co_qualname), FLD("linetable", co_linetable),                        \
	FLD("firstlineno", co_firstlineno), IGN("argcount"), IGN("localsplusnames"),         \
	IGN("localspluskinds"), FLD("co_code_adaptive", co_code_adaptive)
/* 3.14+: stackpointer and tlbc_index at the end of the frame, co_tlbc of the code */
#define SEC_FRAME_314                                                                      \
	{"interpreter_frame", 1,                                                           \
	 SLOTS(FLD("size", if_size), FLD("previous", if_previous),                           \
	       FLD("executable", if_code), FLD("instr_ptr", if_instr), IGN("localsplus"),    \
	       FLD("owner", if_owner), IGN("stackpointer"), IGN("tlbc_index"))}
#define SEC_CODE_314 {"code_object", 1, SLOTS(CODE_SLOTS, IGN("co_tlbc"))}
#define SEC_THREAD_313                                                                     \
	{"thread_state", 1,                                                                \
	 SLOTS(FLD("size", ts_size), IGN("prev"), FLD("next", ts_next),                      \
	       FLD("interp", ts_interp), FLD("current_frame", ts_current_frame),             \
	       FLD("thread_id", ts_thread_id), FLD("native_thread_id", ts_native_id),        \
	       FLD("datastack_chunk", ts_datastack_chunk), FLD("status", ts_status))}
#define SEC_PYOBJECT {"pyobject", 1, SLOTS(IGN("size"), FLD("ob_type", ob_type))}
/* ob_size sits in the PyVarObject header the tuple starts with */
#define SEC_TUPLE {"tuple_object", 1, SLOTS(IGN("size"), IGN("ob_item"), FLD("ob_size", var_size))}
#define SEC_LIST {"list_object", 1, SLOTS(IGN("size"), IGN("ob_item"), IGN("ob_size"))}
#define SEC_SET {"set_object", 1, SLOTS(IGN("size"), IGN("used"), IGN("table"), IGN("mask"))}
#define SEC_DICT                                                                           \
	{"dict_object", 1, SLOTS(IGN("size"), FLD("ma_keys", d_keys), FLD("ma_values", d_values))}
#define SEC_FLOAT {"float_object", 1, SLOTS(IGN("size"), IGN("ob_fval"))}
#define SEC_LONG                                                                           \
	{"long_object", 1, SLOTS(IGN("size"), FLD("lv_tag", long_tag), FLD("ob_digit", long_digit))}
#define SEC_BYTES                                                                          \
	{"bytes_object", 1, SLOTS(IGN("size"), IGN("ob_size"), FLD("ob_sval", bytes_sval))}
/* 3.14+: the plain objects, set_object before dict_object */
#define SECS_OBJECTS_314 SEC_TUPLE, SEC_LIST, SEC_SET, SEC_DICT, SEC_FLOAT, SEC_LONG, SEC_BYTES
#define UNICODE_SLOTS                                                                      \
	IGN("size"), FLD("state", u_state), FLD("length", u_length),                         \
	FLD("asciiobject_size", u_ascii_size)
#define SEC_GEN                                                                            \
	{"gen_object", 1, SLOTS(IGN("size"), IGN("gi_name"), IGN("gi_iframe"), IGN("gi_frame_state"))}
#define SEC_LLIST {"llist_node", 0, SLOTS(IGN("next"), IGN("prev"))}
#define SEC_DEBUGGER                                                                       \
	{"debugger_support", 0,                                                            \
	 SLOTS(IGN("eval_breaker"), IGN("remote_debugger_support"),                          \
	       IGN("remote_debugging_enabled"), IGN("debugger_pending_call"),                \
	       IGN("debugger_script_path"), IGN("debugger_script_path_size"))}
#define TYPE_SLOTS IGN("size"), FLD("tp_name", tp_name), IGN("tp_repr"), FLD("tp_flags", tp_flags)

static const struct section layout_313[] = {
	SEC_RUNTIME,
	{"interpreter_state", 1,
	 SLOTS(FLD("size", is_size), FLD("id", is_id), FLD("next", is_next),
	       FLD("threads_head", is_tstate_head), IGN("gc"),
	       FLD("imports_modules", is_modules), FLD("sysdict", is_sysdict), IGN("builtins"),
	       GIL_SLOTS)},
	SEC_THREAD_313,
	{"interpreter_frame", 1,
	 SLOTS(FLD("size", if_size), FLD("previous", if_previous),
	       FLD("executable", if_code), FLD("instr_ptr", if_instr), IGN("localsplus"),
	       FLD("owner", if_owner))},
	{"code_object", 1, SLOTS(CODE_SLOTS)},
	SEC_PYOBJECT,
	{"type_object", 1, SLOTS(TYPE_SLOTS)},
	SEC_TUPLE,
	SEC_LIST,
	SEC_DICT,
	SEC_FLOAT,
	SEC_LONG,
	SEC_BYTES,
	{"unicode_object", 1, SLOTS(UNICODE_SLOTS)},
	{"gc", 1, SLOTS(IGN("size"), IGN("collecting"))},
};

/* 3.14: threads_main after threads_head; code_object_generation and tlbc_generation at the
 * end of interpreter_state; stackpointer and tlbc_index at the end of interpreter_frame;
 * co_tlbc at the end of code_object; set_object before dict_object; gen_object,
 * llist_node and debugger_support (no size slots) at the end. */
static const struct section layout_314[] = {
	SEC_RUNTIME,
	SEC_INTERP_314,
	SEC_THREAD_313,
	SEC_FRAME_314,
	SEC_CODE_314,
	SEC_PYOBJECT,
	{"type_object", 1, SLOTS(TYPE_SLOTS)},
	SECS_OBJECTS_314,
	{"unicode_object", 1, SLOTS(UNICODE_SLOTS)},
	{"gc", 1, SLOTS(IGN("size"), IGN("collecting"))},
	SEC_GEN,
	SEC_LLIST,
	SEC_DEBUGGER,
};

/* 3.15, from the DWARF of Debian's python3.15 3.15.2: thread_state gains base_frame,
 * last_profiled_frame(_seq) after current_frame and holds_gil, gil_requested,
 * current_exception, exc_state at its end; err_stackitem (no size slot) follows it;
 * type_object gains tp_basicsize and tp_dictoffset, and heap_type_object follows it;
 * unicode_object gains compactunicodeobject_size; gc gains frame and generation stats. */
static const struct section layout_315[] = {
	SEC_RUNTIME,
	SEC_INTERP_314,
	{"thread_state", 1,
	 SLOTS(FLD("size", ts_size), IGN("prev"), FLD("next", ts_next), FLD("interp", ts_interp),
	       FLD("current_frame", ts_current_frame), IGN("base_frame"),
	       IGN("last_profiled_frame"), IGN("last_profiled_frame_seq"),
	       FLD("thread_id", ts_thread_id), FLD("native_thread_id", ts_native_id),
	       FLD("datastack_chunk", ts_datastack_chunk), FLD("status", ts_status),
	       IGN("holds_gil"), IGN("gil_requested"), IGN("current_exception"),
	       IGN("exc_state"))},
	{"err_stackitem", 0, SLOTS(IGN("exc_value"))},
	SEC_FRAME_314,
	SEC_CODE_314,
	SEC_PYOBJECT,
	{"type_object", 1,
	 SLOTS(TYPE_SLOTS, FLD("tp_basicsize", tp_basicsize), FLD("tp_dictoffset", tp_dictoffset))},
	{"heap_type_object", 1, SLOTS(IGN("size"), FLD("ht_cached_keys", ht_cached_keys))},
	SECS_OBJECTS_314,
	{"unicode_object", 1,
	 SLOTS(UNICODE_SLOTS, FLD("compactunicodeobject_size", u_compact_size))},
	{"gc", 1, SLOTS(IGN("size"), IGN("collecting"), IGN("frame"), IGN("generation_stats_size"),
			IGN("generation_stats"))},
	SEC_GEN,
	SEC_LLIST,
	SEC_DEBUGGER,
};
/* clang-format on */

struct layout {
	int minor;
	const struct section *sections;
	size_t nsections;
};

static const struct layout layouts[] = {
    {13, layout_313, sizeof layout_313 / sizeof layout_313[0]},
    {14, layout_314, sizeof layout_314 / sizeof layout_314[0]},
    {15, layout_315, sizeof layout_315 / sizeof layout_315[0]},
};

static const char cookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static void set_field(struct py_offsets *out, size_t where, uint64_t v)
{
	int32_t x = (int32_t)v;

	memcpy((char *)out + where, &x, sizeof x);
}

static size_t layout_size(const struct layout *l)
{
	size_t n = HEADER_SIZE;

	for (size_t i = 0; i < l->nsections; i++)
		n += 8 * l->sections[i].nslots;
	return n;
}

/* The 8 cookie bytes, printable characters only, for an error message. */
static void describe_cookie(const unsigned char *b, char out[33])
{
	size_t o = 0;

	for (int i = 0; i < 8; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
			out[o++] = (char)b[i];
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", b[i]);
	}
	out[o] = '\0';
}

static int pick_layout(uint64_t v, const struct layout **out, struct tg_err *err)
{
	unsigned major = (unsigned)(v >> 24) & 0xff, minor = (unsigned)(v >> 16) & 0xff;
	unsigned level = (unsigned)(v >> 4) & 0xf;

	if (v >> 32 || major != 3 || minor < 13)
		return tg_err_set(err, TG_E_LAYOUT,
				  "_Py_DebugOffsets: version 0x%llx is not CPython 3.13 or later",
				  (unsigned long long)v);
	for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
		if (layouts[i].minor != (int)minor)
			continue;
		if (level == 0xa)
			return tg_err_set(err, TG_E_LAYOUT,
					  "_Py_DebugOffsets: version 0x%llx is a 3.%u alpha "
					  "release, whose layout was not final",
					  (unsigned long long)v, minor);
		*out = &layouts[i];
		return 0;
	}
	return tg_err_set(err, TG_E_LAYOUT,
			  "_Py_DebugOffsets: layout of Python 3.%u (version 0x%llx) is unknown; "
			  "known: 3.13, 3.14, 3.15",
			  minor, (unsigned long long)v);
}

static int parse_section(const struct section *s, const unsigned char *p, struct py_offsets *out,
			 uint64_t *gil_base, struct tg_err *err)
{
	uint64_t bound = s->sized ? get_u64(p) : MAX_STRUCT_SIZE;

	if (s->sized && (bound == 0 || bound > MAX_STRUCT_SIZE))
		return tg_err_set(err, TG_E_LAYOUT, "_Py_DebugOffsets: %s.size %llu is not sane",
				  s->name, (unsigned long long)bound);
	for (size_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->slots[i];
		uint64_t v = get_u64(p + 8 * i);
		if (sl->use == USE_IGNORE)
			continue;
		if (i > 0 && v >= bound)
			return tg_err_set(
			    err, TG_E_LAYOUT,
			    "_Py_DebugOffsets: %s.%s = %llu lies outside the %llu-byte "
			    "structure",
			    s->name, sl->name, (unsigned long long)v, (unsigned long long)bound);
		if (sl->use == USE_GIL_BASE) {
			*gil_base = v;
			continue;
		}
		if (sl->use == USE_GIL_FIELD) {
			if (v < *gil_base)
				return tg_err_set(err, TG_E_LAYOUT,
						  "_Py_DebugOffsets: %s.%s = %llu lies before "
						  "gil_runtime_state (%llu)",
						  s->name, sl->name, (unsigned long long)v,
						  (unsigned long long)*gil_base);
			v -= *gil_base;
		}
		set_field(out, sl->field, v);
	}
	return 0;
}

int debugoff_parse(const unsigned char *bytes, size_t len, struct py_offsets *out,
		   uint64_t *version, struct tg_err *err)
{
	const struct layout *l = NULL;
	const unsigned char *p;
	uint64_t gil_base = 0, v, ft;
	char shown[33];

	py_offsets_clear(out);
	if (len < HEADER_SIZE)
		return tg_err_set(err, TG_E_LAYOUT,
				  "_Py_DebugOffsets: %zu bytes is too short for the header", len);
	if (memcmp(bytes, cookie, sizeof cookie) != 0) {
		describe_cookie(bytes, shown);
		return tg_err_set(err, TG_E_LAYOUT,
				  "_Py_DebugOffsets: cookie is \"%s\", not \"xdebugpy\"", shown);
	}
	v = get_u64(bytes + 8);
	ft = get_u64(bytes + 16);
	if (pick_layout(v, &l, err) < 0)
		return -1;
	if (ft > 1)
		return tg_err_set(err, TG_E_LAYOUT,
				  "_Py_DebugOffsets: free_threaded flag is %llu, not 0 or 1",
				  (unsigned long long)ft);
	if (len < layout_size(l))
		return tg_err_set(
		    err, TG_E_LAYOUT,
		    "_Py_DebugOffsets: %zu bytes is too short: the 3.%d layout has %zu", len,
		    l->minor, layout_size(l));
	p = bytes + HEADER_SIZE;
	for (size_t i = 0; i < l->nsections; i++) {
		if (parse_section(&l->sections[i], p, out, &gil_base, err) < 0) {
			py_offsets_clear(out);
			return -1;
		}
		p += 8 * l->sections[i].nslots;
	}
	out->rt_debug_offsets = 0; /* the block is the first member of _PyRuntime */
	if (version)
		*version = v;
	return 0;
}

int debugoff_free_threaded(const unsigned char *bytes, size_t len)
{
	if (len < HEADER_SIZE || memcmp(bytes, cookie, sizeof cookie) != 0)
		return -1;
	return get_u64(bytes + 16) != 0;
}

/* Size written for a structure whose size the table does not know (bounds the others). */
#define ENCODE_DEFAULT_SIZE 65536

static void put_u64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

static uint64_t encode_slot(const struct slot *sl, int is_size, const struct py_offsets *in)
{
	int32_t v;

	if (sl->use == USE_FIELD || sl->use == USE_GIL_FIELD) {
		memcpy(&v, (const char *)in + sl->field, sizeof v);
		if (v != OFFSET_ABSENT)
			return (uint64_t)v; /* GIL members relative to a gil_runtime_state at 0 */
	}
	return is_size ? ENCODE_DEFAULT_SIZE : 0;
}

int debugoff_encode(const struct py_offsets *in, uint64_t version, unsigned char *out, size_t len,
		    struct tg_err *err)
{
	const struct layout *l = NULL;

	if (pick_layout(version, &l, err) < 0)
		return -1;
	if (len < layout_size(l))
		return tg_err_set(err, TG_E_LAYOUT,
				  "_Py_DebugOffsets: %zu bytes cannot hold the "
				  "3.%d layout (%zu)",
				  len, l->minor, layout_size(l));
	memset(out, 0, layout_size(l));
	memcpy(out, cookie, sizeof cookie);
	put_u64(out + 8, version);
	unsigned char *p = out + HEADER_SIZE;
	for (size_t i = 0; i < l->nsections; i++) {
		const struct section *sec = &l->sections[i];
		for (size_t k = 0; k < sec->nslots; k++)
			put_u64(p + 8 * k, encode_slot(&sec->slots[k], sec->sized && k == 0, in));
		p += 8 * sec->nslots;
	}
	return 0;
}
