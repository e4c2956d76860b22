/* tgattach info -p PID: what tgattach finds in a process, for reports and diagnosis. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "builtin/builtin.h"
#include "builtin/options.h"
#include "sampler/layoutcheck.h"
#include "sampler/alloc.h"
#include "sampler/attrib.h"
#include "sampler/session.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: tgattach info -p PID [--offsets=auto|dwarf|builtin]\n"
		     "Show the interpreter found in PID, its version and build, where the struct\n"
		     "layouts come from, the root symbols, the allocator statistics that can be\n"
		     "read (or why not), and the threads seen.  Does not attach.\n");
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

#define ALLOC_TRIES 5

/* The counters, and the walk, as one consistent reading: a target that allocates while it
 * is read gives torn readings, which are discarded and taken again. */
static void print_alloc(struct session *s)
{
	struct alloc_reader *a = alloc_new(&s->remote, &s->target);
	struct attrib *at = attrib_new(s->pid);
	struct alloc_stats st = {0};
	struct alloc_quick q;
	unsigned avail = alloc_available(a);
	uint64_t rss = 0, anon = 0;
	int tries = 0, have_mem = attrib_mem(at, &rss, &anon) == 0;

	printf("memory:\n");
	if (have_mem)
		printf("  %-24s %llu\n  %-24s %llu\n", "rss", (unsigned long long)rss, "anon",
		       (unsigned long long)anon);
	else
		printf("  rss, anon                unreadable: /proc/%d/statm\n", (int)s->pid);
	printf("allocator:      %s\n", alloc_source(a));
	while (avail && tries++ < ALLOC_TRIES) {
		alloc_read(a, 1, &st);
		if ((st.valid & avail) == avail)
			break;
	}
	for (int f = 0; f < ALLOC_NFIELDS; f++) {
		const char *why = alloc_missing_reason(a, (enum alloc_field)f);
		if (why)
			printf("  %-24s unavailable: %s\n", alloc_field_name((enum alloc_field)f),
			       why);
		else if (st.valid & (1u << f))
			printf("  %-24s %llu\n", alloc_field_name((enum alloc_field)f),
			       (unsigned long long)st.v[f]);
		else
			printf("  %-24s unreadable: changed while read %d times\n",
			       alloc_field_name((enum alloc_field)f), ALLOC_TRIES);
	}
	uint64_t heap;
	if (have_mem && alloc_heap(&st, anon, &heap) == 0)
		printf("  %-24s %llu\n", "heap", (unsigned long long)heap);
	if (alloc_heap_available(a) && alloc_quick(a, &q) == 0)
		printf("  %-24s %llu\n", "pool_bytes", (unsigned long long)q.pools_bytes);
	attrib_free(at);
	alloc_free(a);
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
	/* the same check record and dump make before they start */
	int bad = layoutcheck_run(&s.remote, &s.target, s.walker, &err) < 0;
	printf("layout check:   %s\n", bad ? "FAILED (below)" : "ok: modules and frames read");
	print_alloc(&s);
	print_threads(&s);
	session_close(&s);
	return bad ? options_fail(&err) : TG_OK;
}
