/* End-to-end tests of `tgattach render collapsed` and `render speedscope`, against what
 * the recording generator (fixtures/recordings/gen.py) knows of its simulated calls
 * (expected/REC.collapsed, expected/REC.selftime), and with a JSON parser. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/escape.h"
#include "tests/e2e/test_render_run.h"

static const char *const fixtures[][2] = {
    {"threadgraph-orig", "threadgraph-orig/4242"},
    {"tgattach-nested", "tgattach-nested/5151"},
    {"many-threads", "many-threads/6262"},
};
#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

/* Lines of text, sorted. */
struct lines {
	char **v;
	size_t n;
};

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void split_lines(const char *text, struct lines *l)
{
	const char *p = text, *nl;

	l->v = NULL;
	l->n = 0;
	while ((nl = strchr(p, '\n')) != NULL) {
		l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
		l->v[l->n++] = strndup(p, (size_t)(nl - p));
		p = nl + 1;
	}
	cr_assert_eq(*p, '\0', "last line without newline: '%s'", p);
	qsort(l->v, l->n, sizeof *l->v, by_str);
}

static void free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void collapsed(const char *rec, const char *const *extra, struct rrun *r)
{
	struct buf dir = BUF_INIT;
	const char *args[16] = {"render", "collapsed"};
	size_t n = 2;

	buf_addf(&dir, "%s/%s", RENDER_FIXTURES, rec);
	args[n++] = buf_cstr(&dir);
	for (; extra && *extra; extra++)
		args[n++] = *extra;
	args[n] = NULL;
	rrun_tool(r, NULL, args);
	cr_assert_eq(r->status, 0, "%s: %s", rec, buf_cstr(&r->err));
	buf_free(&dir);
}

/* --weight bytes: exactly each stack's own memory, as the simulator computed it. */
Test(render_export, collapsed_bytes_match_the_simulation)
{
	const char *bytes[] = {"--weight", "bytes", "--per-thread", NULL};

	for (size_t i = 0; i < NFIXTURES; i++) {
		struct buf want = BUF_INIT, path = BUF_INIT;
		struct lines got, exp;
		struct rrun r;
		collapsed(fixtures[i][1], bytes, &r);
		buf_addf(&path, "%s/expected/%s.collapsed", RENDER_FIXTURES, fixtures[i][0]);
		rrun_read(buf_cstr(&path), &want);
		split_lines(buf_cstr(&r.out), &got);
		split_lines(buf_cstr(&want), &exp);
		cr_assert_eq(got.n, exp.n, "%s: %zu stacks, want %zu", fixtures[i][0], got.n,
			     exp.n);
		for (size_t k = 0; k < got.n; k++)
			cr_assert_str_eq(got.v[k], exp.v[k], "%s", fixtures[i][0]);
		free_lines(&got);
		free_lines(&exp);
		rrun_free(&r);
		buf_free(&want);
		buf_free(&path);
	}
}

/* The count after the last space. */
static long long count_of(const char *line, size_t *stack_len)
{
	const char *sp = strrchr(line, ' ');

	cr_assert_not_null(sp, "no count: '%s'", line);
	*stack_len = (size_t)(sp - line);
	return strtoll(sp + 1, NULL, 10);
}

static const char *find_stack(const struct lines *l, const char *stack, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], stack, len) == 0 && l->v[i][len] == ' ')
			return l->v[i];
	return NULL;
}

/* --weight time (microseconds) and samples (intervals): each stack's own time. */
Test(render_export, collapsed_time_matches_the_simulation)
{
	const char *time_us[] = {"--weight", "time", "--per-thread", NULL};
	const char *samples[] = {"--interval", "0.001", "--per-thread", NULL};

	for (size_t i = 0; i < NFIXTURES; i++) {
		struct buf want = BUF_INIT, path = BUF_INIT;
		struct lines got, got_s, exp;
		struct rrun r, rs;
		size_t shown = 0;
		collapsed(fixtures[i][1], time_us, &r);
		collapsed(fixtures[i][1], samples, &rs);
		buf_addf(&path, "%s/expected/%s.selftime", RENDER_FIXTURES, fixtures[i][0]);
		rrun_read(buf_cstr(&path), &want);
		split_lines(buf_cstr(&r.out), &got);
		split_lines(buf_cstr(&rs.out), &got_s);
		split_lines(buf_cstr(&want), &exp);
		for (size_t k = 0; k < exp.n; k++) {
			size_t len;
			double secs = strtod(exp.v[k] + (strrchr(exp.v[k], ' ') - exp.v[k]), NULL);
			count_of(exp.v[k], &len);
			const char *g = find_stack(&got, exp.v[k], len);
			const char *gs = find_stack(&got_s, exp.v[k], len);
			if (secs * 1e6 < 0.5) {
				cr_assert_null(g, "%s: zero-time stack shown: %s", fixtures[i][0],
					       g);
				continue;
			}
			cr_assert_not_null(g, "%s: missing %s", fixtures[i][0], exp.v[k]);
			shown++;
			cr_assert_leq(fabs((double)count_of(g, &len) - secs * 1e6), 1.0,
				      "%s: '%s', want %.6f s", fixtures[i][0], g, secs);
			if (gs)
				cr_assert_leq(fabs((double)count_of(gs, &len) - secs * 1e3), 1.0,
					      "%s: '%s'", fixtures[i][0], gs);
			else
				cr_assert_lt(secs * 1e3, 0.5);
		}
		cr_assert_eq(got.n, shown, "%s: stacks the simulation does not have",
			     fixtures[i][0]);
		free_lines(&got);
		free_lines(&got_s);
		free_lines(&exp);
		rrun_free(&r);
		rrun_free(&rs);
		buf_free(&want);
		buf_free(&path);
	}
}

/* By default threads whose names differ only by numbers share one THREAD frame named with
 * N (Worker-1 ... Worker-11: "Worker-N"), each stack's weight the sum of their lines in the
 * simulation's per-thread file; a name without digits is kept. */
Test(render_export, collapsed_thread_families_sum_their_threads)
{
	const char *bytes[] = {"--weight", "bytes", NULL};
	struct buf want = BUF_INIT, path = BUF_INIT;
	struct lines got, exp;
	struct rrun r;

	collapsed("many-threads/6262", bytes, &r);
	buf_addf(&path, "%s/expected/many-threads.collapsed", RENDER_FIXTURES);
	rrun_read(buf_cstr(&path), &want);
	split_lines(buf_cstr(&r.out), &got);
	split_lines(buf_cstr(&want), &exp);
	long long total_got = 0, total_exp = 0;
	for (size_t k = 0; k < got.n; k++) {
		size_t len;
		long long w = count_of(got.v[k], &len), sum = 0;
		const char *semi = strchr(got.v[k], ';');
		cr_assert_not_null(semi, "%s", got.v[k]);
		/* every simulated line whose thread's family and stack are this line's */
		for (size_t e = 0; e < exp.n; e++) {
			size_t elen;
			long long ew = count_of(exp.v[e], &elen);
			const char *esemi = strchr(exp.v[e], ';');
			struct buf fam = BUF_INIT;
			for (const char *p = exp.v[e]; p < esemi; p++) {
				if (*p < '0' || *p > '9') {
					buf_addch(&fam, *p);
					continue;
				}
				buf_addch(&fam, 'N');
				while (p[1] >= '0' && p[1] <= '9')
					p++;
			}
			if (fam.len == (size_t)(semi - got.v[k]) &&
			    memcmp(fam.data, got.v[k], fam.len) == 0 &&
			    elen - (size_t)(esemi - exp.v[e]) == len - (size_t)(semi - got.v[k]) &&
			    memcmp(esemi, semi, len - (size_t)(semi - got.v[k])) == 0)
				sum += ew;
			buf_free(&fam);
		}
		cr_assert_eq(w, sum, "'%s': want %lld", got.v[k], sum);
		total_got += w;
	}
	for (size_t e = 0; e < exp.n; e++) {
		size_t elen;
		total_exp += count_of(exp.v[e], &elen);
	}
	cr_assert_eq(total_got, total_exp);
	cr_assert_lt(got.n, exp.n, "no two threads' stacks were one line");
	cr_assert_not_null(strstr(buf_cstr(&r.out), "\nWorker-N;step (/opt/svc/job"), "%s",
			   buf_cstr(&r.out));
	cr_assert_not_null(strstr(buf_cstr(&r.out), "MainThread;step ("));
	cr_assert_null(strstr(buf_cstr(&r.out), "Worker-1;"));
	free_lines(&got);
	free_lines(&exp);
	rrun_free(&r);
	buf_free(&want);
	buf_free(&path);
}

Test(render_export, collapsed_options_and_file_output)
{
	char *out = rrun_tmpdir();
	struct buf file = BUF_INIT, text = BUF_INIT;
	struct rrun r;
	const char *merged[] = {"--merge-threads", "--weight", "bytes", NULL};

	collapsed("many-threads/6262", merged, &r);
	cr_assert_gt(r.out.len, 0);
	/* no thread frame: every stack starts with a function */
	for (const char *p = buf_cstr(&r.out); *p; p = strchr(p, '\n') + 1)
		cr_assert_eq(strncmp(p, "step (/opt/svc/job", 18), 0, "%.60s", p);
	rrun_free(&r);

	buf_addf(&file, "%s/stacks.folded", out);
	const char *to_file[] = {"-o", buf_cstr(&file), NULL};
	collapsed("tgattach-nested/5151", to_file, &r);
	cr_assert_eq(r.out.len, 0, "nothing on standard output");
	cr_assert_not_null(strstr(buf_cstr(&r.err), "13 stacks written"), "%s", buf_cstr(&r.err));
	rrun_read(buf_cstr(&file), &text);
	cr_assert_not_null(strstr(buf_cstr(&text), "MainThread;<module> (/opt/app/work.py:40) "));
	cr_assert_eq(rrun_count_entries(out), 1, "no temporary file left");
	rrun_free(&r);

	const char *check[] = {"folded", buf_cstr(&file), NULL};
	rrun_check(&r, check);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_str_eq(buf_cstr(&r.out), "13\n");
	rrun_free(&r);

	const char *bad[][6] = {
	    {"render", "collapsed", "--weight", "kg", RENDER_FIXTURES "/tgattach-nested/5151",
	     NULL},
	    {"render", "collapsed", "-o", "/nonexistent/dir/x.folded",
	     RENDER_FIXTURES "/tgattach-nested/5151", NULL},
	};
	int want_status[] = {2, 7};
	for (size_t i = 0; i < 2; i++) {
		rrun_tool(&r, NULL, bad[i]);
		cr_assert_eq(r.status, want_status[i], "case %zu: %d %s", i, r.status,
			     buf_cstr(&r.err));
		rrun_free(&r);
	}
	rrun_rmtree(out);
	free(out);
	buf_free(&file);
	buf_free(&text);
}

/* Lines of a file, and the distinct FILE:LINE:FUNC of a .stack file's lines. */
static size_t stack_calls(const char *path, struct lines *frames)
{
	struct buf text = BUF_INIT;
	size_t n = 0;

	rrun_read(path, &text);
	for (char *p = text.data; p && *p;) {
		char *nl = strchr(p, '\n'), *hash = strchr(p, '#');
		cr_assert(nl && hash && hash < nl);
		char *frame = strndup(hash + 1, (size_t)(nl - hash - 1));
		int seen = 0;
		for (size_t i = 0; i < frames->n && !seen; i++)
			seen = strcmp(frames->v[i], frame) == 0;
		if (seen) {
			free(frame);
		} else {
			frames->v = realloc(frames->v, (frames->n + 1) * sizeof *frames->v);
			frames->v[frames->n++] = frame;
		}
		n++;
		p = nl + 1;
	}
	buf_free(&text);
	return n;
}

Test(render_export, speedscope_valid_and_complete)
{
	for (size_t i = 0; i < NFIXTURES; i++) {
		char *out = rrun_tmpdir();
		struct buf file = BUF_INIT, dir = BUF_INIT, want = BUF_INIT, path = BUF_INIT;
		struct lines frames = {NULL, 0};
		struct rrun r;
		buf_addf(&dir, "%s/%s", RENDER_FIXTURES, fixtures[i][1]);
		buf_addf(&file, "%s/profile.speedscope.json", out);
		const char *args[] = {"render", "speedscope",	 buf_cstr(&dir),
				      "-o",	buf_cstr(&file), NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
		rrun_free(&r);
		const char *check[] = {"speedscope", buf_cstr(&file), NULL};
		rrun_check(&r, check);
		cr_assert_eq(r.status, 0, "%s: %s", fixtures[i][0], buf_cstr(&r.err));
		/* the summary: profiles in thread order with their call counts, and frames */
		buf_addstr(&want, "{\"frames\": ");
		struct buf profiles = BUF_INIT;
		static const char *const names[][16] = {
		    {"CP Server Thread-5", "MainThread", NULL},
		    {"MainThread", "worker%2f1: #2", NULL},
		    {"CP Server Thread-3", "CP Server Thread-7", "MainThread", "Worker-1",
		     "Worker-2", "Worker-3", "Worker-4", "Worker-5", "Worker-6", "Worker-7",
		     "Worker-8", "Worker-9", "Worker-10", "Worker-11", NULL},
		};
		for (size_t t = 0; names[i][t]; t++) {
			struct buf name = BUF_INIT;
			buf_reset(&path);
			buf_addf(&path, "%s/%s.stack", buf_cstr(&dir), names[i][t]);
			size_t calls = stack_calls(buf_cstr(&path), &frames);
			tg_unescape_filename(&name, names[i][t], strlen(names[i][t]));
			buf_addf(&profiles, "%s{\"calls\": %zu, \"name\": \"%s\"}", t ? ", " : "",
				 calls, buf_cstr(&name));
			buf_free(&name);
		}
		buf_addf(&want, "%zu, \"name\": ", frames.n);
		cr_assert_not_null(strstr(buf_cstr(&r.out), buf_cstr(&want)), "%s: %s",
				   fixtures[i][0], buf_cstr(&r.out));
		cr_assert_not_null(strstr(buf_cstr(&r.out), buf_cstr(&profiles)), "%s: %s\nwant %s",
				   fixtures[i][0], buf_cstr(&r.out), buf_cstr(&profiles));
		rrun_free(&r);
		free_lines(&frames);
		rrun_rmtree(out);
		free(out);
		buf_free(&file);
		buf_free(&dir);
		buf_free(&want);
		buf_free(&path);
		buf_free(&profiles);
	}
}

static void hostile_thread(const char *dir, const char *name, size_t len, const char *func,
			   size_t flen)
{
	struct buf fname = BUF_INIT, path = BUF_INIT, stack = BUF_INIT, mem = BUF_INIT;

	if (len == 7 && memcmp(name, "process", 7) == 0)
		buf_addstr(&fname, "%70rocess"); /* a thread, though its name reads "process" */
	else
		tg_escape_filename(&fname, name, len);
	for (int i = 0; i < 3; i++) {
		buf_addf(&stack, "%s1700000000.%d#", i ? " " : "", i);
		tg_escape_field(&stack, func, flen);
		buf_addf(&stack, ":%d:", 10 + i);
		tg_escape_field(&stack, func, flen);
		buf_addch(&stack, '\n');
	}
	for (int i = 2; i >= 0; i--) {
		buf_addf(&mem, "1700000001.%d#", 2 - i);
		tg_escape_field(&mem, func, flen);
		buf_addf(&mem, ":%d:", 20 + i);
		tg_escape_field(&mem, func, flen);
		buf_addf(&mem, "=>%d\n", (i + 1) * 1000);
	}
	buf_addf(&path, "%s/%s.stack", dir, buf_cstr(&fname));
	rrun_write(buf_cstr(&path), stack.data, stack.len);
	buf_reset(&path);
	buf_addf(&path, "%s/%s.mem", dir, buf_cstr(&fname));
	rrun_write(buf_cstr(&path), mem.data, mem.len);
	buf_free(&fname);
	buf_free(&path);
	buf_free(&stack);
	buf_free(&mem);
}

/* Names with quotes, backslashes, newlines, ';', control and non-UTF-8 bytes: folded
 * lines stay one per stack, the JSON stays valid. */
Test(render_export, hostile_names)
{
	char *tmp = rrun_tmpdir();
	struct buf out = BUF_INIT;
	struct rrun r;
	static const char n1[] = "q\"uote\\back\nnew;line";
	static const char f1[] = "f;g\"\\\n\x01";
	static const char n2[] = "bad\xff\xfe utf8 \xc3";
	static const char f2[] = "h\xed\xa0\x80 (x.py:1) 99";
	static const char n3[] = "process";

	hostile_thread(tmp, n1, sizeof n1 - 1, f1, sizeof f1 - 1);
	hostile_thread(tmp, n2, sizeof n2 - 1, f2, sizeof f2 - 1);
	hostile_thread(tmp, n3, sizeof n3 - 1, "p", 1);
	buf_addf(&out, "%s/out.json", tmp);
	const char *ss[] = {"render", "speedscope", tmp, "-o", buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, ss);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	const char *check[] = {"speedscope", buf_cstr(&out), NULL};
	rrun_check(&r, check);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.out), "\"name\": \"q\\\"uote\\\\back\\nnew;line\""),
			   "%s", buf_cstr(&r.out));
	cr_assert_not_null(strstr(buf_cstr(&r.out), "\"name\": \"bad\\ufffd\\ufffd utf8 \\ufffd\""),
			   "%s", buf_cstr(&r.out));
	rrun_free(&r);

	buf_reset(&out);
	buf_addf(&out, "%s/out.folded", tmp);
	const char *co[] = {"render", "collapsed", tmp, "-o", buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, co);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	const char *fcheck[] = {"folded", buf_cstr(&out), NULL};
	rrun_check(&r, fcheck);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	struct buf text = BUF_INIT;
	rrun_read(buf_cstr(&out), &text);
	cr_assert_not_null(strstr(buf_cstr(&text),
				  "q\"uote\\x5cback\\x0anew\\x3bline;"
				  "f\\x3bg\"\\x5c\\x0a\\x01 (f\\x3bg\"\\x5c\\x0a\\x01:10);"),
			   "%s", buf_cstr(&text));
	cr_assert_not_null(strstr(buf_cstr(&text),
				  "bad\\xff\\xfe utf8 \\xc3;h\\xed\\xa0\\x80 (x.py:1) "
				  "99 (h\\xed\\xa0\\x80 (x.py:1) 99:10) "),
			   "%s", buf_cstr(&text));
	cr_assert_not_null(strstr(buf_cstr(&text), "\nprocess;p (p:10) "), "%s", buf_cstr(&text));
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&out);
	buf_free(&text);
}

/* A frame with no line (-1 in .stack: a C frame with no line information) is "FUNC (FILE)"
 * in the folded stacks, never ":-1". */
Test(render_export, collapsed_leaves_an_unknown_line_out)
{
	char *tmp = rrun_tmpdir();
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct rrun r;
	static const char stack[] = "1700000000.0#app.py:3:work\n"
				    " 1700000000.1#libz.so.1:-1:deflate\n";
	static const char mem[] = "1700000000.5#libz.so.1:-1:deflate=>0\n"
				  "1700000000.9#app.py:3:work=>0\n";

	buf_addf(&path, "%s/MainThread.stack", tmp);
	rrun_write(buf_cstr(&path), stack, sizeof stack - 1);
	buf_reset(&path);
	buf_addf(&path, "%s/MainThread.mem", tmp);
	rrun_write(buf_cstr(&path), mem, sizeof mem - 1);
	buf_reset(&path);
	buf_addf(&path, "%s/out.folded", tmp);
	const char *co[] = {"render", "collapsed", tmp, "-o", buf_cstr(&path), "-q", NULL};
	rrun_tool(&r, NULL, co);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	rrun_read(buf_cstr(&path), &text);
	cr_assert_not_null(
	    strstr(buf_cstr(&text), "MainThread;work (app.py:3);deflate (libz.so.1) "), "%s",
	    buf_cstr(&text));
	cr_assert_null(strstr(buf_cstr(&text), ":-1"), "%s", buf_cstr(&text));
	const char *fcheck[] = {"folded", buf_cstr(&path), NULL};
	rrun_check(&r, fcheck);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&path);
	buf_free(&text);
}

Test(render_export, needs_stack_files)
{
	char *tmp = rrun_tmpdir();
	struct buf f = BUF_INIT;
	struct rrun r;

	buf_addf(&f, "%s/T.mem", tmp);
	rrun_write(buf_cstr(&f), "1.0#a.py:1:f=>1\n", 16);
	for (int i = 0; i < 2; i++) {
		const char *args[] = {"render", i ? "speedscope" : "collapsed", tmp, NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
		cr_assert_not_null(strstr(buf_cstr(&r.err), "no THREAD.stack files"), "%s",
				   buf_cstr(&r.err));
		cr_assert_eq(r.out.len, 0);
		rrun_free(&r);
	}
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&f);
}

/* A broken line is reported with file and line and skipped; --strict fails and leaves no
 * partial output file. */
Test(render_export, malformed_lines_and_strict)
{
	char *tmp = rrun_tmpdir();
	struct buf path = BUF_INIT, data = BUF_INIT, out = BUF_INIT;
	const char *files[] = {"MainThread.stack", "MainThread.mem"};
	struct rrun r;

	for (int i = 0; i < 2; i++) {
		buf_reset(&path);
		buf_reset(&data);
		buf_addf(&path, "%s/tgattach-nested/5151/%s", RENDER_FIXTURES, files[i]);
		rrun_read(buf_cstr(&path), &data);
		if (i == 1)
			buf_addstr(&data, "1700000009.0#no arrow here\n");
		buf_reset(&path);
		buf_addf(&path, "%s/%s", tmp, files[i]);
		rrun_write(buf_cstr(&path), data.data, data.len);
	}
	buf_addf(&out, "%s/out", tmp);
	for (int i = 0; i < 2; i++) {
		const char *cmd = i ? "speedscope" : "collapsed";
		const char *args[] = {"render", cmd, tmp, "-o", buf_cstr(&out), NULL};
		const char *strict[] = {"render", cmd, "--strict", tmp, "-o", buf_cstr(&out), NULL};
		rrun_tool(&r, NULL, args);
		cr_assert_eq(r.status, 0, "%s: %s", cmd, buf_cstr(&r.err));
		cr_assert_not_null(
		    strstr(buf_cstr(&r.err), "MainThread.mem:39: skipped malformed line: no '=>'"),
		    "%s: %s", cmd, buf_cstr(&r.err));
		cr_assert_not_null(strstr(buf_cstr(&r.err), "1 malformed line skipped"));
		rrun_free(&r);
		unlink(buf_cstr(&out));
		rrun_tool(&r, NULL, strict);
		cr_assert_eq(r.status, 9, "%s: %s", cmd, buf_cstr(&r.err));
		cr_assert_not_null(strstr(buf_cstr(&r.err), "MainThread.mem:39: malformed line"),
				   "%s", buf_cstr(&r.err));
		cr_assert(!rrun_exists(buf_cstr(&out)), "%s: partial output left", cmd);
		cr_assert_eq(rrun_count_entries(tmp), 2, "%s: a temporary file was left", cmd);
		rrun_free(&r);
	}
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&path);
	buf_free(&data);
	buf_free(&out);
}
