/* outfd.h: the descriptor cap of sampler/output.  At most OUTPUT_MAX_OPEN thread files are
 * open and buffered at once, each in a slot; when another is needed, the least recently
 * used one is written out and closed (it is reopened, appending, when next needed). */
#ifndef TG_OUTFD_H
#define TG_OUTFD_H

#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "sampler/linefile.h"
#include "sampler/output.h"

struct outfd_slot {
	struct buf buf;
	struct linefile *file; /* NULL when free */
	uint64_t used;	       /* LRU clock */
};

struct outfd {
	struct outfd_slot slots[OUTPUT_MAX_OPEN];
	uint64_t clock;
};

#define OUTFD_INIT                                                                                 \
	{                                                                                          \
		0                                                                                  \
	}

/* The buffer to append f's next line to: f opened in a slot, the least recently used file
 * closed if every slot was taken.  NULL with err if that file's write or f's open failed. */
struct buf *outfd_buf(struct outfd *s, struct linefile_dir *d, struct linefile *f,
		      struct tg_err *err);
/* Writes out and closes f if it holds a slot, freeing the slot. */
int outfd_release(struct outfd *s, struct linefile_dir *d, struct linefile *f, struct tg_err *err);
/* Writes out every slot's buffer; stops at the first failure. */
int outfd_flush(struct outfd *s, struct linefile_dir *d, struct tg_err *err);
/* Writes out and closes every file (each gets its chance; failures are only recorded in
 * d), and frees the buffers. */
void outfd_close(struct outfd *s, struct linefile_dir *d);

#endif
