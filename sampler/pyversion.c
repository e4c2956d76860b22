#include "sampler/pyversion.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "sampler/pyobj.h"

#define VERSION_MAX 256

int pyversion_parse(const char *s, int *major, int *minor, int *micro, uint32_t *hex)
{
	static const struct {
		const char *tag;
		unsigned level;
	} levels[] = {{"rc", 0xc}, {"a", 0xa}, {"b", 0xb}};
	int n = 0;
	unsigned level = 0xf, serial = 0;

	if (sscanf(s, "%3d.%3d.%3d%n", major, minor, micro, &n) != 3 || *major < 2 || *major > 9 ||
	    *minor < 0 || *minor > 255 || *micro < 0 || *micro > 255)
		return -1;
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		size_t len = strlen(levels[i].tag);
		if (strncmp(s + n, levels[i].tag, len) == 0 &&
		    sscanf(s + n + len, "%2u", &serial) == 1) {
			level = levels[i].level;
			break;
		}
	}
	*hex = (uint32_t)*major << 24 | (uint32_t)*minor << 16 | (uint32_t)*micro << 8 |
	       level << 4 | (serial & 0xf);
	return 0;
}

static uint64_t first_interp(struct remote *r, const struct py_target *t)
{
	uint64_t addr = 0, interp = 0;

	if (t->sym.runtime && t->off.rt_interp_head != OFFSET_ABSENT)
		addr = t->sym.runtime + (uint64_t)t->off.rt_interp_head;
	else
		addr = t->sym.interp_head;
	if (!addr || remote_read_u64(r, addr, &interp) < 0)
		return 0;
	return interp;
}

int pyversion_read(struct py_target *t, struct remote *r)
{
	struct pyobj p;
	struct buf text = BUF_INIT;
	uint64_t interp, sysdict = 0;
	int major, minor, micro, found = 0;
	uint32_t hex;

	if (t->hexversion || t->off.is_sysdict == OFFSET_ABSENT)
		return 0;
	interp = first_interp(r, t);
	if (!interp || remote_read_u64(r, interp + (uint64_t)t->off.is_sysdict, &sysdict) < 0)
		return 0;
	pyobj_init(&p, r, t);
	uint64_t version = pyobj_dict_get(&p, sysdict, "version");
	if (version && pyobj_str(&p, version, &text, VERSION_MAX) == 0 &&
	    pyversion_parse(buf_cstr(&text), &major, &minor, &micro, &hex) == 0 &&
	    major == t->major && minor == t->minor) {
		t->micro = micro;
		t->hexversion = hex;
		found = 1;
	}
	buf_free(&text);
	return found;
}
