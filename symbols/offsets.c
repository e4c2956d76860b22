#include "symbols/offsets.h"

#include <string.h>

const struct py_offset_desc py_offset_descs[] = {
#define PYOFF_DESC(f, t, p, k) {#f, t, p, PYOFF_##k, offsetof(struct py_offsets, f)},
    PY_OFFSET_FIELDS(PYOFF_DESC)
#undef PYOFF_DESC
};

const size_t py_offset_ndescs = sizeof py_offset_descs / sizeof py_offset_descs[0];

void py_offsets_clear(struct py_offsets *o)
{
	for (size_t i = 0; i < py_offset_ndescs; i++)
		py_offsets_set(o, &py_offset_descs[i], OFFSET_ABSENT);
}

int32_t py_offsets_get(const struct py_offsets *o, const struct py_offset_desc *d)
{
	int32_t v;

	memcpy(&v, (const char *)o + d->where, sizeof v);
	return v;
}

void py_offsets_set(struct py_offsets *o, const struct py_offset_desc *d, int32_t value)
{
	memcpy((char *)o + d->where, &value, sizeof value);
}

const struct py_offset_desc *py_offsets_find(const char *field)
{
	for (size_t i = 0; i < py_offset_ndescs; i++)
		if (strcmp(py_offset_descs[i].field, field) == 0)
			return &py_offset_descs[i];
	return NULL;
}

const struct py_builtin_table *py_builtin_find(int major, int minor, int debug_abi)
{
	for (size_t i = 0; i < py_builtin_ntables; i++) {
		const struct py_builtin_table *t = &py_builtin_tables[i];
		if (t->major == major && t->minor == minor && t->debug_abi == debug_abi)
			return t;
	}
	return NULL;
}

/* How many offsets dbg describes (not OFFSET_ABSENT), and how many of those t agrees on. */
static size_t agreement(const struct py_offsets *t, const struct py_offsets *dbg, size_t *described)
{
	size_t agree = 0;

	*described = 0;
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		int32_t v = py_offsets_get(dbg, &py_offset_descs[i]);
		if (v == OFFSET_ABSENT)
			continue;
		(*described)++;
		agree += v == py_offsets_get(t, &py_offset_descs[i]);
	}
	return agree;
}

const struct py_builtin_table *py_builtin_closest(int major, int minor, int debug_abi,
						  const struct py_offsets *dbg, size_t *agree,
						  size_t *described)
{
	const struct py_builtin_table *best = NULL;
	size_t best_agree = 0, n = 0;

	for (size_t i = 0; i < py_builtin_ntables; i++) {
		const struct py_builtin_table *t = &py_builtin_tables[i];
		if (t->major != major || t->minor != minor || t->debug_abi != debug_abi)
			continue;
		size_t a = agreement(&t->off, dbg, &n);
		if (!best || a > best_agree) {
			best = t;
			best_agree = a;
		}
	}
	*agree = best_agree;
	*described = n;
	return best;
}
