#include "symbols/elfimg.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/rdopen.h"

static Elf *elf_of(const struct elf_image *img)
{
	return (Elf *)img->elf;
}

static void read_build_id(struct elf_image *img, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	if (!data || sh->sh_type != SHT_NOTE)
		return;
	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
		    memcmp((char *)data->d_buf + name_off, "GNU", 4) != 0)
			continue;
		size_t n = nh.n_descsz < 20 ? nh.n_descsz : 20;
		const unsigned char *d = (const unsigned char *)data->d_buf + desc_off;
		for (size_t i = 0; i < n; i++)
			snprintf(img->build_id + 2 * i, 3, "%02x", d[i]);
		return;
	}
}

static void read_debuglink(struct elf_image *img, Elf_Scn *scn)
{
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!data || !data->d_buf || data->d_size < 5)
		return;
	size_t n = strnlen(data->d_buf, data->d_size);
	if (n >= sizeof img->debuglink)
		n = sizeof img->debuglink - 1;
	memcpy(img->debuglink, data->d_buf, n);
	img->debuglink[n] = '\0';
}

static void scan_sections(struct elf_image *img)
{
	Elf *elf = elf_of(img);
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			img->has_symtab = 1;
		if (strcmp(name, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS)
			img->has_debug_info = 1;
		if (strcmp(name, ".note.gnu.build-id") == 0)
			read_build_id(img, scn, &sh);
		if (strcmp(name, ".gnu_debuglink") == 0)
			read_debuglink(img, scn);
	}
}

static void find_first_load(struct elf_image *img)
{
	Elf *elf = elf_of(img);
	size_t n;

	if (elf_getphdrnum(elf, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			img->first_load_vaddr = ph.p_vaddr - ph.p_offset;
			return;
		}
	}
}

int elfimg_open(struct elf_image *img, const char *path, struct tg_err *err)
{
	GElf_Ehdr eh;

	memset(img, 0, sizeof *img);
	img->fd = -1;
	elf_version(EV_CURRENT);
	img->fd = tg_rdopen_fd(path); /* a FIFO planted at a path the target names: refused */
	if (img->fd < 0 && errno == EINVAL)
		return tg_err_set(err, TG_E_NOTPY, "cannot open %s: not a regular file", path);
	if (img->fd < 0)
		return tg_err_sys(err, TG_E_NOTPY, "cannot open %s", path);
	img->elf = elf_begin(img->fd, ELF_C_READ_MMAP, NULL);
	if (!img->elf || elf_kind(elf_of(img)) != ELF_K_ELF || !gelf_getehdr(elf_of(img), &eh)) {
		elfimg_close(img);
		return tg_err_set(err, TG_E_NOTPY, "cannot read ELF file %s: %s", path,
				  elf_errmsg(-1));
	}
	img->is_dyn = eh.e_type == ET_DYN;
	scan_sections(img);
	find_first_load(img);
	return 0;
}

void elfimg_close(struct elf_image *img)
{
	if (img->elf)
		elf_end(elf_of(img));
	if (img->fd >= 0)
		close(img->fd);
	img->elf = NULL;
	img->fd = -1;
}

static uint64_t lookup_in(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh, const char *name, uint64_t *size)
{
	Elf_Data *data = elf_getdata(scn, NULL);

	if (!data || sh->sh_entsize == 0)
		return 0;
	size_t count = sh->sh_size / sh->sh_entsize;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0)
			continue;
		const char *s = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (s && strcmp(s, name) == 0) {
			if (size)
				*size = sym.st_size;
			return sym.st_value;
		}
	}
	return 0;
}

uint64_t elfimg_symbol(const struct elf_image *img, const char *name, uint64_t *size)
{
	Elf *elf = elf_of(img);
	Elf_Scn *scn = NULL;
	uint64_t found = 0;

	if (!elf)
		return 0;
	/* .dynsym first: it is small; .symtab holds the statics. */
	for (int pass = 0; pass < 2 && !found; pass++) {
		scn = NULL;
		while (!found && (scn = elf_nextscn(elf, scn)) != NULL) {
			GElf_Shdr sh;
			if (!gelf_getshdr(scn, &sh))
				continue;
			if (sh.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB))
				found = lookup_in(elf, scn, &sh, name, size);
		}
	}
	return found;
}

uint64_t elfimg_section(const struct elf_image *img, const char *name, uint64_t *size)
{
	Elf *elf = elf_of(img);
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *s;
		if (gelf_getshdr(scn, &sh) && (s = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    strcmp(s, name) == 0) {
			if (size)
				*size = sh.sh_size;
			return sh.sh_addr;
		}
	}
	return 0;
}

int elfimg_read_vaddr(const struct elf_image *img, uint64_t vaddr, void *dst, size_t len)
{
	Elf *elf = elf_of(img);
	Elf_Scn *scn = NULL;

	if (!elf)
		return -1;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS || sh.sh_addr == 0)
			continue;
		if (vaddr < sh.sh_addr || vaddr - sh.sh_addr > sh.sh_size ||
		    len > sh.sh_size - (vaddr - sh.sh_addr))
			continue;
		Elf_Data *data = elf_rawdata(scn, NULL);
		if (!data || !data->d_buf || data->d_size < sh.sh_size)
			return -1;
		memcpy(dst, (const char *)data->d_buf + (vaddr - sh.sh_addr), len);
		return 0;
	}
	return -1;
}

int elfimg_needs(const struct elf_image *img, const char *prefix)
{
	Elf *elf = elf_of(img);
	Elf_Scn *scn = NULL;
	size_t plen = strlen(prefix);

	while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || sh.sh_entsize == 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t n = data ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; i < n; i++) {
			GElf_Dyn dyn;
			const char *name;
			if (gelf_getdyn(data, (int)i, &dyn) && dyn.d_tag == DT_NEEDED &&
			    (name = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val)) &&
			    strncmp(name, prefix, plen) == 0)
				return 1;
		}
	}
	return 0;
}
