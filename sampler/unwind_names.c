/* unwind_names.c: see unwind_names.h. */
#include "sampler/unwind_names.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define SLOTS 8192	  /* a power of two */
#define KEEP_AT_MOST 4096 /* entries; over it the next trim forgets them all */
#define NATIVE_ID_TAG (1ull << 63)
#define MAX_SCOPE_DEPTH 64 /* nested functions, inlined calls and blocks */

struct entry {
	uint64_t pc;
	size_t n;
	struct unwind_name names[UNWIND_MAX_INLINE];
	struct entry *next; /* in the overflow list */
};

struct unwind_names {
	const char *const *eval_names;
	struct entry *slot[SLOTS];
	struct entry *overflow;
	size_t used;
};

struct unwind_names *unames_new(const char *const *eval_names)
{
	struct unwind_names *n = xcalloc(1, sizeof *n);

	n->eval_names = eval_names;
	return n;
}

static void free_entry(struct entry *e)
{
	for (size_t k = 0; k < e->n; k++) {
		free(e->names[k].ci.file);
		free(e->names[k].ci.func);
	}
	free(e);
}

static void forget(struct unwind_names *n)
{
	for (size_t i = 0; i < SLOTS; i++) {
		if (n->slot[i])
			free_entry(n->slot[i]);
		n->slot[i] = NULL;
	}
	while (n->overflow) {
		struct entry *e = n->overflow;
		n->overflow = e->next;
		free_entry(e);
	}
	n->used = 0;
}

void unames_free(struct unwind_names *n)
{
	if (!n)
		return;
	forget(n);
	free(n);
}

void unames_trim(struct unwind_names *n, int all)
{
	if (all || n->used > KEEP_AT_MOST)
		forget(n);
}

/* Is name one of the evaluation functions, or a part of one (`NAME.cold`)? */
static int is_eval(const struct unwind_names *n, const char *name)
{
	for (const char *const *e = n->eval_names; name && e && *e; e++) {
		size_t len = strlen(*e);
		if (strncmp(name, *e, len) == 0 && (name[len] == 0 || name[len] == '.'))
			return 1;
	}
	return 0;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;

	if (dwarf_attr_integrate(die, DW_AT_name, &a))
		return dwarf_formstring(&a);
	return NULL;
}

/* The file an inlined call was made from, or NULL. */
static const char *call_file(Dwarf_Die *cu, Dwarf_Die *inl)
{
	Dwarf_Attribute a;
	Dwarf_Word idx;
	Dwarf_Files *files;
	size_t nfiles;

	if (!dwarf_attr(inl, DW_AT_call_file, &a) || dwarf_formudata(&a, &idx) != 0 ||
	    dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

static int call_line(Dwarf_Die *inl)
{
	Dwarf_Attribute a;
	Dwarf_Word v;

	if (!dwarf_attr(inl, DW_AT_call_line, &a) || dwarf_formudata(&a, &v) != 0 || v > 1u << 30)
		return -1;
	return (int)v;
}

static const char *file_or_object(const char *src, const char *object)
{
	if (src && strncmp(src, "./", 2) == 0)
		src += 2;
	return src && *src ? src : object;
}

static void set_name(struct unwind_name *un, const char *file, const char *func, int line,
		     uint64_t id)
{
	memset(un, 0, sizeof *un);
	un->ci.file = xstrdup(file);
	un->ci.func = xstrdup(func);
	un->ci.addr = id;
	un->line = line;
	un->id = id;
}

/* The innermost function, inlined call or block of cu that holds pc (bounded: a walk of
 * the DIE tree by the scopes that hold pc, MAX_SCOPE_DEPTH deep).  0, or -1 when no
 * function holds pc. */
static int innermost_scope(Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *out)
{
	Dwarf_Die die = *cu, child;
	int found = 0;

	for (int depth = 0; depth < MAX_SCOPE_DEPTH && dwarf_child(&die, &child) == 0; depth++) {
		int descended = 0;
		do {
			int tag = dwarf_tag(&child);
			if ((tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
			     tag == DW_TAG_lexical_block) &&
			    dwarf_haspc(&child, pc) == 1) {
				die = child;
				*out = child;
				found = 1;
				descended = 1;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
		if (!descended)
			break;
	}
	return found ? 0 : -1;
}

/* DWARF's view of pc: the inlined calls at pc, then the function they are in. */
static size_t from_dwarf(Dwfl_Module *mod, uint64_t pc, const char *object, uint64_t entry,
			 const char *symname, struct unwind_name *out)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias), *scopes = NULL, inner;
	/* the chain of concrete scopes above the innermost one names the calls it was
	 * inlined into (libdw's dwarf_getscopes goes on past an inlined call with its
	 * abstract definition's scopes, and leaks memory in elfutils 0.188) */
	int ns = cu && innermost_scope(cu, pc - bias, &inner) == 0
		     ? dwarf_getscopes_die(&inner, &scopes)
		     : 0;
	size_t k = 0, nfuncs = 0;
	int line = -1;
	const char *src = NULL;
	Dwfl_Line *dl = cu ? dwfl_module_getsrc(mod, pc) : NULL;

	if (dl)
		src = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	for (int i = 0; i < ns; i++) {
		int tag = dwarf_tag(&scopes[i]);
		nfuncs += tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram;
	}
	for (int i = 0; i < ns && k < UNWIND_MAX_INLINE; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		int outer = tag == DW_TAG_subprogram || k + 1 == UNWIND_MAX_INLINE;
		const char *name = outer && symname ? symname : die_name(&scopes[i]);
		/* ids: the function's entry, tagged, and the inline level from the outside */
		uint64_t id = NATIVE_ID_TAG | ((uint64_t)(nfuncs - 1 - k) << 56) | entry;
		set_name(&out[k++], file_or_object(src, object), name ? name : "?", line, id);
		if (outer)
			break;
		line = call_line(&scopes[i]);
		src = call_file(cu, &scopes[i]);
	}
	free(scopes);
	if (k == 0 && src) /* a line, but no function in DWARF */
		set_name(&out[k++], file_or_object(src, object), symname ? symname : "?", line,
			 NATIVE_ID_TAG | entry);
	return k;
}

/* Where the function around pc starts, from its call-frame information (a pc no symbol
 * covers: stripped local functions, the parts of a split one), else pc. */
static uint64_t cfi_start(Dwfl_Module *mod, uint64_t pc)
{
	Dwarf_Addr bias, lo, hi;
	Dwarf_Frame *frame = NULL;
	bool signal;
	Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);

	if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0)
		cfi = dwfl_module_dwarf_cfi(mod, &bias);
	if (!frame && (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0))
		return pc;
	int ok = dwarf_frame_info(frame, &lo, &hi, &signal) >= 0;
	free(frame);
	return ok ? lo + bias : pc;
}

static size_t resolve(struct unwind_names *n, Dwfl_Module *mod, uint64_t pc,
		      struct unwind_name *out)
{
	Dwarf_Addr start = 0;
	const char *path = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	const char *object = path && strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *symname = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
	uint64_t entry = symname ? pc - off : pc;
	char hex[32], plain[256];

	/* a versioned name (`__libc_start_main@@GLIBC_2.34`) without its version */
	if (symname && strchr(symname, '@') && strchr(symname, '@') > symname) {
		snprintf(plain, sizeof plain, "%.*s", (int)(strchr(symname, '@') - symname),
			 symname);
		symname = plain;
	}

	if (!object || !*object)
		object = "?";
	if (!symname)
		entry = cfi_start(mod, pc);
	size_t k = from_dwarf(mod, pc, object, entry & ((1ull << 56) - 1), symname, out);
	if (k == 0) {
		snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)(entry - start));
		set_name(&out[k++], object, symname ? symname : hex, -1,
			 NATIVE_ID_TAG | (entry & ((1ull << 56) - 1)));
	}
	out[k - 1].eval = is_eval(n, out[k - 1].ci.func) || is_eval(n, symname);
	return k;
}

static struct entry *new_entry(struct unwind_names *n, Dwfl_Module *mod, uint64_t pc)
{
	struct entry *e = xcalloc(1, sizeof *e);

	e->pc = pc;
	e->n = resolve(n, mod, pc, e->names);
	n->used++;
	return e;
}

size_t unames_at(struct unwind_names *n, Dwfl_Module *mod, uint64_t pc,
		 const struct unwind_name **out)
{
	size_t h = (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 51) & (SLOTS - 1);
	struct entry *e = NULL;

	for (size_t probe = 0; probe < SLOTS / 2; probe++, h = (h + 1) & (SLOTS - 1)) {
		e = n->slot[h];
		if (e && e->pc == pc)
			break;
		if (!e) {
			e = n->slot[h] = new_entry(n, mod, pc);
			break;
		}
		e = NULL;
	}
	if (!e) { /* a crowded table within one sample: kept apart until the next trim */
		e = new_entry(n, mod, pc);
		e->next = n->overflow;
		n->overflow = e;
	}
	*out = e->names;
	return e->n;
}
