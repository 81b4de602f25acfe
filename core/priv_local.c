/* core/priv_local.c: the privileged operations in-process, for a bangerd
 * that runs as root (see priv.h).  The code is bangerd-root's own. */
#define _GNU_SOURCE
#include "priv_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmclone.h"
#include "fusemount.h"
#include "jail.h"
#include "net.h"
#include "resolved.h"
#include "util.h"

static int local_tree_mount(struct priv *p, const char *mountpoint, int *ret_fd,
			    struct berr *err)
{
	return fusemount_open(mountpoint, getuid(), getgid(), ret_fd, err);
}

static int local_tree_unmount(struct priv *p, const char *mountpoint, struct berr *err)
{
	return fusemount_close(mountpoint, getuid(), err);
}

static int local_net_ensure(struct priv *p, const char *bridge, const char *cidr,
			    struct berr *err)
{
	int r;
	if ((r = net_bridge_ensure(bridge, cidr, err)) < 0)
		return berr_wrap(err, "bridge %s", bridge);
	if ((r = net_nat_ensure(bridge, cidr, err)) < 0)
		return berr_wrap(err, "NAT for %s", cidr);
	return 0;
}

static int local_tap_create(struct priv *p, const char *tap, const char *bridge,
			    struct berr *err)
{
	return net_tap_create(tap, bridge, getuid(), err);
}

static int local_tap_open(struct priv *p, const char *tap, const char *bridge, int *ret_fd,
			  struct berr *err)
{
	return net_tap_open(tap, bridge, ret_fd, err);
}

static int local_tap_delete(struct priv *p, const char *tap, struct berr *err)
{
	return net_tap_delete(tap, err);
}

static int local_tap_list(struct priv *p, char ***ret, size_t *ret_n, struct berr *err)
{
	return net_list_taps(NET_TAP_PREFIX, ret, ret_n, err);
}

static int local_resolved_link(struct priv *p, const char *bridge, const char *addr,
			       uint16_t port, struct berr *err)
{
	return resolved_link(bridge, addr, port, err);
}

static int local_resolved_revert(struct priv *p, const char *bridge, struct berr *err)
{
	return resolved_revert(bridge, err);
}

static int local_jail_launch(struct priv *p, const struct priv_jail *j, pid_t *ret_pid,
			     bool *ret_child, char **ret_via, struct berr *err)
{
	_cleanup_free_ char *jpath = find_program(j->jailer_bin);
	_cleanup_free_ char *fpath = find_program(j->firecracker_bin);
	_cleanup_free_ char *jreal = jpath ? realpath(jpath, NULL) : NULL;
	_cleanup_free_ char *freal = fpath ? realpath(fpath, NULL) : NULL;
	_cleanup_free_ char *st = j->state_dir ? realpath(j->state_dir, NULL) : NULL;
	int r;

	if (!jreal || !freal)
		return berr_set(err, ENOENT, "%s not found", !jreal ? j->jailer_bin
								    : j->firecracker_bin);
	if (!st)
		return berr_set(err, errno, "state dir %s: %s", j->state_dir, strerror(errno));
	struct jail_conf c = {.jailer = jreal, .exec_file = freal, .state_dir = st,
			      .uid = getuid(), .gid = getgid()};
	struct jail_target t;
	if ((r = jail_check(&c, j->id, &t, err)) < 0)
		return r;
	struct jail_io io = {.daemonize = j->serial_api, .outfd = j->outfd, .errfd = j->errfd};
	if ((r = jail_launch(&c, j->id, &t, &io, ret_pid, err)) < 0)
		return r;
	*ret_child = !j->serial_api;
	*ret_via = TAKE_PTR(jreal);
	return 0;
}

/* The images are the daemon's (<state_dir>/images): the state dir is the
 * one root. */
static struct dmclone_conf local_dm_conf(const char *state_dir)
{
	return (struct dmclone_conf){.state_dir = state_dir, .uid = getuid(), .gid = getgid()};
}

static int local_dm_clone(struct priv *p, const char *state_dir, const char *vm,
			  const char *image, char **ret_dev, int64_t *ret_ms, struct berr *err)
{
	struct dmclone_conf c = local_dm_conf(state_dir);
	char dev[DMCLONE_DEV_MAX];
	struct dmclone_times t;
	int r = dmclone_create(&c, vm, image, dev, &t, err);
	if (r == 0)
		*ret_dev = xstrdup(dev);
	if (r == 0 && ret_ms)
		*ret_ms = t.total_us / 1000;
	return r;
}

static int local_dm_remove(struct priv *p, const char *state_dir, const char *vm,
			   struct berr *err)
{
	struct dmclone_conf c = local_dm_conf(state_dir);
	return dmclone_remove(&c, vm, err);
}

static int local_dm_list(struct priv *p, const char *state_dir, char ***ret, size_t *ret_n,
			 struct berr *err)
{
	struct dmclone_conf c = local_dm_conf(state_dir);
	return dmclone_list(&c, ret, ret_n, err);
}

const struct priv_ops priv_local_ops = {
	.mount_how = "in-process (root)",
	.tree_mount = local_tree_mount,
	.tree_unmount = local_tree_unmount,
	.net_ensure = local_net_ensure,
	.tap_create = local_tap_create,
	.tap_open = local_tap_open,
	.tap_delete = local_tap_delete,
	.tap_list = local_tap_list,
	.resolved_link = local_resolved_link,
	.resolved_revert = local_resolved_revert,
	.jail_launch = local_jail_launch,
	.dm_clone = local_dm_clone,
	.dm_remove = local_dm_remove,
	.dm_list = local_dm_list,
};
