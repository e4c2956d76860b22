#include "render/cli.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "render/interrupt.h"
#include "render/text.h"

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
	struct buf msg = BUF_INIT;
	/* the message may name a file or function of the recording: shown escaped */
	text_display(&msg, err->msg, strlen(err->msg));
	fprintf(stderr, "tgattach render %s: %s\n", subcommand, buf_cstr(&msg));
	buf_free(&msg);
	if (err->code == TG_E_USAGE)
		fprintf(stderr, "Try 'tgattach render %s --help'.\n", subcommand);
	return err->code ? err->code : TG_E_INTERNAL;
}
