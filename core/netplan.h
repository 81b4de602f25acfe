/* core/netplan.h: the VMs' addressing, as pure arithmetic over the
 * configured bridge and subnet (docs/network.md): a VM's address slot
 * gives its IPv4 address, its MAC and its kernel ip= arguments; its id
 * gives its tap's name.  Shared by hostnet.c (the .vm responder), vmnet.c
 * (taps) and the tree. */
#ifndef BANGER_NETPLAN_H
#define BANGER_NETPLAN_H

#include <stdint.h>

#include "err.h"

struct netplan {
	char bridge[16];   /* bridge_name */
	char subnet[48];   /* bridge_subnet, the gateway form "172.16.0.1/24" */
	uint32_t gw, net;  /* host byte order */
	int prefix;
};

/* Validate and parse the configured bridge and subnet. */
int netplan_init(struct netplan *p, const char *bridge, const char *subnet, struct berr *err);
/* How many guests the subnet holds (slots 1..capacity). */
unsigned netplan_capacity(const struct netplan *p);
/* The address and MAC of slot (1-based); "" for slot 0 or past the end. */
void netplan_addr(const struct netplan *p, int64_t slot, char ip[16], char mac[18]);
/* "bn-ID". */
void netplan_tap_name(int64_t vm_id, char out[16]);
/* "172.16.0.1" and "172.16.0.1/24". */
void netplan_gateway(const struct netplan *p, char out[16]);
void netplan_gateway_cidr(const struct netplan *p, char out[48]);
/* The guest's kernel arguments for its network: "ip=ADDR::GW:MASK:NAME:eth0:off"
 * plus " banger.dns=A,B" (up to three of the host's nameservers, loopback
 * excluded); "" without a slot.  xmalloc'ed. */
char *netplan_cmdline(const struct netplan *p, int64_t slot, const char *name);

#endif
