/* builtin.h: one function per subcommand (builtin/NAME.c), dispatched from tgattach.c.
 * Each takes the arguments after the subcommand name (argv[0] is the subcommand) and
 * returns a process exit code (enum tg_exit). */
#ifndef TG_BUILTIN_H
#define TG_BUILTIN_H

int cmd_record(int argc, char **argv); /* tgattach -p PID ... (the default command) */
int cmd_dump(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_render(int argc, char **argv);

#endif
