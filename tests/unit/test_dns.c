/* Unit tests: the `.vm` DNS codec (core/dns.c) and its UDP server
 * (core/dnsd.c).  Queries are built by hand; replies are checked byte for
 * byte where the bytes are the contract.  The server tests use 127.0.0.1
 * only: the 172.16.x addresses below are answer data, never configured or
 * sent to, so this test needs no netns of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

#include "dns.h"
#include "dnsd.h"
#include "util.h"

/* ---- a fake VM table ---- */

struct fake {
	int forward_calls;
	char last_label[80];
};

static int fake_forward(void *ctx, const char *label, struct in_addr *ret)
{
	struct fake *f = ctx;

	if (f) {
		f->forward_calls++;
		snprintf(f->last_label, sizeof(f->last_label), "%s", label);
	}
	if (strcmp(label, "boom") == 0)
		return -EIO;
	if (strcmp(label, "web") == 0)
		return inet_pton(AF_INET, "172.16.0.2", ret);
	if (strlen(label) == 63)
		return inet_pton(AF_INET, "172.16.0.63", ret);
	return 0;
}

static int fake_reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	if (strcmp(a, "172.16.0.2") == 0)
		return snprintf(name, cap, "web") > 0;
	if (strcmp(a, "172.16.0.9") == 0)
		return -EIO;
	if (strcmp(a, "172.16.0.10") == 0)
		return snprintf(name, cap, "Bad_Name") > 0;
	if (strcmp(a, "172.16.0.11") == 0) {
		memset(name, 'a', cap); /* no NUL anywhere */
		return 1;
	}
	return 0;
}

static struct fake fk;
static const struct dns_lookup lk = { fake_forward, fake_reverse, &fk };

/* ---- building queries ---- */

enum { A = 1, NS = 2, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28, ANY = 255 };
enum { RD = 0x0100, CD = 0x0010 };

struct msg {
	uint8_t b[1024];
	size_t n;
};

static void put8(struct msg *m, uint8_t v) { m->b[m->n++] = v; }
static void put16(struct msg *m, uint16_t v) { put8(m, (uint8_t)(v >> 8)); put8(m, (uint8_t)v); }
static void putb(struct msg *m, const void *d, size_t n)
{
	if (n)
		memcpy(m->b + m->n, d, n);
	m->n += n;
}

static void header(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		   uint16_t ns, uint16_t ar)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* "web.vm" -> \3web\2vm\0; "" or "." -> the root. */
static void name(struct msg *m, const char *dotted)
{
	const char *s = dotted;

	while (*s && strcmp(s, ".") != 0) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		put8(m, (uint8_t)l);
		putb(m, s, l);
		s += l + (dot ? 1 : 0);
	}
	put8(m, 0);
}

/* An OPT record: root, type 41, payload size, ext rcode, version, flags. */
static void opt(struct msg *m, uint8_t version, uint16_t flags, const void *rdata, uint16_t len)
{
	put8(m, 0);
	put16(m, 41);
	put16(m, 4096);
	put8(m, 0);
	put8(m, version);
	put16(m, flags);
	put16(m, len);
	putb(m, rdata, len);
}

static void query(struct msg *m, const char *qname, uint16_t type, uint16_t cls, bool edns)
{
	header(m, 0xbeef, RD, 1, 0, 0, edns);
	name(m, qname);
	put16(m, type);
	put16(m, cls);
	if (edns)
		opt(m, 0, 0, NULL, 0);
}

/* ---- reading replies ---- */

static uint8_t out[DNS_UDP_MAX];

static size_t answer(const struct msg *m)
{
	memset(out, 0xaa, sizeof(out));
	return dns_answer(m->b, m->n, &lk, out, sizeof(out));
}

static unsigned get16(size_t off) { return (unsigned)(out[off] << 8 | out[off + 1]); }
static unsigned rcode(void) { return out[3] & 0xf; }
static bool aa(void) { return out[2] & 0x04; }
static unsigned qd(void) { return get16(4); }
static unsigned an(void) { return get16(6); }
static unsigned ns(void) { return get16(8); }
static unsigned ar(void) { return get16(10); }

/* The SOA of vm. as we write it, its owner and names pointing at z. */
static size_t soa_bytes(uint8_t *b, uint16_t z)
{
	const uint8_t hi = (uint8_t)(0xc0 | z >> 8), lo = (uint8_t)z;
	const uint8_t soa[] = {
		hi, lo, 0, 6, 0, 1, 0, 0, 0, DNS_TTL, 0, 38,
		2, 'n', 's', hi, lo,
		10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', hi, lo,
		0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x02, 0x58, 0, 1, 0x51, 0x80, 0, 0, 0, DNS_TTL,
	};
	memcpy(b, soa, sizeof(soa));
	return sizeof(soa);
}

static void assert_soa_at(size_t off, uint16_t z)
{
	uint8_t want[64];
	size_t n = soa_bytes(want, z);
	assert_memory_equal(out + off, want, n);
}

/* ---- forward lookups ---- */

static void test_a_found(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "web.vm", A, 1, false);
	static const uint8_t want[] = {
		0xbe, 0xef, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
		3, 'w', 'e', 'b', 2, 'v', 'm', 0, 0, 1, 0, 1,
		0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, DNS_TTL, 0, 4, 172, 16, 0, 2,
	};
	assert_int_equal(answer(&m), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

static void test_case_and_flags(void **state)
{
	struct msg m;
	(void)state;
	/* Mixed case (0x20 randomisation) is matched lowercased and echoed as
	 * sent; RD=0 stays 0, CD is copied, RA/TC/AD are never set. */
	header(&m, 0x0102, CD, 1, 0, 0, 0);
	name(&m, "WeB.vM");
	put16(&m, A);
	put16(&m, 1);
	fk.forward_calls = 0;
	assert_int_equal(answer(&m), 40);
	assert_string_equal(fk.last_label, "web");
	assert_int_equal(out[0], 0x01);
	assert_int_equal(out[1], 0x02);
	assert_int_equal(out[2], 0x84);
	assert_int_equal(out[3], 0x10);
	assert_memory_equal(out + 12, "\3WeB\2vM\0", 8);
	assert_int_equal(get16(24), 0xc00c);
}

static void test_any_qtype_and_class(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "web.vm", ANY, 255, false);
	assert_int_equal(answer(&m), 40);
	assert_int_equal(rcode(), 0);
	assert_int_equal(an(), 1);
	assert_int_equal(get16(26), A);
	assert_int_equal(get16(28), 1); /* class IN even for a class ANY query */
	query(&m, "web.vm", A, 3, false); /* CHAOS */
	assert_int_equal(answer(&m), 24);
	assert_int_equal(rcode(), 5);
	assert_false(aa());
	assert_int_equal(qd(), 1);
}

static void test_nxdomain(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "nope.vm", A, 1, false);
	size_t n = answer(&m);
	assert_int_equal(n, 12 + 9 + 4 + 50);
	assert_int_equal(get16(2), 0x8503);
	assert_int_equal(an(), 0);
	assert_int_equal(ns(), 1);
	assert_int_equal(ar(), 0);
	assert_soa_at(25, 12 + 5); /* "vm" is at 17: the question's last label */
	query(&m, "nope.vm", AAAA, 1, false);
	assert_int_equal(answer(&m), n);
	assert_int_equal(rcode(), 3);
}

static void test_nodata(void **state)
{
	static const uint16_t types[] = { AAAA, MX, TXT, NS, PTR, SOA };
	struct msg m;
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		query(&m, "web.vm", types[i], 1, false);
		assert_int_equal(answer(&m), 12 + 8 + 4 + 50);
		assert_int_equal(get16(2), 0x8500);
		assert_int_equal(an(), 0);
		assert_int_equal(ns(), 1);
		assert_soa_at(24, 12 + 4);
	}
}

static void test_apex(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "vm", SOA, 1, false);
	assert_int_equal(answer(&m), 12 + 4 + 4 + 50);
	assert_int_equal(get16(2), 0x8500);
	assert_int_equal(an(), 1);
	assert_int_equal(ns(), 0);
	assert_soa_at(20, 12);
	query(&m, "VM.", ANY, 1, false);
	assert_int_equal(answer(&m), 70);
	assert_int_equal(an(), 1);
	static const uint16_t nodata[] = { NS, A, AAAA };
	for (size_t i = 0; i < ARRAY_SIZE(nodata); i++) {
		query(&m, "vm", nodata[i], 1, false);
		assert_int_equal(answer(&m), 70);
		assert_int_equal(get16(2), 0x8500);
		assert_int_equal(an(), 0);
		assert_int_equal(ns(), 1);
		assert_soa_at(20, 12);
	}
}

static void test_bad_names_in_zone(void **state)
{
	static const char *const names[] = {
		"a.web.vm", "web_1.vm", "-web.vm", "web-.vm", "x.y.z.vm",
	};
	char l63[64], l64[80];
	struct msg m;
	(void)state;
	fk.forward_calls = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		query(&m, names[i], A, 1, false);
		assert_int_not_equal(answer(&m), 0);
		assert_int_equal(rcode(), 3);
		assert_true(aa());
		assert_int_equal(ns(), 1);
	}
	/* One label holding a '.' or a NUL byte: never passed on as a string. */
	static const uint8_t odd[][8] = { "\3w.b\2vm", "\3w\0b\2vm" };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		header(&m, 1, 0, 1, 0, 0, 0);
		putb(&m, odd[i], 8);
		put16(&m, A);
		put16(&m, 1);
		assert_int_not_equal(answer(&m), 0);
		assert_int_equal(rcode(), 3);
	}
	assert_int_equal(fk.forward_calls, 0);

	/* 63 characters is a name; the lookup sees it. */
	memset(l63, 'a', 63);
	memcpy(l63 + 60, "-z9", 3);
	l63[63] = '\0';
	snprintf(l64, sizeof(l64), "%s.vm", l63);
	query(&m, l64, A, 1, false);
	assert_int_equal(answer(&m), 12 + 63 + 5 + 4 + 16);
	assert_int_equal(rcode(), 0);
	assert_int_equal(fk.forward_calls, 1);
	assert_string_equal(fk.last_label, l63);
}

static void test_servfail(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "boom.vm", A, 1, true);
	assert_int_equal(answer(&m), 12 + 9 + 4 + 11);
	assert_int_equal(get16(2), 0x8102);
	assert_int_equal(an(), 0);
	assert_int_equal(ns(), 0);
	assert_int_equal(ar(), 1);
	query(&m, "boom.vm", AAAA, 1, false);
	assert_int_equal(answer(&m), 12 + 9 + 4);
	assert_int_equal(rcode(), 2);
}

/* ---- reverse lookups ---- */

static void test_ptr(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "2.0.16.172.in-addr.arpa", PTR, 1, false);
	static const uint8_t rr[] = {
		0xc0, 0x0c, 0, 12, 0, 1, 0, 0, 0, DNS_TTL, 0, 8, 3, 'w', 'e', 'b', 2, 'v', 'm', 0,
	};
	size_t qlen = 2 + 2 + 3 + 4 + 8 + 5 + 1 + 4;
	assert_int_equal(answer(&m), 12 + qlen + sizeof(rr));
	assert_int_equal(get16(2), 0x8500);
	assert_int_equal(an(), 1);
	assert_int_equal(ns(), 0);
	assert_memory_equal(out + 12 + qlen, rr, sizeof(rr));
	query(&m, "2.0.16.172.IN-ADDR.Arpa", ANY, 1, false);
	assert_int_equal(answer(&m), 12 + qlen + sizeof(rr));
	assert_memory_equal(out + 12 + qlen, rr, sizeof(rr));
	/* An existing address asked for another type: NODATA, no SOA. */
	query(&m, "2.0.16.172.in-addr.arpa", A, 1, false);
	assert_int_equal(answer(&m), 12 + qlen);
	assert_int_equal(get16(2), 0x8500);
	assert_int_equal(an() + ns(), 0);
}

static void test_ptr_misses(void **state)
{
	struct msg m;
	(void)state;
	query(&m, "50.0.16.172.in-addr.arpa", PTR, 1, false);
	assert_int_not_equal(answer(&m), 0);
	assert_int_equal(get16(2), 0x8503);
	assert_int_equal(an() + ns(), 0);
	/* Lookup errors and names that are not VM names are our fault. */
	static const char *const bad[] = {
		"9.0.16.172.in-addr.arpa", "10.0.16.172.in-addr.arpa", "11.0.16.172.in-addr.arpa",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		query(&m, bad[i], PTR, 1, false);
		assert_int_not_equal(answer(&m), 0);
		assert_int_equal(get16(2), 0x8102);
		assert_int_equal(an() + ns(), 0);
	}
	/* Not four decimal octets: not a name of ours. */
	static const char *const refused[] = {
		"0.16.172.in-addr.arpa", "1.2.0.16.172.in-addr.arpa", "02.0.16.172.in-addr.arpa",
		"256.0.16.172.in-addr.arpa", "x.0.16.172.in-addr.arpa", "2.0.16.172.ip6.arpa",
		"in-addr.arpa", "2.0.16.172.in-addr", "2.0.16.172.in-addr.arpa.x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		query(&m, refused[i], PTR, 1, false);
		assert_int_not_equal(answer(&m), 0);
		assert_int_equal(rcode(), 5);
	}
}

/* ---- everything else ---- */

static void test_refused(void **state)
{
	static const char *const names[] = { "example.com", ".", "vm.example", "vmx", "web.v" };
	struct msg m;
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		query(&m, names[i], A, 1, true);
		size_t n = answer(&m);
		assert_int_equal(get16(2), 0x8105);
		assert_int_equal(qd(), 1);
		assert_int_equal(an() + ns(), 0);
		assert_int_equal(ar(), 1); /* the query had an OPT, so does the reply */
		assert_memory_equal(out + 12, m.b + 12, n - 12 - 11);
	}
}

static void test_formerr_header_only(void **state)
{
	struct msg m;
	(void)state;
	for (uint16_t count = 0; count <= 2; count += 2) {
		header(&m, 7, RD, count, 0, 0, 0);
		name(&m, "web.vm");
		put16(&m, A);
		put16(&m, 1);
		assert_int_equal(answer(&m), 12);
		static const uint8_t want[] = { 0, 7, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0 };
		assert_memory_equal(out, want, 12);
	}
	/* Question names that do not parse, each a complete datagram. */
	struct { const char *wire; size_t len; } bad[] = {
		{ "\300\014\0\1\0\1", 6 },            /* compression pointer */
		{ "\3web\300\014\0\1\0\1", 10 },      /* pointer after a label */
		{ "\3we", 3 },                          /* label runs off the end */
		{ "\3web\2vm", 7 },                     /* no root label */
		{ "\3web\2vm\0\0\1\0", 10 },            /* class cut short */
		{ "\100abc\0\0\1\0\1", 9 },             /* extended label type 0x40 */
		{ "\200abc\0\0\1\0\1", 9 },             /* reserved label type 0x80 */
		{ "", 0 },                              /* nothing after the header */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		header(&m, 7, 0, 1, 0, 0, 0);
		putb(&m, bad[i].wire, bad[i].len);
		assert_int_equal(answer(&m), 12);
		assert_int_equal(rcode(), 1);
		assert_int_equal(qd() + an() + ns() + ar(), 0);
	}
}

static void test_name_limits(void **state)
{
	struct msg m;
	(void)state;
	/* A 64-byte label. */
	header(&m, 7, 0, 1, 0, 0, 0);
	put8(&m, 64);
	for (int i = 0; i < 64; i++)
		put8(&m, 'a');
	name(&m, "vm");
	put16(&m, A);
	put16(&m, 1);
	assert_int_equal(answer(&m), 12);
	assert_int_equal(rcode(), 1);

	/* 255 bytes on the wire is a name (a.b... under vm.: NXDOMAIN), one
	 * more is not.  124 "\1a" labels + "\2vm" + root = 248 + 3 + 1 = 252;
	 * pad with one "\2bb" label to 255, or "\3bbb" to 256. */
	for (int extra = 2; extra <= 3; extra++) {
		header(&m, 7, 0, 1, 0, 0, 1);
		put8(&m, (uint8_t)extra);
		for (int i = 0; i < extra; i++)
			put8(&m, 'b');
		for (int i = 0; i < 124; i++)
			putb(&m, "\1a", 2);
		name(&m, "vm");
		put16(&m, A);
		put16(&m, 1);
		opt(&m, 0, 0, NULL, 0);
		size_t qname = m.n - 12 - 4 - 11;
		assert_int_equal(qname, 253 + extra);
		size_t n = answer(&m);
		if (qname == 255) {
			/* The largest reply there is: still far below 512. */
			assert_int_equal(n, 12 + 255 + 4 + 50 + 11);
			assert_int_equal(rcode(), 3);
			assert_soa_at(12 + 255 + 4, 12 + 255 - 4);
		} else {
			assert_int_equal(n, 12);
			assert_int_equal(rcode(), 1);
		}
	}
}

static void test_formerr_sections(void **state)
{
	struct msg m;
	const uint8_t ok_opts[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint8_t bad_opts[] = { 0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8 };
	(void)state;
	struct { uint16_t an, ns, ar; int tail; } cases[] = {
		{ 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 2, 1 },
		{ 0, 0, 1, 2 }, /* a non-OPT additional record */
		{ 0, 0, 1, 3 }, /* OPT owned by a name other than the root */
		{ 0, 0, 1, 4 }, /* OPT whose RDATA is cut short */
		{ 0, 0, 1, 5 }, /* option length past the RDATA */
		{ 0, 0, 0, 6 }, /* junk after the question */
		{ 0, 0, 1, 7 }, /* junk after the OPT */
		{ 0, 0, 1, 8 }, /* the additional section is missing */
		{ 0, 0, 1, 9 }, /* an option header cut short */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		header(&m, 9, 0, 1, cases[i].an, cases[i].ns, cases[i].ar);
		name(&m, "web.vm");
		put16(&m, A);
		put16(&m, 1);
		switch (cases[i].tail) {
		case 1: opt(&m, 0, 0, NULL, 0); opt(&m, 0, 0, NULL, 0); break;
		case 2: putb(&m, "\0\0\1\0\1\0\0\0\5\0\4\1\2\3\4", 15); break;
		case 3: putb(&m, "\1a\0\0\51\20\0\0\0\0\0\0\0", 13); break;
		case 4: opt(&m, 0, 0, ok_opts, sizeof(ok_opts)); m.n -= 2; break;
		case 5: opt(&m, 0, 0, bad_opts, sizeof(bad_opts)); break;
		case 6: put8(&m, 0); break;
		case 7: opt(&m, 0, 0, NULL, 0); put8(&m, 0); break;
		case 9: opt(&m, 0, 0, ok_opts, 3); break;
		default: break;
		}
		assert_int_equal(answer(&m), 12 + 12);
		assert_int_equal(get16(2), 0x8001);
		assert_int_equal(qd(), 1); /* the question parsed, so it is echoed */
		assert_int_equal(an() + ns() + ar(), 0);
		assert_memory_equal(out + 12, m.b + 12, 12);
	}
	/* Well-formed options (a cookie) are accepted and not echoed. */
	header(&m, 9, 0, 1, 0, 0, 1);
	name(&m, "web.vm");
	put16(&m, A);
	put16(&m, 1);
	opt(&m, 0, 0x8000, ok_opts, sizeof(ok_opts));
	assert_int_equal(answer(&m), 40 + 11);
	assert_int_equal(rcode(), 0);
}

static void test_notimp_and_drops(void **state)
{
	struct msg m;
	uint8_t small[DNS_UDP_MAX - 1];
	(void)state;
	query(&m, "web.vm", A, 1, false);
	m.b[2] |= 2 << 3; /* opcode STATUS */
	assert_int_equal(answer(&m), 12);
	static const uint8_t want[] = { 0xbe, 0xef, 0x91, 0x04, 0, 0, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(out, want, 12);
	m.b[2] = (uint8_t)((m.b[2] & ~0x78) | 5 << 3); /* UPDATE */
	assert_int_equal(answer(&m), 12);
	assert_int_equal(rcode(), 4);

	query(&m, "web.vm", A, 1, false);
	m.b[2] |= 0x80; /* a response: never answer one */
	assert_int_equal(answer(&m), 0);
	assert_int_equal(out[0], 0xaa);
	query(&m, "web.vm", A, 1, false);
	for (size_t n = 0; n < 12; n++)
		assert_int_equal(dns_answer(m.b, n, &lk, out, sizeof(out)), 0);
	assert_int_equal(dns_answer(m.b, m.n, &lk, small, sizeof(small)), 0);
	/* NULL callbacks find nothing. */
	struct dns_lookup none = { NULL, NULL, NULL };
	assert_int_not_equal(dns_answer(m.b, m.n, &none, out, sizeof(out)), 0);
	assert_int_equal(rcode(), 3);
	query(&m, "2.0.16.172.in-addr.arpa", PTR, 1, false);
	assert_int_not_equal(dns_answer(m.b, m.n, NULL, out, sizeof(out)), 0);
	assert_int_equal(rcode(), 3);
}

static void test_edns(void **state)
{
	struct msg m;
	static const uint8_t our_opt[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
	(void)state;
	query(&m, "web.vm", A, 1, true);
	assert_int_equal(answer(&m), 40 + 11);
	assert_int_equal(get16(2), 0x8500);
	assert_int_equal(an(), 1);
	assert_int_equal(ar(), 1);
	assert_memory_equal(out + 40, our_opt, 11);

	query(&m, "nope.vm", A, 1, true);
	assert_int_equal(answer(&m), 12 + 9 + 4 + 50 + 11);
	assert_int_equal(ns(), 1);
	assert_int_equal(ar(), 1);
	assert_memory_equal(out + 75, our_opt, 11);

	/* Version 1: BADVERS, i.e. extended rcode 16 = 1 in the OPT TTL's top
	 * byte and 0 in the header; no answer. */
	header(&m, 3, RD, 1, 0, 0, 1);
	name(&m, "web.vm");
	put16(&m, A);
	put16(&m, 1);
	opt(&m, 1, 0, NULL, 0);
	assert_int_equal(answer(&m), 12 + 12 + 11);
	assert_int_equal(get16(2), 0x8100);
	assert_int_equal(an() + ns(), 0);
	assert_int_equal(ar(), 1);
	static const uint8_t badvers[] = { 0, 0, 41, 0x04, 0xd0, 1, 0, 0, 0, 0, 0 };
	assert_memory_equal(out + 24, badvers, 11);
}

/* ---- the UDP server ---- */

static int udp_client(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Send m, wait up to ms for a reply; returns its length or -1. */
static ssize_t exchange(int fd, const void *q, size_t n, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(send(fd, q, n, 0), (ssize_t)n);
	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(fd, buf, cap, 0);
}

static void test_dnsd_udp(void **state)
{
	struct dnsd *d = NULL;
	struct berr err = { 0 };
	uint8_t buf[4096], want[DNS_UDP_MAX];
	struct msg m;
	(void)state;
	assert_int_equal(dnsd_start("127.0.0.1", 0, &lk, &d, &err), 0);
	assert_int_not_equal(dnsd_port(d), 0);
	_cleanup_close_ int fd = udp_client(dnsd_port(d));

	query(&m, "web.vm", A, 1, true);
	size_t wn = dns_answer(m.b, m.n, &lk, want, sizeof(want));
	assert_int_equal(exchange(fd, m.b, m.n, buf, sizeof(buf), 2000), (ssize_t)wn);
	assert_memory_equal(buf, want, wn);

	/* A response, a runt and an oversize datagram go unanswered, and the
	 * server keeps serving. */
	uint8_t *big = xcalloc(1, DNSD_MAX_QUERY + 1);
	memcpy(big, m.b, m.n);
	assert_int_equal(exchange(fd, big, DNSD_MAX_QUERY + 1, buf, sizeof(buf), 200), -1);
	free(big);
	assert_int_equal(exchange(fd, m.b, 11, buf, sizeof(buf), 200), -1);
	m.b[2] |= 0x80;
	assert_int_equal(exchange(fd, m.b, m.n, buf, sizeof(buf), 200), -1);
	m.b[2] &= 0x7f;
	query(&m, "2.0.16.172.in-addr.arpa", PTR, 1, false);
	wn = dns_answer(m.b, m.n, &lk, want, sizeof(want));
	assert_int_equal(exchange(fd, m.b, m.n, buf, sizeof(buf), 2000), (ssize_t)wn);
	assert_memory_equal(buf, want, wn);
	dnsd_stop(d);
}

/* Run a shell command, return its stdout (at most cap-1 bytes). */
static void run(const char *cmd, char *buf, size_t cap)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(buf, 1, cap - 1, p);
	buf[n] = '\0';
	pclose(p);
}

static void test_dnsd_dig(void **state)
{
	struct dnsd *d = NULL;
	struct berr err = { 0 };
	char cmd[256], res[4096];
	(void)state;
	if (system("command -v dig >/dev/null 2>&1") != 0)
		skip();
	assert_int_equal(dnsd_start("127.0.0.1", 0, &lk, &d, &err), 0);
#define DIG(args) (snprintf(cmd, sizeof(cmd), "dig @127.0.0.1 -p %u +time=2 +tries=1 %s", \
			  (unsigned)dnsd_port(d), args), \
		   run(cmd, res, sizeof(res)), res)

	assert_string_equal(DIG("+short WEB.vm"), "172.16.0.2\n");
	assert_string_equal(DIG("+short -x 172.16.0.2"), "web.vm.\n");
	assert_string_equal(DIG("+short +noedns web.vm"), "172.16.0.2\n");
	assert_string_equal(DIG("+short vm SOA"), "ns.vm. hostmaster.vm. 1 3600 600 86400 5\n");
	DIG("nope.vm");
	assert_non_null(strstr(res, "status: NXDOMAIN"));
	assert_non_null(strstr(res, "flags: qr aa rd;"));
	assert_non_null(strstr(res, "AUTHORITY: 1"));
	assert_non_null(strstr(res, "EDNS: version: 0, flags:; udp: 1232"));
	DIG("web.vm AAAA");
	assert_non_null(strstr(res, "status: NOERROR"));
	assert_non_null(strstr(res, "ANSWER: 0, AUTHORITY: 1"));
	DIG("example.com");
	assert_non_null(strstr(res, "status: REFUSED"));
	DIG("+edns=1 +noednsnegotiation web.vm");
	assert_non_null(strstr(res, "status: BADVERS"));
#undef DIG
	dnsd_stop(d);
}

static void test_dnsd_stop(void **state)
{
	struct berr err = { 0 };
	struct msg m;
	uint8_t buf[DNS_UDP_MAX];
	(void)state;
	int fds = count_fds();
	for (int i = 0; i < 5; i++) {
		struct dnsd *d = NULL;
		assert_int_equal(dnsd_start("127.0.0.1", 0, &lk, &d, &err), 0);
		int fd = udp_client(dnsd_port(d));
		query(&m, "web.vm", A, 1, false);
		assert_int_equal(exchange(fd, m.b, m.n, buf, sizeof(buf), 2000), 40);
		close(fd);
		int64_t t0 = mono_ms();
		dnsd_stop(d);
		assert_true(mono_ms() - t0 < 1000);
	}
	assert_int_equal(count_fds(), fds);
	dnsd_stop(NULL);
}

static void test_dnsd_errors(void **state)
{
	struct dnsd *d = NULL, *d2 = NULL;
	struct berr err = { 0 };
	char want[64];
	(void)state;
	int fds = count_fds();
	static const char *const bad[] = { "1.2.3", "localhost", "01.2.3.4", "::1", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(dnsd_start(bad[i], 53, &lk, &d, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not an IPv4 dotted quad"));
	}
	/* TEST-NET-1: on no interface here, so the bind fails and says where. */
	assert_int_equal(dnsd_start("192.0.2.1", 42053, &lk, &d, &err), -EADDRNOTAVAIL);
	assert_non_null(strstr(err.msg, "192.0.2.1:42053"));
	assert_null(d);

	assert_int_equal(dnsd_start("127.0.0.1", 0, &lk, &d, &err), 0);
	assert_int_equal(dnsd_start("127.0.0.1", dnsd_port(d), &lk, &d2, &err), -EADDRINUSE);
	snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)dnsd_port(d));
	assert_non_null(strstr(err.msg, want));
	assert_null(d2);
	dnsd_stop(d);
	assert_int_equal(count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_found),
		cmocka_unit_test(test_case_and_flags),
		cmocka_unit_test(test_any_qtype_and_class),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_nodata),
		cmocka_unit_test(test_apex),
		cmocka_unit_test(test_bad_names_in_zone),
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_ptr_misses),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_formerr_header_only),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_formerr_sections),
		cmocka_unit_test(test_notimp_and_drops),
		cmocka_unit_test(test_edns),
		cmocka_unit_test(test_dnsd_udp),
		cmocka_unit_test(test_dnsd_dig),
		cmocka_unit_test(test_dnsd_stop),
		cmocka_unit_test(test_dnsd_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
