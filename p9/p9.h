/* p9/p9.h: the control tree over 9P2000 and 9P2000.L (docs/9p.md).
 *
 * A second adapter over core/tree.h beside fs/ (FUSE): the same nodes, the
 * same semantics, the same errnos, and the err files' sentences as 9P2000
 * Rerror strings.  The daemon opens the listeners before it detaches (so
 * a bad path fails the start), starts the threads after, forwards the
 * monitor's notifications (they answer reads blocked at the end of
 * `console`), and stops the server before it closes the domain. */
#ifndef BANGER_P9_H
#define BANGER_P9_H

#include "err.h"

struct banger;
struct p9_server;

/* Bind the listeners; no thread is started.
 *   sock: Unix socket path; NULL = "9p.sock" beside mountpoint (so
 *         /run/banger/fs gives /run/banger/9p.sock); "" or "none" = none.
 *         Created 0600 (the owner's); a stale socket is replaced, a live
 *         one (another daemon answers on it) is an error.
 *   tcp:  NULL/"" = off, else "tcp!ADDR!PORT" (ADDR an IPv4 or IPv6
 *         literal).  No authentication: see docs/9p.md before using it.
 * Only the daemon's own uid may attach (SO_PEERCRED on the Unix socket,
 * and the attach's uname/n_uname on both). */
int p9_open(struct p9_server **ret, struct banger *b, const char *sock, const char *tcp,
	    const char *mountpoint, struct berr *err);
/* Start the accept loop, the waker and the worker pool (after fork). */
int p9_start(struct p9_server *s, struct berr *err);
/* Stream data may have arrived or a VM's state changed: retry parked
 * reads.  Cheap (signals a thread); safe from any thread, also after
 * p9_stop and with s NULL. */
void p9_notify(void *s);
/* Stop serving: close the listeners and every connection (clunking their
 * fids), join the threads, remove the socket.  s stays valid for
 * p9_notify until p9_free. */
void p9_stop(struct p9_server *s);
void p9_free(struct p9_server *s);

/* Parse "tcp!ADDR!PORT" into a sockaddr (struct sockaddr_storage). */
struct sockaddr_storage;
int p9_parse_tcp(const char *spec, struct sockaddr_storage *ret, unsigned *ret_len,
		 struct berr *err);

#endif
