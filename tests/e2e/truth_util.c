/* truth_util.c: see truth_util.h. */
#include "tests/e2e/truth_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct truth_thread *find_thread(const struct truth_view *v,
					      const struct truth_thread *want)
{
	for (int i = 0; i < v->nthreads; i++)
		if (strcmp(v->threads[i].name, want->name) == 0 &&
		    (want->interp < 0 || v->threads[i].interp == want->interp))
			return &v->threads[i];
	return NULL;
}

void truth_parse_file(const char *path, struct truth_view *v)
{
	char line[2048];
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "truth file %s missing", path);
	memset(v, 0, sizeof *v);
	struct truth_thread *cur = NULL;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[5] = {0};
		int n = 0;
		for (char *p = line, *tok; n < 5 && (tok = strsep(&p, "\t"));)
			fields[n++] = tok;
		if (strcmp(fields[0], "thread") == 0 && n >= 4 && v->nthreads < TRUTH_MAX_THREADS) {
			cur = &v->threads[v->nthreads++];
			snprintf(cur->name, sizeof cur->name, "%s", fields[3]);
			cur->native = atol(fields[2]);
			cur->interp = n >= 5 ? atol(fields[4]) : -1;
		} else if (strcmp(fields[0], "frame") == 0 && n >= 4 && cur &&
			   cur->nframes < TRUTH_MAX_FRAMES) {
			struct truth_frame *fr = &cur->frames[cur->nframes++];
			snprintf(fr->file, sizeof fr->file, "%s", fields[1]);
			snprintf(fr->func, sizeof fr->func, "%s", fields[2]);
			fr->line = atoi(fields[3]);
		}
	}
	fclose(f);
}

void truth_parse_dump(const char *text, struct truth_view *v)
{
	memset(v, 0, sizeof *v);
	struct truth_thread *cur = NULL;
	char *copy = strdup(text), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long tid, interp = -1;
		char name[256];
		if (sscanf(line, "Thread %ld \"%255[^\"]\"", &tid, name) == 2 &&
		    v->nthreads < TRUTH_MAX_THREADS) {
			const char *in = strstr(line, ", interpreter ");
			if (in)
				interp = atol(in + strlen(", interpreter "));
			cur = &v->threads[v->nthreads++];
			snprintf(cur->name, sizeof cur->name, "%s", name);
			cur->native = tid;
			cur->interp = interp;
			continue;
		}
		struct truth_frame fr;
		if (cur && cur->nframes < TRUTH_MAX_FRAMES &&
		    sscanf(line, "    File \"%511[^\"]\", line %d, in %255[^\n]", fr.file, &fr.line,
			   fr.func) == 3)
			cur->frames[cur->nframes++] = fr;
	}
	free(copy);
}

void truth_compare(const char *label, const struct truth_view *truth, const struct truth_view *got)
{
	for (int i = 0; i < truth->nthreads; i++) {
		const struct truth_thread *t = &truth->threads[i];
		const struct truth_thread *g = find_thread(got, t);
		cr_assert_not_null(g, "%s: thread '%s' (interpreter %ld) missing from dump", label,
				   t->name, t->interp);
		if (t->native)
			cr_expect_eq(g->native, t->native, "%s: thread %s TID %ld, truth %ld",
				     label, t->name, g->native, t->native);
		cr_assert_eq(g->nframes, t->nframes, "%s: thread %s has %d frames, truth %d", label,
			     t->name, g->nframes, t->nframes);
		for (int k = 0; k < t->nframes; k++) {
			const struct truth_frame *a = &t->frames[k], *b = &g->frames[k];
			cr_assert_str_eq(b->file, a->file, "%s: %s frame %d file", label, t->name,
					 k);
			cr_assert_str_eq(b->func, a->func, "%s: %s frame %d function", label,
					 t->name, k);
			cr_assert_eq(b->line, a->line, "%s: %s frame %d (%s) line %d, truth %d",
				     label, t->name, k, a->func, b->line, a->line);
		}
	}
	cr_assert_eq(got->nthreads, truth->nthreads, "%s: dump shows %d threads, truth %d", label,
		     got->nthreads, truth->nthreads);
}

int truth_start_fixture(const char *label, char *const argv[], const char *truth_path,
			struct proc *fx, struct truth_view *truth)
{
	char line[256];

	cr_assert_eq(proc_spawn(fx, argv), 0, "%s: cannot start %s: %s", label, argv[0],
		     strerror(errno));
	cr_assert_eq(proc_wait_line(fx, "READY", line, sizeof line, 30000), 0,
		     "%s: fixture %s printed no READY line", label, argv[0]);
	int nthreads = atoi(line + 6);
	cr_assert_eq(fixture_wait_threads(fx->pid, nthreads, 10), 0,
		     "%s: the truth writer thread did not exit", label);
	truth_parse_file(truth_path, truth);
	return nthreads;
}

void truth_dump_and_compare(const char *label, pid_t pid, const char *extra,
			    const struct truth_view *truth)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	struct truth_view got;
	char pidstr[16];

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *argv[] = {TG_BIN, "dump", "-p", pidstr, (char *)extra, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: dump exited %d: %s", label, rc, buf_cstr(&err));
	truth_parse_dump(buf_cstr(&out), &got);
	truth_compare(label, truth, &got);
	cr_assert(proc_all_untraced_running(pid), "%s: traced or stopped after dump", label);
	buf_free(&out);
	buf_free(&err);
}

char *truth_read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

static int count_mem_lines(const char *text)
{
	int n = 0;
	const char *p = text;

	while (p && *p) {
		double t;
		unsigned long long rss;
		char tail;
		const char *nl = strchr(p, '\n');
		cr_assert_not_null(nl, "process.mem does not end with a newline");
		cr_assert(sscanf(p, "%lf#%llu%c", &t, &rss, &tail) == 3 && tail == '\n' && rss > 0,
			  "bad process.mem line: %.*s", (int)(nl - p), p);
		n++;
		p = nl + 1;
	}
	return n;
}

/* The .stack file of a parked thread holds its truth frames, outermost first, each at its
 * depth, with the line the frame was first seen at. */
static void check_stack_file(const char *label, const char *dir, const struct truth_thread *t)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s.stack", dir, t->name);
	char *text = truth_read_text(path);
	cr_assert_not_null(text, "%s: %s missing", label, path);
	const char *p = text;
	for (int k = t->nframes - 1, depth = 0; k >= 0; k--, depth++) {
		const struct truth_frame *fr = &t->frames[k];
		char want[1024];
		snprintf(want, sizeof want, "#%s:%d:%s\n", fr->file, fr->line, fr->func);
		const char *hit = strstr(p, want);
		cr_assert_not_null(hit, "%s: %s lacks call line ...%s", label, path, want);
		const char *bol = hit;
		while (bol > text && bol[-1] != '\n')
			bol--;
		int spaces = 0;
		while (bol[spaces] == ' ')
			spaces++;
		cr_assert_eq(spaces, depth, "%s: %s: %s at depth %d, want %d", label, path,
			     fr->func, spaces, depth);
		p = hit + strlen(want); /* the next call line: a recursion repeats this one */
	}
	free(text);
}

/* meta says the heap metric was used, and process.alloc has a number in its heap column. */
static void check_heap(const char *label, const char *sub, const char *meta)
{
	char path[PATH_MAX];

	cr_assert(strstr(meta, "\nmetric=heap\n"),
		  "%s: the recording did not use the heap metric:\n%s", label, meta);
	snprintf(path, sizeof path, "%s/process.alloc", sub);
	char *alloc = truth_read_text(path);
	cr_assert_not_null(alloc, "%s: %s missing", label, path);
	int col = -1, numbers = 0;
	for (char *line = strtok(alloc, "\n"); line; line = strtok(NULL, "\n")) {
		int i = 0;
		for (char *f = line, *end; f; f = end ? end + 1 : NULL, i++) {
			end = strchr(f, ' ');
			size_t n = end ? (size_t)(end - f) : strlen(f);
			if (strncmp(line, "# time ", 7) == 0 && n == 4 &&
			    strncmp(f, "heap", 4) == 0)
				col = i - 1; /* the header's first field is the '#' */
			else if (line[0] != '#' && i == col && n && f[0] >= '0' && f[0] <= '9')
				numbers++;
		}
	}
	free(alloc);
	cr_assert(col >= 0, "%s: process.alloc has no heap column", label);
	cr_assert(numbers > 0, "%s: process.alloc has no heap value", label);
}

void truth_record_and_check(const char *label, pid_t pid, const struct truth_view *truth,
			    const char *extra, const char *version)
{
	truth_record_check(label, pid, truth, extra, version, 0);
}

void truth_record_check(const char *label, pid_t pid, const struct truth_view *truth,
			const char *extra, const char *version, int need_heap)
{
	char *dir = temp_dir("record");
	char pidstr[16], sub[PATH_MAX], path[PATH_MAX];
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", dir,	   "-d",
			"1.5",	"-r", "50",   "-q", (char *)extra, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: record exited %d: %s", label, rc, buf_cstr(&err));
	snprintf(sub, sizeof sub, "%s/%d", dir, (int)pid);
	snprintf(path, sizeof path, "%s/process.mem", sub);
	char *mem = truth_read_text(path);
	cr_assert_not_null(mem, "%s: %s missing", label, path);
	int lines = count_mem_lines(mem);
	cr_assert(lines >= 20, "%s: only %d samples in 1.5 s at 50 Hz", label, lines);
	free(mem);
	/* a thread that never ran Python code (an embedding C main) has no stack events */
	for (int i = 0; i < truth->nthreads; i++)
		if (truth->threads[i].nframes > 0)
			check_stack_file(label, sub, &truth->threads[i]);
	snprintf(path, sizeof path, "%s/meta", sub);
	char *meta = truth_read_text(path);
	cr_assert(meta && strstr(meta, "version="), "%s: meta missing or lacks version", label);
	if (version) {
		char want[64];
		snprintf(want, sizeof want, "\nversion=%s\n", version);
		cr_assert(strstr(meta, want), "%s: meta lacks %s", label, want + 1);
	}
	if (need_heap)
		check_heap(label, sub, meta);
	free(meta);
	cr_assert_eq(kill(pid, 0), 0, "%s: the target died during the recording", label);
	cr_assert(proc_all_untraced_running(pid), "%s: a thread is still traced or stopped", label);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

void truth_check_source(const char *label, pid_t pid, const char *extra, const char *want)
{
	char pidstr[16], line[96];
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
	snprintf(line, sizeof line, "offsets: %s", want);
	char *argv[] = {TG_BIN, "dump", "-p", pidstr, (char *)extra, NULL};
	cr_assert_eq(run_capture(argv, &out, &err, 60), 0, "%s: dump: %s", label, buf_cstr(&err));
	const char *eol = strchr(buf_cstr(&out), '\n');
	const char *hit = strstr(buf_cstr(&out), line);
	cr_assert(hit && (!eol || hit < eol), "%s: the layout source is not %s: %.200s", label,
		  want, buf_cstr(&out));
	buf_free(&out);
	buf_free(&err);
}
