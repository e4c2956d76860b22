/* End-to-end tests of `tgattach render memg` where things go wrong: gnuplot missing or
 * failing, malformed lines, bad usage, an interrupt, an empty directory.  The real binary,
 * real recordings (test_render_memg.c has the graphs of good ones). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "tests/e2e/test_render_run.h"

/* ---- failures ---- */

static void render_with_path(const char *path_env, const char *out, struct rrun *r)
{
	const char *args[] = {"render", "memg", RENDER_FIXTURES "/tgattach-nested/5151",
			      "-o",	out,	NULL};

	rrun_tool(r, path_env, args);
}

Test(render_memg, gnuplot_missing)
{
	char *out = rrun_tmpdir();
	struct rrun r;

	render_with_path("/nonexistent-bin", out, &r);
	cr_assert_eq(r.status, 10, "want TG_E_GNUPLOT, got %d: %s", r.status, buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "gnuplot"), "%s", buf_cstr(&r.err));
	cr_assert_eq(rrun_count_entries(out), 0, "nothing is left behind");
	rrun_free(&r);
	rrun_rmtree(out);
	free(out);
}

static void fake_gnuplot(const char *bindir, const char *body)
{
	struct buf path = BUF_INIT, script = BUF_INIT;

	buf_addf(&path, "%s/gnuplot", bindir);
	buf_addf(&script, "#!/bin/sh\n%s\n", body);
	rrun_write(buf_cstr(&path), script.data, script.len);
	cr_assert_eq(chmod(buf_cstr(&path), 0755), 0);
	buf_free(&path);
	buf_free(&script);
}

Test(render_memg, gnuplot_failure_keeps_old_output)
{
	char *bin = rrun_tmpdir(), *out = rrun_tmpdir();
	struct buf svg = BUF_INIT, txt = BUF_INIT, got = BUF_INIT;
	struct rrun r;

	buf_addf(&svg, "%s/memg.svg", out);
	buf_addf(&txt, "%s/memg.txt", out);
	rrun_write(buf_cstr(&svg), "OLD", 3);
	rrun_write(buf_cstr(&txt), "OLD", 3);
	fake_gnuplot(bin, "echo 'plot.gp line 3: fake failure' >&2; exit 3");
	render_with_path(bin, out, &r);
	cr_assert_eq(r.status, 10, "want TG_E_GNUPLOT, got %d: %s", r.status, buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "fake failure"), "%s", buf_cstr(&r.err));
	rrun_read(buf_cstr(&svg), &got);
	cr_assert_str_eq(buf_cstr(&got), "OLD");
	buf_reset(&got);
	rrun_read(buf_cstr(&txt), &got);
	cr_assert_str_eq(buf_cstr(&got), "OLD");
	cr_assert_eq(rrun_count_entries(out), 2, "no work directory is left behind");
	rrun_free(&r);

	/* exits 0 but writes nothing: still a failure, still no memg.svg */
	unlink(buf_cstr(&svg));
	fake_gnuplot(bin, "exit 0");
	render_with_path(bin, out, &r);
	cr_assert_eq(r.status, 10, "got %d: %s", r.status, buf_cstr(&r.err));
	cr_assert(!rrun_exists(buf_cstr(&svg)));
	rrun_free(&r);
	rrun_rmtree(bin);
	rrun_rmtree(out);
	free(bin);
	free(out);
	buf_free(&svg);
	buf_free(&txt);
	buf_free(&got);
}

Test(render_memg, malformed_lines_skipped_or_strict)
{
	char *tmp = rrun_tmpdir();
	struct buf rec = BUF_INIT, path = BUF_INIT, data = BUF_INIT, out = BUF_INIT;
	struct rrun r;

	buf_addf(&rec, "%s/5151", tmp);
	buf_addf(&out, "%s/out", tmp);
	mkdir(buf_cstr(&rec), 0755);
	buf_addf(&path, "%s/tgattach-nested/5151/MainThread.mem", RENDER_FIXTURES);
	rrun_read(buf_cstr(&path), &data);
	size_t lines = 0;
	for (size_t i = 0; i < data.len; i++)
		lines += data.data[i] == '\n';
	buf_addstr(&data, "1700000001.0#broken line without arrow\n");
	buf_reset(&path);
	buf_addf(&path, "%s/MainThread.mem", buf_cstr(&rec));
	rrun_write(buf_cstr(&path), data.data, data.len);

	const char *args[] = {"render", "memg", buf_cstr(&rec), "-o", buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	char want[256];
	snprintf(want, sizeof want, "MainThread.mem:%zu: skipped malformed line: no '=>'",
		 lines + 1);
	cr_assert_not_null(strstr(buf_cstr(&r.err), want), "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "1 malformed line skipped"));
	rrun_free(&r);

	const char *strict[] = {"render", "memg",	  "--strict", buf_cstr(&rec),
				"-o",	  buf_cstr(&out), NULL};
	rrun_tool(&r, NULL, strict);
	cr_assert_eq(r.status, 9, "want TG_E_DATA, got %d: %s", r.status, buf_cstr(&r.err));
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&rec);
	buf_free(&path);
	buf_free(&data);
	buf_free(&out);
}

Test(render_memg, usage_errors)
{
	static const struct {
		const char *args[6];
		int status;
		const char *says;
	} cases[] = {
	    {{"render", NULL}, 2, "decorate-stack"},
	    {{"render", "bogus", NULL}, 2, "unknown subcommand 'bogus'"},
	    {{"render", "memg", NULL}, 2, "no recording directory"},
	    {{"render", "memg", "--peak", "abc", ".", NULL}, 2, "--peak"},
	    {{"render", "memg", "--time-from", "soon", ".", NULL}, 2, "--time-from"},
	    {{"render", "memg", "/nonexistent/4242", NULL}, 9, "/nonexistent/4242"},
	    {{"render", "memg", RENDER_FIXTURES "/gen.py", NULL}, 9, "not a recording file"},
	    {{"render", "memg", "--format", "jpeg", ".", NULL}, 2, "--format"},
	};
	struct rrun r;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rrun_tool(&r, NULL, cases[i].args);
		cr_assert_eq(r.status, cases[i].status, "case %zu: exit %d: %s", i, r.status,
			     buf_cstr(&r.err));
		cr_assert_not_null(strstr(buf_cstr(&r.err), cases[i].says), "case %zu: %s", i,
				   buf_cstr(&r.err));
		rrun_free(&r);
	}
	const char *help[] = {"render", "memg", "--help", NULL};
	rrun_tool(&r, NULL, help);
	cr_assert_eq(r.status, 0);
	cr_assert_not_null(strstr(buf_cstr(&r.out), "default: the current directory"));
	rrun_free(&r);
}

/* ---- big input, PNG, Ctrl-C ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ctrl-C while gnuplot runs: gnuplot is stopped, the work directory removed, and the
 * process ends by SIGINT, at once. */
Test(render_memg, interrupt_leaves_nothing_behind)
{
	char *bin = rrun_tmpdir(), *out = rrun_tmpdir();
	struct buf pidfile = BUF_INIT, body = BUF_INIT, got = BUF_INIT;
	int status;
	pid_t pid;
	double t;

	buf_addf(&pidfile, "%s/pid", bin);
	buf_addf(&body, "echo $$ > '%s'; exec /bin/sleep 60", buf_cstr(&pidfile));
	fake_gnuplot(bin, buf_cstr(&body));
	cr_assert_eq(access(RENDER_TG_BIN, X_OK), 0, "run `make asan` first");
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    setenv("PATH", bin, 1) < 0)
			_exit(126);
		execl(RENDER_TG_BIN, RENDER_TG_BIN, "render", "memg",
		      RENDER_FIXTURES "/many-threads/6262", "-o", out, (char *)NULL);
		_exit(127);
	}
	/* wait until the fake gnuplot runs */
	for (t = now(); !rrun_exists(buf_cstr(&pidfile)) && now() - t < 60;)
		usleep(20000);
	cr_assert(rrun_exists(buf_cstr(&pidfile)), "gnuplot was never started");
	usleep(100000);
	cr_assert_eq(rrun_count_entries(out), 1, "the work directory exists while gnuplot runs");
	t = now();
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_lt(now() - t, 5, "took %.1f s to stop", now() - t);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "status 0x%x", status);
	cr_assert_eq(rrun_count_entries(out), 0, "a .memg-XXXXXX directory was left behind");
	rrun_read(buf_cstr(&pidfile), &got);
	pid_t gp = (pid_t)strtol(buf_cstr(&got), NULL, 10);
	cr_assert_gt(gp, 0);
	for (t = now(); kill(gp, 0) == 0 && now() - t < 5;)
		usleep(20000);
	cr_assert_neq(kill(gp, 0), 0, "gnuplot (pid %d) is still running", (int)gp);
	rrun_rmtree(bin);
	rrun_rmtree(out);
	free(bin);
	free(out);
	buf_free(&pidfile);
	buf_free(&body);
	buf_free(&got);
}

Test(render_memg, empty_directory_and_no_mem)
{
	char *tmp = rrun_tmpdir();
	struct buf sub = BUF_INIT, f = BUF_INIT;
	struct rrun r;
	const char *args[] = {"render", "memg", tmp, "-o", tmp, NULL};

	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "not a recording"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	/* only .stack files: nothing memg can draw */
	buf_addf(&f, "%s/T.stack", tmp);
	rrun_write(buf_cstr(&f), "1.0#a.py:1:f\n", 13);
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 9, "%s", buf_cstr(&r.err));
	cr_assert_not_null(strstr(buf_cstr(&r.err), "no .mem files"), "%s", buf_cstr(&r.err));
	rrun_free(&r);
	/* no process.mem: threads only, still a graph */
	buf_reset(&f);
	buf_addf(&f, "%s/T.mem", tmp);
	rrun_write(buf_cstr(&f), "1.0#a.py:1:f=>409600\n2.0#a.py:1:f=>-409600\n", 42);
	rrun_tool(&r, NULL, args);
	cr_assert_eq(r.status, 0, "%s", buf_cstr(&r.err));
	cr_assert_null(strstr(buf_cstr(&r.err), "for the process"));
	rrun_assert_memg_svg(tmp);
	rrun_free(&r);
	rrun_rmtree(tmp);
	free(tmp);
	buf_free(&sub);
	buf_free(&f);
}
