/* The DWARF layout cache: a round trip through the file, and every kind of damaged or
 * foreign entry ignored rather than trusted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/offcache.h"

static const char id[] = "c561f3aa7232f2bd6ac6d56bd475f1c154a00486";

static char *fresh_cache(void)
{
	char tmpl[] = "/tmp/tgattach-cache-XXXXXX";
	char *dir = mkdtemp(tmpl);

	cr_assert_not_null(dir);
	setenv("XDG_CACHE_HOME", dir, 1);
	return strdup(dir);
}

static void write_raw(const char *dir, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/tgattach/offsets-%s", dir, id);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static struct py_offsets sample_table(void)
{
	struct py_offsets o;
	py_offsets_clear(&o);
	o.ts_next = 8;
	o.co_filename = 112;
	o.u_kind_bit = 2;
	return o;
}

Test(offcache, round_trip)
{
	char *dir = fresh_cache();
	struct py_offsets in = sample_table(), out;

	cr_assert_eq(offcache_load(id, &out), -1, "empty cache must miss");
	offcache_store(id, &in);
	cr_assert_eq(offcache_load(id, &out), 0);
	cr_assert_eq(memcmp(&in, &out, sizeof in), 0);
	cr_assert_eq(offcache_load("00112233445566778899aabbccddeeff00112233", &out), -1);
	free(dir);
}

Test(offcache, damaged_or_foreign_entries_are_ignored)
{
	char *dir = fresh_cache();
	struct py_offsets in = sample_table(), out;

	offcache_store(id, &in);
	write_raw(dir, "tgattach-offsets 1 c561f3aa7232f2bd6ac6d56bd475f1c154a00486 3\nts_next 8\n");
	cr_expect_eq(offcache_load(id, &out), -1, "count mismatch");
	write_raw(dir, "tgattach-offsets 2 c561f3aa7232f2bd6ac6d56bd475f1c154a00486 1\n");
	cr_expect_eq(offcache_load(id, &out), -1, "other format");
	write_raw(dir, "garbage\n");
	cr_expect_eq(offcache_load(id, &out), -1, "garbage");
	offcache_store(id, &in);
	char path[512];
	snprintf(path, sizeof path, "%s/tgattach/offsets-%s", dir, id);
	cr_assert_eq(truncate(path, 100), 0);
	cr_expect_eq(offcache_load(id, &out), -1, "truncated");
	cr_expect_eq(offcache_load("../../etc/passwd", &out), -1, "not a build-id");
	offcache_store("../x", &in); /* refused: not a build-id */
	cr_expect_eq(offcache_load("../x", &out), -1);
	free(dir);
}
