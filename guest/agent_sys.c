/* guest/agent_sys.c: the bottom of the agent: its log, guest paths under
 * --test-root, and the operations that change the guest.
 *
 *   ident     hostname (sethostname + /etc/hostname + /etc/hosts), machine-id,
 *             DNS (/etc/resolv.conf), MAC, IPv4 address and default route
 *             (netlink), a mount from /etc/fstab (mount(2)): no process
 *   hostkey   agent_hostkey.c
 *   clock     CLOCK_REALTIME
 *   rng       host bytes mixed into the kernel pool and credited
 *             (RNDADDENTROPY), then the CRNG reseeded (RNDRESEEDCRNG)
 *   shutdown  asks init (systemd, busybox) or, forced, reboot(2)
 *
 * Every value from the host is checked before anything changes. */
#define _GNU_SOURCE
#include "agent_sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <linux/if_link.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- log, paths ---- */

void agent_log(const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dprintf(2, "banger-agent: %s\n", buf);
}

char *agent_path(const struct agent_opts *o, const char *path)
{
	return xasprintf("%s%s", o->root, path);
}

/* ---- checks ---- */

static bool hostname_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 63 || h[0] == '-' || h[n - 1] == '-')
		return false;
	for (const char *c = h; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			return false;
	return true;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '_' || *c == '-' || *c == '.'))
			return false;
	return true;
}

static bool machine_id_ok(const char *s)
{
	bool nonzero = false;
	if (strlen(s) != 32)
		return false;
	for (const char *c = s; *c; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
		nonzero = nonzero || *c != '0';
	}
	return nonzero;
}

/* "xx:xx:xx:xx:xx:xx", unicast, not all zero. */
static bool mac_parse(const char *s, uint8_t m[6])
{
	bool nonzero = false;
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		m[i] = (uint8_t)(hi << 4 | lo);
		nonzero = nonzero || m[i];
	}
	return nonzero && !(m[0] & 1);
}

/* "A.B.C.D/N" */
static bool cidr_parse(const char *s, struct in_addr *a, unsigned *plen)
{
	char buf[32];
	const char *sl = strchr(s, '/');
	if (!sl || (size_t)(sl - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(sl - s));
	buf[sl - s] = '\0';
	if (inet_pton(AF_INET, buf, a) != 1)
		return false;
	uint64_t n;
	if (parse_u64(sl + 1, &n) < 0 || n < 1 || n > 32 || (sl[1] == '0'))
		return false;
	*plen = (unsigned)n;
	return true;
}

/* "IP[,IP[,IP]]" into resolv.conf text. */
static int dns_text(const char *s, struct sbuf *out, struct berr *err)
{
	_cleanup_free_ char *copy = xstrdup(s);
	char *save = NULL;
	int n = 0;
	sbuf_puts(out, "# written by banger-agent\n");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned char b[16];
		if (inet_pton(AF_INET, t, b) != 1 && inet_pton(AF_INET6, t, b) != 1)
			return berr_set(err, EINVAL, "DNS server \"%s\" is not an IP address", t);
		if (++n > 3)
			return berr_set(err, EINVAL, "at most 3 DNS servers (the resolver's limit)");
		sbuf_printf(out, "nameserver %s\n", t);
	}
	if (n == 0)
		return berr_set(err, EINVAL, "dns needs at least one address");
	return 0;
}

/* ---- netlink ---- */

struct nlreq {
	struct nlmsghdr h;
	union {
		struct ifaddrmsg a;
		struct rtmsg r;
		struct ifinfomsg i;
	} u;
	char attrs[256];
};

static void nl_attr(struct nlreq *q, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)q + NLMSG_ALIGN(q->h.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send one request, wait for its ack (or, for a dump, collect IPv4
 * addresses of ifindex into addrs). */
static int nl_talk(int fd, struct nlreq *q, int ifindex, struct in_addr *addrs, unsigned char *plens,
		   size_t *naddrs, size_t maxaddrs)
{
	static uint32_t seq;
	char buf[16384];
	q->h.nlmsg_seq = ++seq;
	if (send(fd, q, q->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != q->h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (h->nlmsg_type == RTM_NEWADDR && addrs) {
				struct ifaddrmsg *ifa = NLMSG_DATA(h);
				if (ifa->ifa_family != AF_INET || (int)ifa->ifa_index != ifindex)
					continue;
				int len = (int)IFA_PAYLOAD(h);
				for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
					if (a->rta_type == IFA_LOCAL && *naddrs < maxaddrs &&
					    RTA_PAYLOAD(a) == 4) {
						memcpy(&addrs[*naddrs], RTA_DATA(a), 4);
						plens[(*naddrs)++] = ifa->ifa_prefixlen;
					}
			}
		}
	}
}

/* The MAC (mac, may be NULL: left as it is; set while the link is down,
 * as a restore leaves eth0), then, when addr or gw is set, the address,
 * the link up and the default route. */
/* An RTM_NEWLINK request for the link ifindex, to change its attributes or flags. */
static void link_req(struct nlreq *q, int ifindex)
{
	memset(q, 0, sizeof(*q));
	q->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	q->h.nlmsg_type = RTM_NEWLINK;
	q->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	q->u.i.ifi_family = AF_UNSPEC;
	q->u.i.ifi_index = ifindex;
}

static int net_apply(const char *iface, const char *mac, const char *addr, const char *gw,
		     struct berr *err)
{
	struct in_addr a = { 0 }, g = { 0 };
	uint8_t m[6];
	unsigned plen = 0;
	if (mac && !mac_parse(mac, m))
		return berr_set(err, EINVAL, "MAC \"%s\" is not a unicast xx:xx:xx:xx:xx:xx", mac);
	if (addr && !cidr_parse(addr, &a, &plen))
		return berr_set(err, EINVAL, "address \"%s\" is not IPv4 A.B.C.D/N", addr);
	if (gw && inet_pton(AF_INET, gw, &g) != 1)
		return berr_set(err, EINVAL, "gateway \"%s\" is not an IPv4 address", gw);
	int ifindex = (int)if_nametoindex(iface);
	if (ifindex == 0)
		return berr_set(err, ENODEV, "no network interface %s", iface);

	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return berr_set(err, errno, "cannot open a netlink socket: %s", strerror(errno));
	struct nlreq q;
	int r;

	if (mac) {
		link_req(&q, ifindex);
		nl_attr(&q, IFLA_ADDRESS, m, sizeof(m));
		r = nl_talk(fd, &q, 0, NULL, NULL, NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "cannot set the MAC of %s to %s: %s", iface, mac,
					strerror(-r));
	}
	if (!addr && !gw)
		return 0;

	if (addr) {
		struct in_addr old[32];
		unsigned char oldp[32];
		size_t nold = 0;
		memset(&q, 0, sizeof(q));
		q.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
		q.h.nlmsg_type = RTM_GETADDR;
		q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		q.u.a.ifa_family = AF_INET;
		r = nl_talk(fd, &q, ifindex, old, oldp, &nold, 32);
		if (r < 0)
			return berr_set(err, -r, "cannot list the addresses of %s: %s", iface, strerror(-r));
		for (size_t i = 0; i < nold; i++) {
			if (old[i].s_addr == a.s_addr && oldp[i] == plen)
				continue;
			memset(&q, 0, sizeof(q));
			q.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
			q.h.nlmsg_type = RTM_DELADDR;
			q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			q.u.a.ifa_family = AF_INET;
			q.u.a.ifa_prefixlen = oldp[i];
			q.u.a.ifa_index = (unsigned)ifindex;
			nl_attr(&q, IFA_LOCAL, &old[i], 4);
			r = nl_talk(fd, &q, 0, NULL, NULL, NULL, 0);
			if (r < 0 && r != -EADDRNOTAVAIL)
				return berr_set(err, -r, "cannot remove the old address of %s: %s", iface,
						strerror(-r));
		}
		memset(&q, 0, sizeof(q));
		q.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
		q.h.nlmsg_type = RTM_NEWADDR;
		q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
		q.u.a.ifa_family = AF_INET;
		q.u.a.ifa_prefixlen = (unsigned char)plen;
		q.u.a.ifa_index = (unsigned)ifindex;
		nl_attr(&q, IFA_LOCAL, &a, 4);
		nl_attr(&q, IFA_ADDRESS, &a, 4);
		if (plen < 31) {
			struct in_addr bc = { .s_addr = a.s_addr | htonl(0xffffffffu >> plen) };
			nl_attr(&q, IFA_BROADCAST, &bc, 4);
		}
		r = nl_talk(fd, &q, 0, NULL, NULL, NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "cannot set address %s on %s: %s", addr, iface, strerror(-r));
	}

	link_req(&q, ifindex);
	q.u.i.ifi_flags = IFF_UP;
	q.u.i.ifi_change = IFF_UP;
	r = nl_talk(fd, &q, 0, NULL, NULL, NULL, 0);
	if (r < 0)
		return berr_set(err, -r, "cannot bring %s up: %s", iface, strerror(-r));

	if (gw) {
		memset(&q, 0, sizeof(q));
		q.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
		q.h.nlmsg_type = RTM_NEWROUTE;
		q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
		q.u.r.rtm_family = AF_INET;
		q.u.r.rtm_table = RT_TABLE_MAIN;
		q.u.r.rtm_protocol = RTPROT_STATIC;
		q.u.r.rtm_scope = RT_SCOPE_UNIVERSE;
		q.u.r.rtm_type = RTN_UNICAST;
		nl_attr(&q, RTA_GATEWAY, &g, 4);
		uint32_t oif = (uint32_t)ifindex;
		nl_attr(&q, RTA_OIF, &oif, 4);
		r = nl_talk(fd, &q, 0, NULL, NULL, NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "cannot set the default route via %s: %s", gw, strerror(-r));
	}
	return 0;
}

/* ---- a mount from /etc/fstab ---- */

struct fsent {
	char *dev, *dir, *type;
	struct sbuf data; /* the options mount(2) passes to the filesystem */
	unsigned long flags;
	bool nofail;
};

static void fsent_free(struct fsent *f)
{
	free(f->dev);
	free(f->dir);
	free(f->type);
	sbuf_free(&f->data);
}

/* fstab options as mount(8) reads them: flags, options for mount(8) alone
 * (dropped), the rest for the filesystem. */
static void fs_options(const char *opts, struct fsent *f)
{
	static const struct {
		const char *name;
		unsigned long set, clear;
	} flags[] = {
		{ "defaults", 0, 0 },
		{ "rw", 0, MS_RDONLY },		{ "ro", MS_RDONLY, 0 },
		{ "suid", 0, MS_NOSUID },	{ "nosuid", MS_NOSUID, 0 },
		{ "dev", 0, MS_NODEV },		{ "nodev", MS_NODEV, 0 },
		{ "exec", 0, MS_NOEXEC },	{ "noexec", MS_NOEXEC, 0 },
		{ "async", 0, MS_SYNCHRONOUS }, { "sync", MS_SYNCHRONOUS, 0 },
		{ "dirsync", MS_DIRSYNC, 0 },
		{ "atime", 0, MS_NOATIME },	{ "noatime", MS_NOATIME, 0 },
		{ "diratime", 0, MS_NODIRATIME }, { "nodiratime", MS_NODIRATIME, 0 },
		{ "relatime", MS_RELATIME, 0 }, { "norelatime", 0, MS_RELATIME },
		{ "strictatime", MS_STRICTATIME, 0 },
		{ "lazytime", MS_LAZYTIME, 0 }, { "nolazytime", 0, MS_LAZYTIME },
		{ "mand", MS_MANDLOCK, 0 },	{ "nomand", 0, MS_MANDLOCK },
		{ "silent", MS_SILENT, 0 },	{ "loud", 0, MS_SILENT },
	};
	static const char *const userspace[] = { "auto", "noauto", "user", "nouser", "users",
						  "owner", "group", "_netdev", "nofail" };
	_cleanup_free_ char *copy = xstrdup(opts);
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(flags) && !known; i++)
			if (strcmp(o, flags[i].name) == 0) {
				f->flags = (f->flags | flags[i].set) & ~flags[i].clear;
				known = true;
			}
		for (size_t i = 0; i < ARRAY_SIZE(userspace) && !known; i++)
			known = strcmp(o, userspace[i]) == 0;
		if (strcmp(o, "nofail") == 0)
			f->nofail = true;
		if (known || strncmp(o, "x-", 2) == 0 || strncmp(o, "comment=", 8) == 0)
			continue;
		if (f->data.len)
			sbuf_add(&f->data, ",", 1);
		sbuf_puts(&f->data, o);
	}
}

/* The /etc/fstab entry of mount point dir. */
static int fstab_find(const struct agent_opts *o, const char *dir, struct fsent *ret, struct berr *err)
{
	_cleanup_free_ char *p = agent_path(o, "/etc/fstab");
	FILE *fp = setmntent(p, "re");
	struct mntent *m;
	if (!fp)
		return berr_set(err, errno, "cannot read /etc/fstab: %s", strerror(errno));
	while ((m = getmntent(fp)))
		if (strcmp(m->mnt_dir, dir) == 0)
			break;
	if (m) {
		memset(ret, 0, sizeof(*ret));
		ret->dev = xstrdup(m->mnt_fsname);
		ret->dir = agent_path(o, dir);
		ret->type = xstrdup(m->mnt_type);
		sbuf_init(&ret->data);
		sbuf_puts(&ret->data, "");
		fs_options(m->mnt_opts, ret);
	}
	endmntent(fp);
	if (!m)
		return berr_set(err, ENOENT, "/etc/fstab has no entry for %s", dir);
	struct stat st;
	if (stat(ret->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fsent_free(ret);
		return berr_set(err, ENOTDIR, "mount point %s is not a directory", dir);
	}
	return 0;
}

/* mount(2) what fstab says; a missing device with nofail is no error,
 * as for mount(8). */
static int fs_mount(const struct fsent *f, const char *dir, struct berr *err)
{
	if (mount(f->dev, f->dir, f->type, f->flags, f->data.len ? f->data.buf : NULL) == 0)
		return 0;
	int e = errno;
	if (e == ENOENT && f->nofail) {
		agent_log("%s: %s is missing (nofail): not mounted", dir, f->dev);
		return 0;
	}
	return berr_set(err, e, "cannot mount %s on %s: %s", f->dev, dir, strerror(e));
}

/* ---- files ---- */

static int write_guest_file(const struct agent_opts *o, const char *path, const char *text,
			    mode_t mode, struct berr *err)
{
	_cleanup_free_ char *p = agent_path(o, path);
	int r = write_file_atomic(p, text, strlen(text), mode);
	if (r < 0)
		return berr_set(err, -r, "cannot write %s: %s", path, strerror(-r));
	return 0;
}

/* /etc/hosts with the 127.0.1.1 line naming host (added when missing). */
static int hosts_update(const struct agent_opts *o, const char *host, struct berr *err)
{
	_cleanup_free_ char *p = agent_path(o, "/etc/hosts");
	_cleanup_free_ char *old = NULL;
	size_t len = 0;
	struct sbuf s;
	bool done = false;
	int r = read_file(p, 1 << 20, &old, &len);
	if (r < 0 && r != -ENOENT)
		return berr_set(err, -r, "cannot read /etc/hosts: %s", strerror(-r));
	sbuf_init(&s);
	if (r == 0) {
		char *save = NULL;
		for (char *l = strtok_r(old, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			if (strncmp(l, "127.0.1.1", 9) == 0 && (l[9] == ' ' || l[9] == '\t')) {
				if (!done)
					sbuf_printf(&s, "127.0.1.1\t%s\n", host);
				done = true;
				continue;
			}
			sbuf_printf(&s, "%s\n", l);
		}
	} else {
		sbuf_puts(&s, "127.0.0.1\tlocalhost\n");
	}
	if (!done)
		sbuf_printf(&s, "127.0.1.1\t%s\n", host);
	r = write_guest_file(o, "/etc/hosts", s.buf, 0644, err);
	sbuf_free(&s);
	return r;
}

int agent_sys_ident(const struct agent_opts *o, const struct agent_frame *fr, struct berr *err)
{
	const char *host = NULL, *iface = "eth0", *addr = NULL, *gw = NULL, *dns = NULL, *mid = NULL;
	const char *mac = NULL, *mnt = NULL;
	struct fsent fs = { 0 };
	bool have_fs = false;
	struct sbuf resolv;
	int r = 0;

	for (size_t i = 0; i < fr->nf; i++) {
		const char *k = fr->f[i].s, *v = fr->f[i].val;
		if (strcmp(k, "hostname") == 0)
			host = v;
		else if (strcmp(k, "iface") == 0)
			iface = v;
		else if (strcmp(k, "addr") == 0)
			addr = v;
		else if (strcmp(k, "gw") == 0)
			gw = v;
		else if (strcmp(k, "dns") == 0)
			dns = v;
		else if (strcmp(k, "machine_id") == 0)
			mid = v;
		else if (strcmp(k, "mac") == 0)
			mac = v;
		else if (strcmp(k, "mount") == 0)
			mnt = v;
	}
	/* Check everything first. */
	if (host && !hostname_ok(host))
		return berr_set(err, EINVAL, "hostname \"%s\" is not a DNS label (a-z, 0-9, '-', 1..63)", host);
	if (!ifname_ok(iface))
		return berr_set(err, EINVAL, "\"%s\" is not an interface name", iface);
	if (mid && !machine_id_ok(mid))
		return berr_set(err, EINVAL, "machine-id must be 32 lowercase hex digits, not all zero");
	struct in_addr tmp;
	unsigned plen;
	if (addr && !cidr_parse(addr, &tmp, &plen))
		return berr_set(err, EINVAL, "address \"%s\" is not IPv4 A.B.C.D/N", addr);
	if (gw && inet_pton(AF_INET, gw, &tmp) != 1)
		return berr_set(err, EINVAL, "gateway \"%s\" is not an IPv4 address", gw);
	uint8_t m[6];
	if (mac && !mac_parse(mac, m))
		return berr_set(err, EINVAL, "MAC \"%s\" is not a unicast xx:xx:xx:xx:xx:xx", mac);
	if (mnt && mnt[0] != '/')
		return berr_set(err, EINVAL, "mount point \"%s\" is not an absolute path", mnt);
	if ((mac || addr || gw) && if_nametoindex(iface) == 0)
		return berr_set(err, ENODEV, "no network interface %s", iface);
	if (mnt && (r = fstab_find(o, mnt, &fs, err)) < 0)
		return r;
	have_fs = mnt != NULL;
	sbuf_init(&resolv);
	if (dns && (r = dns_text(dns, &resolv, err)) < 0)
		goto out;
	if (dns) {
		_cleanup_free_ char *p = agent_path(o, "/etc/resolv.conf");
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) {
			r = berr_set(err, EEXIST,
				     "/etc/resolv.conf is a symlink (systemd-resolved?): not replaced");
			goto out;
		}
	}

	if (host) {
		if (sethostname(host, strlen(host)) < 0) {
			r = berr_set(err, errno, "cannot set the hostname: %s", strerror(errno));
			goto out;
		}
		char line[80];
		snprintf(line, sizeof(line), "%s\n", host);
		if ((r = write_guest_file(o, "/etc/hostname", line, 0644, err)) < 0 ||
		    (r = hosts_update(o, host, err)) < 0)
			goto out;
	}
	if (mid) {
		char line[40];
		snprintf(line, sizeof(line), "%s\n", mid);
		if ((r = write_guest_file(o, "/etc/machine-id", line, 0444, err)) < 0)
			goto out;
	}
	if (dns && (r = write_guest_file(o, "/etc/resolv.conf", resolv.buf, 0644, err)) < 0)
		goto out;
	if ((mac || addr || gw) && (r = net_apply(iface, mac, addr, gw, err)) < 0)
		goto out;
	if (have_fs)
		r = fs_mount(&fs, mnt, err);
out:
	if (have_fs)
		fsent_free(&fs);
	sbuf_free(&resolv);
	return r;
}

/* ---- clock, rng, shutdown ---- */

static int refuse_test(const struct agent_opts *o, const char *what, struct berr *err)
{
	if (o->test)
		return berr_set(err, EPERM, "%s is disabled: the agent runs with --test-root", what);
	return 0;
}

int agent_sys_clock(const struct agent_opts *o, uint64_t sec, uint64_t nsec, struct berr *err)
{
	int r = refuse_test(o, "setting the clock", err);
	if (r < 0)
		return r;
	struct timespec ts = { .tv_sec = (time_t)sec, .tv_nsec = (long)nsec };
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return berr_set(err, errno, "cannot set the clock: %s", strerror(errno));
	return 0;
}

int agent_sys_rng(const struct agent_opts *o, const void *seed, size_t n, struct berr *err)
{
	int r = refuse_test(o, "reseeding the RNG", err);
	if (r < 0)
		return r;
	struct {
		struct rand_pool_info info;
		uint8_t buf[AGENT_RNG_MAX];
	} p;
	if (n > sizeof(p.buf))
		return berr_set(err, EINVAL, "too many seed bytes");
	_cleanup_close_ int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "cannot open /dev/random: %s", strerror(errno));
	p.info.entropy_count = (int)(n * 8);
	p.info.buf_size = (int)n;
	memcpy(p.buf, seed, n);
	if (ioctl(fd, RNDADDENTROPY, &p) < 0)
		return berr_set(err, errno, "cannot add entropy (RNDADDENTROPY): %s", strerror(errno));
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		return berr_set(err, errno, "cannot reseed the CRNG (RNDRESEEDCRNG): %s", strerror(errno));
	return 0;
}

int agent_sys_shutdown_check(const struct agent_opts *o, struct berr *err)
{
	return refuse_test(o, "shutdown", err);
}

void agent_sys_shutdown(bool reboot_, bool force)
{
	if (!force) {
		char comm[32] = "";
		_cleanup_free_ char *text = NULL;
		size_t len;
		if (read_file("/proc/1/comm", sizeof(comm), &text, &len) == 0) {
			text[strcspn(text, "\n")] = '\0';
			if (strcmp(text, "systemd") == 0) {
				/* systemd: SIGRTMIN+4 poweroff.target, +5 reboot.target,
				 * with glibc's SIGRTMIN (34); musl's is 35, so the
				 * kernel numbers are written out */
				kill(1, reboot_ ? 34 + 5 : 34 + 4);
				return;
			}
			if (strcmp(text, "init") == 0 || strcmp(text, "busybox") == 0) {
				/* busybox init: SIGUSR2 poweroff, SIGTERM reboot */
				kill(1, reboot_ ? SIGTERM : SIGUSR2);
				return;
			}
		}
		agent_log("init is not systemd or busybox: forcing the %s", reboot_ ? "reboot" : "poweroff");
	}
	sync();
	reboot(reboot_ ? RB_AUTOBOOT : RB_POWER_OFF);
	agent_log("reboot(2) failed: %s", strerror(errno));
}
