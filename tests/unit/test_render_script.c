/* Unit tests of the gnuplot scripts of render memg and render alloc: what goes where. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "render/alloc.h"
#include "render/memg.h"

static void has(const struct buf *s, const char *text)
{
	cr_assert_not_null(strstr(buf_cstr(s), text), "missing '%s' in:\n%s", text, buf_cstr(s));
}

/* Labels of negative peaks go below their point, positive ones above. */
Test(render_script, memg_label_sides_and_quoting)
{
	struct memg_opts o;
	struct recording rec;
	struct memg_plot p;
	struct memg_series series[2] = {{.block = 0, .title = "it's \"x\" `y`"},
					{.block = 1, .is_process = 1, .title = ""}};
	struct buf s = BUF_INIT;

	memset(&o, 0, sizeof o);
	memset(&rec, 0, sizeof rec);
	memset(&p, 0, sizeof p);
	o.rebase = 30000;
	o.rebase_set = 1;
	o.series = MEMG_SERIES;
	o.format = PLOT_SVG;
	rec.dir = "/nonexistent/4242";
	p.o = &o;
	p.rec = &rec;
	p.t0 = 1000;
	p.tmax = 1100;
	p.series = series;
	p.nseries = 2;
	p.labels_up = 3;
	p.labels_down = 2;
	memg_script(&p, &s);
	has(&s, "set output 'memg.svg'\n");
	has(&s, "set title 'Memory per thread, PID 4242' font");
	has(&s, "'up' using ($1/1):2:3 with labels point pt 7 ps 0.6 lc rgb '#000000' offset "
		"char 0,0.8 ");
	has(&s, "'down' using ($1/1):2:3 with labels point pt 7 ps 0.6 lc rgb '#000000' offset "
		"char 0,-0.8 ");
	has(&s, "title 'it''s \"x\" `y`'");
	has(&s, "axes x1y2");
	buf_reset(&s);
	p.labels_down = 0;
	o.format = PLOT_PNG;
	memg_script(&p, &s);
	cr_assert_null(strstr(buf_cstr(&s), "'down'"), "no clause for an empty label file");
	has(&s, "set terminal pngcairo size 1920,1080");
	has(&s, "set output 'memg.png'\n");
	buf_free(&s);
}

Test(render_script, alloc_axes)
{
	struct recording rec;
	struct alloc_plot p;
	struct buf s = BUF_INIT;

	memset(&rec, 0, sizeof rec);
	memset(&p, 0, sizeof p);
	rec.dir = "/x/rec";
	p.rec = &rec;
	p.t0 = 0;
	p.tmax = 10;
	p.from = p.to = NAN;
	p.n = 3;
	p.s[0] = (struct alloc_series){"rss", UNIT_BYTES, NULL, NULL, 5, 5};
	p.s[1] = (struct alloc_series){"blocks", UNIT_COUNT, NULL, NULL, 5, 5};
	p.s[2] = (struct alloc_series){"heap", UNIT_BYTES, NULL, NULL, 0, 0}; /* no values */
	p.log_counts = 1;
	allocplot_script(&p, &s);
	has(&s, "set title 'Allocator statistics, recording rec' font");
	has(&s, "set ylabel 'memory (MB)'");
	has(&s, "set y2label 'count (log scale)'");
	has(&s, "set logscale y2 10\n");
	has(&s, "'s0' using ($1/1):2 with lines axes x1y1 ");
	has(&s, "'s1' using ($1/1):2 with lines axes x1y2 ");
	cr_assert_null(strstr(buf_cstr(&s), "'s2'"));
	cr_assert_eq(allocplot_unit_of("bytes_in_use"), UNIT_BYTES);
	cr_assert_eq(allocplot_unit_of("arenas_highwater"), UNIT_COUNT);
	cr_assert_eq(allocplot_unit_of("foo_ratio"), UNIT_NONE);
	cr_assert_eq(allocplot_unit_of("my_pools"), UNIT_COUNT);
	buf_free(&s);
}
