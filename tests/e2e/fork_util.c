/* fork_util.c: see fork_util.h. */
#include "tests/e2e/fork_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "tests/e2e/run_util.h"
#include "tests/e2e/truth_util.h"

/* ---- the process tree --------------------------------------------------------------- */

/* root and its live descendants (root first), from /proc/ stat ppid. */
size_t fork_tree(pid_t root, pid_t *out, size_t max)
{
	pid_t pids[32768], ppids[32768];
	size_t all = 0, n = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d || max == 0)
		return 0;
	while ((de = readdir(d)) && all < 32768) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		pids[all] = (pid_t)pid;
		ppids[all++] = (pid_t)proc_stat_long((pid_t)pid, 4);
	}
	closedir(d);
	out[n++] = root;
	for (size_t k = 0; k < n; k++) /* breadth first: out grows while we walk it */
		for (size_t i = 0; i < all && n < max; i++)
			if (ppids[i] == out[k])
				out[n++] = pids[i];
	return n;
}

/* No thread of root's tree is stopped (t/T) or traced.  Processes that vanish meanwhile are
 * fine (a storm's children do). */
void fork_tree_check_clean(pid_t root, const char *when)
{
	pid_t tree[4096], tids[512];
	size_t n = fork_tree(root, tree, 4096);

	cr_assert(n >= 1);
	for (size_t i = 0; i < n; i++) {
		size_t nt = proc_tasks(tree[i], tids, 512);
		for (size_t k = 0; k < nt; k++) {
			char state = proc_state(tids[k]);
			long tracer = proc_status_long(tids[k], "TracerPid");
			cr_assert(state != 't' && state != 'T',
				  "%s: thread %d of process %d (tree of %d) is stopped (%c)", when,
				  (int)tids[k], (int)tree[i], (int)root, state);
			cr_assert(tracer <= 0,
				  "%s: thread %d of process %d (tree of %d) is traced by %ld", when,
				  (int)tids[k], (int)tree[i], (int)root, tracer);
		}
	}
}

/* ---- fixture and tgattach processes ------------------------------------------------- */

/* On the test's stack (no allocation a failed assertion could leak). */
void fork_run_init(struct fork_run *r, const char *tag)
{
	memset(r, 0, sizeof *r);
	r->fx.to_child = r->fx.from_child = -1;
	if (pyenv_python("3.12.", r->python, sizeof r->python) < 0)
		cr_skip_test("pyenv 3.12 is not installed: the fork fixtures need it");
	char *tmp = temp_dir(tag);
	cr_assert_not_null(tmp);
	snprintf(r->tmp, sizeof r->tmp, "%s", tmp);
	free(tmp);
	snprintf(r->out, sizeof r->out, "%s/out", r->tmp);
	snprintf(r->err_path, sizeof r->err_path, "%s/tgattach.err", r->tmp);
	cr_assert_eq(mkdir(r->out, 0755), 0);
}

/* Start fixtures/NAME with args (NULL-terminated) and wait for its READY line. */
void fork_fx_start(struct fork_run *r, const char *name, const char *const *args)
{
	char cwd[PATH_MAX], path[PATH_MAX + 64];
	char *argv[8] = {r->python, path};
	int n = 2;

	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	snprintf(path, sizeof path, "%s/fixtures/%s", cwd, name);
	for (; args && *args && n < 7; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	cr_assert_eq(proc_spawn(&r->fx, argv), 0, "%s: cannot start", name);
	cr_assert_eq(proc_wait_line(&r->fx, "READY", r->ready, sizeof r->ready, 30000), 0,
		     "%s did not print READY", name);
}

char *fork_tg_stderr(struct fork_run *r)
{
	static __thread char text[4096];
	char *all = truth_read_text(r->err_path);

	snprintf(text, sizeof text, "%s", all ? all : "(no stderr)");
	free(all);
	return text;
}

/* tgattach -p FIXTURE -o OUTDIR -q -d DURATION (NULL: 30) [extra], in the background. */
void fork_tg_start(struct fork_run *r, const char *duration, const char *extra)
{
	char pid[16];

	snprintf(pid, sizeof pid, "%d", (int)r->fx.pid);
	r->tg = proc_fork_helper();
	cr_assert(r->tg >= 0);
	if (r->tg == 0) {
		int err = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDWR);
		sigset_t none;
		if (err < 0 || null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(null, 1);
		dup2(err, 2);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		char *argv[] = {TG_BIN,	       "-p", pid,  "-o",
				r->out,	       "-q", "-d", (char *)(duration ? duration : "30"),
				(char *)extra, NULL};
		execv(TG_BIN, argv);
		_exit(127);
	}
}

/* Wait up to timeout_ms for tgattach to end; its wait status, or -1 (then it was killed). */
int fork_tg_wait(struct fork_run *r, int timeout_ms)
{
	long until = proc_now_ms() + timeout_ms;
	int status;

	while (r->tg > 0) {
		pid_t got = waitpid(r->tg, &status, WNOHANG);
		if (got == r->tg) {
			r->tg = 0;
			return status;
		}
		if (got < 0 && errno != EINTR)
			break;
		if (proc_now_ms() > until) {
			kill(r->tg, SIGKILL);
			waitpid(r->tg, NULL, 0);
			break;
		}
		usleep(10000);
	}
	r->tg = 0;
	return -1;
}

/* Send sig (0: none) and require a clean exit 0. */
void fork_tg_stop(struct fork_run *r, int sig)
{
	if (sig && r->tg > 0)
		kill(r->tg, sig);
	int status = fork_tg_wait(r, 30000);
	cr_assert(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "tgattach did not exit 0 (status 0x%x); stderr: %s", status, fork_tg_stderr(r));
}

void fork_tg_require_running(struct fork_run *r, const char *when)
{
	int status;

	if (r->tg > 0 && waitpid(r->tg, &status, WNOHANG) == r->tg) {
		r->tg = 0;
		cr_assert_fail("tgattach ended %s (status 0x%x); stderr: %s", when, status,
			       fork_tg_stderr(r));
	}
}

/* Until the fixture is traced by a thread of tgattach (TracerPid), which is noted. */
void fork_tg_wait_traced(struct fork_run *r)
{
	for (long until = proc_now_ms() + 20000; proc_now_ms() < until; usleep(2000)) {
		long tracer = proc_status_long(r->fx.pid, "TracerPid");
		if (tracer > 0 && proc_status_long((pid_t)tracer, "Tgid") == r->tg) {
			r->tracer = (pid_t)tracer;
			return;
		}
		fork_tg_require_running(r, "before it attached");
	}
	cr_assert_fail("tgattach did not attach within 20 s; stderr: %s", fork_tg_stderr(r));
}

/* 1 when dir holds a .stack file (created at a thread's first sample). */
static int fork_has_stack_file(const char *dir)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(dir);

	while (d && !found && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		found = len > 6 && !strcmp(de->d_name + len - 6, ".stack");
	}
	if (d)
		closedir(d);
	return found;
}

/* Until the parent's first sample: a .stack file exists (files are buffered, so sizes say
 * nothing yet). */
void fork_tg_wait_sampling(struct fork_run *r)
{
	char dir[PATH_MAX + 64];

	fork_tg_wait_traced(r);
	snprintf(dir, sizeof dir, "%s/%d", r->out, (int)r->fx.pid);
	for (long until = proc_now_ms() + 20000; proc_now_ms() < until; usleep(10000)) {
		if (fork_has_stack_file(dir))
			return;
		fork_tg_require_running(r, "before its first sample");
	}
	cr_assert_fail("no sample of the parent (no .stack file in %s) within 20 s; stderr: %s",
		       dir, fork_tg_stderr(r));
}

/* End tgattach, then the fixture: closing its stdin ends it normally (its helpers, like
 * multiprocessing's resource tracker, then end too); after 3 s its whole tree is killed.
 * Remove the files. */
void fork_run_free(struct fork_run *r)
{
	pid_t tree[4096];

	if (r->tg > 0) {
		kill(r->tg, SIGKILL);
		waitpid(r->tg, NULL, 0);
	}
	if (r->fx.to_child >= 0) {
		close(r->fx.to_child);
		r->fx.to_child = -1;
	}
	if (r->fx.pid > 0 && proc_wait_exit(&r->fx, 3000, NULL) < 0) {
		size_t n = fork_tree(r->fx.pid, tree, 4096);
		for (size_t i = 1; i < n; i++)
			kill(tree[i], SIGKILL);
	}
	proc_reap(&r->fx);
	remove_tree(r->tmp);
}

/* ---- what the fixture says ---------------------------------------------------------- */

long fork_kv_long(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(line, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

const char *fork_kv_str(const char *line, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(line, pat);
	out[0] = '\0';
	if (p) {
		p += strlen(pat);
		snprintf(out, size, "%.*s", (int)strcspn(p, " "), p);
	}
	return out;
}

void fork_note_line(struct fork_run *r, const char *line)
{
	if (!strncmp(line, "CHILD ", 6)) {
		cr_assert_lt(r->nchildren, FORK_MAX_CHILDREN, "too many children");
		struct fork_child *c = &r->children[r->nchildren++];
		char lived[32];
		cr_assert_eq(sscanf(line, "CHILD %d %31s", &c->pid, c->kind), 2, "bad line: %s",
			     line);
		c->tracer = fork_kv_long(line, "tracer");
		c->lived_ms = atof(fork_kv_str(line, "lived_ms", lived, sizeof lived));
		fork_kv_str(line, "version", c->version, sizeof c->version);
	} else if (!strncmp(line, "RESULT ", 7) && r->nresults < 16) {
		r->results[r->nresults++] = (pid_t)atoi(line + 7);
	} else if (!strncmp(line, "STORM ", 6)) {
		snprintf(r->storm, sizeof r->storm, "%s", line);
	} else if (!strncmp(line, "DONE", 4)) {
		snprintf(r->done, sizeof r->done, "%s", line);
	}
}

/* Read the fixture's lines for at most ms (stopping at DONE); each line is noted, and
 * each_50ms (may be NULL) runs between reads.  1 when DONE was read. */
int fork_fx_collect(struct fork_run *r, int ms, void (*each_50ms)(struct fork_run *, void *),
		    void *ctx)
{
	char line[512];

	for (long until = proc_now_ms() + ms; proc_now_ms() < until && !r->done[0];) {
		if (proc_read_line(&r->fx, line, sizeof line, 50) >= 0)
			fork_note_line(r, line);
		else if (r->fx.from_child < 0 || proc_state(r->fx.pid) == 'Z')
			break;
		if (each_50ms)
			each_50ms(r, ctx);
	}
	return r->done[0] != '\0';
}

/* Why the fixture said no DONE: its wait status if it ended. */
static const char *fork_fx_fate(struct fork_run *r, char *out, size_t size)
{
	int status = 0;

	if (r->fx.pid > 0 && proc_wait_exit(&r->fx, 0, &status) == 0)
		snprintf(out, size, "the fixture ended: %s %d after %d CHILD lines",
			 WIFSIGNALED(status) ? "signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			 r->nchildren);
	else
		snprintf(out, size, "the fixture runs (state %c) after %d CHILD lines",
			 proc_state(r->fx.pid), r->nchildren);
	return out;
}

void fork_fx_require_done(struct fork_run *r, int ms, void (*each_50ms)(struct fork_run *, void *),
			  void *ctx)
{
	char fate[128];

	if (!fork_fx_collect(r, ms, each_50ms, ctx))
		cr_assert_fail("no DONE from the fixture within %d ms: %s; tgattach stderr: %s", ms,
			       fork_fx_fate(r, fate, sizeof fate), fork_tg_stderr(r));
}

void fork_fx_go_and_finish(struct fork_run *r, int ms)
{
	cr_assert_eq(proc_send(&r->fx, "GO\n"), 0);
	fork_fx_require_done(r, ms, NULL, NULL);
}

struct fork_child *fork_find_child(struct fork_run *r, pid_t pid)
{
	for (int i = 0; i < r->nchildren; i++)
		if (r->children[i].pid == pid)
			return &r->children[i];
	return NULL;
}

int fork_count_kind(struct fork_run *r, const char *kind)
{
	int n = 0;

	for (int i = 0; i < r->nchildren; i++)
		n += strcmp(r->children[i].kind, kind) == 0;
	return n;
}

int fork_is_python_kind(const char *kind)
{
	return strcmp(kind, "shell") && strcmp(kind, "exec-sh");
}

/* ---- what tgattach wrote ------------------------------------------------------------ */

int fork_list_dirs(const char *out, pid_t *pids, int max)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(out);

	cr_assert_not_null(d, "%s missing", out);
	while ((de = readdir(d)) && n < max) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (de->d_name[0] != '.' && !*end && pid > 0)
			pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

int fork_has_dir(const char *out, pid_t pid)
{
	char path[PATH_MAX + 32];
	struct stat st;

	snprintf(path, sizeof path, "%s/%d", out, (int)pid);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lines of process.mem, each checked `TIME#RSS` with RSS > 0 (a sample of a live process;
 * statm of an exited one reads 0); -1 when the file is missing.  in_window (may be NULL)
 * counts lines with from <= TIME <= to. */
int fork_mem_lines(const char *dir, double from, double to, int *in_window)
{
	char path[PATH_MAX + 32], bad[160] = "";
	int n = 0, window = 0;

	snprintf(path, sizeof path, "%s/process.mem", dir);
	char *text = truth_read_text(path);
	if (!text)
		return -1;
	for (const char *p = text; *p && !bad[0]; n++) {
		const char *nl = strchr(p, '\n');
		double t;
		unsigned long long rss;
		char tail;
		if (!nl || sscanf(p, "%lf#%llu%c", &t, &rss, &tail) != 3 || tail != '\n' ||
		    rss == 0)
			snprintf(bad, sizeof bad, "line %d: %.*s", n + 1,
				 (int)(nl ? nl - p : (long)strlen(p)), p);
		window += t >= from && t <= to;
		p = nl ? nl + 1 : p + strlen(p);
	}
	free(text);
	cr_assert(!bad[0], "bad process.mem line in %s (want TIME#RSS, RSS > 0): %s", dir, bad);
	if (in_window)
		*in_window = window;
	return n;
}

/* The value of the last `key=` line of meta (the current run's), or "" when none. */
const char *fork_meta_value(const char *meta, const char *key, char *out, size_t size)
{
	char pat[64];
	size_t len = (size_t)snprintf(pat, sizeof pat, "%s=", key);

	out[0] = '\0';
	for (const char *p = meta; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t linelen = nl ? (size_t)(nl - p) : strlen(p);
		if (linelen >= len && !strncmp(p, pat, len))
			snprintf(out, size, "%.*s", (int)(linelen - len), p + len);
		p = nl ? nl + 1 : p + linelen;
	}
	return out;
}

/* 1 when some .stack file of dir has a call of func (`:func` ending a line). */
int fork_stack_has(const char *dir, const char *func, const char *only_file)
{
	char want[300], path[PATH_MAX + 300];
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	snprintf(want, sizeof want, ":%s\n", func);
	while (!found && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 7 || strcmp(de->d_name + len - 6, ".stack"))
			continue;
		if (only_file && strcmp(de->d_name, only_file))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		char *text = truth_read_text(path);
		found = text && strstr(text, want);
		free(text);
	}
	closedir(d);
	return found;
}

/* OUTDIR/pid is a well-formed recording of pid, a child of parent (-1: meta names some
 * parent; 0: no parent check, for the original target); with
 * at least min_mem samples; func (NULL: none) among its calls. */
void fork_check_process_dir(struct fork_run *r, pid_t pid, pid_t parent, int min_mem,
			    const char *func)
{
	char dir[PATH_MAX + 32], path[PATH_MAX + 64], value[64];

	snprintf(dir, sizeof dir, "%s/%d", r->out, (int)pid);
	cr_assert(fork_has_dir(r->out, pid), "OUTDIR/CHILDPID missing: no %s for child %d", dir,
		  (int)pid);
	snprintf(path, sizeof path, "%s/meta", dir);
	char *meta = truth_read_text(path);
	cr_assert_not_null(meta, "%s missing", path);
	cr_assert_eq(atol(fork_meta_value(meta, "pid", value, sizeof value)), pid,
		     "%s: pid=%s, want %d", path, value, (int)pid);
	fork_meta_value(meta, "parent", value, sizeof value);
	cr_assert(parent == 0 || value[0], "%s has no parent= key", path);
	if (parent > 0)
		cr_assert_eq(atol(value), parent, "%s: parent=%s, want %d", path, value,
			     (int)parent);
	free(meta);
	int lines = fork_mem_lines(dir, 0, 0, NULL);
	if (min_mem > 0)
		cr_assert(lines >= min_mem, "%s/process.mem: %d samples, want at least %d", dir,
			  lines, min_mem);
	if (func)
		cr_assert(fork_stack_has(dir, func, NULL), "no .stack file in %s has a call of %s",
			  dir, func);
}

/* Every directory in OUTDIR is the fixture's or that of a reported Python child (or of a
 * pid in extra). */
void fork_check_no_stray_dirs(struct fork_run *r)
{
	pid_t dirs[FORK_MAX_DIRS];
	int n = fork_list_dirs(r->out, dirs, FORK_MAX_DIRS);

	for (int i = 0; i < n; i++) {
		if (dirs[i] == r->fx.pid)
			continue;
		struct fork_child *c = fork_find_child(r, dirs[i]);
		char path[PATH_MAX + 64], cmd[200] = "?";
		snprintf(path, sizeof path, "%s/%d/meta", r->out, (int)dirs[i]);
		char *meta = truth_read_text(path);
		if (meta)
			fork_meta_value(meta, "cmdline", cmd, sizeof cmd);
		free(meta);
		cr_assert_not_null(c,
				   "OUTDIR/%d exists but the fixture reported no such child "
				   "(meta cmdline: %s)",
				   (int)dirs[i], cmd);
		cr_assert(fork_is_python_kind(c->kind),
			  "OUTDIR/%d exists for a child that exec'd a non-Python program (%s; meta "
			  "cmdline: %s)",
			  (int)dirs[i], c->kind, cmd);
	}
}

void fork_check_traced_from_birth(struct fork_run *r, const char *kind, long want)
{
	for (int i = 0; i < r->nchildren; i++)
		if (!strcmp(r->children[i].kind, kind))
			cr_assert_eq(r->children[i].tracer, want,
				     "child %d (%s) read TracerPid %ld at its start, want %ld",
				     (int)r->children[i].pid, kind, r->children[i].tracer, want);
}
