/* libFuzzer target: the `.vm` DNS codec (dns_answer).
 *
 * Beyond "no crash": a reply must be dropped exactly when the query is a
 * runt or a response, echo the ID, opcode, RD and the question, and be a
 * well-formed message whose counts match its sections, within 512 bytes.
 * No socket: the 172.16.x addresses are answer data (no netns needed). */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

static int fwd(void *ctx, const char *label, struct in_addr *ret)
{
	(void)ctx;
	if (strcmp(label, "err") == 0)
		return -5;
	if (strcmp(label, "web") == 0 || strcmp(label, "db-1") == 0)
		return inet_pton(AF_INET, label[0] == 'w' ? "172.16.0.2" : "172.16.0.3", ret);
	return 0;
}

static int rev(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	(void)ctx;
	switch (ntohl(addr.s_addr)) {
	case 0xac100002:
		return snprintf(name, cap, "web") > 0;
	case 0xac100003:
		memset(name, 'a', cap); /* no NUL: must not be read past cap */
		return 1;
	case 0xac100004:
		return -5;
	case 0xac100005:
		return snprintf(name, cap, "Bad_Name") > 0;
	default:
		return 0;
	}
}

static const struct dns_lookup lk = { fwd, rev, NULL };

static unsigned get16(const uint8_t *p) { return (unsigned)(p[0] << 8 | p[1]); }

/* Skip a name in a reply; pointers must point backwards. */
static size_t skip_name(const uint8_t *m, size_t n, size_t p)
{
	for (;;) {
		if (p >= n)
			abort();
		unsigned l = m[p];
		if (l == 0)
			return p + 1;
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= n || (((l & 0x3f) << 8) | m[p + 1]) >= p)
				abort();
			return p + 2;
		}
		if (l > 63)
			abort();
		p += 1 + l;
	}
}

static void check_reply(const uint8_t *q, size_t qn, const uint8_t *r, size_t n)
{
	if (n < 12 || n > DNS_UDP_MAX || memcmp(r, q, 2) != 0)
		abort();
	if (!(r[2] & 0x80) || (r[2] & 0x79) != (q[2] & 0x79) || (r[2] & 0x02) || (r[3] & 0xe0) ||
	    (r[3] & 0x10) != (q[3] & 0x10))
		abort();
	size_t p = 12;
	if (get16(r + 4) > 1)
		abort();
	if (get16(r + 4) == 1) {
		p = skip_name(r, n, p) + 4;
		if (p > n || p > qn || memcmp(r + 12, q + 12, p - 12) != 0)
			abort();
	}
	unsigned rrs = get16(r + 6) + get16(r + 8) + get16(r + 10);
	for (unsigned i = 0; i < rrs; i++) {
		p = skip_name(r, n, p);
		if (p + 10 > n || p + 10 + get16(r + p + 8) > n)
			abort();
		p += 10 + get16(r + p + 8);
	}
	if (p != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly DNS_UDP_MAX on the heap, so ASan sees any write past it. */
	uint8_t *out = malloc(DNS_UDP_MAX);
	bool drop = size < 12 || (data[2] & 0x80);

	size_t n = dns_answer(data, size, &lk, out, DNS_UDP_MAX);
	if (drop != (n == 0))
		abort();
	if (n)
		check_reply(data, size, out, n);
	n = dns_answer(data, size, NULL, out, DNS_UDP_MAX);
	if (drop != (n == 0))
		abort();
	if (n)
		check_reply(data, size, out, n);
	if (dns_answer(data, size, &lk, out, DNS_UDP_MAX - 1) != 0)
		abort();
	free(out);
	return 0;
}
