/* dwarf_members.c: the type and member lookups of the dwarf module: typedef / qualifier
 * stripping, member locations and bit offsets, anonymous-member search and the dotted,
 * '|'-separated member paths of the offset table. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdint.h>
#include <string.h>

#include "symbols/dwarf_int.h"

/* Typedef chains, qualifiers and anonymous-member nesting are shallow in CPython; the caps
 * only guard against malformed or cyclic DWARF. */
#define MAX_TYPE_CHAIN 32
#define MAX_ANON_DEPTH 8
#define MAX_PATH_PARTS 8

int dwarf_is_aggregate(int tag)
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
int dwarf_type_of(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute a;
	Dwarf_Die t;

	if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, &t))
		return -1;
	return strip_type(&t, out);
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
			if (dwarf_type_of(m, &t) < 0 || dwarf_aggregate_size(&t, &size) < 0)
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
		if (dwarf_type_of(&m, &t) < 0 || !dwarf_is_aggregate(dwarf_tag(&t)) ||
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
		if (++parts > MAX_PATH_PARTS || !dwarf_is_aggregate(dwarf_tag(&cur)) ||
		    find_member(&cur, path, n, &off, &member, 0) < 0)
			return -1;
		path += n + (dot ? 1 : 0);
		if (path < end) {
			total += off;
			if (dwarf_type_of(&member, &cur) < 0)
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
int dwarf_resolve_path(Dwarf_Die *type, const char *path, enum py_offset_kind kind, int64_t *value)
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
