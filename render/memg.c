/* render memg: memory change per return of every thread, plus the process RSS, over time,
 * drawn by gnuplot into OUTDIR/memg.svg with the peak legend in OUTDIR/memg.txt.
 *
 * Everything that comes from the recording reaches gnuplot either as numbers in a data
 * file or as a single-quoted string literal built by text_gnuplot_quote(); gnuplot runs in
 * a private work directory inside OUTDIR, so the script names no path of ours, and the
 * results are renamed into place only when gnuplot succeeded. */
#include "render/render.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/escape.h"
#include "common/xalloc.h"
#include "render/cli.h"
#include "render/gnuplot.h"
#include "render/peaks.h"
#include "render/text.h"
#include "render/tgfile.h"

#define TITLE_MAX 150

struct memg_opts {
	const char *outdir;
	long long rebase; /* KB */
	long long peak;	  /* KB */
	double peak_dt;	  /* s */
	double peak_dv;	  /* KB */
	long long cap;	  /* KB, 0 = none */
	int no_process;
	int strict;
	struct cli_time from, to;
};

struct input {
	char *path;
	char *dir;
	struct buf name; /* thread name, unescaped */
	int is_process;
};

struct inputs {
	struct input *v;
	size_t n, cap;
};

struct series {
	int block; /* index in the data file */
	int is_process;
	size_t thread; /* index among threads */
	char *title;
};

struct plot {
	const struct memg_opts *o;
	char *workdir;
	FILE *data;
	int blocks;
	double t0, from, to, tmax;
	struct series *series;
	size_t nseries;
	char **legend_names; /* escaped thread names, by thread index */
	size_t nthreads;
	struct peaks peaks;
	unsigned long malformed;
};

static void usage(FILE *fp)
{
	fputs("usage: tgattach render memg DIR|FILES... [options]\n"
	      "Draws the memory change at each function return of every thread, and the\n"
	      "process RSS, over time: OUTDIR/memg.svg, with the peaks listed in OUTDIR/memg.txt\n"
	      "as 'MARK: THREAD>FILE:LINE:FUNC=>DELTA_BYTES'.  DIR is a recording directory\n"
	      "(OUTDIR/PID of tgattach or ThreadGraph); FILES are .mem files.\n"
	      "  -o, --output OUTDIR          where to write (default: the current directory)\n"
	      "  --process-rebase KB          subtract KB from the process RSS (default 30000)\n"
	      "  --peak KB                    a return is a peak if |delta| > KB (default 200)\n"
	      "  --peak-delta-time S          label a peak only if more than S seconds...\n"
	      "  --peak-delta-value KB        ...or KB away from the thread's last label\n"
	      "                               (defaults 60 and 500; memg.txt lists all peaks)\n"
	      "  --cap KB                     clip thread values to [-KB, KB] (default: none)\n"
	      "  --no-process                 leave out the process RSS line\n"
	      "  --time-from T, --time-to T   time range: Unix seconds, +SECONDS after the\n"
	      "                               first event, or 'YYYY-MM-DD HH:MM:SS' local time\n"
	      "  --strict                     a malformed line is an error (default: skipped)\n"
	      "The original's spellings --process_rebase, --peak_delta_time, --peak_delta_value,\n"
	      "--no_process, --time_from and --time_to are accepted.  Needs gnuplot.\n",
	      fp);
}

enum {
	OPT_REBASE = 256,
	OPT_PEAK,
	OPT_PEAK_DT,
	OPT_PEAK_DV,
	OPT_CAP,
	OPT_NO_PROCESS,
	OPT_FROM,
	OPT_TO,
	OPT_STRICT,
};

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"process-rebase", required_argument, NULL, OPT_REBASE},
    {"process_rebase", required_argument, NULL, OPT_REBASE},
    {"peak", required_argument, NULL, OPT_PEAK},
    {"peak-delta-time", required_argument, NULL, OPT_PEAK_DT},
    {"peak_delta_time", required_argument, NULL, OPT_PEAK_DT},
    {"peak-delta-value", required_argument, NULL, OPT_PEAK_DV},
    {"peak_delta_value", required_argument, NULL, OPT_PEAK_DV},
    {"cap", required_argument, NULL, OPT_CAP},
    {"no-process", no_argument, NULL, OPT_NO_PROCESS},
    {"no_process", no_argument, NULL, OPT_NO_PROCESS},
    {"time-from", required_argument, NULL, OPT_FROM},
    {"time_from", required_argument, NULL, OPT_FROM},
    {"time-to", required_argument, NULL, OPT_TO},
    {"time_to", required_argument, NULL, OPT_TO},
    {"strict", no_argument, NULL, OPT_STRICT},
    {NULL, 0, NULL, 0},
};

static int set_option(struct memg_opts *o, int c, const char *arg, struct tg_err *err)
{
	long long v;

	switch (c) {
	case 'o':
		o->outdir = arg;
		return 0;
	case OPT_REBASE:
		return cli_ll("--process-rebase", arg, &o->rebase, err);
	case OPT_PEAK:
		if (cli_ll("--peak", arg, &v, err) < 0 || v < 0)
			return tg_err_set(err, TG_E_USAGE, "--peak: not an integer >= 0: '%s'",
					  arg);
		o->peak = v;
		return 0;
	case OPT_PEAK_DT:
		return cli_nonneg("--peak-delta-time", arg, &o->peak_dt, err);
	case OPT_PEAK_DV:
		return cli_nonneg("--peak-delta-value", arg, &o->peak_dv, err);
	case OPT_CAP:
		if (cli_ll("--cap", arg, &v, err) < 0 || v < 0)
			return tg_err_set(err, TG_E_USAGE, "--cap: not an integer >= 0: '%s'", arg);
		o->cap = v;
		return 0;
	case OPT_NO_PROCESS:
		o->no_process = 1;
		return 0;
	case OPT_FROM:
		return cli_time("--time-from", arg, &o->from, err);
	case OPT_TO:
		return cli_time("--time-to", arg, &o->to, err);
	case OPT_STRICT:
		o->strict = 1;
		return 0;
	}
	return tg_err_set(err, TG_E_USAGE, "unknown option (see --help)");
}

/* Returns 0, 1 when --help was shown, -1 with err. */
static int parse_args(int argc, char **argv, struct memg_opts *o, struct tg_err *err)
{
	int c;

	*o = (struct memg_opts){".", 30000, 200, 60, 500, 0, 0, 0, {0, 0, 0}, {0, 0, 0}};
	optind = 0;
	while ((c = getopt_long(argc, argv, "o:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?')
			return tg_err_set(err, TG_E_USAGE, "bad option (see --help)");
		if (set_option(o, c, optarg, err) < 0)
			return -1;
	}
	if (optind >= argc)
		return tg_err_set(err, TG_E_USAGE, "no recording directory or .mem file given");
	return 0;
}

static void inputs_add(struct inputs *in, const char *dir, const char *base, int is_process,
		       const struct buf *name)
{
	struct input *i;

	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 16;
		in->v = xrealloc(in->v, in->cap * sizeof *in->v);
	}
	i = &in->v[in->n++];
	memset(i, 0, sizeof *i);
	i->dir = xstrdup(dir);
	struct buf path = BUF_INIT;
	buf_addf(&path, "%s/%s", dir, base);
	i->path = buf_detach(&path);
	i->is_process = is_process;
	buf_add(&i->name, buf_cstr(name), name->len);
}

static void inputs_free(struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->v[i].path);
		free(in->v[i].dir);
		buf_free(&in->v[i].name);
	}
	free(in->v);
}

/* Adds DIR/base if it is a .mem file; returns whether it was. */
static int add_entry(struct inputs *in, const char *dir, const char *base)
{
	struct buf name = BUF_INIT;
	enum tgname_kind k = tgname_classify(base, &name);

	if (k == TGNAME_PROCESS_MEM || k == TGNAME_THREAD_MEM)
		inputs_add(in, dir, base, k == TGNAME_PROCESS_MEM, &name);
	buf_free(&name);
	return k == TGNAME_PROCESS_MEM || k == TGNAME_THREAD_MEM;
}

static int add_dir(struct inputs *in, const char *dir, struct tg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t before = in->n;

	if (!d)
		return tg_err_sys(err, TG_E_DATA, "opening %s", dir);
	errno = 0;
	while ((e = readdir(d)) != NULL)
		add_entry(in, dir, e->d_name);
	if (errno) {
		closedir(d);
		return tg_err_sys(err, TG_E_DATA, "reading %s", dir);
	}
	closedir(d);
	if (in->n == before)
		return tg_err_set(err, TG_E_DATA, "%s: no .mem files", dir);
	return 0;
}

static int add_arg(struct inputs *in, const char *arg, struct tg_err *err)
{
	struct stat st;
	struct buf dir = BUF_INIT;
	const char *slash, *base;
	int ok;

	if (stat(arg, &st) < 0)
		return tg_err_sys(err, TG_E_DATA, "%s", arg);
	if (S_ISDIR(st.st_mode))
		return add_dir(in, arg, err);
	slash = strrchr(arg, '/');
	base = slash ? slash + 1 : arg;
	if (slash)
		buf_add(&dir, arg, slash == arg ? 1 : (size_t)(slash - arg));
	else
		buf_addch(&dir, '.');
	ok = add_entry(in, buf_cstr(&dir), base);
	buf_free(&dir);
	if (!ok)
		return tg_err_set(err, TG_E_DATA, "%s: not a .mem file", arg);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct input *x = a, *y = b;
	size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
	int c;

	if (x->is_process != y->is_process)
		return x->is_process - y->is_process;
	c = strverscmp(buf_cstr(&x->name), buf_cstr(&y->name)); /* Worker-2 before Worker-10 */
	if (c)
		return c;
	c = n ? memcmp(x->name.data, y->name.data, n) : 0;
	if (c)
		return c;
	if (x->name.len != y->name.len)
		return x->name.len < y->name.len ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void shown_name(struct buf *out, const struct buf *name)
{
	text_display(out, buf_cstr(name), name->len);
}

/* The time of the first event of the recording (each file is in time order). */
static int first_time(const struct inputs *in, double *t0, struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	int found = 0;

	for (size_t i = 0; i < in->n; i++) {
		struct tgfile f;
		if (tgfile_open(&f, in->v[i].path,
				in->v[i].is_process ? TGFILE_SAMPLES : TGFILE_RETURNS, 0, err) < 0)
			goto fail;
		f.quiet = 1;
		int r = tgfile_next(&f, &rec, err);
		tgfile_close(&f);
		if (r < 0)
			goto fail;
		if (r == 1 && (!found || rec.time < *t0))
			*t0 = rec.time, found = 1;
	}
	tg_rec_free(&rec);
	if (!found)
		return tg_err_set(err, TG_E_DATA, "no data: every .mem file is empty");
	return 0;
fail:
	tg_rec_free(&rec);
	return -1;
}

/* Starts a data block on the first point of a series. */
static void block_point(struct plot *p, int *block, double t, long long y)
{
	if (*block < 0) {
		if (p->blocks)
			fputs("\n\n", p->data);
		*block = p->blocks++;
	}
	fprintf(p->data, "%.6f %lld\n", t - p->t0, y);
	if (t > p->tmax)
		p->tmax = t;
}

static int in_range(const struct plot *p, double t)
{
	return t >= p->from && t <= p->to;
}

static void add_series(struct plot *p, int block, int is_process, size_t thread, const char *title)
{
	struct series *s;

	p->series = xrealloc(p->series, (p->nseries + 1) * sizeof *p->series);
	s = &p->series[p->nseries++];
	s->block = block;
	s->is_process = is_process;
	s->thread = thread;
	s->title = xstrdup(title);
}

static char *peak_text(const struct tg_rec *rec)
{
	struct buf b = BUF_INIT;

	tg_escape_field(&b, buf_cstr(&rec->file), rec->file.len);
	buf_addf(&b, ":%ld:", rec->line);
	tg_escape_field(&b, buf_cstr(&rec->func), rec->func.len);
	buf_addf(&b, "=>%lld", rec->value);
	return buf_detach(&b);
}

/* Zero deltas in a row collapse to the first and the last of the run. */
struct zero_run {
	unsigned long len;
	double last;
};

static void thread_point(struct plot *p, int *block, struct zero_run *z, double t, long long y)
{
	if (y == 0) {
		if (z->len++ == 0)
			block_point(p, block, t, 0);
		else
			z->last = t;
		return;
	}
	if (z->len > 1)
		block_point(p, block, z->last, 0);
	z->len = 0;
	block_point(p, block, t, y);
}

static long long cap_kb(long long kb, long long cap)
{
	if (cap <= 0)
		return kb;
	return kb > cap ? cap : kb < -cap ? -cap : kb;
}

static int read_thread(struct plot *p, struct tgfile *f, size_t thread, int *block,
		       struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct zero_run z = {0, 0};
	unsigned long seq = 0;
	int r;

	while ((r = tgfile_next(f, &rec, err)) == 1) {
		if (!in_range(p, rec.time))
			continue;
		long long kb = kb_floor(rec.value);
		long long y = cap_kb(kb, p->o->cap);
		thread_point(p, block, &z, rec.time, y);
		if (llabs(kb) > p->o->peak) {
			struct peak pk = {rec.time, thread, seq, kb, y, peak_text(&rec), 0, 0};
			peaks_add(&p->peaks, &pk);
		}
		seq++;
	}
	if (r == 0 && z.len > 1)
		block_point(p, block, z.last, 0);
	tg_rec_free(&rec);
	return r;
}

static int do_thread(struct plot *p, const struct input *in, struct tg_err *err)
{
	struct buf shown = BUF_INIT, legend = BUF_INIT;
	struct tgfile f;
	size_t thread = p->nthreads++;
	int block = -1;

	shown_name(&shown, &in->name);
	fprintf(stderr, "Processing data for thread %s\n", buf_cstr(&shown));
	tg_escape_field(&legend, buf_cstr(&in->name), in->name.len);
	p->legend_names = xrealloc(p->legend_names, p->nthreads * sizeof *p->legend_names);
	p->legend_names[thread] = buf_detach(&legend);
	buf_free(&shown);
	if (tgfile_open(&f, in->path, TGFILE_RETURNS, p->o->strict, err) < 0)
		return -1;
	int r = read_thread(p, &f, thread, &block, err);
	p->malformed += f.malformed;
	tgfile_close(&f);
	if (r < 0)
		return -1;
	if (block >= 0)
		add_series(p, block, 0, thread, buf_cstr(&in->name));
	return 0;
}

static int do_process(struct plot *p, const struct input *in, struct tg_err *err)
{
	struct tg_rec rec = TG_REC_INIT;
	struct tgfile f;
	int block = -1, r;

	fputs("Processing data for the process\n", stderr);
	if (tgfile_open(&f, in->path, TGFILE_SAMPLES, p->o->strict, err) < 0)
		return -1;
	while ((r = tgfile_next(&f, &rec, err)) == 1)
		if (in_range(p, rec.time))
			block_point(p, &block, rec.time, kb_floor(rec.value) - p->o->rebase);
	p->malformed += f.malformed;
	tgfile_close(&f);
	tg_rec_free(&rec);
	if (r < 0)
		return -1;
	if (block >= 0)
		add_series(p, block, 1, 0, "");
	return 0;
}

static void write_labels(struct plot *p, int *block)
{
	*block = -1;
	for (size_t i = 0; i < p->peaks.n; i++) {
		const struct peak *pk = &p->peaks.v[i];
		if (!pk->labelled)
			continue;
		if (*block < 0) {
			if (p->blocks)
				fputs("\n\n", p->data);
			*block = p->blocks++;
		}
		fprintf(p->data, "%.6f %lld %lu\n", pk->time - p->t0, pk->y, pk->mark);
	}
}

/* ---- the gnuplot script ---- */

static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
				     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS (sizeof colors / sizeof colors[0])

static void quoted(struct buf *s, const char *text)
{
	text_gnuplot_quote(s, text, strlen(text));
}

/* The recording's name and command line, for the title. */
static void read_meta_cmdline(const char *dir, struct buf *cmd)
{
	struct buf path = BUF_INIT;
	struct tgfile f;
	struct tg_err err;
	int too_long;

	buf_addf(&path, "%s/meta", dir);
	if (access(buf_cstr(&path), R_OK) == 0 &&
	    tgfile_open(&f, buf_cstr(&path), TGFILE_SAMPLES, 0, &err) == 0) {
		while (tgfile_next_line(&f, &too_long, &err) == 1) {
			if (!too_long && strncmp(buf_cstr(&f.line), "cmdline=", 8) == 0) {
				tg_unescape_field(cmd, f.line.data + 8, f.line.len - 8);
				break;
			}
		}
		tgfile_close(&f);
	}
	buf_free(&path);
}

static void recording_name(const char *dir, struct buf *out)
{
	char *copy = xstrdup(dir);
	size_t len = strlen(copy);

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	const char *slash = strrchr(copy, '/');
	const char *base = slash && slash[1] ? slash + 1 : copy;
	int digits = *base != '\0' && strspn(base, "0123456789") == strlen(base);

	if (strcmp(base, ".") == 0) {
		char *cwd = getcwd(NULL, 0);
		if (cwd) {
			recording_name(cwd, out);
			free(cwd);
			free(copy);
			return;
		}
	}
	buf_addstr(out, digits ? "PID " : "recording ");
	buf_addstr(out, base);
	free(copy);
}

static void title_text(const struct inputs *in, struct buf *title)
{
	struct buf cmd = BUF_INIT;

	buf_addstr(title, "Memory per thread, ");
	recording_name(in->v[0].dir, title);
	read_meta_cmdline(in->v[0].dir, &cmd);
	if (cmd.len) {
		size_t cut = cmd.len > TITLE_MAX ? TITLE_MAX : cmd.len;
		while (cut > 0 && cut < cmd.len && ((unsigned char)cmd.data[cut] & 0xc0) == 0x80)
			cut--;
		buf_addstr(title, ": ");
		buf_add(title, cmd.data, cut);
		if (cut < cmd.len)
			buf_addstr(title, "...");
	}
	buf_free(&cmd);
}

/* Seconds, minutes or hours, whichever keeps the x tics readable. */
static double x_unit(const struct plot *p, const char **name)
{
	double span = p->tmax - p->t0;

	if (p->o->to.set && p->o->from.set)
		span = p->to - p->from;
	if (span > 2 * 86400.0)
		return *name = "h", 3600;
	if (span > 2 * 3600.0)
		return *name = "min", 60;
	return *name = "s", 1;
}

static int has_process(const struct plot *p)
{
	for (size_t i = 0; i < p->nseries; i++)
		if (p->series[i].is_process)
			return 1;
	return 0;
}

static void script_axes(const struct plot *p, struct buf *s, double unit, const char *uname)
{
	char start[64];
	struct tm tm;
	time_t t = (time_t)p->t0;
	struct buf label = BUF_INIT;

	if (!localtime_r(&t, &tm) || !strftime(start, sizeof start, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(start, sizeof start, "%.0f (Unix time)", p->t0);
	buf_addf(&label, "time since %s (%s)", start, uname);
	buf_addstr(s, "set xlabel ");
	quoted(s, buf_cstr(&label));
	buf_addstr(s, "\nset ylabel 'memory change at each return (KB)'\n");
	if (has_process(p)) {
		/* its own axis, so that neither the RSS nor the deltas are squashed */
		buf_reset(&label);
		buf_addstr(&label, "process RSS");
		if (p->o->rebase)
			buf_addf(&label, " - %lld KB", p->o->rebase);
		buf_addstr(&label, " (KB)");
		buf_addstr(s, "set y2label ");
		quoted(s, buf_cstr(&label));
		buf_addstr(s, "\nset y2tics\nset ytics nomirror\nset format y2 '%.0f'\n");
	}
	buf_free(&label);
	if (p->o->from.set || p->o->to.set) {
		buf_addstr(s, "set xrange [");
		if (p->o->from.set)
			buf_addf(s, "%.6f", (p->from - p->t0) / unit);
		buf_addstr(s, ":");
		if (p->o->to.set)
			buf_addf(s, "%.6f", (p->to - p->t0) / unit);
		buf_addstr(s, "]\n");
	}
}

static void script_series(const struct plot *p, struct buf *s, const struct series *se, double unit)
{
	buf_addf(s, "'data' index %d using ($1/%g):2 with lines ", se->block, unit);
	if (se->is_process) {
		buf_addf(s, "axes x1y2 lw 2.5 lc rgb '#000000' dt 1 title ");
		struct buf t = BUF_INIT;
		buf_addstr(&t, "process RSS");
		if (p->o->rebase)
			buf_addf(&t, " - %lld KB", p->o->rebase);
		buf_addstr(&t, " (right axis)");
		quoted(s, buf_cstr(&t));
		buf_free(&t);
		return;
	}
	buf_addf(s, "lw 1.5 lc rgb '%s' dt %zu title ", colors[se->thread % NCOLORS],
		 se->thread / NCOLORS % 5 + 1);
	quoted(s, se->title);
}

static void build_script(const struct plot *p, const struct inputs *in, int labels, struct buf *s)
{
	struct buf title = BUF_INIT;
	const char *uname;
	double unit = x_unit(p, &uname);

	buf_addstr(s, "set terminal svg size 1920,1080 dynamic noenhanced "
		      "font 'Sans,12' background rgb '#ffffff'\n"
		      "set output 'memg.svg'\n"
		      "set encoding utf8\n"
		      "set termoption noenhanced\n"
		      "set title ");
	title_text(in, &title);
	quoted(s, buf_cstr(&title));
	buf_free(&title);
	buf_addstr(s, " font 'Sans,16'\n");
	script_axes(p, s, unit, uname);
	buf_addstr(s, "set key outside right top vertical Left reverse noenhanced\n"
		      "set grid xtics ytics lc rgb '#d8d8d8'\n"
		      "set xzeroaxis lt 1 lc rgb '#808080'\n"
		      "set format y '%.0f'\n"
		      "set tics out\n"
		      "set offsets 0, 0, graph 0.05, graph 0.05\n"
		      "plot ");
	for (size_t i = 0; i < p->nseries; i++) {
		if (i)
			buf_addstr(s, ", \\\n     ");
		script_series(p, s, &p->series[i], unit);
	}
	if (labels >= 0)
		buf_addf(s,
			 ", \\\n     'data' index %d using ($1/%g):2:3 with labels point pt 7 "
			 "ps 0.6 lc rgb '#000000' offset char 0,0.8 font 'Sans,10' notitle",
			 labels, unit);
	buf_addch(s, '\n');
}

/* ---- files ---- */

static char *work_path(const struct plot *p, const char *name)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s", p->workdir, name);
	return buf_detach(&b);
}

static int write_file(const struct plot *p, const char *name, const char *text, struct tg_err *err)
{
	char *path = work_path(p, name);
	FILE *fp = fopen(path, "w");
	int rc = 0;

	if (!fp)
		rc = tg_err_sys(err, TG_E_OUTPUT, "creating %s", path);
	else if (fputs(text, fp) == EOF || fclose(fp) != 0)
		rc = tg_err_sys(err, TG_E_OUTPUT, "writing %s", path);
	free(path);
	return rc;
}

static int write_legend(const struct plot *p, struct tg_err *err)
{
	char *path = work_path(p, "memg.txt");
	FILE *fp = fopen(path, "w");
	int rc = 0;

	if (!fp)
		rc = tg_err_sys(err, TG_E_OUTPUT, "creating %s", path);
	else if (peaks_write_legend(&p->peaks, (const char *const *)p->legend_names, fp, err) < 0)
		rc = -1, fclose(fp);
	else if (fclose(fp) != 0)
		rc = tg_err_sys(err, TG_E_OUTPUT, "writing %s", path);
	free(path);
	return rc;
}

static int make_workdir(struct plot *p, struct tg_err *err)
{
	struct buf b = BUF_INIT;

	if (mkdir(p->o->outdir, 0777) < 0 && errno != EEXIST)
		return tg_err_sys(err, TG_E_OUTPUT, "creating %s", p->o->outdir);
	buf_addf(&b, "%s/.memg-XXXXXX", p->o->outdir);
	p->workdir = buf_detach(&b);
	if (!mkdtemp(p->workdir)) {
		tg_err_sys(err, TG_E_OUTPUT, "creating a work directory in %s", p->o->outdir);
		free(p->workdir);
		p->workdir = NULL;
		return -1;
	}
	char *data = work_path(p, "data");
	p->data = fopen(data, "w");
	free(data);
	if (!p->data)
		return tg_err_sys(err, TG_E_OUTPUT, "creating a data file in %s", p->workdir);
	return 0;
}

static void remove_workdir(struct plot *p)
{
	static const char *const names[] = {"data", "plot.gp", "memg.svg", "memg.txt"};

	if (p->data)
		fclose(p->data);
	p->data = NULL;
	if (!p->workdir)
		return;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *path = work_path(p, names[i]);
		unlink(path);
		free(path);
	}
	rmdir(p->workdir);
	free(p->workdir);
	p->workdir = NULL;
}

static int install(const struct plot *p, const char *name, struct tg_err *err)
{
	char *from = work_path(p, name);
	struct buf to = BUF_INIT;
	struct stat st;
	int rc = 0;

	buf_addf(&to, "%s/%s", p->o->outdir, name);
	if (strcmp(name, "memg.svg") == 0 && (stat(from, &st) < 0 || st.st_size == 0))
		rc = tg_err_set(err, TG_E_GNUPLOT, "gnuplot wrote no SVG");
	else if (rename(from, buf_cstr(&to)) < 0)
		rc = tg_err_sys(err, TG_E_OUTPUT, "writing %s", buf_cstr(&to));
	free(from);
	buf_free(&to);
	return rc;
}

/* ---- the command ---- */

static int read_all_inputs(struct plot *p, const struct inputs *in, struct tg_err *err)
{
	for (size_t i = 0; i < in->n; i++)
		if (!in->v[i].is_process && do_thread(p, &in->v[i], err) < 0)
			return -1;
	for (size_t i = 0; i < in->n; i++)
		if (in->v[i].is_process && !p->o->no_process && do_process(p, &in->v[i], err) < 0)
			return -1;
	if (p->malformed)
		fprintf(stderr, "%lu malformed line%s skipped\n", p->malformed,
			p->malformed == 1 ? "" : "s");
	if (p->nseries == 0)
		return tg_err_set(err, TG_E_DATA, "no data to plot%s",
				  p->o->from.set || p->o->to.set ? " in the time range" : "");
	return 0;
}

static int render(struct plot *p, const struct inputs *in, struct tg_err *err)
{
	struct buf script = BUF_INIT;
	int labels, rc = -1;

	if (read_all_inputs(p, in, err) < 0)
		return -1;
	peaks_number(&p->peaks);
	peaks_thin(&p->peaks, p->nthreads, p->o->peak_dt, p->o->peak_dv);
	write_labels(p, &labels);
	if (fclose(p->data) != 0) {
		p->data = NULL;
		return tg_err_sys(err, TG_E_OUTPUT, "writing the data file in %s", p->workdir);
	}
	p->data = NULL;
	build_script(p, in, labels, &script);
	if (write_file(p, "plot.gp", buf_cstr(&script), err) == 0 && write_legend(p, err) == 0) {
		fputs("Running gnuplot.\n", stderr);
		if (gnuplot_run(p->workdir, "plot.gp", err) == 0 &&
		    install(p, "memg.svg", err) == 0 && install(p, "memg.txt", err) == 0)
			rc = 0;
	}
	buf_free(&script);
	return rc;
}

static int run(const struct memg_opts *o, int nargs, char **args, struct tg_err *err)
{
	struct inputs in = {NULL, 0, 0};
	struct plot p;
	int rc = -1;

	memset(&p, 0, sizeof p);
	p.o = o;
	for (int i = 0; i < nargs; i++)
		if (add_arg(&in, args[i], err) < 0)
			goto out;
	qsort(in.v, in.n, sizeof *in.v, by_name);
	if (first_time(&in, &p.t0, err) < 0)
		goto out;
	p.from = o->from.set ? cli_time_resolve(&o->from, p.t0) : -1e300;
	p.to = o->to.set ? cli_time_resolve(&o->to, p.t0) : 1e300;
	p.tmax = p.t0;
	if (p.from > p.to) {
		rc = tg_err_set(err, TG_E_USAGE, "--time-from is after --time-to");
		goto out;
	}
	if (make_workdir(&p, err) < 0 || render(&p, &in, err) < 0)
		goto out;
	fprintf(stderr, "Wrote %s/memg.svg and %s/memg.txt (%zu peak%s)\n", o->outdir, o->outdir,
		p.peaks.n, p.peaks.n == 1 ? "" : "s");
	rc = 0;
out:
	remove_workdir(&p);
	for (size_t i = 0; i < p.nseries; i++)
		free(p.series[i].title);
	free(p.series);
	for (size_t i = 0; i < p.nthreads; i++)
		free(p.legend_names[i]);
	free(p.legend_names);
	peaks_free(&p.peaks);
	inputs_free(&in);
	return rc;
}

int render_memg(int argc, char **argv)
{
	struct memg_opts o;
	struct tg_err err;
	int r;

	tg_err_clear(&err);
	r = parse_args(argc, argv, &o, &err);
	if (r == 1)
		return TG_OK;
	if (r == 0 && run(&o, argc - optind, argv + optind, &err) == 0)
		return TG_OK;
	fprintf(stderr, "tgattach render memg: %s\n", err.msg);
	if (err.code == TG_E_USAGE)
		fputs("Try 'tgattach render memg --help'.\n", stderr);
	return err.code ? err.code : TG_E_INTERNAL;
}
