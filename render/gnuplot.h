/* gnuplot.h: running gnuplot on a script file, without a shell. */
#ifndef TG_GNUPLOT_H
#define TG_GNUPLOT_H

#include "common/err.h"

/* Runs `gnuplot SCRIPT` (found through PATH) with DIR as its working directory, stdin and
 * stdout on /dev/null.  Its stderr is collected: on success any warnings are copied to
 * our stderr as "gnuplot: ..." lines; on failure (missing binary, non-zero exit, killed)
 * they are copied too and err gets TG_E_GNUPLOT with gnuplot's last message.  gnuplot
 * gets default signal handling; if a Ctrl-C is pending in this process (interrupt.h) it
 * is killed and the run fails. */
int gnuplot_run(const char *dir, const char *script, struct tg_err *err);

#endif
