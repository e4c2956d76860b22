/* render alloc: column units and titles, and the gnuplot script. */
#include "render/alloc.h"

#include <math.h>
#include <string.h>

struct known {
	const char *name;
	enum alloc_unit unit;
	const char *title;
};

/* The columns tgattach writes (docs/formats.md), and a few a future version may add. */
static const struct known known[] = {
    {"rss", UNIT_BYTES, "RSS"},
    {"anon", UNIT_BYTES, "anonymous RSS"},
    {"heap", UNIT_BYTES, "heap (pymalloc in use + memory outside arenas)"},
    {"bytes_in_use", UNIT_BYTES, "pymalloc bytes in use"},
    {"arena_bytes", UNIT_BYTES, "pymalloc pools carved from arenas"},
    {"vms", UNIT_BYTES, "virtual size"},
    {"swap", UNIT_BYTES, "swap"},
    {"arenas", UNIT_COUNT, "arenas"},
    {"arenas_highwater", UNIT_COUNT, "arenas, high-water mark"},
    {"blocks", UNIT_COUNT, "blocks in use"},
    {"raw_blocks", UNIT_COUNT, "blocks over 512 B passed to malloc"},
    {"pools", UNIT_COUNT, "pools in use"},
};
#define NKNOWN (sizeof known / sizeof known[0])

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

static const struct known *lookup(const char *name)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (strcmp(known[i].name, name) == 0)
			return &known[i];
	return NULL;
}

enum alloc_unit allocplot_unit_of(const char *name)
{
	const struct known *k = lookup(name);

	if (k)
		return k->unit;
	if (ends_with(name, "bytes") || ends_with(name, "_rss"))
		return UNIT_BYTES;
	if (ends_with(name, "blocks") || ends_with(name, "arenas") || ends_with(name, "pools") ||
	    ends_with(name, "_count"))
		return UNIT_COUNT;
	return UNIT_NONE;
}

void allocplot_title(struct buf *out, const struct alloc_series *s, int counts_on_y1)
{
	const struct known *k = lookup(s->name);

	buf_addstr(out, k ? k->title : s->name);
	if (s->unit == UNIT_BYTES)
		buf_addstr(out, " (MB)");
	else
		buf_addstr(out, counts_on_y1 ? " (count)" : " (count, right axis)");
}

static int has_unit(const struct alloc_plot *p, enum alloc_unit u)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->s[i].written && p->s[i].unit == u)
			return 1;
	return 0;
}

static void script_axes(const struct alloc_plot *p, struct buf *s, int counts_on_y1)
{
	const char *count_axis = counts_on_y1 ? "y" : "y2";

	if (!counts_on_y1) {
		buf_addstr(s, "set ylabel 'memory (MB)'\nset format y '%g'\nset yrange [0:*]\n");
		if (!has_unit(p, UNIT_COUNT))
			return;
		buf_addstr(s, "set y2tics\nset ytics nomirror\n");
	}
	buf_addf(s, "set %slabel '%s'\nset format %s '%%.0f'\n", count_axis,
		 p->log_counts ? "count (log scale)" : "count", count_axis);
	if (p->log_counts)
		buf_addf(s, "set logscale %s 10\n", count_axis);
}

static void script_series(const struct alloc_plot *p, struct buf *s, size_t i, double unit,
			  int counts_on_y1)
{
	const struct alloc_series *se = &p->s[i];
	struct buf title = BUF_INIT;
	int count = se->unit == UNIT_COUNT;

	buf_addf(s, "'s%zu' using ($1/%g):2 with lines axes x1y%d lw %s lc rgb '%s' dt %d title ",
		 i, unit, count && !counts_on_y1 ? 2 : 1, count ? "1.5" : "2.5", plot_color(i),
		 count ? 2 : 1);
	allocplot_title(&title, se, counts_on_y1);
	plot_quoted(s, buf_cstr(&title));
	buf_free(&title);
}

void allocplot_script(const struct alloc_plot *p, struct buf *s)
{
	struct buf file = BUF_INIT;
	int counts_on_y1 = !has_unit(p, UNIT_BYTES);
	double unit;
	int first = 1;

	plot_file_name(&file, "alloc", p->format);
	plot_terminal(s, p->format, buf_cstr(&file));
	buf_free(&file);
	plot_title(s, "Allocator statistics", p->rec);
	unit = plot_time_axis(s, p->t0, p->tmax - p->t0, p->from, p->to);
	script_axes(p, s, counts_on_y1);
	buf_addstr(s, "set key outside right top vertical Left reverse noenhanced\n"
		      "set grid xtics ytics lc rgb '#d8d8d8'\n"
		      "set tics out\n"
		      "set offsets 0, 0, graph 0.05, 0\n"
		      "plot ");
	for (size_t i = 0; i < p->n; i++) {
		if (!p->s[i].written)
			continue;
		if (!first)
			buf_addstr(s, ", \\\n     ");
		first = 0;
		script_series(p, s, i, unit, counts_on_y1);
	}
	buf_addch(s, '\n');
}
