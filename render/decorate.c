/* render decorate-stack MEM STACK EVENT (or DIR PEAK, a mark of memg's): the calls made
 * under the call that produced one return event, each with its own time and memory change.
 *
 * Two passes of the pairer (render/pair.h) over MEM and STACK: the first finds which call
 * the event's return closes, the second collects that call's subtree.  Only the subtree
 * is held in memory. */
#include "render/render.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "render/pair.h"
#include "render/cli.h"
#include "render/decorate_peak.h"
#include "render/outfile.h"
#include "render/text.h"
#include "render/tgfile.h"

struct deco_opts {
	const char *output;   /* -o FILE, or NULL: standard output */
	const char *memg_txt; /* where DIR PEAK finds the peak (--memg-txt) */
	const char *prefix;
	const char *indent;
	int strict;
	const char *mem, *stack, *event;
};

struct entry {
	size_t depth;
	char *file, *func; /* shown forms */
	long call_line, ret_line;
	double call_time, ret_time;
	long long delta;
	int has_return;
};

struct tree {
	struct entry *v;
	size_t n, cap;
};

static int all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* Reads MEM up to the event: its line number in *lineno and its parsed record. */
static int find_event(const struct deco_opts *o, unsigned long *lineno, struct tg_rec *rec,
		      struct tg_err *err)
{
	size_t want_len = strlen(o->event);
	unsigned long want = 0;
	struct tgfile f;
	int too_long, r, found = 0, bad = 0;
	const char *why = "line too long";

	while (want_len && (o->event[want_len - 1] == '\n' || o->event[want_len - 1] == '\r'))
		want_len--;
	if (all_digits(o->event)) {
		want = strtoul(o->event, NULL, 10);
		if (want == 0)
			return tg_err_set(err, TG_E_USAGE, "EVENT: line numbers start at 1");
	}
	if (tgfile_open(&f, o->mem, TGFILE_RETURNS, 0, err) < 0)
		return -1;
	while ((r = tgfile_next_line(&f, &too_long, err)) == 1) {
		size_t len = f.line.len;
		if (len && f.line.data[len - 1] == '\r')
			len--;
		if (want ? f.lineno != want
			 : (len != want_len || memcmp(f.line.data, o->event, len) != 0))
			continue;
		found = 1;
		*lineno = f.lineno;
		bad = too_long || tgline_parse(TGFILE_RETURNS, f.line.data, len, rec, &why) < 0;
		break;
	}
	tgfile_close(&f);
	if (r < 0)
		return -1;
	if (!found)
		return tg_err_set(err, TG_E_DATA, "%s: %s", o->mem,
				  want ? "has no such line" : "no line is EVENT");
	if (bad)
		return tg_err_set(err, TG_E_DATA, "%s:%lu: the event line is malformed: %s", o->mem,
				  *lineno, why);
	return 0;
}

/* s as one line of valid UTF-8 (a path or a message may hold any bytes), in b. */
static const char *disp(struct buf *b, const char *s)
{
	buf_reset(b);
	text_display(b, s, strlen(s));
	return buf_cstr(b);
}

static void shown(struct buf *out, const struct buf *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *s = buf_cstr(name);
	size_t len = name->len;

	if (n && len >= n && memcmp(s, prefix, n) == 0)
		s += n, len -= n;
	text_display(out, s, len);
}

/* Pass 1: the STACK line of the call that the return on MEM line `event` closes. */
static int find_call(const struct deco_opts *o, unsigned long event, unsigned long *call,
		     struct tg_err *err)
{
	struct pairer *p = pair_open(o->mem, o->stack, o->strict ? PAIR_STRICT : 0, err);
	struct pair_event ev;
	int r;

	if (!p)
		return -1;
	*call = 0;
	while ((r = pair_next(p, &ev, err)) == 1) {
		if (ev.kind == PAIR_CLOSE && ev.node->has_return && ev.node->ret_lineno == event) {
			*call = ev.node->call_lineno;
			break;
		}
	}
	pair_close(p);
	if (r < 0)
		return -1;
	if (!*call)
		return tg_err_set(err, TG_E_DATA,
				  "%s:%lu: no call in %s matches this return (was it called before "
				  "the recording started?)",
				  o->mem, event, o->stack);
	return 0;
}

static void tree_open(struct tree *t, const struct pair_event *ev, size_t root_depth,
		      const char *prefix)
{
	struct buf b = BUF_INIT;
	struct entry *e;

	t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof *t->v);
	e = &t->v[t->n++];
	memset(e, 0, sizeof *e);
	e->depth = ev->depth - root_depth;
	shown(&b, &ev->node->file, prefix);
	e->file = buf_detach(&b);
	shown(&b, &ev->node->func, "");
	e->func = buf_detach(&b);
	e->call_line = ev->node->call_line;
	e->call_time = ev->node->call_time;
	ev->node->tag = t->n;
}

static void tree_close(struct tree *t, const struct pair_event *ev)
{
	const struct pair_node *n = ev->node;
	struct entry *e;

	if (n->tag == 0 || n->tag > t->n || !n->has_return)
		return;
	e = &t->v[n->tag - 1];
	e->has_return = 1;
	e->ret_line = n->ret_line;
	e->ret_time = n->ret_time;
	e->delta = n->delta;
}

/* Pass 2: the subtree of the call on STACK line `call`. */
static int collect(const struct deco_opts *o, unsigned long call, struct tree *t,
		   unsigned long *stray, struct tg_err *err)
{
	/* quiet: the first pass reported the malformed lines */
	struct pairer *p = pair_open(o->mem, o->stack, PAIR_QUIET, err);
	struct pair_event ev;
	int r, inside = 0;
	size_t root_depth = 0;

	if (!p)
		return -1;
	while ((r = pair_next(p, &ev, err)) == 1) {
		if (ev.kind == PAIR_OPEN && !inside && ev.node->call_lineno == call) {
			inside = 1;
			root_depth = ev.depth;
		}
		if (!inside)
			continue;
		if (ev.kind == PAIR_OPEN) {
			tree_open(t, &ev, root_depth, o->prefix);
			continue;
		}
		tree_close(t, &ev);
		if (ev.depth == root_depth)
			break;
	}
	*stray = pair_stray_returns(p);
	pair_close(p);
	return r < 0 ? -1 : 0;
}

static void format_seconds(char *out, size_t size, double s)
{
	size_t len;

	snprintf(out, size, "%.6f", s);
	len = strlen(out);
	while (len > 1 && out[len - 1] == '0' && out[len - 2] != '.')
		out[--len] = '\0';
}

static void print_tree(const struct tree *t, const char *indent, FILE *fp)
{
	char secs[64];

	for (size_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->v[i];
		for (size_t d = 0; d < e->depth; d++)
			fputs(indent, fp);
		if (!e->has_return) {
			fprintf(fp, "%s@%s:%ld-?, Time: ? s, Memory: ? B\n", e->func, e->file,
				e->call_line);
			continue;
		}
		format_seconds(secs, sizeof secs, e->ret_time - e->call_time);
		fprintf(fp, "%s@%s:%ld-%ld, Time: %s s, Memory: %lld B\n", e->func, e->file,
			e->call_line, e->ret_line, secs, e->delta);
	}
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].file);
		free(t->v[i].func);
	}
	free(t->v);
}

static int run(const struct deco_opts *o, struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tree t = {NULL, 0, 0};
	struct buf what = BUF_INIT, path = BUF_INIT;
	unsigned long event = 0, call, stray = 0;
	int rc = -1;

	if (find_event(o, &event, &rec, err) < 0)
		goto out;
	shown(&what, &rec.func, "");
	buf_addch(&what, '@');
	shown(&what, &rec.file, o->prefix);
	fprintf(stderr, "Event: %s line %lu: return of %s:%ld, %lld B\n", disp(&path, o->mem),
		event, buf_cstr(&what), rec.line, rec.value);
	if (find_call(o, event, &call, err) < 0)
		goto out;
	fprintf(stderr, "Call: %s line %lu\n", disp(&path, o->stack), call);
	if (collect(o, call, &t, &stray, err) < 0)
		goto out;
	struct outfile of = {NULL, NULL, NULL};
	if (outfile_open(&of, o->output, err) < 0)
		goto out;
	print_tree(&t, o->indent, of.fp);
	if (outfile_commit(&of, err) < 0) {
		outfile_abort(&of);
		goto out;
	}
	fprintf(stderr, "%zu call%s in the subtree", t.n, t.n == 1 ? "" : "s");
	if (stray)
		fprintf(stderr, "; %lu return%s matched no call", stray, stray == 1 ? "" : "s");
	fputc('\n', stderr);
	rc = 0;
out:
	tg_rec_free(&rec);
	buf_free(&what);
	buf_free(&path);
	tree_free(&t);
	return rc;
}

/* DIR PEAK: the event is peak number PEAK of memg.txt (decorate_peak.h). */
static int run_peak(struct deco_opts *o, const char *dir, const char *peak, struct tg_err *err)
{
	struct buf mem = BUF_INIT, stack = BUF_INIT;
	char line[32];
	unsigned long lineno = 0;
	int rc = -1;

	if (!all_digits(peak) || strtoul(peak, NULL, 10) == 0)
		return tg_err_set(err, TG_E_USAGE, "PEAK: a number from memg.txt, not '%s'", peak);
	if (decorate_peak_event(dir, o->memg_txt, strtoul(peak, NULL, 10), &mem, &stack, &lineno,
				err) == 0) {
		snprintf(line, sizeof line, "%lu", lineno);
		o->mem = buf_cstr(&mem);
		o->stack = buf_cstr(&stack);
		o->event = line;
		rc = run(o, err);
	}
	buf_free(&mem);
	buf_free(&stack);
	return rc;
}

static int run_args(const void *opts, int nargs, char **args, struct tg_err *err)
{
	struct deco_opts o = *(const struct deco_opts *)opts;

	if (nargs == 2)
		return run_peak(&o, args[0], args[1], err);
	if (nargs != 3)
		return tg_err_set(err, TG_E_USAGE,
				  "expected MEM STACK EVENT or DIR PEAK, got %d argument%s", nargs,
				  nargs == 1 ? "" : "s");
	o.mem = args[0];
	o.stack = args[1];
	o.event = args[2];
	return run(&o, err);
}

static void init(void *opts)
{
	struct deco_opts *o = opts;

	o->prefix = "";
	o->indent = " ";
	o->memg_txt = "memg.txt";
}

static const struct cli_opt options[] = {
    {"output", 'o', "FILE", CLI_STR, offsetof(struct deco_opts, output),
     "write FILE (default: standard output)"},
    {"memg-txt", 0, "FILE", CLI_STR, offsetof(struct deco_opts, memg_txt),
     "with DIR PEAK: the memg.txt the peak number is\nfrom (default: ./memg.txt, where render "
     "memg\nwrites without -o)"},
    {"prefix", 0, "P", CLI_STR, offsetof(struct deco_opts, prefix),
     "strip P from the start of file names"},
    {"indent", 0, "S", CLI_STR, offsetof(struct deco_opts, indent),
     "the indent string (default: one space)"},
    {"strict", 0, NULL, CLI_FLAG, offsetof(struct deco_opts, strict),
     "a malformed line is an error (default: skipped)"},
    {NULL},
};

const struct cli_command render_decorate_cmd = {
    "decorate-stack",
    "the calls under the call that produced one return, with time and memory",
    "MEM STACK EVENT [options]\n"
    "       tgattach render decorate-stack DIR PEAK [options]",
    "Prints the calls made under the call that produced one return event, as\n"
    "  FUNC@FILE:CALL_LINE-RETURN_LINE, Time: SECONDS s, Memory: BYTES B\n"
    "one indent per nesting level.  MEM and STACK are the THREAD.mem and THREAD.stack\n"
    "files of one thread; EVENT is a line number in MEM (from 1) or the line itself.\n"
    "DIR PEAK: the event is peak number PEAK of memg.txt (the marks on memg's graph),\n"
    "in the recording directory DIR (OUTDIR/PID) that memg drew.\n",
    "Names are shown with control bytes, '\\' and invalid UTF-8 as \\xHH.\n",
    options,
    sizeof(struct deco_opts),
    init,
    "expected MEM STACK EVENT or DIR PEAK, got 0 arguments",
    run_args,
};
