/* util.h: what the libFuzzer harnesses (tests/fuzz/fuzz_*.c, `make fuzz`) share: the
 * input as a file the renderers open like any recording file. */
#ifndef TG_FUZZ_UTIL_H
#define TG_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A private directory for this fuzzing process (made once, removed at exit). */
const char *fuzz_dir(void);
/* Write data to fuzz_dir()/name (replacing it); its path (static storage). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t len);

#endif
