/* cli.h: option values shared by the render subcommands. */
#ifndef TG_CLI_H
#define TG_CLI_H

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

/* A render subcommand: its options parsed into opts (1: help was printed, 0: go on, -1 with
 * err), then run on the arguments left. */
struct cli_command {
	const char *name;
	int (*parse)(int argc, char **argv, void *opts, struct tg_err *err);
	int (*run)(const void *opts, int nargs, char **args, struct tg_err *err);
};

/* parse, then run; the exit code (cli_fail on an error). */
int cli_main(const struct cli_command *cmd, void *opts, int argc, char **argv);

#endif
