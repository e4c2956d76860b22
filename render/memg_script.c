/* render memg: the gnuplot script.  Names reach it only as quoted literals (plot.h). */
#include "render/memg.h"

#include <math.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "render/memg_group.h"

static int has_process(const struct memg_plot *p)
{
	for (size_t i = 0; i < p->nseries; i++)
		if (p->series[i].is_process)
			return 1;
	return 0;
}

/* se: the line, in a tree ("process PID RSS", "other children (K) RSS sum"), or NULL. */
static void process_label(const struct memg_plot *p, const struct memg_series *se, struct buf *b,
			  const char *tail)
{
	if (se && se->is_process == 2)
		buf_addf(b, "%s RSS sum", se->title);
	else if (se && se->pid)
		buf_addf(b, "process %ld RSS", se->pid);
	else
		buf_addstr(b, "process RSS");
	if (p->o->rebase_set && p->o->rebase)
		buf_addf(b, " - %lld KB", p->o->rebase);
	buf_addstr(b, tail);
}

static void script_axes(const struct memg_plot *p, struct buf *s)
{
	struct buf label = BUF_INIT;

	buf_addstr(s, p->cumulative ? "set ylabel 'memory charged to the threads so far (KB)'\n"
				    : "set ylabel 'memory change at each return (KB)'\n");
	if (has_process(p)) {
		/* its own axis, so that neither the RSS nor the deltas are squashed */
		process_label(p, NULL, &label, p->o->rebase_set ? " (KB)" : " (MB)");
		buf_addstr(s, "set y2label ");
		plot_quoted(s, buf_cstr(&label));
		buf_addstr(s, "\nset y2tics\nset ytics nomirror\nset format y2 '%.10g'\n");
	}
	buf_free(&label);
}

static void script_series(const struct memg_plot *p, struct buf *s, const struct memg_series *se,
			  const struct memg_style *st, double unit)
{
	buf_addf(s, "'data' index %d using ($1/%g):2 with %s ", se->block, unit,
		 p->cumulative && !se->is_process ? "steps" : "lines");
	if (se->is_process) {
		struct buf t = BUF_INIT;
		/* the first process black as in a single recording, the others by colour, the
		 * "other" sum grey and dotted */
		const char *color = se->is_process == 2 ? "#808080"
				    : se->thread == 0	? "#000000"
							: plot_color(se->thread - 1);
		buf_addf(s, "axes x1y2 lw 2.5 lc rgb '%s' dt %d title ", color,
			 se->is_process == 2 ? 3 : 1);
		process_label(p, se, &t, " (right axis)");
		plot_quoted(s, buf_cstr(&t));
		buf_free(&t);
		return;
	}
	if (st->other) {
		buf_addstr(s, "lw 1 lc rgb '#b8b8b8' dt 1");
	} else {
		buf_addstr(s, "lw 1.5 ");
		plot_line_style(s, st->color);
	}
	if (!st->title) {
		buf_addstr(s, " notitle");
		return;
	}
	buf_addstr(s, " title ");
	plot_quoted(s, st->title);
}

/* Marks above positive peaks, below negative ones, so they sit off the line's end. */
static void script_labels(const struct memg_plot *p, struct buf *s, double unit)
{
	static const struct {
		const char *file;
		const char *offset;
	} sides[] = {{"up", "0,0.8"}, {"down", "0,-0.8"}};

	for (int i = 0; i < 2; i++) {
		if (!(i ? p->labels_down : p->labels_up))
			continue;
		buf_addf(s,
			 ", \\\n     '%s' using ($1/%g):2:3 with labels point pt 7 ps 0.6 "
			 "lc rgb '#000000' offset char %s font 'Sans,10' notitle",
			 sides[i].file, unit, sides[i].offset);
	}
}

/* Plot order, so that the key reads as the ranking: the thread groups by rank (each
 * group's member with the key entry first), the grey ones, then the process lines. */
static int draw_rank(const struct memg_plot *p, const struct memg_style *st, size_t i)
{
	if (p->series[i].is_process)
		return 3;
	return st[i].other ? 2 : st[i].title ? 0 : 1;
}

static size_t *draw_order(const struct memg_plot *p, const struct memg_style *st)
{
	size_t *order = xcalloc(p->nseries + 1, sizeof *order), n = 0;

	for (int pass = 0; pass < 4; pass++) {
		size_t first = n;
		for (size_t i = 0; i < p->nseries; i++)
			if (draw_rank(p, st, i) == pass)
				order[n++] = i;
		if (pass == 0) /* titled members by their group's rank (a few: insertion) */
			for (size_t a = first + 1; a < n; a++)
				for (size_t b = a;
				     b > first && st[order[b]].color < st[order[b - 1]].color;
				     b--) {
					size_t t = order[b];
					order[b] = order[b - 1];
					order[b - 1] = t;
				}
	}
	return order;
}

void memg_script(const struct memg_plot *p, struct buf *s)
{
	struct buf file = BUF_INIT;
	double unit;
	size_t others;
	struct memg_style *st = memg_group(p, &others);

	plot_file_name(&file, "memg", p->o->format);
	plot_terminal(s, p->o->format, buf_cstr(&file));
	buf_free(&file);
	plot_title(s, p->tree ? "Memory per process and thread" : "Memory per thread", p->rec);
	unit = plot_time_axis(s, p->t0, p->tmax - p->t0, p->o->from.set ? p->from : NAN,
			      p->o->to.set ? p->to : NAN);
	script_axes(p, s);
	buf_addstr(s, "set key outside right top vertical Left reverse noenhanced\n"
		      "set grid xtics ytics lc rgb '#d8d8d8'\n"
		      "set xzeroaxis lt 1 lc rgb '#808080'\n"
		      "set format y '%.10g'\n"
		      "set tics out\n"
		      "set offsets 0, 0, graph 0.05, graph 0.05\n"
		      "plot ");
	size_t *order = draw_order(p, st);
	for (size_t k = 0; k < p->nseries; k++) {
		if (k)
			buf_addstr(s, ", \\\n     ");
		script_series(p, s, &p->series[order[k]], &st[order[k]], unit);
	}
	free(order);
	script_labels(p, s, unit);
	buf_addch(s, '\n');
	memg_styles_free(st, p->nseries);
}
