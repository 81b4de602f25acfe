/* core/dns.c: the `.vm` DNS codec (see dns.h and docs/dns.md).
 *
 * A query goes through three steps: parse (strict: anything we would have
 * to guess about is FORMERR), resolve (decide rcode and sections from the
 * name and the lookup callbacks), emit (write the datagram).
 *
 * Size budget, so every response fits DNS_UDP_MAX without truncation:
 * header 12 + question <= 255 + 4 + one answer (A 16, PTR <= 80, SOA 50)
 * or one authority SOA (50) + OPT 11: at most 12 + 259 + 80 + 11 = 362. */
#include "dns.h"

#include <stdbool.h>
#include <string.h>

enum {
	HDR_LEN = 12,
	NAME_MAX_WIRE = 255, /* RFC 1035 2.3.4: length bytes and root included */
	LABEL_MAX = 63,
	LABELS_MAX = 127,    /* 255 bytes hold at most 127 one-byte labels + root */
	OPT_FIXED = 11,      /* root name, type, class, ttl, rdlength */
};

enum { T_A = 1, T_SOA = 6, T_PTR = 12, T_OPT = 41, T_ANY = 255 };
enum { C_IN = 1, C_ANY = 255 };
enum {
	RC_NOERROR = 0,
	RC_FORMERR = 1,
	RC_SERVFAIL = 2,
	RC_NXDOMAIN = 3,
	RC_NOTIMP = 4,
	RC_REFUSED = 5,
	RC_BADVERS = 16, /* extended: the high 8 bits travel in the OPT TTL */
};

#define F_QR 0x8000
#define F_OPCODE 0x7800
#define F_AA 0x0400
#define F_RD 0x0100
#define F_CD 0x0010

/* The SOA's timers other than MINIMUM matter only to secondaries, which
 * this zone never has; they are conventional values. */
#define SOA_SERIAL 1
#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 86400

struct qname {
	size_t wire;                /* bytes on the wire, root included */
	int nlabels;
	uint8_t off[LABELS_MAX];    /* where each label starts in text */
	uint8_t len[LABELS_MAX];
	char text[NAME_MAX_WIRE];   /* lowercased labels, each NUL-terminated */
};

struct query {
	uint16_t id, flags;
	size_t qlen;                /* question bytes (name, type, class); 0 until parsed */
	uint16_t qtype, qclass;
	bool edns;
	uint8_t edns_version;
	struct qname name;
};

enum answer { ANS_NONE, ANS_A, ANS_PTR, ANS_SOA };

struct reply {
	int rcode;
	bool aa;
	bool soa;                   /* SOA of vm. in the authority section */
	bool opt;
	enum answer answer;
	struct in_addr addr;
	char ptr[LABEL_MAX + 1];
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static char lower(uint8_t c) { return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }

/* Parse the name at q[pos..n) without following compression: a question
 * is the first name in the message, so a pointer there can only be an
 * attack or a broken client.  Returns the wire length, 0 when malformed
 * (truncated, label over 63, name over 255, pointer or extended label). */
static size_t parse_name(const uint8_t *q, size_t n, size_t pos, struct qname *nm)
{
	size_t p = pos, t = 0;

	nm->nlabels = 0;
	for (;;) {
		if (p >= n)
			return 0;
		size_t l = q[p++];
		if (l == 0)
			break;
		if (l > LABEL_MAX || p - pos + l + 1 > NAME_MAX_WIRE || l > n - p)
			return 0;
		nm->off[nm->nlabels] = (uint8_t)t;
		nm->len[nm->nlabels] = (uint8_t)l;
		nm->nlabels++;
		for (size_t i = 0; i < l; i++)
			nm->text[t++] = lower(q[p + i]);
		nm->text[t++] = '\0';
		p += l;
	}
	nm->wire = p - pos;
	return nm->wire;
}

static const char *label(const struct qname *nm, int i) { return nm->text + nm->off[i]; }

/* Labels may hold NUL bytes on the wire, so compare lengths, not strings. */
static bool label_is(const struct qname *nm, int i, const char *s)
{
	return nm->len[i] == strlen(s) && memcmp(label(nm, i), s, nm->len[i]) == 0;
}

/* A VM name: 1..63 of [a-z0-9-], no leading or trailing '-'. */
static bool vm_label_ok(const char *s, size_t len)
{
	if (len == 0 || len > LABEL_MAX || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* RFC 6891 6.1.1: each option is code, length, data; one that runs past
 * the RDATA makes the message malformed. */
static bool options_ok(const uint8_t *p, size_t len)
{
	while (len > 0) {
		if (len < 4)
			return false;
		size_t ol = get16(p + 2);
		if (ol > len - 4)
			return false;
		p += 4 + ol;
		len -= 4 + ol;
	}
	return true;
}

/* The additional section may hold one OPT owned by the root and nothing
 * else (TSIG included: there are no keys here), and nothing may follow
 * the last record. */
static int parse_additional(const uint8_t *q, size_t n, size_t pos, unsigned arcount,
			    struct query *qq)
{
	if (arcount == 0)
		return pos == n ? RC_NOERROR : RC_FORMERR;
	if (arcount > 1 || n - pos < OPT_FIXED || q[pos] != 0 || get16(q + pos + 1) != T_OPT)
		return RC_FORMERR;
	size_t rdlen = get16(q + pos + 9);
	if (n - pos - OPT_FIXED != rdlen || !options_ok(q + pos + OPT_FIXED, rdlen))
		return RC_FORMERR;
	qq->edns = true;
	qq->edns_version = q[pos + 6];
	return RC_NOERROR;
}

/* Returns RC_NOERROR for a well-formed query, else the rcode to refuse it
 * with; qq->qlen is set once the question parsed (the reply echoes it). */
static int parse_query(const uint8_t *q, size_t n, struct query *qq)
{
	qq->id = get16(q);
	qq->flags = get16(q + 2);
	if (qq->flags & F_OPCODE)
		return RC_NOTIMP;
	if (get16(q + 4) != 1)
		return RC_FORMERR;
	size_t nl = parse_name(q, n, HDR_LEN, &qq->name);
	if (nl == 0 || n - HDR_LEN - nl < 4)
		return RC_FORMERR;
	qq->qtype = get16(q + HDR_LEN + nl);
	qq->qclass = get16(q + HDR_LEN + nl + 2);
	qq->qlen = nl + 4;
	if (get16(q + 6) != 0 || get16(q + 8) != 0)
		return RC_FORMERR;
	return parse_additional(q, n, HDR_LEN + qq->qlen, get16(q + 10), qq);
}

/* One in-addr.arpa octet label: decimal 0..255 without leading zeros. */
static bool octet(const struct qname *nm, int i, uint32_t *ret)
{
	const char *s = label(nm, i);
	size_t len = nm->len[i];
	uint32_t v = 0;

	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t k = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[k] - '0');
	}
	*ret = v;
	return v <= 255;
}

/* D.C.B.A.in-addr.arpa -> A.B.C.D; anything shorter or longer is not a
 * name this responder owns. */
static bool reverse_addr(const struct qname *nm, struct in_addr *ret)
{
	uint32_t a = 0, o;

	if (nm->nlabels != 6 || !label_is(nm, 4, "in-addr") || !label_is(nm, 5, "arpa"))
		return false;
	for (int i = 3; i >= 0; i--) {
		if (!octet(nm, i, &o))
			return false;
		a = a << 8 | o;
	}
	ret->s_addr = htonl(a);
	return true;
}

static void servfail(struct reply *r)
{
	r->rcode = RC_SERVFAIL;
	r->aa = false;
	r->soa = false;
	r->answer = ANS_NONE;
}

/* vm. and NAME.vm: NODATA and NXDOMAIN carry the SOA (RFC 2308) so
 * resolvers cache the miss for DNS_TTL seconds. */
static void resolve_zone(const struct query *qq, const struct dns_lookup *lk,
			 struct reply *r)
{
	const struct qname *nm = &qq->name;
	bool want_a = qq->qtype == T_A || qq->qtype == T_ANY;

	r->aa = true;
	r->soa = true;
	if (nm->nlabels == 1) {
		if (qq->qtype == T_SOA || qq->qtype == T_ANY) {
			r->answer = ANS_SOA;
			r->soa = false;
		}
		return;
	}
	if (nm->nlabels > 2 || !vm_label_ok(label(nm, 0), nm->len[0])) {
		r->rcode = RC_NXDOMAIN;
		return;
	}
	int f = lk && lk->forward ? lk->forward(lk->ctx, label(nm, 0), &r->addr) : 0;
	if (f < 0)
		servfail(r);
	else if (f == 0)
		r->rcode = RC_NXDOMAIN;
	else if (want_a) {
		r->answer = ANS_A;
		r->soa = false;
	}
}

/* There is no reverse zone to name in an SOA (the subnet is the daemon's
 * config, and a foreign SOA owner would be out of bailiwick), so reverse
 * misses go without one and are simply not cached. */
static void resolve_reverse(const struct query *qq, const struct dns_lookup *lk,
			    struct in_addr a, struct reply *r)
{
	char name[LABEL_MAX + 1] = "";

	int f = lk && lk->reverse ? lk->reverse(lk->ctx, a, name, sizeof(name)) : 0;
	if (f < 0 || (f > 0 && !vm_label_ok(name, strnlen(name, sizeof(name))))) {
		servfail(r);
		return;
	}
	r->aa = true;
	if (f == 0)
		r->rcode = RC_NXDOMAIN;
	else if (qq->qtype == T_PTR || qq->qtype == T_ANY) {
		r->answer = ANS_PTR;
		memcpy(r->ptr, name, sizeof(name));
	}
}

static void resolve(const struct query *qq, const struct dns_lookup *lk, struct reply *r)
{
	const struct qname *nm = &qq->name;
	struct in_addr a;

	if (qq->edns && qq->edns_version > 0)
		r->rcode = RC_BADVERS;
	else if (qq->qclass != C_IN && qq->qclass != C_ANY)
		r->rcode = RC_REFUSED;
	else if (nm->nlabels >= 1 && label_is(nm, nm->nlabels - 1, DNS_ZONE))
		resolve_zone(qq, lk, r);
	else if (reverse_addr(nm, &a))
		resolve_reverse(qq, lk, a, r);
	else
		r->rcode = RC_REFUSED;
}

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

static void put(struct wbuf *w, const void *d, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void put16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(w, b, sizeof(b));
}

static void put32(struct wbuf *w, uint32_t v)
{
	put16(w, (uint16_t)(v >> 16));
	put16(w, (uint16_t)v);
}

static void put_ptr(struct wbuf *w, size_t off) { put16(w, (uint16_t)(0xc000 | off)); }

/* Owner as a pointer, then type, class IN, TTL, RDLENGTH. */
static void put_rr(struct wbuf *w, size_t owner, uint16_t type, uint16_t rdlen)
{
	put_ptr(w, owner);
	put16(w, type);
	put16(w, C_IN);
	put32(w, DNS_TTL);
	put16(w, rdlen);
}

/* The SOA of vm.: owner, MNAME ns.vm. and RNAME hostmaster.vm. all point
 * at the question's "vm" label, which every name in the zone ends with. */
static void put_soa(struct wbuf *w, size_t owner, size_t zone)
{
	static const uint8_t mname[] = "\2ns", rname[] = "\12hostmaster";

	put_rr(w, owner, T_SOA, (uint16_t)(sizeof(mname) - 1 + 2 + sizeof(rname) - 1 + 2 + 20));
	put(w, mname, sizeof(mname) - 1);
	put_ptr(w, zone);
	put(w, rname, sizeof(rname) - 1);
	put_ptr(w, zone);
	put32(w, SOA_SERIAL);
	put32(w, SOA_REFRESH);
	put32(w, SOA_RETRY);
	put32(w, SOA_EXPIRE);
	put32(w, DNS_TTL);
}

static void put_ptr_rr(struct wbuf *w, const char *name)
{
	size_t len = strlen(name);

	put_rr(w, HDR_LEN, T_PTR, (uint16_t)(1 + len + 1 + strlen(DNS_ZONE) + 1));
	put(w, (uint8_t[]){ (uint8_t)len }, 1);
	put(w, name, len);
	put(w, (uint8_t[]){ (uint8_t)strlen(DNS_ZONE) }, 1);
	put(w, DNS_ZONE, strlen(DNS_ZONE) + 1);
}

/* Where the question's zone label starts: its length byte, "vm" and the
 * root end the name.  Only for names in the zone. */
static size_t zone_off(const struct query *qq)
{
	return HDR_LEN + qq->name.wire - (1 + strlen(DNS_ZONE) + 1);
}

static void put_answer(struct wbuf *w, const struct query *qq, const struct reply *r)
{
	switch (r->answer) {
	case ANS_A:
		put_rr(w, HDR_LEN, T_A, 4);
		put(w, &r->addr.s_addr, 4);
		break;
	case ANS_PTR:
		put_ptr_rr(w, r->ptr);
		break;
	case ANS_SOA:
		put_soa(w, HDR_LEN, zone_off(qq));
		break;
	case ANS_NONE:
		break;
	}
	if (r->soa)
		put_soa(w, zone_off(qq), zone_off(qq));
}

/* Our OPT: payload size, extended rcode bits, version 0, no flags, no
 * options. */
static void put_opt(struct wbuf *w, int rcode)
{
	put(w, (uint8_t[]){ 0 }, 1);
	put16(w, T_OPT);
	put16(w, DNS_EDNS_UDP);
	put32(w, (uint32_t)(rcode >> 4) << 24);
	put16(w, 0);
}

static size_t emit(const uint8_t *q, const struct query *qq, const struct reply *r,
		   uint8_t *out)
{
	struct wbuf w = { out, 0, DNS_UDP_MAX, false };
	uint16_t flags = F_QR | (qq->flags & (F_OPCODE | F_RD | F_CD)) | (r->rcode & 0xf);

	if (r->aa)
		flags |= F_AA;
	put16(&w, qq->id);
	put16(&w, flags);
	put16(&w, qq->qlen ? 1 : 0);
	put16(&w, r->answer != ANS_NONE);
	put16(&w, r->soa);
	put16(&w, r->opt);
	put(&w, q + HDR_LEN, qq->qlen);
	put_answer(&w, qq, r);
	if (r->opt)
		put_opt(&w, r->rcode);
	return w.full ? 0 : w.len;
}

size_t dns_answer(const uint8_t *q, size_t n, const struct dns_lookup *lk, uint8_t *out,
		  size_t cap)
{
	struct query qq = { 0 };
	struct reply r = { 0 };

	if (!q || !out || n < HDR_LEN || cap < DNS_UDP_MAX || (q[2] & 0x80))
		return 0;
	r.rcode = parse_query(q, n, &qq);
	if (r.rcode == RC_NOERROR) {
		resolve(&qq, lk, &r);
		r.opt = qq.edns;
	}
	return emit(q, &qq, &r, out);
}
