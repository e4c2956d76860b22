/* tgattach render SUBCOMMAND ...: draws and explores recorded data (render/). */
#include "builtin/builtin.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "render/render.h"

struct render_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct render_cmd render_cmds[] = {
    {"memg", render_memg, "memory change per return of each thread and process RSS (SVG)"},
    {"alloc", render_alloc, "allocator statistics over time: RSS, heap, arenas, blocks (SVG)"},
    {"top", render_top, "functions ranked by the memory they gained, per thread (text)"},
    {"collapsed", render_collapsed, "folded stacks for flamegraph.pl and speedscope"},
    {"speedscope", render_speedscope, "speedscope JSON, one evented profile per thread"},
    {"pprof", render_pprof, "pprof profile (gzip protobuf): time and memory per stack"},
    {"decorate-stack", render_decorate_stack,
     "the calls under the call that produced one return, with time and memory"},
};

static void list_cmds(FILE *fp)
{
	fputs("usage: tgattach render SUBCOMMAND [ARGS...]   (SUBCOMMAND --help for details)\n"
	      "subcommands:\n",
	      fp);
	for (size_t i = 0; i < sizeof render_cmds / sizeof render_cmds[0]; i++)
		fprintf(fp, "  %-16s %s\n", render_cmds[i].name, render_cmds[i].help);
	fputs("Each prints 'Processing data for thread NAME' on stderr for its first 20 threads,\n"
	      "then how many more; -q (--quiet) silences that, warnings and the summary, not\n"
	      "errors (decorate-stack excepted: it prints only its call tree).\n",
	      fp);
}

int cmd_render(int argc, char **argv)
{
	if (argc < 2) {
		list_cmds(stderr);
		return TG_E_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		list_cmds(stdout);
		return TG_OK;
	}
	for (size_t i = 0; i < sizeof render_cmds / sizeof render_cmds[0]; i++)
		if (strcmp(argv[1], render_cmds[i].name) == 0)
			return render_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tgattach render: unknown subcommand '%s'\n", argv[1]);
	list_cmds(stderr);
	return TG_E_USAGE;
}
