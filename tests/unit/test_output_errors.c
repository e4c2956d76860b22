/* sampler/output where the file system refuses: paths that cannot be written, no
 * permission, a read-only file system, a full disk (whole lines, a clear error). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
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
#include "sampler/output.h"
#include "tests/unit/output_util.h"

Test(output, unwritable_paths)
{
	struct tg_err err = {0};
	char *tmp = outt_tmpdir_make();
	char *file = outt_path_join(tmp, "plainfile");
	struct buf want = BUF_INIT;

	outt_file_write(tmp, "plainfile", "x");
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
	outt_file_write(tmp, "2", "");
	cr_assert_null(output_open(tmp, 2, 0, &err));
	cr_assert_eq(err.code, TG_E_OUTPUT);
	buf_reset(&want);
	buf_addf(&want, "cannot write to %s/2: Not a directory", tmp);
	cr_assert_str_eq(err.msg, want.data);
	buf_free(&want);
	free(file);
	outt_tmpdir_remove(tmp);
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
	char *tmp = outt_tmpdir_make();
	char *ro = outt_path_join(tmp, "ro");
	char *rw = outt_path_join(tmp, "rw");
	char *ro_pid = outt_path_join(rw, "123");
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
	outt_tmpdir_remove(tmp);
}

/* Mounts a tmpfs on a new directory in a private mount namespace (gone with this test's
 * process); skips the test if that is not allowed here. */
static char *tmpfs_mount(const char *opts)
{
	char *tmp = outt_tmpdir_make();

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

	char *dir = outt_path_join(tmp, "4");
	cr_assert_eq(outt_dir_check_lines(dir), 4);
	size_t len;
	char *mem = outt_file_read(dir, "A.mem", &len);
	cr_assert_gt(len, 0, "the lines that fit were kept");
	free(mem);
	free(dir);
	tmpfs_unmount(tmp);
}
