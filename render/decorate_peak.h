/* decorate_peak.h: `render decorate-stack DIR PEAK`: which return event peak number PEAK
 * of memg.txt is, in DIR's files. */
#ifndef TG_DECORATE_PEAK_H
#define TG_DECORATE_PEAK_H

#include "common/buf.h"
#include "common/err.h"

/* memg.txt's line "PEAK: THREAD>FILE:LINE:FUNC=>DELTA" names a thread and a return; the
 * thread's files are DIR/THREAD.mem and .stack (the name escaped as tgattach names files),
 * and the return is the k-th line of THREAD.mem with that text, k its rank among the
 * memg.txt lines of the same thread and text (memg lists every return past its --peak, in
 * time order: the same --time-from/--time-to are assumed).  Fills mem and stack with the
 * paths and *lineno with the line of THREAD.mem.  TG_E_DATA when memg.txt has no such
 * peak or the .mem file no such line (a tree's memg names threads "PID:THREAD": render
 * that process's memg alone to use its peaks here). */
int decorate_peak_event(const char *dir, const char *memg_txt, unsigned long peak, struct buf *mem,
			struct buf *stack, unsigned long *lineno, struct tg_err *err);

#endif
