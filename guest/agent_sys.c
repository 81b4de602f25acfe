/* guest/agent_sys.c: the bottom of the agent: its log, guest paths under
 * --test-root, and the operations that change the guest.
 *
 *   ident     hostname (sethostname + /etc/hostname + /etc/hosts), machine-id,
 *             DNS (/etc/resolv.conf), IPv4 address and default route (netlink)
 *   hostkey   a new ed25519 key made by the guest's ssh-keygen, installed
 *             as sshd's host key; sshd is told to reload (SIGHUP)
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
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYGEN_TIMEOUT_MS 30000

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

static int net_apply(const char *iface, const char *addr, const char *gw, struct berr *err)
{
	struct in_addr a = { 0 }, g = { 0 };
	unsigned plen = 0;
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

	memset(&q, 0, sizeof(q));
	q.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	q.h.nlmsg_type = RTM_NEWLINK;
	q.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	q.u.i.ifi_family = AF_UNSPEC;
	q.u.i.ifi_index = ifindex;
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
	if (addr || gw)
		r = net_apply(iface, addr, gw, err);
out:
	sbuf_free(&resolv);
	return r;
}

/* ---- host key ---- */

/* Run argv with stdin from /dev/null; its output (bounded) goes to *out. */
static int run_wait(char *const argv[], int timeout_ms, struct sbuf *out, int *ret_status,
		    struct berr *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set(err, errno, "cannot make a pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return berr_set(err, errno, "cannot fork: %s", strerror(errno));
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		static char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
		environ = (char **)env;
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	int64_t end = mono_ms() + timeout_ms;
	char buf[512];
	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left = end - mono_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(p[0]);
			return berr_set(err, ETIMEDOUT, "%s did not finish within %d s", argv[0],
					timeout_ms / 1000);
		}
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len < 4096)
			sbuf_add(out, buf, (size_t)n);
	}
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*ret_status = st;
	return 0;
}

int agent_sys_hostkey(const struct agent_opts *o, char **ret_pub, struct berr *err)
{
	_cleanup_free_ char *dir = agent_path(o, "/etc/ssh");
	_cleanup_free_ char *tmpl = NULL, *key = NULL, *keypub = NULL, *pub = NULL;
	_cleanup_free_ char *dst = NULL, *dstpub = NULL;
	struct sbuf out;
	size_t len;
	int st = 0, r;

	r = mkdir_p(dir, 0755);
	if (r < 0)
		return berr_set(err, -r, "cannot create /etc/ssh: %s", strerror(-r));
	tmpl = xasprintf("%s/.banger-hostkey.XXXXXX", dir);
	if (!mkdtemp(tmpl))
		return berr_set(err, errno, "cannot make a directory in /etc/ssh: %s", strerror(errno));
	key = xasprintf("%s/key", tmpl);
	keypub = xasprintf("%s/key.pub", tmpl);
	char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key, NULL };
	sbuf_init(&out);
	r = run_wait(argv, KEYGEN_TIMEOUT_MS, &out, &st, err);
	if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		while (out.len && (out.buf[out.len - 1] == '\n' || out.buf[out.len - 1] == '\r'))
			out.buf[--out.len] = '\0';
		r = berr_set(err, EIO, "ssh-keygen failed: %s", out.len ? out.buf : "no output");
	}
	sbuf_free(&out);
	if (r == 0) {
		r = read_file(keypub, 4096, &pub, &len);
		if (r < 0)
			r = berr_set(err, -r, "cannot read the new public key: %s", strerror(-r));
	}
	if (r == 0) {
		/* "ssh-ed25519 AAAA... [comment]": keep type and key only. */
		char *sp = strchr(pub, ' ');
		char *end = sp ? strpbrk(sp + 1, " \n\r") : NULL;
		if (!sp || strncmp(pub, "ssh-ed25519 ", 12) != 0)
			r = berr_set(err, EIO, "ssh-keygen wrote an unexpected public key");
		else if (end)
			*end = '\0';
	}
	if (r == 0) {
		dst = xasprintf("%s/ssh_host_ed25519_key", dir);
		dstpub = xasprintf("%s/ssh_host_ed25519_key.pub", dir);
		if (rename(key, dst) < 0 || rename(keypub, dstpub) < 0)
			r = berr_set(err, errno, "cannot install the host key: %s", strerror(errno));
	}
	unlink(key);
	unlink(keypub);
	rmdir(tmpl);
	if (r < 0)
		return r;

	/* A running sshd re-executes itself on SIGHUP and loads the new key. */
	_cleanup_free_ char *pidf = agent_path(o, "/run/sshd.pid");
	_cleanup_free_ char *pidtxt = NULL;
	uint64_t pid;
	if (read_file(pidf, 64, &pidtxt, &len) == 0) {
		pidtxt[strcspn(pidtxt, "\n")] = '\0';
		char comm[64] = "";
		_cleanup_free_ char *cpath = NULL, *ctext = NULL;
		if (parse_u64(pidtxt, &pid) == 0 && pid > 1 && pid < INT32_MAX) {
			cpath = xasprintf("/proc/%llu/comm", (unsigned long long)pid);
			if (read_file(cpath, sizeof(comm), &ctext, &len) == 0 && strncmp(ctext, "sshd", 4) == 0)
				kill((pid_t)pid, SIGHUP);
		}
	}
	*ret_pub = TAKE_PTR(pub);
	return 0;
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
