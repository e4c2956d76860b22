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

/* ---- helpers ---- */

static char *tmpdir_make(void)
{
	char tmpl[] = "/tmp/tg-output-test-XXXXXX";

	cr_assert_not_null(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
	return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmpdir_remove(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static char *path_join(const char *a, const char *b)
{
	struct buf p = BUF_INIT;

	buf_addf(&p, "%s/%s", a, b);
	return buf_detach(&p);
}

/* The whole file, or NULL if it does not exist. */
static char *file_read(const char *dir, const char *name, size_t *len)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char chunk[8192];
	size_t n;

	free(path);
	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return buf_detach(&b);
}

static void file_write(const char *dir, const char *name, const char *content)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
	free(path);
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static size_t count_str(const char *s, size_t len, const char *what)
{
	size_t n = 0, wl = strlen(what);

	for (size_t i = 0; i + wl <= len; i++)
		if (memcmp(s + i, what, wl) == 0)
			n++;
	return n;
}

/* Checks one ThreadGraph line (without '\n') in the format for its file and returns the
 * FILE:LINE:FUNC part in site (start, length). */
static void line_check(const char *name, const char *l, size_t len, int is_mem, int is_proc,
		       const char **site, size_t *sitelen)
{
	const char *hash = memchr(l, '#', len);

	cr_assert_eq(count_str(l, len, "#"), 1, "%s: not exactly one '#': %.*s", name, (int)len, l);
	cr_assert_eq(count_str(l, len, "\n"), 0);
	if (is_proc) {
		char *end;
		strtoull(hash + 1, &end, 10);
		cr_assert(end == l + len && end > hash + 1, "%s: bad RSS", name);
		return;
	}
	const char *s = hash + 1;
	size_t n = len - (size_t)(s - l);
	if (is_mem) {
		cr_assert_eq(count_str(l, len, "=>"), 1, "%s: not exactly one '=>': %.*s", name,
			     (int)len, l);
		const char *arrow = strstr(s, "=>");
		char *end;
		strtoll(arrow + 2, &end, 10);
		cr_assert(end == l + len && end > arrow + 2, "%s: bad delta: %.*s", name, (int)len,
			  l);
		n = (size_t)(arrow - s);
	}
	cr_assert_eq(count_str(s, n, ":"), 2, "%s: not exactly two ':' in %.*s", name, (int)n, s);
	*site = s;
	*sitelen = n;
}

/* Every line of every file in dir is whole and well-formed; returns the number of files. */
static int dir_check_lines(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		files++;
		if (strcmp(e->d_name, "meta") == 0)
			continue;
		size_t len, nl = strlen(e->d_name);
		int is_mem = nl > 4 && strcmp(e->d_name + nl - 4, ".mem") == 0;
		int is_stack = nl > 6 && strcmp(e->d_name + nl - 6, ".stack") == 0;
		cr_assert(is_mem || is_stack, "unexpected file %s", e->d_name);
		char *c = file_read(dir, e->d_name, &len);
		cr_assert(len == 0 || c[len - 1] == '\n', "%s does not end with a newline",
			  e->d_name);
		for (size_t i = 0; i < len;) {
			const char *l = c + i, *site;
			size_t ll = (size_t)((char *)memchr(l, '\n', len - i) - l), sl;
			line_check(e->d_name, l, ll, is_mem, strcmp(e->d_name, "process.mem") == 0,
				   &site, &sl);
			i += ll + 1;
		}
		free(c);
	}
	closedir(d);
	return files;
}

/* Unescapes the first line's FILE and FUNC. */
static void first_site(const char *dir, const char *name, int is_mem, struct buf *file,
		       struct buf *func)
{
	size_t len, sl;
	const char *site;
	char *c = file_read(dir, name, &len);

	cr_assert_not_null(c, "%s missing", name);
	size_t ll = (size_t)((char *)memchr(c, '\n', len) - c);
	line_check(name, c, ll, is_mem, 0, &site, &sl);
	const char *colon1 = memchr(site, ':', sl);
	const char *colon2 = memchr(colon1 + 1, ':', sl - (size_t)(colon1 + 1 - site));
	tg_unescape_field(file, site, (size_t)(colon1 - site));
	tg_unescape_field(func, colon2 + 1, sl - (size_t)(colon2 + 1 - site));
	free(c);
}

/* ---- tests ---- */

Test(output, lines_exact)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	struct output *o = output_open(tmp, 4242, 0, &err);

	cr_assert_not_null(o, "%s", err.msg);
	char *dir = path_join(tmp, "4242");
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
	char *proc = file_read(dir, "process.mem", &n);
	total += n;
	cr_assert_str_eq(proc, "1394031433.400000#123456789\n");
	char *stack = file_read(dir, "MainThread.stack", &n);
	total += n;
	cr_assert_str_eq(stack, "1394031433.500000#main.py:27:doStuff\n"
				" 1394031433.250000#/usr/lib/python2.7/random.py:236:randint\n"
				"   1394031433.125000#a.py:1:deep\n"
				"7.000000#a.py:2:neg\n");
	char *mem = file_read(dir, "MainThread.mem", &n);
	total += n;
	cr_assert_str_eq(mem, "1394031433.750000#/usr/lib/python2.7/random.py:240:randint=>0\n"
			      "1394031455.500000#main.py:39:doStuff=>167936\n"
			      "8.000000#main.py:40:<module>=>-4096\n");
	cr_assert_eq(output_bytes(o), total);
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);

	char *meta = file_read(dir, "meta", NULL);
	cr_assert_str_eq(meta, "run=1\n");
	cr_assert_eq(dir_check_lines(dir), 4);
	free(proc);
	free(stack);
	free(mem);
	free(meta);
	free(dir);
	tmpdir_remove(tmp);
}

Test(output, no_stack_flag)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	struct output *o = output_open(tmp, 7, OUTPUT_NO_STACK, &err);

	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 1, "T", 1);
	cr_assert_eq(output_call(o, th, 1.0, 0, "f.py", 1, "f", &err), 0);
	cr_assert_eq(output_return(o, th, 2.0, "f.py", 2, "f", 5, &err), 0);
	cr_assert_eq(output_close(o, &err), 0);
	char *dir = path_join(tmp, "7");
	char *stack = file_read(dir, "T.stack", NULL);
	char *mem = file_read(dir, "T.mem", NULL);
	cr_assert_null(stack);
	cr_assert_str_eq(mem, "2.000000#f.py:2:f=>5\n");
	free(mem);
	free(dir);
	tmpdir_remove(tmp);
}

Test(output, rerun_appends_and_numbers_meta)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	char *dir = path_join(tmp, "99");
	const char *keys[] = {"python", "cmd=line"};
	const char *vals[] = {"3.11.7", "run\nme \\now"};

	struct output *o = output_open(tmp, 99, 0, &err);
	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *th = output_thread(o, 10, "MainThread", 10);
	cr_assert_eq(output_return(o, th, 1.0, "a.py", 1, "f", 1, &err), 0);
	cr_assert_eq(output_meta(o, keys, vals, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(output_close(o, &err), 0);

	/* a run killed mid-write left a partial line: it is cut before appending */
	char *path = path_join(dir, "MainThread.mem");
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

	char *mem = file_read(dir, "MainThread.mem", NULL);
	cr_assert_str_eq(mem, "1.000000#a.py:1:f=>1\n3.000000#b.py:2:g=>-2\n");
	char *meta = file_read(dir, "meta", NULL);
	cr_assert_str_eq(meta, "run=1\npython=3.11.7\ncmd\\x3dline=run\\x0ame \\x5cnow\n"
			       "run=2\npython=3.11.7\n");
	cr_assert_null(file_read(dir, "meta.tmp", NULL), "meta.tmp left behind");
	free(mem);
	free(meta);
	free(dir);
	tmpdir_remove(tmp);
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
	char *tmp = tmpdir_make();

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

	char *dir = path_join(tmp, "5");
	char *base_copy[sizeof names / sizeof names[0]];
	for (size_t i = 0; i < n; i++)
		base_copy[i] = strdup(bases[i]); /* the writers go with output_close() */
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		bases[i] = base_copy[i];
		{
			struct buf f = BUF_INIT, fn = BUF_INIT, name = BUF_INIT;
			buf_addf(&name, "%s.mem", bases[i]);
			first_site(dir, name.data, 1, &f, &fn);
			cr_assert_str_eq(f.data, file);
			cr_assert_str_eq(fn.data, func);
			buf_reset(&name);
			buf_reset(&f);
			buf_reset(&fn);
			buf_addf(&name, "%s.stack", bases[i]);
			first_site(dir, name.data, 0, &f, &fn);
			cr_assert_str_eq(f.data, file);
			cr_assert_str_eq(fn.data, func);
			buf_free(&f);
			buf_free(&fn);
			buf_free(&name);
		}
	}
	cr_assert_eq(dir_check_lines(dir), (int)(2 * n + 2),
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
	tmpdir_remove(tmp);
}

Test(output, symlink_in_pid_dir_refused)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	char *outside = path_join(tmp, "outside");
	char *dir = path_join(tmp, "6");
	char *link = path_join(dir, "evil.mem");

	file_write(tmp, "outside", "");
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
	free(file_read(tmp, "outside", &len));
	cr_assert_eq(len, 0, "wrote through a symlink");
	free(outside);
	free(dir);
	free(link);
	tmpdir_remove(tmp);
}

#define MANY 500
#define ROUNDS 20

Test(output, many_threads_respect_fd_cap)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	int base = fd_count(), most = 0;
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
				int now = fd_count() - base;
				cr_assert_leq(now, OUTPUT_MAX_OPEN + 2, "%d descriptors open", now);
				most = now > most ? now : most;
			}
		}
	}
	cr_assert_eq(most, OUTPUT_MAX_OPEN + 2, "the cap was never reached: %d", most);
	cr_assert_eq(output_close(o, &err), 0, "%s", err.msg);
	cr_assert_eq(fd_count(), base, "descriptors leaked");

	char *dir = path_join(tmp, "8");
	for (int t = 0; t < MANY; t++) {
		struct buf want_s = BUF_INIT, want_m = BUF_INIT, name = BUF_INIT;
		for (int r = 0; r < ROUNDS; r++) {
			buf_addf(&want_s, "%*s%d.000000#f.py:%d:fn\n", r % 3, "", r, t);
			buf_addf(&want_m, "%d.500000#f.py:%d:fn=>%d\n", r, r, t - r);
		}
		buf_addf(&name, "Thread-%d.stack", t);
		char *got = file_read(dir, name.data, NULL);
		cr_assert_str_eq(got, want_s.data);
		free(got);
		buf_reset(&name);
		buf_addf(&name, "Thread-%d.mem", t);
		got = file_read(dir, name.data, NULL);
		cr_assert_str_eq(got, want_m.data);
		free(got);
		buf_free(&want_s);
		buf_free(&want_m);
		buf_free(&name);
	}
	free(dir);
	tmpdir_remove(tmp);
}

Test(output, thread_done_closes_and_tid_reuse_starts_new_writer)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	int base = fd_count();
	struct output *o = output_open(tmp, 9, 0, &err);

	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *a = output_thread(o, 77, "worker", 6);
	cr_assert_eq(output_return(o, a, 1.0, "w.py", 1, "run", 3, &err), 0);
	cr_assert_eq(output_call(o, a, 0.5, 0, "w.py", 1, "run", &err), 0);
	cr_assert_eq(fd_count() - base, 4);
	cr_assert_eq(output_thread_done(o, a, &err), 0, "%s", err.msg);
	cr_assert_eq(fd_count() - base, 2, "a finished thread keeps no descriptor");
	char *dir = path_join(tmp, "9");
	char *mem = file_read(dir, "worker.mem", NULL);
	cr_assert_str_eq(mem, "1.000000#w.py:1:run=>3\n", "flushed at thread end");
	free(mem);

	struct output_thread *b = output_thread(o, 77, "worker", 6);
	cr_assert_str_eq(output_thread_file(b), "worker@77");
	cr_assert_eq(output_return(o, b, 2.0, "w.py", 2, "run", 4, &err), 0);
	cr_assert_eq(output_close(o, &err), 0);
	mem = file_read(dir, "worker@77.mem", NULL);
	cr_assert_str_eq(mem, "2.000000#w.py:2:run=>4\n");
	free(mem);
	free(dir);
	tmpdir_remove(tmp);
}

/* Long names escape to long lines (up to 4x): lines larger than the buffer stay whole. */
Test(output, long_lines_stay_whole)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
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
	char *dir = path_join(tmp, "10");
	size_t len;
	char *mem = file_read(dir, "T.mem", &len);
	cr_assert_eq(len, 5 * (strlen("0.000000#x.py:0:=>0\n") + 4 * big));
	cr_assert_eq(dir_check_lines(dir), 3);
	free(mem);
	free(dir);
	free(func);
	tmpdir_remove(tmp);
}

Test(output, unwritable_paths)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	char *file = path_join(tmp, "plainfile");
	struct buf want = BUF_INIT;

	file_write(tmp, "plainfile", "x");
	cr_assert_null(output_open(file, 1, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);
	buf_addf(&want, "cannot write to %s/1: Not a directory", file);
	cr_assert_str_eq(err.msg, want.data);

	cr_assert_null(output_open("/proc/self/tg-out", 1, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);
	cr_assert_str_eq(err.msg, "cannot create /proc/self/tg-out: No such file or directory");

	cr_assert_null(output_open("", 1, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);

	/* DIR/PID exists but is a file */
	file_write(tmp, "2", "");
	cr_assert_null(output_open(tmp, 2, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);
	buf_reset(&want);
	buf_addf(&want, "cannot write to %s/2: Not a directory", tmp);
	cr_assert_str_eq(err.msg, want.data);
	buf_free(&want);
	free(file);
	tmpdir_remove(tmp);
}

/* Tests run as root, which writes anywhere: an unprivileged child meets the permissions. */
static void open_as_nobody(const char *dir, pid_t pid, struct tg_err *err)
{
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct tg_err e = {0};
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0) {
			e.code = -1;
			snprintf(e.msg, sizeof e.msg, "setresuid: %s", strerror(errno));
		} else if (output_open(dir, pid, 0, &e)) {
			e.code = 0;
		}
		ssize_t w = write(fds[1], &e, sizeof e);
		_exit(w == (ssize_t)sizeof e ? 0 : 1);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], err, sizeof *err), (ssize_t)sizeof *err);
	close(fds[0]);
	waitpid(child, NULL, 0);
	cr_assert_neq(err->code, -1, "%s", err->msg);
}

Test(output, permission_denied)
{
	struct tg_err err = {0};
	char *tmp = tmpdir_make();
	char *ro = path_join(tmp, "ro");
	char *rw = path_join(tmp, "rw");
	char *ro_pid = path_join(rw, "123");
	struct buf want = BUF_INIT;

	cr_assert_eq(chmod(tmp, 0755), 0);
	cr_assert_eq(mkdir(ro, 0555), 0);
	open_as_nobody(ro, 123, &err);
	cr_assert_eq(err.code, TG_E_OUTPUT, "%s", err.msg);
	buf_addf(&want, "cannot write to %s/123: Permission denied", ro);
	cr_assert_str_eq(err.msg, want.data);

	/* DIR/PID itself exists, unwritable: caught by creating process.mem */
	cr_assert_eq(mkdir(rw, 0777), 0);
	cr_assert_eq(chmod(rw, 0777), 0);
	cr_assert_eq(mkdir(ro_pid, 0555), 0);
	open_as_nobody(rw, 123, &err); /* root's: refused before any write */
	cr_assert_eq(err.code, TG_E_OUTPUT, "%s", err.msg);
	buf_reset(&want);
	buf_addf(&want, "cannot write to %s/123: owned by uid 0, not by this user (65534)", rw);
	cr_assert_str_eq(err.msg, want.data);
	buf_reset(&want);
	cr_assert_eq(chown(ro_pid, 65534, 65534), 0);
	open_as_nobody(rw, 123, &err);
	cr_assert_eq(err.code, TG_E_OUTPUT, "%s", err.msg);
	buf_reset(&want);
	buf_addf(&want, "cannot write to %s/123: Permission denied", rw);
	cr_assert_str_eq(err.msg, want.data);
	buf_free(&want);
	free(ro);
	free(rw);
	free(ro_pid);
	tmpdir_remove(tmp);
}

/* Mounts a tmpfs on a new directory in a private mount namespace (gone with this test's
 * process); skips the test if that is not allowed here. */
static char *tmpfs_mount(const char *opts)
{
	char *tmp = tmpdir_make();

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", tmp, "tmpfs", 0, opts) < 0) {
		int e = errno;
		rmdir(tmp);
		cr_skip_test("cannot mount a tmpfs here (%s): %s", opts, strerror(e));
	}
	return tmp;
}

static void tmpfs_unmount(char *tmp)
{
	umount(tmp);
	rmdir(tmp);
	free(tmp);
}

Test(output, read_only_filesystem)
{
	struct tg_err err = {0};
	char *tmp = tmpfs_mount("size=64k");

	cr_assert_eq(mount(NULL, tmp, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0, "%s",
		     strerror(errno));
	cr_assert_null(output_open(tmp, 3, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);
	struct buf want = BUF_INIT;
	buf_addf(&want, "cannot write to %s/3: Read-only file system", tmp);
	cr_assert_str_eq(err.msg, want.data);
	buf_free(&want);
	tmpfs_unmount(tmp);
}

Test(output, full_disk_keeps_whole_lines)
{
	struct tg_err err = {0};
	char *tmp = tmpfs_mount("size=64k");
	struct output *o = output_open(tmp, 4, 0, &err);

	cr_assert_not_null(o, "%s", err.msg);
	struct output_thread *a = output_thread(o, 1, "A", 1);
	struct output_thread *b = output_thread(o, 2, "B", 1);
	cr_assert_eq(output_return(o, b, 1.0, "b.py", 1, "b", 1, &err), 0);
	cr_assert_eq(output_process_mem(o, 1.0, 4096, &err), 0);
	int rc = 0, i;
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = output_return(o, a, i, "a_rather_long_file_name.py", i, "some_function", i,
				   &err);
	cr_assert_eq(rc, -1, "64 KiB tmpfs never filled");
	cr_assert_eq(err.code, TG_E_OUTPUT);
	cr_assert(strstr(err.msg, "cannot write to ") && strstr(err.msg, "/4/A.mem: No space "
									 "left on device"),
		  "%s", err.msg);
	struct tg_err again = {0};
	cr_assert_eq(output_call(o, b, 2.0, 0, "b.py", 2, "b", &again), -1);
	cr_assert_str_eq(again.msg, err.msg, "later calls repeat the first failure");
	cr_assert_eq(output_close(o, &again), -1);
	cr_assert_str_eq(again.msg, err.msg);

	char *dir = path_join(tmp, "4");
	cr_assert_eq(dir_check_lines(dir), 4);
	size_t len;
	char *mem = file_read(dir, "A.mem", &len);
	cr_assert_gt(len, 0, "the lines that fit were kept");
	free(mem);
	free(dir);
	tmpfs_unmount(tmp);
}
