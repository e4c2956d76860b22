/* ownsession.h: tgattach in a session of its own, when started from a terminal.
 *
 * The kernel shares the CPUs between sessions first (common/autogroup.h), and a shell's
 * session is shared with the shell: raising its autogroup would raise everything the
 * shell runs afterwards.  So tgattach, started from a terminal, forks: the child leads a
 * new session (its own autogroup, raised) and records; the parent stays in the shell's
 * job, passes on the signals that end a recording (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) and
 * exits as the child does (its status, or the same signal).  If the parent is killed, the
 * child gets SIGTERM and ends the recording as on any SIGTERM: it detaches and completes
 * its files. */
#ifndef TG_OWNSESSION_H
#define TG_OWNSESSION_H

/* Whether to: started from a terminal (standard input is one), not leading a session
 * already, with autogroups on and the right to raise one (CAP_SYS_NICE, or an RLIMIT_NICE
 * allowing nice), so that the child would get its raise. */
int ownsession_wanted(int nice);

/* Forks.  Returns 0 in the child, which leads a new session; the parent never returns
 * (it exits as the child does).  -1 with errno when fork or setsid failed: nothing
 * changed, the caller goes on in its session. */
int ownsession_enter(void);

#endif
