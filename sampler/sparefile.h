/* sparefile.h: new files made ahead of need, off the recording loop; part of sampler/output.
 *
 * A server that starts a thread per request has tgattach create two files for each
 * thread that changes memory, hundreds a second.  Creating a file takes a new inode, which
 * on some filesystems is slow (ext4 without a journal scans its inode table for recently
 * deleted inodes: measured, a quarter of tgattach's CPU on a ThreadingHTTPServer), and
 * the recording loop, which should be reading the target's memory every few tens of
 * microseconds, waited for it.
 *
 * A helper thread keeps a few anonymous files (O_TMPFILE) made in the output directory;
 * the loop takes one and gives it its name with linkat(), which only adds the name.  The
 * name must be new: linkat() never replaces or follows what is there, so a name planted
 * in the directory fails as O_CREAT | O_EXCL would.  Where O_TMPFILE or the link is not
 * supported, or nothing is ready, the caller creates the file itself.  A spare file never
 * named vanishes when it is closed, or when tgattach is killed.
 *
 * The helper runs under SCHED_IDLE, whatever the loop's policy (--realtime): it makes
 * files when a core is free and never takes CPU from the target; with no core free the
 * loop creates its files itself, as without it.  Every signal is blocked in it, and the
 * loop never waits for its lock. */
#ifndef TG_SPAREFILE_H
#define TG_SPAREFILE_H

struct sparefile;

enum { SPAREFILE_MAX = 8 }; /* spare files kept ready, each an open descriptor */

/* Starts making spare files in the directory dfd (which must stay open until
 * sparefile_stop()), created with mode and flags | O_TMPFILE | O_RDWR.  NULL when the
 * thread cannot be started. */
struct sparefile *sparefile_start(int dfd, int flags, int mode);

/* A spare file named name in dfd (the directory it was made in): its descriptor, or -1
 * with errno: EEXIST when the name is taken (nothing changed), EAGAIN when no spare file
 * is ready or the helper gave up (O_TMPFILE unsupported, the disk full: the caller's own
 * creation then says why), other values when the link failed (the spare file is
 * closed). */
int sparefile_take(struct sparefile *s, int dfd, const char *name);

/* Stops the helper and closes the spare files left (they vanish).  NULL is fine. */
void sparefile_stop(struct sparefile *s);

#endif
