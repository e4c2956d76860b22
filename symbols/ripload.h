/* ripload.h: the RIP-relative loads in the first bytes of an x86-64 function.
 *
 * A stripped interpreter keeps its statics out of every symbol table, but the exported
 * accessors that read them still name them: `mov disp32(%rip), reg` holds the static's
 * address.  This is a byte-pattern scan, not a disassembler: it finds every
 * [REX] 8B modrm(mod 00, rm 101) disp32 in the bytes, which may include false matches
 * inside longer instructions, so callers keep only targets that fall in a data section and
 * validate what they read there. */
#ifndef TG_RIPLOAD_H
#define TG_RIPLOAD_H

#include <stddef.h>
#include <stdint.h>

struct ripload {
	uint64_t target; /* the loaded address (vaddr + end of instruction + disp32) */
	int width;	 /* 8 with REX.W, else 4 */
	int reg;	 /* destination register number, 0 (rax) .. 15 (r15) */
	size_t end;	 /* offset just after the instruction */
};

/* Loads found in code[0..len), which starts at virtual address vaddr; at most max of them
 * into out, in code order.  Returns the number written. */
size_t ripload_scan(const unsigned char *code, size_t len, uint64_t vaddr, struct ripload *out,
		    size_t max);

/* 1 when code[from..len) holds a 64-bit load `mov [disp](%reg), r` using reg as its base
 * address: the register holds a pointer that is followed. */
int ripload_derefs(const unsigned char *code, size_t len, size_t from, int reg);

#endif
