/* core/qmp.h: a small client for QEMU's QMP monitor socket.
 *
 * Line-based JSON over a Unix socket.  qmp_open connects, reads the
 * greeting and negotiates capabilities; qmp_exec runs one command and
 * returns its "return" value, skipping asynchronous events.  Every read is
 * bounded (QMP_MSG_MAX per message) and every wait has a deadline. */
#ifndef BANGER_QMP_H
#define BANGER_QMP_H

#include <jansson.h>

#include "err.h"

#define QMP_MSG_MAX (64 * 1024)

struct qmp;

/* Connect to sock and negotiate; timeout_ms bounds the whole handshake and
 * becomes the default timeout of later qmp_exec calls. */
int qmp_open(const char *sock, int timeout_ms, struct qmp **ret, struct berr *err);
/* Execute cmd with args (borrowed, may be NULL).  On success *ret (may be
 * NULL) holds a new reference to the "return" value.  An error reply
 * becomes -EIO with the reply's "desc" in err. */
int qmp_exec(struct qmp *q, const char *cmd, json_t *args, json_t **ret,
	     struct berr *err);
void qmp_close(struct qmp *q);

/* open + exec + close in one call. */
int qmp_call(const char *sock, int timeout_ms, const char *cmd, json_t *args,
	     json_t **ret, struct berr *err);

#endif
