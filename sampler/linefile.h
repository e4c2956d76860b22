/* linefile.h: the data files of one output directory (DIR/PID), appended to in whole lines;
 * part of sampler/output.
 *
 * A file is opened with O_APPEND | O_NOFOLLOW relative to the directory, and must be a
 * regular file.  The first time a run opens it, a partial last line (an earlier run was
 * killed mid-write) is cut off, so the lines appended now stay parseable.  A write that
 * fails cuts the file back to its last whole line and breaks the directory: its first
 * failure is kept, TG_E_OUTPUT "cannot write to PATH: errno text", and given back by
 * linefile_failed() to every later caller. */
#ifndef TG_LINEFILE_H
#define TG_LINEFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"

struct sparefile;

#define LINEFILE_BUF_SIZE (64 * 1024)
#define LINEFILE_SPARE_AFTER 32
#define LINEFILE_FLUSH_AT (LINEFILE_BUF_SIZE - 4096) /* most lines then still fit */

/* The directory the files are in, and what they share. */
struct linefile_dir {
	char *path;	/* DIR/PID, for messages */
	int dfd;	/* the directory, -1 when not open */
	uint64_t bytes; /* written so far */
	int broken;	/* a write failed */
	int fresh;	/* created by this run: every file in it is new (O_EXCL) */
	struct tg_err failure;
	unsigned made;		 /* files this run created in it */
	unsigned spared;	 /* of them, spare files given their names */
	struct sparefile *spare; /* files made ahead (sampler/sparefile), once many were */
	int spare_tried;
};

/* One data file. */
struct linefile {
	char *name; /* relative to the directory */
	int fd;	    /* -1 while closed */
	int slot;   /* sampler/outfd's slot while it holds the file, else -1 */
	int seen;   /* opened before in this run: its tail was checked */
	off_t good; /* file size up to its last whole line on disk */
};

/* f named BASE EXT, closed. */
void linefile_init(struct linefile *f, const char *base, const char *ext);
/* Frees the name (the descriptor must be closed). */
void linefile_free(struct linefile *f);

/* Stops d's helper, if any, and closes d's descriptor. */
void linefile_dir_close(struct linefile_dir *d);

/* Opens f for appending.  Once a run has created LINEFILE_SPARE_AFTER files in d, new
 * files come from spare files made ahead by a helper thread (sampler/sparefile.h). */
int linefile_open(struct linefile_dir *d, struct linefile *f, struct tg_err *err);
/* Closes f's descriptor, if open. */
void linefile_close(struct linefile *f);

/* Writes b (whole lines) to f and empties it. */
int linefile_write(struct linefile_dir *d, struct linefile *f, struct buf *b, struct tg_err *err);
/* After a line was added to b: writes b once it nears LINEFILE_BUF_SIZE. */
int linefile_line_done(struct linefile_dir *d, struct linefile *f, struct buf *b,
		       struct tg_err *err);

/* Returns -1 with the directory's first failure in err (if err). */
int linefile_failed(const struct linefile_dir *d, struct tg_err *err);

/* Writes all of p to fd; on failure returns -1 with errno set and *done the bytes
 * written. */
int linefile_write_all(int fd, const char *p, size_t len, size_t *done);

#endif
