/* The stack walker hands out a thread's kept walk when the thread has not run since
 * (sampler/walk.h).  Against a real interpreter whose threads sit still and, on command,
 * move to a known place (a fixture written by this file; its own sys._current_frames()
 * is the truth):
 *  - walker: idle threads are reused and equal the truth; a thread that was idle, woke and
 *    moved is seen moved at the very next sample (also when only a caller's line changed,
 *    which leaves every thread state word as it was), then is reused again;
 *  - recording: tgattach records while the thread moves; each move shows as one call in
 *    its .stack no later than the first sample taken after the move, at the right depth,
 *    and the idle thread's .stack holds its frames once each. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sampler/session.h"
#include "sampler/taskclock.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

/* Main thread: reads commands; "idle": parked for good; "mover": parked at one of four
 * places, and on each command moves to the next (0 and 1 differ only in stay_a's line). */
static const char fixture_src[] =
    "import sys, threading, time\n"
    "go = threading.Lock(); go.acquire()\n"
    "done = threading.Lock(); done.acquire()\n"
    "never = threading.Lock(); never.acquire()\n"
    "state = {'n': -1}\n"
    "\n"
    "def park(n):\n"
    "    state['n'] = n\n"
    "    done.release()\n"
    "    go.acquire()\n"
    "\n"
    "def stay_a():\n"
    "    park(0)\n"
    "    park(1)\n"
    "\n"
    "def inner():\n"
    "    park(2)\n"
    "\n"
    "def stay_b():\n"
    "    inner()\n"
    "\n"
    "def mover():\n"
    "    while True:\n"
    "        stay_a()\n"
    "        stay_b()\n"
    "        park(3)\n"
    "\n"
    "def idle_leaf():\n"
    "    never.acquire()\n"
    "\n"
    "def idle_mid():\n"
    "    idle_leaf()\n"
    "\n"
    "def code_name(code):\n"
    "    return getattr(code, 'co_qualname', code.co_name)\n"
    "\n"
    "def at(ident, code, line):\n"
    "    f = sys._current_frames().get(ident)\n"
    "    return f is not None and f.f_code is code and f.f_lineno == line\n"
    "\n"
    "def settle(mv, idle):\n"
    "    while not (at(mv.ident, park.__code__, park.__code__.co_firstlineno + 3) and\n"
    "               at(idle.ident, idle_leaf.__code__, idle_leaf.__code__.co_firstlineno + 1)):\n"
    "        time.sleep(0.0005)\n"
    "\n"
    "def write_truth(path):\n"
    "    me = threading.current_thread().ident\n"
    "    lines = []\n"
    "    for ident, frame in sys._current_frames().items():\n"
    "        if ident == me:\n"
    "            continue\n"
    "        lines.append('thread\\t%d' % ident)\n"
    "        while frame is not None:\n"
    "            c = frame.f_code\n"
    "            lines.append('frame\\t%s\\t%s\\t%d' % (c.co_filename, code_name(c), "
    "frame.f_lineno))\n"
    "            frame = frame.f_back\n"
    "    f = open(path + '.tmp', 'w')\n"
    "    f.write('\\n'.join(lines) + '\\n')\n"
    "    f.close()\n"
    "    import os\n"
    "    os.rename(path + '.tmp', path)\n"
    "\n"
    "def main():\n"
    "    idle = threading.Thread(target=idle_mid, name='idle')\n"
    "    mv = threading.Thread(target=mover, name='mover')\n"
    "    for t in (idle, mv):\n"
    "        t.daemon = True\n"
    "        t.start()\n"
    "    done.acquire()\n"
    "    settle(mv, idle)\n"
    "    write_truth(sys.argv[1])\n"
    "    sys.stdout.write('READY %d %d\\n' % (idle.ident, mv.ident))\n"
    "    sys.stdout.flush()\n"
    "    while sys.stdin.readline():\n"
    "        go.release()\n"
    "        done.acquire()\n"
    "        settle(mv, idle)\n"
    "        t = time.time()\n"
    "        write_truth(sys.argv[1])\n"
    "        sys.stdout.write('AT %d %.6f\\n' % (state['n'], t))\n"
    "        sys.stdout.flush()\n"
    "\n"
    "main()\n";

#define MAX_FRAMES 64

struct tframe {
	char file[512], func[128];
	int line;
};

struct tthread {
	unsigned long long ident;
	int n;
	struct tframe f[MAX_FRAMES]; /* innermost first */
};

struct truth {
	int n;
	struct tthread t[8];
};

struct fixture_run {
	char *dir;
	char script[PATH_MAX], truth[PATH_MAX];
	struct proc fx;
	unsigned long long idle, mover; /* thread idents */
};

static void parse_truth(const char *path, struct truth *tr)
{
	char line[2048];
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "truth file %s: %s", path, strerror(errno));
	memset(tr, 0, sizeof *tr);
	struct tthread *cur = NULL;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[4] = {0};
		int n = 0;
		for (char *p = line, *tok; n < 4 && (tok = strsep(&p, "\t"));)
			fields[n++] = tok;
		if (strcmp(fields[0], "thread") == 0 && n == 2 && tr->n < 8) {
			cur = &tr->t[tr->n++];
			cur->ident = strtoull(fields[1], NULL, 10);
		} else if (strcmp(fields[0], "frame") == 0 && n == 4 && cur &&
			   cur->n < MAX_FRAMES) {
			struct tframe *fr = &cur->f[cur->n++];
			snprintf(fr->file, sizeof fr->file, "%s", fields[1]);
			snprintf(fr->func, sizeof fr->func, "%s", fields[2]);
			fr->line = atoi(fields[3]);
		}
	}
	fclose(f);
}

static const struct tthread *truth_thread(const struct truth *tr, unsigned long long ident)
{
	for (int i = 0; i < tr->n; i++)
		if (tr->t[i].ident == ident)
			return &tr->t[i];
	cr_assert_fail("thread %llx missing from the truth", ident);
	return NULL;
}

/* Start the fixture under python; 0, or -1 when that interpreter is not installed. */
static int mover_start(struct fixture_run *fr, const char *prefix)
{
	char python[PATH_MAX], line[256];

	if (pyenv_python(prefix, python, sizeof python) < 0)
		return -1;
	fr->dir = temp_dir("skip");
	snprintf(fr->script, sizeof fr->script, "%s/skip_fixture.py", fr->dir);
	snprintf(fr->truth, sizeof fr->truth, "%s/truth.txt", fr->dir);
	FILE *f = fopen(fr->script, "w");
	cr_assert_not_null(f);
	fputs(fixture_src, f);
	cr_assert_eq(fclose(f), 0);
	char *argv[] = {python, fr->script, fr->truth, NULL};
	cr_assert_eq(proc_spawn(&fr->fx, argv), 0, "cannot start %s: %s", python, strerror(errno));
	cr_assert_eq(proc_wait_line(&fr->fx, "READY", line, sizeof line, 30000), 0,
		     "%s: the fixture printed no READY line", prefix);
	cr_assert_eq(sscanf(line, "READY %llu %llu", &fr->idle, &fr->mover), 2, "%s", line);
	return 0;
}

static void mover_end(struct fixture_run *fr)
{
	proc_reap(&fr->fx);
	remove_tree(fr->dir);
	free(fr->dir);
}

/* Tell the mover to move; returns its new place and the wall time it was in place. */
static int mover_move(struct fixture_run *fr, double *when)
{
	char line[256];
	int n;

	cr_assert_eq(proc_send(&fr->fx, "move\n"), 0);
	cr_assert_eq(proc_wait_line(&fr->fx, "AT", line, sizeof line, 10000), 0,
		     "the fixture did not move");
	cr_assert_eq(sscanf(line, "AT %d %lf", &n, when), 2, "%s", line);
	return n;
}

static const struct walk_thread *sampled(const struct walk_sample *s, unsigned long long ident)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i].thread_id == ident)
			return &s->threads[i];
	cr_assert_fail("thread %llx not sampled", ident);
	return NULL;
}

static void expect_stack(const char *label, const struct walk_thread *th,
			 const struct tthread *want)
{
	cr_assert_eq(th->depth, (size_t)want->n, "%s: %zu frames (%s), truth %d", label, th->depth,
		     th->reused ? "reused" : "walked", want->n);
	for (int k = 0; k < want->n; k++) {
		const struct walk_frame *f = &th->frames[k];
		cr_assert_str_eq(f->code_info->file, want->f[k].file, "%s: frame %d file", label,
				 k);
		cr_assert_str_eq(f->code_info->func, want->f[k].func, "%s: frame %d", label, k);
		cr_assert_eq(f->line, want->f[k].line, "%s: frame %d (%s) line %d (%s), truth %d",
			     label, k, want->f[k].func, f->line, th->reused ? "reused" : "walked",
			     want->f[k].line);
	}
}

/* Sample until both threads have been reused (their stacks equal to the truth throughout). */
static void sample_until_reused(const char *label, struct session *s, struct walk_sample *sample,
				const struct fixture_run *fr, const struct truth *tr)
{
	long until = proc_now_ms() + 3000;
	int idle_reused = 0, mover_reused = 0;

	while (!(idle_reused && mover_reused)) {
		cr_assert(proc_now_ms() < until, "%s: not reused within 3 s (idle %d, mover %d)",
			  label, idle_reused, mover_reused);
		cr_assert_eq(walker_sample(s->walker, sample, NULL), 0);
		const struct walk_thread *idle = sampled(sample, fr->idle);
		const struct walk_thread *mover = sampled(sample, fr->mover);
		expect_stack(label, idle, truth_thread(tr, fr->idle));
		expect_stack(label, mover, truth_thread(tr, fr->mover));
		idle_reused |= idle->reused;
		mover_reused |= mover->reused;
		usleep(2000);
	}
}

/* Walks of the mover between samples (walker_walk_thread): one where it stands, which
 * finds every frame of the last sample's walk at its address and reads no code header;
 * then one after a move with no sample between, which reads the headers of the frames
 * that changed only (three code objects at most: stay_b, inner and park, from stay_a's
 * park; the mover's own frame stays).
 * Both equal the truth, lines included. */
static void walk_between(const char *label, struct session *s, struct walk_sample *sample,
			 struct fixture_run *fr)
{
	struct walk_sample one = {0};
	struct walk_thread known = *sampled(sample, fr->mover);
	struct truth tr;
	char again[96];
	double when;

	known.frames = NULL;
	parse_truth(fr->truth, &tr);
	uint64_t reads = walker_code_reads(s->walker);
	cr_assert_eq(walker_walk_thread(s->walker, &known, &one), 0, "%s: walk between", label);
	snprintf(again, sizeof again, "%s, walked between samples", label);
	expect_stack(again, &one.threads[0], truth_thread(&tr, fr->mover));
	cr_assert_eq(walker_code_reads(s->walker), reads,
		     "%s: %llu code headers read for frames the last sample walked", again,
		     (unsigned long long)(walker_code_reads(s->walker) - reads));
	int at = mover_move(fr, &when);
	parse_truth(fr->truth, &tr);
	snprintf(again, sizeof again, "%s, moved to %d, walked between samples", label, at);
	reads = walker_code_reads(s->walker);
	cr_assert_eq(walker_walk_thread(s->walker, &known, &one), 0, "%s", again);
	expect_stack(again, &one.threads[0], truth_thread(&tr, fr->mover));
	cr_assert_leq(walker_code_reads(s->walker) - reads, 3, "%s: %llu code headers read", again,
		      (unsigned long long)(walker_code_reads(s->walker) - reads));
	cr_assert_eq(walker_sample(s->walker, sample, NULL), 0);
	expect_stack(again, sampled(sample, fr->mover), truth_thread(&tr, fr->mover));
	walk_sample_free(&one);
}

static void walker_follows(const char *prefix)
{
	struct fixture_run fr;
	struct session s;
	struct session_opts so = {0};
	struct tg_err err = {0};
	struct walk_sample sample = {0};
	struct truth tr;
	char label[64];

	if (mover_start(&fr, prefix) < 0)
		cr_skip_test("pyenv %sx is not installed", prefix);
	if (taskclock_window() == 0)
		cr_skip_test("this machine has nohz_full CPUs: threads are never proven idle");
	parse_truth(fr.truth, &tr);
	cr_assert_eq(session_open(&s, fr.fx.pid, &so, &err), 0, "%s", err.msg);
	snprintf(label, sizeof label, "%s settled", prefix);
	sample_until_reused(label, &s, &sample, &fr, &tr);
	for (int step = 1; step <= 8; step++) {
		double when;
		int at = mover_move(&fr, &when);
		parse_truth(fr.truth, &tr);
		snprintf(label, sizeof label, "%s move %d (to %d)", prefix, step, at);
		/* the very next sample: the mover ran, so its kept walk must not be used */
		cr_assert_eq(walker_sample(s.walker, &sample, NULL), 0);
		const struct walk_thread *mover = sampled(&sample, fr.mover);
		cr_assert_not(mover->reused, "%s: the mover's old stack was reused", label);
		expect_stack(label, mover, truth_thread(&tr, fr.mover));
		expect_stack(label, sampled(&sample, fr.idle), truth_thread(&tr, fr.idle));
		sample_until_reused(label, &s, &sample, &fr, &tr);
		walk_between(label, &s, &sample, &fr);
	}
	walk_sample_free(&sample);
	session_close(&s);
	cr_assert(proc_all_untraced_running(fr.fx.pid), "%s: the fixture was left stopped", prefix);
	mover_end(&fr);
	fprintf(stderr, "sampler_skip walker %-6s passed\n", prefix);
}

TestSuite(sampler_skip, .timeout = 120);

Test(sampler_skip, walker_2_7)
{
	walker_follows("2.7.");
}
Test(sampler_skip, walker_3_10)
{
	walker_follows("3.10.");
}
Test(sampler_skip, walker_3_11)
{
	walker_follows("3.11.");
}
Test(sampler_skip, walker_3_12)
{
	walker_follows("3.12.");
}
Test(sampler_skip, walker_3_13)
{
	walker_follows("3.13.");
}

/* ---- a recording ---- */

#define MOVES 10

struct stack_line {
	int depth, line;
	double when;
	char func[128];
};

/* The lines of a .stack file ("INDENT TIME#FILE:LINE:FUNC"). */
static int read_stack(const char *path, struct stack_line *out, int max)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) && n < max) {
		struct stack_line *l = &out[n++];
		char *p = line, *func, *colon;
		line[strcspn(line, "\n")] = '\0';
		for (l->depth = 0; *p == ' '; p++)
			l->depth++;
		l->when = strtod(p, &p);
		cr_assert_eq(*p, '#', "%s: bad line %s", path, line);
		func = strrchr(p, ':');
		cr_assert_not_null(func, "%s: bad line %s", path, line);
		*func++ = '\0';
		colon = strrchr(p, ':');
		cr_assert_not_null(colon, "%s: bad line %s", path, line);
		l->line = atoi(colon + 1);
		snprintf(l->func, sizeof l->func, "%s", func);
	}
	fclose(f);
	return n;
}

/* Times of the samples (process.mem lines). */
static int read_samples(const char *path, double *out, int max)
{
	double t;
	unsigned long long rss;
	int n = 0;
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (n < max && fscanf(f, "%lf#%llu\n", &t, &rss) == 2)
		out[n++] = t;
	fclose(f);
	return n;
}

static double now_real(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void recording_follows(const char *prefix)
{
	struct fixture_run fr;
	struct proc tg;
	struct truth tr;
	char pidstr[16], path[PATH_MAX];
	double sent[MOVES], placed[MOVES];
	int depth[MOVES];
	static struct stack_line lines[4096];
	static double samples[20000];

	if (mover_start(&fr, prefix) < 0)
		cr_skip_test("pyenv %sx is not installed", prefix);
	parse_truth(fr.truth, &tr);
	const struct tthread *idle = truth_thread(&tr, fr.idle);
	struct tthread idle_truth = *idle;
	char *out = temp_dir("skiprec");
	snprintf(pidstr, sizeof pidstr, "%d", (int)fr.fx.pid);
	char *argv[] = {TG_BIN, "-p", pidstr, "-o", out, "-r", "200", "-d", "4", "-q", NULL};
	cr_assert_eq(proc_spawn(&tg, argv), 0, "cannot start %s", TG_BIN);
	usleep(800000); /* attached, sampling, and both threads long idle */
	for (int k = 0; k < MOVES; k++) {
		sent[k] = now_real();
		mover_move(&fr, &placed[k]);
		parse_truth(fr.truth, &tr);
		depth[k] = truth_thread(&tr, fr.mover)->n - 1;
		usleep(200000);
	}
	int status;
	cr_assert_eq(proc_wait_exit(&tg, 30000, &status), 0, "tgattach did not end");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tgattach status %d", status);
	cr_assert(proc_all_untraced_running(fr.fx.pid), "the fixture was left traced or stopped");

	snprintf(path, sizeof path, "%s/%d/process.mem", out, (int)fr.fx.pid);
	int nsamples = read_samples(path, samples, 20000);
	cr_assert_gt(nsamples, 200, "only %d samples", nsamples);
	snprintf(path, sizeof path, "%s/%d/mover.stack", out, (int)fr.fx.pid);
	int n = read_stack(path, lines, 4096);
	for (int k = 0; k < MOVES; k++) {
		int s = 0, hits = 0;
		while (s < nsamples && samples[s] < placed[k])
			s++;
		cr_assert_lt(s, nsamples, "%s: no sample after move %d", prefix, k);
		/* the call may be stamped before `placed`: a sample's time is taken before
		 * its walk; not before the command, less a sample's duration */
		for (int i = 0; i < n; i++) {
			if (strcmp(lines[i].func, "park") != 0 || lines[i].when < sent[k] - 0.05 ||
			    lines[i].when > samples[s])
				continue;
			hits++;
			cr_assert_eq(lines[i].depth, depth[k],
				     "%s: move %d: park at depth %d, want %d", prefix, k,
				     lines[i].depth, depth[k]);
		}
		cr_assert_eq(
		    hits, 1,
		    "%s: move %d (placed at %.6f, next sample %.6f): %d park calls seen by then",
		    prefix, k, placed[k], samples[s], hits);
	}
	snprintf(path, sizeof path, "%s/%d/idle.stack", out, (int)fr.fx.pid);
	n = read_stack(path, lines, 4096);
	cr_assert_eq(n, idle_truth.n, "%s: idle.stack has %d calls, the thread %d frames", prefix,
		     n, idle_truth.n);
	for (int i = 0; i < n; i++) {
		const struct tframe *want = &idle_truth.f[idle_truth.n - 1 - i];
		cr_assert_eq(lines[i].depth, i);
		cr_assert_str_eq(lines[i].func, want->func, "%s: idle.stack line %d", prefix, i);
		cr_assert_eq(lines[i].line, want->line, "%s: idle.stack line %d (%s)", prefix, i,
			     want->func);
	}
	proc_reap(&tg);
	remove_tree(out);
	free(out);
	mover_end(&fr);
	fprintf(stderr, "sampler_skip recording %-6s passed\n", prefix);
}

Test(sampler_skip, recording_3_11)
{
	recording_follows("3.11.");
}
Test(sampler_skip, recording_3_12)
{
	recording_follows("3.12.");
}
