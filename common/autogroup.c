/* tgattach's session's autogroup (autogroup.h). */
#include "common/autogroup.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/smallfile.h"

/* The nice value in /proc/self/autogroup ("/autogroup-25712 nice 0"); -1 when there is
 * none to read. */
static int autogroup_nice(int *nice)
{
	char text[128];
	const char *p;

	if (tg_read_small("/proc/self/autogroup", text, sizeof text) < 0)
		return -1;
	p = strstr(text, " nice ");
	if (!p || sscanf(p + 6, "%d", nice) != 1 || *nice < -20 || *nice > 19)
		return -1;
	return 0;
}

int autogroup_enabled(void)
{
	char text[16];
	int now;

	return tg_read_small("/proc/sys/kernel/sched_autogroup_enabled", text, sizeof text) >= 1 &&
	       text[0] == '1' && autogroup_nice(&now) == 0;
}

enum autogroup_result autogroup_raise(int nice)
{
	char text[16];
	int fd, len, now;
	ssize_t n;

	if (!autogroup_enabled() || autogroup_nice(&now) < 0)
		return AUTOGROUP_OFF;
	if (getsid(0) != getpid())
		return AUTOGROUP_SHARED;
	if (now <= nice)
		return AUTOGROUP_RAISED;
	fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return AUTOGROUP_REFUSED;
	len = snprintf(text, sizeof text, "%d", nice);
	n = write(fd, text, (size_t)len);
	close(fd);
	if (n != len || autogroup_nice(&now) < 0 || now != nice)
		return AUTOGROUP_REFUSED;
	return AUTOGROUP_RAISED;
}

const char *autogroup_name(enum autogroup_result r)
{
	switch (r) {
	case AUTOGROUP_RAISED:
		return "raised";
	case AUTOGROUP_OFF:
		return "off";
	case AUTOGROUP_SHARED:
		return "shared";
	case AUTOGROUP_LEFT:
		return "left";
	case AUTOGROUP_REFUSED:
		break;
	}
	return "refused";
}
