/* clock.h: the two clocks: wall time (for the files' timestamps) and monotonic time (for
 * intervals), as seconds. */
#ifndef TG_CLOCK_H
#define TG_CLOCK_H

double clock_real_s(void);
double clock_mono_s(void);
/* The calling thread's CPU time: what its work cost, whatever it waited for a core. */
double clock_thread_cpu_s(void);

#endif
