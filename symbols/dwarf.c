#include "symbols/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "symbols/elfimg.h"

/* Typedef chains, qualifiers and anonymous-member nesting are shallow in CPython; the caps
 * only guard against malformed or cyclic DWARF. */
#define MAX_TYPE_CHAIN 32
#define MAX_ANON_DEPTH 8
#define MAX_PATH_PARTS 8
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

static int is_aggregate(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type;
}

/* Follow typedef / const / volatile / restrict / _Atomic wrappers to the underlying type. */
static int strip_type(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Die cur = *die;

	for (int i = 0; i < MAX_TYPE_CHAIN; i++) {
		int tag = dwarf_tag(&cur);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
		    tag != DW_TAG_atomic_type) {
			*out = cur;
			return 0;
		}
		Dwarf_Attribute a;
		if (!dwarf_attr_integrate(&cur, DW_AT_type, &a) || !dwarf_formref_die(&a, &cur))
			return -1; /* typedef of void */
	}
	return -1;
}

/* The stripped type of a member / typedef DIE's DW_AT_type. */
static int type_of(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute a;
	Dwarf_Die t;

	if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t))
		return -1;
	return strip_type(&t, out);
}

static void note_typedef(struct want *w, Dwarf_Die *die)
{
	Dwarf_Die t;

	if (type_of(die, &t) < 0 || !is_aggregate(dwarf_tag(&t)))
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
		if (tag != DW_TAG_typedef && !is_aggregate(tag))
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

static int attr_udata(Dwarf_Die *die, unsigned name, Dwarf_Word *v)
{
	Dwarf_Attribute a;

	return dwarf_attr(die, name, &a) && dwarf_formudata(&a, v) == 0 ? 0 : -1;
}

/* DW_AT_data_member_location: a constant (DWARF 3+) or a DW_OP_plus_uconst expression. */
static int member_location(Dwarf_Die *m, Dwarf_Word *off)
{
	Dwarf_Attribute a;
	Dwarf_Op *ops;
	size_t nops;

	if (!dwarf_attr(m, DW_AT_data_member_location, &a)) {
		Dwarf_Word bit;
		*off = attr_udata(m, DW_AT_data_bit_offset, &bit) == 0 ? bit / 8 : 0;
		return 0; /* union members have no location */
	}
	if (dwarf_formudata(&a, off) == 0)
		return 0;
	if (dwarf_getlocation(&a, &ops, &nops) == 0 && nops == 1 &&
	    ops[0].atom == DW_OP_plus_uconst) {
		*off = ops[0].number;
		return 0;
	}
	return -1;
}

/* Bit offset of member m from the start of the struct that contains it. */
static int member_bit_offset(Dwarf_Die *m, Dwarf_Word *bit)
{
	Dwarf_Word loc, old, bsize, size;

	if (attr_udata(m, DW_AT_data_bit_offset, bit) == 0)
		return 0;
	if (member_location(m, &loc) < 0)
		return -1;
	if (attr_udata(m, DW_AT_bit_offset, &old) == 0 &&
	    attr_udata(m, DW_AT_bit_size, &bsize) == 0) {
		/* DWARF 2/3 counts from the most significant bit of the storage unit;
		 * x86-64 is little-endian */
		if (attr_udata(m, DW_AT_byte_size, &size) < 0) {
			Dwarf_Die t;
			if (type_of(m, &t) < 0 || dwarf_aggregate_size(&t, &size) < 0)
				return -1;
		}
		*bit = loc * 8 + size * 8 - old - bsize;
		return 0;
	}
	*bit = loc * 8;
	return 0;
}

/* Find member `name` of aggregate `agg`, looking inside anonymous struct/union members.
 * *off receives its byte offset from the start of agg; *found the member DIE. */
static int find_member(Dwarf_Die *agg, const char *name, size_t namelen, Dwarf_Word *off,
		       Dwarf_Die *found, int depth)
{
	Dwarf_Die m;

	if (depth > MAX_ANON_DEPTH || dwarf_child(agg, &m) != 0)
		return -1;
	do {
		if (dwarf_tag(&m) != DW_TAG_member)
			continue;
		const char *mname = dwarf_diename(&m);
		Dwarf_Word loc, inner;
		Dwarf_Die t;
		if (mname) {
			if (strlen(mname) != namelen || memcmp(mname, name, namelen) != 0)
				continue;
			if (member_location(&m, &loc) < 0)
				return -1;
			*off = loc;
			*found = m;
			return 0;
		}
		if (type_of(&m, &t) < 0 || !is_aggregate(dwarf_tag(&t)) ||
		    member_location(&m, &loc) < 0)
			continue;
		if (find_member(&t, name, namelen, &inner, found, depth + 1) == 0) {
			*off = loc + inner;
			return 0;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return -1;
}

/* Walk one dotted path ("ceval.gil.locked", no '|') of length len from type. */
static int walk_path(Dwarf_Die *type, const char *path, size_t len, enum py_offset_kind kind,
		     int64_t *value)
{
	Dwarf_Die cur = *type, member;
	Dwarf_Word total = 0;
	const char *end = path + len;
	int parts = 0;

	while (path < end) {
		const char *dot = memchr(path, '.', (size_t)(end - path));
		size_t n = dot ? (size_t)(dot - path) : (size_t)(end - path);
		Dwarf_Word off;
		if (++parts > MAX_PATH_PARTS || !is_aggregate(dwarf_tag(&cur)) ||
		    find_member(&cur, path, n, &off, &member, 0) < 0)
			return -1;
		path += n + (dot ? 1 : 0);
		if (path < end) {
			total += off;
			if (type_of(&member, &cur) < 0)
				return -1;
		} else if (kind == PYOFF_BIT) {
			/* relative to the struct that directly contains the bit-field */
			if (member_bit_offset(&member, &off) < 0)
				return -1;
			total = off;
		} else {
			total += off;
		}
	}
	*value = (int64_t)total;
	return parts ? 0 : -1;
}

/* Try each '|' alternative of path in order; the first that resolves wins. */
static int resolve_path(Dwarf_Die *type, const char *path, enum py_offset_kind kind, int64_t *value)
{
	while (*path) {
		const char *bar = strchr(path, '|');
		size_t n = bar ? (size_t)(bar - path) : strlen(path);
		if (walk_path(type, path, n, kind, value) == 0)
			return 0;
		if (!bar)
			break;
		path = bar + 1;
	}
	return -1;
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
	} else if (!d->path || resolve_path(&type, d->path, d->kind, &v) < 0) {
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

/* ---- locating the debug file ---- */

/* CRC-32 (IEEE 802.3, reflected, as .gnu_debuglink uses) of a whole file. */
static int file_crc32(const char *path, uint32_t *out)
{
	uint32_t table[256], crc = 0xffffffffu;
	unsigned char buf[65536];
	ssize_t n;
	int fd;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
	}
	close(fd);
	*out = crc ^ 0xffffffffu;
	return 0;
}

/* The CRC stored in an image's .gnu_debuglink (after the NUL-terminated name, 4-aligned). */
static int debuglink_crc(const char *image, uint32_t *crc)
{
	int fd = open(image, O_RDONLY | O_CLOEXEC), rc = -1;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while (rc < 0 && (scn = elf_nextscn(elf, scn)) != NULL) {
			GElf_Shdr sh;
			const char *name;
			Elf_Data *d;
			if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
			    !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
			    strcmp(name, ".gnu_debuglink") != 0 || !(d = elf_getdata(scn, NULL)) ||
			    !d->d_buf)
				continue;
			size_t at = (strnlen(d->d_buf, d->d_size) + 1 + 3) & ~(size_t)3;
			if (at + 4 <= d->d_size) {
				memcpy(crc, (const char *)d->d_buf + at, 4);
				rc = 0;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return rc;
}

/* What a candidate must match: the image's build-id, else its debuglink CRC. */
struct debug_want {
	const char *build_id; /* "" when the image has none */
	int have_crc;
	uint32_t crc;
};

static int candidate_ok(const char *path, const struct debug_want *dw)
{
	struct elf_image img;
	uint32_t crc;
	int ok;

	if (access(path, R_OK) != 0 || elfimg_open(&img, path, NULL) < 0)
		return 0;
	ok = img.has_debug_info;
	if (ok && dw->build_id[0] && img.build_id[0])
		ok = strcmp(img.build_id, dw->build_id) == 0;
	else if (ok)
		ok = dw->have_crc && file_crc32(path, &crc) == 0 && crc == dw->crc;
	elfimg_close(&img);
	return ok;
}

/* Try path under root, then as is. */
static int try_candidate(const char *root, const char *path, const struct debug_want *dw, char *out,
			 size_t outlen)
{
	char full[4096];

	if (root && root[0]) {
		int n = snprintf(full, sizeof full, "%s%s", root, path);
		if (n > 0 && (size_t)n < sizeof full && candidate_ok(full, dw) &&
		    (size_t)snprintf(out, outlen, "%s", full) < outlen)
			return 0;
	}
	if (candidate_ok(path, dw) && (size_t)snprintf(out, outlen, "%s", path) < outlen)
		return 0;
	return -1;
}

static int valid_build_id(const char *id)
{
	size_t n = strlen(id);

	if (n < 4 || n % 2)
		return 0;
	return strspn(id, "0123456789abcdef") == n;
}

/* A debuglink is a bare file name; anything else could point outside the debug dirs. */
static int valid_debuglink(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* The image path as the target sees it: without the root prefix when it carries one. */
static const char *logical_path(const char *root, const char *image)
{
	size_t n = root ? strlen(root) : 0;

	if (n && strncmp(image, root, n) == 0 && image[n] == '/')
		return image + n;
	return image;
}

static int try_debuglink(const char *root, const char *image, const char *link,
			 const struct debug_want *dw, char *out, size_t outlen)
{
	static const char *const forms[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
	const char *slash = strrchr(image, '/');
	int dirlen = slash ? (int)(slash - image) : 0;
	char path[4096];

	if (!slash || image[0] != '/')
		return -1;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		int n = snprintf(path, sizeof path, forms[i], dirlen, image, link);
		if (n > 0 && (size_t)n < sizeof path &&
		    try_candidate(root, path, dw, out, outlen) == 0)
			return 0;
	}
	return -1;
}

/* The image itself carries DWARF (pyenv builds, python3.11d).  Without a build-id there is
 * nothing to verify against, so only the exact file the caller opened is trusted. */
static int try_image(const char *root, const char *image_path, const char *image,
		     const struct debug_want *dw, char *out, size_t outlen)
{
	struct elf_image img;
	int ok;

	/* a path not under root (/proc/PID/map_files/...) is a host path already */
	if (dw->build_id[0])
		return try_candidate(image == image_path ? NULL : root, image, dw, out, outlen);
	if (elfimg_open(&img, image_path, NULL) < 0)
		return -1;
	ok = img.has_debug_info;
	elfimg_close(&img);
	return ok && (size_t)snprintf(out, outlen, "%s", image_path) < outlen ? 0 : -1;
}

static void read_image_crc(const char *root, const char *image_path, const char *image,
			   struct debug_want *dw)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s%s", root ? root : "", image);

	dw->have_crc = (n > 0 && (size_t)n < sizeof path && debuglink_crc(path, &dw->crc) == 0) ||
		       debuglink_crc(image_path, &dw->crc) == 0;
}

int dwarf_find_debug_file(const char *root, const char *image_path, const char *build_id,
			  const char *debuglink, char *out, size_t outlen)
{
	const char *image = logical_path(root, image_path);
	struct debug_want dw = {build_id && valid_build_id(build_id) ? build_id : "", 0, 0};
	char path[4096];

	if (try_image(root, image_path, image, &dw, out, outlen) == 0)
		return 0;
	if (dw.build_id[0]) {
		snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", dw.build_id,
			 dw.build_id + 2);
		if (try_candidate(root, path, &dw, out, outlen) == 0)
			return 0;
	}
	if (!valid_debuglink(debuglink))
		return -1;
	read_image_crc(root, image_path, image, &dw);
	return try_debuglink(root, image, debuglink, &dw, out, outlen);
}
