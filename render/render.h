/* render.h: the subcommands of `tgattach render`, one file each (render/NAME.c).
 * Each takes argv[0] = the subcommand name, prints its own errors as one line on stderr
 * and returns an exit code (enum tg_exit). */
#ifndef TG_RENDER_H
#define TG_RENDER_H

int render_memg(int argc, char **argv);
int render_alloc(int argc, char **argv);
int render_top(int argc, char **argv);
int render_collapsed(int argc, char **argv);
int render_speedscope(int argc, char **argv);
int render_pprof(int argc, char **argv);
int render_decorate_stack(int argc, char **argv);

#endif
