/* p9/addr.c: 9P listen addresses in Plan 9's dial-string form. */
#define _GNU_SOURCE
#include "p9.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

int p9_parse_tcp(const char *spec, struct sockaddr_storage *ret, unsigned *ret_len,
		 struct berr *err)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *a, *p;
	uint64_t port;

	memset(ret, 0, sizeof(*ret));
	if (strncmp(spec, "tcp!", 4) != 0 || !(p = strrchr(spec + 4, '!')))
		return berr_set(err, EINVAL, "9P listen address '%s' is not tcp!ADDR!PORT", spec);
	a = spec + 4;
	if ((size_t)(p - a) >= sizeof(addr) || p == a)
		return berr_set(err, EINVAL, "9P listen address '%s': bad address", spec);
	memcpy(addr, a, (size_t)(p - a));
	addr[p - a] = 0;
	if (parse_u64(p + 1, &port) < 0 || port == 0 || port > 65535)
		return berr_set(err, EINVAL, "9P listen address '%s': port must be 1-65535", spec);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*in6);
		return 0;
	}
	return berr_set(err, EINVAL, "9P listen address '%s': '%s' is not an IP address", spec,
			addr);
}
