/* tgattach render SUBCOMMAND ...: draws and explores recorded data (render/). */
#include "builtin/builtin.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "render/render.h"

/* The subcommands, in the order `tgattach render` lists them. */
static const struct cli_command *const render_cmds[] = {
    &render_memg_cmd,	    &render_alloc_cmd, &render_top_cmd,	     &render_collapsed_cmd,
    &render_speedscope_cmd, &render_pprof_cmd, &render_decorate_cmd,
};
#define NCMDS (sizeof render_cmds / sizeof render_cmds[0])

static void list_cmds(FILE *fp)
{
	fputs("usage: tgattach render SUBCOMMAND [ARGS...]   (SUBCOMMAND --help for details)\n"
	      "subcommands:\n",
	      fp);
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(fp, "  %-16s %s\n", render_cmds[i]->name, render_cmds[i]->summary);
	fputs("Each prints 'Processing data for thread NAME' on stderr for its first 20 threads,\n"
	      "then how many more; -q (--quiet) silences that, warnings and the summary, not\n"
	      "errors.\n",
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
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], render_cmds[i]->name) == 0)
			return cli_main(render_cmds[i], argc - 1, argv + 1);
	fprintf(stderr, "tgattach render: unknown subcommand '%s'\n", argv[1]);
	list_cmds(stderr);
	return TG_E_USAGE;
}
