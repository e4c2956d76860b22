/* libFuzzer: the input as the first bytes of _PyRuntime, parsed as a _Py_DebugOffsets
 * block (symbols/debugoff); a block that parses must describe offsets inside their
 * structures. */
#include <stdint.h>
#include <stdlib.h>

#include "symbols/debugoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct py_offsets o;
	struct tg_err err = {0};
	uint64_t version;

	debugoff_free_threaded(data, len);
	if (debugoff_parse(data, len, &o, &version, &err) == 0 &&
	    ((uint32_t)o.ts_next >= (uint32_t)o.ts_size && o.ts_size != OFFSET_ABSENT))
		abort(); /* a member past its structure was let through */
	return 0;
}
