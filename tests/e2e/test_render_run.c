/* Helpers of the render end-to-end tests; see test_render_run.h. */
#include "tests/e2e/test_render_run.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void slurp_fd(int fd, struct buf *b)
{
	char tmp[8192];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(b, tmp, (size_t)n);
	buf_grow(b, 0);
}

static int temp_fd(void)
{
	char path[] = "/tmp/tg-render-e2e-out-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	return fd;
}

void rrun_exec(struct rrun *r, const char *path_env, const char *const *argv)
{
	int out = temp_fd(), err = temp_fd(), status;
	pid_t pid;

	memset(r, 0, sizeof *r);
	cr_assert_eq(access(argv[0], X_OK), 0, "%s is missing (run `make asan` first): %s", argv[0],
		     strerror(errno));
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		if (path_env && setenv("PATH", path_env, 1) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	slurp_fd(out, &r->out);
	slurp_fd(err, &r->err);
	close(out);
	close(err);
}

void rrun_tool(struct rrun *r, const char *path_env, const char *const *args)
{
	const char *argv[64];
	size_t n = 0;

	argv[n++] = RENDER_TG_BIN;
	for (; args[n - 1] && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	rrun_exec(r, path_env, argv);
}

void rrun_free(struct rrun *r)
{
	buf_free(&r->out);
	buf_free(&r->err);
}

char *rrun_which(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (!path)
		return NULL;
	copy = strdup(path);
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/%s", dir, prog);
		if (access(buf_cstr(&b), X_OK) == 0)
			found = buf_detach(&b);
		buf_free(&b);
	}
	free(copy);
	return found;
}

int rrun_xml_ok(const char *xmllint, const char *path, struct buf *msg)
{
	const char *argv[] = {xmllint, "--noout", path, NULL};
	struct rrun r;
	int ok;

	rrun_exec(&r, NULL, argv);
	ok = r.status == 0 && r.err.len == 0;
	buf_add(msg, buf_cstr(&r.err), r.err.len);
	rrun_free(&r);
	return ok;
}

char *rrun_tmpdir(void)
{
	char *dir = strdup("/tmp/tg-render-e2e-XXXXXX");

	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void rrun_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void rrun_read(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	slurp_fd(fd, b);
	close(fd);
}

void rrun_write(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

int rrun_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

size_t rrun_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

void rrun_check(struct rrun *r, const char *const *args)
{
	char *py = rrun_which("python3");
	const char *argv[32];
	size_t n = 0;

	if (!py)
		cr_skip_test("python3 is missing: the JSON/SVG structure check needs it");
	argv[n++] = py;
	argv[n++] = "tests/e2e/test_render_check.py";
	for (; *args && n < 31; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	rrun_exec(r, NULL, argv);
	free(py);
}

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

void rrun_assert_png(const char *path, unsigned w, unsigned h)
{
	struct buf b = BUF_INIT;
	const unsigned char *u;

	rrun_read(path, &b);
	u = (const unsigned char *)b.data;
	cr_assert_gt(b.len, 1000, "%s is too small to be a picture", path);
	cr_assert_eq(memcmp(u, "\x89PNG\r\n\x1a\n", 8), 0, "%s is not a PNG", path);
	cr_assert_eq(memcmp(u + 12, "IHDR", 4), 0);
	cr_assert_eq(be32(u + 16), w, "%s: width %u", path, be32(u + 16));
	cr_assert_eq(be32(u + 20), h, "%s: height %u", path, be32(u + 20));
	buf_free(&b);
}

void rrun_keep_for_looking(const char *path, const char *name)
{
	struct buf data = BUF_INIT, to = BUF_INIT;

	mkdir("build", 0755);
	mkdir(RENDER_LOOK_DIR, 0755);
	rrun_read(path, &data);
	buf_addf(&to, "%s/%s", RENDER_LOOK_DIR, name);
	rrun_write(buf_cstr(&to), data.data, data.len);
	cr_log_info("look at %s", buf_cstr(&to));
	buf_free(&data);
	buf_free(&to);
}

/* memg.svg in outdir: large enough, whole, and XML (xmllint, when installed). */
void rrun_assert_memg_svg(const char *outdir)
{
	char *xmllint = rrun_which("xmllint");
	struct buf path = BUF_INIT, msg = BUF_INIT, svg = BUF_INIT;

	buf_addf(&path, "%s/memg.svg", outdir);
	rrun_read(buf_cstr(&path), &svg);
	cr_assert_gt(svg.len, 1000, "memg.svg is too small");
	cr_assert_not_null(strstr(buf_cstr(&svg), "</svg>"), "memg.svg is cut short");
	if (!xmllint) {
		cr_log_warn(
		    "xmllint is missing (make deps installs libxml2-utils): XML check skipped");
	} else {
		cr_assert(rrun_xml_ok(xmllint, buf_cstr(&path), &msg), "memg.svg is not XML: %s",
			  buf_cstr(&msg));
	}
	free(xmllint);
	buf_free(&path);
	buf_free(&msg);
	buf_free(&svg);
}
