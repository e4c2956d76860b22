/* pyversion.h: the exact version of the target's interpreter, read from its own
 * sys.version, for builds that do not export Py_Version (2.7 to 3.10): resolving the
 * interpreter only tells the major and minor version there. */
#ifndef TG_PYVERSION_H
#define TG_PYVERSION_H

#include "attach/remote.h"
#include "symbols/pytarget.h"

/* Fill t->micro and t->hexversion from sys.version of the first interpreter when
 * t->hexversion is 0.  Best effort: when the string is unreadable (interpreter not
 * initialized yet, torn read) or names another major.minor, t is left as it was.
 * Returns 1 when the version was filled in, else 0. */
int pyversion_read(struct py_target *t, struct remote *r);

/* Parse the start of a sys.version string ("3.9.18 (main, ...)", "3.10.0rc2+ ...") into
 * major, minor, micro and a PY_VERSION_HEX value.  0, or -1 if it is not a version. */
int pyversion_parse(const char *s, int *major, int *minor, int *micro, uint32_t *hex);

#endif
