/* gen-offsets: print one built-in offset table (a C initialiser for struct
 * py_builtin_table) read from the DWARF of one or more builds of the same Python version.
 *
 *   gen-offsets LABEL MAJOR MINOR DEBUG_ABI PATH...
 *
 * PATH is an interpreter image (libpython*.so, a python executable) or a debug file; a
 * stripped image is followed to its debug file by build-id / .gnu_debuglink.  When several
 * PATHs are given they must agree field by field (a table is shared by every build of a
 * version), otherwise nothing is printed and the exit status is 1.  tools/make-offsets.sh
 * wraps the tables into symbols/offsets_builtin.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "symbols/dwarf.h"
#include "symbols/elfimg.h"
#include "symbols/offsets.h"

struct source {
	const char *root; /* prefix for the debug file search: "" or a Debian root */
	const char *path;
	char dwarf[PATH_MAX];
	char build_id[41];
	struct py_offsets off;
};

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* The label goes into a C string literal: keep it to harmless characters. */
static int valid_label(const char *s)
{
	if (!*s || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (!strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:+-_()/",
			*s))
			return 0;
	return 1;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int load_source(struct source *s, struct tg_err *err)
{
	struct elf_image img;

	if (elfimg_open(&img, s->path, err) < 0)
		return -1;
	snprintf(s->build_id, sizeof s->build_id, "%s", img.build_id);
	if (img.has_debug_info)
		snprintf(s->dwarf, sizeof s->dwarf, "%s", s->path);
	else if (dwarf_find_debug_file(s->root, s->path, img.build_id, img.debuglink, s->dwarf,
				       sizeof s->dwarf) < 0) {
		elfimg_close(&img);
		return tg_err_set(err, TG_E_LAYOUT,
				  "%s: no DWARF (not in the file, no matching debug file for "
				  "build-id '%s' or debuglink '%s')",
				  s->path, img.build_id, img.debuglink);
	}
	elfimg_close(&img);
	return dwarf_read_offsets(s->dwarf, &s->off, err);
}

/* 0 when b agrees with a on every field; else prints each difference and returns -1. */
static int compare(const struct source *a, const struct source *b)
{
	int rc = 0;

	for (size_t i = 0; i < py_offset_ndescs; i++) {
		const struct py_offset_desc *d = &py_offset_descs[i];
		int32_t x = py_offsets_get(&a->off, d), y = py_offsets_get(&b->off, d);
		if (x != y) {
			fprintf(stderr, "gen-offsets: %s: %s is %d in %s but %d in %s\n", d->field,
				d->type, (int)x, a->dwarf, (int)y, b->dwarf);
			rc = -1;
		}
	}
	return rc;
}

static void print_table(const char *label, int major, int minor, int debug_abi,
			const struct source *src, size_t nsrc)
{
	printf("\t/* %d.%d%s from the DWARF of:\n", major, minor, debug_abi ? " (Py_DEBUG)" : "");
	for (size_t i = 0; i < nsrc; i++) {
		printf("\t *   %s, build-id %s\n", base_name(src[i].path),
		       src[i].build_id[0] ? src[i].build_id : "none");
		if (strcmp(src[i].dwarf, src[i].path) != 0)
			printf("\t *     (DWARF in %s)\n", base_name(src[i].dwarf));
	}
	printf("\t */\n");
	printf("\t{\n\t\t.major = %d,\n\t\t.minor = %d,\n\t\t.debug_abi = %d,\n", major, minor,
	       debug_abi);
	printf("\t\t.source = \"%s\",\n\t\t.off = {\n", label);
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		int32_t v = py_offsets_get(&src[0].off, &py_offset_descs[i]);
		if (v == OFFSET_ABSENT)
			printf("\t\t\t.%s = OFFSET_ABSENT,\n", py_offset_descs[i].field);
		else
			printf("\t\t\t.%s = %d,\n", py_offset_descs[i].field, (int)v);
	}
	printf("\t\t},\n\t},\n");
}

int main(int argc, char **argv)
{
	struct tg_err err = {0};
	struct source *src;
	int major, minor, debug_abi;
	size_t nsrc;

	if (argc < 6 || !valid_label(argv[1]) || parse_int(argv[2], 2, 3, &major) < 0 ||
	    parse_int(argv[3], 0, 99, &minor) < 0 || parse_int(argv[4], 0, 1, &debug_abi) < 0) {
		fprintf(stderr,
			"usage: gen-offsets LABEL MAJOR MINOR DEBUG_ABI(0|1) [@ROOT] PATH...\n"
			"  @ROOT: the next PATH's debug file is looked for under ROOT too\n"
			"  LABEL: letters, digits, spaces and .,:+-_()/ only\n");
		return TG_E_USAGE;
	}
	src = xcalloc((size_t)argc - 5, sizeof *src);
	nsrc = 0;
	for (int a = 5; a < argc; a++) {
		size_t i = nsrc;
		src[i].root = "";
		/* "@ROOT PATH": PATH's detached debug file is looked for under ROOT (a Debian
		 * root built by tools/mkroots.sh) */
		if (argv[a][0] == '@' && a + 1 < argc) {
			src[i].root = argv[a] + 1;
			a++;
		}
		src[i].path = argv[a];
		nsrc++;
		if (load_source(&src[i], &err) < 0) {
			fprintf(stderr, "gen-offsets: %s\n", err.msg);
			free(src);
			return err.code ? err.code : TG_E_INTERNAL;
		}
		if (i > 0 && compare(&src[0], &src[i]) < 0) {
			fprintf(stderr,
				"gen-offsets: %s and %s have different layouts: give "
				"them separate tables\n",
				src[0].path, src[i].path);
			free(src);
			return TG_E_LAYOUT;
		}
	}
	print_table(argv[1], major, minor, debug_abi, src, nsrc);
	free(src);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : TG_E_OUTPUT;
}
