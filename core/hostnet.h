/* core/hostnet.h: the host's side of the VMs' network, one owner for it:
 * the bridge with its gateway address, NAT (both through core/priv.h), the
 * `.vm` DNS responder on the gateway address (core/dnsd.c, answering from
 * the store), and systemd-resolved pointed at it.  See docs/network.md and
 * docs/dns.md.
 *
 * Brought up once: at run start when the bridge survived an earlier run
 * (hostnet_start), else by the first VM start (hostnet_ensure).  Taken down
 * at close (the responder stops and resolved's link is reverted; the bridge
 * and NAT stay for the VMs that keep running). */
#ifndef BANGER_HOSTNET_H
#define BANGER_HOSTNET_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

struct hostnet;
struct netplan;
struct priv;
struct store;

/* net_on: privileges allow the network at all (else everything here is a
 * no-op and doctor says why).  plan and store outlive the hostnet. */
struct hostnet *hostnet_new(struct priv *priv, const struct netplan *plan, struct store *store,
			    bool net_on, int64_t dns_port);
/* At run start (threads allowed): serve .vm if the bridge is already up. */
void hostnet_start(struct hostnet *h);
/* Before a VM's tap: bridge, address and NAT (once), then the responder. */
int hostnet_ensure(struct hostnet *h, struct berr *err);
/* Lines for doctor: "dns ...". */
void hostnet_doctor(struct hostnet *h, struct sbuf *out);
/* Stop the responder, revert resolved's link, free.  Accepts NULL. */
void hostnet_free(struct hostnet *h);

#endif
