/* text.h: making hostile names (thread, file and function names from the target) safe for
 * where the renderer shows them: a terminal, a gnuplot script, an SVG. */
#ifndef TG_TEXT_H
#define TG_TEXT_H

#include <stddef.h>

#include "common/buf.h"

/* For one-line text output (stderr, decorate-stack): control bytes, '\\' and bytes that
 * are not valid UTF-8 become "\xHH"; everything else is copied.  Reversible. */
void text_display(struct buf *out, const char *s, size_t len);

/* For drawing: invalid UTF-8 (and U+FFFE/U+FFFF, which XML forbids) becomes U+FFFD,
 * control bytes become the four characters "\xHH", and "]]>" gets a zero-width space
 * before its '>'.  The result is valid UTF-8 without control characters, so it fits in
 * XML text once '<' and '&' are escaped (gnuplot's SVG terminal does that). */
void text_clean(struct buf *out, const char *s, size_t len);

/* Appends s as a gnuplot single-quoted string literal: text_clean()ed, every ' doubled.
 * Inside single quotes gnuplot expands no backslash, backquote or '@' macro, so the
 * text is drawn literally (with the terminal set to noenhanced). */
void text_gnuplot_quote(struct buf *out, const char *s, size_t len);

/* Appends s as a JSON string literal, quotes included: '"' and '\\' escaped, control
 * bytes as \u00XX, invalid UTF-8 as U+FFFD (so the result is valid UTF-8 and valid JSON
 * whatever the input). */
void text_json_quote(struct buf *out, const char *s, size_t len);

/* For one frame of a folded-stack line (flamegraph.pl, speedscope): like text_display(),
 * and ';' (the frame separator) also becomes "\x3b". */
void text_folded(struct buf *out, const char *s, size_t len);

/* Length of the valid UTF-8 sequence starting at s[0..len), or 0 if it is not one. */
size_t text_utf8_seq(const unsigned char *s, size_t len);

#endif
