/* tests/bench/fwdbench.c: core/portfwd.c on its own, for measuring what the
 * forwarder costs against a direct connection (tests/bench/livebench.sh
 * runs iperf3 through it and directly):
 *
 *   fwdbench LISTEN_PORT TARGET_PORT
 *
 * forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT until its stdin
 * ends. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portfwd.h"
#include "util.h"

static uint16_t target_port;

static int target(void *ctx, int64_t id, struct sockaddr_in *ret)
{
	(void)ctx, (void)id;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons(target_port);
	ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t lp, tp;
	struct berr err = { 0 };
	struct portfwd *p;
	struct portfwd_ops ops = { .target = target };
	uint16_t bound;
	char buf[64];

	if (argc != 3 || parse_u64(argv[1], &lp) < 0 || parse_u64(argv[2], &tp) < 0 || lp > 65535 ||
	    tp > 65535) {
		fprintf(stderr, "usage: fwdbench LISTEN_PORT TARGET_PORT\n");
		return 2;
	}
	target_port = (uint16_t)tp;
	if (portfwd_new(&ops, &p, &err) < 0 ||
	    portfwd_add(p, 1, 1, "127.0.0.1", (uint16_t)lp, &bound, &err) < 0 ||
	    portfwd_start(p, &err) < 0) {
		fprintf(stderr, "fwdbench: %s\n", err.msg);
		return 1;
	}
	printf("%u\n", (unsigned)bound);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	portfwd_free(p);
	return 0;
}
