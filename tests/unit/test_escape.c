#include <criterion/criterion.h>
#include <string.h>

#include "common/buf.h"
#include "common/escape.h"

/* 1 if s[0..len) is well-formed UTF-8 (no check for overlong forms: not needed here). */
static int utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (n == 0 || i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n;
	}
	return 1;
}

static void assert_field_safe(const struct buf *e)
{
	for (size_t i = 0; i < e->len; i++) {
		unsigned char c = (unsigned char)e->data[i];
		cr_assert(c != '#' && c != ':' && c != '=' && c >= 0x20 && c != 0x7f,
			  "byte 0x%02x left unescaped in \"%s\"", c, e->data);
	}
}

/* What a round trip gives back: the bytes, with TG_NUL (a NUL carried in a C string) as
 * the NUL it stands for. */
static void expected(struct buf *want, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i + 1 < len && (unsigned char)s[i] == 0xc0 && (unsigned char)s[i + 1] == 0x80) {
			buf_addch(want, '\0');
			i++;
		} else {
			buf_addch(want, s[i]);
		}
	}
}

static void field_roundtrip(const char *s, size_t len)
{
	struct buf e = BUF_INIT, u = BUF_INIT, want = BUF_INIT;

	expected(&want, s, len);
	tg_escape_field(&e, s, len);
	assert_field_safe(&e);
	tg_unescape_field(&u, buf_cstr(&e), e.len);
	cr_assert_eq(u.len, want.len, "round trip changed the length: %zu -> %zu", len, u.len);
	cr_assert(len == 0 || memcmp(u.data, want.data, want.len) == 0,
		  "round trip changed the bytes");
	buf_free(&want);
	buf_free(&e);
	buf_free(&u);
}

Test(escape, field_roundtrip_every_byte)
{
	char all[256];

	for (int c = 0; c < 256; c++) {
		char one = (char)c;
		field_roundtrip(&one, 1);
		all[c] = (char)c;
	}
	field_roundtrip(all, sizeof all);
	field_roundtrip("", 0);
}

Test(escape, field_roundtrip_every_pair)
{
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char two[2] = {(char)a, (char)b};
			field_roundtrip(two, 2);
		}
	}
}

Test(escape, nul_carried_as_c0_80_is_escaped_as_nul)
{
	struct buf e = BUF_INIT;
	const char s[] = "pa" TG_NUL "rk";

	tg_escape_field(&e, s, sizeof s - 1);
	cr_assert_str_eq(buf_cstr(&e), "pa\\x00rk");
	buf_reset(&e);
	tg_escape_filename(&e, s, sizeof s - 1);
	cr_assert_str_eq(buf_cstr(&e), "pa%00rk");
	buf_free(&e);
}

Test(escape, field_exact_forms)
{
	struct buf e = BUF_INIT;
	const char s[] = "a#b:c=>d\\e\nf\x7f"
			 "g\xc3\xa9";

	tg_escape_field(&e, s, sizeof s - 1);
	cr_assert_str_eq(e.data, "a\\x23b\\x3ac\\x3d>d\\x5ce\\x0af\\x7fg\xc3\xa9");
	buf_free(&e);
}

/* Files written by the original ThreadGraph escaped nothing: a backslash that does not
 * start \xHH stays as it is. */
Test(escape, field_unescape_keeps_stray_backslashes)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"C:\\dir\\x.py", "C:\\dir\\x.py"},
	    {"\\x4", "\\x4"},
	    {"\\x4g", "\\x4g"},
	    {"\\X41", "\\X41"},
	    {"\\x41", "A"},
	    {"\\x4A\\x4a", "JJ"},
	    {"end\\", "end\\"},
	    {"\\x", "\\x"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf u = BUF_INIT;
		tg_unescape_field(&u, cases[i].in, strlen(cases[i].in));
		cr_assert_str_eq(buf_cstr(&u), cases[i].out, "unescaping \"%s\"", cases[i].in);
		buf_free(&u);
	}
}

static void assert_filename_safe(const struct buf *e)
{
	cr_assert(e->len > 0 && e->len <= TG_NAME_MAX, "bad length %zu", e->len);
	cr_assert_neq(e->data[0], '.', "file name starts with '.': \"%s\"", e->data);
	for (size_t i = 0; i < e->len; i++) {
		unsigned char c = (unsigned char)e->data[i];
		cr_assert(c != '/' && c != '\\' && c >= 0x20 && c != 0x7f,
			  "byte 0x%02x in file name \"%s\"", c, e->data);
	}
}

static void filename_roundtrip(const char *s, size_t len)
{
	struct buf e = BUF_INIT, u = BUF_INIT;

	struct buf want = BUF_INIT;

	expected(&want, s, len);
	tg_escape_filename(&e, s, len);
	assert_filename_safe(&e);
	tg_unescape_filename(&u, e.data, e.len);
	cr_assert_eq(u.len, want.len);
	cr_assert(memcmp(u.data, want.data, want.len) == 0,
		  "file name round trip changed the bytes");
	buf_free(&e);
	buf_free(&u);
	buf_free(&want);
}

Test(escape, filename_roundtrip_every_byte_and_pair)
{
	for (int a = 0; a < 256; a++) {
		char one = (char)a;
		filename_roundtrip(&one, 1);
		for (int b = 0; b < 256; b++) {
			char two[2] = {(char)a, (char)b};
			filename_roundtrip(two, 2);
		}
	}
}

/* Too long to fit: the result is the escaping of a prefix, and unescapes to that prefix. */
Test(escape, filename_all_bytes_cut_to_prefix)
{
	char all[256];
	struct buf e = BUF_INIT, u = BUF_INIT;

	for (int c = 0; c < 256; c++)
		all[c] = (char)c;
	tg_escape_filename(&e, all, sizeof all);
	assert_filename_safe(&e);
	cr_assert_geq(e.len, TG_NAME_MAX - 2);
	tg_unescape_filename(&u, e.data, e.len);
	cr_assert(u.len > 0 && u.len < sizeof all);
	cr_assert(memcmp(u.data, all, u.len) == 0);
	buf_free(&e);
	buf_free(&u);
}

Test(escape, filename_exact_forms)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
	    {"", 0, "%00"},
	    {".", 1, "%2e"},
	    {"..", 2, "%2e."},
	    {"../../etc/passwd", 16, "%2e.%2f..%2fetc%2fpasswd"},
	    {"a/b", 3, "a%2fb"},
	    {"a%2fb", 5, "a%252fb"},
	    {"x\0y", 3, "x%00y"},
	    {"line\nbreak", 10, "line%0abreak"},
	    {"CP Server Thread-5", 18, "CP Server Thread-5"},
	    {"a.b", 3, "a.b"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf e = BUF_INIT;
		tg_escape_filename(&e, cases[i].in, cases[i].len);
		cr_assert_str_eq(e.data, cases[i].out, "escaping case %zu", i);
		buf_free(&e);
	}
}

/* A 300-byte name of 2-, 3- and 4-byte characters, after every ASCII prefix length, is cut
 * on a character boundary, as long as possible. */
Test(escape, filename_utf8_cut_on_char_boundary)
{
	static const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};

	for (size_t c = 0; c < 3; c++) {
		size_t clen = strlen(chars[c]);
		for (size_t pre = 0; pre < 8; pre++) {
			char name[300];
			size_t len = 0;
			memset(name, 'a', pre);
			len = pre;
			while (len + clen <= sizeof name) {
				memcpy(name + len, chars[c], clen);
				len += clen;
			}
			struct buf e = BUF_INIT;
			tg_escape_filename(&e, name, len);
			assert_filename_safe(&e);
			cr_assert(utf8_valid(e.data, e.len),
				  "cut inside a character: char %zu, "
				  "prefix %zu, length %zu",
				  c, pre, e.len);
			cr_assert_gt(e.len + clen, TG_NAME_MAX, "cut too short: %zu", e.len);
			cr_assert(memcmp(e.data, name, e.len) == 0);
			buf_free(&e);
		}
	}
}

Test(escape, filename_escape_never_split_at_limit)
{
	char name[TG_NAME_MAX + 2];
	struct buf e = BUF_INIT;

	memset(name, 'a', sizeof name);
	name[TG_NAME_MAX - 2] = '/';
	tg_escape_filename(&e, name, sizeof name);
	cr_assert_eq(e.len, TG_NAME_MAX - 2, "a %%HH that does not fit is dropped whole");
	buf_reset(&e);
	name[TG_NAME_MAX - 2] = 'a';
	name[TG_NAME_MAX - 3] = '/';
	tg_escape_filename(&e, name, sizeof name);
	cr_assert_eq(e.len, TG_NAME_MAX);
	cr_assert(memcmp(e.data + TG_NAME_MAX - 3, "%2f", 3) == 0);
	buf_free(&e);
}
