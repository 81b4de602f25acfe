/* core/err.h: one error convention for the whole tree.
 *
 * Every fallible function returns 0 (or a non-negative value) on success and
 * a negative errno on failure, and fills a struct berr with a sentence a user
 * can read.  Callers add context on the way up with berr_wrap().  The FUSE
 * layer returns the errno and keeps the sentence readable in an err file. */
#ifndef BANGER_ERR_H
#define BANGER_ERR_H

#include <stddef.h>

#define BERR_MSG_MAX 512

struct berr {
	int code;                 /* positive errno, 0 when no error */
	char msg[BERR_MSG_MAX];   /* sentence, no trailing newline */
};

/* Record an error.  Returns -code so callers can `return berr_set(...)`.
 * err may be NULL (the message is dropped). */
int berr_set(struct berr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix context to an existing error: "starting vm x: <old message>".
 * Returns -err->code (or -EIO if no code was set). */
int berr_wrap(struct berr *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void berr_clear(struct berr *err);

#endif
