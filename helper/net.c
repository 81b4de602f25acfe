/* helper/net.c: interface names, subnet arithmetic, the bridge and the taps
 * (see net.h and docs/network.md).  NAT lives in helper/nat.c.
 *
 * Netlink goes through libnl-3/libnl-route-3.  One query is done by hand:
 * libnl does not parse the tun driver's link info (type, owner, queues), and
 * a restarted daemon needs the owner to decide whether an existing tap can
 * be reused as it is. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <net/if.h> /* before the linux/ headers, which then step aside */
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>

#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/rtnl.h>

#include "util.h"

static uint32_t host_mask(int prefix)
{
	return prefix >= 32 ? 0 : 0xffffffffu >> prefix;
}

/* ---- libnl plumbing ---- */

static inline void nl_sockp(struct nl_sock **p) { if (*p) nl_socket_free(*p); }
static inline void rtnl_linkp(struct rtnl_link **p) { if (*p) rtnl_link_put(*p); }
static inline void rtnl_addrp(struct rtnl_addr **p) { if (*p) rtnl_addr_put(*p); }
static inline void nl_addrp(struct nl_addr **p) { if (*p) nl_addr_put(*p); }
static inline void nl_msgp(struct nl_msg **p) { if (*p) nlmsg_free(*p); }
static inline void nl_cachep(struct nl_cache **p) { if (*p) nl_cache_free(*p); }
#define _cleanup_nlsock_ __attribute__((cleanup(nl_sockp)))
#define _cleanup_link_ __attribute__((cleanup(rtnl_linkp)))
#define _cleanup_addr_ __attribute__((cleanup(rtnl_addrp)))
#define _cleanup_nladdr_ __attribute__((cleanup(nl_addrp)))
#define _cleanup_nlmsg_ __attribute__((cleanup(nl_msgp)))
#define _cleanup_cache_ __attribute__((cleanup(nl_cachep)))

/* libnl error -> errno (libnl folds kernel errnos into its own codes). */
static int nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM: return ENOMEM;
	case NLE_EXIST: return EEXIST;
	case NLE_INVAL: return EINVAL;
	case NLE_RANGE: return ERANGE;
	case NLE_OPNOTSUPP: return EOPNOTSUPP;
	case NLE_AGAIN: return EAGAIN;
	case NLE_BUSY: return EBUSY;
	case NLE_OBJ_NOTFOUND: return ENOENT;
	case NLE_NODEV: return ENODEV;
	case NLE_PERM: return EPERM;
	case NLE_NOACCESS: return EACCES;
	case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
	default: return EIO;
	}
}

static int nl_fail(struct berr *err, int nlerr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int nl_fail(struct berr *err, int nlerr, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return berr_set(err, nl_errno(nlerr), "%s: %s", what, nl_geterror(nlerr));
}

static int rtnl_open(struct nl_sock **ret, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return berr_set(err, ENOMEM, "allocating a netlink socket: out of memory");
	int r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return nl_fail(err, r, "opening a route netlink socket");
	/* libnl 3.7 opens it with SOCK_CLOEXEC; make sure of it anyway. */
	int fd = nl_socket_get_fd(sk);
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return berr_set(err, errno, "setting close-on-exec on a netlink socket: %s",
				strerror(errno));
	*ret = TAKE_PTR(sk);
	return 0;
}

/* What RTM_GETLINK says about one interface. */
struct link_state {
	int ifindex;
	unsigned flags;       /* IFF_* */
	unsigned short type;  /* ARPHRD_* */
	int master;           /* 0: none */
	char kind[32];        /* IFLA_INFO_KIND, "" when none */
	/* Only for kind "tun": */
	unsigned tun_type;    /* IFF_TUN or IFF_TAP */
	bool tun_multi_queue;
	bool tun_has_owner;
	uid_t tun_owner;
};

static struct nla_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_MASTER] = { .type = NLA_U32 },
	[IFLA_LINKINFO] = { .type = NLA_NESTED },
};
static struct nla_policy info_policy[IFLA_INFO_MAX + 1] = {
	[IFLA_INFO_KIND] = { .type = NLA_STRING },
	[IFLA_INFO_DATA] = { .type = NLA_NESTED },
};
static struct nla_policy tun_policy[IFLA_TUN_MAX + 1] = {
	[IFLA_TUN_TYPE] = { .type = NLA_U8 },
	[IFLA_TUN_OWNER] = { .type = NLA_U32 },
	[IFLA_TUN_MULTI_QUEUE] = { .type = NLA_U8 },
};

static int link_parse(struct nlmsghdr *h, struct link_state *st)
{
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *td[IFLA_TUN_MAX + 1];

	if (!nlmsg_valid_hdr(h, sizeof(struct ifinfomsg)))
		return -EBADMSG;
	struct ifinfomsg *ifi = nlmsg_data(h);
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, link_policy) < 0)
		return -EBADMSG;
	memset(st, 0, sizeof(*st));
	st->ifindex = ifi->ifi_index;
	st->flags = ifi->ifi_flags;
	st->type = ifi->ifi_type;
	if (tb[IFLA_MASTER])
		st->master = (int)nla_get_u32(tb[IFLA_MASTER]);
	if (!tb[IFLA_LINKINFO] || nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO],
						   info_policy) < 0)
		return 0;
	if (li[IFLA_INFO_KIND])
		nla_strlcpy(st->kind, li[IFLA_INFO_KIND], sizeof(st->kind));
	if (strcmp(st->kind, "tun") != 0 || !li[IFLA_INFO_DATA] ||
	    nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], tun_policy) < 0)
		return 0;
	if (td[IFLA_TUN_TYPE])
		st->tun_type = nla_get_u8(td[IFLA_TUN_TYPE]);
	if (td[IFLA_TUN_MULTI_QUEUE])
		st->tun_multi_queue = nla_get_u8(td[IFLA_TUN_MULTI_QUEUE]) != 0;
	if (td[IFLA_TUN_OWNER]) {
		st->tun_has_owner = true;
		st->tun_owner = (uid_t)nla_get_u32(td[IFLA_TUN_OWNER]);
	}
	return 0;
}

/* Look an interface up by name.  Returns 1 and fills *st when it exists,
 * 0 when it does not, negative errno on failure.  Uses a socket of its own:
 * reading answers by hand would desynchronise the sequence numbers libnl
 * expects on a shared one. */
static int link_query(const char *name, struct link_state *st, struct berr *err)
{
	_cleanup_nlmsg_ struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	int r;

	if ((r = rtnl_open(&sk, err)) < 0)
		return r;
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0)
		return berr_set(err, ENOMEM, "building a netlink request: out of memory");
	r = nl_send_auto(sk, msg); /* adds NLM_F_ACK: the answer ends with an ack or error */
	if (r < 0)
		return nl_fail(err, r, "asking the kernel about interface %s", name);
	uint32_t seq = nlmsg_hdr(msg)->nlmsg_seq;

	int found = 0;
	for (;;) {
		struct sockaddr_nl who;
		_cleanup_free_ unsigned char *buf = NULL;
		int n = nl_recv(sk, &who, &buf, NULL);
		if (n < 0)
			return nl_fail(err, n, "reading the kernel's answer about interface %s", name);
		if (n == 0)
			return berr_set(err, EIO, "reading the kernel's answer about interface %s: "
					"the netlink socket closed", name);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nlmsg_ok(h, n);
		     h = nlmsg_next(h, &n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				if (!nlmsg_valid_hdr(h, sizeof(struct nlmsgerr)))
					return berr_set(err, EBADMSG, "a truncated netlink error "
							"about interface %s", name);
				struct nlmsgerr *e = nlmsg_data(h);
				if (e->error == 0)
					return found;
				if (e->error == -ENODEV)
					return 0;
				return berr_set(err, -e->error, "looking up interface %s: %s", name,
						strerror(-e->error));
			}
			if (h->nlmsg_type == RTM_NEWLINK) {
				if (link_parse(h, st) < 0)
					return berr_set(err, EBADMSG, "a malformed netlink answer "
							"about interface %s", name);
				found = 1;
			}
		}
	}
}

/* Set master (when master > 0) and IFF_UP on an interface. */
static int link_set_master_up(struct nl_sock *sk, const char *name, int ifindex, int master,
			      struct berr *err)
{
	_cleanup_link_ struct rtnl_link *orig = rtnl_link_alloc();
	_cleanup_link_ struct rtnl_link *chg = rtnl_link_alloc();
	if (!orig || !chg)
		return berr_set(err, ENOMEM, "out of memory");
	rtnl_link_set_ifindex(orig, ifindex);
	if (master > 0)
		rtnl_link_set_master(chg, master);
	rtnl_link_set_flags(chg, IFF_UP);
	int r = rtnl_link_change(sk, orig, chg, 0);
	if (r < 0)
		return nl_fail(err, r, "%s interface %s", master > 0 ? "attaching and bringing up" :
			       "bringing up", name);
	return 0;
}

/* ---- bridge ---- */

static int bridge_lookup(const char *bridge, struct link_state *st, struct berr *err)
{
	int r = link_query(bridge, st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return berr_set(err, ENODEV, "bridge %s does not exist", bridge);
	if (strcmp(st->kind, "bridge") != 0)
		return berr_set(err, EEXIST, "interface %s exists and is not a bridge (%s)", bridge,
				st->kind[0] ? st->kind : "no kind");
	return 0;
}

static int addr_add_if_missing(struct nl_sock *sk, const char *bridge, int ifindex, uint32_t gw,
			       int prefix, struct berr *err)
{
	_cleanup_addr_ struct rtnl_addr *a = rtnl_addr_alloc();
	uint32_t be_local = htonl(gw), be_bcast = htonl(gw | host_mask(prefix));
	_cleanup_nladdr_ struct nl_addr *local = nl_addr_build(AF_INET, &be_local, 4);
	_cleanup_nladdr_ struct nl_addr *bcast = nl_addr_build(AF_INET, &be_bcast, 4);
	char gs[16];
	int r;

	if (!a || !local || !bcast)
		return berr_set(err, ENOMEM, "out of memory");
	net_addr_str(gw, gs);
	nl_addr_set_prefixlen(local, prefix);
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_family(a, AF_INET);
	if ((r = rtnl_addr_set_local(a, local)) < 0 || (r = rtnl_addr_set_broadcast(a, bcast)) < 0)
		return nl_fail(err, r, "preparing address %s/%d", gs, prefix);
	rtnl_addr_set_prefixlen(a, prefix);
	/* NLM_F_EXCL: the kernel answers EEXIST when exactly this address and
	 * prefix are already there, which is what idempotence wants. */
	r = rtnl_addr_add(sk, a, NLM_F_EXCL);
	if (r == -NLE_EXIST)
		return 0;
	if (r < 0)
		return nl_fail(err, r, "adding address %s/%d to bridge %s", gs, prefix, bridge);
	return 0;
}

int net_bridge_ensure(const char *bridge, const char *gateway_cidr, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	struct link_state st;
	uint32_t gw, net;
	int prefix, r;

	if ((r = net_name_validate(bridge, NULL, err)) < 0 ||
	    (r = net_subnet_parse(gateway_cidr, &gw, &net, &prefix, err)) < 0)
		return berr_wrap(err, "setting up bridge");
	if ((r = rtnl_open(&sk, err)) < 0)
		return r;

	r = link_query(bridge, &st, err);
	if (r < 0)
		return r;
	if (r == 0) {
		_cleanup_link_ struct rtnl_link *l = rtnl_link_bridge_alloc();
		if (!l)
			return berr_set(err, ENOMEM, "out of memory");
		rtnl_link_set_name(l, bridge);
		r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
		if (r < 0 && r != -NLE_EXIST) /* EXIST: lost a race, look again */
			return nl_fail(err, r, "creating bridge %s", bridge);
	}
	if ((r = bridge_lookup(bridge, &st, err)) < 0)
		return r;
	if ((r = addr_add_if_missing(sk, bridge, st.ifindex, gw, prefix, err)) < 0)
		return r;
	if (!(st.flags & IFF_UP) && (r = link_set_master_up(sk, bridge, st.ifindex, 0, err)) < 0)
		return r;
	return 0;
}

/* ---- taps ---- */

/* Open /dev/net/tun and attach to (or create) the tap called name, with
 * extra TUNSETIFF flags (IFF_VNET_HDR for a descriptor handed to a VMM). */
static int tun_attach_flags(const char *name, unsigned extra, int *ret_fd, struct berr *err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "opening /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name) + 1); /* validated: at most 15 bytes */
	/* No IFF_VNET_HDR: every attach sets the queue's features anew, so
	 * QEMU and Firecracker ask for it themselves when they open the tap. */
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | extra);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		if (e == EBUSY)
			return berr_set(err, EBUSY, "tap %s is open in another process", name);
		return berr_set(err, e, "opening tap %s: %s", name, strerror(e));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int tun_attach(const char *name, int *ret_fd, struct berr *err)
{
	return tun_attach_flags(name, 0, ret_fd, err);
}

static int tun_set_owner(int fd, const char *name, uid_t owner, struct berr *err)
{
	if (ioctl(fd, TUNSETOWNER, (unsigned long)owner) < 0)
		return berr_set(err, errno, "giving tap %s to uid %u: %s", name, (unsigned)owner,
				strerror(errno));
	return 0;
}

int net_tap_create(const char *tap, const char *bridge, uid_t owner, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	_cleanup_close_ int fd = -1;
	struct link_state br, st;
	bool created = false;
	int r;

	if ((r = net_name_validate(tap, NET_TAP_PREFIX, err)) < 0 ||
	    (r = net_name_validate(bridge, NULL, err)) < 0)
		return berr_wrap(err, "creating a tap");
	if (owner == (uid_t)-1)
		return berr_set(err, EINVAL, "creating tap %s: no owner given", tap);
	if ((r = rtnl_open(&sk, err)) < 0)
		return r;
	if ((r = bridge_lookup(bridge, &br, err)) < 0)
		return berr_wrap(err, "creating tap %s", tap);

	r = link_query(tap, &st, err);
	if (r < 0)
		return r;
	if (r == 0) {
		if ((r = tun_attach(tap, &fd, err)) < 0 ||
		    (r = tun_set_owner(fd, tap, owner, err)) < 0)
			return r;
		if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
			return berr_set(err, errno, "making tap %s persistent: %s", tap,
					strerror(errno));
		created = true;
		if ((r = link_query(tap, &st, err)) <= 0) {
			if (r == 0)
				r = berr_set(err, ENODEV, "tap %s vanished right after creation", tap);
			goto undo;
		}
	} else {
		if (strcmp(st.kind, "tun") != 0 || st.tun_type != IFF_TAP || st.tun_multi_queue)
			return berr_set(err, EEXIST, "interface %s exists and is not a single-queue "
					"tap device", tap);
		if (!st.tun_has_owner || st.tun_owner != owner) {
			r = tun_attach(tap, &fd, err);
			if (r == -EBUSY && st.tun_has_owner)
				return berr_set(err, EBUSY, "tap %s is in use and belongs to uid %u, "
						"not uid %u", tap, (unsigned)st.tun_owner,
						(unsigned)owner);
			if (r == -EBUSY)
				return berr_set(err, EBUSY, "tap %s is in use and has no owner "
						"(wanted uid %u)", tap, (unsigned)owner);
			if (r < 0 || (r = tun_set_owner(fd, tap, owner, err)) < 0)
				return r;
		}
	}

	if (st.master != br.ifindex || !(st.flags & IFF_UP)) {
		r = link_set_master_up(sk, tap, st.ifindex, br.ifindex, err);
		if (r < 0)
			goto undo;
	}
	return 0;

undo:
	/* A tap this call created goes away when its last fd closes. */
	if (created)
		(void)ioctl(fd, TUNSETPERSIST, 0UL);
	return r;
}

int net_tap_open(const char *tap, const char *bridge, int *ret_fd, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	_cleanup_close_ int fd = -1;
	struct link_state br, st;
	int r;

	if ((r = net_name_validate(tap, NET_TAP_PREFIX, err)) < 0 ||
	    (r = net_name_validate(bridge, NULL, err)) < 0)
		return berr_wrap(err, "opening a tap");
	if ((r = rtnl_open(&sk, err)) < 0)
		return r;
	if ((r = bridge_lookup(bridge, &br, err)) < 0)
		return berr_wrap(err, "opening tap %s", tap);
	r = link_query(tap, &st, err);
	if (r < 0)
		return r;
	if (r == 1 && (strcmp(st.kind, "tun") != 0 || st.tun_type != IFF_TAP || st.tun_multi_queue))
		return berr_set(err, EEXIST, "interface %s exists and is not a single-queue "
				"tap device", tap);
	/* Creates the tap, or attaches to a persistent one nobody has open
	 * (EBUSY when a VMM still holds it). */
	if ((r = tun_attach_flags(tap, IFF_VNET_HDR, &fd, err)) < 0)
		return r;
	/* A leftover persistent tap now lives only as long as this
	 * descriptor, like a new one. */
	if (ioctl(fd, TUNSETPERSIST, 0UL) < 0)
		return berr_set(err, errno, "making tap %s non-persistent: %s", tap,
				strerror(errno));
	if ((r = link_query(tap, &st, err)) <= 0)
		return r == 0 ? berr_set(err, ENODEV, "tap %s vanished right after creation", tap)
			      : r;
	if (st.master != br.ifindex || !(st.flags & IFF_UP)) {
		r = link_set_master_up(sk, tap, st.ifindex, br.ifindex, err);
		if (r < 0)
			return r; /* the tap goes with fd */
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int net_tap_delete(const char *tap, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	struct link_state st;
	int r;

	if ((r = net_name_validate(tap, NET_TAP_PREFIX, err)) < 0)
		return berr_wrap(err, "deleting a tap");
	if ((r = rtnl_open(&sk, err)) < 0)
		return r;
	r = link_query(tap, &st, err);
	if (r <= 0)
		return r;
	if (strcmp(st.kind, "tun") != 0 || st.tun_type != IFF_TAP)
		return berr_set(err, EINVAL, "refusing to delete %s: it is not a tap device", tap);

	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();
	if (!l)
		return berr_set(err, ENOMEM, "out of memory");
	rtnl_link_set_ifindex(l, st.ifindex);
	r = rtnl_link_delete(sk, l);
	if (r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND) /* gone meanwhile */
		return 0;
	if (r < 0)
		return nl_fail(err, r, "deleting tap %s", tap);
	return 0;
}

void net_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int net_list_taps(const char *prefix, char ***ret, size_t *ret_n, struct berr *err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	_cleanup_cache_ struct nl_cache *cache = NULL;
	int r;

	if (!prefix)
		prefix = NET_TAP_PREFIX;
	size_t plen = strlen(prefix);
	if (plen > NET_IFNAME_MAX)
		return berr_set(err, EINVAL, "listing taps: prefix \"%.20s\" is longer than an "
				"interface name", prefix);
	if ((r = rtnl_open(&sk, err)) < 0)
		return r;
	r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (r < 0)
		return nl_fail(err, r, "listing network interfaces");

	size_t n = 0, cap = 8;
	char **v = xcalloc(cap, sizeof(*v));
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);
		const char *kind = rtnl_link_get_type(l);
		/* kind "tun" with an Ethernet header is a tap; a tun is ARPHRD_NONE. */
		if (!name || strncmp(name, prefix, plen) != 0 || !kind || strcmp(kind, "tun") != 0 ||
		    rtnl_link_get_arptype(l) != ARPHRD_ETHER)
			continue;
		if (n + 1 >= cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(name);
		v[n] = NULL;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	*ret = v;
	if (ret_n)
		*ret_n = n;
	return 0;
}
