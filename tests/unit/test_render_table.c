/* Unit tests of render/table (process.alloc) and render/interrupt. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "render/interrupt.h"
#include "render/table.h"

static char *write_temp(const char *data)
{
	char *path = strdup("/tmp/tg-test-table-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	return path;
}

Test(render_table, header_rows_placeholders_and_reruns, .init = cr_redirect_stderr)
{
	char *path = write_temp("# tgattach process.alloc, run 1\n"
				"# time rss blocks\n"
				"10.5 1000 7\n"
				"11 2000 ?\n"
				"\n"
				"12 3000 7 9\n" /* too many fields */
				"13 abc 7\n"	/* not a number */
				"# a comment that is no header\n"
				"# time rss heap arenas\n" /* a rerun: other columns */
				"20 4000 NaN 5\n"
				"21 5000 - 1e3\n");
	struct table t;
	struct table_row row;
	struct tg_err err;

	cr_assert_eq(table_open(&t, path, 0, &err), 0);
	cr_assert_eq(table_next(&t, &row, &err), 1);
	cr_assert_eq(t.ncols, 2);
	cr_assert_str_eq(t.names[0], "rss");
	cr_assert_str_eq(t.names[1], "blocks");
	cr_assert_float_eq(row.time, 10.5, 1e-9);
	cr_assert(row.have[0] && row.have[1]);
	cr_assert_float_eq(row.v[1], 7, 1e-9);
	unsigned long gen = t.header_gen;
	cr_assert_eq(table_next(&t, &row, &err), 1);
	cr_assert(row.have[0] && !row.have[1]);
	cr_assert_eq(table_next(&t, &row, &err), 1);
	cr_assert_neq(t.header_gen, gen);
	cr_assert_eq(t.ncols, 3);
	cr_assert_str_eq(t.names[1], "heap");
	cr_assert_float_eq(row.time, 20, 1e-9);
	cr_assert(!row.have[1] && row.have[2]);
	cr_assert_eq(table_next(&t, &row, &err), 1);
	cr_assert_float_eq(row.v[2], 1000, 1e-9);
	cr_assert_eq(table_next(&t, &row, &err), 0);
	cr_assert_eq(t.f.malformed, 2);
	table_close(&t);
	fflush(stderr);
	cr_assert_stderr_neq_str("");
	unlink(path);
	free(path);
}

Test(render_table, strict_and_row_before_header)
{
	char *path = write_temp("1 2 3\n# time a\n1 2\n");
	struct table t;
	struct table_row row;
	struct tg_err err;

	cr_assert_eq(table_open(&t, path, 1, &err), 0);
	cr_assert_eq(table_next(&t, &row, &err), -1);
	cr_assert_eq(err.code, TG_E_DATA);
	cr_assert_not_null(strstr(err.msg, ":1: malformed line: a row before the column header"),
			   "%s", err.msg);
	table_close(&t);
	unlink(path);
	free(path);
}

/* A pending SIGINT is seen (and left pending); interrupt_exit() then dies of it. */
Test(render_interrupt, pending_signal_then_exit)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if (interrupt_pending() != 0)
			_exit(10);
		raise(SIGINT);
		if (interrupt_pending() != SIGINT || interrupt_pending() != SIGINT)
			_exit(11);
		interrupt_exit();
		_exit(12); /* not reached */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status), "exit status %d", WEXITSTATUS(status));
	cr_assert_eq(WTERMSIG(status), SIGINT);
}
