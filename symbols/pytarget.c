#include "symbols/pytarget.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/debugoff.h"
#include "symbols/dwarf.h"
#include "symbols/elfimg.h"
#include "symbols/offcache.h"
#include "symbols/procmaps.h"
#include "symbols/ripload.h"

/* Sizes of _PyRuntime (st_size) per minor version, for builds that export no version:
 * a fingerprint from the reference notes (release builds, x86-64). */
static const struct {
	uint64_t size;
	int minor;
} runtime_size_minor[] = {{1520, 7}, {1464, 8}, {656, 9}, {672, 10}};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* libpython3.12.so.1.0, libpython2.7.so, libpython3.13d.so: not the stable-ABI stub
 * libpython3.so, which only forwards to the real one and may be mapped before it. */
static int is_libpython(const char *path)
{
	const char *b = base_name(path);
	int major, minor;

	return sscanf(b, "libpython%d.%d", &major, &minor) == 2 && strstr(b, ".so") != NULL;
}

static const struct procmap *find_libpython(const struct procmaps *maps)
{
	for (size_t i = 0; i < maps->n; i++)
		if (maps->maps[i].path[0] == '/' && is_libpython(maps->maps[i].path))
			return procmaps_first_of(maps, maps->maps[i].path);
	return NULL;
}

static const struct procmap *find_executable(pid_t pid, const struct procmaps *maps)
{
	char link[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	size_t len = strlen(exe), sl = strlen(" (deleted)");
	if (len > sl && strcmp(exe + len - sl, " (deleted)") == 0)
		exe[len - sl] = '\0';
	return procmaps_first_of(maps, exe);
}

/* Open the mapped file as the target sees it: through its root (containers), or through
 * map_files when it was deleted or replaced after the process started. */
static int open_image(struct py_target *t, const struct procmap *m, struct elf_image *img,
		      struct tg_err *err)
{
	snprintf(t->image_path, sizeof t->image_path, "%s", m->path);
	t->image_deleted = m->deleted;
	if (!m->deleted) {
		snprintf(t->open_path, sizeof t->open_path, "/proc/%d/root%s", (int)t->pid,
			 m->path);
		if (elfimg_open(img, t->open_path, NULL) == 0)
			return 0;
	}
	snprintf(t->open_path, sizeof t->open_path, "/proc/%d/map_files/%llx-%llx", (int)t->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	if (elfimg_open(img, t->open_path, NULL) == 0)
		return 0;
	snprintf(t->open_path, sizeof t->open_path, "%s", m->path);
	if (elfimg_open(img, t->open_path, err) == 0)
		return 0;
	return tg_err_wrap(err, "tried /proc/%d/root%s, /proc/%d/map_files/%llx-%llx and %s",
			   (int)t->pid, m->path, (int)t->pid, (unsigned long long)m->start,
			   (unsigned long long)m->end, m->path);
}

static int exports_python(const struct elf_image *img)
{
	return elfimg_symbol(img, "Py_Initialize", NULL) != 0 ||
	       elfimg_symbol(img, "Py_InitializeEx", NULL) != 0;
}

static int locate_image(struct py_target *t, const struct procmaps *maps, struct elf_image *img,
			struct tg_err *err)
{
	const struct procmap *m = find_libpython(maps);

	t->is_shared = m != NULL;
	if (!m)
		m = find_executable(t->pid, maps);
	if (!m)
		return tg_err_set(err, TG_E_NOTPY,
				  "process %d is not Python: no libpython*.so is mapped and its "
				  "executable could not be read",
				  (int)t->pid);
	if (open_image(t, m, img, err) < 0)
		return tg_err_wrap(err, "cannot read the interpreter of process %d", (int)t->pid);
	if (!t->is_shared && !exports_python(img)) {
		elfimg_close(img);
		return tg_err_set(err, TG_E_NOTPY,
				  "process %d is not Python: no libpython*.so is mapped and %s has "
				  "no CPython symbols (Py_Initialize)",
				  (int)t->pid, m->path);
	}
	t->load_bias = img->is_dyn ? m->start - m->offset - img->first_load_vaddr : 0;
	snprintf(t->build_id, sizeof t->build_id, "%s", img->build_id);
	return 0;
}

/* The symbol from the image, else from its debug file (statics live only there when the
 * image is stripped). */
static uint64_t symbol(const struct py_target *t, const struct elf_image *img,
		       const struct elf_image *dbg, const char *name, uint64_t *size)
{
	uint64_t v = elfimg_symbol(img, name, size);

	if (!v && dbg && dbg->elf)
		v = elfimg_symbol(dbg, name, size);
	return v ? v + t->load_bias : 0;
}

/* `mov VAR(%rip),%rax; ret`: the whole body of PyInterpreterState_Head in 2.7/3.6. */
static uint64_t follow_rip_load(const struct elf_image *img, uint64_t func_vaddr)
{
	unsigned char code[8];
	int32_t disp;

	if (!func_vaddr || elfimg_read_vaddr(img, func_vaddr, code, sizeof code) < 0)
		return 0;
	if (code[0] != 0x48 || code[1] != 0x8b || code[2] != 0x05 || code[7] != 0xc3)
		return 0;
	memcpy(&disp, code + 3, 4);
	return func_vaddr + 7 + (int64_t)disp;
}

/* A static by name, also under the name link-time optimisation gives it. */
static uint64_t static_symbol(const struct py_target *t, const struct elf_image *img,
			      const struct elf_image *dbg, const char *name)
{
	char lto[128];
	uint64_t v = symbol(t, img, dbg, name, NULL);

	for (int k = 0; !v && k < 4; k++) {
		snprintf(lto, sizeof lto, "%s.lto_priv.%d", name, k);
		v = symbol(t, img, dbg, lto, NULL);
	}
	return v;
}

static int in_section(const struct elf_image *img, const char *name, uint64_t vaddr)
{
	uint64_t size, start = elfimg_section(img, name, &size);
	return start && vaddr >= start && vaddr - start < size;
}

/* Stripped build: _Py_GetAllocatedBlocks is `return _Py_AllocatedBlocks` (3.6 - 3.8), or
 * reads maxarenas (32-bit), raw_allocated_blocks and the arenas pointer, which it follows
 * (3.9 - 3.11). */
static void allocator_from_code(struct py_target *t, const struct elf_image *img)
{
	struct py_syms *s = &t->sym;
	unsigned char code[256];
	struct ripload loads[8], keep[8];
	uint64_t size = 0, fn = elfimg_symbol(img, "_Py_GetAllocatedBlocks", &size);
	size_t len = size && size < sizeof code ? size : sizeof code, n4 = 0, n8 = 0, nk = 0;

	while (fn && len > 0 && elfimg_read_vaddr(img, fn, code, len) < 0)
		len /= 2; /* near the end of .text */
	if (!fn || len == 0)
		return;
	size_t n = ripload_scan(code, len, fn, loads, 8);
	for (size_t i = 0; i < n; i++) {
		if (!in_section(img, ".bss", loads[i].target) &&
		    !in_section(img, ".data", loads[i].target))
			continue;
		keep[nk++] = loads[i];
		*(loads[i].width == 8 ? &n8 : &n4) += 1;
	}
	if (t->major == 2)
		return; /* 2.7 has no such accessor */
	if (nk == 1 && n8 == 1 && t->minor <= 8) {
		s->om_allocated_blocks = keep[0].target + t->load_bias;
		s->om_from_code = 1;
		return;
	}
	if (nk != 3 || n4 != 1 || n8 != 2 || t->minor <= 8)
		return;
	uint64_t arenas = 0, raw = 0;
	int nderef = 0;
	for (size_t i = 0; i < nk; i++) {
		if (keep[i].width == 4) {
			s->om_maxarenas = keep[i].target + t->load_bias;
		} else if (ripload_derefs(code, len, keep[i].end, keep[i].reg)) {
			arenas = keep[i].target;
			nderef++;
		} else {
			raw = keep[i].target;
		}
	}
	if (nderef != 1 || !raw) {
		s->om_maxarenas = 0;
		return;
	}
	s->om_arenas = arenas + t->load_bias;
	s->om_raw_blocks = raw + t->load_bias;
	s->om_from_code = 1;
}

/* After the version is known: 3.12+ keep this state in the interpreter (offsets). */
static void resolve_allocator(struct py_target *t, const struct elf_image *img,
			      const struct elf_image *dbg)
{
	struct py_syms *s = &t->sym;

	if (t->major == 3 && t->minor >= 12)
		return;

	s->om_arenas = static_symbol(t, img, dbg, "arenas");
	s->om_maxarenas = static_symbol(t, img, dbg, "maxarenas");
	s->om_narenas = static_symbol(t, img, dbg, "narenas_currently_allocated");
	s->om_narenas_highwater = static_symbol(t, img, dbg, "narenas_highwater");
	s->om_raw_blocks = static_symbol(t, img, dbg, "raw_allocated_blocks");
	s->om_allocated_blocks = static_symbol(t, img, dbg, "_Py_AllocatedBlocks");
	if (!s->om_arenas && !s->om_maxarenas && !s->om_allocated_blocks)
		allocator_from_code(t, img);
}

static void resolve_symbols(struct py_target *t, const struct elf_image *img,
			    const struct elf_image *dbg)
{
	struct py_syms *s = &t->sym;

	s->runtime = symbol(t, img, dbg, "_PyRuntime", &s->runtime_size);
	if (!s->runtime) {
		uint64_t sec = elfimg_section(img, ".PyRuntime", &s->runtime_size);
		s->runtime = sec ? sec + t->load_bias : 0;
	}
	s->interp_head = symbol(t, img, dbg, "interp_head", NULL);
	if (!s->interp_head) {
		uint64_t head_fn = elfimg_symbol(img, "PyInterpreterState_Head", NULL);
		uint64_t var = follow_rip_load(img, head_fn);
		s->interp_head = var ? var + t->load_bias : 0;
	}
	s->tstate_current = symbol(t, img, dbg, "_PyThreadState_Current", NULL);
	s->gil_locked = symbol(t, img, dbg, "gil_locked", NULL);
	s->gil_last_holder = symbol(t, img, dbg, "gil_last_holder", NULL);
	s->py_version = symbol(t, img, dbg, "Py_Version", NULL);
	s->code_type = symbol(t, img, dbg, "PyCode_Type", NULL);
	s->unicode_type = symbol(t, img, dbg, "PyUnicode_Type", NULL);
	s->string_type = symbol(t, img, dbg, "PyString_Type", NULL);
	s->bytes_type = symbol(t, img, dbg, "PyBytes_Type", NULL);
	s->dict_type = symbol(t, img, dbg, "PyDict_Type", NULL);
	s->long_type = symbol(t, img, dbg, "PyLong_Type", NULL);
	s->int_type = symbol(t, img, dbg, "PyInt_Type", NULL);
	s->module_type = symbol(t, img, dbg, "PyModule_Type", NULL);
	s->type_type = symbol(t, img, dbg, "PyType_Type", NULL);
	t->debug_abi = symbol(t, img, dbg, "_Py_RefTotal", NULL) != 0 ||
		       symbol(t, img, dbg, "_Py_GetRefTotal", NULL) != 0;
}

static int version_from_name(struct py_target *t)
{
	const char *b = strstr(base_name(t->image_path), "python");
	int major, minor;

	if (b && sscanf(b, "python%d.%d", &major, &minor) == 2) {
		t->major = major;
		t->minor = minor;
		return 0;
	}
	return -1;
}

static int detect_version(struct py_target *t, struct remote *r, struct tg_err *err)
{
	uint64_t hex;

	if (t->sym.py_version && remote_read_u64(r, t->sym.py_version, &hex) == 0 &&
	    (hex >> 24) == 3) {
		t->hexversion = (uint32_t)hex;
		t->major = (int)(hex >> 24) & 0xff;
		t->minor = (int)(hex >> 16) & 0xff;
		t->micro = (int)(hex >> 8) & 0xff;
		return 0;
	}
	if (version_from_name(t) == 0)
		return 0;
	for (size_t i = 0; i < sizeof runtime_size_minor / sizeof runtime_size_minor[0]; i++)
		if (t->sym.runtime_size == runtime_size_minor[i].size) {
			t->major = 3;
			t->minor = runtime_size_minor[i].minor;
			return 0;
		}
	if (t->sym.interp_head && t->sym.string_type) {
		t->major = 2;
		t->minor = 7;
		return 0;
	}
	return tg_err_set(err, TG_E_LAYOUT,
			  "cannot tell the Python version of %s: no Py_Version symbol, no "
			  "version in the file name, unknown _PyRuntime size %llu",
			  t->image_path, (unsigned long long)t->sym.runtime_size);
}

/* A program that links libpython statically and is built with -g has DWARF for its own
 * code, which sees only CPython's public headers: the thread state and code object, but
 * not the interpreter and runtime structures, defined in CPython's own sources. */
static int dwarf_complete(struct py_target *t, const char *debug_path, struct tg_err *err)
{
	const char *missing = NULL;

	if (t->off.is_size == OFFSET_ABSENT)
		missing = "PyInterpreterState";
	else if (t->major == 3 && t->minor >= 7 && t->off.rt_size == OFFSET_ABSENT)
		missing = "_PyRuntimeState";
	if (!missing)
		return 0;
	py_offsets_clear(&t->off);
	t->off_source = OFFSRC_NONE;
	return tg_err_set(err, TG_E_LAYOUT,
			  "DWARF of %s has no definition of %s (only CPython's public headers: "
			  "a program embedding a static libpython?)",
			  debug_path, missing);
}

/* DWARF, through the per-build-id cache: parsing libpython's DWARF takes tens of ms. */
static int load_dwarf(struct py_target *t, const char *debug_path, struct tg_err *err)
{
	t->off_source = OFFSRC_DWARF;
	if (offcache_load(t->build_id, &t->off) == 0) {
		snprintf(t->off_detail, sizeof t->off_detail, "%s (cached by build-id)",
			 debug_path);
		return dwarf_complete(t, debug_path, err);
	}
	if (dwarf_read_offsets(debug_path, &t->off, err) < 0 ||
	    dwarf_complete(t, debug_path, err) < 0) {
		t->off_source = OFFSRC_NONE;
		return -1;
	}
	offcache_store(t->build_id, &t->off);
	snprintf(t->off_detail, sizeof t->off_detail, "%s", debug_path);
	return 0;
}

/* TG_E_LAYOUT: "Python 3.14 (debug build) in FILE: why". */
static int refuse_layout(const struct py_target *t, const char *why, struct tg_err *err)
{
	return tg_err_set(err, TG_E_LAYOUT, "Python %d.%d%s in %s: %s", t->major, t->minor,
			  t->debug_abi ? " (debug build)" : "", t->image_path, why);
}

static int load_builtin(struct py_target *t, struct tg_err *err)
{
	const struct py_builtin_table *tab = py_builtin_find(t->major, t->minor, t->debug_abi);

	if (!tab)
		return refuse_layout(t,
				     "no usable debug info (DWARF in the file, "
				     "/usr/lib/debug/.build-id/, .gnu_debuglink) and no built-in "
				     "layout table for this version",
				     err);
	t->off = tab->off;
	t->off_source = OFFSRC_BUILTIN;
	snprintf(t->off_detail, sizeof t->off_detail, "built-in table from %s", tab->source);
	return 0;
}

int pytarget_use_debug_offsets(struct py_target *t, const struct py_offsets *dbg,
			       struct tg_err *err)
{
	size_t agree = 0, described = 0;
	const struct py_builtin_table *same =
	    py_builtin_closest(t->major, t->minor, t->debug_abi, dbg, &agree, &described);

	/* another version's table would guess str, dict, type and allocator internals */
	if (!same)
		return refuse_layout(t,
				     "no DWARF, and no built-in table for this version to complete "
				     "what _Py_DebugOffsets describes (string, dict and allocator "
				     "internals)",
				     err);
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		const struct py_offset_desc *d = &py_offset_descs[i];
		int32_t v = py_offsets_get(dbg, d);
		py_offsets_set(&t->off, d, v != OFFSET_ABSENT ? v : py_offsets_get(&same->off, d));
	}
	t->off_source = OFFSRC_DEBUG_OFFSETS;
	snprintf(t->off_detail, sizeof t->off_detail,
		 "_Py_DebugOffsets in the target; what it does not describe from the built-in "
		 "%d.%d%s table (%s, which agrees on %zu of its %zu offsets)",
		 same->major, same->minor, same->debug_abi ? "d" : "", same->source, agree,
		 described);
	return 0;
}

/* On 3.13+ the runtime describes its own layout: compare it with the table in use, or use
 * it when nothing else is available. */
static int check_debug_offsets(struct py_target *t, struct remote *r, struct tg_err *err)
{
	unsigned char block[4096];
	struct py_offsets dbg;
	uint64_t version = 0;
	struct tg_err perr = {0};

	if (t->major < 3 || (t->major == 3 && t->minor < 13) || !t->sym.runtime)
		return 0;
	if (remote_read(r, t->sym.runtime, block, sizeof block) < 0 ||
	    debugoff_parse(block, sizeof block, &dbg, &version, &perr) < 0) {
		snprintf(t->off_check, sizeof t->off_check, "_Py_DebugOffsets unreadable: %s",
			 perr.msg[0] ? perr.msg : "read failed");
		/* only DWARF can stand without it: a table alone may be another patch
		 * release's layout */
		return t->off_source != OFFSRC_DWARF
			   ? tg_err_set(err, TG_E_LAYOUT, "%s", t->off_check)
			   : 0;
	}
	/* without DWARF the runtime's own description wins: a built-in table is from one
	 * patch release, and patch releases move members (3.13.0 and 3.13.5 differ) */
	if (t->off_source != OFFSRC_DWARF) {
		if (pytarget_use_debug_offsets(t, &dbg, err) < 0)
			return -1;
		snprintf(t->off_check, sizeof t->off_check,
			 "_Py_DebugOffsets of version 0x%llx used", (unsigned long long)version);
		return 0;
	}
	size_t compared = 0, differ = 0;
	const char *first = NULL;
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		int32_t a = py_offsets_get(&dbg, &py_offset_descs[i]);
		if (a == OFFSET_ABSENT)
			continue;
		compared++;
		if (a != py_offsets_get(&t->off, &py_offset_descs[i])) {
			differ++;
			if (!first)
				first = py_offset_descs[i].field;
		}
	}
	snprintf(t->off_check, sizeof t->off_check,
		 differ ? "_Py_DebugOffsets: %zu of %zu offsets DIFFER (first: %s)"
			: "_Py_DebugOffsets: %zu of %zu offsets agree%s",
		 differ ? differ : compared, compared, first ? first : "");
	if (differ)
		return tg_err_set(err, TG_E_LAYOUT, "layout of %s does not match the target: %s",
				  t->off_detail, t->off_check);
	return 0;
}

static int resolve_offsets(struct py_target *t, const char *debug_path,
			   const struct pytarget_opts *opts, struct tg_err *err)
{
	py_offsets_clear(&t->off);
	if (opts->offsets != OFFSETS_BUILTIN && debug_path)
		if (load_dwarf(t, debug_path, opts->offsets == OFFSETS_DWARF ? err : NULL) == 0)
			return 0;
	if (opts->offsets == OFFSETS_DWARF)
		return debug_path ? -1
				  : tg_err_set(err, TG_E_LAYOUT,
					       "--offsets=dwarf: no debug info found for %s "
					       "(looked in the file, /usr/lib/debug/.build-id/ and "
					       "via .gnu_debuglink)",
					       t->image_path);
	if (load_builtin(t, err) == 0)
		return 0;
	/* 3.13+ can still go on from _Py_DebugOffsets alone */
	if (t->major == 3 && t->minor >= 13)
		return 0;
	return -1;
}

int pytarget_resolve(struct py_target *t, pid_t pid, struct remote *r,
		     const struct pytarget_opts *opts, struct tg_err *err)
{
	struct procmaps maps;
	struct elf_image img, dbg = {.fd = -1};
	char root[64], debug_path[PATH_MAX];
	int have_debug, rc = -1;

	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->frame_cstack_owner = -1;
	if (procmaps_read(pid, &maps, err) < 0)
		return -1;
	if (locate_image(t, &maps, &img, err) < 0)
		goto out_maps;
	snprintf(root, sizeof root, "/proc/%d/root", (int)pid);
	have_debug = dwarf_find_debug_file(root, t->open_path, img.build_id, img.debuglink,
					   debug_path, sizeof debug_path) == 0;
	/* --offsets=builtin reads nothing but the interpreter file and tgattach's tables: no
	 * detached debug file, for symbols either (what a machine without it sees) */
	if (have_debug && opts->offsets != OFFSETS_BUILTIN && strcmp(debug_path, t->open_path) != 0)
		elfimg_open(&dbg, debug_path, NULL);
	resolve_symbols(t, &img, &dbg);
	if (detect_version(t, r, err) < 0)
		goto out;
	resolve_allocator(t, &img, &dbg);
	if (t->major == 3 && t->minor >= 12)
		t->frame_cstack_owner = 3;
	if (resolve_offsets(t, have_debug ? debug_path : NULL, opts, err) < 0)
		goto out;
	if (check_debug_offsets(t, r, err) < 0)
		goto out;
	if (t->sym.runtime == 0 && t->sym.interp_head == 0) {
		tg_err_set(
		    err, TG_E_LAYOUT,
		    "Python %d.%d in %s: neither _PyRuntime nor interp_head was found (looked "
		    "in its symbol tables and its debug file's)",
		    t->major, t->minor, t->image_path);
		goto out;
	}
	rc = 0;
out:
	elfimg_close(&dbg);
	elfimg_close(&img);
out_maps:
	procmaps_free(&maps);
	return rc;
}

const char *pytarget_version_str(const struct py_target *t, char *buf, size_t len)
{
	if (t->hexversion)
		snprintf(buf, len, "%d.%d.%d", t->major, t->minor, t->micro);
	else
		snprintf(buf, len, "%d.%d", t->major, t->minor);
	return buf;
}

const char *pytarget_offsets_source_name(enum offsets_source s)
{
	switch (s) {
	case OFFSRC_DWARF:
		return "dwarf";
	case OFFSRC_BUILTIN:
		return "builtin";
	case OFFSRC_DEBUG_OFFSETS:
		return "debug-offsets";
	default:
		return "none";
	}
}
