/* escape.h: how names that come from the target (file names, function names, thread
 * names) are written into line formats and file names.
 *
 * Field escaping (THREAD.mem / THREAD.stack FILE and FUNC fields):
 *   the bytes '\\' '#' ':' '=' and every byte < 0x20 or == 0x7f are written as "\\xHH"
 *   (two lower-case hex digits).  Every other byte, UTF-8 included, is written as is.
 *   So a line keeps exactly one '#', exactly two ':' in FILE:LINE:FUNC, and "=>" appears
 *   only as the separator.  tg_unescape_field() reverses it; a backslash not followed by
 *   'x' and two hex digits is kept literally (files written by the original ThreadGraph).
 *
 * A NUL inside a name from the target travels in C strings as TG_NUL (the two bytes C0 80,
 * which UTF-8 never uses): both escapings write it as a NUL ("\\x00", "%00").
 *
 * File-name escaping (THREAD part of THREAD.stack):
 *   '/', '\\', '%', bytes < 0x20 and 0x7f, and a leading '.' become "%HH"; the result is
 *   cut to TG_NAME_MAX bytes on a UTF-8 character boundary; an empty name becomes "%00". */
#ifndef TG_ESCAPE_H
#define TG_ESCAPE_H

#include <stddef.h>

#include "common/buf.h"

#define TG_NAME_MAX 120
#define TG_NUL "\xc0\x80"

void tg_escape_field(struct buf *out, const char *s, size_t len);
void tg_unescape_field(struct buf *out, const char *s, size_t len);
void tg_escape_filename(struct buf *out, const char *s, size_t len);
void tg_unescape_filename(struct buf *out, const char *s, size_t len);

#endif
