/* sampler/pyobj's dict lookups on a synthetic 3.14 image: a name found before is looked for
 * first as the same str object, confirmed by one comparison; when that object is gone or
 * no longer says the name, every key is compared, as without the memo. */
#include <criterion/criterion.h>
#include <string.h>

#include "sampler/pyobj.h"
#include "tests/world/pyworld.h"

struct dict_world {
	struct pyw_world w;
	const struct py_offsets *o;
};

/* A combined-table dict of n str keys (objects given) and values. */
static uint64_t make_dict(struct dict_world *d, const uint64_t *keys, const uint64_t *values, int n)
{
	struct pyw_image *im = &d->w.im;
	const struct py_offsets *o = d->o;
	uint64_t k = pyw_alloc(im, (size_t)o->dk_indices + 8 + 8 * (size_t)o->dk_uentry_size);
	uint64_t dict = pyw_alloc(im, 64);
	uint64_t entries = k + (uint64_t)o->dk_indices + 8;

	cr_assert_leq(n, 8);
	pyw_put8(im, k + (uint64_t)o->dk_log2_size, 3);	    /* 8 slots */
	pyw_put8(im, k + (uint64_t)o->dk_log2_size + 1, 3); /* 8 bytes of indices */
	pyw_put8(im, k + (uint64_t)o->dk_log2_size + 2, 1); /* unicode keys */
	pyw_put64(im, k + (uint64_t)o->dk_nentries, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		pyw_put64(im, entries + (uint64_t)(i * o->dk_uentry_size), keys[i]);
		pyw_put64(im, entries + (uint64_t)(i * o->dk_uentry_size) + 8, values[i]);
	}
	pyw_put64(im, dict + (uint64_t)o->ob_type, d->w.t.sym.dict_type);
	pyw_put64(im, dict + (uint64_t)o->d_keys, k);
	pyw_put64(im, dict + (uint64_t)o->d_values, 0);
	return dict;
}

static uint64_t str_obj(struct dict_world *d, const char *s)
{
	return pyw_ascii_str(&d->w.im, d->o, d->w.t.sym.unicode_type, s);
}

Test(pyobj, dict_get_remembers_the_key_and_confirms_it)
{
	struct dict_world d;
	struct pyobj p, fresh;

	cr_assert_eq(pyw_build(&d.w, 0), 0);
	d.o = &d.w.t.off;
	pyobj_init(&p, &d.w.r, &d.w.t);
	uint64_t s_alpha = str_obj(&d, "alpha"), s_ident = str_obj(&d, "_ident"),
		 s_name = str_obj(&d, "_name"), s_beta = str_obj(&d, "beta");
	uint64_t k1[] = {s_alpha, s_beta, s_ident, s_name}, v1[] = {0x101, 0x102, 0x103, 0x104};
	uint64_t d1 = make_dict(&d, k1, v1, 4);

	cr_assert_eq(pyobj_dict_get(&p, d1, "_name"), 0x104);
	cr_assert_eq(pyobj_dict_get(&p, d1, "_ident"), 0x103);
	cr_assert_eq(pyobj_dict_get(&p, d1, "missing"), 0);
	/* the second time costs fewer reads than a search by a reader that never saw it */
	uint64_t before = d.w.r.calls;
	cr_assert_eq(pyobj_dict_get(&p, d1, "_name"), 0x104);
	uint64_t memo_calls = d.w.r.calls - before;
	pyobj_init(&fresh, &d.w.r, &d.w.t);
	before = d.w.r.calls;
	cr_assert_eq(pyobj_dict_get(&fresh, d1, "_name"), 0x104);
	cr_assert_lt(memo_calls, d.w.r.calls - before, "%llu reads with the memo",
		     (unsigned long long)memo_calls);

	/* the same key objects elsewhere, in another order */
	uint64_t k2[] = {s_name, s_alpha}, v2[] = {0x201, 0x202};
	cr_assert_eq(pyobj_dict_get(&p, make_dict(&d, k2, v2, 2), "_name"), 0x201);
	/* another str object saying the name: found by comparing */
	uint64_t k3[] = {s_alpha, str_obj(&d, "_name")}, v3[] = {0x301, 0x302};
	uint64_t d3 = make_dict(&d, k3, v3, 2);
	cr_assert_eq(pyobj_dict_get(&p, d3, "_name"), 0x302);
	cr_assert_eq(pyobj_dict_get(&p, d3, "_name"), 0x302);
	/* the remembered object now says something else (freed and reused): never its value */
	memcpy(d.w.im.bytes + (k3[1] + (uint64_t)d.o->u_ascii_size - PYW_BASE), "_nope", 5);
	cr_assert_eq(pyobj_dict_get(&p, d3, "_name"), 0);
	cr_assert_eq(pyobj_dict_get(&p, d1, "_name"), 0x104);
	free(d.w.im.bytes);
}

struct seen {
	uint64_t values[8];
	int n;
};

static int note_value(void *ctx, uint64_t key, uint64_t value)
{
	struct seen *s = ctx;

	(void)key;
	if (s->n < 8)
		s->values[s->n++] = value;
	return 0;
}

/* Items by stored hash: a table of (hash, key, value) entries is filtered without reading a
 * key; a table of str keys keeps no hashes, and every item is given. */
Test(pyobj, dict_items_hashed_reads_only_the_entries_of_that_hash)
{
	struct dict_world d;
	struct pyobj p;

	cr_assert_eq(pyw_build(&d.w, 0), 0);
	d.o = &d.w.t.off;
	pyobj_init(&p, &d.w.r, &d.w.t);
	struct pyw_image *im = &d.w.im;
	const struct py_offsets *o = d.o;
	uint64_t hashes[] = {0x7f0000001000ull, 0x7f0000002000ull, 0x7f0000001000ull, 5};
	uint64_t k = pyw_alloc(im, (size_t)o->dk_indices + 8 + 8 * (size_t)o->dk_entry_size);
	uint64_t dict = pyw_alloc(im, 64), entries = k + (uint64_t)o->dk_indices + 8;

	pyw_put8(im, k + (uint64_t)o->dk_log2_size, 3);
	pyw_put8(im, k + (uint64_t)o->dk_log2_size + 1, 3);
	pyw_put8(im, k + (uint64_t)o->dk_log2_size + 2, 0); /* general keys: hashes kept */
	pyw_put64(im, k + (uint64_t)o->dk_nentries, 4);
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t e = entries + i * (uint64_t)o->dk_entry_size;
		pyw_put64(im, e, hashes[i]);
		pyw_put64(im, e + 8, 0x9000 + i); /* keys never read */
		pyw_put64(im, e + 16, 0x500 + i);
	}
	pyw_put64(im, dict + (uint64_t)o->ob_type, d.w.t.sym.dict_type);
	pyw_put64(im, dict + (uint64_t)o->d_keys, k);
	pyw_put64(im, dict + (uint64_t)o->d_values, 0);

	struct seen s = {0};
	cr_assert_eq(pyobj_dict_items_hashed(&p, dict, 0x7f0000001000ll, 8, note_value, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.values[0], 0x500);
	cr_assert_eq(s.values[1], 0x502);
	s.n = 0;
	cr_assert_eq(pyobj_dict_items_hashed(&p, dict, 6, 8, note_value, &s), 0);
	cr_assert_eq(s.n, 0);
	s.n = 0;
	cr_assert_eq(pyobj_dict_items(&p, dict, 8, note_value, &s), 0);
	cr_assert_eq(s.n, 4);

	uint64_t sk[] = {str_obj(&d, "a"), str_obj(&d, "b")}, sv[] = {0x601, 0x602};
	s.n = 0;
	cr_assert_eq(pyobj_dict_items_hashed(&p, make_dict(&d, sk, sv, 2), 1, 8, note_value, &s),
		     0);
	cr_assert_eq(s.n, 2, "str keys keep no hashes: every item");
	free(d.w.im.bytes);
}

/* An int object of one 30-bit digit (3.12+ layout: a tag of ndigits << 3). */
static void put_int(struct dict_world *d, uint64_t at, uint64_t type, uint32_t digit)
{
	pyw_put64(&d->w.im, at + (uint64_t)d->o->ob_type, type);
	pyw_put64(&d->w.im, at + (uint64_t)d->o->long_tag, 1u << 3);
	pyw_put32(&d->w.im, at + (uint64_t)d->o->long_digit, digit);
}

/* A 3.14 instance whose attributes live in its inline values, its type's shared keys
 * naming them: _ident, _name, _native_id. */
static uint64_t make_thread_obj(struct dict_world *d, uint64_t *name_out)
{
	struct pyw_image *im = &d->w.im;
	const struct py_offsets *o = d->o;
	uint64_t type = pyw_alloc(im, (size_t)o->ht_cached_keys + 8);
	uint64_t keys = pyw_alloc(im, (size_t)o->dk_indices + 8 + 3 * (size_t)o->dk_uentry_size);
	uint64_t names[3] = {str_obj(d, "_ident"), str_obj(d, "_name"), str_obj(d, "_native_id")};
	uint64_t mem = pyw_alloc(im, (size_t)o->gc_head_size + 16 + 32 + 64);
	uint64_t obj = mem + (uint64_t)o->gc_head_size + 16, values = obj + 32;
	uint64_t ident = pyw_alloc(im, 32), native = pyw_alloc(im, 32);

	pyw_put64(im, type + (uint64_t)o->tp_flags, (1u << 4) | (1u << 2)); /* managed, inline */
	pyw_put64(im, type + (uint64_t)o->tp_basicsize, 32);
	pyw_put64(im, type + (uint64_t)o->ht_cached_keys, keys);
	pyw_put8(im, keys + (uint64_t)o->dk_log2_size, 3);
	pyw_put8(im, keys + (uint64_t)o->dk_log2_size + 1, 3);
	pyw_put8(im, keys + (uint64_t)o->dk_log2_size + 2, 2); /* split */
	pyw_put64(im, keys + (uint64_t)o->dk_nentries, 3);
	for (uint64_t i = 0; i < 3; i++)
		pyw_put64(im, keys + (uint64_t)o->dk_indices + 8 + i * (uint64_t)o->dk_uentry_size,
			  names[i]);
	pyw_put64(im, obj + (uint64_t)o->ob_type, type);
	pyw_put8(im, values + (uint64_t)o->dv_valid, 1);
	put_int(d, ident, d->w.t.sym.long_type, 77);
	put_int(d, native, d->w.t.sym.long_type, 4242);
	*name_out = str_obj(d, "Thread-7 (worker)");
	uint64_t vals[3] = {ident, *name_out, native};
	for (uint64_t i = 0; i < 3; i++)
		pyw_put64(im, values + (uint64_t)o->dv_values + 8 * i, vals[i]);
	return obj;
}

/* Several attributes of one object: its type, dict or values and keys read once for all,
 * where one lookup each reads them again; an int or a short str in one read, and right
 * also where that read would run past the end of the memory (then read piece by piece). */
Test(pyobj, attributes_read_once_for_several_names_and_small_objects_at_once)
{
	struct dict_world d;
	struct pyobj p, q;
	uint64_t name, got[3];
	const char *want[3] = {"_name", "_native_id", "missing"};
	struct buf b = BUF_INIT;
	int64_t v = 0;

	cr_assert_eq(pyw_build(&d.w, 0), 0);
	d.o = &d.w.t.off;
	d.w.t.sym.long_type = pyw_alloc(&d.w.im, 64);
	uint64_t obj = make_thread_obj(&d, &name);
	pyobj_init(&p, &d.w.r, &d.w.t);
	pyobj_init(&q, &d.w.r, &d.w.t);

	uint64_t before = d.w.r.calls;
	pyobj_getattrs(&p, obj, want, got, 3);
	uint64_t together = d.w.r.calls - before;
	cr_assert_eq(got[0], name);
	cr_assert_eq(got[2], 0);
	before = d.w.r.calls;
	cr_assert_eq(pyobj_getattr(&q, obj, "_name"), name);
	cr_assert_eq(pyobj_getattr(&q, obj, "_native_id"), got[1]);
	cr_assert_lt(together, d.w.r.calls - before, "%llu reads for three names at once",
		     (unsigned long long)together);

	before = d.w.r.calls;
	cr_assert_eq(pyobj_int(&p, got[1], &v), 0);
	cr_assert_eq(v, 4242);
	cr_assert_eq(pyobj_str(&p, name, &b, 256), 0);
	cr_assert_str_eq(buf_cstr(&b), "Thread-7 (worker)");
	cr_assert_eq(d.w.r.calls - before, 2, "an int and a short str: one read each");

	/* the last bytes of the memory: the read of a whole small object fails, its pieces do
	 * not */
	uint64_t end = PYW_BASE + PYW_IMAGE_SIZE, at_int = end - 28;
	put_int(&d, at_int, d.w.t.sym.long_type, 99);
	cr_assert_eq(pyobj_int(&p, at_int, &v), 0);
	cr_assert_eq(v, 99);
	uint64_t at_str = end - (uint64_t)d.o->u_ascii_size - 4;
	pyw_put64(&d.w.im, at_str + (uint64_t)d.o->ob_type, d.w.t.sym.unicode_type);
	pyw_put64(&d.w.im, at_str + (uint64_t)d.o->u_length, 3);
	pyw_put32(&d.w.im, at_str + (uint64_t)d.o->u_state,
		  (1u << d.o->u_kind_bit) | (1u << d.o->u_compact_bit) | (1u << d.o->u_ascii_bit));
	memcpy(d.w.im.bytes + (at_str + (uint64_t)d.o->u_ascii_size - PYW_BASE), "end", 4);
	buf_reset(&b);
	cr_assert_eq(pyobj_str(&p, at_str, &b, 256), 0);
	cr_assert_str_eq(buf_cstr(&b), "end");
	buf_free(&b);
	free(d.w.im.bytes);
}
