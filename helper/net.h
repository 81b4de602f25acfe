/* helper/net.h: the privileged network operations (bridge, taps, NAT) and
 * the pure address arithmetic they share with the daemon.
 *
 * The privileged calls run as root: inside bangerd-root, or in-process while
 * bangerd itself runs as root.  They act on the network namespace of the
 * calling thread.  Every one is idempotent: a second call with the same
 * arguments succeeds and changes nothing, and a restarted daemon finds and
 * reuses what exists.  Every name is re-validated here, because the caller
 * of the root helper is not trusted.  See docs/network.md. */
#ifndef BANGER_NET_H
#define BANGER_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Taps are "bn-" + up to 12 characters (an interface name is at most 15
 * bytes), e.g. "bn-0001f3".  The helper creates, deletes and lists only
 * interfaces with this prefix. */
#define NET_TAP_PREFIX "bn-"
#define NET_IFNAME_MAX 15

/* The nftables table that holds all of banger's rules. */
#define NET_NFT_FAMILY "inet"
#define NET_NFT_TABLE "banger"

/* Subnets banger accepts: prefix lengths 16..30 (a /30 holds one guest). */
#define NET_PREFIX_MIN 16
#define NET_PREFIX_MAX 30

/* ---- names (pure) ---- */

/* 1..15 bytes of [A-Za-z0-9_.-], not "." or "..", starting with
 * required_prefix when it is not NULL.  -EINVAL otherwise. */
int net_name_validate(const char *ifname, const char *required_prefix, struct berr *err);

/* ---- addresses (pure; host byte order throughout) ---- */

/* Parse "A.B.C.D/N": strict decimal (no signs, spaces or leading zeros),
 * N in NET_PREFIX_MIN..NET_PREFIX_MAX.  No check of the host part. */
int net_cidr_parse(const char *cidr, uint32_t *ret_addr, int *ret_prefix, struct berr *err);

/* Parse the gateway form "A.B.C.D/N" (as in config bridge_subnet): strict
 * decimal, N in NET_PREFIX_MIN..NET_PREFIX_MAX, the address a host address
 * of its subnet (not the network or broadcast address).  Fills the gateway
 * address, the network address and the prefix length. */
int net_subnet_parse(const char *cidr, uint32_t *ret_gw, uint32_t *ret_net, int *ret_prefix,
		     struct berr *err);

/* The idx-th guest address of the subnet net/prefix whose gateway is the
 * first host address (net + 1): idx 0 is net + 2.  Never the network,
 * gateway or broadcast address.  -ERANGE when idx is past the last one,
 * -EINVAL for a bad prefix. */
int net_addr_for_index(uint32_t net, int prefix, unsigned idx, uint32_t *ret);

/* The same for a gateway anywhere in the subnet: guest addresses are the
 * host addresses in ascending order with the gateway skipped. */
int net_addr_for_index_gw(uint32_t net, int prefix, uint32_t gw, unsigned idx, uint32_t *ret);

/* How many guest addresses net_addr_for_index*() can hand out. */
unsigned net_guest_capacity(int prefix);

/* "06:00:" + the four address bytes, lower-case hex: locally administered,
 * unicast, and stable for the address (172.16.0.2 -> 06:00:ac:10:00:02). */
void net_mac_for_addr(uint32_t addr, char out[18]);

/* Dotted quad. */
void net_addr_str(uint32_t addr, char out[16]);

/* ---- bridge and taps (root) ---- */

/* Create the bridge if it is missing (an existing interface of another kind
 * is -EEXIST), add gateway_cidr ("172.16.0.1/24") to it if missing, bring
 * it up.  Other addresses on the bridge are left alone. */
int net_bridge_ensure(const char *bridge, const char *gateway_cidr, struct berr *err);

/* A persistent TAP owned by owner (who may then open it without privilege,
 * as QEMU and Firecracker do), attached to the existing bridge and up.  The
 * name must start with NET_TAP_PREFIX.  An existing tap is reused (its owner
 * is corrected when nobody has it open; -EBUSY when it is open and owned by
 * someone else); an existing interface that is not a single-queue tap is
 * -EEXIST.  A tap created by this call is removed again if a later step
 * fails. */
int net_tap_create(const char *tap, const char *bridge, uid_t owner, struct berr *err);

/* A tap that lives as long as the descriptor returned: created (or a
 * leftover persistent one of that name taken over and made non-persistent),
 * attached to the existing bridge and up, opened with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, the flags QEMU expects of a `-netdev tap,fd=N`.  The caller
 * hands the descriptor to the VMM and closes its own copy; the tap goes away
 * when the VMM exits.  -EBUSY when a process has the tap open; -EEXIST for
 * an interface of that name that is not a single-queue tap.  The
 * descriptor is O_CLOEXEC. */
int net_tap_open(const char *tap, const char *bridge, int *ret_fd, struct berr *err);

/* Delete the tap (a missing one is success; one that is not a tap is
 * -EINVAL).  The name must start with NET_TAP_PREFIX. */
int net_tap_delete(const char *tap, struct berr *err);

/* Names of the tap devices whose names start with prefix (NULL means
 * NET_TAP_PREFIX), sorted.  *ret is a NULL-terminated array; free it with
 * net_strv_free().  For orphan cleanup at daemon start. */
int net_list_taps(const char *prefix, char ***ret, size_t *ret_n, struct berr *err);
void net_strv_free(char **v);

/* ---- NAT (root; helper/nat.c) ---- */

/* Set net.ipv4.ip_forward = 1 and replace, in one nftables transaction, the
 * table inet banger with: masquerade for subnet_cidr leaving through any
 * interface but the bridge, and forward accepts for the bridge.  subnet_cidr
 * may be given in the gateway form ("172.16.0.1/24") or the network form
 * ("172.16.0.0/24"). */
int net_nat_ensure(const char *bridge, const char *subnet_cidr, struct berr *err);

/* Delete the table (missing is success).  ip_forward is left as it is. */
int net_nat_remove(struct berr *err);

/* The ruleset net_nat_ensure() loads, as text (caller frees).  Exposed for
 * the documentation test and for `doctor`. */
int net_nat_ruleset(const char *bridge, const char *subnet_cidr, char **ret, struct berr *err);

#endif
