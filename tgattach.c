/* tgattach: profile the memory and stacks of a running CPython from outside.
 * Dispatches to one function per subcommand (builtin/NAME.c); with no subcommand the
 * arguments are the recorder's (`tgattach -p PID -o DIR`). */
#include <stdio.h>
#include <string.h>

#include "attach/loop.h"
#include "builtin/builtin.h"
#include "common/err.h"
#include "common/version.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"record", cmd_record, "sample a process into OUTDIR/PID (the default command)"},
	{"dump", cmd_dump, "print every thread's stack once, then detach"},
	{"info", cmd_info, "show what tgattach finds in a process (interpreter, layout source)"},
	{"render", cmd_render, "turn a recording into graphs and reports"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: tgattach -p PID [-o DIR] [-r HZ] [-d SECONDS] [options]\n"
		     "       tgattach COMMAND [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n`tgattach record --help` lists the recording options; "
		     "`man ./tgattach.1` has it all.\n");
}

int main(int argc, char **argv)
{
	/* Before anything else, so a Ctrl-C always reaches the detach path. */
	loop_block_signals();
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0)) {
		printf("tgattach %s\n", TG_VERSION);
		return TG_OK;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? TG_E_USAGE : TG_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return cmd_record(argc, argv);
	fprintf(stderr, "tgattach: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return TG_E_USAGE;
}
