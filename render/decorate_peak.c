/* decorate_peak.c: a memg.txt peak number to its return event (decorate_peak.h). */
#include "render/decorate_peak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "render/tgfile.h"

/* The line of memg.txt for peak, as "THREAD>TEXT" in *what, and *rank: how many earlier
 * lines have the same "THREAD>TEXT". */
static int find_peak(const char *memg_txt, unsigned long peak, struct buf *what,
		     unsigned long *rank, struct tg_err *err)
{
	struct tgfile f;
	int too_long, r, found = 0;
	char head[32];
	size_t hlen = (size_t)snprintf(head, sizeof head, "%lu: ", peak);
	struct buf seen = BUF_INIT; /* "\n"-separated "THREAD>TEXT" of the earlier lines */

	if (tgfile_open(&f, memg_txt, TGFILE_SAMPLES, 0, err) < 0)
		return -1;
	while (!found && (r = tgfile_next_line(&f, &too_long, err)) == 1) {
		const char *s = buf_cstr(&f.line), *colon = strstr(s, ": ");
		if (too_long || s[0] == '#' || !colon)
			continue;
		if (f.line.len > hlen && memcmp(s, head, hlen) == 0) {
			buf_addstr(what, s + hlen);
			found = 1;
			break;
		}
		buf_addstr(&seen, colon + 2);
		buf_addch(&seen, '\n');
	}
	tgfile_close(&f);
	*rank = 0;
	for (const char *p = buf_cstr(&seen); found && *p;) {
		const char *nl = strchr(p, '\n');
		*rank += (size_t)(nl - p) == what->len && memcmp(p, what->data, what->len) == 0;
		p = nl + 1;
	}
	buf_free(&seen);
	if (!found && r >= 0)
		return tg_err_set(err, TG_E_DATA, "%s: no peak %lu", memg_txt, peak);
	return found ? 0 : -1;
}

/* The line of mem whose text after '#' is text, the (rank + 1)-th such. */
static int find_return(const char *mem, const char *text, unsigned long rank, unsigned long *lineno,
		       struct tg_err *err)
{
	struct tgfile f;
	int too_long, r;
	size_t tlen = strlen(text);

	if (tgfile_open(&f, mem, TGFILE_RETURNS, 0, err) < 0)
		return -1;
	while ((r = tgfile_next_line(&f, &too_long, err)) == 1) {
		const char *hash = memchr(f.line.data, '#', f.line.len);
		if (too_long || !hash || f.line.len - (size_t)(hash + 1 - f.line.data) != tlen ||
		    memcmp(hash + 1, text, tlen) != 0)
			continue;
		if (rank-- == 0) {
			*lineno = f.lineno;
			break;
		}
	}
	tgfile_close(&f);
	if (r < 0)
		return -1;
	return r == 1 ? 0 : tg_err_set(err, TG_E_DATA, "%s: no return '%s' to match", mem, text);
}

int decorate_peak_event(const char *dir, const char *memg_txt, unsigned long peak, struct buf *mem,
			struct buf *stack, unsigned long *lineno, struct tg_err *err)
{
	struct buf what = BUF_INIT, thread = BUF_INIT, stem = BUF_INIT;
	unsigned long rank;
	int rc = -1;

	if (find_peak(memg_txt, peak, &what, &rank, err) < 0)
		goto out;
	const char *gt = strchr(buf_cstr(&what), '>');
	if (!gt) {
		tg_err_set(err, TG_E_DATA, "%s: peak %lu is malformed", memg_txt, peak);
		goto out;
	}
	tg_unescape_field(&thread, what.data, (size_t)(gt - what.data));
	tg_escape_filename(&stem, thread.data, thread.len);
	buf_addf(mem, "%s/%s.mem", dir, buf_cstr(&stem));
	buf_addf(stack, "%s/%s.stack", dir, buf_cstr(&stem));
	rc = find_return(buf_cstr(mem), gt + 1, rank, lineno, err);
out:
	buf_free(&what);
	buf_free(&thread);
	buf_free(&stem);
	return rc;
}
