#include "render/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render/text.h"

#define TITLE_CMD_MAX 100 /* the title, Sans 16, stays inside 1920 pixels */

static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
				     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS (sizeof colors / sizeof colors[0])

int plot_format_parse(const char *arg, enum plot_format *f, struct tg_err *err)
{
	if (strcmp(arg, "svg") == 0)
		*f = PLOT_SVG;
	else if (strcmp(arg, "png") == 0)
		*f = PLOT_PNG;
	else
		return tg_err_set(err, TG_E_USAGE, "--format: 'svg' or 'png', not '%s'", arg);
	return 0;
}

void plot_file_name(struct buf *out, const char *name, enum plot_format f)
{
	buf_addf(out, "%s.%s", name, f == PLOT_PNG ? "png" : "svg");
}

void plot_quoted(struct buf *s, const char *text)
{
	text_gnuplot_quote(s, text, strlen(text));
}

void plot_terminal(struct buf *s, enum plot_format f, const char *file)
{
	if (f == PLOT_PNG)
		buf_addstr(s, "set terminal pngcairo size 1920,1080 noenhanced font 'Sans,11' "
			      "background rgb '#ffffff'\n");
	else
		buf_addstr(s, "set terminal svg size 1920,1080 dynamic noenhanced "
			      "font 'Sans,12' background rgb '#ffffff'\n");
	buf_addstr(s, "set output ");
	plot_quoted(s, file);
	buf_addstr(s, "\nset encoding utf8\nset termoption noenhanced\n");
}

void plot_title(struct buf *s, const char *what, const struct recording *r)
{
	struct buf title = BUF_INIT;

	buf_addf(&title, "%s, ", what);
	recording_title(r, TITLE_CMD_MAX, &title);
	buf_addstr(s, "set title ");
	plot_quoted(s, buf_cstr(&title));
	buf_addstr(s, " font 'Sans,16'\n");
	buf_free(&title);
}

double plot_time_axis(struct buf *s, double t0, double span, double from, double to)
{
	char start[64];
	struct tm tm;
	time_t t = (time_t)t0;
	struct buf label = BUF_INIT;
	const char *name = "s";
	double unit = 1;

	if (isfinite(from) && isfinite(to))
		span = to - from;
	if (span > 2 * 86400.0)
		unit = 3600, name = "h";
	else if (span > 2 * 3600.0)
		unit = 60, name = "min";
	if (!localtime_r(&t, &tm) || !strftime(start, sizeof start, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(start, sizeof start, "%.0f (Unix time)", t0);
	buf_addf(&label, "time since %s (%s)", start, name);
	buf_addstr(s, "set xlabel ");
	plot_quoted(s, buf_cstr(&label));
	buf_addch(s, '\n');
	buf_free(&label);
	if (isfinite(from) || isfinite(to)) {
		buf_addstr(s, "set xrange [");
		if (isfinite(from))
			buf_addf(s, "%.6f", (from - t0) / unit);
		buf_addstr(s, ":");
		if (isfinite(to))
			buf_addf(s, "%.6f", (to - t0) / unit);
		buf_addstr(s, "]\n");
	}
	return unit;
}

const char *plot_color(size_t i)
{
	return colors[i % NCOLORS];
}

void plot_line_style(struct buf *s, size_t i)
{
	buf_addf(s, "lc rgb '%s' dt %zu", colors[i % NCOLORS], i / NCOLORS % 5 + 1);
}
