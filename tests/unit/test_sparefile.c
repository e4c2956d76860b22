/* sampler/sparefile: files made ahead by a helper thread, given their names with linkat():
 * a name must be new (nothing planted is replaced or followed), and a spare file never
 * named leaves nothing behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "sampler/linefile.h"
#include "sampler/sparefile.h"
#include "tests/unit/output_util.h"

/* A spare file named name: waits for the helper (up to 5 s). */
static int take_waiting(struct sparefile *s, int dfd, const char *name)
{
	struct timespec pause = {0, 1000000};

	for (int i = 0; i < 5000; i++) {
		int fd = sparefile_take(s, dfd, name);
		if (fd >= 0 || errno != EAGAIN)
			return fd;
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("no spare file made in 5 s");
	return -1;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

Test(sparefile, named_new_files_and_nothing_planted_replaced)
{
	char *tmp = outt_tmpdir_make();
	char *target = outt_path_join(tmp, "target");
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	cr_assert_geq(dfd, 0);
	struct sparefile *s = sparefile_start(dfd, O_APPEND | O_CLOEXEC, 0644);
	cr_assert_not_null(s);

	int fd = take_waiting(s, dfd, "a.mem");
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	cr_assert_eq(write(fd, "one\n", 4), 4);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid());
	cr_assert(fcntl(fd, F_GETFL) & O_APPEND, "not opened for appending");
	close(fd);
	char *got = outt_file_read(tmp, "a.mem", NULL);
	cr_assert_str_eq(got, "one\n");
	free(got);

	/* a name already there: a file, a link to one, a dangling link */
	outt_file_write(tmp, "planted.mem", "theirs\n");
	outt_file_write(tmp, "target", "target\n");
	cr_assert_eq(symlinkat(target, dfd, "link.mem"), 0);
	cr_assert_eq(symlinkat("/nonexistent/x", dfd, "dangling.mem"), 0);
	const char *taken[] = {"planted.mem", "link.mem", "dangling.mem", "a.mem"};
	for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
		cr_assert_eq(take_waiting(s, dfd, taken[i]), -1, "%s taken", taken[i]);
		cr_assert_eq(errno, EEXIST, "%s: %s", taken[i], strerror(errno));
	}
	got = outt_file_read(tmp, "planted.mem", NULL);
	cr_assert_str_eq(got, "theirs\n");
	free(got);
	got = outt_file_read(tmp, "target", NULL);
	cr_assert_str_eq(got, "target\n");
	free(got);
	cr_assert_eq(lstat(target, &st), 0);
	cr_assert_eq(st.st_nlink, 1, "the link's target got another name");
	cr_assert_eq(access("/nonexistent/x", F_OK), -1);

	/* many more than are kept ready, then stopped with spares left: they vanish */
	for (int i = 0; i < 3 * SPAREFILE_MAX; i++) {
		char name[32];
		snprintf(name, sizeof name, "t%d.stack", i);
		fd = take_waiting(s, dfd, name);
		cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
		close(fd);
	}
	int before = entries(tmp);
	sparefile_stop(s);
	cr_assert_eq(entries(tmp), before);
	cr_assert_eq(before, 5 + 3 * SPAREFILE_MAX); /* a, planted, target, the links, t* */
	close(dfd);
	free(target);
	outt_tmpdir_remove(tmp);
}

/* linefile: past LINEFILE_SPARE_AFTER files, new ones are spare files; in a directory of
 * this run a planted name still fails as O_EXCL does, and its content is untouched. */
Test(sparefile, linefile_uses_spares_and_still_refuses_planted_names)
{
	char *tmp = outt_tmpdir_make();
	struct linefile_dir d = {.path = tmp, .fresh = 1};
	struct linefile f[LINEFILE_SPARE_AFTER + 40];
	struct tg_err err = {0};
	struct buf b = BUF_INIT;
	int n = (int)(sizeof f / sizeof *f);

	d.dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(d.dfd, 0);
	for (int i = 0; i < n; i++) {
		char base[32];
		snprintf(base, sizeof base, "T-%d", i);
		linefile_init(&f[i], base, ".mem");
		cr_assert_eq(linefile_open(&d, &f[i], &err), 0, "%s", err.msg);
		buf_addf(&b, "line %d\n", i);
		cr_assert_eq(linefile_write(&d, &f[i], &b, &err), 0, "%s", err.msg);
		linefile_close(&f[i]);
		if (i == LINEFILE_SPARE_AFTER + 20) /* let the helper fill up */
			usleep(100000);
	}
	cr_assert_not_null(d.spare, "no helper after %d files", n);
	cr_assert_geq(d.spared, SPAREFILE_MAX, "%u files from spares", d.spared);
	cr_assert_leq(d.made, (unsigned)n);
	for (int i = 0; i < n; i++) {
		char name[32], want[32];
		snprintf(name, sizeof name, "T-%d.mem", i);
		snprintf(want, sizeof want, "line %d\n", i);
		char *got = outt_file_read(tmp, name, NULL);
		cr_assert_str_eq(got, want);
		free(got);
	}
	outt_file_write(tmp, "planted.mem", "theirs\n");
	struct linefile p;
	linefile_init(&p, "planted", ".mem");
	cr_assert_eq(linefile_open(&d, &p, &err), -1);
	cr_assert_eq(err.code, TG_E_OUTPUT);
	cr_assert(strstr(err.msg, "planted.mem: File exists"), "%s", err.msg);
	char *got = outt_file_read(tmp, "planted.mem", NULL);
	cr_assert_str_eq(got, "theirs\n");
	free(got);
	linefile_dir_close(&d);
	cr_assert_null(d.spare);
	cr_assert_eq(entries(tmp), n + 1, "spare files left behind");
	for (int i = 0; i < n; i++)
		linefile_free(&f[i]);
	linefile_free(&p);
	buf_free(&b);
	outt_tmpdir_remove(tmp);
}
