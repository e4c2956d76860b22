/* droot_util.h: running a fixture under chroot in one of the Debian roots that
 * tools/mkroots.sh builds ($TG_ROOTS, default /var/tmp/tgattach-roots): the fixture is
 * copied into the root's /tmp, where the target sees it, and its truth is read from the
 * host side. */
#ifndef TG_E2E_DROOT_UTIL_H
#define TG_E2E_DROOT_UTIL_H

#include <limits.h>
#include <stddef.h>

struct droot {
	char root[PATH_MAX];	 /* the root on the host */
	char python[64];	 /* /usr/bin/python3.X inside it */
	char exe[PATH_MAX + 64]; /* the same, seen from the host */
	char dir[PATH_MAX];	 /* a fresh directory in the root's /tmp, host side */
	char fixture[PATH_MAX];	 /* the fixture's copy, as the target sees it */
	char truth[PATH_MAX];	 /* its truth file, as the target sees it */
	char truth_host[PATH_MAX + 16];
};

/* Fill d for root_name's python ("python3.14"); 0 when its executable exists, else -1
 * (nothing created). */
int droot_find(struct droot *d, const char *root_name, const char *python);
/* Copy fixtures/<fixture> (relative to the repository root, the current directory) and
 * fixtures/threads.py (whose truth writer the fixtures share) into a fresh directory of
 * the root's /tmp, and set the in-root paths. */
void droot_stage(struct droot *d, const char *fixture);
/* The command that runs d's python with args (NULL-terminated) under chroot; hidden: in a
 * mount namespace of its own where an empty tmpfs covers the root's /usr/lib/debug (what a
 * server without -dbg packages sees).  Into argv (at least 16 + the args), NULL-ended. */
void droot_argv(const struct droot *d, int hidden, char *const *args, char **argv, size_t max);
/* Remove what droot_stage created. */
void droot_cleanup(struct droot *d);

#endif
