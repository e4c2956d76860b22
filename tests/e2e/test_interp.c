/* The interpreter matrix: for every CPython installed here, `tgattach dump` must equal the
 * fixture's own sys._current_frames() frame for frame, and a short recording must write
 * the expected files, after which the fixture runs on untraced. */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/run_util.h"

#define MAX_THREADS 16
#define MAX_FRAMES 64

struct tframe {
	char file[512], func[256];
	int line;
};

struct tthread {
	char name[256];
	long native;
	int nframes;
	struct tframe frames[MAX_FRAMES]; /* innermost first */
};

struct view {
	int nthreads;
	struct tthread threads[MAX_THREADS];
};

static struct tthread *find_thread(struct view *v, const char *name)
{
	for (int i = 0; i < v->nthreads; i++)
		if (strcmp(v->threads[i].name, name) == 0)
			return &v->threads[i];
	return NULL;
}

static void parse_truth(const char *path, struct view *v)
{
	char line[2048];
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "truth file %s missing", path);
	memset(v, 0, sizeof *v);
	struct tthread *cur = NULL;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[5] = {0};
		int n = 0;
		for (char *p = line, *tok; n < 5 && (tok = strsep(&p, "\t")); )
			fields[n++] = tok;
		if (strcmp(fields[0], "thread") == 0 && n >= 4 && v->nthreads < MAX_THREADS) {
			cur = &v->threads[v->nthreads++];
			snprintf(cur->name, sizeof cur->name, "%s", fields[3]);
			cur->native = atol(fields[2]);
		} else if (strcmp(fields[0], "frame") == 0 && n >= 4 && cur &&
			   cur->nframes < MAX_FRAMES) {
			struct tframe *fr = &cur->frames[cur->nframes++];
			snprintf(fr->file, sizeof fr->file, "%s", fields[1]);
			snprintf(fr->func, sizeof fr->func, "%s", fields[2]);
			fr->line = atoi(fields[3]);
		}
	}
	fclose(f);
}

/* Parse `tgattach dump` output (names contain no quotes or escapes in this fixture). */
static void parse_dump(const char *text, struct view *v)
{
	memset(v, 0, sizeof *v);
	struct tthread *cur = NULL;
	char *copy = strdup(text), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long tid;
		char name[256];
		if (sscanf(line, "Thread %ld \"%255[^\"]\"", &tid, name) == 2 &&
		    v->nthreads < MAX_THREADS) {
			cur = &v->threads[v->nthreads++];
			snprintf(cur->name, sizeof cur->name, "%s", name);
			cur->native = tid;
			continue;
		}
		struct tframe fr;
		if (cur && cur->nframes < MAX_FRAMES &&
		    sscanf(line, "    File \"%511[^\"]\", line %d, in %255[^\n]", fr.file, &fr.line,
			   fr.func) == 3)
			cur->frames[cur->nframes++] = fr;
	}
	free(copy);
}

static void compare_views(const char *label, struct view *truth, struct view *got)
{
	for (int i = 0; i < truth->nthreads; i++) {
		struct tthread *t = &truth->threads[i];
		struct tthread *g = find_thread(got, t->name);
		cr_assert_not_null(g, "%s: thread '%s' missing from dump", label, t->name);
		if (t->native)
			cr_expect_eq(g->native, t->native, "%s: thread %s TID %ld, truth %ld", label,
				     t->name, g->native, t->native);
		cr_assert_eq(g->nframes, t->nframes, "%s: thread %s has %d frames, truth %d", label,
			     t->name, g->nframes, t->nframes);
		for (int k = 0; k < t->nframes; k++) {
			struct tframe *a = &t->frames[k], *b = &g->frames[k];
			cr_assert_str_eq(b->file, a->file, "%s: %s frame %d file", label, t->name, k);
			cr_assert_str_eq(b->func, a->func, "%s: %s frame %d function", label, t->name,
					 k);
			cr_assert_eq(b->line, a->line, "%s: %s frame %d (%s) line %d, truth %d", label,
				     t->name, k, a->func, b->line, a->line);
		}
	}
	cr_assert_eq(got->nthreads, truth->nthreads, "%s: dump shows %d threads, truth %d", label,
		     got->nthreads, truth->nthreads);
}

static char *read_file(const char *path)
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

static int count_lines_matching_mem(const char *text)
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
static void check_stack_file(const char *label, const char *dir, const struct tthread *t)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s.stack", dir, t->name);
	char *text = read_file(path);
	cr_assert_not_null(text, "%s: %s missing", label, path);
	const char *p = text;
	for (int k = t->nframes - 1, depth = 0; k >= 0; k--, depth++) {
		const struct tframe *fr = &t->frames[k];
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
		cr_assert_eq(spaces, depth, "%s: %s: %s at depth %d, want %d", label, path, fr->func,
			     spaces, depth);
		p = hit;
	}
	free(text);
}

static void record_and_check(const char *label, struct fixture *fx, struct view *truth,
			     const char *offsets_arg)
{
	char *dir = temp_dir("interp");
	char pid[16], sub[PATH_MAX], path[PATH_MAX];
	struct buf out = BUF_INIT, err = BUF_INIT;

	snprintf(pid, sizeof pid, "%d", (int)fx->pid);
	char *argv[] = {TG_BIN, "-p", pid, "-o", dir, "-d", "1.5", "-r", "50", "-q",
			(char *)offsets_arg, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: record exited %d: %s", label, rc, buf_cstr(&err));
	snprintf(sub, sizeof sub, "%s/%d", dir, (int)fx->pid);
	snprintf(path, sizeof path, "%s/process.mem", sub);
	char *mem = read_file(path);
	cr_assert_not_null(mem, "%s: %s missing", label, path);
	int lines = count_lines_matching_mem(mem);
	cr_assert(lines >= 20, "%s: only %d samples in 1.5 s at 50 Hz", label, lines);
	free(mem);
	for (int i = 0; i < truth->nthreads; i++)
		check_stack_file(label, sub, &truth->threads[i]);
	snprintf(path, sizeof path, "%s/meta", sub);
	char *meta = read_file(path);
	cr_assert(meta && strstr(meta, "version="), "%s: meta missing or lacks version", label);
	free(meta);
	cr_assert_eq(kill(fx->pid, 0), 0, "%s: fixture died during the recording", label);
	cr_assert(proc_all_untraced_running(fx->pid), "%s: a thread is still traced or stopped",
		  label);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}

static void run_matrix_entry(const char *label, const char *python, const char *offsets_arg)
{
	char *dir = temp_dir("truth");
	char truth_path[PATH_MAX], fixture[PATH_MAX], cwd[PATH_MAX], pid[16];
	struct fixture fx;
	struct view truth, got;
	struct buf out = BUF_INIT, err = BUF_INIT;

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(fixture, sizeof fixture, "%s/fixtures/threads.py", cwd);
	snprintf(truth_path, sizeof truth_path, "%s/truth.txt", dir);
	char *fargv[] = {(char *)python, fixture, truth_path, NULL};
	cr_assert_eq(fixture_start(&fx, fargv, "READY", 30), 0, "%s: fixture did not start",
		     label);
	int nthreads = atoi(fx.line + 6);
	cr_assert_eq(fixture_wait_threads(fx.pid, nthreads, 10), 0,
		     "%s: the truth writer thread did not exit", label);
	parse_truth(truth_path, &truth);
	cr_assert_eq(truth.nthreads, nthreads, "%s: truth has %d threads", label, truth.nthreads);

	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *argv[] = {TG_BIN, "dump", "-p", pid, (char *)offsets_arg, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: dump exited %d: %s", label, rc, buf_cstr(&err));
	parse_dump(buf_cstr(&out), &got);
	compare_views(label, &truth, &got);
	cr_assert(proc_all_untraced_running(fx.pid), "%s: traced or stopped after dump", label);

	record_and_check(label, &fx, &truth, offsets_arg);
	fixture_stop(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
	fprintf(stderr, "interpreter %-22s passed (%s)\n", label, python);
}

static void pyenv_entry(const char *prefix)
{
	char python[PATH_MAX], label[64];

	snprintf(label, sizeof label, "pyenv %s", prefix);
	if (pyenv_python(prefix, python, sizeof python) < 0) {
		fprintf(stderr, "interpreter %-22s skipped: no pyenv %sx installed\n", label, prefix);
		cr_skip_test("pyenv %sx is not installed", prefix);
	}
	run_matrix_entry(label, python, NULL);
}

static void system_entry(const char *label, const char *python, const char *offsets_arg)
{
	if (access(python, X_OK) != 0) {
		fprintf(stderr, "interpreter %-22s skipped: %s is not installed\n", label, python);
		cr_skip_test("%s is not installed", python);
	}
	run_matrix_entry(label, python, offsets_arg);
}

TestSuite(interp, .timeout = 120);

Test(interp, pyenv_2_7) { pyenv_entry("2.7."); }
Test(interp, pyenv_3_6) { pyenv_entry("3.6."); }
Test(interp, pyenv_3_7) { pyenv_entry("3.7."); }
Test(interp, pyenv_3_8) { pyenv_entry("3.8."); }
Test(interp, pyenv_3_9) { pyenv_entry("3.9."); }
Test(interp, pyenv_3_10) { pyenv_entry("3.10."); }
Test(interp, pyenv_3_11) { pyenv_entry("3.11."); }
Test(interp, pyenv_3_12) { pyenv_entry("3.12."); }
Test(interp, pyenv_3_13) { pyenv_entry("3.13."); }
Test(interp, debian_3_11_static) { system_entry("debian 3.11 (dwarf)", "/usr/bin/python3.11", NULL); }
Test(interp, debian_3_11_builtin)
{
	system_entry("debian 3.11 (builtin)", "/usr/bin/python3.11", "--offsets=builtin");
}
Test(interp, debian_3_11_debug) { system_entry("debian 3.11d", "/usr/bin/python3.11d", NULL); }
