/* tests/unit/helper_cli.c: a test client for bangerd-root, used by
 * tests/integration/helper_attack.sh.  Not installed.
 *
 *   helper_cli SOCKET OP [ARG...]        a well-formed call through client.c
 *   helper_cli --forge [--magic N] [--version N] [--op N] [--len N]
 *              [--pad N] [--cut N] SOCKET OP [ARG...]
 *                                        a hand-made request: header fields
 *                                        overridden, N zero bytes appended
 *                                        (counted in the header's length),
 *                                        or the last N bytes cut off (not)
 *   helper_cli --raw HEX SOCKET          send these bytes as one datagram
 *
 * OP is a name (PING, TAP_CREATE, ...) or, with --forge, a number.  Prints
 * "status N: SENTENCE" and then each list string on its own line.  Exits 0
 * when the helper answered 0, 1 when it answered an error, 2 when there was
 * no answer (connection refused, closed, timed out). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "rootc.h"
#include "proto.h"
#include "util.h"

#define BIG (64 * 1024)

/* What a passed descriptor is: "fd tap NAME vnet_hdr" for a tap, "fd
 * /dev/fuse" for the FUSE device; with $HELPER_CLI_HOLD=SECONDS it is
 * held that long first (the test looks at the tap meanwhile). */
static void describe_fd(int fd)
{
	char link[64] = "";
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t k = readlink(self, link, sizeof(link) - 1);
	link[k > 0 ? k : 0] = '\0';
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0)
		printf("fd tap %s%s%s\n", ifr.ifr_name, ifr.ifr_flags & IFF_VNET_HDR ? " vnet_hdr" : "",
		       fcntl(fd, F_GETFD) & FD_CLOEXEC ? " cloexec" : "");
	else
		printf("fd %s%s\n", link, fcntl(fd, F_GETFD) & FD_CLOEXEC ? " cloexec" : "");
	fflush(stdout);
	const char *hold = getenv("HELPER_CLI_HOLD");
	uint64_t secs;
	if (hold && parse_u64(hold, &secs) == 0 && secs < 600)
		sleep((unsigned)secs);
	close(fd);
}

static int num(const char *s, uint64_t max, uint64_t *ret)
{
	if (strncmp(s, "0x", 2) == 0) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s + 2, &end, 16);
		if (errno || end == s + 2 || *end || v > max)
			return -EINVAL;
		*ret = v;
		return 0;
	}
	if (parse_u64(s, ret) < 0 || *ret > max)
		return -EINVAL;
	return 0;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static int raw_exchange(const char *path, const uint8_t *buf, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	static uint8_t in[BIG];
	struct proto_reply rep;
	struct berr err;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("no answer: connect: %s\n", strerror(errno));
		return 2;
	}
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		printf("note: send: %s\n", strerror(errno)); /* a reply may still be waiting */
	ssize_t n = recv(fd, in, sizeof(in), 0);
	if (n < 0 && errno == ECONNRESET) /* the reply may be queued behind the reset */
		n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
	if (n <= 0) {
		printf("no answer: %s\n", n == 0 ? "connection closed" : strerror(errno));
		return 2;
	}
	if (proto_decode_reply(in, (size_t)n, &rep, &err) < 0) {
		printf("no answer: bad reply: %s\n", err.msg);
		return 2;
	}
	printf("status %d: %s\n", rep.status, rep.msg);
	for (size_t i = 0; i < rep.n; i++)
		printf("%s\n", rep.list[i]);
	int rc = rep.status == 0 ? 0 : 1;
	/* After a malformed message the helper must hang up. */
	n = recv(fd, in, sizeof(in), 0);
	printf("after: %s\n", n == 0 ? "closed" : n > 0 ? "more data" : "open");
	proto_reply_done(&rep);
	return rc;
}

static int hexdecode(const char *hex, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = strlen(hex);
	if (n % 2 || n / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"forge", no_argument, NULL, 'f'},
	    {"raw", required_argument, NULL, 'r'},
	    {"magic", required_argument, NULL, 'm'},
	    {"version", required_argument, NULL, 'v'},
	    {"op", required_argument, NULL, 'o'},
	    {"len", required_argument, NULL, 'l'},
	    {"pad", required_argument, NULL, 'p'},
	    {"cut", required_argument, NULL, 'c'},
	    {0},
	};
	static uint8_t buf[BIG];
	uint64_t magic = PROTO_REQ_MAGIC, version = PROTO_VERSION, op = 0, plen = 0, pad = 0,
		 cut = 0;
	bool forge = false, set_op = false, set_len = false;
	const char *raw = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		uint64_t *dst = c == 'm'   ? &magic
				: c == 'v' ? &version
				: c == 'o' ? &op
				: c == 'l' ? &plen
				: c == 'p' ? &pad
				: c == 'c' ? &cut
					   : NULL;
		if (c == 'f') {
			forge = true;
		} else if (c == 'r') {
			raw = optarg;
		} else if (dst) {
			uint64_t max = c == 'm' || c == 'l' ? UINT32_MAX
				       : c == 'p'	    ? BIG / 2
				       : c == 'c'	    ? BIG
							    : UINT16_MAX;
			if (num(optarg, max, dst) < 0) {
				fprintf(stderr, "helper_cli: bad number %s\n", optarg);
				return 64;
			}
			forge = true;
			set_op |= c == 'o';
			set_len |= c == 'l';
		} else {
			return 64;
		}
	}
	if (raw) {
		size_t len;
		if (optind + 1 != argc || hexdecode(raw, buf, sizeof(buf), &len) < 0) {
			fprintf(stderr, "usage: helper_cli --raw HEX SOCKET\n");
			return 64;
		}
		return raw_exchange(argv[optind], buf, len);
	}
	if (optind + 2 > argc) {
		fprintf(stderr, "usage: helper_cli [--forge ...] SOCKET OP [ARG...]\n");
		return 64;
	}
	const char *sock = argv[optind];
	const char *opname = argv[optind + 1];
	const char *const *args = (const char *const *)argv + optind + 2;
	size_t nargs = (size_t)(argc - optind - 2);
	const struct proto_op_info *info = proto_op_by_name(opname);

	if (!forge) {
		struct rootc *rc = NULL;
		struct berr err;
		char **list = NULL;
		size_t n = 0;
		if (!info) {
			fprintf(stderr, "helper_cli: unknown op %s\n", opname);
			return 64;
		}
		if (rootc_open(sock, &rc, &err) < 0) {
			printf("no answer: %s\n", err.msg);
			return 2;
		}
		int fd = -1;
		int r = rootc_call_fd(rc, info->op, args, nargs, &list, &n, &fd, &err);
		rootc_close(rc);
		printf("status %d: %s\n", r, r < 0 ? err.msg : "ok");
		for (size_t i = 0; r == 0 && i < n; i++)
			printf("%s\n", list[i]);
		if (fd >= 0)
			describe_fd(fd);
		rootc_strv_free(list);
		if (r < 0 && (err.code == ECONNRESET || err.code == EPIPE || err.code == ETIMEDOUT))
			return 2;
		return r < 0 ? 1 : 0;
	}

	/* Forged: header, then every ARG as { u16 len; bytes } (lengths are not
	 * checked here: --len and --pad make the lies). */
	if (!set_op) {
		if (info)
			op = info->op;
		else if (num(opname, UINT16_MAX, &op) < 0) {
			fprintf(stderr, "helper_cli: unknown op %s\n", opname);
			return 64;
		}
	}
	size_t len = PROTO_REQ_HDR;
	be32(buf, (uint32_t)magic);
	buf[4] = (uint8_t)(version >> 8), buf[5] = (uint8_t)version;
	buf[6] = (uint8_t)(op >> 8), buf[7] = (uint8_t)op;
	for (size_t i = 0; i < nargs; i++) {
		size_t n = strlen(args[i]);
		if (n > UINT16_MAX || len + 2 + n > sizeof(buf) / 2)
			return 64;
		buf[len] = (uint8_t)(n >> 8), buf[len + 1] = (uint8_t)n;
		memcpy(buf + len + 2, args[i], n);
		len += 2 + n;
	}
	/* --pad appends zero bytes that the header's length counts (trailing
	 * bytes inside the declared payload); --cut takes bytes away after
	 * the length is written (a truncated message); --len lies outright. */
	memset(buf + len, 0, pad);
	len += pad;
	be32(buf + 8, set_len ? (uint32_t)plen : (uint32_t)(len - PROTO_REQ_HDR));
	if (cut > len)
		cut = len;
	len -= cut;
	return raw_exchange(sock, buf, len);
}
