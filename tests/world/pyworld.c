#include "tests/world/pyworld.h"

#include <stdlib.h>
#include <string.h>

#include "symbols/debugoff.h"

uint64_t pyw_alloc(struct pyw_image *im, size_t len)
{
	uint64_t at = (im->next + 15) & ~15ull;
	im->next = at + len;
	if (im->next - PYW_BASE > PYW_IMAGE_SIZE)
		abort(); /* the world outgrew its image: a bug of the test itself */
	return at;
}

void pyw_put64(struct pyw_image *im, uint64_t addr, uint64_t v)
{
	memcpy(im->bytes + (addr - PYW_BASE), &v, 8);
}

void pyw_put32(struct pyw_image *im, uint64_t addr, uint32_t v)
{
	memcpy(im->bytes + (addr - PYW_BASE), &v, 4);
}

void pyw_put8(struct pyw_image *im, uint64_t addr, uint8_t v)
{
	im->bytes[addr - PYW_BASE] = v;
}

uint64_t pyw_ascii_str(struct pyw_image *im, const struct py_offsets *o, uint64_t type,
		       const char *s)
{
	size_t n = strlen(s);
	uint64_t obj = pyw_alloc(im, (size_t)o->u_ascii_size + n + 1);
	pyw_put64(im, obj + (uint64_t)o->ob_type, type);
	pyw_put64(im, obj + (uint64_t)o->u_length, n);
	pyw_put32(im, obj + (uint64_t)o->u_state,
		  (1u << o->u_kind_bit) | (1u << o->u_compact_bit) | (1u << o->u_ascii_bit));
	memcpy(im->bytes + (obj + (uint64_t)o->u_ascii_size - PYW_BASE), s, n);
	return obj;
}

uint64_t pyw_bytes_obj(struct pyw_image *im, const struct py_offsets *o, uint64_t type,
		       const unsigned char *data, size_t n)
{
	uint64_t obj = pyw_alloc(im, (size_t)o->bytes_sval + n + 1);
	pyw_put64(im, obj + (uint64_t)o->ob_type, type);
	pyw_put64(im, obj + (uint64_t)o->var_size, n);
	memcpy(im->bytes + (obj + (uint64_t)o->bytes_sval - PYW_BASE), data, n);
	return obj;
}

/* A code object whose line table says: unit 0 -> firstlineno, units 1.. -> firstlineno+2. */
uint64_t pyw_code_obj(struct pyw_image *im, const struct py_offsets *o, const struct pyw_types *ty,
		      const char *file, const char *qualname, int firstlineno)
{
	/* 3.11+ location table: NO_COLUMNS entries (kind 13), 1 unit with delta 0, then 8 units
	 * with delta +2 (svarint 4) */
	const unsigned char table[] = {0x80 | (13 << 3) | 0, 0x00, 0x80 | (13 << 3) | 7, 0x04};
	uint64_t co = pyw_alloc(im, (size_t)o->co_code_adaptive + 64);
	pyw_put64(im, co + (uint64_t)o->ob_type, ty->code);
	pyw_put64(im, co + (uint64_t)o->co_filename, pyw_ascii_str(im, o, ty->str, file));
	pyw_put64(im, co + (uint64_t)o->co_name, pyw_ascii_str(im, o, ty->str, "short"));
	pyw_put64(im, co + (uint64_t)o->co_qualname, pyw_ascii_str(im, o, ty->str, qualname));
	pyw_put64(im, co + (uint64_t)o->co_linetable,
		  pyw_bytes_obj(im, o, ty->bytes, table, sizeof table));
	pyw_put32(im, co + (uint64_t)o->co_firstlineno, (uint32_t)firstlineno);
	return co;
}

/* A frame: code pointer tagged in its low bit, as a 3.14 _PyStackRef is. */
uint64_t pyw_frame(struct pyw_image *im, const struct py_offsets *o, uint64_t code, int unit,
		   int owner, uint64_t previous)
{
	uint64_t f = pyw_alloc(im, (size_t)o->if_size);
	pyw_put64(im, f + (uint64_t)o->if_code, code | 1);
	pyw_put64(im, f + (uint64_t)o->if_previous, previous);
	pyw_put64(im, f + (uint64_t)o->if_instr, code + (uint64_t)o->co_code_adaptive + 2u * unit);
	pyw_put8(im, f + (uint64_t)o->if_owner, (uint8_t)owner);
	return f;
}

/* The "3.14" layout: 3.13's, with the thread and frame members moved, so that a walker
 * using the 3.13 table instead of the debug offsets would fail. */
struct py_offsets pyw_layout_314(void)
{
	const struct py_builtin_table *t313 = py_builtin_find(3, 13, 0);
	if (!t313)
		abort(); /* the build has no 3.13 table */
	struct py_offsets o = t313->off;
	o.ts_current_frame += 16;
	o.ts_thread_id += 8;
	o.ts_native_id += 8;
	o.ts_size += 32;
	o.is_tstate_head += 8;
	o.if_owner = 74;
	o.if_size = 88;
	o.rt_interp_head = 1024 + 8; /* after the (larger) 3.14 debug block */
	return o;
}

void pyw_new_types(struct pyw_image *im, struct pyw_types *ty)
{
	ty->code = pyw_alloc(im, 256);
	ty->str = pyw_alloc(im, 256);
	ty->bytes = pyw_alloc(im, 256);
	ty->dict = pyw_alloc(im, 256);
	ty->module = pyw_alloc(im, 256);
}

/* The image is built: read through the image backend, as a 3.minor target. */
void pyw_finish_world(struct pyw_world *w, int minor, uint64_t runtime, const struct pyw_types *ty)
{
	w->im.seg = (struct remote_image_seg){PYW_BASE, PYW_IMAGE_SIZE, w->im.bytes};
	remote_init_image(&w->r, &w->im.seg, 1);
	w->t.major = 3;
	w->t.minor = minor;
	w->t.frame_cstack_owner = 3;
	w->t.sym.runtime = runtime;
	w->t.sym.code_type = ty->code;
	w->t.sym.unicode_type = ty->str;
	w->t.sym.bytes_type = ty->bytes;
	w->t.sym.dict_type = ty->dict;
	w->t.sym.module_type = ty->module;
}

/* An interpreter with one thread state (ident, kernel TID), linked from the runtime. */
uint64_t pyw_one_thread(struct pyw_image *im, const struct py_offsets *lay, uint64_t runtime,
			uint64_t ident, uint64_t tid, uint64_t *interp_out)
{
	uint64_t interp = pyw_alloc(im, (size_t)lay->is_size);
	uint64_t tstate = pyw_alloc(im, (size_t)lay->ts_size);

	pyw_put64(im, runtime + (uint64_t)lay->rt_interp_head, interp);
	pyw_put64(im, interp + (uint64_t)lay->is_tstate_head, tstate);
	pyw_put64(im, tstate + (uint64_t)lay->ts_interp, interp);
	pyw_put64(im, tstate + (uint64_t)lay->ts_thread_id, ident);
	pyw_put64(im, tstate + (uint64_t)lay->ts_native_id, tid);
	*interp_out = interp;
	return tstate;
}

int pyw_build(struct pyw_world *w, int torn)
{
	struct py_offsets lay = pyw_layout_314();
	unsigned char block[DEBUGOFF_READ_SIZE];
	struct tg_err err = {0};
	struct py_offsets dbg;
	uint64_t version;

	memset(w, 0, sizeof *w);
	w->im.bytes = calloc(1, PYW_IMAGE_SIZE);
	w->im.next = PYW_BASE;
	if (debugoff_encode(&lay, 0x030e00f0, block, sizeof block, &err) < 0)
		return -1;
	struct pyw_types ty;
	pyw_new_types(&w->im, &ty);
	uint64_t runtime = pyw_alloc(&w->im, (size_t)lay.rt_interp_head + 64);
	memcpy(w->im.bytes + (runtime - PYW_BASE), block, sizeof block);
	w->runtime = runtime;
	uint64_t interp,
	    tstate = pyw_one_thread(&w->im, &lay, runtime, 0x7f0000001000ull, 4242, &interp);
	uint64_t gil = pyw_alloc(&w->im, 256);
	pyw_put64(&w->im, interp + (uint64_t)lay.is_gil_ptr, gil);
	pyw_put32(&w->im, gil + (uint64_t)lay.gil_locked, 1);
	pyw_put64(&w->im, gil + (uint64_t)lay.gil_holder, tstate);

	uint64_t outer = pyw_code_obj(&w->im, &lay, &ty, "/srv/app.py", "main", 10);
	uint64_t inner = pyw_code_obj(&w->im, &lay, &ty, "/srv/lib.py", "Worker.run", 40);
	uint64_t f_outer = pyw_frame(&w->im, &lay, outer, 3, 0, 0);
	uint64_t f_cstack = pyw_frame(&w->im, &lay, outer, 0, 4, f_outer);  /* C stack shim */
	uint64_t f_interp = pyw_frame(&w->im, &lay, inner, 0, 3, f_cstack); /* interpreter-owned */
	w->bad_code = PYW_BASE + PYW_IMAGE_SIZE + 0x1000;		    /* not mapped */
	uint64_t f_inner = pyw_frame(&w->im, &lay, torn ? w->bad_code : inner, 0, 0, f_interp);
	pyw_put64(&w->im, tstate + (uint64_t)lay.ts_current_frame, f_inner);

	pyw_finish_world(w, 14, runtime, &ty);
	if (debugoff_parse(w->im.bytes + (runtime - PYW_BASE), DEBUGOFF_READ_SIZE, &dbg, &version,
			   &err) < 0)
		return -1;
	return pytarget_use_debug_offsets(&w->t, &dbg, &err);
}
