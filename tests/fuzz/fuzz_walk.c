/* libFuzzer: the stack walker over a synthetic 3.14 process (tests/world/pyworld), read
 * through the remote-memory interface the sampler uses, with the input applied as words
 * written anywhere in the image: every pointer and count may be garbage, as a torn read
 * makes them.  The walk must end, bounded, and whatever it records must be frames whose
 * code it could read. */
#include <stdlib.h>
#include <string.h>

#include "sampler/walk.h"
#include "tests/world/pyworld.h"

static struct pyw_world world;
static unsigned char *pristine;
static size_t used;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (pyw_build(&world, 0) < 0)
		abort();
	used = (size_t)(world.im.next - PYW_BASE);
	pristine = malloc(used);
	memcpy(pristine, world.im.bytes, used);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct walk_sample s = {0};
	struct tg_err err = {0};

	memcpy(world.im.bytes, pristine, used);
	/* each 12 bytes: a 32-bit offset into the world (modulo its size), a 64-bit word */
	for (size_t i = 0; i + 12 <= len; i += 12) {
		uint32_t off;
		uint64_t v;
		memcpy(&off, data + i, 4);
		memcpy(&v, data + i + 4, 8);
		off %= (uint32_t)(used - 8);
		memcpy(world.im.bytes + off, &v, 8);
	}
	struct walker *w = walker_new(&world.r, &world.t);
	if (walker_sample(w, &s, &err) == 0)
		for (size_t i = 0; i < s.nthreads; i++)
			for (size_t k = 0; k < s.threads[i].depth; k++)
				if (!s.threads[i].frames[k].code_info)
					abort(); /* a frame recorded without its code */
	walk_sample_free(&s);
	walker_free(w);
	return 0;
}
