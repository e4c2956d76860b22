/* Memory options, end to end: --process-interval thins process.mem and process.alloc,
 * and bad values of the memory options are refused with one clear line (the accuracy and
 * --filter / --no-stack tests are in test_memory.c). */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

TestSuite(memory_options, .timeout = 120);

static int count_data_lines(const char *path, int comments_allowed)
{
	char *text = truth_read_text(path);
	int n = 0;

	cr_assert_not_null(text, "%s missing", path);
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (comments_allowed && line[0] == '#')
			continue;
		n++;
	}
	free(text);
	return n;
}

/* --process-interval thins process.mem and process.alloc (the samples still run); bad
 * values of the memory options are refused before anything is touched. */
Test(memory_options, process_interval_and_bad_options)
{
	char py[PATH_MAX], pidarg[16], path[PATH_MAX], line[64];
	struct proc fx;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (pyenv_python("3.11.", py, sizeof py) < 0) {
		fprintf(stderr, "memory %-24s skipped: 3.11. not installed\n", "process-interval");
		cr_skip_test("pyenv 3.11 is not installed");
	}
	char *fargv[] = {py, "-c",
			 "import sys, time\nprint('READY', flush=True)\ntime.sleep(120)\n", NULL};
	cr_assert_eq(proc_spawn(&fx, fargv), 0);
	cr_assert_eq(proc_wait_line(&fx, "READY", line, sizeof line, 30000), 0);
	snprintf(pidarg, sizeof pidarg, "%d", (int)fx.pid);
	char *dir = temp_dir("interval");
	char *argv[] = {TG_BIN, "-p", pidarg, "-o", dir, "-q", "-d", "1.5", "--process-interval",
			"0.25", NULL};
	int rc = run_capture(argv, &out, &err, 60);
	cr_assert_eq(rc, 0, "record exited %d: %s", rc, buf_cstr(&err));
	snprintf(path, sizeof path, "%s/%d/process.mem", dir, (int)fx.pid);
	int mem = count_data_lines(path, 0);
	snprintf(path, sizeof path, "%s/%d/process.alloc", dir, (int)fx.pid);
	int rows = count_data_lines(path, 1);
	cr_assert(mem >= 5 && mem <= 8, "1.5 s at one row per 0.25 s gave %d lines", mem);
	cr_assert_eq(rows, mem, "process.alloc has %d rows, process.mem %d", rows, mem);

	static const char *const bad[][2] = {
	    {"--metric", "vms"},	 {"--mem-rate", "-5"}, {"--mem-rate", "20000"},
	    {"--process-interval", "0"}, {"--metric", ""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *bargv[] = {
		    TG_BIN, "-p", pidarg, "-o", dir, (char *)bad[i][0], (char *)bad[i][1], NULL};
		buf_reset(&err);
		rc = run_capture(bargv, &out, &err, 30);
		cr_assert_eq(rc, 2, "%s %s: exit %d", bad[i][0], bad[i][1], rc);
		int lines = 0;
		for (const char *c = buf_cstr(&err); *c; c++)
			lines += *c == '\n';
		cr_assert(strstr(buf_cstr(&err), bad[i][0]) && lines == 1,
			  "%s %s: not one clear line: %s", bad[i][0], bad[i][1], buf_cstr(&err));
	}
	cr_assert(proc_all_untraced_running(fx.pid));
	proc_reap(&fx);
	remove_tree(dir);
	free(dir);
	buf_free(&out);
	buf_free(&err);
}
