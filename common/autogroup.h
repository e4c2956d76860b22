/* autogroup.h: tgattach's share of the CPU against the other sessions of the machine.
 *
 * With autogroups (kernel.sched_autogroup_enabled=1, the default of most distributions'
 * kernels, for tasks outside any cpu cgroup), the fair scheduler first shares each CPU
 * between sessions, each with the weight of its autogroup's nice value, and only then
 * between the threads of a session: a thread's own nice value counts against its own
 * session only.  A server, a load client and a CPU-bound job, each in a session of its
 * own, then take a share each, and tgattach's recording loop, which sleeps 20 us between
 * readings, waits behind them for its share (measured: a third of the time between
 * readings in gaps over 0.5 ms on two busy cores; docs/memory.md).  Its session's
 * autogroup at nice -10 gets its readings on time as often as the cores allow.
 *
 * Only a session that is tgattach's own is changed: its autogroup lives as long as the
 * session, so raising a shell's would outlive tgattach.  Nothing is changed back: the
 * autogroup ends with the session. */
#ifndef TG_AUTOGROUP_H
#define TG_AUTOGROUP_H

enum autogroup_result {
	AUTOGROUP_RAISED,  /* the session's autogroup now has the nice value asked for */
	AUTOGROUP_OFF,	   /* autogroups are off (or the kernel has none) */
	AUTOGROUP_SHARED,  /* the session is not tgattach's own (it is not its leader) */
	AUTOGROUP_REFUSED, /* the kernel refused (no CAP_SYS_NICE, no RLIMIT_NICE room) */
	AUTOGROUP_LEFT,	   /* not asked (--no-autogroup) */
};

#define AUTOGROUP_NICE (-10)

/* Autogroups are on, and this process has one. */
int autogroup_enabled(void);

/* The calling process's session's autogroup at nice (when it is lower than it was). */
enum autogroup_result autogroup_raise(int nice);

/* "raised", "off", "shared", "refused" or "left": meta's sched_autogroup. */
const char *autogroup_name(enum autogroup_result r);

#endif
