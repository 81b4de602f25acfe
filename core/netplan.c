/* core/netplan.c: see netplan.h. */
#define _GNU_SOURCE
#include "netplan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "util.h"

int netplan_init(struct netplan *p, const char *bridge, const char *subnet, struct berr *err)
{
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = net_name_validate(bridge, NULL, err)) < 0)
		return berr_wrap(err, "bridge_name");
	if ((r = net_subnet_parse(subnet, &p->gw, &p->net, &p->prefix, err)) < 0)
		return berr_wrap(err, "bridge_subnet");
	if (strlen(subnet) >= sizeof(p->subnet))
		return berr_set(err, EINVAL, "bridge_subnet is too long");
	snprintf(p->bridge, sizeof(p->bridge), "%s", bridge);
	snprintf(p->subnet, sizeof(p->subnet), "%s", subnet);
	return 0;
}

unsigned netplan_capacity(const struct netplan *p)
{
	return net_guest_capacity(p->prefix);
}

void netplan_addr(const struct netplan *p, int64_t slot, char ip[16], char mac[18])
{
	uint32_t a;
	ip[0] = mac[0] = '\0';
	if (slot <= 0 || net_addr_for_index_gw(p->net, p->prefix, p->gw, (unsigned)(slot - 1), &a) < 0)
		return;
	net_addr_str(a, ip);
	net_mac_for_addr(a, mac);
}

void netplan_tap_name(int64_t vm_id, char out[16])
{
	snprintf(out, 16, "%s%lld", NET_TAP_PREFIX, (long long)vm_id);
}

void netplan_gateway(const struct netplan *p, char out[16])
{
	net_addr_str(p->gw, out);
}

void netplan_gateway_cidr(const struct netplan *p, char out[48])
{
	char gw[16];
	net_addr_str(p->gw, gw);
	snprintf(out, 48, "%s/%d", gw, p->prefix);
}

/* Up to three nameservers from the host's resolv.conf, loopback excluded
 * (the guest cannot reach the host's stub resolver). */
static void host_dns(struct sbuf *out)
{
	_cleanup_free_ char *text = NULL;
	int n = 0;
	if (read_file("/etc/resolv.conf", 64 * 1024, &text, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && n < 3;
	     line = strtok_r(NULL, "\n", &save)) {
		char addr[64];
		struct in_addr in;
		if (sscanf(line, "nameserver %63s", addr) != 1 || inet_pton(AF_INET, addr, &in) != 1)
			continue;
		if ((ntohl(in.s_addr) >> 24) == 127)
			continue;
		sbuf_printf(out, "%s%s", n ? "," : " banger.dns=", addr);
		n++;
	}
}

char *netplan_cmdline(const struct netplan *p, int64_t slot, const char *name)
{
	char ip[16], mac[18], gw[16], mask[16];
	struct sbuf s;

	netplan_addr(p, slot, ip, mac);
	if (!ip[0])
		return xstrdup("");
	net_addr_str(p->gw, gw);
	net_addr_str(p->prefix ? 0xffffffffu << (32 - p->prefix) : 0, mask);
	sbuf_init(&s);
	sbuf_printf(&s, "ip=%s::%s:%s:%s:eth0:off", ip, gw, mask, name);
	host_dns(&s);
	return sbuf_steal(&s);
}
