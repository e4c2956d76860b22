/* remote.h: the one interface for reading another process's memory.
 *
 * The sampler, `dump`, `info` and the fuzzers all read through a `struct remote`.
 * Two backends: a live process (process_vm_readv, many iovecs per call, falling back to
 * /proc/PID/mem when the syscall is unavailable) and a synthetic memory image (segments
 * of bytes at addresses) for unit tests and fuzzers.  A read never faults: a failed or
 * short read is reported, and callers treat everything read as untrusted data. */
#ifndef TG_REMOTE_H
#define TG_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* One piece of a batched read: len bytes at remote address addr into dst. */
struct remote_iov {
	uint64_t addr;
	void *dst;
	size_t len;
	int ok; /* set by remote_readv: 1 when all len bytes were read */
};

struct remote_image_seg {
	uint64_t addr;
	size_t len;
	const unsigned char *bytes;
};

struct remote {
	int kind; /* REMOTE_PROCESS or REMOTE_IMAGE */
	pid_t pid;
	int mem_fd;	  /* /proc/PID/mem, opened lazily on fallback; -1 otherwise */
	int use_mem_file; /* process_vm_readv unavailable (ENOSYS/EPERM): use mem_fd */
	/* image backend */
	const struct remote_image_seg *segs;
	size_t nsegs;
	/* counters, for `make bench` and the status line */
	uint64_t calls;
	uint64_t ranges; /* remote ranges sent, same-page pieces merged (test_remote.c) */
	uint64_t bytes;
};

enum { REMOTE_PROCESS = 1, REMOTE_IMAGE = 2 };

/* Largest single read a caller may request; larger reads are refused (garbage lengths). */
#define REMOTE_MAX_READ (16u << 20)

void remote_init_process(struct remote *r, pid_t pid);
/* A reader of no process (every read fails); remote_close() on it does nothing. */
void remote_init_none(struct remote *r);
/* segs must outlive r; segments may be in any order but must not overlap. */
void remote_init_image(struct remote *r, const struct remote_image_seg *segs, size_t nsegs);
void remote_close(struct remote *r);

/* Read exactly len bytes; 0 on success, -1 if any byte could not be read. */
int remote_read(struct remote *r, uint64_t addr, void *dst, size_t len);
/* Batched read.  Sets iov[i].ok for each piece; returns how many pieces were read fully.
 * Uses as few system calls as the kernel allows (IOV_MAX pieces per call), the pieces read
 * in the order given; pieces that follow one another in a page go as one remote range (the
 * kernel pins each range's pages apart). */
size_t remote_readv(struct remote *r, struct remote_iov *iov, size_t n);

/* Convenience: read a pointer-sized / 32-bit / 8-bit value. 0 on success. */
int remote_read_u64(struct remote *r, uint64_t addr, uint64_t *out);
int remote_read_u32(struct remote *r, uint64_t addr, uint32_t *out);
int remote_read_u8(struct remote *r, uint64_t addr, uint8_t *out);

#endif
