/* render.h: the subcommands of `tgattach render`, each declared once in its own file
 * (render/NAME.c) as a struct cli_command (name, summary, help, option table, run):
 * builtin/render.c lists them, cli_main() parses and runs one, cli_help() is its --help. */
#ifndef TG_RENDER_H
#define TG_RENDER_H

#include "render/cli.h"

extern const struct cli_command render_memg_cmd;
extern const struct cli_command render_alloc_cmd;
extern const struct cli_command render_top_cmd;
extern const struct cli_command render_collapsed_cmd;
extern const struct cli_command render_speedscope_cmd;
extern const struct cli_command render_pprof_cmd;
extern const struct cli_command render_decorate_cmd;

#endif
