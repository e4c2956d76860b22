#include "attach/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

void remote_init_process(struct remote *r, pid_t pid)
{
	memset(r, 0, sizeof *r);
	r->kind = REMOTE_PROCESS;
	r->pid = pid;
	r->mem_fd = -1;
}

void remote_init_none(struct remote *r)
{
	memset(r, 0, sizeof *r);
	r->kind = REMOTE_PROCESS;
	r->mem_fd = -1;
}

void remote_init_image(struct remote *r, const struct remote_image_seg *segs, size_t nsegs)
{
	memset(r, 0, sizeof *r);
	r->kind = REMOTE_IMAGE;
	r->mem_fd = -1;
	r->segs = segs;
	r->nsegs = nsegs;
}

void remote_close(struct remote *r)
{
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
}

static int image_read(struct remote *r, uint64_t addr, void *dst, size_t len)
{
	for (size_t i = 0; i < r->nsegs; i++) {
		const struct remote_image_seg *s = &r->segs[i];
		if (addr >= s->addr && addr - s->addr <= s->len &&
		    len <= s->len - (addr - s->addr)) {
			memcpy(dst, s->bytes + (addr - s->addr), len);
			return 0;
		}
	}
	return -1;
}

static int mem_file_read(struct remote *r, uint64_t addr, void *dst, size_t len)
{
	if (r->mem_fd < 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/mem", (int)r->pid);
		r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->mem_fd < 0)
			return -1;
	}
	if (addr > (uint64_t)INT64_MAX)
		return -1;
	ssize_t got = pread(r->mem_fd, dst, len, (off_t)addr);
	return got == (ssize_t)len ? 0 : -1;
}

/* Fills one piece through the slow paths (image, /proc/PID/mem). */
static int read_one_slow(struct remote *r, struct remote_iov *v)
{
	if (r->kind == REMOTE_IMAGE)
		return image_read(r, v->addr, v->dst, v->len);
	return mem_file_read(r, v->addr, v->dst, v->len);
}

static int valid_piece(const struct remote_iov *v)
{
	return v->len > 0 && v->len <= REMOTE_MAX_READ && v->addr != 0 &&
	       v->addr + v->len > v->addr;
}

#define GAP_PAGE 4096u /* the smallest page size: a gap merged away lies in one page */

/* Does piece v start in the page where a remote range ending at end ends, past it?  Then
 * they are read as one range, which pins no page that one of them does not touch. */
static int joins(uint64_t end, const struct remote_iov *v)
{
	return v->addr >= end && v->addr / GAP_PAGE == (end - 1) / GAP_PAGE;
}

/* One process_vm_readv call over pieces [first, first+n).  The kernel pins each remote
 * iovec's pages apart (about half a microsecond a page, above a call's microsecond and a
 * half), so pieces that follow one another in a page (an allocator's counters, a struct's
 * fields) go as one remote range, the bytes between them into a scratch buffer.  The kernel
 * stops at the first remote range that faults, so pieces after a short read are retried
 * one call later. */
static size_t vm_readv_chunk(struct remote *r, struct remote_iov *iov, size_t n)
{
	struct iovec local[IOV_MAX], remote[IOV_MAX];
	unsigned char gap[GAP_PAGE];
	size_t nl = 0, nr = 0;

	for (size_t i = 0; i < n; i++) {
		struct iovec *last = nr ? &remote[nr - 1] : NULL;
		uint64_t end = last ? (uint64_t)(uintptr_t)last->iov_base + last->iov_len : 0;
		/* a gap takes a local iovec: only while there is room for it and the rest */
		if (last && joins(end, &iov[i]) && nl + (n - i) + 1 <= IOV_MAX) {
			if (iov[i].addr > end)
				local[nl++] = (struct iovec){gap, (size_t)(iov[i].addr - end)};
			last->iov_len += (size_t)(iov[i].addr + iov[i].len - end);
		} else {
			remote[nr++] = (struct iovec){(void *)(uintptr_t)iov[i].addr, iov[i].len};
		}
		local[nl++] = (struct iovec){iov[i].dst, iov[i].len};
	}
	r->calls++;
	r->ranges += nr;
	ssize_t got = process_vm_readv(r->pid, local, nl, remote, nr, 0);
	if (got < 0) {
		if (errno == ENOSYS || errno == EPERM)
			r->use_mem_file = 1;
		return 0;
	}
	r->bytes += (uint64_t)got;
	/* the bytes fill the local iovecs in order: a piece is read when all of its are */
	size_t done = 0, at = 0;
	for (size_t k = 0; k < nl && (size_t)got - at >= local[k].iov_len; k++) {
		at += local[k].iov_len;
		if (local[k].iov_base != gap)
			iov[done++].ok = 1;
	}
	return done;
}

size_t remote_readv(struct remote *r, struct remote_iov *iov, size_t n)
{
	size_t total = 0, i = 0;

	for (size_t k = 0; k < n; k++)
		iov[k].ok = 0;
	if (r->kind == REMOTE_IMAGE || r->use_mem_file) {
		r->calls += r->kind == REMOTE_IMAGE; /* a batch, as one process_vm_readv */
		for (; i < n; i++)
			if (valid_piece(&iov[i]) && read_one_slow(r, &iov[i]) == 0) {
				iov[i].ok = 1;
				total++;
			}
		return total;
	}
	while (i < n) {
		/* gather a run of valid pieces (invalid ones are skipped, never sent) */
		while (i < n && !valid_piece(&iov[i]))
			i++;
		size_t start = i;
		while (i < n && i - start < IOV_MAX && valid_piece(&iov[i]))
			i++;
		size_t len = i - start;
		if (len == 0)
			break;
		size_t done = vm_readv_chunk(r, iov + start, len);
		total += done;
		if (r->use_mem_file) {
			for (size_t k = start + done; k < start + len; k++)
				if (read_one_slow(r, &iov[k]) == 0) {
					iov[k].ok = 1;
					total++;
				}
			continue;
		}
		if (done < len) {
			/* the piece at start+done faulted (or was partial): skip it and go on */
			i = start + done + 1;
		}
	}
	return total;
}

int remote_read(struct remote *r, uint64_t addr, void *dst, size_t len)
{
	struct remote_iov v = {.addr = addr, .dst = dst, .len = len};

	if (len == 0)
		return 0;
	return remote_readv(r, &v, 1) == 1 ? 0 : -1;
}

int remote_read_u64(struct remote *r, uint64_t addr, uint64_t *out)
{
	return remote_read(r, addr, out, sizeof *out);
}

int remote_read_u32(struct remote *r, uint64_t addr, uint32_t *out)
{
	return remote_read(r, addr, out, sizeof *out);
}

int remote_read_u8(struct remote *r, uint64_t addr, uint8_t *out)
{
	return remote_read(r, addr, out, sizeof *out);
}
