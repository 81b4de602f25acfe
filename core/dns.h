/* core/dns.h: the `.vm` DNS responder's message codec (RFC 1035, 2308, 6891).
 *
 * A pure function from one query datagram to one response datagram: no
 * sockets, no threads, no allocation.  The daemon serves it over UDP with
 * core/dnsd.h; systemd-resolved forwards `*.vm` (and the subnet's reverse
 * names) to it.  What it answers is tabled in docs/dns.md.
 *
 * Authoritative for `vm.` (a synthetic SOA, nothing else at the apex) and
 * for `D.C.B.A.in-addr.arpa` names whose address reverse() knows; every
 * other name is REFUSED: this is not a recursive resolver. */
#ifndef BANGER_DNS_H
#define BANGER_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_ZONE "vm"
#define DNS_TTL 5 /* seconds: addresses change when VMs are recreated */

/* Every response fits a classic UDP payload, so a query never needs TC or
 * a TCP fallback (see the size budget in dns.c). */
#define DNS_UDP_MAX 512
/* The UDP payload size we advertise in our OPT record (the DNS flag day
 * 2020 value: no IP fragmentation on any common path). */
#define DNS_EDNS_UDP 1232

struct dns_lookup {
	/* label: the VM name (the one label before ".vm"), already lowercased.
	 * 1 found (*ret set), 0 no such VM, <0 internal error (-> SERVFAIL). */
	int (*forward)(void *ctx, const char *label, struct in_addr *ret);
	/* 1 found (name: the VM name without ".vm", NUL-terminated, <= 63 chars), 0 none, <0 error. */
	int (*reverse)(void *ctx, struct in_addr addr, char *name, size_t cap);
	void *ctx;
};

/* Answer query q (n bytes) into out (cap >= 512).  Returns the response
 * length, or 0 when the datagram must be dropped silently (shorter than a
 * header, or QR=1 i.e. a response).  Never reads outside q, never writes
 * outside out.
 *
 * Also 0 when cap < DNS_UDP_MAX.  A NULL callback finds nothing.  A name
 * from reverse() that is not a valid VM name (1..63 of [a-z0-9-], no
 * leading or trailing '-', NUL within cap) is answered SERVFAIL. */
size_t dns_answer(const uint8_t *q, size_t n, const struct dns_lookup *lk, uint8_t *out, size_t cap);

#endif
