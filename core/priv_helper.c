/* core/priv_helper.c: the privileged operations as requests to
 * bangerd-root (see priv.h, rootc.h and docs/privileges.md). */
#define _GNU_SOURCE
#include "priv_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "rootc.h"
#include "util.h"

static int helper_tree_mount(struct priv *p, const char *mountpoint, int *ret_fd,
			     struct berr *err)
{
	return rootc_fuse_mount(p->rootc, mountpoint, ret_fd, err);
}

static int helper_tree_unmount(struct priv *p, const char *mountpoint, struct berr *err)
{
	return rootc_fuse_unmount(p->rootc, mountpoint, err);
}

static int helper_net_ensure(struct priv *p, const char *bridge, const char *cidr,
			     struct berr *err)
{
	int r = rootc_net_ensure(p->rootc, bridge, cidr, err);
	return r < 0 ? berr_wrap(err, "bridge %s and NAT", bridge) : 0;
}

static int helper_tap_create(struct priv *p, const char *tap, const char *bridge,
			     struct berr *err)
{
	return rootc_tap_create(p->rootc, tap, bridge, err);
}

static int helper_tap_open(struct priv *p, const char *tap, const char *bridge, int *ret_fd,
			   struct berr *err)
{
	return rootc_tap_open(p->rootc, tap, bridge, ret_fd, err);
}

static int helper_tap_delete(struct priv *p, const char *tap, struct berr *err)
{
	return rootc_tap_delete(p->rootc, tap, err);
}

static int helper_tap_list(struct priv *p, char ***ret, size_t *ret_n, struct berr *err)
{
	return rootc_tap_list(p->rootc, ret, ret_n, err);
}

static int helper_resolved_link(struct priv *p, const char *bridge, const char *addr,
				uint16_t port, struct berr *err)
{
	char addr_port[32];
	snprintf(addr_port, sizeof(addr_port), "%s:%u", addr, (unsigned)port);
	return rootc_resolved_link(p->rootc, bridge, addr_port, err);
}

static int helper_resolved_revert(struct priv *p, const char *bridge, struct berr *err)
{
	return rootc_resolved_revert(p->rootc, bridge, err);
}

/* bangerd-root runs its own --jailer on its own --firecracker and opens
 * the jail's console.log/vmm.log itself; it detaches what it starts. */
static int helper_jail_launch(struct priv *p, const struct priv_jail *j, pid_t *ret_pid,
			      bool *ret_child, char **ret_via, struct berr *err)
{
	int r = rootc_jail_launch(p->rootc, j->id, j->serial_api, ret_pid, err);
	if (r < 0)
		return r;
	*ret_child = false;
	*ret_via = xstrdup("bangerd-root");
	return 0;
}

/* bangerd-root's own --state-dir and --cache-dir are the roots. */
static int helper_dm_clone(struct priv *p, const char *state_dir, const char *vm,
			   const char *image, char **ret_dev, int64_t *ret_ms, struct berr *err)
{
	return rootc_dm_clone(p->rootc, vm, image, ret_dev, ret_ms, err);
}

static int helper_dm_remove(struct priv *p, const char *state_dir, const char *vm,
			    struct berr *err)
{
	return rootc_dm_remove(p->rootc, vm, err);
}

static int helper_dm_list(struct priv *p, const char *state_dir, char ***ret, size_t *ret_n,
			  struct berr *err)
{
	return rootc_dm_list(p->rootc, ret, ret_n, err);
}

const struct priv_ops priv_helper_ops = {
	.mount_how = "by bangerd-root",
	.tree_mount = helper_tree_mount,
	.tree_unmount = helper_tree_unmount,
	.net_ensure = helper_net_ensure,
	.tap_create = helper_tap_create,
	.tap_open = helper_tap_open,
	.tap_delete = helper_tap_delete,
	.tap_list = helper_tap_list,
	.resolved_link = helper_resolved_link,
	.resolved_revert = helper_resolved_revert,
	.jail_launch = helper_jail_launch,
	.dm_clone = helper_dm_clone,
	.dm_remove = helper_dm_remove,
	.dm_list = helper_dm_list,
};
