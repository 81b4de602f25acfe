/* Unit tests: helper/net.c and helper/nat.c.
 *
 * Needs root.  main() moves the whole process into a private network
 * namespace (and a private mount namespace, to mount a sysfs that shows
 * that network namespace) before any test runs: every bridge, tap, address,
 * nftables table and packet below lives in namespaces this process created
 * and that die with it.  The root namespace never sees a private address;
 * the last test checks that.  Addresses used: 172.30.99.0/24 (the guest
 * subnet) and 198.51.100.0/24 (TEST-NET-2, the pretend upstream). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "net.h"
#include "util.h"

extern char **environ;

#define BR "br-t"
#define GW_CIDR "172.30.99.1/24"
#define SUBNET "172.30.99.0/24"
#define GUEST_IP "172.30.99.2"
#define UP_HOST_IP "198.51.100.1"
#define UP_PEER_IP "198.51.100.2"
#define NOBODY 65534

/* A call that must succeed; on failure, say why. */
#define OK(call)                                                                   \
	do {                                                                       \
		int r_ = (call);                                                   \
		if (r_ != 0)                                                       \
			fail_msg("%s returned %d: %s", #call, r_, err.msg);        \
	} while (0)

static int orig_ns = -1; /* the namespace we were started in: only looked at */
static int host_ns = -1; /* the private namespace playing the host */

/* ---- helpers ---- */

/* Run argv (PATH lookup) and return its exit status, or -1.  With out,
 * stdout is captured into *out (caller frees); stderr goes to ours. */
static int run_capture(const char *const argv[], char **out)
{
	posix_spawn_file_actions_t fa;
	int pfd[2] = { -1, -1 }, status = -1;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		return -1;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	char buf[4096];
	ssize_t n;
	while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
		sbuf_add(&sb, buf, (size_t)n);
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out)
		*out = sbuf_steal(&sb);
	else
		sbuf_free(&sb);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(const char *const argv[])
{
	return run_capture(argv, NULL);
}

#define RUN(...) run((const char *const[]){ __VA_ARGS__, NULL })
#define RUN_OUT(out, ...) run_capture((const char *const[]){ __VA_ARGS__, NULL }, out)

static void enter(int ns)
{
	if (setns(ns, CLONE_NEWNET) < 0)
		fail_msg("setns: %s", strerror(errno));
}

/* A fresh network namespace, returned as an fd; we stay in host_ns. */
static int netns_new(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	enter(host_ns);
	return fd;
}

/* Run a command inside namespace ns. */
static int run_in(int ns, const char *const argv[])
{
	enter(ns);
	int r = run(argv);
	enter(host_ns);
	return r;
}
#define RUN_IN(ns, ...) run_in(ns, (const char *const[]){ __VA_ARGS__, NULL })

static char *ns_path(int fd)
{
	return xasprintf("/proc/%d/fd/%d", (int)getpid(), fd);
}

/* A TCP socket that belongs to namespace ns. */
static int socket_in(int ns)
{
	enter(ns);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	enter(host_ns);
	assert_true(s >= 0);
	return s;
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

/* Listen on ip:<any port> in ns; returns the fd and the port. */
static int listen_in(int ns, const char *ip, uint16_t *port)
{
	int s = socket_in(ns);
	struct sockaddr_in a = sin_of(ip, 0);
	socklen_t len = sizeof(a);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

/* Connect from ns to ip:port within timeout_ms; 0 or a positive errno. */
static int connect_from(int ns, const char *ip, uint16_t port, int timeout_ms, int *ret_fd)
{
	int s = socket_in(ns);
	struct sockaddr_in a = sin_of(ip, port);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(s);
		return e;
	}
	struct pollfd p = { .fd = s, .events = POLLOUT };
	int r = poll(&p, 1, timeout_ms);
	int e = ETIMEDOUT;
	socklen_t el = sizeof(e);
	if (r == 1)
		assert_int_equal(getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el), 0);
	if (e == 0)
		*ret_fd = s;
	else
		close(s);
	return e;
}

/* Accept one connection (waiting up to 2 s); returns the peer's address. */
static void accept_peer(int ls, char out[INET_ADDRSTRLEN])
{
	struct pollfd p = { .fd = ls, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int c = accept4(ls, (struct sockaddr *)&a, &len, SOCK_CLOEXEC);
	assert_true(c >= 0);
	close(c);
	assert_non_null(inet_ntop(AF_INET, &a.sin_addr, out, INET_ADDRSTRLEN));
}

static char *sysfs_read(const char *ifname, const char *attr)
{
	_cleanup_free_ char *path = xasprintf("/sys/class/net/%s/%s", ifname, attr);
	char *s = NULL;
	size_t len;
	if (read_file(path, 4096, &s, &len) < 0)
		return NULL;
	while (len && s[len - 1] == '\n')
		s[--len] = '\0';
	return s;
}

static bool if_exists(const char *ifname)
{
	_cleanup_free_ char *path = xasprintf("/sys/class/net/%s", ifname);
	return access(path, F_OK) == 0;
}

static bool if_up(const char *ifname)
{
	_cleanup_free_ char *f = sysfs_read(ifname, "flags");
	uint64_t v;
	assert_non_null(f);
	assert_true(strncmp(f, "0x", 2) == 0);
	v = strtoull(f + 2, NULL, 16);
	return v & IFF_UP;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* In a child with the given uid: open the tap as QEMU/Firecracker do
 * (IFF_VNET_HDR included).  Returns 0 or the errno the child saw. */
static int attach_as(uid_t uid, const char *tap)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(100);
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(101);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		if (ioctl(fd, TUNSETIFF, &ifr) < 0)
			_exit(errno & 0x7f);
		int hdr = 12; /* virtio_net_hdr_v1, as Firecracker sets it */
		if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0)
			_exit(102);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- pure functions ---- */

static void test_name_validate(void **state)
{
	struct berr err = { 0 };
	(void)state;
	const char *ok[] = { "a", "br-fc", "bn-1", "a.b_c-D", "abcdefghijklmno", "..." };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		OK(net_name_validate(ok[i], NULL, &err));
	OK(net_name_validate("bn-0001f3", NET_TAP_PREFIX, &err));

	assert_int_equal(net_name_validate(NULL, NULL, &err), -EINVAL);
	assert_int_equal(net_name_validate("", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(net_name_validate("abcdefghijklmnop", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "15"));
	assert_int_equal(net_name_validate(".", NULL, &err), -EINVAL);
	assert_int_equal(net_name_validate("..", NULL, &err), -EINVAL);
	const char *bad[] = { "a/b", "a b", "a\nb", "tap%d", "br\"x", "a:b", "\xc3\xa9" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(net_name_validate(bad[i], NULL, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "letters"));
		assert_null(strchr(err.msg, '\n'));
	}
	assert_int_equal(net_name_validate("eth0", NET_TAP_PREFIX, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "\"bn-\""));
	assert_int_equal(net_name_validate("bn", NET_TAP_PREFIX, &err), -EINVAL);
	OK(net_name_validate("bn-", NET_TAP_PREFIX, &err));
}

static void test_subnet_parse(void **state)
{
	struct berr err = { 0 };
	uint32_t gw = 0, net = 0, addr;
	int prefix = 0;
	(void)state;

	OK(net_subnet_parse("172.16.0.1/24", &gw, &net, &prefix, &err));
	assert_int_equal(gw, 0xac100001);
	assert_int_equal(net, 0xac100000);
	assert_int_equal(prefix, 24);
	OK(net_subnet_parse("10.1.2.254/16", &gw, &net, &prefix, &err));
	assert_int_equal(net, 0x0a010000);
	assert_int_equal(gw, 0x0a0102fe);
	OK(net_subnet_parse("192.168.7.5/30", &gw, &net, &prefix, &err));
	assert_int_equal(net, 0xc0a80704);
	assert_int_equal(prefix, 30);

	assert_int_equal(net_subnet_parse("172.16.0.0/24", &gw, &net, &prefix, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "network address"));
	assert_int_equal(net_subnet_parse("172.16.0.255/24", &gw, &net, &prefix, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "broadcast address"));
	assert_int_equal(net_subnet_parse("172.16.0.1/31", &gw, &net, &prefix, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "between 16 and 30"));
	assert_int_equal(net_subnet_parse("172.16.0.1/15", &gw, &net, &prefix, &err), -EINVAL);
	const char *bad[] = { "", "172.16.0.1", "172.16.0.1/", "172.16.0.1/33", "172.16.0.01/24",
			      "256.16.0.1/24", "172.16.0.1/24x", " 172.16.0.1/24", "+172.16.0.1/24",
			      "172.16.0/24", "172.16.0.1.2/24", "172.16.0.1/024", "1722.16.0.1/24",
			      "172.16.0.1/-1", "a.b.c.d/24", "172.16.0.1 /24" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(net_subnet_parse(bad[i], &gw, &net, &prefix, &err), -EINVAL);
	assert_int_equal(net_subnet_parse(NULL, &gw, &net, &prefix, &err), -EINVAL);
	/* The plain parser takes the network form too (NAT uses it). */
	OK(net_cidr_parse("172.16.0.0/24", &addr, &prefix, &err));
	assert_int_equal(addr, 0xac100000);
}

static void test_addr_for_index(void **state)
{
	uint32_t net = 0xac100000, a = 0; /* 172.16.0.0 */
	char s[16];
	(void)state;

	assert_int_equal(net_guest_capacity(24), 253);
	assert_int_equal(net_guest_capacity(30), 1);
	assert_int_equal(net_guest_capacity(16), 65533);
	assert_int_equal(net_guest_capacity(31), 0);

	assert_int_equal(net_addr_for_index(net, 24, 0, &a), 0);
	net_addr_str(a, s);
	assert_string_equal(s, "172.16.0.2");
	assert_int_equal(net_addr_for_index(net, 24, 252, &a), 0);
	net_addr_str(a, s);
	assert_string_equal(s, "172.16.0.254");
	assert_int_equal(net_addr_for_index(net, 24, 253, &a), -ERANGE);
	assert_int_equal(net_addr_for_index(net, 24, 0xffffffffu, &a), -ERANGE);
	/* Every address of a /24: never network, gateway or broadcast, no repeats. */
	for (unsigned i = 0; i < 253; i++) {
		assert_int_equal(net_addr_for_index(net, 24, i, &a), 0);
		assert_int_equal(a, net + 2 + i);
	}
	/* /30: exactly one guest. */
	assert_int_equal(net_addr_for_index(0xc0a80704, 30, 0, &a), 0);
	net_addr_str(a, s);
	assert_string_equal(s, "192.168.7.6");
	assert_int_equal(net_addr_for_index(0xc0a80704, 30, 1, &a), -ERANGE);
	/* /16: the last one is .255.254. */
	assert_int_equal(net_addr_for_index(0x0a000000, 16, 65532, &a), 0);
	net_addr_str(a, s);
	assert_string_equal(s, "10.0.255.254");
	assert_int_equal(net_addr_for_index(0x0a000000, 16, 65533, &a), -ERANGE);
	/* Gateway elsewhere: skipped wherever it is. */
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 254, 0, &a), 0);
	assert_int_equal(a, net + 1);
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 254, 252, &a), 0);
	assert_int_equal(a, net + 253);
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 10, 8, &a), 0);
	assert_int_equal(a, net + 9);
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 10, 9, &a), 0);
	assert_int_equal(a, net + 11);
	assert_int_equal(net_addr_for_index_gw(0xc0a80704, 30, 0xc0a80706, 0, &a), 0);
	assert_int_equal(a, 0xc0a80705);
	/* Bad input. */
	assert_int_equal(net_addr_for_index(net + 1, 24, 0, &a), -EINVAL); /* not aligned */
	assert_int_equal(net_addr_for_index(net, 31, 0, &a), -EINVAL);
	assert_int_equal(net_addr_for_index(net, 8, 0, &a), -EINVAL);
	assert_int_equal(net_addr_for_index_gw(net, 24, net, 0, &a), -EINVAL);
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 255, 0, &a), -EINVAL);
	assert_int_equal(net_addr_for_index_gw(net, 24, net + 256, 0, &a), -EINVAL);
}

static void test_mac_and_str(void **state)
{
	char mac[18], s[16];
	(void)state;

	net_mac_for_addr(0xac100002, mac);
	assert_string_equal(mac, "06:00:ac:10:00:02");
	net_mac_for_addr(0xffffffff, mac);
	assert_string_equal(mac, "06:00:ff:ff:ff:ff");
	/* Locally administered (bit 1), unicast (bit 0 clear). */
	assert_int_equal(strtoul(mac, NULL, 16) & 3, 2);
	net_addr_str(0, s);
	assert_string_equal(s, "0.0.0.0");
	net_addr_str(0xffffffff, s);
	assert_string_equal(s, "255.255.255.255");
	net_addr_str(0x0a000102, s);
	assert_string_equal(s, "10.0.1.2");
}

/* ---- bridge ---- */

static void test_bridge_ensure(void **state)
{
	struct berr err = { 0 };
	_cleanup_free_ char *out = NULL;
	(void)state;

	assert_false(if_exists(BR));
	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	assert_true(if_exists(BR "/bridge"));
	assert_true(if_up(BR));
	assert_int_equal(RUN_OUT(&out, "ip", "-o", "-4", "addr", "show", "dev", BR), 0);
	assert_int_equal(count(out, "inet "), 1);
	assert_non_null(strstr(out, "inet 172.30.99.1/24 brd 172.30.99.255 "));

	/* A second address is added next to the first (add if missing). */
	OK(net_bridge_ensure(BR, "172.30.98.1/24", &err));
	free(out);
	assert_int_equal(RUN_OUT(&out, "ip", "-o", "-4", "addr", "show", "dev", BR), 0);
	assert_int_equal(count(out, "inet "), 2);
	assert_int_equal(RUN("ip", "addr", "del", "172.30.98.1/24", "dev", BR), 0);

	/* A daemon restart finds the bridge down: ensure brings it back up. */
	assert_int_equal(RUN("ip", "link", "set", BR, "down"), 0);
	assert_false(if_up(BR));
	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	assert_true(if_up(BR));

	/* Refusals. */
	assert_int_equal(net_bridge_ensure("lo", GW_CIDR, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a bridge"));
	free(out);
	assert_int_equal(RUN_OUT(&out, "ip", "-o", "-4", "addr", "show", "dev", "lo"), 0);
	assert_null(strstr(out, "172.30"));
	assert_int_equal(net_bridge_ensure(BR, "172.30.99.0/24", &err), -EINVAL);
	assert_int_equal(net_bridge_ensure("br/x", GW_CIDR, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "setting up bridge"));
	/* The bridge stays for the next tests. */
}

/* ---- taps ---- */

static void test_tap_create_delete(void **state)
{
	struct berr err = { 0 };
	(void)state;

	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	OK(net_tap_create("bn-t1", BR, NOBODY, &err));
	OK(net_tap_create("bn-t1", BR, NOBODY, &err));
	_cleanup_free_ char *owner = sysfs_read("bn-t1", "owner");
	assert_non_null(owner);
	assert_string_equal(owner, "65534");
	_cleanup_free_ char *tf = sysfs_read("bn-t1", "tun_flags");
	assert_non_null(tf);
	assert_true(strtoul(tf, NULL, 16) & IFF_TAP);
	assert_true(if_exists(BR "/brif/bn-t1"));
	assert_true(if_up("bn-t1"));

	/* The owner opens it without privilege, as the VMMs do (with
	 * IFF_VNET_HDR, although the tap was created without it). */
	assert_int_equal(attach_as(NOBODY, "bn-t1"), 0);
	assert_int_equal(attach_as(NOBODY - 1, "bn-t1"), EPERM);

	/* A different owner is applied while nobody has the tap open... */
	OK(net_tap_create("bn-t1", BR, NOBODY - 1, &err));
	free(owner);
	owner = sysfs_read("bn-t1", "owner");
	assert_string_equal(owner, "65533");
	/* ...and refused while it is open; the right owner is fine then. */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "bn-t1");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(net_tap_create("bn-t1", BR, NOBODY, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use"));
	OK(net_tap_create("bn-t1", BR, NOBODY - 1, &err));
	close(fd);

	/* Detached from the bridge and down (as after a crash): reattached. */
	assert_int_equal(RUN("ip", "link", "set", "bn-t1", "nomaster", "down"), 0);
	assert_false(if_exists(BR "/brif/bn-t1"));
	OK(net_tap_create("bn-t1", BR, NOBODY - 1, &err));
	assert_true(if_exists(BR "/brif/bn-t1"));
	assert_true(if_up("bn-t1"));

	OK(net_tap_delete("bn-t1", &err));
	assert_false(if_exists("bn-t1"));
	OK(net_tap_delete("bn-t1", &err));

	/* Refusals. */
	assert_int_equal(net_tap_create("tap0", BR, NOBODY, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bn-"));
	assert_int_equal(net_tap_create("bn-t2", "br-missing", NOBODY, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "br-missing does not exist"));
	assert_false(if_exists("bn-t2"));
	assert_int_equal(net_tap_create("bn-t2", "lo", NOBODY, &err), -EEXIST);
	assert_int_equal(net_tap_create("bn-t2", BR, (uid_t)-1, &err), -EINVAL);
	assert_int_equal(net_tap_delete("lo", &err), -EINVAL);
	assert_int_equal(RUN("ip", "link", "add", "bn-v0", "type", "veth", "peer", "name", "bn-v1"), 0);
	assert_int_equal(net_tap_create("bn-v0", BR, NOBODY, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a single-queue tap"));
	assert_int_equal(net_tap_delete("bn-v0", &err), -EINVAL);
	assert_true(if_exists("bn-v0"));
	assert_int_equal(RUN("ip", "link", "del", "bn-v0"), 0);
	assert_int_equal(RUN("ip", "tuntap", "add", "dev", "bn-tun", "mode", "tun"), 0);
	assert_int_equal(net_tap_create("bn-tun", BR, NOBODY, &err), -EEXIST);
	assert_int_equal(net_tap_delete("bn-tun", &err), -EINVAL);
	assert_int_equal(RUN("ip", "tuntap", "del", "dev", "bn-tun", "mode", "tun"), 0);
}

/* TAP_OPEN's tap: lives as long as its descriptor, on the bridge, up,
 * with the flags QEMU expects of -netdev tap,fd=N. */
static void test_tap_open(void **state)
{
	struct berr err = { 0 };
	struct ifreq ifr;
	int fd = -1;
	(void)state;

	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	OK(net_tap_open("bn-o1", BR, &fd, &err));
	assert_true(fd > 2);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	memset(&ifr, 0, sizeof(ifr));
	assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
	assert_string_equal(ifr.ifr_name, "bn-o1");
	assert_true(ifr.ifr_flags & IFF_TAP);
	assert_true(ifr.ifr_flags & IFF_NO_PI);
	assert_true(ifr.ifr_flags & IFF_VNET_HDR);
	assert_true(if_exists(BR "/brif/bn-o1"));
	assert_true(if_up("bn-o1"));
	/* Open: a second open of the name is refused, by both ways. */
	int fd2 = -1;
	assert_int_equal(net_tap_open("bn-o1", BR, &fd2, &err), -EBUSY);
	assert_int_equal(fd2, -1);
	/* Not persistent: gone with the descriptor. */
	close(fd);
	assert_false(if_exists("bn-o1"));

	/* A leftover persistent tap (an older daemon's) is taken over and
	 * then goes with the descriptor too. */
	OK(net_tap_create("bn-o2", BR, NOBODY, &err));
	assert_int_equal(RUN("ip", "link", "set", "bn-o2", "nomaster", "down"), 0);
	OK(net_tap_open("bn-o2", BR, &fd, &err));
	assert_true(if_exists(BR "/brif/bn-o2"));
	assert_true(if_up("bn-o2"));
	close(fd);
	assert_false(if_exists("bn-o2"));

	/* Refusals, and nothing is left by them. */
	fd = -1;
	assert_int_equal(net_tap_open("tap0", BR, &fd, &err), -EINVAL);
	assert_int_equal(net_tap_open("bn-o3", "br-missing", &fd, &err), -ENODEV);
	assert_int_equal(net_tap_open("bn-o3", "lo", &fd, &err), -EEXIST);
	assert_false(if_exists("bn-o3"));
	assert_int_equal(RUN("ip", "tuntap", "add", "dev", "bn-tun", "mode", "tun"), 0);
	assert_int_equal(net_tap_open("bn-tun", BR, &fd, &err), -EEXIST);
	assert_int_equal(RUN("ip", "tuntap", "del", "dev", "bn-tun", "mode", "tun"), 0);
	assert_int_equal(RUN("ip", "link", "add", "bn-v0", "type", "veth", "peer", "name", "bn-v1"), 0);
	assert_int_equal(net_tap_open("bn-v0", BR, &fd, &err), -EEXIST);
	assert_int_equal(RUN("ip", "link", "del", "bn-v0"), 0);
	assert_int_equal(fd, -1);
}

static void test_list_taps(void **state)
{
	struct berr err = { 0 };
	char **v = NULL;
	size_t n = 99;
	(void)state;

	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	OK(net_list_taps(NULL, &v, &n, &err));
	assert_int_equal(n, 0);
	assert_null(v[0]);
	net_strv_free(v);

	const char *names[] = { "bn-c", "bn-a", "bn-b", "bn-d", "bn-e", "bn-f", "bn-g", "bn-h",
				"bn-i" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		OK(net_tap_create(names[i], BR, NOBODY, &err));
	/* Not ours or not taps: a tap without the prefix, a tun with it, a bridge. */
	assert_int_equal(RUN("ip", "tuntap", "add", "dev", "other0", "mode", "tap"), 0);
	assert_int_equal(RUN("ip", "tuntap", "add", "dev", "bn-tun", "mode", "tun"), 0);

	OK(net_list_taps(NULL, &v, &n, &err));
	assert_int_equal(n, ARRAY_SIZE(names));
	assert_string_equal(v[0], "bn-a");
	assert_string_equal(v[8], "bn-i");
	assert_null(v[9]);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1], v[i]) < 0);
	net_strv_free(v);

	OK(net_list_taps("bn-b", &v, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "bn-b");
	net_strv_free(v);
	OK(net_list_taps("other", &v, &n, &err));
	assert_int_equal(n, 1);
	net_strv_free(v);
	assert_int_equal(net_list_taps("abcdefghijklmnopq", &v, &n, &err), -EINVAL);

	/* Orphan cleanup as the daemon does it: delete everything listed. */
	OK(net_list_taps(NULL, &v, &n, &err));
	for (size_t i = 0; i < n; i++)
		OK(net_tap_delete(v[i], &err));
	net_strv_free(v);
	OK(net_list_taps(NULL, &v, &n, &err));
	assert_int_equal(n, 0);
	net_strv_free(v);
	assert_int_equal(RUN("ip", "tuntap", "del", "dev", "other0", "mode", "tap"), 0);
	assert_int_equal(RUN("ip", "tuntap", "del", "dev", "bn-tun", "mode", "tun"), 0);
}

/* ---- NAT ---- */

static const char expected_ruleset[] =
	"table inet banger\n"
	"delete table inet banger\n"
	"table inet banger {\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\tip saddr 172.30.99.0/24 oifname != \"br-t\" masquerade\n"
	"\t}\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\tiifname \"br-t\" accept\n"
	"\t\toifname \"br-t\" ct state established,related accept\n"
	"\t}\n"
	"}\n";

static void test_nat(void **state)
{
	struct berr err = { 0 };
	_cleanup_free_ char *rs = NULL, *out = NULL, *fwd = NULL;
	size_t len;
	(void)state;

	OK(net_nat_ruleset(BR, GW_CIDR, &rs, &err));
	assert_string_equal(rs, expected_ruleset);
	free(rs);
	OK(net_nat_ruleset(BR, SUBNET, &rs, &err));
	assert_string_equal(rs, expected_ruleset);

	OK(net_nat_ensure(BR, GW_CIDR, &err));
	OK(net_nat_ensure(BR, SUBNET, &err));
	assert_int_equal(read_file("/proc/sys/net/ipv4/ip_forward", 16, &fwd, &len), 0);
	assert_string_equal(fwd, "1\n");
	assert_int_equal(RUN_OUT(&out, "nft", "list", "table", "inet", "banger"), 0);
	assert_int_equal(count(out, "ip saddr 172.30.99.0/24 oifname != \"br-t\" masquerade"), 1);
	assert_int_equal(count(out, "iifname \"br-t\" accept"), 1);
	assert_int_equal(count(out, "oifname \"br-t\" ct state established,related accept"), 1);
	assert_int_equal(count(out, "chain "), 2);

	/* A new subnet replaces the old rules instead of adding to them. */
	OK(net_nat_ensure(BR, "172.30.97.1/24", &err));
	free(out);
	assert_int_equal(RUN_OUT(&out, "nft", "list", "table", "inet", "banger"), 0);
	assert_int_equal(count(out, "masquerade"), 1);
	assert_non_null(strstr(out, "172.30.97.0/24"));

	/* Hostile input never reaches nft. */
	assert_int_equal(net_nat_ensure("br\";flush", SUBNET, &err), -EINVAL);
	assert_int_equal(net_nat_ensure(BR, "172.30.99.0/24; flush ruleset", &err), -EINVAL);
	assert_int_equal(net_nat_ensure(BR, "10.0.0.0/8", &err), -EINVAL);

	OK(net_nat_remove(&err));
	OK(net_nat_remove(&err));
	free(out);
	assert_int_equal(RUN_OUT(&out, "nft", "list", "tables"), 0);
	assert_null(strstr(out, "banger"));
}

/* ---- real traffic ---- */

/* A guest namespace wired like a VM: veth "vh-g" on the bridge, "eth0" in
 * the guest with GUEST_IP/24 and a default route via the gateway. */
static int guest_new(void)
{
	int g = netns_new();
	_cleanup_free_ char *gp = ns_path(g);
	assert_int_equal(RUN("ip", "link", "add", "vh-g", "type", "veth", "peer", "name", "eth0",
			     "netns", gp), 0);
	assert_int_equal(RUN("ip", "link", "set", "vh-g", "master", BR, "up"), 0);
	assert_int_equal(RUN_IN(g, "ip", "link", "set", "lo", "up"), 0);
	assert_int_equal(RUN_IN(g, "ip", "addr", "add", GUEST_IP "/24", "dev", "eth0"), 0);
	assert_int_equal(RUN_IN(g, "ip", "link", "set", "eth0", "up"), 0);
	assert_int_equal(RUN_IN(g, "ip", "route", "add", "default", "via", "172.30.99.1"), 0);
	return g;
}

static void test_traffic_to_gateway(void **state)
{
	struct berr err = { 0 };
	char peer[INET_ADDRSTRLEN];
	uint16_t port;
	int c = -1;
	(void)state;

	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	int g = guest_new();

	/* ICMP, when a ping is at hand (busybox has one). */
	if (access("/usr/bin/busybox", X_OK) == 0 || access("/bin/busybox", X_OK) == 0)
		assert_int_equal(RUN_IN(g, "busybox", "ping", "-c", "1", "-W", "2", "172.30.99.1"), 0);

	/* TCP from the guest to a listener on the gateway address. */
	int ls = listen_in(host_ns, "172.30.99.1", &port);
	assert_int_equal(connect_from(g, "172.30.99.1", port, 3000, &c), 0);
	accept_peer(ls, peer);
	assert_string_equal(peer, GUEST_IP);
	close(c);
	close(ls);

	assert_int_equal(RUN("ip", "link", "del", "vh-g"), 0); /* takes eth0 with it */
	close(g);
}

/* Guest -> host -> "upstream" namespace: with the NAT rules the upstream
 * side sees the host's upstream address; without them it sees the guest's
 * address, cannot answer (no route back) and the connection times out. */
static void test_traffic_masquerade(void **state)
{
	struct berr err = { 0 };
	char peer[INET_ADDRSTRLEN];
	uint16_t port;
	int c = -1;
	(void)state;

	OK(net_bridge_ensure(BR, GW_CIDR, &err));
	int g = guest_new();
	int u = netns_new();
	_cleanup_free_ char *up = ns_path(u);
	assert_int_equal(RUN("ip", "link", "add", "up-h", "type", "veth", "peer", "name", "up-u",
			     "netns", up), 0);
	assert_int_equal(RUN("ip", "addr", "add", UP_HOST_IP "/24", "dev", "up-h"), 0);
	assert_int_equal(RUN("ip", "link", "set", "up-h", "up"), 0);
	assert_int_equal(RUN_IN(u, "ip", "addr", "add", UP_PEER_IP "/24", "dev", "up-u"), 0);
	assert_int_equal(RUN_IN(u, "ip", "link", "set", "up-u", "up"), 0);

	OK(net_nat_ensure(BR, GW_CIDR, &err));
	int ls = listen_in(u, UP_PEER_IP, &port);
	assert_int_equal(connect_from(g, UP_PEER_IP, port, 3000, &c), 0);
	accept_peer(ls, peer);
	assert_string_equal(peer, UP_HOST_IP);
	close(c);

	OK(net_nat_remove(&err));
	assert_int_equal(connect_from(g, UP_PEER_IP, port, 1000, &c), ETIMEDOUT);
	close(ls);

	assert_int_equal(RUN("ip", "link", "del", "vh-g"), 0);
	assert_int_equal(RUN("ip", "link", "del", "up-h"), 0);
	close(g);
	close(u);
}

/* ---- the end ---- */

static void test_cleanup_and_root_untouched(void **state)
{
	struct berr err = { 0 };
	_cleanup_free_ char *out = NULL, *routes = NULL;
	(void)state;

	OK(net_nat_remove(&err));
	assert_int_equal(RUN("ip", "link", "del", BR), 0);
	assert_false(if_exists(BR));

	/* Nothing of ours in the namespace we were started in. */
	enter(orig_ns);
	int r1 = RUN_OUT(&out, "ip", "-o", "addr");
	int r2 = RUN_OUT(&routes, "ip", "-4", "route", "show", "table", "all");
	enter(host_ns);
	assert_int_equal(r1, 0);
	assert_int_equal(r2, 0);
	assert_null(strstr(out, "172.30."));
	assert_null(strstr(out, "198.51.100."));
	assert_null(strstr(out, BR));
	assert_null(strstr(routes, "172.30."));
}

/* Every test starts without taps or stray links of an earlier one that
 * failed half-way (they live in this process's private namespace). */
static int clean_links(void **state)
{
	(void)state;
	const char *names[] = { "bn-t1", "bn-t2", "bn-o1", "bn-o2", "bn-o3", "bn-c", "bn-a", "bn-b",
				"bn-d", "bn-e", "bn-f", "bn-g", "bn-h", "bn-i", "bn-v0", "bn-tun",
				"other0" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (if_exists(names[i]))
			RUN("ip", "link", "del", names[i]);
	return 0;
}

/* The tests run as if /dev/net/tun were 0666, whatever this host's node
 * is (root-only on some hosts of this kind): an unprivileged tap owner
 * opening its tap is what they check.  A node of that mode is bound over
 * the real one in this process's private mount namespace; the host's
 * node is never touched. */
static int tun_node_0666(void)
{
	char dir[] = "/tmp/test_net.XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	_cleanup_free_ char *node = path_join(dir, "tun");
	mode_t old = umask(0);
	int r = mknod(node, S_IFCHR | 0666, makedev(10, 200));
	umask(old);
	if (r < 0 || mount(node, "/dev/net/tun", NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "test_net: binding a 0666 /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	/* The bind mount keeps the inode; the name can go. */
	unlink(node);
	rmdir(dir);
	return 0;
}

/* Refuse to run anywhere but in a namespace of our own. */
static int isolate(void)
{
	struct stat a, b;

	orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig_ns < 0 || unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "test_net: needs root to create namespaces: %s\n", strerror(errno));
		return -1;
	}
	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0 || fstat(orig_ns, &a) < 0 || fstat(host_ns, &b) < 0 ||
	    (a.st_dev == b.st_dev && a.st_ino == b.st_ino)) {
		fprintf(stderr, "test_net: not in a private network namespace\n");
		return -1;
	}
	/* A sysfs that shows this namespace's interfaces, in a mount
	 * namespace nobody else sees. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		fprintf(stderr, "test_net: mounting a private sysfs: %s\n", strerror(errno));
		return -1;
	}
	if (tun_node_0666() < 0)
		return -1;
	if (RUN("ip", "link", "set", "lo", "up") != 0) {
		fprintf(stderr, "test_net: cannot bring lo up\n");
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_validate),
		cmocka_unit_test(test_subnet_parse),
		cmocka_unit_test(test_addr_for_index),
		cmocka_unit_test(test_mac_and_str),
		cmocka_unit_test(test_bridge_ensure),
		cmocka_unit_test_setup(test_tap_create_delete, clean_links),
		cmocka_unit_test_setup(test_tap_open, clean_links),
		cmocka_unit_test_setup(test_list_taps, clean_links),
		cmocka_unit_test(test_nat),
		cmocka_unit_test(test_traffic_to_gateway),
		cmocka_unit_test(test_traffic_masquerade),
		cmocka_unit_test(test_cleanup_and_root_untouched),
	};
	if (isolate() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
