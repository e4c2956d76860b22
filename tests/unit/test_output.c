#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/escape.h"
#include "sampler/output.h"
#include "sampler/sparefile.h"
#include "tests/unit/output_util.h"

/* ---- tests ---- */

Test(output, lines_exact)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	struct output *o = output_open(tmp, 4242, 0, &err);

	cr_assert_not_null(o, "%s", err.msg);
	char *dir = outt_path_join(tmp, "4242");
	cr_assert_str_eq(output_dir(o), dir);
	cr_assert_eq(output_process_mem(o, 1394031433.4, 123456789, &err), 0);
	struct output_thread *th = output_thread(o, 100, "MainThread", 10);
	cr_assert_str_eq(output_thread_file(th), "MainThread");
	cr_assert_eq(output_thread(o, 100, "renamed", 7), th, "a tid keeps its writer");
	cr_assert_eq(output_call(o, th, 1394031433.5, 0, "main.py", 27, "doStuff", &err), 0);
	cr_assert_eq(output_call(o, th, 1394031433.25, 1, "/usr/lib/python2.7/random.py", 236,
				 "randint", &err),
		     0);
	cr_assert_eq(output_call(o, th, 1394031433.125, 3, "a.py", 1, "deep", &err), 0);
	cr_assert_eq(output_call(o, th, 7.0, -5, "a.py", 2, "neg", &err), 0);
	cr_assert_eq(output_return(o, th, 1394031433.75, "/usr/lib/python2.7/random.py", 240,
				   "randint", 0, &err),
		     0);
	cr_assert_eq(output_return(o, th, 1394031455.5, "main.py", 39, "doStuff", 167936, &err), 0);
	cr_assert_eq(output_return(o, th, 8.0, "main.py", 40, "<module>", -4096, &err), 0);
	cr_assert_eq(output_flush(o, &err), 0, "%s", err.msg);

	size_t total = 0, n;
	char *proc = outt_file_read(dir, "process.mem", &n);
	total += n;
	cr_assert_str_eq(proc, "1394031433.400000#123456789\n");
	char *stack = outt_file_read(dir, "MainThread.stack", &n);
	total += n;
	cr_assert_str_eq(stack, "1394031433.500000#main.py:27:doStuff\n"
				" 1394031433.250000#/usr/lib/python2.7/random.py:236:randint\n"
				"   1394031433.125000#a.py:1:deep\n"
				"7.000000#a.py:2:neg\n");
	char *mem = outt_file_read(dir, "MainThread.mem", &n);
	total += n;
	cr_assert_str_eq(mem, "1394031433.750000#/usr/lib/python2.7/random.py:240:randint=>0\n"
			      "1394031455.500000#main.py:39:doStuff=>167936\n"
			      "8.000000#main.py:40:<module>=>-4096\n");
	cr_assert_eq(output_bytes(o), total);
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);

	char *meta = outt_file_read(dir, "meta", NULL);
	cr_assert_str_eq(meta, "run=1\n");
	cr_assert_eq(outt_dir_check_lines(dir), 4);
	free(proc);
	free(stack);
	free(mem);
	free(meta);
	free(dir);
	outt_tmpdir_remove(tmp);
}

Test(output, no_stack_flag)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	struct output *o = output_open(tmp, 7, OUTPUT_NO_STACK, &err);

	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 1, "T", 1);
	cr_assert_eq(output_call(o, th, 1.0, 0, "f.py", 1, "f", &err), 0);
	cr_assert_eq(output_return(o, th, 2.0, "f.py", 2, "f", 5, &err), 0);
	cr_assert_eq(output_close(o, &err), 0);
	char *dir = outt_path_join(tmp, "7");
	char *stack = outt_file_read(dir, "T.stack", NULL);
	char *mem = outt_file_read(dir, "T.mem", NULL);
	cr_assert_null(stack);
	cr_assert_str_eq(mem, "2.000000#f.py:2:f=>5\n");
	free(mem);
	free(dir);
	outt_tmpdir_remove(tmp);
}

Test(output, rerun_appends_and_numbers_meta)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	char *dir = outt_path_join(tmp, "99");
	const char *keys[] = {"python", "cmd=line"};
	const char *vals[] = {"3.11.7", "run\nme \\now"};

	struct output *o = output_open(tmp, 99, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 10, "MainThread", 10);
	cr_assert_eq(output_return(o, th, 1.0, "a.py", 1, "f", 1, &err), 0);
	cr_assert_eq(output_meta(o, keys, vals, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(output_close(o, &err), 0);

	/* a run killed mid-write left a partial line: it is cut before appending */
	char *path = outt_path_join(dir, "MainThread.mem");
	int fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "2.000000#a.p", 12), 12);
	close(fd);
	free(path);

	o = output_open(tmp, 99, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	th = output_thread(o, 11, "MainThread", 10);
	cr_assert_str_eq(output_thread_file(th), "MainThread", "a new run reuses the names");
	cr_assert_eq(output_return(o, th, 3.0, "b.py", 2, "g", -2, &err), 0);
	cr_assert_eq(output_meta(o, keys, vals, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(output_close(o, &err), 0);

	char *mem = outt_file_read(dir, "MainThread.mem", NULL);
	cr_assert_str_eq(mem, "1.000000#a.py:1:f=>1\n3.000000#b.py:2:g=>-2\n");
	char *meta = outt_file_read(dir, "meta", NULL);
	cr_assert_str_eq(meta, "run=1\npython=3.11.7\ncmd\\x3dline=run\\x0ame \\x5cnow\n"
			       "run=2\npython=3.11.7\n");
	cr_assert_null(outt_file_read(dir, "meta.tmp", NULL), "meta.tmp left behind");
	free(mem);
	free(meta);
	free(dir);
	outt_tmpdir_remove(tmp);
}

struct hostile {
	const char *name;
	size_t len;
};

Test(output, hostile_names_stay_inside_and_distinct)
{
	static char utf8[301];
	static const struct hostile names[] = {
	    {"../../etc/passwd", 16},
	    {"a/b", 3},
	    {".hidden", 7},
	    {"process", 7},
	    {"process.mem", 11},
	    {"process.", 8},
	    {"line\nbreak", 10},
	    {"nul\0inside", 10},
	    {"nul", 3},
	    {"twin", 4},
	    {"twin", 4},
	    {"twin@3", 6},
	    {"", 0},
	    {"\0", 1},
	    {"..", 2},
	    {"meta", 4},
	    {"a%2fb", 5},
	    {utf8, 300},
	    {utf8, 299},
	};
	const size_t n = sizeof names / sizeof names[0];
	const char *file = "we#ird:fi=>le\\\n.py", *func = "f:u#n=>c\n\\x41";
	struct stat passwd_before, passwd_after;
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();

	utf8[0] = 'x'; /* then 149 e-acute, 'y': the cut at 120 bytes falls inside one */
	for (size_t i = 1; i < 299; i += 2)
		memcpy(utf8 + i, "\xc3\xa9", 2);
	utf8[299] = 'y';
	stat("/etc/passwd", &passwd_before);
	struct output *o = output_open(tmp, 5, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	const char *bases[sizeof names / sizeof names[0]];
	for (size_t i = 0; i < n; i++) {
		struct output_thread *th = output_thread(o, i + 1, names[i].name, names[i].len);
		bases[i] = output_thread_file(th);
		cr_assert_eq(output_call(o, th, 1.5, 0, file, 3, func, &err), 0, "%s", err.msg);
		cr_assert_eq(output_return(o, th, 2.5, file, 4, func, -1, &err), 0, "%s", err.msg);
	}
	for (size_t i = 0; i < n; i++) {
		cr_assert(strlen(bases[i]) + 6 <= NAME_MAX);
		cr_assert_null(strchr(bases[i], '/'));
		cr_assert_neq(bases[i][0], '.');
		cr_assert_str_neq(bases[i], "process");
		cr_assert(strncmp(bases[i], "process.", 8) != 0, "%s reads as the process trace",
			  bases[i]);
		for (size_t k = 0; k < i; k++)
			cr_assert_str_neq(bases[i], bases[k], "threads %zu and %zu share a file", i,
					  k);
	}
	/* names that did not need "@TID" read back as the thread's name */
	cr_assert_str_eq(bases[0], "%2e.%2f..%2fetc%2fpasswd");
	cr_assert_str_eq(bases[3], "process@4");
	cr_assert_str_eq(bases[4], "process%2emem");
	cr_assert_str_eq(bases[9], "twin");
	cr_assert_str_eq(bases[10], "twin@11");
	struct buf u = BUF_INIT;
	tg_unescape_filename(&u, bases[7], strlen(bases[7]));
	cr_assert(u.len == 10 && memcmp(u.data, "nul\0inside", 10) == 0);
	cr_assert_eq(strlen(bases[17]), 119, "300-byte name cut on a character boundary");
	cr_assert(memcmp(bases[17], utf8, 119) == 0);
	cr_assert_str_eq(bases[11], "twin@3");
	cr_assert_str_eq(bases[12], "%00");
	cr_assert_str_eq(bases[13], "%00@14");
	cr_assert(strlen(bases[18]) == 122 && strcmp(bases[18] + 119, "@19") == 0,
		  "names equal after the cut get @TID: %s", bases[18]);
	buf_free(&u);

	char *dir = outt_path_join(tmp, "5");
	char *base_copy[sizeof names / sizeof names[0]];
	for (size_t i = 0; i < n; i++)
		base_copy[i] = strdup(bases[i]); /* the writers go with output_close() */
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		bases[i] = base_copy[i];
		{
			struct buf f = BUF_INIT, fn = BUF_INIT, name = BUF_INIT;
			buf_addf(&name, "%s.mem", bases[i]);
			outt_first_site(dir, name.data, 1, &f, &fn);
			cr_assert_str_eq(f.data, file);
			cr_assert_str_eq(fn.data, func);
			buf_reset(&name);
			buf_reset(&f);
			buf_reset(&fn);
			buf_addf(&name, "%s.stack", bases[i]);
			outt_first_site(dir, name.data, 0, &f, &fn);
			cr_assert_str_eq(f.data, file);
			cr_assert_str_eq(fn.data, func);
			buf_free(&f);
			buf_free(&fn);
			buf_free(&name);
		}
	}
	cr_assert_eq(outt_dir_check_lines(dir), (int)(2 * n + 2),
		     "files other than the threads' "
		     "two, process.mem and meta");
	/* and nothing anywhere else */
	DIR *d = opendir(tmp);
	struct dirent *e;
	int entries = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			cr_assert_str_eq(e->d_name, "5");
			entries++;
		}
	closedir(d);
	cr_assert_eq(entries, 1);
	for (size_t i = 0; i < n; i++)
		free(base_copy[i]);
	stat("/etc/passwd", &passwd_after);
	cr_assert(passwd_before.st_size == passwd_after.st_size &&
		  passwd_before.st_mtime == passwd_after.st_mtime);
	free(dir);
	outt_tmpdir_remove(tmp);
}

Test(output, symlink_in_pid_dir_refused)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	char *outside = outt_path_join(tmp, "outside");
	char *dir = outt_path_join(tmp, "6");
	char *link = outt_path_join(dir, "evil.mem");

	outt_file_write(tmp, "outside", "");
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(symlink(outside, link), 0);
	struct output *o = output_open(tmp, 6, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 1, "evil", 4);
	cr_assert_eq(output_return(o, th, 1.0, "a", 1, "b", 1, &err), -1);
	cr_assert_eq(err.code, TG_E_OUTPUT);
	cr_assert(strstr(err.msg, "/6/evil.mem: Too many levels of symbolic links"), "%s", err.msg);
	cr_assert_eq(output_return(o, th, 1.0, "a", 1, "b", 1, &err), -1, "failure is sticky");
	cr_assert_eq(output_close(o, &err), -1);
	size_t len = 1;
	free(outt_file_read(tmp, "outside", &len));
	cr_assert_eq(len, 0, "wrote through a symlink");
	free(outside);
	free(dir);
	free(link);
	outt_tmpdir_remove(tmp);
}

#define MANY 500
#define ROUNDS 20

Test(output, many_threads_respect_fd_cap)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	int base = outt_fd_count(), most = 0;
	struct output *o = output_open(tmp, 8, 0, &err);
	struct output_thread *th[MANY];

	cr_assert_not_null(o, "%s", err.msg);
	for (int t = 0; t < MANY; t++) {
		char name[32];
		snprintf(name, sizeof name, "Thread-%d", t);
		th[t] = output_thread(o, 1000 + (uint64_t)t, name, strlen(name));
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (int t = 0; t < MANY; t++) {
			cr_assert_eq(output_call(o, th[t], r, r % 3, "f.py", t, "fn", &err), 0,
				     "%s", err.msg);
			cr_assert_eq(output_return(o, th[t], r + 0.5, "f.py", r, "fn", t - r, &err),
				     0, "%s", err.msg);
			if (t % 50 == 0) {
				int now = outt_fd_count() - base;
				cr_assert_leq(now, OUTPUT_MAX_OPEN + 2 + SPAREFILE_MAX,
					      "%d descriptors open", now);
				most = now > most ? now : most;
			}
		}
	}
	cr_assert_geq(most, OUTPUT_MAX_OPEN + 2, "the cap was never reached: %d", most);
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);
	cr_assert_eq(outt_fd_count(), base, "descriptors leaked");

	char *dir = outt_path_join(tmp, "8");
	for (int t = 0; t < MANY; t++) {
		struct buf want_s = BUF_INIT, want_m = BUF_INIT, name = BUF_INIT;
		for (int r = 0; r < ROUNDS; r++) {
			buf_addf(&want_s, "%*s%d.000000#f.py:%d:fn\n", r % 3, "", r, t);
			buf_addf(&want_m, "%d.500000#f.py:%d:fn=>%d\n", r, r, t - r);
		}
		buf_addf(&name, "Thread-%d.stack", t);
		char *got = outt_file_read(dir, name.data, NULL);
		cr_assert_str_eq(got, want_s.data);
		free(got);
		buf_reset(&name);
		buf_addf(&name, "Thread-%d.mem", t);
		got = outt_file_read(dir, name.data, NULL);
		cr_assert_str_eq(got, want_m.data);
		free(got);
		buf_free(&want_s);
		buf_free(&want_m);
		buf_free(&name);
	}
	free(dir);
	outt_tmpdir_remove(tmp);
}

Test(output, thread_done_closes_and_tid_reuse_starts_new_writer)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	int base = outt_fd_count();
	struct output *o = output_open(tmp, 9, 0, &err);

	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *a = output_thread(o, 77, "worker", 6);
	cr_assert_eq(output_return(o, a, 1.0, "w.py", 1, "run", 3, &err), 0);
	cr_assert_eq(output_call(o, a, 0.5, 0, "w.py", 1, "run", &err), 0);
	cr_assert_eq(outt_fd_count() - base, 4);
	cr_assert_eq(output_thread_done(o, a, &err), 0, "%s", err.msg);
	cr_assert_eq(outt_fd_count() - base, 2, "a finished thread keeps no descriptor");
	char *dir = outt_path_join(tmp, "9");
	char *mem = outt_file_read(dir, "worker.mem", NULL);
	cr_assert_str_eq(mem, "1.000000#w.py:1:run=>3\n", "flushed at thread end");
	free(mem);

	struct output_thread *b = output_thread(o, 77, "worker", 6);
	cr_assert_str_eq(output_thread_file(b), "worker@77");
	cr_assert_eq(output_return(o, b, 2.0, "w.py", 2, "run", 4, &err), 0);
	cr_assert_eq(output_close(o, &err), 0);
	mem = outt_file_read(dir, "worker@77.mem", NULL);
	cr_assert_str_eq(mem, "2.000000#w.py:2:run=>4\n");
	free(mem);
	free(dir);
	outt_tmpdir_remove(tmp);
}

/* Long names escape to long lines (up to 4x): lines larger than the buffer stay whole. */
Test(output, long_lines_stay_whole)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	size_t big = 100 * 1024;
	char *func = malloc(big + 1);

	memset(func, ':', big);
	func[big] = '\0';
	struct output *o = output_open(tmp, 10, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 1, "T", 1);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(output_return(o, th, i, "x.py", i, func, i, &err), 0, "%s", err.msg);
	cr_assert_eq(output_close(o, &err), 0);
	char *dir = outt_path_join(tmp, "10");
	size_t len;
	char *mem = outt_file_read(dir, "T.mem", &len);
	cr_assert_eq(len, 5 * (strlen("0.000000#x.py:0:=>0\n") + 4 * big));
	cr_assert_eq(outt_dir_check_lines(dir), 3);
	free(mem);
	free(dir);
	free(func);
	outt_tmpdir_remove(tmp);
}
