/* roots_util.h: the interpreters of the Debian roots that tools/mkroots.sh builds
 * ($TG_ROOTS, default /var/tmp/tgattach-roots), for the unit tests that hold the built-in
 * tables and the _Py_DebugOffsets layouts against their DWARF. */
#ifndef TG_UNIT_ROOTS_UTIL_H
#define TG_UNIT_ROOTS_UTIL_H

#include <limits.h>
#include <stddef.h>

struct root_build {
	char exe[PATH_MAX * 2]; /* the interpreter, seen from here */
	char dwarf[PATH_MAX];	/* its DWARF: the file itself, or its -dbg package's file */
	int minor, debug;	/* 3.minor, Py_DEBUG */
};

/* Calls fn for every build present (a Criterion assertion fails when one has no DWARF);
 * returns how many. */
size_t roots_each(void (*fn)(const struct root_build *b, void *ctx), void *ctx);

/* The detached debug file of this machine's own Debian python3.11 (/usr/bin/python3.11,
 * stripped), found through its build-id: 0, or -1 when there is none (python3.11-dbg not
 * installed). */
int roots_host_debug_file(char *out, size_t len);

#endif
