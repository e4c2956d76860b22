/* libFuzzer: the input as a process.alloc, read by render/alloc_read into its series
 * (the header, the columns, every row). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "render/alloc.h"
#include "render/workdir.h"
#include "tests/fuzz/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *path = fuzz_file("process.alloc", data, len);
	struct alloc_plot p;
	struct workdir wd = {NULL, NULL};
	struct tg_err err = {0};
	double t0;

	memset(&p, 0, sizeof p);
	if (allocplot_first_row(path, &t0, &err) == 0) {
		p.t0 = t0;
		p.from = p.to = NAN;
		if (workdir_create(&wd, fuzz_dir(), "alloc", &err) == 0)
			allocplot_read(&p, &wd, path, 0, &err);
	}
	allocplot_free(&p);
	workdir_remove(&wd);
	return 0;
}
