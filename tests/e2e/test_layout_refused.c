/* A layout that does not fit the live interpreter is refused before anything is written
 * (issue 12, 5): a layout cache entry for the target's build-id, planted with a wrong
 * frame offset (the code pointer of _PyInterpreterFrame), must make `dump` and `record`
 * exit 6 naming the layout's source and what did not check out, and leave OUTDIR empty. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

/* Rewrites the value of `field` in the one offsets-* file of dir. */
static void plant(const char *dir, const char *field, const char *value)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX] = "";

	cr_assert_not_null(d, "no layout cache in %s", dir);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "offsets-", 8) == 0)
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
	closedir(d);
	cr_assert(path[0], "no offsets file in %s", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	struct buf text = BUF_INIT;
	char line[256];
	int found = 0;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ' ') {
			buf_addf(&text, "%s %s\n", field, value);
			found = 1;
		} else {
			buf_addstr(&text, line);
		}
	}
	fclose(f);
	cr_assert(found, "%s has no %s", path, field);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(buf_cstr(&text), f);
	fclose(f);
	buf_free(&text);
}

Test(layout_refused, a_planted_cache_entry_that_does_not_fit, .timeout = 60)
{
	char python[PATH_MAX], pidstr[16], cachedir[PATH_MAX];
	struct proc p;
	struct buf out = BUF_INIT, err = BUF_INIT;

	if (pyenv_python("3.12.", python, sizeof python) != 0)
		cr_skip_test("no pyenv 3.12.x installed");
	char *cache = temp_dir("cache"), *outdir = temp_dir("out");
	cr_assert_eq(setenv("XDG_CACHE_HOME", cache, 1), 0);
	char *argv[] = {python, "-c",
			"import threading, time\n"
			"threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
			"print('READY', flush=True)\n"
			"time.sleep(3600)\n",
			NULL};
	cr_assert_eq(proc_spawn_ready(&p, argv), 0);
	snprintf(pidstr, sizeof pidstr, "%d", (int)p.pid);
	char *dump[] = {TG_BIN, "dump", "-p", pidstr, NULL};
	cr_assert_eq(run_capture(dump, &out, &err, 60), 0, "first dump: %s", buf_cstr(&err));
	snprintf(cachedir, sizeof cachedir, "%s/tgattach", cache);
	plant(cachedir, "if_code", "8"); /* where the previous link is: no code object there */

	buf_reset(&err);
	int rc = run_capture(dump, &out, &err, 60);
	cr_expect_eq(rc, 6, "dump exited %d: %s", rc, buf_cstr(&err));
	cr_expect_not_null(strstr(buf_cstr(&err), "the layout does not fit"), "%s", buf_cstr(&err));
	cr_expect_not_null(strstr(buf_cstr(&err), "cached by build-id"), "%s", buf_cstr(&err));
	cr_expect_not_null(strstr(buf_cstr(&err), "frame chain"), "%s", buf_cstr(&err));

	buf_reset(&err);
	char *record[] = {TG_BIN, "-p", pidstr, "-o", outdir, "-d", "1", NULL};
	rc = run_capture(record, &out, &err, 60);
	cr_expect_eq(rc, 6, "record exited %d: %s", rc, buf_cstr(&err));
	DIR *d = opendir(outdir);
	cr_assert_not_null(d);
	int entries = 0;
	for (struct dirent *e; (e = readdir(d));)
		entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	cr_expect_eq(entries, 0, "a refused record wrote into %s", outdir);
	cr_expect(proc_all_untraced_running(p.pid), "the target was left traced or stopped");
	proc_reap(&p);
	buf_free(&out);
	buf_free(&err);
	remove_tree(cache);
	remove_tree(outdir);
	free(cache);
	free(outdir);
}
