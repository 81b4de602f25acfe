/* core/hostnet.c: see hostnet.h.
 *
 * The responder listens on the bridge's gateway address at dns_port, so it
 * starts once the bridge exists.  It answers for every VM holding an
 * address slot: the slot is the VM's until it is deleted, so the name is
 * stable across stops.  The resolved wiring (the bridge link gets the
 * responder as its DNS server and `~vm` as its routing-only domain) is done
 * in-process as root or by bangerd-root; where resolved is absent the
 * responder still answers (`dig @GATEWAY -p PORT NAME.vm`) and doctor says
 * that the host's resolver does not know about it. */
#define _GNU_SOURCE
#include "hostnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dnsd.h"
#include "log.h"
#include "netplan.h"
#include "priv.h"
#include "store.h"

struct hostnet {
	struct priv *priv;
	const struct netplan *plan;
	struct store *store;  /* thread-safe by itself */
	bool net_on;
	int64_t dns_port;
	pthread_mutex_t lock; /* guards everything below */
	bool ready;           /* bridge and NAT ensured by this daemon */
	struct dnsd *dnsd;    /* NULL until the bridge exists */
	bool dns_starting, dns_wired;
	char dns_why[320];
};

struct hostnet *hostnet_new(struct priv *priv, const struct netplan *plan, struct store *store,
			    bool net_on, int64_t dns_port)
{
	struct hostnet *h = xcalloc(1, sizeof(*h));
	h->priv = priv;
	h->plan = plan;
	h->store = store;
	h->net_on = net_on;
	h->dns_port = dns_port;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

static int vm_ipv4(const struct hostnet *h, const struct vm_rec *r, struct in_addr *ret)
{
	char ip[16], mac[18];
	netplan_addr(h->plan, r->net_slot, ip, mac);
	return ip[0] && inet_pton(AF_INET, ip, ret) == 1;
}

/* The callbacks run on the responder's thread; the store is thread-safe
 * and the plan is fixed after open. */
static int dns_forward(void *ctx, const char *label, struct in_addr *ret)
{
	struct hostnet *h = ctx;
	struct vm_rec r = { 0 };
	int found = store_vm_get_by_name(h->store, label, &r, NULL);

	if (found < 0)
		return found == -ENOENT ? 0 : -EIO; /* a store failure is SERVFAIL, not cached */
	found = vm_ipv4(h, &r, ret);
	vm_rec_clear(&r);
	return found;
}

static int dns_reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	struct hostnet *h = ctx;
	struct vm_rec *all = NULL;
	struct in_addr a;
	size_t n = 0;
	int found = 0;

	if (store_vm_list(h->store, &all, &n, NULL) < 0)
		return -EIO;
	for (size_t i = 0; i < n && !found; i++) {
		if (vm_ipv4(h, &all[i], &a) && a.s_addr == addr.s_addr &&
		    strlen(all[i].name) < cap) {
			strcpy(name, all[i].name);
			found = 1;
		}
	}
	vm_rec_array_free(all, n);
	return found;
}

/* Serve .vm on the gateway address, if the bridge has it, and wire
 * resolved.  Once; a second caller returns at once. */
static void dns_start(struct hostnet *h)
{
	struct dns_lookup lk = { dns_forward, dns_reverse, h };
	struct berr err = { 0 };
	struct dnsd *d = NULL;
	char gw[16];
	int r;

	if (!h->net_on || h->dns_port <= 0)
		return;
	pthread_mutex_lock(&h->lock);
	bool busy = h->dnsd || h->dns_starting;
	h->dns_starting = !busy;
	pthread_mutex_unlock(&h->lock);
	if (busy)
		return;

	netplan_gateway(h->plan, gw);
	r = dnsd_start(gw, (uint16_t)h->dns_port, &lk, &d, &err);
	if (r < 0) {
		pthread_mutex_lock(&h->lock);
		/* No gateway address yet: the bridge comes with the first start. */
		if (r != -EADDRNOTAVAIL)
			snprintf(h->dns_why, sizeof(h->dns_why), "not served: %.300s", err.msg);
		h->dns_starting = false;
		pthread_mutex_unlock(&h->lock);
		if (r != -EADDRNOTAVAIL)
			blog("dns: %s", err.msg);
		return;
	}
	blog("dns: answering for .vm on %s:%u", gw, (unsigned)dnsd_port(d));

	berr_clear(&err);
	/* Point resolved's view of the bridge at the responder. */
	r = priv_resolved_link(h->priv, h->plan->bridge, gw, dnsd_port(d), &err);
	if (r < 0)
		blog("dns: systemd-resolved not wired: %s", err.msg);
	pthread_mutex_lock(&h->lock);
	h->dnsd = d;
	h->dns_wired = r == 0;
	h->dns_starting = false;
	if (r == 0)
		snprintf(h->dns_why, sizeof(h->dns_why),
			 "NAME.vm answered on %s:%u; systemd-resolved routes ~vm there", gw,
			 (unsigned)dnsd_port(d));
	else
		snprintf(h->dns_why, sizeof(h->dns_why),
			 "NAME.vm answered on %s:%u, but the host resolver does not ask it: %.200s",
			 gw, (unsigned)dnsd_port(d), err.msg);
	pthread_mutex_unlock(&h->lock);
}

void hostnet_start(struct hostnet *h)
{
	dns_start(h);
}

int hostnet_ensure(struct hostnet *h, struct berr *err)
{
	char cidr[48];
	int r;

	pthread_mutex_lock(&h->lock);
	bool ready = h->ready;
	pthread_mutex_unlock(&h->lock);
	if (ready)
		return 0;
	netplan_gateway_cidr(h->plan, cidr);
	if ((r = priv_net_ensure(h->priv, h->plan->bridge, cidr, err)) < 0)
		return r;
	pthread_mutex_lock(&h->lock);
	h->ready = true;
	pthread_mutex_unlock(&h->lock);
	dns_start(h);
	return 0;
}

void hostnet_doctor(struct hostnet *h, struct sbuf *out)
{
	pthread_mutex_lock(&h->lock);
	if (!h->net_on)
		sbuf_puts(out, "warn dns no network, so no .vm names\n");
	else if (h->dns_port <= 0)
		sbuf_puts(out, "ok dns off (dns_port = 0)\n");
	else if (h->dnsd)
		sbuf_printf(out, "%s dns %s\n", h->dns_wired ? "ok" : "warn", h->dns_why);
	else if (h->dns_why[0])
		sbuf_printf(out, "fail dns %s\n", h->dns_why);
	else
		sbuf_puts(out, "ok dns starts with the bridge (the first VM start)\n");
	pthread_mutex_unlock(&h->lock);
}

void hostnet_free(struct hostnet *h)
{
	struct berr err = { 0 };

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	struct dnsd *d = h->dnsd;
	bool wired = h->dns_wired;
	h->dnsd = NULL;
	h->dns_wired = false;
	pthread_mutex_unlock(&h->lock);
	/* resolved would otherwise keep sending ~vm queries to a closed port
	 * until the next daemon wires it again. */
	if (d && wired && priv_resolved_revert(h->priv, h->plan->bridge, &err) < 0)
		blog("dns: reverting systemd-resolved's link settings: %s", err.msg);
	dnsd_stop(d);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
