/* core/vmnet.c: see vmnet.h. */
#define _GNU_SOURCE
#include "vmnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostnet.h"
#include "log.h"
#include "net.h"
#include "netplan.h"
#include "priv.h"

struct vmnet {
	struct priv *priv;
	const struct netplan *plan;
	struct store *store;
	struct hostnet *hostnet;
	bool on;
	char why[320];
};

bool vmnet_possible(struct priv *priv)
{
	return priv_mode(priv) != PRIV_NONE && access("/dev/net/tun", F_OK) == 0;
}

struct vmnet *vmnet_new(struct priv *priv, const struct netplan *plan, struct store *store,
			struct hostnet *hostnet)
{
	struct vmnet *n = xcalloc(1, sizeof(*n));
	n->priv = priv;
	n->plan = plan;
	n->store = store;
	n->hostnet = hostnet;
	enum priv_mode mode = priv_mode(priv);
	if (mode == PRIV_NONE) {
		snprintf(n->why, sizeof(n->why), "%s: VMs get no network", priv_why(priv));
	} else if (access("/dev/net/tun", F_OK) < 0) {
		snprintf(n->why, sizeof(n->why),
			 "/dev/net/tun is missing (module tun): VMs get no network");
	} else {
		n->on = true;
		snprintf(n->why, sizeof(n->why), "bridge %s %s, taps %s*, NAT (%s)", plan->bridge,
			 plan->subnet, NET_TAP_PREFIX,
			 mode == PRIV_HELPER ? "through bangerd-root" : "in-process, root");
	}
	return n;
}

bool vmnet_on(const struct vmnet *n)
{
	return n->on;
}

void vmnet_sweep(struct vmnet *n)
{
	char **taps = NULL;
	size_t cnt = 0;

	if (!n->on || priv_tap_list(n->priv, &taps, &cnt, NULL) < 0)
		return;
	for (size_t i = 0; i < cnt; i++) {
		char *end;
		int64_t id = strtoll(taps[i] + strlen(NET_TAP_PREFIX), &end, 10);
		struct vm_rec rec = { 0 };
		bool keep = *end == '\0' && store_vm_get(n->store, id, &rec, NULL) == 0 &&
			    (strcmp(rec.state, "running") == 0 || strcmp(rec.state, "stopping") == 0 ||
			     strcmp(rec.state, "starting") == 0);
		vm_rec_clear(&rec);
		if (!keep) {
			blog("removing orphaned tap %s", taps[i]);
			priv_tap_delete(n->priv, taps[i], NULL);
		}
	}
	priv_strv_free(taps);
}

int vmnet_alloc(struct vmnet *n, struct vm_rec *r, struct berr *err)
{
	struct vm_rec *all = NULL;
	size_t cnt = 0;
	unsigned cap = netplan_capacity(n->plan);
	int ret;

	if (!n->on || r->net_slot > 0)
		return 0;
	ret = store_vm_list(n->store, &all, &cnt, err);
	if (ret < 0)
		return ret;
	for (int64_t slot = 1; slot <= (int64_t)cap; slot++) {
		bool used = false;
		for (size_t i = 0; i < cnt && !used; i++)
			used = all[i].net_slot == slot;
		if (!used) {
			r->net_slot = slot;
			break;
		}
	}
	vm_rec_array_free(all, cnt);
	if (r->net_slot == 0)
		return berr_set(err, ENOSPC, "no free address in %s (%u in use)", n->plan->subnet, cap);
	return 0;
}

int vmnet_up(struct vmnet *n, const struct vm_rec *r, int *ret_fd, char tap[16],
	     struct berr *err)
{
	char name[16];
	int ret;

	tap[0] = '\0';
	if (ret_fd)
		*ret_fd = -1;
	if (!n->on || r->net_slot <= 0)
		return 0;
	if ((ret = hostnet_ensure(n->hostnet, err)) < 0)
		return ret;
	netplan_tap_name(r->id, name);
	ret = ret_fd ? priv_tap_open(n->priv, name, n->plan->bridge, ret_fd, err)
		     : priv_tap_create(n->priv, name, n->plan->bridge, err);
	if (ret < 0)
		return berr_wrap(err, "tap %s", name);
	memcpy(tap, name, 16);
	return 0;
}

void vmnet_down(struct vmnet *n, const struct vm_rec *r)
{
	char name[16];
	if (!n->on)
		return;
	netplan_tap_name(r->id, name);
	priv_tap_delete(n->priv, name, NULL);
}

void vmnet_doctor(struct vmnet *n, struct sbuf *out)
{
	sbuf_printf(out, "%s network %s\n", n->on ? "ok" : "warn", n->why);
}

void vmnet_free(struct vmnet *n)
{
	free(n);
}
