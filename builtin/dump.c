/* tgattach dump -p PID: every thread's stack, once, like a Python traceback. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin/builtin.h"
#include "builtin/options.h"
#include "common/xalloc.h"
#include "sampler/natstack.h"
#include "sampler/session.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tgattach dump -p PID [--offsets=auto|dwarf|builtin] [--no-pause]\n"
		"                     [--profile=python|c|both]\n"
		"Print every thread of every interpreter (Python name, TID, GIL) with its\n"
		"stack, innermost frame first; then detach.  By default the threads are\n"
		"paused for the read (a few milliseconds) so the stacks are consistent.\n"
		"--profile c: the native (C) stacks, unwound from the threads' registers;\n"
		"both: the native stacks with each frame of the interpreter's evaluation loop\n"
		"replaced by the Python frames it runs.  Native frames are printed as\n"
		"`C frame \"FILE\", line N, in FUNCTION` (FILE: the source file where debug\n"
		"info has it, else the shared object; line -1 when unknown).\n");
}

/* Names from the target are shown with quotes, backslashes and control bytes escaped. */
static void put_escaped(FILE *out, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\' || *c < 0x20 || *c == 0x7f)
			fprintf(out, "\\x%02x", *c);
		else
			fputc(*c, out);
	}
}

static void put_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	put_escaped(out, s);
	fputc('"', out);
}

/* native: 0 not asked, 1 unwound, -1 could not be */
static void print_thread(struct session *s, const struct walk_thread *th, int native, FILE *out)
{
	struct buf name = BUF_INIT;

	session_thread_name(s, th, &name);
	fprintf(out, "Thread %lld ", (long long)th->native_id);
	put_quoted(out, buf_cstr(&name));
	fprintf(out, " (ident 0x%llx, interpreter %lld%s)\n", (unsigned long long)th->thread_id,
		(long long)th->interp_id, th->holds_gil ? ", holds the GIL" : "");
	for (size_t i = 0; i < th->depth; i++) {
		const struct walk_frame *f = &th->frames[i];
		fputs(f->native ? "    C frame " : "    File ", out);
		put_quoted(out, f->code_info->file);
		fprintf(out, ", line %d, in ", f->line);
		put_escaped(out, f->code_info->func);
		fputc('\n', out);
	}
	if (th->truncated)
		fputs("    ... (stack truncated: deeper than the limit or changing during the "
		      "read)\n",
		      out);
	if (native < 0)
		fputs("    ... (native stack not read: the thread could not be stopped or "
		      "unwound)\n",
		      out);
	buf_free(&name);
}

static void print_header(const struct session *s, FILE *out)
{
	char ver[32];

	fprintf(out, "Process %d: Python %s (%s, offsets: %s)\n", (int)s->pid,
		pytarget_version_str(&s->target, ver, sizeof ver), s->target.image_path,
		pytarget_offsets_source_name(s->target.off_source));
}

/* Each thread's native stack: read while every thread is paused, or (--no-pause) while
 * the thread alone is stopped, its Python frames read again meanwhile.  A thread whose
 * stack cannot be unwound keeps its Python frames, and says so. */
static void native_stacks(struct session *s, struct natstack *ns, struct walk_sample *sample,
			  int paused, signed char *state)
{
	for (size_t i = 0; i < sample->nthreads; i++) {
		struct walk_thread *th = &sample->threads[i];
		struct user_regs_struct regs;
		struct walk_sample one = {0};
		pid_t tid = (pid_t)th->native_id;
		size_t n = 0;

		state[i] = -1;
		if (tid <= 0)
			continue;
		int fresh = 0;
		if (paused) {
			if (trace_thread_regs(s->trace, tid, &regs, NULL) == 0)
				n = natstack_unwind(ns, i, tid, &regs);
		} else if (trace_pause_thread(s->trace, tid, TRACE_PAUSE_MS, &regs, NULL) == 0) {
			n = natstack_unwind(ns, i, tid, &regs);
			fresh = n && walker_walk_thread(s->walker, th, &one) == 0;
			trace_resume_thread(s->trace, tid, NULL);
		}
		if (fresh)
			natstack_keep_python(ns, i, &one.threads[0]);
		natstack_apply(ns, i, th);
		walk_sample_free(&one);
		if (n > 0)
			state[i] = 1;
	}
}

static int dump_once(struct session *s, int pause, struct natstack *ns, struct tg_err *err)
{
	struct walk_sample sample = {0};
	signed char *state = NULL;
	int rc;

	if (pause && trace_pause(s->trace, s->pid, err) < 0)
		return -1;
	rc = walker_sample(s->walker, &sample, err);
	if (rc == 0)
		session_refresh_names(s, &sample);
	if (rc == 0 && ns && (rc = natstack_sample_begin(ns, err)) == 0) {
		state = xcalloc(sample.nthreads + 1, 1);
		native_stacks(s, ns, &sample, pause, state);
	}
	if (pause && trace_resume(s->trace, s->pid, rc == 0 ? err : NULL) < 0)
		rc = -1;
	if (rc == 0) {
		print_header(s, stdout);
		for (size_t i = 0; i < sample.nthreads; i++) {
			fputc('\n', stdout);
			print_thread(s, &sample.threads[i], state ? state[i] : 0, stdout);
		}
	}
	free(state);
	walk_sample_free(&sample);
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'p'}, {"offsets", required_argument, NULL, 'O'},
	    {"no-pause", no_argument, NULL, 'N'},  {"profile", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	struct session_opts opts = {.attach = 1, .check_layout = 1};
	struct tg_err err = {0};
	struct session s;
	pid_t pid = 0;
	int pause = 1, c;
	enum profile_mode profile = PROFILE_PYTHON;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (session_parse_pid(optarg, &pid, &err) < 0)
				return options_fail(&err);
			break;
		case 'O':
			if (options_offsets(optarg, &opts.offsets, &err) < 0)
				return options_fail(&err);
			break;
		case 'N':
			pause = 0;
			break;
		case 'P':
			if (profile_parse(optarg, &profile, &err) < 0)
				return options_fail(&err);
			break;
		case 'h':
			usage(stdout);
			return TG_OK;
		default:
			usage(stderr);
			return TG_E_USAGE;
		}
	}
	if (!pid) {
		usage(stderr);
		return TG_E_USAGE;
	}
	if (session_open(&s, pid, &opts, &err) < 0)
		return options_fail(&err);
	struct natstack *ns =
	    natstack_new(&s.target, profile, opts.offsets != OFFSETS_BUILTIN, &err);
	int rc = profile != PROFILE_PYTHON && !ns ? -1 : dump_once(&s, pause, ns, &err);
	natstack_free(ns);
	session_close(&s);
	return rc < 0 ? options_fail(&err) : TG_OK;
}
