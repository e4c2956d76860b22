#include "builtin/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int options_fail(const struct tg_err *err)
{
	fprintf(stderr, "tgattach: %s\n", err->msg[0] ? err->msg : "failed");
	return err->code ? err->code : TG_E_INTERNAL;
}

int options_offsets(const char *arg, enum offsets_mode *out, struct tg_err *err)
{
	if (strcmp(arg, "auto") == 0)
		*out = OFFSETS_AUTO;
	else if (strcmp(arg, "dwarf") == 0)
		*out = OFFSETS_DWARF;
	else if (strcmp(arg, "builtin") == 0)
		*out = OFFSETS_BUILTIN;
	else
		return tg_err_set(err, TG_E_USAGE,
				  "invalid --offsets '%s': expected auto, dwarf or builtin", arg);
	return 0;
}

int options_positive(const char *name, const char *arg, double *out, struct tg_err *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (!*arg || *end || errno || !isfinite(v) || v <= 0)
		return tg_err_set(err, TG_E_USAGE, "invalid %s '%s': expected a positive number",
				  name, arg);
	*out = v;
	return 0;
}
