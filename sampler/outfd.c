#include "sampler/outfd.h"

#include <stddef.h>

static int slot_release(struct outfd_slot *slot, struct linefile_dir *d, struct tg_err *err)
{
	struct linefile *f = slot->file;
	int rc;

	if (!f)
		return 0;
	rc = linefile_write(d, f, &slot->buf, err);
	linefile_close(f);
	f->slot = -1;
	slot->file = NULL;
	return rc;
}

static struct outfd_slot *slot_pick(struct outfd *s)
{
	struct outfd_slot *lru = &s->slots[0];

	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		struct outfd_slot *slot = &s->slots[i];
		if (!slot->file)
			return slot;
		if (slot->used < lru->used)
			lru = slot;
	}
	return lru;
}

struct buf *outfd_buf(struct outfd *s, struct linefile_dir *d, struct linefile *f,
		      struct tg_err *err)
{
	struct outfd_slot *slot;

	if (f->slot < 0) {
		slot = slot_pick(s);
		if (slot_release(slot, d, err) < 0)
			return NULL;
		if (linefile_open(d, f, err) < 0)
			return NULL;
		slot->file = f;
		f->slot = (int)(slot - s->slots);
		if (!slot->buf.data)
			buf_grow(&slot->buf, LINEFILE_BUF_SIZE - 1);
	}
	slot = &s->slots[f->slot];
	slot->used = ++s->clock;
	return &slot->buf;
}

int outfd_release(struct outfd *s, struct linefile_dir *d, struct linefile *f, struct tg_err *err)
{
	if (f->slot < 0)
		return 0;
	return slot_release(&s->slots[f->slot], d, err);
}

int outfd_flush(struct outfd *s, struct linefile_dir *d, struct tg_err *err)
{
	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		struct outfd_slot *slot = &s->slots[i];
		if (slot->file && linefile_write(d, slot->file, &slot->buf, err) < 0)
			return -1;
	}
	return 0;
}

void outfd_close(struct outfd *s, struct linefile_dir *d)
{
	for (size_t i = 0; i < OUTPUT_MAX_OPEN; i++) {
		slot_release(&s->slots[i], d, NULL);
		buf_free(&s->slots[i].buf);
	}
}
