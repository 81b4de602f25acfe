/* core/dnsd.h: the UDP server in front of the `.vm` DNS codec (dns.h).
 *
 * One socket, one thread.  Each datagram gets exactly one dns_answer()
 * call and at most one reply to its sender.  Datagrams over
 * DNSD_MAX_QUERY bytes are dropped unanswered: no query of ours is that
 * large, and answering a message we could not read whole would mean
 * guessing at its header's meaning.  Replies are sent with MSG_DONTWAIT;
 * one that cannot be sent at once is dropped (the client retries).
 *
 * The lookup callbacks run on the server's thread: they must be safe to
 * call concurrently with the rest of the daemon. */
#ifndef BANGER_DNSD_H
#define BANGER_DNSD_H

#include <stdint.h>

#include "dns.h"
#include "err.h"

#define DNSD_MAX_QUERY 4096

struct dnsd;

/* Bind a UDP socket to addr:port (IPv4 dotted quad; port 0 = any free port),
 * start a thread answering with lk until dnsd_stop().  lk is copied.
 * Errors: -EINVAL for an address that is not a dotted quad, the bind
 * errno (-EADDRNOTAVAIL when no interface holds addr, -EADDRINUSE, ...)
 * with a sentence naming addr:port, or the errno of socket/thread setup. */
int dnsd_start(const char *addr, uint16_t port, const struct dns_lookup *lk, struct dnsd **ret, struct berr *err);
uint16_t dnsd_port(const struct dnsd *d);  /* the bound port */
/* Stop the thread, close the socket, free.  Accepts NULL. */
void dnsd_stop(struct dnsd *d);

#endif
