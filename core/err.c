/* core/err.c: error objects (see err.h). */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int berr_set(struct berr *err, int code, const char *fmt, ...)
{
	if (code <= 0)
		code = EIO;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return -code;
}

int berr_wrap(struct berr *err, const char *fmt, ...)
{
	char prefix[BERR_MSG_MAX], old[BERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -EIO;
	if (err->code <= 0)
		err->code = EIO;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is acceptable: the message stays a readable prefix. */
	size_t n = strlen(prefix);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	const char *tail = old[0] ? old : strerror(err->code);
	size_t room = sizeof(err->msg) - n - 3;
	size_t t = strlen(tail);
	if (t > room)
		t = room;
	memcpy(err->msg + n + 2, tail, t);
	err->msg[n + 2 + t] = '\0';
	return -err->code;
}

void berr_clear(struct berr *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
