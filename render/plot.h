/* plot.h: the parts of a gnuplot script that the graphs share (terminal, title, time
 * axis, colours).  Every text from a recording goes in as a single-quoted literal made by
 * text_gnuplot_quote(), with the terminal in noenhanced mode: drawn literally, never
 * interpreted. */
#ifndef TG_PLOT_H
#define TG_PLOT_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "render/recording.h"

enum plot_format { PLOT_SVG, PLOT_PNG };

/* "svg" or "png" into *f; TG_E_USAGE otherwise. */
int plot_format_parse(const char *arg, enum plot_format *f, struct tg_err *err);
/* "NAME.svg" or "NAME.png" */
void plot_file_name(struct buf *out, const char *name, enum plot_format f);

/* Terminal (1920x1080, white), output file, encoding, noenhanced. */
void plot_terminal(struct buf *s, enum plot_format f, const char *file);
/* `set title` with WHAT, the recording's name and its command line. */
void plot_title(struct buf *s, const char *what, const struct recording *r);

/* The x axis: seconds, minutes or hours since t0, whichever keeps the tics readable for
 * a span of `span` seconds; sets the label ("time since 2014-03-05 14:57:13 CET (s)") and,
 * when from/to are finite, the range.  Returns the unit in seconds, to divide by. */
double plot_time_axis(struct buf *s, double t0, double span, double from, double to);

/* Appends s as a gnuplot string literal. */
void plot_quoted(struct buf *s, const char *text);

/* The colour of series i (10 colours, then again). */
const char *plot_color(size_t i);
/* A line style for series i: colour and dash pattern, distinct for 50 series. */
void plot_line_style(struct buf *s, size_t i);

#endif
