#include "common/escape.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void add_hex(struct buf *out, char lead, unsigned char c)
{
	char esc[4] = {lead, hexdig[c >> 4], hexdig[c & 15], 0};

	if (lead == '\\') {
		buf_addstr(out, "\\x");
		buf_add(out, esc + 1, 2);
	} else {
		buf_add(out, esc, 3);
	}
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int field_special(unsigned char c)
{
	return c == '\\' || c == '#' || c == ':' || c == '=' || is_control(c);
}

static int is_nul(const char *s, size_t i, size_t len)
{
	return i + 1 < len && (unsigned char)s[i] == 0xc0 && (unsigned char)s[i + 1] == 0x80;
}

void tg_escape_field(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i;
		while (end < len && !field_special((unsigned char)s[end]) && !is_nul(s, end, len))
			end++;
		buf_add(out, s + i, end - i);
		if (end == len)
			break;
		if (is_nul(s, end, len)) {
			add_hex(out, '\\', 0);
			i = end + 2;
			continue;
		}
		add_hex(out, '\\', (unsigned char)s[end]);
		i = end + 1;
	}
}

void tg_unescape_field(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
		    hexval(s[i + 3]) >= 0) {
			buf_addch(out, (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3])));
			i += 3;
		} else {
			buf_addch(out, s[i]);
		}
	}
}

/* Bytes in the UTF-8 sequence that starts with c (1 for ASCII and stray bytes). */
static size_t utf8_seqlen(unsigned char c)
{
	if (c >= 0xf0 && c <= 0xf7)
		return 4;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xc0 && c <= 0xdf)
		return 2;
	return 1;
}

/* s[0..len) was cut from a longer string: drops a multi-byte character whose tail was cut
 * off, so the result never ends inside a character. */
static size_t utf8_trim(const char *s, size_t len)
{
	for (size_t back = 1; back <= 4 && back <= len; back++) {
		unsigned char c = (unsigned char)s[len - back];
		if ((c & 0xc0) != 0x80)
			return utf8_seqlen(c) > back ? len - back : len;
	}
	return len;
}

void tg_escape_filename(struct buf *out, const char *s, size_t len)
{
	size_t start = out->len;
	size_t i;

	if (len == 0) {
		buf_addstr(out, "%00");
		return;
	}
	for (i = 0; i < len && out->len - start < TG_NAME_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_nul(s, i, len)) {
			if (out->len - start + 3 > TG_NAME_MAX)
				break;
			add_hex(out, '%', 0);
			i++;
		} else if (c == '/' || c == '\\' || c == '%' || is_control(c) ||
			   (i == 0 && c == '.')) {
			if (out->len - start + 3 > TG_NAME_MAX)
				break;
			add_hex(out, '%', c);
		} else {
			buf_addch(out, (char)c);
		}
	}
	if (i < len) {
		out->len = start + utf8_trim(out->data + start, out->len - start);
		out->data[out->len] = '\0';
	}
}

void tg_unescape_filename(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			buf_addch(out, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else {
			buf_addch(out, s[i]);
		}
	}
}
