/* core/vmdns.c: serving `NAME.vm` from the store (core/dns.c answers,
 * core/dnsd.c listens) and pointing systemd-resolved at it.
 *
 * The responder listens on the bridge's gateway address at dns_port, so it
 * starts once the bridge exists (at open when it survived from an earlier
 * run, else when the first VM starts).  It answers for every VM holding an
 * address slot: the slot is the VM's until it is deleted, so the name is
 * stable across stops.  The resolved wiring (the bridge link gets the
 * responder as its DNS server and `~vm` as its routing-only domain) is done
 * in-process as root or by bangerd-root; where resolved is absent the
 * responder still answers (`dig @GATEWAY -p PORT NAME.vm`) and doctor says
 * that the host's resolver does not know about it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dns.h"
#include "dnsd.h"
#include "internal.h"
#include "net.h"
#include "resolved.h"

static int vm_ipv4(struct banger *b, const struct vm_rec *r, struct in_addr *ret)
{
	char ip[16], mac[18];

	vmnet_addr(b, r, ip, mac);
	return ip[0] && inet_pton(AF_INET, ip, ret) == 1;
}

/* The callbacks run on the responder's thread; the store is thread-safe
 * and the network numbers they read are fixed after open. */
static int dns_forward(void *ctx, const char *label, struct in_addr *ret)
{
	struct banger *b = ctx;
	struct vm_rec r = { 0 };
	int found = store_vm_get_by_name(b->store, label, &r, NULL);

	if (found < 0)
		return found == -ENOENT ? 0 : -EIO; /* a store failure is SERVFAIL, not cached */
	found = vm_ipv4(b, &r, ret);
	vm_rec_clear(&r);
	return found;
}

static int dns_reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	struct banger *b = ctx;
	struct vm_rec *all = NULL;
	struct in_addr a;
	size_t n = 0;
	int found = 0;

	if (store_vm_list(b->store, &all, &n, NULL) < 0)
		return -EIO;
	for (size_t i = 0; i < n && !found; i++) {
		if (vm_ipv4(b, &all[i], &a) && a.s_addr == addr.s_addr &&
		    strlen(all[i].name) < cap) {
			strcpy(name, all[i].name);
			found = 1;
		}
	}
	vm_rec_array_free(all, n);
	return found;
}

void vmdns_start(struct banger *b)
{
	struct dns_lookup lk = { dns_forward, dns_reverse, b };
	struct berr err = { 0 };
	struct dnsd *d = NULL;
	char gw[16];
	int r;

	if (!b->net_on || b->cfg.dns_port <= 0)
		return;
	pthread_mutex_lock(&b->lock);
	bool busy = b->dnsd || b->dns_starting;
	b->dns_starting = !busy;
	pthread_mutex_unlock(&b->lock);
	if (busy)
		return;

	net_addr_str(b->net_gw, gw);
	r = dnsd_start(gw, (uint16_t)b->cfg.dns_port, &lk, &d, &err);
	if (r < 0) {
		pthread_mutex_lock(&b->lock);
		/* No gateway address yet: the bridge comes with the first start. */
		if (r != -EADDRNOTAVAIL)
			snprintf(b->dns_why, sizeof(b->dns_why), "not served: %.300s", err.msg);
		b->dns_starting = false;
		pthread_mutex_unlock(&b->lock);
		if (r != -EADDRNOTAVAIL)
			blog("dns: %s", err.msg);
		return;
	}
	blog("dns: answering for .vm on %s:%u", gw, (unsigned)dnsd_port(d));

	berr_clear(&err);
	/* Point resolved's view of the bridge at the responder. */
	r = priv_resolved_link(b->priv, b->cfg.bridge_name, gw, dnsd_port(d), &err);
	if (r < 0)
		blog("dns: systemd-resolved not wired: %s", err.msg);
	pthread_mutex_lock(&b->lock);
	b->dnsd = d;
	b->dns_wired = r == 0;
	b->dns_starting = false;
	if (r == 0)
		snprintf(b->dns_why, sizeof(b->dns_why),
			 "NAME.vm answered on %s:%u; systemd-resolved routes ~vm there", gw,
			 (unsigned)dnsd_port(d));
	else
		snprintf(b->dns_why, sizeof(b->dns_why),
			 "NAME.vm answered on %s:%u, but the host resolver does not ask it: %.200s",
			 gw, (unsigned)dnsd_port(d), err.msg);
	pthread_mutex_unlock(&b->lock);
}

void vmdns_stop(struct banger *b)
{
	struct berr err = { 0 };

	pthread_mutex_lock(&b->lock);
	struct dnsd *d = b->dnsd;
	bool wired = b->dns_wired;
	b->dnsd = NULL;
	b->dns_wired = false;
	pthread_mutex_unlock(&b->lock);
	if (!d)
		return;
	/* resolved would otherwise keep sending ~vm queries to a closed port
	 * until the next daemon wires it again. */
	if (wired) {
		int r = priv_resolved_revert(b->priv, b->cfg.bridge_name, &err);
		if (r < 0)
			blog("dns: reverting systemd-resolved's link settings: %s", err.msg);
	}
	dnsd_stop(d);
}

void vmdns_doctor(struct banger *b, struct sbuf *out)
{
	pthread_mutex_lock(&b->lock);
	if (!b->net_on)
		sbuf_puts(out, "warn dns no network, so no .vm names\n");
	else if (b->cfg.dns_port <= 0)
		sbuf_puts(out, "ok dns off (dns_port = 0)\n");
	else if (b->dnsd)
		sbuf_printf(out, "%s dns %s\n", b->dns_wired ? "ok" : "warn", b->dns_why);
	else if (b->dns_why[0])
		sbuf_printf(out, "fail dns %s\n", b->dns_why);
	else
		sbuf_puts(out, "ok dns starts with the bridge (the first VM start)\n");
	pthread_mutex_unlock(&b->lock);
}
