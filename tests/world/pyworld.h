/* pyworld.h: a synthetic memory image of a CPython 3.14 process (one interpreter, one
 * thread, code objects and frames with tagged code pointers, a 3.14 _Py_DebugOffsets
 * block), read through the same remote-memory interface as a live one: the unit tests of
 * the walker and its fuzzer (tests/fuzz/fuzz_walk.c) build on it. */
#ifndef TG_PYWORLD_H
#define TG_PYWORLD_H

#include <stddef.h>
#include <stdint.h>

#include "attach/remote.h"
#include "symbols/offsets.h"
#include "symbols/pytarget.h"

#define PYW_BASE 0x10000000ull
#define PYW_IMAGE_SIZE (1u << 20)

struct pyw_image {
	unsigned char *bytes;
	uint64_t next; /* bump allocator, remote addresses */
	struct remote_image_seg seg;
};

struct pyw_types {
	uint64_t code, str, bytes, dict, module;
};

struct pyw_world {
	struct pyw_image im;
	struct py_target t;
	struct remote r;
	uint64_t bad_code;
	uint64_t runtime; /* where the _Py_DebugOffsets block is */
};

uint64_t pyw_alloc(struct pyw_image *im, size_t len);
void pyw_put64(struct pyw_image *im, uint64_t addr, uint64_t v);
void pyw_put32(struct pyw_image *im, uint64_t addr, uint32_t v);
void pyw_put8(struct pyw_image *im, uint64_t addr, uint8_t v);
/* A compact ASCII str object, a bytes object. */
uint64_t pyw_ascii_str(struct pyw_image *im, const struct py_offsets *o, uint64_t type,
		       const char *s);
uint64_t pyw_bytes_obj(struct pyw_image *im, const struct py_offsets *o, uint64_t type,
		       const unsigned char *data, size_t n);
/* A code object whose line table says: unit 0 -> firstlineno, units 1.. -> firstlineno+2. */
uint64_t pyw_code_obj(struct pyw_image *im, const struct py_offsets *o, const struct pyw_types *ty,
		      const char *file, const char *qualname, int firstlineno);
/* A frame: code pointer tagged in its low bit, as a 3.14 _PyStackRef is. */
uint64_t pyw_frame(struct pyw_image *im, const struct py_offsets *o, uint64_t code, int unit,
		   int owner, uint64_t previous);
/* The "3.14" layout: 3.13's table with the thread and frame members moved, so that a walker
 * using the 3.13 table instead of the debug offsets would fail. */
struct py_offsets pyw_layout_314(void);
void pyw_new_types(struct pyw_image *im, struct pyw_types *ty);
/* The image is built: read through the image backend, as a 3.minor target. */
void pyw_finish_world(struct pyw_world *w, int minor, uint64_t runtime, const struct pyw_types *ty);
/* An interpreter with one thread state (ident, kernel TID), linked from the runtime. */
uint64_t pyw_one_thread(struct pyw_image *im, const struct py_offsets *lay, uint64_t runtime,
			uint64_t ident, uint64_t tid, uint64_t *interp_out);
/* The 3.14 world: main -> (C stack shim) -> (interpreter shim) -> Worker.run, the
 * innermost frame's code pointer unmapped when torn; its layout taken from the block as
 * tgattach does.  0, or -1 when the block does not encode or parse. */
int pyw_build(struct pyw_world *w, int torn);

#endif
