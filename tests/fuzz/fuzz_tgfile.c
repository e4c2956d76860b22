/* libFuzzer: the input as a process.mem, a THREAD.mem and a THREAD.stack file, read to
 * the end by render/tgfile (line splitting, over-long lines, malformed lines). */
#include <stdint.h>

#include "render/tgfile.h"
#include "tests/fuzz/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *path = fuzz_file("input", data, len);

	for (int kind = TGFILE_SAMPLES; kind <= TGFILE_CALLS; kind++) {
		struct tgfile f;
		struct tg_rec rec = TG_REC_INIT;
		struct tg_err err = {0};
		if (tgfile_open(&f, path, (enum tgfile_kind)kind, 0, &err) < 0)
			continue;
		f.quiet = 1;
		while (tgfile_next(&f, &rec, &err) == 1)
			;
		tgfile_close(&f);
		tg_rec_free(&rec);
	}
	return 0;
}
