/* tgattach info -p PID: what tgattach finds in a process, for reports and diagnosis. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "builtin/builtin.h"
#include "builtin/options.h"
#include "sampler/session.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: tgattach info -p PID [--offsets=auto|dwarf|builtin]\n"
		     "Show the interpreter found in PID, its version and build, where the struct\n"
		     "layouts come from, the root symbols, and the threads seen.  Does not attach.\n");
}

static void print_sym(const char *name, uint64_t addr)
{
	if (addr)
		printf("  %-24s 0x%llx\n", name, (unsigned long long)addr);
	else
		printf("  %-24s not found\n", name);
}

static void print_target(const struct py_target *t)
{
	char ver[32];

	printf("pid:            %d\n", (int)t->pid);
	printf("interpreter:    %s%s\n", t->image_path, t->image_deleted ? " (deleted)" : "");
	printf("opened as:      %s\n", t->open_path);
	printf("version:        %s\n", pytarget_version_str(t, ver, sizeof ver));
	printf("build:          %s%s\n", t->is_shared ? "shared libpython" : "static executable",
	       t->debug_abi ? ", debug (Py_DEBUG)" : "");
	printf("build-id:       %s\n", t->build_id[0] ? t->build_id : "(none)");
	printf("load bias:      0x%llx\n", (unsigned long long)t->load_bias);
	printf("offsets:        %s (%s)\n", pytarget_offsets_source_name(t->off_source),
	       t->off_detail);
	if (t->off_check[0])
		printf("offsets check:  %s\n", t->off_check);
	printf("symbols:\n");
	print_sym("_PyRuntime", t->sym.runtime);
	if (t->major == 2 || (t->major == 3 && t->minor < 7))
		print_sym("interp_head", t->sym.interp_head);
	print_sym("PyCode_Type", t->sym.code_type);
	print_sym(t->major == 2 ? "PyString_Type" : "PyUnicode_Type",
		  t->major == 2 ? t->sym.string_type : t->sym.unicode_type);
	print_sym("PyDict_Type", t->sym.dict_type);
	print_sym("Py_Version", t->sym.py_version);
}

static void print_threads(struct session *s)
{
	struct walk_sample sample = {0};
	struct tg_err err = {0};

	if (walker_sample(s->walker, &sample, &err) < 0) {
		printf("threads:        unreadable: %s\n", err.msg);
		return;
	}
	session_refresh_names(s, &sample);
	printf("interpreters:   %zu\nthreads:        %zu\n", sample.ninterps, sample.nthreads);
	for (size_t i = 0; i < sample.nthreads; i++) {
		struct buf name = BUF_INIT;
		const struct walk_thread *th = &sample.threads[i];
		session_thread_name(s, th, &name);
		printf("  TID %-8lld depth %-4zu%s %s\n", (long long)th->native_id, th->depth,
		       th->holds_gil ? " GIL" : "    ", buf_cstr(&name));
		buf_free(&name);
	}
	walk_sample_free(&sample);
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"offsets", required_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct session_opts opts = {0};
	struct tg_err err = {0};
	struct session s;
	pid_t pid = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		if (c == 'p' && session_parse_pid(optarg, &pid, &err) < 0)
			return options_fail(&err);
		if (c == 'O' && options_offsets(optarg, &opts.offsets, &err) < 0)
			return options_fail(&err);
		if (c == 'h') {
			usage(stdout);
			return TG_OK;
		}
		if (c == '?') {
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
	print_target(&s.target);
	print_threads(&s);
	session_close(&s);
	return TG_OK;
}
