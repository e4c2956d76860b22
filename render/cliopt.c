/* cliopt.c: the render subcommands' option tables (cli.h): getopt_long's table built from
 * them, each argument stored by its kind, --help written from them, and cli_main. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "render/cli.h"

#define HELP_COLUMN 31
#define OPT_BASE 256

static size_t count_opts(const struct cli_command *cmd)
{
	size_t n = 0;

	while (cmd->opts && cmd->opts[n].name)
		n++;
	return n;
}

/* "--name" (or "-k" when the option has no long name), for messages. */
static void opt_label(const struct cli_opt *o, char *out, size_t len)
{
	if (o->name[0])
		snprintf(out, len, "--%s", o->name);
	else
		snprintf(out, len, "-%c", o->key);
}

static int set_ll(const struct cli_opt *o, const char *label, const char *arg, long long *v,
		  struct tg_err *err)
{
	if (cli_ll(label, arg, v, err) < 0)
		return -1;
	if (o->min == 0 && o->max == 0) /* unbounded */
		return 0;
	if (o->max == LLONG_MAX && *v < o->min)
		return tg_err_set(err, TG_E_USAGE, "%s: not an integer >= %lld: '%s'", label,
				  o->min, arg);
	if (*v < o->min || *v > o->max)
		return tg_err_set(err, TG_E_USAGE, "%s: %lld to %lld, not '%s'", label, o->min,
				  o->max, arg);
	return 0;
}

static int set_choice(const struct cli_opt *o, const char *label, const char *arg, int *v,
		      struct tg_err *err)
{
	struct buf words = BUF_INIT;
	size_t n = 0;

	for (; o->choices[n]; n++)
		if (strcmp(arg, o->choices[n]) == 0) {
			*v = (int)n;
			return 0;
		}
	for (size_t i = 0; i < n; i++)
		buf_addf(&words, "%s'%s'", i == 0 ? "" : i + 1 == n ? " or " : ", ", o->choices[i]);
	tg_err_set(err, TG_E_USAGE, "%s: %s, not '%s'", label, buf_cstr(&words), arg);
	buf_free(&words);
	return -1;
}

static int set_opt(const struct cli_opt *o, void *opts, const char *arg, struct tg_err *err)
{
	char label[64];
	char *field = (char *)opts + o->off;

	opt_label(o, label, sizeof label);
	switch (o->kind) {
	case CLI_FLAG:
		*(int *)(void *)field = 1;
		return 0;
	case CLI_STR:
		*(const char **)(void *)field = arg;
		return 0;
	case CLI_LL:
		return set_ll(o, label, arg, (long long *)(void *)field, err);
	case CLI_NUM:
		if (cli_nonneg(label, arg, (double *)(void *)field, err) < 0)
			return -1;
		if (o->min > 0 && *(double *)(void *)field == 0)
			return tg_err_set(err, TG_E_USAGE, "%s: must be > 0", label);
		return 0;
	case CLI_TIME:
		return cli_time(label, arg, (struct cli_time *)(void *)field, err);
	case CLI_CHOICE:
		return set_choice(o, label, arg, (int *)(void *)field, err);
	case CLI_FN:
		return o->set(opts, arg, err);
	}
	return tg_err_set(err, TG_E_INTERNAL, "%s: unknown option kind", label);
}

/* getopt_long's table and short options from cmd's: option i has code OPT_BASE + i (or
 * its letter). */
static struct option *getopt_table(const struct cli_command *cmd, size_t n, struct buf *shorts)
{
	struct option *t = xcalloc(n + 2, sizeof *t);
	size_t k = 0;

	buf_addstr(shorts, "h");
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		int has_arg = o->kind == CLI_FLAG ? no_argument : required_argument;
		if (o->key) {
			buf_addch(shorts, o->key);
			if (has_arg)
				buf_addch(shorts, ':');
		}
		if (o->name[0])
			t[k++] = (struct option){o->name, has_arg, NULL,
						 o->key ? o->key : OPT_BASE + (int)i};
	}
	t[k++] = (struct option){"help", no_argument, NULL, 'h'};
	return t;
}

static const struct cli_opt *opt_of(const struct cli_command *cmd, size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (code == OPT_BASE + (int)i || (cmd->opts[i].key && code == cmd->opts[i].key))
			return &cmd->opts[i];
	return NULL;
}

/* 1: --help was shown; 0: parsed, the arguments from optind; -1 with err. */
static int parse(const struct cli_command *cmd, int argc, char **argv, void *opts,
		 struct tg_err *err)
{
	size_t n = count_opts(cmd);
	struct buf shorts = BUF_INIT;
	struct option *table = getopt_table(cmd, n, &shorts);
	int c, rc = 0;

	optind = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, buf_cstr(&shorts), table, NULL)) != -1) {
		const struct cli_opt *o = c == 'h' ? NULL : opt_of(cmd, n, c);
		if (c == 'h') {
			cli_help(cmd, stdout);
			rc = 1;
		} else if (!o) {
			rc = tg_err_set(err, TG_E_USAGE, "bad option (see --help)");
		} else {
			rc = set_opt(o, opts, optarg, err);
		}
	}
	free(table);
	buf_free(&shorts);
	if (rc == 0 && optind >= argc)
		rc = tg_err_set(err, TG_E_USAGE, "%s", cmd->no_args);
	return rc;
}

/* "  -o, --output FILE" and its help, the help's lines aligned at HELP_COLUMN; with pair,
 * "  --time-from T, --time-to T" and the pair's help. */
static void help_opt(const struct cli_opt *o, const struct cli_opt *pair, FILE *fp)
{
	const char *help = pair ? pair->help : o->help;
	struct buf head = BUF_INIT;

	buf_addstr(&head, "  ");
	if (o->key)
		buf_addf(&head, "-%c%s", o->key, o->name[0] ? ", " : "");
	if (o->name[0])
		buf_addf(&head, "--%s", o->name);
	if (o->arg)
		buf_addf(&head, " %s", o->arg);
	if (pair)
		buf_addf(&head, ", --%s%s%s", pair->name, pair->arg ? " " : "",
			 pair->arg ? pair->arg : "");
	fputs(buf_cstr(&head), fp);
	size_t col = head.len;
	for (const char *line = help; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (col >= HELP_COLUMN - 1) {
			fputc('\n', fp);
			col = 0;
		}
		fprintf(fp, "%*s%.*s\n", (int)(HELP_COLUMN - col), "", (int)len, line);
		col = 0;
		line += len + (nl ? 1 : 0);
	}
	buf_free(&head);
}

void cli_help(const struct cli_command *cmd, FILE *fp)
{
	size_t n = count_opts(cmd);

	fprintf(fp, "usage: tgattach render %s %s\n%s", cmd->name, cmd->usage, cmd->about);
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		if (!o->help)
			continue;
		/* a pair such as --time-from/--time-to: an option whose help is "" is shown on
		 * the line of the one after it */
		if (!o->help[0] && i + 1 < n) {
			help_opt(o, &cmd->opts[i + 1], fp);
			i++;
			continue;
		}
		help_opt(o, NULL, fp);
	}
	help_opt(&(struct cli_opt){"quiet", 'q', NULL, CLI_FLAG, 0,
				   "no progress lines, warnings or summary on stderr\n"
				   "(errors are still shown)"},
		 NULL, fp);
	if (cmd->after)
		fputs(cmd->after, fp);
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

int cli_main(const struct cli_command *cmd, int argc, char **argv)
{
	struct tg_err err;
	int quiet = take_quiet(&argc, argv), saved = -1;
	void *opts = xcalloc(1, cmd->opts_size);

	tg_err_clear(&err);
	if (cmd->init)
		cmd->init(opts);
	int rc = parse(cmd, argc, argv, opts, &err);
	if (rc == 0) {
		if (quiet)
			saved = quiet_on();
		rc = cmd->run(opts, argc - optind, argv + optind, &err);
		quiet_off(saved);
	}
	free(opts);
	if (rc == 1 || rc == 0)
		return TG_OK;
	return cli_fail(cmd->name, &err);
}
