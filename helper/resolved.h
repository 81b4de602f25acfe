/* helper/resolved.h: pointing systemd-resolved's "~vm" routing domain at
 * banger's DNS server on the bridge (see docs/privileges.md).
 *
 * bangerd answers NAME.vm on the bridge's gateway address at a UDP port
 * (config dns_port).  For the host to ask it, systemd-resolved must send
 * "vm" queries there, on the bridge link, and nothing else: three per-link
 * calls on org.freedesktop.resolve1.Manager over the system bus.  Those
 * need root (or polkit), so they run inside bangerd-root (RESOLVED_LINK,
 * RESOLVED_REVERT) or in-process when bangerd itself is root.
 *
 * The system bus is $DBUS_SYSTEM_BUS_ADDRESS, else
 * unix:path=/run/dbus/system_bus_socket (sd_bus_open_system()).  The link
 * is found by name in the calling thread's network namespace, and resolved
 * knows links by index in its own: the two must be the same namespace
 * (they are on a host; the tests use a private bus and a stand-in
 * resolved, tests/resolved-double/resolve1.py).  Every call is bounded by
 * RESOLVED_TIMEOUT_MS, connecting included.  Library code: nothing is
 * logged, the caller decides. */
#ifndef BANGER_HELPER_RESOLVED_H
#define BANGER_HELPER_RESOLVED_H

#include <stdint.h>

#include "err.h"

#define RESOLVED_DOMAIN "vm"	 /* the routing-only domain: "~vm" */
#define RESOLVED_TIMEOUT_MS 5000 /* for the whole operation */

/* On link ifname: DefaultRoute off (the link never gets queries for other
 * names), routing-only domain "~vm", and the single DNS server addr:port
 * (addr a dotted IPv4 address, port 1..65535), in that order, so the link
 * is never a default route with a server, even for a moment.  Replaces what
 * the link had (each call sets the whole list); idempotent.  When a later
 * step fails the link is reverted (best effort), so a failure leaves no
 * half-wired link.
 *
 * Errors, each with a sentence saying what it means for .vm names:
 *   -EINVAL     a bad name, address or port (nothing was sent)
 *   -ENODEV     no interface ifname
 *   -ENOTCONN   no system bus to talk to (not there, refused, closed)
 *   -ESRCH      systemd-resolved is not running (no owner of
 *               org.freedesktop.resolve1 and none can be started)
 *   -ETIMEDOUT  no answer within RESOLVED_TIMEOUT_MS
 *   other       resolved (or the bus) refused a call: the errno sd-bus
 *               maps its D-Bus error to (EIO when none), and the sentence
 *               has the error's name and message. */
int resolved_link(const char *ifname, const char *addr, uint16_t port, struct berr *err);

/* RevertLink: drop every per-link setting a bus client gave ifname.  A
 * missing interface, or one resolved does not know, is success (there is
 * nothing to revert).  Errors as for resolved_link(). */
int resolved_revert(const char *ifname, struct berr *err);

#endif
