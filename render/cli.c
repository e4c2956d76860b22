#include "render/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "render/interrupt.h"

int cli_ll(const char *opt, const char *arg, long long *out, struct tg_err *err)
{
	char *end;

	errno = 0;
	*out = strtoll(arg, &end, 10);
	if (end == arg || *end || errno)
		return tg_err_set(err, TG_E_USAGE, "%s: not an integer: '%s'", opt, arg);
	return 0;
}

static int parse_double(const char *arg, double *out)
{
	char *end;

	if (!*arg || strpbrk(arg, "xXnNiI"))
		return -1; /* no hex, nan or inf */
	errno = 0;
	*out = strtod(arg, &end);
	return (*end || errno || !isfinite(*out)) ? -1 : 0;
}

int cli_nonneg(const char *opt, const char *arg, double *out, struct tg_err *err)
{
	if (parse_double(arg, out) < 0 || *out < 0)
		return tg_err_set(err, TG_E_USAGE, "%s: not a number >= 0: '%s'", opt, arg);
	return 0;
}

static int parse_local(const char *arg, double *out)
{
	struct tm tm;
	const char *rest;
	double frac = 0;

	memset(&tm, 0, sizeof tm);
	rest = strptime(arg, "%Y-%m-%d", &tm);
	if (!rest || (*rest != ' ' && *rest != 'T'))
		return -1;
	rest = strptime(rest + 1, "%H:%M:%S", &tm);
	if (!rest)
		return -1;
	if (*rest == '.') {
		char *end;
		frac = strtod(rest, &end);
		rest = end;
	}
	if (*rest)
		return -1;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (double)t + frac;
	return 0;
}

int cli_time(const char *opt, const char *arg, struct cli_time *out, struct tg_err *err)
{
	out->set = 1;
	out->relative = arg[0] == '+';
	if (out->relative) {
		if (parse_double(arg + 1, &out->value) == 0 && out->value >= 0)
			return 0;
	} else if (parse_double(arg, &out->value) == 0 || parse_local(arg, &out->value) == 0) {
		return 0;
	}
	return tg_err_set(err, TG_E_USAGE,
			  "%s: not a time (Unix seconds, +SECONDS or 'YYYY-MM-DD HH:MM:SS'): '%s'",
			  opt, arg);
}

double cli_time_resolve(const struct cli_time *t, double first)
{
	return t->relative ? first + t->value : t->value;
}

int cli_fail(const char *subcommand, const struct tg_err *err)
{
	interrupt_exit();
	fflush(stdout);
	fprintf(stderr, "tgattach render %s: %s\n", subcommand, err->msg);
	if (err->code == TG_E_USAGE)
		fprintf(stderr, "Try 'tgattach render %s --help'.\n", subcommand);
	return err->code ? err->code : TG_E_INTERNAL;
}

/* Takes -q / --quiet out of argv (before a "--"): every subcommand has it. */
static int take_quiet(int *argc, char **argv)
{
	int quiet = 0, k = 1, i = 1;

	for (; i < *argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else
			argv[k++] = argv[i];
	}
	for (; i < *argc; i++)
		argv[k++] = argv[i];
	argv[k] = NULL;
	*argc = k;
	return quiet;
}

/* With -q, standard error goes to /dev/null while the subcommand runs: its progress lines,
 * warnings and summary are not shown; its error, printed after, is. */
static int quiet_on(void)
{
	int saved = dup(STDERR_FILENO);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (saved >= 0 && nul >= 0)
		dup2(nul, STDERR_FILENO);
	if (nul >= 0)
		close(nul);
	return saved;
}

static void quiet_off(int saved)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

int cli_main(const struct cli_command *cmd, void *opts, int argc, char **argv)
{
	struct tg_err err;
	int quiet = take_quiet(&argc, argv), saved = -1, rc;

	tg_err_clear(&err);
	rc = cmd->parse(argc, argv, opts, &err);
	if (rc == 1) {
		fputs("  -q, --quiet        no progress lines, warnings or summary on stderr "
		      "(errors\n"
		      "                     are still shown)\n",
		      stdout);
		return TG_OK;
	}
	if (rc == 0) {
		if (quiet)
			saved = quiet_on();
		rc = cmd->run(opts, argc - optind, argv + optind, &err);
		quiet_off(saved);
		if (rc == 0)
			return TG_OK;
	}
	return cli_fail(cmd->name, &err);
}
