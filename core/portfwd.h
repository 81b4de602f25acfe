/* core/portfwd.h: TCP forwards: a listener per forward, and for each
 * connection accepted, a connection to the target the caller names at that
 * moment; bytes move with splice(2) through a pipe per direction, never
 * through user space.  One thread sleeps in epoll_wait(2) without a
 * timeout: an idle forward costs no wakeup.
 *
 * Knows nothing of VMs: the caller's target() says where forward id goes
 * (vmports.c: the guest's address while it runs). */
#ifndef BANGER_PORTFWD_H
#define BANGER_PORTFWD_H

#include <netinet/in.h>
#include <stdint.h>

#include "err.h"

#define PORTFWD_MAX_CONNS 1024   /* connections at once, all forwards together */

struct portfwd;

struct portfwd_ops {
	void *ctx;
	/* Where a new connection of forward id goes: 0, or -errno (the
	 * connection is closed at once).  Called on the forwarder's thread. */
	int (*target)(void *ctx, int64_t id, struct sockaddr_in *ret);
};

int portfwd_new(const struct portfwd_ops *ops, struct portfwd **ret, struct berr *err);
/* Listen on addr:port (an IPv4 literal; port 0: any free one) for forward
 * id, one of group's (the caller's grouping: a VM); *ret_port is the port
 * bound.  -EADDRINUSE when taken. */
int portfwd_add(struct portfwd *p, int64_t id, int64_t group, const char *addr, uint16_t port,
		uint16_t *ret_port, struct berr *err);
/* Stop forward id (or every forward of group): listeners and connections. */
void portfwd_remove(struct portfwd *p, int64_t id);
void portfwd_remove_group(struct portfwd *p, int64_t group);
/* Start the thread (after the daemon has forked). */
int portfwd_start(struct portfwd *p, struct berr *err);
/* Stop the thread, close everything.  Accepts NULL. */
void portfwd_free(struct portfwd *p);

#endif
