/* Memory, end to end: fixtures/alloc_threads.py runs named threads that allocate and free
 * known amounts in known functions, and measures its own truth with tracemalloc; a real
 * recording must charge each growing thread the majority of its growth, rank the busiest
 * allocator first, charge the releasing thread a release and the idle thread nothing (a
 * recording that misses one of these figures is made again; three in a row fail);
 * process.alloc must be a well-formed table that gnuplot reads, whose block count equals
 * the interpreter's own sys.getallocatedblocks(), as `tgattach info` must; --filter must
 * charge the memory of filtered-out callees to the kept caller; --no-stack must drop the
 * .stack files and keep the .mem files.  --process-interval and bad memory options:
 * test_memory_options.c. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/escape.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

#define MAX_WORKERS 8
#define MIB (1024.0 * 1024.0)
#define ALLOC_COLS 12 /* time + 11 values */
#define ACCURACY_TRIES 3

struct worker_truth {
	char thread[64], func[64];
	long long net; /* tracemalloc's truth */
	long long charged;
	int seen; /* the function's return line was found */
};

struct run {
	char label[64];
	char *dir; /* the output directory (DIR, files in DIR/PID) */
	char piddir[PATH_MAX];
	pid_t pid;
	struct proc fx;
	long long blocks; /* sys.getallocatedblocks() when the fixture was done */
	double done_at;
	int nworkers;
	struct worker_truth w[MAX_WORKERS];
};

TestSuite(memory, .timeout = 120);

static const char *fixture_path(char *out, size_t len)
{
	char cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(out, len, "%s/fixtures/alloc_threads.py", cwd);
	return out;
}

static void read_truth(struct run *r, const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: truth file %s missing", r->label, path);
	while (fgets(line, sizeof line, f)) {
		struct worker_truth *w = &r->w[r->nworkers];
		if (r->nworkers < MAX_WORKERS && sscanf(line, "func\t%63[^\t]\t%63[^\t]\t%lld",
							w->thread, w->func, &w->net) == 3)
			r->nworkers++;
	}
	fclose(f);
	cr_assert_eq(r->nworkers, 6, "%s: truth has %d workers", r->label, r->nworkers);
}

/* The sum of the return deltas of w->func in THREAD.mem (each worker calls it once). */
static void read_charged(struct run *r, struct worker_truth *w)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s.mem", r->piddir, w->thread);
	char *text = truth_read_text(path);
	cr_assert_not_null(text, "%s: %s missing", r->label, path);
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, "=>"), *colon;
		if (!arrow)
			continue;
		*arrow = '\0';
		colon = strrchr(line, ':');
		struct buf func = BUF_INIT;
		tg_unescape_field(&func, colon + 1, strlen(colon + 1));
		if (strcmp(buf_cstr(&func), w->func) == 0) {
			w->charged += atoll(arrow + 2);
			w->seen = 1;
		}
		buf_free(&func);
	}
	free(text);
}

/* process.charge: the last total of `thread` (TIME#BYTES#THREAD lines), *found set. */
static long long charge_total(const struct run *r, const char *thread, int *found)
{
	char path[PATH_MAX];
	long long total = 0;

	snprintf(path, sizeof path, "%s/process.charge", r->piddir);
	char *text = truth_read_text(path);
	cr_assert_not_null(text, "%s: %s missing", r->label, path);
	*found = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *a = strchr(line, '#'), *b = a ? strchr(a + 1, '#') : NULL;
		if (line[0] == '#' || !b || strcmp(b + 1, thread) != 0)
			continue;
		total = atoll(a + 1);
		*found = 1;
	}
	free(text);
	return total;
}

/* The DELTA of the last return in THREAD.mem: its outermost call (post-order). */
static long long last_return(const struct run *r, const char *thread)
{
	char path[PATH_MAX];
	long long delta = 0;

	snprintf(path, sizeof path, "%s/%s.mem", r->piddir, thread);
	char *text = truth_read_text(path);
	cr_assert_not_null(text, "%s: %s missing", r->label, path);
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *arrow = strstr(line, "=>");
		if (arrow)
			delta = atoll(arrow + 2);
	}
	free(text);
	return delta;
}

/* process.charge (render memg's lines) ends, for each worker, at what its outermost call
 * was charged, and a growing worker's total is within a factor 2 of its truth. */
static void check_charge_file(const struct run *r)
{
	for (int i = 0; i < r->nworkers; i++) {
		const struct worker_truth *w = &r->w[i];
		int found;
		long long total = charge_total(r, w->thread, &found);
		long long outer = last_return(r, w->thread);
		fprintf(stderr, "memory %-24s %-8s process.charge %7.1f MiB outermost %7.1f MiB\n",
			r->label, w->thread, (double)total / MIB, (double)outer / MIB);
		if (w->net > (long long)MIB) {
			cr_expect(found, "%s: no process.charge line of %s", r->label, w->thread);
			cr_expect(total > w->net / 2 && total < 2 * w->net,
				  "%s: %s grew %.1f MiB, process.charge says %.1f MiB", r->label,
				  w->thread, (double)w->net / MIB, (double)total / MIB);
		}
		cr_expect(llabs(total - outer) <= (llabs(outer) + (long long)MIB) / 100,
			  "%s: %s: process.charge ends at %lld, its outermost call at %lld",
			  r->label, w->thread, total, outer);
	}
}

static int traced(pid_t pid)
{
	return proc_status_long(pid, "TracerPid") > 0;
}

/* Start the fixture (scale), record it with tgattach and extra arguments from before "go"
 * until it is done, then read the truth and the charges. */
static void record_fixture(struct run *r, const char *label, const char *python, const char *scale,
			   const char *const *extra, size_t nextra)
{
	char fixture[PATH_MAX], truth[PATH_MAX], pidarg[16], line[256];
	struct proc tg;
	int status;

	memset(r, 0, sizeof *r);
	snprintf(r->label, sizeof r->label, "%s", label);
	r->dir = temp_dir("memory");
	snprintf(truth, sizeof truth, "%s/truth.txt", r->dir);
	/* niced: its busy threads must not starve the tests running beside it (the recording
	 * only needs them to interleave, not to be fast) */
	char *fargv[] = {"nice",
			 "-n",
			 "10",
			 (char *)python,
			 (char *)fixture_path(fixture, sizeof fixture),
			 truth,
			 (char *)scale,
			 NULL};
	cr_assert_eq(proc_spawn(&r->fx, fargv), 0, "%s: %s", label, strerror(errno));
	cr_assert_eq(proc_wait_line(&r->fx, "READY", line, sizeof line, 30000), 0,
		     "%s: the fixture did not start", label);
	r->pid = r->fx.pid;
	snprintf(r->piddir, sizeof r->piddir, "%s/%d", r->dir, (int)r->pid);
	snprintf(pidarg, sizeof pidarg, "%d", (int)r->pid);
	char *argv[16] = {TG_BIN, "-p", pidarg, "-o", r->dir, "-q", "-r", "100"};
	size_t argc = 8;
	for (size_t i = 0; i < nextra && argc < 15; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;
	cr_assert_eq(proc_spawn(&tg, argv), 0);
	long until = proc_now_ms() + 20000;
	while (!traced(r->pid) && proc_now_ms() < until)
		usleep(10000);
	cr_assert(traced(r->pid), "%s: tgattach did not attach", label);
	usleep(300000);
	cr_assert_eq(proc_send(&r->fx, "go\n"), 0);
	cr_assert_eq(proc_wait_line(&r->fx, "DONE", line, sizeof line, 90000), 0,
		     "%s: the fixture did not finish", label);
	cr_assert_eq(sscanf(line, "DONE %lld %lf", &r->blocks, &r->done_at), 2, "%s", line);
	usleep(600000); /* quiet rows after DONE, for the block count */
	kill(tg.pid, SIGINT);
	cr_assert_eq(proc_wait_exit(&tg, 30000, &status), 0, "%s: tgattach did not stop", label);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: tgattach status 0x%x", label,
		  status);
	proc_reap(&tg);
	cr_assert(proc_all_untraced_running(r->pid), "%s: the fixture was left traced", label);
	read_truth(r, truth);
	for (int i = 0; i < r->nworkers; i++)
		read_charged(r, &r->w[i]);
}

static void run_free(struct run *r)
{
	proc_reap(&r->fx);
	remove_tree(r->dir);
	free(r->dir);
}

static const struct worker_truth *worker(const struct run *r, const char *thread)
{
	for (int i = 0; i < r->nworkers; i++)
		if (strcmp(r->w[i].thread, thread) == 0)
			return &r->w[i];
	cr_assert_fail("%s: no worker %s", r->label, thread);
	return NULL;
}

/* Appends one accuracy miss to why (a run's figures vary with the machine's load). */
static int missed(struct buf *why, const char *fmt, ...)
{
	va_list ap;

	if (why->len)
		buf_addstr(why, "; ");
	va_start(ap, fmt);
	buf_vaddf(why, fmt, ap);
	va_end(ap);
	return 1;
}

/* Each grower is charged the majority of its growth (and not twice it); the busiest is
 * ranked first; the cleaner is charged a release of at least a fifth of it; idle
 * (sleeping) nearly nothing.  Returns the number of misses, described in why. */
static int accuracy_misses(const struct run *r, struct buf *why)
{
	long long largest = 0;
	const struct worker_truth *busiest = NULL, *top = NULL;
	int n = 0;

	buf_reset(why);
	for (int i = 0; i < r->nworkers; i++) {
		const struct worker_truth *w = &r->w[i];
		fprintf(stderr, "memory %-24s %-8s truth %7.1f MiB charged %7.1f MiB\n", r->label,
			w->thread, (double)w->net / MIB, (double)w->charged / MIB);
		cr_assert(w->seen, "%s: no return line of %s in %s.mem", r->label, w->func,
			  w->thread);
		if (!busiest || w->net > busiest->net)
			busiest = w;
		if (!top || w->charged > top->charged)
			top = w;
		if (llabs(w->net) > largest)
			largest = llabs(w->net);
	}
	for (int i = 0; i < r->nworkers; i++) {
		const struct worker_truth *w = &r->w[i];
		if (w->net > (long long)MIB &&
		    !(w->charged > w->net / 2 && w->charged < 2 * w->net))
			n += missed(why, "%s grew %.1f MiB but was charged %.1f MiB", w->thread,
				    (double)w->net / MIB, (double)w->charged / MIB);
	}
	if (strcmp(top->thread, busiest->thread) != 0)
		n += missed(why, "the busiest allocator is %s, but %s was charged most",
			    busiest->thread, top->thread);
	const struct worker_truth *cleaner = worker(r, "cleaner"), *idle = worker(r, "idle");
	if (!(cleaner->charged < cleaner->net / 5))
		n += missed(why, "the cleaner released %.1f MiB but was charged %.1f MiB",
			    (double)cleaner->net / MIB, (double)cleaner->charged / MIB);
	if (!(llabs(idle->charged) < largest / 20))
		n += missed(why, "the idle thread was charged %.1f MiB",
			    (double)idle->charged / MIB);
	return n;
}

/* Every data row has the time and ten values or "?", times increase; returns the blocks
 * of the last row after the fixture was done (or -1). */
static long long check_alloc_table(const struct run *r, const char *expect_missing_col)
{
	char path[PATH_MAX], cols[ALLOC_COLS][32];
	int missing_col = -1, rows = 0, header = 0;
	long long blocks = -1;
	double last = 0;

	snprintf(path, sizeof path, "%s/process.alloc", r->piddir);
	char *text = truth_read_text(path);
	cr_assert_not_null(text, "%s: %s missing", r->label, path);
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			if (sscanf(line,
				   "# time %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s %31s",
				   cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7],
				   cols[8], cols[9], cols[10], cols[11]) == 11) {
				header = 1;
				for (int c = 1; c < ALLOC_COLS; c++)
					if (expect_missing_col &&
					    !strcmp(cols[c], expect_missing_col))
						missing_col = c;
			}
			continue;
		}
		cr_assert(header, "%s: a row before the column header", r->label);
		char *field[ALLOC_COLS + 1];
		int n = 0;
		for (char *fs = NULL, *f = strtok_r(line, " ", &fs); f && n <= ALLOC_COLS;
		     f = strtok_r(NULL, " ", &fs))
			field[n++] = f;
		cr_assert_eq(n, ALLOC_COLS, "%s: a row of %d fields", r->label, n);
		double t = strtod(field[0], NULL);
		cr_assert(t > last, "%s: time goes back in process.alloc", r->label);
		last = t;
		for (int c = 1; c < ALLOC_COLS; c++) {
			char *end;
			if (strcmp(field[c], "?") == 0)
				continue;
			errno = 0;
			strtoull(field[c], &end, 10);
			cr_assert(!*end && !errno && field[c][0] != '-', "%s: bad value '%s'",
				  r->label, field[c]);
			cr_assert_neq(c, missing_col, "%s: %s is hidden but has a value", r->label,
				      expect_missing_col);
		}
		if (t > r->done_at + 0.1 && strcmp(field[7], "?") != 0)
			blocks = atoll(field[7]);
		rows++;
	}
	cr_assert(header && !strcmp(cols[7], "blocks"), "%s: no column header", r->label);
	cr_assert(!expect_missing_col || missing_col > 0, "%s: no column %s", r->label,
		  expect_missing_col);
	cr_assert_gt(rows, 100, "%s: %d rows", r->label, rows);
	free(text);
	return blocks;
}

/* gnuplot reads the table as it is written. */
static void check_gnuplot_reads(const struct run *r)
{
	char path[PATH_MAX], script[PATH_MAX + 256];
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (access("/usr/bin/gnuplot", X_OK) != 0)
		return;
	snprintf(path, sizeof path, "%s/process.alloc", r->piddir);
	snprintf(script, sizeof script,
		 "set datafile missing \"?\"; stats \"%s\" using 1:5 nooutput; "
		 "print STATS_records",
		 path);
	char *argv[] = {"/usr/bin/gnuplot", "-e", script, NULL};
	int rc = run_capture(argv, &out, &err, 30);
	cr_assert_eq(rc, 0, "%s: gnuplot: %s", r->label, buf_cstr(&err));
	cr_assert_gt(atol(buf_cstr(&err)) + atol(buf_cstr(&out)), 50,
		     "%s: gnuplot saw %s%s records", r->label, buf_cstr(&out), buf_cstr(&err));
	buf_free(&out);
	buf_free(&err);
}

static void close_enough(const char *label, const char *what, long long got, long long want)
{
	long long tol = want / 100 > 500 ? want / 100 : 500;

	cr_assert(got >= 0 && llabs(got - want) <= tol,
		  "%s: %s %lld blocks, the interpreter counted %lld", label, what, got, want);
}

static long long info_blocks(const struct run *r, const char *offsets)
{
	char pidarg[16];
	struct buf out = BUF_INIT, err = BUF_INIT;
	long long blocks = -1;

	snprintf(pidarg, sizeof pidarg, "%d", (int)r->pid);
	char *argv[] = {TG_BIN, "info", "-p", pidarg, (char *)offsets, NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "%s: info exited %d: %s", r->label, rc, buf_cstr(&err));
	const char *p = strstr(buf_cstr(&out), "\n  blocks ");
	cr_assert_not_null(p, "%s: info shows no blocks:\n%s", r->label, buf_cstr(&out));
	sscanf(p, "\n  blocks %lld", &blocks);
	buf_free(&out);
	buf_free(&err);
	return blocks;
}

/* Records the fixture until a recording meets accuracy_misses' expectations.  The split
 * of a change between two threads that held the GIL in turn is an estimate, whose error
 * grows with the machine's load (docs/memory.md, "Accuracy, measured"): a recording that
 * misses is made again, and the test fails when ACCURACY_TRIES in a row miss. */
static void record_accurately(struct run *r, const char *label, const char *python,
			      const char *const *extra, size_t nextra)
{
	struct buf why = BUF_INIT;
	int misses = 0;

	for (int t = 1; t <= ACCURACY_TRIES; t++) {
		record_fixture(r, label, python, "1", extra, nextra);
		misses = accuracy_misses(r, &why);
		if (!misses || t == ACCURACY_TRIES)
			break;
		fprintf(stderr, "memory %-24s accuracy missed in run %d (%s): recording again\n",
			label, t, buf_cstr(&why));
		run_free(r);
	}
	cr_expect_eq(misses, 0, "%s: %d recordings in a row missed; the last: %s", label,
		     ACCURACY_TRIES, buf_cstr(&why));
	buf_free(&why);
}

static void accuracy_entry(const char *label, const char *python, const char *offsets,
			   const char *missing_col)
{
	const char *extra[] = {offsets};
	struct run r;
	char meta_path[PATH_MAX];

	record_accurately(&r, label, python, extra, offsets ? 1 : 0);
	check_charge_file(&r);
	close_enough(label, "process.alloc", check_alloc_table(&r, missing_col), r.blocks);
	close_enough(label, "info", info_blocks(&r, offsets), r.blocks);
	check_gnuplot_reads(&r);
	snprintf(meta_path, sizeof meta_path, "%s/meta", r.piddir);
	char *meta = truth_read_text(meta_path);
	cr_assert(meta && strstr(meta, "\nmetric=heap\n") && strstr(meta, "\nmetrics=rss heap\n"),
		  "%s: meta lacks the metrics:\n%s", label, meta ? meta : "");
	/* a change charged to the one thread that held the GIL is read again after its walk
	 * (memtrack_micro_again): some are, and never more than the walks */
	long long walks = -1, again = -1;
	const char *w = strstr(meta, "\nmem_micro_walks="), *a = strstr(meta, "\nmem_micro_again=");
	cr_assert(w && a && sscanf(w, "\nmem_micro_walks=%lld", &walks) == 1 &&
		      sscanf(a, "\nmem_micro_again=%lld", &again) == 1,
		  "%s: meta lacks mem_micro_walks or mem_micro_again", label);
	cr_assert(again > 0 && again <= walks, "%s: mem_micro_again=%lld of %lld walks", label,
		  again, walks);
	if (missing_col) {
		char want[64];
		snprintf(want, sizeof want, "alloc_missing=%s: stripped", missing_col);
		cr_assert_not_null(strstr(meta, want), "%s: meta does not say why %s is missing",
				   label, missing_col);
	}
	free(meta);
	run_free(&r);
}

static int find_python(const char *label, const char *prefix, char *out, size_t len)
{
	if (prefix[0] == '/') {
		snprintf(out, len, "%s", prefix);
		if (access(out, X_OK) == 0)
			return 0;
	} else if (pyenv_python(prefix, out, len) == 0) {
		return 0;
	}
	fprintf(stderr, "memory %-24s skipped: %s not installed\n", label, prefix);
	return -1;
}

Test(memory, accuracy_pyenv_3_11)
{
	char py[PATH_MAX];

	if (find_python("pyenv 3.11", "3.11.", py, sizeof py) < 0)
		cr_skip_test("pyenv 3.11 is not installed");
	accuracy_entry("pyenv 3.11", py, NULL, NULL);
}

Test(memory, accuracy_pyenv_3_12)
{
	char py[PATH_MAX];

	if (find_python("pyenv 3.12", "3.12.", py, sizeof py) < 0)
		cr_skip_test("pyenv 3.12 is not installed");
	accuracy_entry("pyenv 3.12", py, NULL, NULL);
}

/* The stripped static Debian binary without its debug file: pymalloc's statics are found
 * by decoding _Py_GetAllocatedBlocks, which does not name narenas_highwater. */
Test(memory, accuracy_debian_3_11_stripped)
{
	char py[PATH_MAX];

	if (find_python("debian 3.11 (builtin)", "/usr/bin/python3.11", py, sizeof py) < 0)
		cr_skip_test("/usr/bin/python3.11 is not installed");
	accuracy_entry("debian 3.11 (builtin)", py, "--offsets=builtin", "arenas_highwater");
}

/* Memory allocated in alloc_rows.make_rows (another file, filtered out) is charged to
 * load_table, its caller that was kept; no line names a file outside the prefix. */
Test(memory, filter_charges_kept_caller)
{
	char py[PATH_MAX], prefix[PATH_MAX + 16], fixture[PATH_MAX];
	struct run r;

	if (find_python("filter", "3.12.", py, sizeof py) < 0)
		cr_skip_test("pyenv 3.12 is not installed");
	snprintf(prefix, sizeof prefix, "--filter=%s", fixture_path(fixture, sizeof fixture));
	const char *extra[] = {prefix};
	record_fixture(&r, "filter", py, "0.5", extra, 1);
	const struct worker_truth *loader = worker(&r, "loader");
	cr_assert(loader->seen, "no load_table return line");
	cr_assert(loader->charged > loader->net / 2, "load_table charged %.1f of %.1f MiB",
		  (double)loader->charged / MIB, (double)loader->net / MIB);
	DIR *d = opendir(r.piddir);
	struct dirent *de;
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".mem") ||
		    !strcmp(de->d_name, "process.mem"))
			continue;
		char path[PATH_MAX + 256];
		snprintf(path, sizeof path, "%s/%s", r.piddir, de->d_name);
		char *text = truth_read_text(path);
		for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *hash = strchr(line, '#');
			cr_assert(hash && strncmp(hash + 1, fixture, strlen(fixture)) == 0,
				  "%s: a line outside the filter: %s", de->d_name, line);
		}
		free(text);
	}
	closedir(d);
	run_free(&r);
}

Test(memory, no_stack_keeps_mem)
{
	char py[PATH_MAX];
	struct run r;

	if (find_python("no-stack", "3.11.", py, sizeof py) < 0)
		cr_skip_test("pyenv 3.11 is not installed");
	const char *extra[] = {"--no-stack"};
	record_fixture(&r, "no-stack", py, "0.3", extra, 1);
	DIR *d = opendir(r.piddir);
	struct dirent *de;
	int mems = 0;
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		cr_assert(len < 6 || strcmp(de->d_name + len - 6, ".stack") != 0,
			  "--no-stack wrote %s", de->d_name);
		mems += len > 4 && !strcmp(de->d_name + len - 4, ".mem");
	}
	closedir(d);
	cr_assert_geq(mems, 7, "process.mem and a .mem per thread: %d", mems);
	for (int i = 0; i < r.nworkers; i++)
		cr_assert(r.w[i].seen, "%s.mem has no return of %s", r.w[i].thread, r.w[i].func);
	run_free(&r);
}
