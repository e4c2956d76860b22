/* End-to-end tests of `tgattach render decorate-stack`, against the call trees the
 * recording generator (fixtures/recordings/gen.py) simulated: it knows which call
 * produced each return and wrote the expected output in fixtures/recordings/expected/. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

struct cases {
	struct buf text; /* the whole expected file */
	size_t n;
	unsigned long event[512];
	char *want[512]; /* owned */
};

static void load_cases(const char *name, struct cases *c)
{
	struct buf path = BUF_INIT;
	const char *p;

	memset(c, 0, sizeof *c);
	buf_addf(&path, "%s/expected/%s.decorate", RENDER_FIXTURES, name);
	rrun_read(buf_cstr(&path), &c->text);
	buf_free(&path);
	for (p = buf_cstr(&c->text); *p;) {
		char *end;
		cr_assert_eq(strncmp(p, "== ", 3), 0, "bad expected file %s", name);
		cr_assert_lt(c->n, 512);
		c->event[c->n] = strtoul(p + 3, &end, 10);
		p = strchr(end, '\n') + 1;
		const char *next = strstr(p, "\n== ");
		size_t len = next ? (size_t)(next + 1 - p) : strlen(p);
		c->want[c->n++] = strndup(p, len);
		p += len;
	}
}

static void free_cases(struct cases *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->want[i]);
	buf_free(&c->text);
}

static void decorate(const char *mem, const char *stack, const char *event,
		     const char *const *extra, struct rrun *r)
{
	const char *args[16] = {"render", "decorate-stack", mem, stack, event};
	size_t n = 5;

	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(r, NULL, args);
}

/* Every `step`-th return event of one thread gives exactly the simulated subtree. */
static void check_thread(const char *rec, const char *pid, const char *thread, size_t step)
{
	struct cases c;
	struct buf name = BUF_INIT, mem = BUF_INIT, stack = BUF_INIT;
	struct rrun r;
	char ev[32];

	buf_addf(&name, "%s.%s", rec, thread);
	buf_addf(&mem, "%s/%s/%s/%s.mem", RENDER_FIXTURES, rec, pid, thread);
	buf_addf(&stack, "%s/%s/%s/%s.stack", RENDER_FIXTURES, rec, pid, thread);
	load_cases(buf_cstr(&name), &c);
	cr_assert_gt(c.n, 0);
	for (size_t i = 0; i < c.n; i += step) {
		snprintf(ev, sizeof ev, "%lu", c.event[i]);
		decorate(buf_cstr(&mem), buf_cstr(&stack), ev, NULL, &r);
		cr_assert_eq(r.status, 0, "%s event %s: exit %d: %s", buf_cstr(&name), ev, r.status,
			     buf_cstr(&r.err));
		cr_assert_str_eq(buf_cstr(&r.out), c.want[i],
				 "%s event %s:\n--- got\n%s--- want\n%s", buf_cstr(&name), ev,
				 buf_cstr(&r.out), c.want[i]);
		rrun_free(&r);
	}
	free_cases(&c);
	buf_free(&name);
	buf_free(&mem);
	buf_free(&stack);
}

Test(render_decorate, original_style_recording)
{
	/* unindented depths 0 and 1, times with 2 decimals or none, ties everywhere */
	check_thread("threadgraph-orig", "4242", "MainThread", 1);
	check_thread("threadgraph-orig", "4242", "CP Server Thread-5", 1);
}

Test(render_decorate, repeated_and_recursive_calls)
{
	check_thread("tgattach-nested", "5151", "MainThread", 1);
	check_thread("tgattach-nested", "5151", "worker%2f1: #2", 1);
}

Test(render_decorate, many_threads_sample)
{
	check_thread("many-threads", "6262", "Worker-7", 3);
	check_thread("many-threads", "6262", "CP Server Thread-3", 5);
}

#define NESTED RENDER_FIXTURES "/tgattach-nested/5151/"

/* EVENT given as the line itself: the second call of work(), not the first */
Test(render_decorate, event_as_line_text)
{
	struct buf memtext = BUF_INIT;
	struct cases c;
	struct rrun r;
	unsigned long lineno = 0, works = 0;
	char line[512];

	rrun_read(NESTED "MainThread.mem", &memtext);
	for (const char *p = memtext.data; *p; p = strchr(p, '\n') + 1) {
		lineno++;
		const char *nl = strchr(p, '\n');
		if (strstr(p, ":26:work=>") && strstr(p, ":26:work=>") < nl && ++works == 2) {
			snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
			break;
		}
	}
	cr_assert_eq(works, 2);
	load_cases("tgattach-nested.MainThread", &c);
	size_t i = 0;
	while (i < c.n && c.event[i] != lineno)
		i++;
	cr_assert_lt(i, c.n);
	decorate(NESTED "MainThread.mem", NESTED "MainThread.stack", line, NULL, &r);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_str_eq(buf_cstr(&r.out), c.want[i]);
	cr_assert_not_null(strstr(buf_cstr(&r.err), "Event: "), "status goes to stderr");
	rrun_free(&r);
	buf_free(&memtext);
	free_cases(&c);
}

Test(render_decorate, prefix_and_indent)
{
	const char *opts[] = {"--prefix", "/opt/app/", "--indent", "..", NULL};
	struct cases c;
	struct rrun r;
	struct buf want = BUF_INIT;

	load_cases("tgattach-nested.MainThread", &c);
	/* the last event is <module>, the whole tree */
	decorate(NESTED "MainThread.mem", NESTED "MainThread.stack", "38", opts, &r);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_eq(c.event[c.n - 1], 38);
	for (const char *p = c.want[c.n - 1]; *p; p++) {
		if ((p == c.want[c.n - 1] || p[-1] == '\n') && *p == ' ') {
			while (*p == ' ')
				buf_addstr(&want, ".."), p++;
		}
		if (strncmp(p, "@/opt/app/", 10) == 0) {
			buf_addch(&want, '@');
			p += 9;
			continue;
		}
		buf_addch(&want, *p);
	}
	cr_assert_str_eq(buf_cstr(&r.out), buf_cstr(&want));
	cr_assert_not_null(strstr(buf_cstr(&r.out), "\n..work@work.py:20-26, "));
	rrun_free(&r);
	buf_free(&want);
	free_cases(&c);
}

Test(render_decorate, bad_events)
{
	static const struct {
		const char *event;
		int status;
		const char *says;
	} cases[] = {
	    {"0", 2, "line numbers start at 1"},
	    {"9999", 9, "has no such line"},
	    {"1.0#nothing.py:1:f=>0", 9, "no line is EVENT"},
	};
	struct rrun r;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		decorate(NESTED "MainThread.mem", NESTED "MainThread.stack", cases[i].event, NULL,
			 &r);
		cr_assert_eq(r.status, cases[i].status, "%s: exit %d: %s", cases[i].event, r.status,
			     buf_cstr(&r.err));
		cr_assert_not_null(strstr(buf_cstr(&r.err), cases[i].says), "%s", buf_cstr(&r.err));
		rrun_free(&r);
	}
	const char *args[] = {"render", "decorate-stack", NESTED "MainThread.mem", NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 2);
	rrun_free(&r);
	/* what decorate-stack says is valid UTF-8 whatever the bytes of a path or an event */
	decorate(NESTED "MainThread.mem", NESTED "MainThread.stack", "1.0#n\xff.py:1:f\xfe=>0",
		 NULL, &r);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_expect(!strchr(buf_cstr(&r.err), '\xff') && !strchr(buf_cstr(&r.err), '\xfe'),
		  "invalid UTF-8 on stderr: %s", buf_cstr(&r.err));
	rrun_free(&r);
	decorate("/nonexistent/\xff\xfe.mem", NESTED "MainThread.stack", "3", NULL, &r);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_expect(!strchr(buf_cstr(&r.err), '\xff') && !strchr(buf_cstr(&r.err), '\xfe'),
		  "invalid UTF-8 on stderr: %s", buf_cstr(&r.err));
	rrun_free(&r);
}

/* DIR PEAK: the event of each mark memg drew is the return memg.txt names, and marks of
 * the same text in the same thread are successive returns of that text. */
Test(render_decorate, peak_number_from_memg)
{
	char *out = rrun_tmpdir();
	struct buf txt = BUF_INIT, path = BUF_INIT;
	struct rrun r;
	const char *dir = RENDER_FIXTURES "/many-threads/6262";
	const char *memg[] = {"render", "memg", dir, "-o", out, "-q", NULL};

	rrun_tool(&r, NULL, memg);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	buf_addf(&path, "%s/memg.txt", out);
	rrun_read(buf_cstr(&path), &txt);
	char *copy = strdup(buf_cstr(&txt)), *save = NULL;
	char last_text[512] = "";
	unsigned long last_line = 0, checked = 0;
	for (char *l = strtok_r(copy, "\n", &save); l && checked < 40;
	     l = strtok_r(NULL, "\n", &save)) {
		char peak[16], *gt = strchr(l, '>'), *eq = strstr(l, "=>");
		cr_assert(gt && eq, "%s", l);
		snprintf(peak, sizeof peak, "%lu", strtoul(l, NULL, 10));
		const char *args[] = {"render",	    "decorate-stack", dir, peak,
				      "--memg-txt", buf_cstr(&path),  NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 0, "peak %s: %s", peak, buf_cstr(&r.err));
		/* "Event: DIR/THREAD.mem line N: return of FUNC@FILE:LINE, DELTA B" */
		const char *ev = strstr(buf_cstr(&r.err), ".mem line ");
		cr_assert_not_null(ev, "%s", buf_cstr(&r.err));
		unsigned long line = strtoul(ev + 10, NULL, 10);
		char want[256];
		snprintf(want, sizeof want, ", %lld B\n", strtoll(eq + 2, NULL, 10));
		cr_assert_not_null(strstr(buf_cstr(&r.err), want), "peak %s: %s wanted in %s", peak,
				   want, buf_cstr(&r.err));
		if (strcmp(last_text, strchr(l, ' ') + 1) == 0)
			cr_assert_gt(line, last_line, "peak %s: the same return again", peak);
		snprintf(last_text, sizeof last_text, "%s", strchr(l, ' ') + 1);
		last_line = line;
		checked++;
		rrun_free(&r);
	}
	cr_assert_eq(checked, 40);
	const char *bad[] = {"render",	   "decorate-stack", dir, "99999",
			     "--memg-txt", buf_cstr(&path),  NULL};
	rrun_tool(&r, NULL, bad);
	cr_assert_eq(r.status, 9, "exit %d", r.status);
	cr_assert_not_null(strstr(buf_cstr(&r.err), "no peak 99999"));
	rrun_free(&r);
	free(copy);
	buf_free(&txt);
	buf_free(&path);
	rrun_rmtree(out);
	free(out);
}
