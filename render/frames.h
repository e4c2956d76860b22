/* frames.h: the distinct functions of a recording, each a small number.
 *
 * A frame is (FILE, FUNC, LINE) with LINE the line where the call was first seen (the
 * .stack LINE; 0 when only a .mem is known).  Names are bytes, NUL included.  Memory grows
 * with the number of distinct frames, which the program's code bounds, not with the
 * length of the recording. */
#ifndef TG_FRAMES_H
#define TG_FRAMES_H

#include <stddef.h>
#include <stdint.h>

struct frame {
	const char *file, *func; /* NUL-terminated copies (may hold other NULs) */
	size_t file_len, func_len;
	long line;
};

struct frames;

struct frames *frames_new(void);
/* The id (0, 1, 2, ... in order of first sight) of the frame, added if new. */
uint32_t frames_intern(struct frames *fr, const char *file, size_t file_len, const char *func,
		       size_t func_len, long line);
const struct frame *frames_get(const struct frames *fr, uint32_t id);
size_t frames_count(const struct frames *fr);
void frames_free(struct frames *fr);

#endif
