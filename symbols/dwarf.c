#include "symbols/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "symbols/dwarf_int.h"

#define MAX_WANTS 128
#define WANT_BUCKETS 256 /* power of two, > 2 * MAX_WANTS */

/* One type name the offset table needs, and where its definition was found. */
struct want {
	const char *name; /* without "struct "/"union " */
	int tag;	  /* DW_TAG_typedef, DW_TAG_structure_type or DW_TAG_union_type */
	int found;
	Dwarf_Off die;		  /* the complete struct/union (typedefs already resolved) */
	const char *fallback_tag; /* struct/union tag of a typedef seen only as a declaration */
	int fallback_kind;	  /* its DW_TAG_structure_type or DW_TAG_union_type */
};

struct want_index {
	struct want w[MAX_WANTS];
	size_t n;
	short bucket[WANT_BUCKETS]; /* index + 1 into w, 0 = empty */
};

static unsigned name_hash(const char *s, int tag)
{
	unsigned h = 2166136261u ^ (unsigned)tag;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct want *want_lookup(struct want_index *ix, const char *name, int tag)
{
	for (unsigned i = name_hash(name, tag);; i++) {
		short slot = ix->bucket[i & (WANT_BUCKETS - 1)];
		if (!slot)
			return NULL;
		struct want *w = &ix->w[slot - 1];
		if (w->tag == tag && strcmp(w->name, name) == 0)
			return w;
	}
}

static struct want *want_add(struct want_index *ix, const char *name, int tag)
{
	struct want *w = want_lookup(ix, name, tag);
	unsigned i;

	if (w || ix->n == MAX_WANTS)
		return w;
	w = &ix->w[ix->n++];
	memset(w, 0, sizeof *w);
	w->name = name;
	w->tag = tag;
	for (i = name_hash(name, tag); ix->bucket[i & (WANT_BUCKETS - 1)]; i++)
		;
	ix->bucket[i & (WANT_BUCKETS - 1)] = (short)ix->n;
	return w;
}

/* "struct X" -> (X, struct tag); "union X" -> (X, union tag); "X" -> (X, typedef). */
static const char *split_type_name(const char *type, int *tag)
{
	if (strncmp(type, "struct ", 7) == 0) {
		*tag = DW_TAG_structure_type;
		return type + 7;
	}
	if (strncmp(type, "union ", 6) == 0) {
		*tag = DW_TAG_union_type;
		return type + 6;
	}
	*tag = DW_TAG_typedef;
	return type;
}

static int is_declaration(Dwarf_Die *die)
{
	bool flag = false;
	Dwarf_Attribute a;

	return dwarf_attr(die, DW_AT_declaration, &a) && dwarf_formflag(&a, &flag) == 0 && flag;
}

static void note_typedef(struct want *w, Dwarf_Die *die)
{
	Dwarf_Die t;

	if (dwarf_type_of(die, &t) < 0 || !dwarf_is_aggregate(dwarf_tag(&t)))
		return;
	if (!is_declaration(&t)) {
		w->found = 1;
		w->die = dwarf_dieoffset(&t);
	} else if (!w->fallback_tag) {
		w->fallback_tag = dwarf_diename(&t);
		w->fallback_kind = dwarf_tag(&t);
	}
}

static void scan_cu_types(struct want_index *ix, Dwarf_Die *cudie)
{
	Dwarf_Die die;

	if (dwarf_child(cudie, &die) != 0)
		return;
	do {
		int tag = dwarf_tag(&die);
		if (tag != DW_TAG_typedef && !dwarf_is_aggregate(tag))
			continue;
		const char *name = dwarf_diename(&die);
		struct want *w = name ? want_lookup(ix, name, tag) : NULL;
		if (!w || w->found)
			continue;
		if (tag == DW_TAG_typedef) {
			note_typedef(w, &die);
		} else if (!is_declaration(&die)) {
			w->found = 1;
			w->die = dwarf_dieoffset(&die);
		}
	} while (dwarf_siblingof(&die, &die) == 0);
}

/* One pass over every unit's top-level DIEs, filling in the wants. */
static void scan_units(Dwarf *dw, struct want_index *ix)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	uint8_t unit_type;

	while (dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0)
		if (unit_type == DW_UT_compile || unit_type == DW_UT_partial)
			scan_cu_types(ix, &cudie);
}

static int all_found_or_hopeless(const struct want_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		if (!ix->w[i].found && ix->w[i].fallback_tag)
			return 0;
	return 1;
}

/* A typedef whose every sighting named a declared-only struct: look the tag up too.  Rare
 * (never in the pyenv or Debian builds), so it costs a second pass only when it happens. */
static void resolve_fallbacks(Dwarf *dw, struct want_index *ix)
{
	size_t n = ix->n;

	if (all_found_or_hopeless(ix))
		return;
	for (size_t i = 0; i < n; i++)
		if (!ix->w[i].found && ix->w[i].fallback_tag)
			want_add(ix, ix->w[i].fallback_tag, ix->w[i].fallback_kind);
	scan_units(dw, ix);
	for (size_t i = 0; i < n; i++) {
		struct want *w = &ix->w[i];
		struct want *t;
		if (w->found || !w->fallback_tag)
			continue;
		t = want_lookup(ix, w->fallback_tag, w->fallback_kind);
		if (t && t->found) {
			w->found = 1;
			w->die = t->die;
		}
	}
}

static void build_wants(struct want_index *ix)
{
	memset(ix, 0, sizeof *ix);
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		int tag;
		const char *name = split_type_name(py_offset_descs[i].type, &tag);
		want_add(ix, name, tag);
	}
}

static void fill_one(Dwarf *dw, struct want_index *ix, const struct py_offset_desc *d,
		     struct py_offsets *out)
{
	int tag;
	const char *name = split_type_name(d->type, &tag);
	struct want *w = want_lookup(ix, name, tag);
	Dwarf_Die type;
	Dwarf_Word size;
	int64_t v;

	if (!w || !w->found || !dwarf_offdie(dw, w->die, &type))
		return;
	if (d->kind == PYOFF_SIZE) {
		if (dwarf_aggregate_size(&type, &size) != 0)
			return;
		v = (int64_t)size;
	} else if (!d->path || dwarf_resolve_path(&type, d->path, d->kind, &v) < 0) {
		return;
	}
	if (v >= 0 && v <= INT32_MAX)
		py_offsets_set(out, d, (int32_t)v);
}

static int open_dwarf(const char *path, int *fd, Dwarf **dw, struct tg_err *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return tg_err_sys(err, TG_E_LAYOUT, "reading DWARF: cannot open %s", path);
	*dw = dwarf_begin(*fd, DWARF_C_READ);
	if (!*dw) {
		int e = dwarf_errno();
		close(*fd);
		return tg_err_set(err, TG_E_LAYOUT, "reading DWARF of %s: %s", path,
				  dwarf_errmsg(e));
	}
	return 0;
}

int dwarf_read_offsets(const char *path, struct py_offsets *out, struct tg_err *err)
{
	struct want_index ix;
	Dwarf *dw;
	int fd;

	py_offsets_clear(out);
	if (open_dwarf(path, &fd, &dw, err) < 0)
		return -1;
	build_wants(&ix);
	scan_units(dw, &ix);
	resolve_fallbacks(dw, &ix);
	for (size_t i = 0; i < py_offset_ndescs; i++)
		fill_one(dw, &ix, &py_offset_descs[i], out);
	dwarf_end(dw);
	close(fd);
	const char *missing = out->ts_size == OFFSET_ABSENT   ? "PyThreadState"
			      : out->co_size == OFFSET_ABSENT ? "PyCodeObject"
							      : NULL;
	if (missing) {
		py_offsets_clear(out);
		return tg_err_set(err, TG_E_LAYOUT,
				  "reading DWARF of %s: no definition of %s: not a CPython build",
				  path, missing);
	}
	return 0;
}

static int find_enumerator(Dwarf_Die *enumtype, const char *name, long *value)
{
	Dwarf_Die e;
	Dwarf_Attribute a;
	Dwarf_Sword v;

	if (dwarf_child(enumtype, &e) != 0)
		return -1;
	do {
		const char *n = dwarf_diename(&e);
		if (dwarf_tag(&e) == DW_TAG_enumerator && n && strcmp(n, name) == 0 &&
		    dwarf_attr(&e, DW_AT_const_value, &a) && dwarf_formsdata(&a, &v) == 0) {
			*value = (long)v;
			return 0;
		}
	} while (dwarf_siblingof(&e, &e) == 0);
	return -1;
}

static int scan_cu_enums(Dwarf_Die *cudie, const char *name, long *value)
{
	Dwarf_Die die;

	if (dwarf_child(cudie, &die) != 0)
		return -1;
	do {
		if (dwarf_tag(&die) == DW_TAG_enumeration_type && !is_declaration(&die) &&
		    find_enumerator(&die, name, value) == 0)
			return 0;
	} while (dwarf_siblingof(&die, &die) == 0);
	return -1;
}

int dwarf_read_enum(const char *path, const char *enumerator, long *value, struct tg_err *err)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	uint8_t unit_type;
	Dwarf *dw;
	int fd, rc = -1;

	if (open_dwarf(path, &fd, &dw, err) < 0)
		return -1;
	while (rc < 0 && dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0)
		if (unit_type == DW_UT_compile || unit_type == DW_UT_partial)
			rc = scan_cu_enums(&cudie, enumerator, value);
	dwarf_end(dw);
	close(fd);
	if (rc < 0)
		tg_err_set(err, TG_E_LAYOUT, "reading DWARF of %s: no enumerator %s", path,
			   enumerator);
	return rc;
}
