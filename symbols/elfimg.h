/* elfimg.h: one ELF file (libpython, a static python, or a detached debug file) read with
 * libelf: symbols from .symtab and .dynsym, build-id, .gnu_debuglink, and bytes at a
 * virtual address (for disassembly of tiny accessors and static initialisers). */
#ifndef TG_ELFIMG_H
#define TG_ELFIMG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct elf_image {
	int fd;
	void *elf;             /* Elf * (kept opaque so users need not include libelf.h) */
	int is_dyn;            /* ET_DYN (shared object / PIE) or ET_EXEC */
	int has_symtab;        /* a .symtab is present (not stripped) */
	int has_debug_info;    /* a .debug_info section is present */
	char build_id[41];     /* hex, "" if none */
	char debuglink[256];   /* .gnu_debuglink file name, "" if none */
	uint64_t first_load_vaddr; /* p_vaddr of the first PT_LOAD with offset 0 */
};

int elfimg_open(struct elf_image *img, const char *path, struct tg_err *err);
void elfimg_close(struct elf_image *img);

/* st_value of a defined symbol (any binding) from .symtab or .dynsym; 0 if absent.
 * *size receives st_size when size is non-NULL. */
uint64_t elfimg_symbol(const struct elf_image *img, const char *name, uint64_t *size);
/* Does the file need (DT_NEEDED) a library whose name starts with prefix? */
int elfimg_needs(const struct elf_image *img, const char *prefix);
/* Address of a section by name, 0 if absent. */
uint64_t elfimg_section(const struct elf_image *img, const char *name, uint64_t *size);
/* Copy len bytes at virtual address vaddr out of the file (PROGBITS data only). */
int elfimg_read_vaddr(const struct elf_image *img, uint64_t vaddr, void *dst, size_t len);

#endif
