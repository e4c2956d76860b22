/* cli.h: option values shared by the render subcommands. */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

/* A whole decimal integer; TG_E_USAGE naming the option otherwise. */
int cli_ll(const char *opt, const char *arg, long long *out, struct tg_err *err);
/* A finite decimal number >= 0. */
int cli_nonneg(const char *opt, const char *arg, double *out, struct tg_err *err);

/* A point in time, as given to --time-from/--time-to:
 *   1394031433.5            Unix seconds
 *   +30 / +1.5              seconds after the first event of the recording
 *   2014-03-05 14:57:13     local time (also with a 'T'; fractional seconds allowed) */
struct cli_time {
	int set;
	int relative;
	double value;
};

int cli_time(const char *opt, const char *arg, struct cli_time *out, struct tg_err *err);
/* Unix seconds for t, given the time of the recording's first event. */
double cli_time_resolve(const struct cli_time *t, double first);

/* A render subcommand failed: what was written to stdout is flushed first, then its message
 * (and, for a usage error, where help is) on stderr; exits by the signal if one interrupted
 * it; returns the exit code. */
int cli_fail(const char *subcommand, const struct tg_err *err);

/* How an option's argument is stored in the subcommand's options struct. */
enum cli_kind {
	CLI_FLAG,   /* int, set to 1; takes no argument */
	CLI_STR,    /* const char *, the argument itself */
	CLI_LL,	    /* long long within [min, max] */
	CLI_NUM,    /* double, finite, >= 0; > 0 when min > 0 */
	CLI_TIME,   /* struct cli_time */
	CLI_CHOICE, /* int: the index of the argument among choices */
	CLI_FN,	    /* set() parses it */
};

/* One option of a render subcommand, declared once: parsing and --help come from it. */
struct cli_opt {
	const char *name; /* long name, without "--" */
	char key;	  /* short letter, or 0 */
	const char *arg;  /* the argument as the help names it; NULL for a flag */
	enum cli_kind kind;
	size_t off; /* offsetof the field in the options struct */
	/* the help, '\n' between its lines; NULL: an alias of the option before, not shown */
	const char *help;
	/* CLI_LL: [min, max] (max LLONG_MAX: at least min; both 0: any); CLI_NUM: min > 0
	 * excludes 0 */
	long long min, max;
	const char *const *choices; /* CLI_CHOICE, NULL-terminated */
	int (*set)(void *opts, const char *arg, struct tg_err *err); /* CLI_FN */
};

/* A render subcommand, declared once in its own file (render/NAME.c) and listed in
 * builtin/render.c's table. */
struct cli_command {
	const char *name;
	const char *summary; /* one line, for the list `tgattach render` prints */
	const char *usage;   /* what follows "usage: tgattach render NAME " (more lines may
				follow, each a whole "       tgattach render ..." line) */
	const char *about;   /* the help before the options */
	const char *after;   /* the help after them, or NULL */
	const struct cli_opt *opts;
	size_t opts_size;	  /* sizeof the options struct */
	void (*init)(void *opts); /* defaults (the struct is zeroed first), or NULL */
	const char *no_args;	  /* the error when no argument is left */
	int (*run)(const void *opts, int nargs, char **args, struct tg_err *err);
};

/* --help of cmd: usage, about, the options from its table (and -q, -h), after. */
void cli_help(const struct cli_command *cmd, FILE *fp);

/* Parses argv by cmd's table into a zeroed, initialised options struct, then runs cmd on
 * the arguments left; -q / --quiet (every subcommand) silences stderr while it runs.
 * Returns the exit code (cli_fail on an error). */
int cli_main(const struct cli_command *cmd, int argc, char **argv);

#endif
