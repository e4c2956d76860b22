#include "render/text.h"

#include <string.h>

static void add_hex(struct buf *out, unsigned char c)
{
	buf_addf(out, "\\x%02x", c);
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t text_utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!is_cont(s[i]))
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void text_display(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = text_utf8_seq(u + i, len - i);
		if (n == 0 || (n == 1 && (is_control(u[i]) || u[i] == '\\'))) {
			add_hex(out, u[i]);
			i++;
			continue;
		}
		buf_add(out, s + i, n);
		i += n;
	}
}

static int xml_forbidden(const unsigned char *u, size_t n)
{
	/* U+FFFE and U+FFFF */
	return n == 3 && u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf);
}

void text_clean(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = text_utf8_seq(u + i, len - i);
		if (n == 0 || xml_forbidden(u + i, n)) {
			buf_addstr(out, "\xef\xbf\xbd");
			i += n ? n : 1;
		} else if (n == 1 && is_control(u[i])) {
			add_hex(out, u[i]);
			i++;
		} else if (u[i] == '>' && out->len >= 2 && out->data[out->len - 1] == ']' &&
			   out->data[out->len - 2] == ']') {
			/* "]]>" may not appear in XML text; a zero-width space breaks it */
			buf_addstr(out, "\xe2\x80\x8b>");
			i++;
		} else {
			buf_add(out, s + i, n);
			i += n;
		}
	}
}

void text_gnuplot_quote(struct buf *out, const char *s, size_t len)
{
	struct buf clean = BUF_INIT;

	text_clean(&clean, s, len);
	buf_addch(out, '\'');
	for (size_t i = 0; i < clean.len; i++) {
		if (clean.data[i] == '\'') {
			/* a quote is doubled; gnuplot 5.4 misreads a doubled quote right after
			 * the opening one, or right after another doubled quote (four quotes in a
			 * row are an error): a zero-width space keeps them apart */
			if (i == 0 || clean.data[i - 1] == '\'')
				buf_addstr(out, "\xe2\x80\x8b");
			buf_addch(out, '\'');
		}
		buf_addch(out, clean.data[i]);
	}
	buf_addch(out, '\'');
	buf_free(&clean);
}

void text_json_quote(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	buf_addch(out, '"');
	for (size_t i = 0; i < len;) {
		size_t n = text_utf8_seq(u + i, len - i);
		if (n == 0) {
			buf_addstr(out, "\xef\xbf\xbd");
			i++;
		} else if (u[i] == '"' || u[i] == '\\') {
			buf_addch(out, '\\');
			buf_addch(out, (char)u[i++]);
		} else if (u[i] < 0x20) {
			buf_addf(out, "\\u%04x", u[i++]);
		} else {
			buf_add(out, s + i, n);
			i += n;
		}
	}
	buf_addch(out, '"');
}

void text_folded(struct buf *out, const char *s, size_t len)
{
	const char *semi;

	while (len && (semi = memchr(s, ';', len)) != NULL) {
		size_t n = (size_t)(semi - s);
		text_display(out, s, n);
		buf_addstr(out, "\\x3b");
		s += n + 1;
		len -= n + 1;
	}
	text_display(out, s, len);
}
