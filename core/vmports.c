/* core/vmports.c: see vmports.h. */
#define _GNU_SOURCE
#include "vmports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "netplan.h"
#include "portfwd.h"
#include "portname.h"
#include "store.h"
#include "vmstate.h"

struct vmports {
	struct store *store;
	const struct netplan *plan;
	char bind[INET_ADDRSTRLEN];
	struct portfwd *fwd;
};

/* Where a connection to forward id goes: the guest, while it runs. */
static int target(void *ctx, int64_t id, struct sockaddr_in *ret)
{
	struct vmports *v = ctx;
	struct port_rec p;
	struct vm_rec r = { 0 };
	char ip[16], mac[18];
	enum vm_state s = VM_FAILED;
	if (store_port_get(v->store, id, &p, NULL) < 0 ||
	    store_vm_get(v->store, p.vm_id, &r, NULL) < 0)
		return -ENOENT;
	vm_state_parse(r.state, &s);
	netplan_addr(v->plan, r.net_slot, ip, mac);
	vm_rec_clear(&r);
	if (s != VM_RUNNING || !ip[0])
		return -EHOSTUNREACH;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons((uint16_t)p.guest_port);
	return inet_pton(AF_INET, ip, &ret->sin_addr) == 1 ? 0 : -EINVAL;
}

int vmports_new(struct store *st, const struct netplan *plan, const char *bind,
		struct vmports **ret, struct berr *err)
{
	struct in_addr a;
	if (inet_pton(AF_INET, bind, &a) != 1)
		return berr_set(err, EINVAL, "port_bind '%.64s' is not an IPv4 address", bind);
	struct vmports *v = xcalloc(1, sizeof(*v));
	v->store = st;
	v->plan = plan;
	snprintf(v->bind, sizeof(v->bind), "%s", bind);
	struct portfwd_ops ops = { .ctx = v, .target = target };
	int r = portfwd_new(&ops, &v->fwd, err);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void vmports_free(struct vmports *v)
{
	if (!v)
		return;
	portfwd_free(v->fwd);
	free(v);
}

int vmports_start(struct vmports *v, struct berr *err)
{
	return portfwd_start(v->fwd, err);
}

/* Listen for p (host_port, else the guest's, else any when that is
 * taken); records the port bound. */
static int listen_for(struct vmports *v, struct port_rec *p, struct berr *err)
{
	uint16_t want = (uint16_t)(p->bound_port ? p->bound_port
						  : p->host_port ? p->host_port : p->guest_port);
	uint16_t got = 0;
	int r = portfwd_add(v->fwd, p->id, p->vm_id, v->bind, want, &got, err);
	if (r == -EADDRINUSE && p->host_port == 0) {
		berr_clear(err);
		r = portfwd_add(v->fwd, p->id, p->vm_id, v->bind, 0, &got, err);
	}
	if (r < 0)
		return r;
	p->bound_port = got;
	if (store_port_set_bound(v->store, p->id, got, err) < 0) {
		portfwd_remove(v->fwd, p->id);
		return -err->code;
	}
	return 0;
}

int vmports_add(struct vmports *v, int64_t vm_id, const char *name, int64_t *ret_id,
		struct berr *err)
{
	struct port_rec p = { .vm_id = vm_id };
	if (strlen(name) >= sizeof(p.name) || portname_parse(name, &p.guest_port, &p.host_port) < 0)
		return berr_set(err, EINVAL, "a port is named PORT or PORT-HOSTPORT (1-65535, "
				"no leading zero), not '%.32s'", name);
	snprintf(p.name, sizeof(p.name), "%s", name);
	int r = store_port_insert(v->store, &p, err);
	if (r < 0)
		return r;
	r = listen_for(v, &p, err);
	if (r < 0) {
		store_port_delete(v->store, p.id, NULL);
		return berr_wrap(err, "port %s", name);
	}
	blog("port %s of vm %lld: %s:%lld", name, (long long)vm_id, v->bind,
	     (long long)p.bound_port);
	*ret_id = p.id;
	return 0;
}

int vmports_remove(struct vmports *v, int64_t port_id, struct berr *err)
{
	int r = store_port_delete(v->store, port_id, err);
	portfwd_remove(v->fwd, port_id);
	return r;
}

void vmports_vm_gone(struct vmports *v, int64_t vm_id)
{
	/* Its rows went with it (ON DELETE CASCADE). */
	portfwd_remove_group(v->fwd, vm_id);
}

void vmports_restore(struct vmports *v)
{
	struct port_rec *all = NULL;
	size_t n = 0;
	if (store_port_list(v->store, 0, &all, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct berr e = { 0 };
		int64_t was = all[i].bound_port;
		if (listen_for(v, &all[i], &e) < 0)
			blog("port %s of vm %lld: %s", all[i].name, (long long)all[i].vm_id, e.msg);
		else if (was && was != all[i].bound_port)
			blog("port %s of vm %lld: %lld was taken, now %s:%lld", all[i].name,
			     (long long)all[i].vm_id, (long long)was, v->bind,
			     (long long)all[i].bound_port);
	}
	free(all);
}

int vmports_addr(struct vmports *v, int64_t port_id, struct sbuf *out, struct berr *err)
{
	struct port_rec p;
	int r = store_port_get(v->store, port_id, &p, err);
	if (r < 0)
		return r;
	if (p.bound_port)
		sbuf_printf(out, "%s:%lld\n", v->bind, (long long)p.bound_port);
	else
		sbuf_puts(out, "-\n");
	return 0;
}
