/* Unit tests of render/text: names made safe for the terminal, gnuplot and SVG. */
#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "render/text.h"

static void assert_text(const struct buf *b, const char *want)
{
	cr_assert_eq(b->len, strlen(want), "got '%s' (%zu bytes), want '%s'", buf_cstr(b), b->len,
		     want);
	cr_assert_eq(memcmp(buf_cstr(b), want, b->len), 0, "got '%s', want '%s'", buf_cstr(b),
		     want);
}

static void assert_clean_utf8(const struct buf *b)
{
	const unsigned char *u = (const unsigned char *)buf_cstr(b);

	for (size_t i = 0; i < b->len;) {
		size_t n = text_utf8_seq(u + i, b->len - i);
		cr_assert_gt(n, 0, "invalid UTF-8 at %zu", i);
		cr_assert(!(n == 1 && (u[i] < 0x20 || u[i] == 0x7f)), "control byte at %zu", i);
		i += n;
	}
}

Test(render_text, utf8_validation)
{
	cr_assert_eq(text_utf8_seq((const unsigned char *)"a", 1), 1);
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xc3\xa9", 2), 2);
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xe2\x82\xac", 3), 3);
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xc3", 1), 0);	  /* cut */
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xc0\xaf", 2), 0);	  /* overlong */
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xe0\x80\xaf", 3), 0); /* overlong */
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > max */
	cr_assert_eq(text_utf8_seq((const unsigned char *)"\xff", 1), 0);
}

Test(render_text, clean_replaces_invalid_and_controls)
{
	struct buf b = BUF_INIT;
	static const char in[] = "a\xff\nb\xc3\xa9\x7f\xef\xbf\xbe]]>c\0d";

	text_clean(&b, in, sizeof in - 1);
	assert_text(&b, "a\xef\xbf\xbd\\x0ab\xc3\xa9\\x7f\xef\xbf\xbd]]\xe2\x80\x8b>c\\x00d");
	assert_clean_utf8(&b);
	buf_free(&b);
}

Test(render_text, clean_output_always_valid)
{
	struct buf b = BUF_INIT;
	unsigned char all[512];

	for (size_t i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)(i * 7 + (i >> 8));
	text_clean(&b, (const char *)all, sizeof all);
	assert_clean_utf8(&b);
	buf_free(&b);
}

Test(render_text, gnuplot_quote_doubles_quotes)
{
	struct buf b = BUF_INIT;
	static const char in[] = "a'; system('touch /tmp/x'); '\nb\\`c`@d";

	text_gnuplot_quote(&b, in, sizeof in - 1);
	assert_text(&b, "'a''; system(''touch /tmp/x''); ''\\x0ab\\`c`@d'");
	buf_free(&b);
}

/* gnuplot itself reads every quoted literal back as the text (zero-width spaces aside):
 * gnuplot 5.4 misreads a doubled quote right after the opening one or after another
 * doubled quote, and a command line such as  python -c "x = ''"  made memg exit 10. */
Test(render_text, gnuplot_reads_quotes_back)
{
	static const char *const texts[] = {"'",    "''",   "x = ''", "''''", "'a'b'",
					    "it's", "end'", "a''''b", "'''"};
	const size_t ntexts = sizeof texts / sizeof *texts;
	char script[] = "/tmp/tg-gpquote-XXXXXX";
	int fd = mkstemp(script);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	for (size_t i = 0; i < ntexts; i++) {
		struct buf b = BUF_INIT;
		text_gnuplot_quote(&b, texts[i], strlen(texts[i]));
		fprintf(f, "print %s\n", buf_cstr(&b));
		buf_free(&b);
	}
	fclose(f);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "gnuplot %s 2>&1", script);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	char line[256], plain[256];
	size_t n = 0;
	while (fgets(line, sizeof line, p)) {
		size_t k = 0;
		line[strcspn(line, "\n")] = '\0';
		for (size_t j = 0; line[j] && k + 1 < sizeof plain; j++) {
			if (!strncmp(line + j, "\xe2\x80\x8b", 3)) {
				j += 2;
				continue;
			}
			plain[k++] = line[j];
		}
		plain[k] = '\0';
		if (n < ntexts)
			cr_expect_str_eq(plain, texts[n], "text %zu", n);
		n++;
	}
	int st = pclose(p);
	unlink(script);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		cr_skip_test("no gnuplot");
	cr_expect_eq(n, ntexts, "gnuplot printed %zu lines for %zu texts", n, ntexts);
}

Test(render_text, display_is_one_reversible_line)
{
	struct buf b = BUF_INIT;
	static const char in[] = "a\\b\n\xff\xc3\xa9\t";

	text_display(&b, in, sizeof in - 1);
	assert_text(&b, "a\\x5cb\\x0a\\xff\xc3\xa9\\x09");
	buf_free(&b);
}

Test(render_text, json_quote_is_valid_json)
{
	struct buf b = BUF_INIT;
	static const char in[] = "a\"b\\c\n\x01\xff\xc3\xa9/\x7f";

	text_json_quote(&b, in, sizeof in - 1);
	assert_text(&b, "\"a\\\"b\\\\c\\u000a\\u0001\xef\xbf\xbd\xc3\xa9/\x7f\"");
	buf_free(&b);
	text_json_quote(&b, "", 0);
	assert_text(&b, "\"\"");
	buf_free(&b);
}

Test(render_text, folded_frame_has_no_separator)
{
	struct buf b = BUF_INIT;
	static const char in[] = "f;g\nh \\ \xff ok";

	text_folded(&b, in, sizeof in - 1);
	assert_text(&b, "f\\x3bg\\x0ah \\x5c \\xff ok");
	cr_assert_null(memchr(b.data, ';', b.len));
	buf_free(&b);
}
