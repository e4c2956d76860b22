/* sampler/output.c: process.alloc, the allocator statistics table. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "sampler/output.h"
#include "tests/unit/output_util.h"

/* dir/5/name, whole, or NULL when it does not exist. */
static char *slurp(const char *dir, const char *name)
{
	char *pid_dir = outt_path_join(dir, "5");
	char *text = outt_file_read(pid_dir, name, NULL);

	free(pid_dir);
	return text;
}

Test(output_alloc, header_rows_and_missing_values)
{
	char *tmpl = outt_tmpdir_make();
	struct tg_err err = {0};
	const char *cols[] = {"time", "rss", "heap", "blocks"};
	const char *comments[] = {"first\nline", "second"};
	uint64_t v[3] = {4096, 123, 77};

	struct output *o = output_open(tmpl, 5, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	char *none = slurp(tmpl, "process.alloc");
	cr_assert_null(none, "created on first use only");
	cr_assert_eq(output_alloc_header(o, comments, 2, cols, 4, &err), 0, "%s", err.msg);
	cr_assert_eq(output_alloc_row(o, 1.5, v, 0x7, 3, &err), 0);
	cr_assert_eq(output_alloc_row(o, 2.25, v, 0x5, 3, &err), 0);
	cr_assert_eq(output_alloc_row(o, 3.0, v, 0, 3, &err), 0);
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);
	char *text = slurp(tmpl, "process.alloc");
	cr_assert_not_null(text);
	cr_assert_str_eq(text, "# first line\n"
			       "# second\n"
			       "# time rss heap blocks\n"
			       "1.500000 4096 123 77\n"
			       "2.250000 4096 ? 77\n"
			       "3.000000 ? ? ?\n");
	free(text);

	/* a second run appends its own header */
	o = output_open(tmpl, 5, 0, &err);
	cr_assert_not_null(o);
	cr_assert_eq(output_alloc_header(o, NULL, 0, cols, 2, &err), 0);
	cr_assert_eq(output_alloc_row(o, 4.0, v, 1, 1, &err), 0);
	cr_assert_eq(output_close(o, &err), 0);
	text = slurp(tmpl, "process.alloc");
	cr_assert_not_null(strstr(text, "3.000000 ? ? ?\n# time rss\n4.000000 4096\n"), "%s", text);
	free(text);
	outt_tmpdir_remove(tmpl);
}
