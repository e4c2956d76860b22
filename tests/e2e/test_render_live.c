/* End-to-end: the exports of a live recording hold every thread's time, parked threads
 * included (a call that never returns is closed at the end of the recording with its
 * time): fixtures/threads.py parks four named threads, recorded 2 s at 100 Hz, then
 * collapsed, speedscope (checked against its schema) and pprof (decoded by pprof-format). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/e2e/run_util.h"

#define NODE_MODULES "build/npm/node_modules"
#define MIN_SAMPLES 150 /* of the 200 a 2 s recording at 100 Hz has */

/* Samples per thread from folded lines "THREAD;...;FRAME N" (pprof_fold: "... N BYTES
 * pid=P", samples_field 1 from the end of 3); names[] gets the threads. */
static size_t per_thread(const char *text, int pprof, char names[][64], long *samples, size_t max)
{
	char *copy = strdup(text), *save = NULL;
	size_t n = 0;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *semi = strchr(l, ';'), *sp = strrchr(l, ' ');
		if (!semi || !sp || strncmp(l, "types ", 6) == 0 || strncmp(l, "period ", 7) == 0)
			continue;
		if (pprof) { /* "... SAMPLES BYTES pid=P" */
			*sp = '\0';
			sp = strrchr(l, ' ');
			*sp = '\0';
			sp = strrchr(l, ' ');
		}
		long v = strtol(sp + 1, NULL, 10);
		*semi = '\0';
		size_t i = 0;
		while (i < n && strcmp(names[i], l) != 0)
			i++;
		if (i == n && n < max) {
			snprintf(names[n], 64, "%s", l);
			samples[n++] = 0;
		}
		if (i < n)
			samples[i] += v;
	}
	free(copy);
	return n;
}

static void assert_every_thread(const char *what, const char *text, int pprof)
{
	char names[16][64];
	long samples[16];
	size_t n = per_thread(text, pprof, names, samples, 16);

	cr_assert_geq(n, 4, "%s: %zu threads:\n%s", what, n, text);
	for (size_t i = 0; i < n; i++)
		cr_assert_geq(samples[i], MIN_SAMPLES, "%s: thread %s has %ld samples", what,
			      names[i], samples[i]);
}

Test(render_live, exports_hold_parked_threads, .timeout = 120)
{
	struct fixture fx;
	char pid[16], rec[PATH_MAX + 32], file[PATH_MAX + 32];
	char *dir = temp_dir("live");
	struct buf out = BUF_INIT, err = BUF_INIT;

	cr_assert_eq(threads_fixture_start(&fx, dir), 0, "fixture did not start");
	snprintf(pid, sizeof pid, "%d", (int)fx.pid);
	char *record[] = {TG_BIN, "-p", pid, "-o", dir, "-d", "2", "-r", "100", "-q", NULL};
	cr_assert_eq(run_capture(record, &out, &err, 60), 0, "%s", buf_cstr(&err));
	fixture_stop(&fx);
	snprintf(rec, sizeof rec, "%s/%s", dir, pid);

	char *collapsed[] = {TG_BIN, "render", "collapsed", rec, "--interval", "0.01", "-q", NULL};
	cr_assert_eq(run_capture(collapsed, &out, &err, 60), 0, "%s", buf_cstr(&err));
	assert_every_thread("collapsed", buf_cstr(&out), 0);

	if (access(NODE_MODULES "/pprof-format/package.json", F_OK) == 0) {
		snprintf(file, sizeof file, "%s/p.pb.gz", dir);
		char *pprof[] = {TG_BIN, "render", "pprof", rec,  "--interval",
				 "0.01", "-o",	   file,    "-q", NULL};
		cr_assert_eq(run_capture(pprof, &out, &err, 60), 0, "%s", buf_cstr(&err));
		char *fold[] = {"/usr/bin/env", "NODE_PATH=" NODE_MODULES,
				"node",		"tests/js/pprof_fold.cjs",
				file,		NULL};
		cr_assert_eq(run_capture(fold, &out, &err, 60), 0, "%s", buf_cstr(&err));
		assert_every_thread("pprof", buf_cstr(&out), 1);
		snprintf(file, sizeof file, "%s/s.json", dir);
		char *ss[] = {TG_BIN, "render", "speedscope", rec, "-o", file, "-q", NULL};
		cr_assert_eq(run_capture(ss, &out, &err, 60), 0, "%s", buf_cstr(&err));
		char *check[] = {"/usr/bin/env", "NODE_PATH=" NODE_MODULES,
				 "node",	 "tests/js/speedscope_check.cjs",
				 file,		 NULL};
		cr_assert_eq(run_capture(check, &out, &err, 60), 0, "%s", buf_cstr(&err));
		/* "evented NAME seconds EVENTS START END": every profile spans the recording */
		size_t profiles = 0;
		for (const char *l = buf_cstr(&out); (l = strstr(l, "evented ")) != NULL; l++) {
			const char *nl = strchr(l, '\n');
			const char *end = nl;
			while (end > l && end[-1] != ' ')
				end--;
			const char *start_s = end - 1;
			while (start_s > l && start_s[-1] != ' ')
				start_s--;
			double span = strtod(end, NULL) - strtod(start_s, NULL);
			cr_assert_geq(span, 1.5, "a profile of %.3f s: %.*s", span, (int)(nl - l),
				      l);
			profiles++;
		}
		cr_assert_geq(profiles, 4, "%s", buf_cstr(&out));
	} else {
		cr_log_warn("pprof-format is not installed (tools/npmdeps.sh): pprof and "
			    "speedscope not checked");
	}
	buf_free(&out);
	buf_free(&err);
	remove_tree(dir);
	free(dir);
}
