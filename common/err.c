#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vformat(struct tg_err *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int tg_err_set(struct tg_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->sys_errno = 0;
	va_start(ap, fmt);
	vformat(err, fmt, ap);
	va_end(ap);
	return -1;
}

int tg_err_sys(struct tg_err *err, int code, const char *fmt, ...)
{
	int saved = errno;
	size_t len;
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	err->sys_errno = saved;
	va_start(ap, fmt);
	vformat(err, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int tg_err_wrap(struct tg_err *err, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
	va_end(ap);
	strcat(prefix, ": ");
	size_t plen = strlen(prefix), mlen = strnlen(err->msg, sizeof err->msg - 1);
	if (plen + mlen >= sizeof err->msg)
		mlen = sizeof err->msg - 1 - plen;
	memmove(err->msg + plen, err->msg, mlen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + mlen] = '\0';
	return -1;
}

void tg_err_clear(struct tg_err *err)
{
	if (!err)
		return;
	err->code = TG_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}
