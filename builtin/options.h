/* options.h: option parsing shared by the subcommands. */
#ifndef TG_OPTIONS_H
#define TG_OPTIONS_H

#include "common/err.h"
#include "symbols/pytarget.h"

/* Prints "tgattach: MESSAGE" on stderr and returns the error's exit code. */
int options_fail(const struct tg_err *err);
/* "auto", "dwarf" or "builtin". */
int options_offsets(const char *arg, enum offsets_mode *out, struct tg_err *err);
/* A positive decimal number (rate, duration). */
int options_positive(const char *name, const char *arg, double *out, struct tg_err *err);

#endif
