#include "symbols/ripload.h"

#include <string.h>

static int is_rex(unsigned char b)
{
	return (b & 0xf0) == 0x40;
}

size_t ripload_scan(const unsigned char *code, size_t len, uint64_t vaddr, struct ripload *out,
		    size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n < max; i++) {
		unsigned char rex = is_rex(code[i]) ? code[i] : 0;
		size_t op = rex ? i + 1 : i;
		if (op + 6 > len || code[op] != 0x8b || (code[op + 1] & 0xc7) != 0x05)
			continue;
		int32_t disp;
		memcpy(&disp, code + op + 2, 4);
		struct ripload *l = &out[n++];
		l->end = op + 6;
		l->target = vaddr + l->end + (uint64_t)(int64_t)disp;
		l->width = rex & 0x08 ? 8 : 4;
		l->reg = ((code[op + 1] >> 3) & 7) | (rex & 0x04 ? 8 : 0);
		i = l->end - 1; /* the REX-less match one byte later is the same instruction */
	}
	return n;
}

int ripload_derefs(const unsigned char *code, size_t len, size_t from, int reg)
{
	for (size_t i = from; i + 2 < len; i++) {
		unsigned char rex = code[i];
		if (!is_rex(rex) || !(rex & 0x08) || ((rex & 0x01) << 3) != (reg & 8) ||
		    code[i + 1] != 0x8b)
			continue;
		unsigned char modrm = code[i + 2];
		int mod = modrm >> 6, rm = modrm & 7;
		/* rm 100 needs a SIB byte, mod 00 rm 101 is RIP-relative: neither is [reg] */
		if (mod != 3 && rm == (reg & 7) && rm != 4 && !(mod == 0 && rm == 5))
			return 1;
	}
	return 0;
}
