/* libFuzzer: the input as a recording's meta, read by render/recording (its keys, the
 * title built from the command line). */
#include <stdint.h>
#include <string.h>

#include "render/recording.h"
#include "tests/fuzz/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char *const keys[] = {"pid",    "cmdline",	      "rate_hz", "end",
					   "parent", "closed_at_end", "version", "metric"};
	struct recording r;
	struct buf v = BUF_INIT;

	fuzz_file("meta", data, len);
	memset(&r, 0, sizeof r);
	r.dir = (char *)fuzz_dir();
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		buf_reset(&v);
		recording_meta(&r, keys[i], &v);
	}
	buf_reset(&v);
	recording_title(&r, 150, &v);
	buf_free(&v);
	return 0;
}
