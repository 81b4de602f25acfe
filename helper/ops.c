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

#include "net.h"
#include "paths.h"
#include "proto.h"
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
