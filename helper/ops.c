/* helper/ops.c: the closed set of privileged operations bangerd-root
 * performs, one table row and one handler each (see docs/privileges.md).
 *
 * Every request is re-checked here as if bangerd were hostile: names are
 * re-validated, the bridge and the subnet must be the configured ones (the
 * request may only repeat them), paths must sit below a managed root with
 * no symlink on the way, and the owner of anything created is the
 * configured owner, never a uid from the message.  No handler runs a
 * program or opens a path a request names other than through
 * path_open_beneath(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmclone.h"
#include "fusemount.h"
#include "jail.h"
#include "net.h"
#include "paths.h"
#include "proto.h"
#include "resolved.h"
#include "util.h"

#ifndef BANGER_VERSION
#define BANGER_VERSION "unknown"
#endif

typedef int (*op_fn)(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		     struct ops_result *res, struct berr *err);

/* The reply's success sentence (cut to fit). */
static void say(struct ops_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ops_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

/* A refusal by validation: the reply says why, and ops_run() logs
 * "rejected priv operation". */
static int reject(struct ops_result *res, int r)
{
	res->rejected = true;
	return r;
}

/* The request's bridge must be the configured one. */
static int check_bridge(const struct helper_conf *c, const char *bridge, struct berr *err)
{
	int r;

	if ((r = net_name_validate(bridge, NULL, err)) < 0)
		return r;
	if (strcmp(bridge, c->bridge) != 0)
		return berr_set(err, EPERM, "bridge %s is not the bridge this helper manages (%s)",
				bridge, c->bridge);
	return 0;
}

static int op_ping(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		   struct ops_result *res, struct berr *err)
{
	say(res, "pong from bangerd-root %s", BANGER_VERSION);
	return 0;
}

static int op_net_ensure(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			 struct ops_result *res, struct berr *err)
{
	uint32_t gw, net, cgw, cnet;
	int prefix, cprefix, r;

	if ((r = check_bridge(c, q->args[0], err)) < 0)
		return reject(res, r);
	if ((r = net_subnet_parse(q->args[1], &gw, &net, &prefix, err)) < 0)
		return reject(res, r);
	if ((r = net_subnet_parse(c->subnet, &cgw, &cnet, &cprefix, err)) < 0)
		return r;
	if (gw != cgw || net != cnet || prefix != cprefix)
		return reject(res, berr_set(err, EPERM,
					    "subnet %s is not the subnet this helper "
					    "manages (%s)",
					    q->args[1], c->subnet));
	/* From here on only the configured values are used. */
	if ((r = net_bridge_ensure(c->bridge, c->subnet, err)) < 0)
		return r;
	if ((r = net_nat_ensure(c->bridge, c->subnet, err)) < 0)
		return r;
	say(res, "bridge %s has %s and NAT is in place", c->bridge, c->subnet);
	return 0;
}

static int op_tap_create(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			 struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = net_name_validate(q->args[0], NET_TAP_PREFIX, err)) < 0)
		return reject(res, r);
	if ((r = check_bridge(c, q->args[1], err)) < 0)
		return reject(res, r);
	if (peer != c->owner_uid) /* the connection check already said so; say it again */
		return reject(res, berr_set(err, EPERM, "uid %u is not the owner", (unsigned)peer));
	if ((r = net_tap_create(q->args[0], c->bridge, c->owner_uid, err)) < 0)
		return r;
	say(res, "tap %s is on %s, owned by uid %u", q->args[0], c->bridge, (unsigned)c->owner_uid);
	return 0;
}

static int op_tap_delete(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			 struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = net_name_validate(q->args[0], NET_TAP_PREFIX, err)) < 0)
		return reject(res, r);
	if ((r = net_tap_delete(q->args[0], err)) < 0)
		return r;
	say(res, "tap %s is gone", q->args[0]);
	return 0;
}

static int op_tap_list(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		       struct ops_result *res, struct berr *err)
{
	char **v = NULL;
	size_t n = 0;
	int r;

	if ((r = net_list_taps(NET_TAP_PREFIX, &v, &n, err)) < 0)
		return r;
	if (n > PROTO_LIST_MAX) {
		net_strv_free(v);
		return berr_set(err, EMSGSIZE, "%zu taps are more than one reply holds (%d)", n,
				PROTO_LIST_MAX);
	}
	res->list = v;
	res->n = n;
	say(res, "%zu tap%s", n, n == 1 ? "" : "s");
	return 0;
}

static int op_chown_to_owner(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			     struct ops_result *res, struct berr *err)
{
	const char *const roots[] = {c->runtime_dir};
	const char *path = q->args[0];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	/* A missing leaf passes the path check (it is not an attack) and then
	 * fails below with ENOENT, which is not logged as a rejection. */
	if ((r = path_under_root(path, roots, ARRAY_SIZE(roots), false, err)) < 0)
		return reject(res, r);
	if ((r = path_open_beneath(c->runtime_dir, path, &fd, err)) < 0)
		return r == -ENOENT ? r : reject(res, r);
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "fstat %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode) && !S_ISREG(st.st_mode))
		return reject(res,
			      berr_set(err, EPERM, "%s is not a socket or a regular file", path));
	if (S_ISREG(st.st_mode) && st.st_nlink != 1)
		return reject(res, berr_set(err, EPERM,
					    "%s has %ju hard links; refusing to chown a "
					    "file that is also elsewhere",
					    path, (uintmax_t)st.st_nlink));
	if (st.st_mode & (S_ISUID | S_ISGID))
		return reject(res, berr_set(err, EPERM, "%s is set-id; refusing", path));
	if (st.st_uid != c->owner_uid || (c->owner_gid != (gid_t)-1 && st.st_gid != c->owner_gid)) {
		if (fchownat(fd, "", c->owner_uid, c->owner_gid, AT_EMPTY_PATH) < 0)
			return berr_set(err, errno, "chown %s: %s", path, strerror(errno));
	}
	say(res, "%s is owned by uid %u", path, (unsigned)c->owner_uid);
	return 0;
}

/* A request string shown in a sentence: at most 64 bytes, control
 * characters as '?', so a log line stays one line. */
static void shown(const char *s, char out[65])
{
	size_t i = 0;
	for (; s[i] && i < 64; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
}

/* "ADDR:PORT" for RESOLVED_LINK: ADDR must be the configured subnet's
 * gateway address (banger's DNS server listens there and nowhere else),
 * PORT strict decimal 1..65535 (no sign, no leading zero, nothing after). */
static int check_dns_server(const struct helper_conf *c, const char *s, char ret_addr[16],
			    uint16_t *ret_port, struct berr *err)
{
	const char *colon = strchr(s, ':');
	char text[65], addr[16], cidr[32];
	uint32_t a, cgw, cnet;
	int prefix, cprefix, r;
	uint64_t port;

	shown(s, text);
	if (!colon)
		return berr_set(err, EINVAL, "\"%s\" is not ADDRESS:PORT", text);
	const char *ps = colon + 1;
	if (!*ps || strlen(ps) > 5 || ps[0] == '0' || parse_u64(ps, &port) < 0 || port > 65535)
		return berr_set(err, EINVAL,
				"\"%s\": the port must be a decimal number from 1 to 65535", text);
	size_t alen = (size_t)(colon - s);
	if (alen == 0 || alen >= sizeof(addr))
		return berr_set(err, EINVAL, "\"%s\": not an IPv4 address before the port", text);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if ((r = net_subnet_parse(c->subnet, &cgw, &cnet, &cprefix, err)) < 0)
		return r;
	/* The configured prefix makes it a CIDR the strict parser takes. */
	snprintf(cidr, sizeof(cidr), "%s/%d", addr, cprefix);
	if (net_cidr_parse(cidr, &a, &prefix, err) < 0)
		return berr_set(err, EINVAL, "\"%s\": not an IPv4 address before the port", text);
	if (a != cgw) {
		char gw[16];
		net_addr_str(cgw, gw);
		return berr_set(err, EPERM,
				"%s is not the gateway address of the subnet this helper "
				"manages (%s): banger's DNS server listens on %s only",
				addr, c->subnet, gw);
	}
	net_addr_str(a, ret_addr);
	*ret_port = (uint16_t)port;
	return 0;
}

static int op_resolved_link(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			    struct ops_result *res, struct berr *err)
{
	char addr[16];
	uint16_t port = 0;
	int r;

	if ((r = check_bridge(c, q->args[0], err)) < 0)
		return reject(res, r);
	if ((r = check_dns_server(c, q->args[1], addr, &port, err)) < 0)
		return reject(res, r);
	/* From here on only the configured bridge and gateway are used. */
	if ((r = resolved_link(c->bridge, addr, port, err)) < 0)
		return r;
	say(res, "systemd-resolved sends ~%s queries on %s to %s:%u, and only those",
	    RESOLVED_DOMAIN, c->bridge, addr, (unsigned)port);
	return 0;
}

static int op_resolved_revert(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			      struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = check_bridge(c, q->args[0], err)) < 0)
		return reject(res, r);
	if ((r = resolved_revert(c->bridge, err)) < 0)
		return r;
	say(res, "systemd-resolved has no settings of banger's on %s", c->bridge);
	return 0;
}

static int op_jail_launch(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			  struct ops_result *res, struct berr *err)
{
	struct jail_conf jc = {.jailer = c->jailer,
			       .exec_file = c->firecracker,
			       .state_dir = c->state_dir,
			       .uid = c->owner_uid,
			       .gid = c->owner_gid};
	const char *id = q->args[0], *mode = q->args[1];
	_cleanup_close_ int out = -1, errf = -1;
	struct jail_target t;
	char num[16];
	pid_t pid;
	bool api;
	int r;

	if (!c->jailer || !c->firecracker)
		return berr_set(err, EOPNOTSUPP,
				"bangerd-root was started without --jailer and --firecracker");
	if (c->owner_gid == (gid_t)-1)
		return berr_set(err, EINVAL,
				"the owner (uid %u) has no primary group for Firecracker to run as",
				(unsigned)c->owner_uid);
	if (strcmp(mode, "api") == 0)
		api = true;
	else if (strcmp(mode, "stdout") == 0)
		api = false;
	else
		return reject(res, berr_set(err, EINVAL, "serial mode \"%.16s\" is neither api nor "
					    "stdout", mode));
	if (peer != c->owner_uid)
		return reject(res, berr_set(err, EPERM, "uid %u is not the owner", (unsigned)peer));
	if ((r = jail_check(&jc, id, &t, err)) < 0)
		return reject(res, r);
	/* Too old for PUT /serial: the jailer keeps stdout and stderr, which
	 * go to the VM's console and log, linked into the jail by bangerd. */
	if (!api && ((r = jail_open_output(&jc, id, "console.log", &out, err)) < 0 ||
		     (r = jail_open_output(&jc, id, "vmm.log", &errf, err)) < 0))
		return reject(res, r);
	struct jail_io io = {.daemonize = api, .outfd = out, .errfd = errf, .detach = true};
	if ((r = jail_launch(&jc, id, &t, &io, &pid, err)) < 0)
		return r;
	snprintf(num, sizeof(num), "%d", (int)pid);
	res->list = xcalloc(2, sizeof(char *));
	res->list[0] = xstrdup(num);
	res->n = 1;
	say(res, "firecracker pid %d runs as uid %u in jail %s/%s/%s/root%s", (int)pid,
	    (unsigned)c->owner_uid, c->state_dir, JAIL_SUBDIR, id,
	    api ? " (daemonized)" : " (stdout on its console)");
	return 0;
}

static int op_tap_open(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		       struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = net_name_validate(q->args[0], NET_TAP_PREFIX, err)) < 0)
		return reject(res, r);
	if ((r = check_bridge(c, q->args[1], err)) < 0)
		return reject(res, r);
	if (peer != c->owner_uid)
		return reject(res, berr_set(err, EPERM, "uid %u is not the owner", (unsigned)peer));
	if ((r = net_tap_open(q->args[0], c->bridge, &res->fd, err)) < 0)
		return r;
	say(res, "tap %s is on %s; its descriptor is the VMM's", q->args[0], c->bridge);
	return 0;
}

/* The request may only repeat the configured mount point. */
static int check_mountpoint(const struct helper_conf *c, const char *path, struct berr *err)
{
	char text[65];

	if (!c->mountpoint)
		return berr_set(err, EOPNOTSUPP, "bangerd-root was started without --mount");
	if (strcmp(path, c->mountpoint) != 0) {
		shown(path, text);
		return berr_set(err, EPERM, "%s is not the mount point this helper manages (%s)",
				text, c->mountpoint);
	}
	return 0;
}

static int op_fuse_mount(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			 struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = check_mountpoint(c, q->args[0], err)) < 0)
		return r == -EOPNOTSUPP ? r : reject(res, r);
	if (peer != c->owner_uid)
		return reject(res, berr_set(err, EPERM, "uid %u is not the owner", (unsigned)peer));
	if (c->owner_gid == (gid_t)-1)
		return berr_set(err, EINVAL, "the owner (uid %u) has no primary group for the mount",
				(unsigned)c->owner_uid);
	r = fusemount_open(c->mountpoint, c->owner_uid, c->owner_gid, &res->fd, err);
	/* A symlink on the way or a directory of someone else is an attack,
	 * not a failure. */
	if (r == -ELOOP || r == -EPERM || r == -EINVAL)
		return reject(res, r);
	if (r < 0)
		return r;
	say(res, "the tree is mounted at %s for uid %u", c->mountpoint, (unsigned)c->owner_uid);
	return 0;
}

static int op_fuse_unmount(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			   struct ops_result *res, struct berr *err)
{
	int r;

	if ((r = check_mountpoint(c, q->args[0], err)) < 0)
		return r == -EOPNOTSUPP ? r : reject(res, r);
	r = fusemount_close(c->mountpoint, c->owner_uid, err);
	if (r == -EPERM || r == -ELOOP)
		return reject(res, r);
	if (r < 0)
		return r;
	say(res, "no banger tree is mounted at %s", c->mountpoint);
	return 0;
}

static struct dmclone_conf dm_conf(const struct helper_conf *c)
{
	return (struct dmclone_conf){.state_dir = c->state_dir, .cache_dir = c->cache_dir,
				     .uid = c->owner_uid, .gid = c->owner_gid};
}

/* What a dm operation's error means: a request that names what it may
 * not (a bad name, a path outside the roots or through a symlink, a file
 * the owner may not read, a device that is not banger's) is refused; the
 * rest (nothing to clone, no device-mapper, busy) failed. */
static bool dm_refusal(int r)
{
	return r == -EINVAL || r == -EPERM || r == -ELOOP || r == -EXDEV || r == -ENOTDIR;
}

static int op_dm_clone(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		       struct ops_result *res, struct berr *err)
{
	struct dmclone_conf dc = dm_conf(c);
	char dev[DMCLONE_DEV_MAX], ms[24];
	struct dmclone_times t = {0};
	int r;

	if ((r = dmclone_name_validate(q->args[0], err)) < 0)
		return reject(res, r);
	if (peer != c->owner_uid)
		return reject(res, berr_set(err, EPERM, "uid %u is not the owner", (unsigned)peer));
	if (c->owner_gid == (gid_t)-1)
		return berr_set(err, EINVAL, "the owner (uid %u) has no primary group for the "
				"device node", (unsigned)c->owner_uid);
	r = dmclone_create(&dc, q->args[0], q->args[1], dev, &t, err);
	if (r < 0)
		return dm_refusal(r) ? reject(res, r) : r;
	snprintf(ms, sizeof(ms), "%lld", (long long)(t.total_us / 1000));
	res->list = xcalloc(3, sizeof(char *));
	res->list[0] = xstrdup(dev);
	res->list[1] = xstrdup(ms);
	res->n = 2;
	say(res, "%s%s is a snapshot of %s for uid %u (%.1f ms: checks %.1f, loop devices %.1f, "
	    "device-mapper %.1f, node %.1f)", DMCLONE_NAME_PREFIX, q->args[0], q->args[1],
	    (unsigned)c->owner_uid, t.total_us / 1000.0, t.checks_us / 1000.0, t.loops_us / 1000.0,
	    t.device_us / 1000.0, t.node_us / 1000.0);
	return 0;
}

static int op_dm_remove(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
			struct ops_result *res, struct berr *err)
{
	struct dmclone_conf dc = dm_conf(c);
	int r;

	if ((r = dmclone_name_validate(q->args[0], err)) < 0)
		return reject(res, r);
	r = dmclone_remove(&dc, q->args[0], err);
	if (r < 0)
		return dm_refusal(r) ? reject(res, r) : r;
	say(res, "no device %s%s", DMCLONE_NAME_PREFIX, q->args[0]);
	return 0;
}

static int op_dm_list(const struct helper_conf *c, uid_t peer, const struct proto_req *q,
		      struct ops_result *res, struct berr *err)
{
	struct dmclone_conf dc = dm_conf(c);
	char **v = NULL;
	size_t n = 0;
	int r;

	if ((r = dmclone_list(&dc, &v, &n, err)) < 0)
		return r;
	if (n > PROTO_LIST_MAX) {
		net_strv_free(v);
		return berr_set(err, EMSGSIZE, "%zu devices are more than one reply holds (%d)", n,
				PROTO_LIST_MAX);
	}
	res->list = v;
	res->n = n;
	say(res, "%zu device%s", n, n == 1 ? "" : "s");
	return 0;
}

/* The closed set.  Why each is safe to do for the owner: */
static const struct op {
	uint16_t op;
	const char *name;
	uint8_t nargs;
	op_fn fn;
	bool quiet; /* no log line on success (read-only) */
} ops[] = {
    /* Does nothing; lets the daemon and the tests see the helper is alive. */
    {PROTO_OP_PING, "PING", 0, op_ping, true},
    /* Creates or repairs exactly the configured bridge, address and the
     * inet banger table: the request must repeat the configured values, so
     * the client picks nothing; idempotent. */
    {PROTO_OP_NET_ENSURE, "NET_ENSURE", 2, op_net_ensure, false},
    /* Creates a tap only under the "bn-" prefix, only on the configured
     * bridge, owned only by the configured owner: the owner gains a device
     * it can open, attached where banger's NAT already sends it. */
    {PROTO_OP_TAP_CREATE, "TAP_CREATE", 2, op_tap_create, false},
    /* Deletes only a tun/tap device named "bn-*" (net_tap_delete refuses
     * any other kind): it can never take down eth0 or the bridge. */
    {PROTO_OP_TAP_DELETE, "TAP_DELETE", 1, op_tap_delete, false},
    /* Read-only; names of "bn-*" taps, which any user can see anyway. */
    {PROTO_OP_TAP_LIST, "TAP_LIST", 0, op_tap_list, true},
    /* Gives the owner a socket or single-link regular file below the
     * runtime root, reached without symlinks or mount crossings: the
     * owner controls that directory already, so the only gain is files
     * another uid (a jailed VMM) created there. */
    {PROTO_OP_CHOWN_TO_OWNER, "CHOWN_TO_OWNER", 1, op_chown_to_owner, false},
    /* Tells systemd-resolved to send only "~vm" queries on the configured
     * bridge to the configured gateway address (DefaultRoute off, so no
     * other name ever goes there): the request may only repeat the bridge
     * and the gateway and picks just the port.  Names under .vm are
     * banger's own; nothing else the host resolves can be redirected. */
    {PROTO_OP_RESOLVED_LINK, "RESOLVED_LINK", 2, op_resolved_link, false},
    /* Drops what a bus client set on the configured bridge in resolved
     * (RevertLink): only banger's bridge, which only banger configures. */
    {PROTO_OP_RESOLVED_REVERT, "RESOLVED_REVERT", 1, op_resolved_revert, false},
    /* Runs the configured jailer on the configured Firecracker binary, as
     * the owner's uid and gid, with an argv the helper builds itself from
     * a re-validated id (1-64 of [A-Za-z0-9-]) and a choice of two serial
     * modes; nothing else from the request reaches it.  The jail root must
     * be <state_dir>/jail/<id>/root, a directory of the owner reached
     * without symlinks or mount crossings, and the jailer only ever sees
     * it through a bind mount in a private mount namespace (helper/jail.h),
     * so no path the owner can rename is resolved as root.  Firecracker
     * ends up as the owner, in a chroot, with what the owner linked into
     * it plus the jailer's device nodes: /dev/kvm and /dev/net/tun (which
     * a VM owner uses anyway), /dev/urandom and /dev/userfaultfd. */
    {PROTO_OP_JAIL_LAUNCH, "JAIL_LAUNCH", 2, op_jail_launch, false},
    /* Creates a tap under the same rules as TAP_CREATE (a "bn-" name, the
     * configured bridge) but not persistent and without an owner: the
     * descriptor handed back is the only way in, and the tap goes away
     * when the VMM holding it exits.  The owner gains less than with
     * TAP_CREATE (no device it may re-open). */
    {PROTO_OP_TAP_OPEN, "TAP_OPEN", 2, op_tap_open, false},
    /* Mounts /dev/fuse at the one mount point given with --mount, for the
     * owner only (user_id/group_id of the owner, nosuid, nodev, no
     * allow_other), on a directory the owner owns, reached without
     * symlinks: what fusermount3 would do for the owner anyway.  Only the
     * owner, and not even root, can use the tree (FUSE's rule). */
    {PROTO_OP_FUSE_MOUNT, "FUSE_MOUNT", 1, op_fuse_mount, false},
    /* Unmounts the tree at that mount point, only when the topmost mount
     * there is a banger tree of the owner (mountinfo). */
    {PROTO_OP_FUSE_UNMOUNT, "FUSE_UNMOUNT", 1, op_fuse_unmount, false},
    /* Makes banger-<vm>, a dm snapshot of an image over the VM's own COW
     * file, and gives its node to the owner: the image must lie below the
     * state or cache root, reached without symlinks or mount crossings,
     * and be readable by the owner by its mode (so the clone shows the
     * owner nothing it could not read); the COW file is always
     * <state root>/vms/<vm>/rootfs.cow, the owner's, with one link (the
     * request names the VM, not the file).  The owner gains a block
     * device over files it can already read and write.  An existing
     * device is reused only when it carries banger's uuid for this owner
     * and sits over those same two files. */
    {PROTO_OP_DM_CLONE, "DM_CLONE", 2, op_dm_clone, false},
    /* Removes banger-<vm> only when it carries banger's uuid for this
     * owner (set at creation; only root can set a dm uuid), and only when
     * nothing has it open. */
    {PROTO_OP_DM_REMOVE, "DM_REMOVE", 1, op_dm_remove, false},
    /* Read-only: the VM names of this owner's banger devices. */
    {PROTO_OP_DM_LIST, "DM_LIST", 0, op_dm_list, true},
};

static const struct op *op_find(unsigned op)
{
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (ops[i].op == op)
			return &ops[i];
	return NULL;
}

int ops_selfcheck(struct berr *err)
{
	for (unsigned op = 0; op <= UINT16_MAX; op++) {
		const struct proto_op_info *w = proto_op_lookup(op);
		const struct op *h = op_find(op);
		if (!w && !h)
			continue;
		if (!w || !h)
			return berr_set(err, EINVAL, "op %u is %s", op,
					w ? "on the wire but has no handler"
					  : "handled but not on the wire");
		if (strcmp(w->name, h->name) != 0 || w->nargs != h->nargs)
			return berr_set(err, EINVAL,
					"op %u: the wire says %s/%u, the handler %s/%u", op,
					w->name, w->nargs, h->name, h->nargs);
	}
	return 0;
}

void ops_result_done(struct ops_result *res)
{
	if (!res)
		return;
	if (res->fd >= 0)
		close(res->fd);
	res->fd = -1;
	net_strv_free(res->list);
	res->list = NULL;
	res->n = 0;
}

int ops_run(const struct helper_conf *conf, uid_t peer, const struct proto_req *req,
	    struct ops_result *res, struct berr *err)
{
	const struct op *o = op_find(req->op);
	int r;

	res->msg[0] = '\0';
	res->fd = -1;
	res->list = NULL;
	res->n = 0;
	res->rejected = false;
	berr_clear(err);
	if (!o)
		r = reject(res, berr_set(err, EOPNOTSUPP, "unknown operation %u", req->op));
	else if (req->nargs != o->nargs)
		r = reject(res, berr_set(err, EINVAL, "%s takes %u arguments, not %zu", o->name,
					 o->nargs, req->nargs));
	else
		r = o->fn(conf, peer, req, res, err);

	const char *name = o ? o->name : "UNKNOWN";
	const char *arg = req->nargs > 0 && o && o->nargs > 0 ? req->args[0] : "";
	if (r < 0 && res->rejected)
		fprintf(stderr, "bangerd-root: rejected priv operation %s from uid %u: %s\n", name,
			(unsigned)peer, err->msg);
	else if (r < 0)
		fprintf(stderr, "bangerd-root: priv operation %s from uid %u failed: %s\n", name,
			(unsigned)peer, err->msg);
	else if (!o->quiet)
		fprintf(stderr, "bangerd-root: priv operation %s %s from uid %u: %s\n", name, arg,
			(unsigned)peer, res->msg);
	if (r < 0)
		ops_result_done(res);
	return r;
}
