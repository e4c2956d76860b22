/* dwarf_debugfile.c: locating the DWARF of an interpreter image (dwarf_find_debug_file): the
 * image itself, the build-id path, the .gnu_debuglink name, each candidate checked against the
 * image's build-id or debuglink CRC. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/rdopen.h"
#include "symbols/dwarf.h"
#include "symbols/elfimg.h"

/* ---- locating the debug file ---- */

/* CRC-32 (IEEE 802.3, reflected, as .gnu_debuglink uses) of a whole file. */
static int file_crc32(const char *path, uint32_t *out)
{
	uint32_t table[256], crc = 0xffffffffu;
	unsigned char buf[65536];
	ssize_t n;
	int fd;

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	fd = tg_rdopen_fd(path);
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		for (ssize_t i = 0; i < n; i++)
			crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
	}
	close(fd);
	*out = crc ^ 0xffffffffu;
	return 0;
}

/* The CRC stored in an image's .gnu_debuglink (after the NUL-terminated name, 4-aligned). */
static int debuglink_crc(const char *image, uint32_t *crc)
{
	int fd = tg_rdopen_fd(image), rc = -1;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
		while (rc < 0 && (scn = elf_nextscn(elf, scn)) != NULL) {
			GElf_Shdr sh;
			const char *name;
			Elf_Data *d;
			if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
			    !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
			    strcmp(name, ".gnu_debuglink") != 0 || !(d = elf_getdata(scn, NULL)) ||
			    !d->d_buf)
				continue;
			size_t at = (strnlen(d->d_buf, d->d_size) + 1 + 3) & ~(size_t)3;
			if (at + 4 <= d->d_size) {
				memcpy(crc, (const char *)d->d_buf + at, 4);
				rc = 0;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return rc;
}

/* What a candidate must match: the image's build-id, else its debuglink CRC. */
struct debug_want {
	const char *build_id; /* "" when the image has none */
	int have_crc;
	uint32_t crc;
};

static int candidate_ok(const char *path, const struct debug_want *dw)
{
	struct elf_image img;
	uint32_t crc;
	int ok;

	if (access(path, R_OK) != 0 || elfimg_open(&img, path, NULL) < 0)
		return 0;
	ok = img.has_debug_info;
	if (ok && dw->build_id[0] && img.build_id[0])
		ok = strcmp(img.build_id, dw->build_id) == 0;
	else if (ok)
		ok = dw->have_crc && file_crc32(path, &crc) == 0 && crc == dw->crc;
	elfimg_close(&img);
	return ok;
}

/* Try path under root, then as is. */
static int try_candidate(const char *root, const char *path, const struct debug_want *dw, char *out,
			 size_t outlen)
{
	char full[4096];

	if (root && root[0]) {
		int n = snprintf(full, sizeof full, "%s%s", root, path);
		if (n > 0 && (size_t)n < sizeof full && candidate_ok(full, dw) &&
		    (size_t)snprintf(out, outlen, "%s", full) < outlen)
			return 0;
	}
	if (candidate_ok(path, dw) && (size_t)snprintf(out, outlen, "%s", path) < outlen)
		return 0;
	return -1;
}

static int valid_build_id(const char *id)
{
	size_t n = strlen(id);

	if (n < 4 || n % 2)
		return 0;
	return strspn(id, "0123456789abcdef") == n;
}

/* A debuglink is a bare file name; anything else could point outside the debug dirs. */
static int valid_debuglink(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* The image path as the target sees it: without the root prefix when it carries one. */
static const char *logical_path(const char *root, const char *image)
{
	size_t n = root ? strlen(root) : 0;

	if (n && strncmp(image, root, n) == 0 && image[n] == '/')
		return image + n;
	return image;
}

static int try_debuglink(const char *root, const char *image, const char *link,
			 const struct debug_want *dw, char *out, size_t outlen)
{
	static const char *const forms[] = {"%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s"};
	const char *slash = strrchr(image, '/');
	int dirlen = slash ? (int)(slash - image) : 0;
	char path[4096];

	if (!slash || image[0] != '/')
		return -1;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		int n = snprintf(path, sizeof path, forms[i], dirlen, image, link);
		if (n > 0 && (size_t)n < sizeof path &&
		    try_candidate(root, path, dw, out, outlen) == 0)
			return 0;
	}
	return -1;
}

/* The image itself carries DWARF (pyenv builds, python3.11d).  Without a build-id there is
 * nothing to verify against, so only the exact file the caller opened is trusted. */
static int try_image(const char *root, const char *image_path, const char *image,
		     const struct debug_want *dw, char *out, size_t outlen)
{
	struct elf_image img;
	int ok;

	/* a path not under root (/proc/PID/map_files/...) is a host path already */
	if (dw->build_id[0])
		return try_candidate(image == image_path ? NULL : root, image, dw, out, outlen);
	if (elfimg_open(&img, image_path, NULL) < 0)
		return -1;
	ok = img.has_debug_info;
	elfimg_close(&img);
	return ok && (size_t)snprintf(out, outlen, "%s", image_path) < outlen ? 0 : -1;
}

static void read_image_crc(const char *root, const char *image_path, const char *image,
			   struct debug_want *dw)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s%s", root ? root : "", image);

	dw->have_crc = (n > 0 && (size_t)n < sizeof path && debuglink_crc(path, &dw->crc) == 0) ||
		       debuglink_crc(image_path, &dw->crc) == 0;
}

int dwarf_find_debug_file(const char *root, const char *image_path, const char *build_id,
			  const char *debuglink, char *out, size_t outlen)
{
	const char *image = logical_path(root, image_path);
	struct debug_want dw = {build_id && valid_build_id(build_id) ? build_id : "", 0, 0};
	char path[4096];

	if (try_image(root, image_path, image, &dw, out, outlen) == 0)
		return 0;
	if (dw.build_id[0]) {
		snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug", dw.build_id,
			 dw.build_id + 2);
		if (try_candidate(root, path, &dw, out, outlen) == 0)
			return 0;
	}
	if (!valid_debuglink(debuglink))
		return -1;
	read_image_crc(root, image_path, image, &dw);
	return try_debuglink(root, image, debuglink, &dw, out, outlen);
}
