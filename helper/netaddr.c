/* helper/netaddr.c: the pure part of the network model: interface names,
 * subnets, guest addresses and MACs.  No libnl and no root: the config
 * reader validates bridge_name and bridge_subnet with the same code the
 * root helper uses (declared in net.h). */
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- names ---- */

int net_name_validate(const char *ifname, const char *required_prefix, struct berr *err)
{
	if (!ifname || !*ifname)
		return berr_set(err, EINVAL, "an interface name must not be empty");
	size_t n = strnlen(ifname, NET_IFNAME_MAX + 1);
	if (n > NET_IFNAME_MAX)
		return berr_set(err, EINVAL, "an interface name is at most %d bytes long",
				NET_IFNAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = ifname[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-')) {
			char shown[NET_IFNAME_MAX + 1];
			for (size_t j = 0; j <= n; j++)
				shown[j] = j == n ? '\0' : ifname[j] < 0x20 || ifname[j] >= 0x7f ?
					'?' : ifname[j];
			return berr_set(err, EINVAL, "interface name \"%s\" may only contain letters, "
					"digits, '_', '.' and '-'", shown);
		}
	}
	if (strcmp(ifname, ".") == 0 || strcmp(ifname, "..") == 0)
		return berr_set(err, EINVAL, "\"%s\" is not a valid interface name", ifname);
	if (required_prefix && strncmp(ifname, required_prefix, strlen(required_prefix)) != 0)
		return berr_set(err, EINVAL, "interface name \"%s\" does not start with \"%s\"; "
				"banger only manages its own interfaces", ifname, required_prefix);
	return 0;
}

/* ---- addresses ---- */

/* Strict decimal 0..max, 1..3 digits, no leading zeros. */
static const char *dec_field(const char *s, unsigned max, unsigned *ret)
{
	unsigned v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (n == 3)
			return NULL;
		v = v * 10 + (unsigned)(s[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && s[0] == '0') || v > max)
		return NULL;
	*ret = v;
	return s + n;
}

static uint32_t host_mask(int prefix)
{
	return prefix >= 32 ? 0 : 0xffffffffu >> prefix;
}

int net_cidr_parse(const char *cidr, uint32_t *ret_addr, int *ret_prefix, struct berr *err)
{
	const char *p = cidr;
	unsigned oct[4], prefix;

	if (!cidr)
		return berr_set(err, EINVAL, "no subnet given");
	for (int i = 0; i < 4; i++) {
		p = dec_field(p, 255, &oct[i]);
		if (!p || *p != (i < 3 ? '.' : '/'))
			return berr_set(err, EINVAL, "\"%.40s\" is not an IPv4 address with a prefix "
					"length, like \"172.16.0.1/24\"", cidr);
		p++;
	}
	p = dec_field(p, 32, &prefix);
	if (!p || *p)
		return berr_set(err, EINVAL, "\"%.40s\" is not an IPv4 address with a prefix "
				"length, like \"172.16.0.1/24\"", cidr);
	if (prefix < NET_PREFIX_MIN || prefix > NET_PREFIX_MAX)
		return berr_set(err, EINVAL, "\"%s\": the prefix length must be between %d and %d",
				cidr, NET_PREFIX_MIN, NET_PREFIX_MAX);
	*ret_addr = oct[0] << 24 | oct[1] << 16 | oct[2] << 8 | oct[3];
	*ret_prefix = (int)prefix;
	return 0;
}

int net_subnet_parse(const char *cidr, uint32_t *ret_gw, uint32_t *ret_net, int *ret_prefix,
		     struct berr *err)
{
	uint32_t addr;
	int prefix;
	int r = net_cidr_parse(cidr, &addr, &prefix, err);
	if (r < 0)
		return r;
	uint32_t host = addr & host_mask(prefix);
	if (host == 0 || host == host_mask(prefix))
		return berr_set(err, EINVAL, "\"%s\" is the %s address of its subnet; give the "
				"gateway address, like \"172.16.0.1/24\"", cidr,
				host == 0 ? "network" : "broadcast");
	*ret_gw = addr;
	*ret_net = addr & ~host_mask(prefix);
	*ret_prefix = prefix;
	return 0;
}

unsigned net_guest_capacity(int prefix)
{
	if (prefix < NET_PREFIX_MIN || prefix > NET_PREFIX_MAX)
		return 0;
	return host_mask(prefix) + 1 - 3; /* network, gateway, broadcast */
}

int net_addr_for_index_gw(uint32_t net, int prefix, uint32_t gw, unsigned idx, uint32_t *ret)
{
	if (prefix < NET_PREFIX_MIN || prefix > NET_PREFIX_MAX || (net & host_mask(prefix)))
		return -EINVAL;
	uint32_t bcast = net | host_mask(prefix);
	if (gw <= net || gw >= bcast)
		return -EINVAL;
	if (idx >= net_guest_capacity(prefix))
		return -ERANGE;
	uint32_t addr = net + 1 + idx; /* no overflow: idx < capacity */
	if (addr >= gw)
		addr++;
	*ret = addr;
	return 0;
}

int net_addr_for_index(uint32_t net, int prefix, unsigned idx, uint32_t *ret)
{
	return net_addr_for_index_gw(net, prefix, net + 1, idx, ret);
}

void net_mac_for_addr(uint32_t addr, char out[18])
{
	snprintf(out, 18, "06:00:%02x:%02x:%02x:%02x", addr >> 24, (addr >> 16) & 0xff,
		 (addr >> 8) & 0xff, addr & 0xff);
}

void net_addr_str(uint32_t addr, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}
