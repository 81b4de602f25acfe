/* Unit tests: the 9P codec (p9/codec.c) and listen addresses (p9/addr.c).
 * Every message the server or the test client uses is encoded and decoded
 * back in its dialect; known bytes from the protocol's manual pages are
 * checked byte for byte; malformed input must be refused, never read past. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "p9.h"
#include "p9msg.h"
#include "util.h"

static uint8_t buf[70000];

static struct p9_msg roundtrip(const struct p9_msg *m, enum p9_dialect d)
{
	struct p9_msg back;
	size_t len = p9_encode(m, d, buf, sizeof(buf));
	assert_true(len >= P9_HDRSZ);
	assert_int_equal(buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24, len);
	assert_int_equal(p9_decode(buf, len, d, &back), 0);
	assert_int_equal(back.type, m->type);
	assert_int_equal(back.tag, m->tag);
	return back;
}

static bool streq(struct p9_str a, struct p9_str b)
{
	return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
}

/* Tversion from version(5): size[4] Tversion tag[2] msize[4] version[s]. */
static void test_version_bytes(void **state)
{
	(void)state;
	static const uint8_t want[] = { 19, 0, 0, 0, 100, 0xff, 0xff, 0, 0x20, 0, 0,
					6, 0, '9', 'P', '2', '0', '0', '0' };
	struct p9_msg m = { .type = P9_TVERSION, .tag = P9_NOTAG };
	m.u.version.msize = 8192;
	m.u.version.version = p9s("9P2000");
	assert_int_equal(p9_encode(&m, P9_UNSET, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	struct p9_msg back;
	assert_int_equal(p9_decode(want, sizeof(want), P9_UNSET, &back), 0);
	assert_int_equal(back.u.version.msize, 8192);
	assert_true(p9_streq(back.u.version.version, "9P2000"));
}

static void test_attach_dialects(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TATTACH, .tag = 7 };
	m.u.attach.fid = 1;
	m.u.attach.afid = P9_NOFID;
	m.u.attach.uname = p9s("alice");
	m.u.attach.aname = p9s("/");
	m.u.attach.n_uname = 1000;
	struct p9_msg b = roundtrip(&m, P9_2000L);
	assert_int_equal(b.u.attach.n_uname, 1000);
	assert_true(p9_streq(b.u.attach.uname, "alice"));
	/* 9P2000 has no n_uname: 4 bytes shorter, decoded as NONUNAME. */
	size_t l9 = p9_encode(&m, P9_2000, buf, sizeof(buf));
	size_t lL = p9_encode(&m, P9_2000L, buf, sizeof(buf));
	assert_int_equal(lL - l9, 4);
	b = roundtrip(&m, P9_2000);
	assert_int_equal(b.u.attach.n_uname, P9_NONUNAME);
	/* A .L attach read as 9P2000 has 4 trailing bytes: refused. */
	p9_encode(&m, P9_2000L, buf, sizeof(buf));
	assert_int_equal(p9_decode(buf, lL, P9_2000, &b), -EBADMSG);
}

static void test_walk(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TWALK, .tag = 3 };
	m.u.walk.fid = 1;
	m.u.walk.newfid = 2;
	m.u.walk.nwname = 3;
	m.u.walk.wname[0] = p9s("vms");
	m.u.walk.wname[1] = p9s("web");
	m.u.walk.wname[2] = p9s("status");
	struct p9_msg b = roundtrip(&m, P9_2000);
	assert_int_equal(b.u.walk.nwname, 3);
	for (int i = 0; i < 3; i++)
		assert_true(streq(b.u.walk.wname[i], m.u.walk.wname[i]));

	struct p9_msg r = { .type = P9_RWALK, .tag = 3 };
	r.u.rwalk.nwqid = 2;
	r.u.rwalk.wqid[1] = (struct p9_qid){ P9_QTDIR, 5, 0x1122334455667788ULL };
	b = roundtrip(&r, P9_2000L);
	assert_int_equal(b.u.rwalk.wqid[1].path, 0x1122334455667788ULL);
	assert_int_equal(b.u.rwalk.wqid[1].type, P9_QTDIR);
	assert_int_equal(b.u.rwalk.wqid[1].version, 5);

	/* More than 16 names is malformed, both ways. */
	m.u.walk.nwname = 17;
	assert_int_equal(p9_encode(&m, P9_2000, buf, sizeof(buf)), 0);
	m.u.walk.nwname = 1;
	size_t len = p9_encode(&m, P9_2000, buf, sizeof(buf));
	buf[15] = 17;   /* nwname */
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);
}

static void test_io(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TWRITE, .tag = 9 };
	m.u.write.fid = 4;
	m.u.write.offset = 1ULL << 40;
	m.u.write.count = 6;
	m.u.write.data = (const uint8_t *)"start\n";
	struct p9_msg b = roundtrip(&m, P9_2000);
	assert_int_equal(b.u.write.count, 6);
	assert_memory_equal(b.u.write.data, "start\n", 6);
	assert_int_equal(b.u.write.offset, 1ULL << 40);

	struct p9_msg r = { .type = P9_RREAD, .tag = 9 };
	r.u.rread.count = 3;
	r.u.rread.data = (const uint8_t *)"abc";
	b = roundtrip(&r, P9_2000L);
	assert_memory_equal(b.u.rread.data, "abc", 3);

	/* A count past the end of the message. */
	size_t len = p9_encode(&m, P9_2000, buf, sizeof(buf));
	buf[19] = 7;   /* count low byte: 7 > the 6 bytes present */
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);
}

static void test_l_messages(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TGETATTR, .tag = 1 };
	m.u.getattr.fid = 2;
	m.u.getattr.mask = P9_GETATTR_ALL;
	assert_int_equal(roundtrip(&m, P9_2000L).u.getattr.mask, P9_GETATTR_ALL);

	struct p9_msg r = { .type = P9_RGETATTR, .tag = 1 };
	r.u.rgetattr.mode = 0100644;
	r.u.rgetattr.size = 237;
	r.u.rgetattr.data_version = 99;
	struct p9_msg b = roundtrip(&r, P9_2000L);
	assert_int_equal(b.u.rgetattr.mode, 0100644);
	assert_int_equal(b.u.rgetattr.size, 237);
	assert_int_equal(b.u.rgetattr.data_version, 99);
	/* Rgetattr: header 7 + valid 8 + qid 13 + 3*4 + 15*8. */
	assert_int_equal(p9_encode(&r, P9_2000L, buf, sizeof(buf)), 7 + 8 + 13 + 12 + 120);

	struct p9_msg s = { .type = P9_TSETATTR, .tag = 2 };
	s.u.setattr.valid = P9_SETATTR_SIZE;
	s.u.setattr.size = 0;
	s.u.setattr.mtime_nsec = 5;
	b = roundtrip(&s, P9_2000L);
	assert_int_equal(b.u.setattr.valid, P9_SETATTR_SIZE);
	assert_int_equal(b.u.setattr.mtime_nsec, 5);

	struct p9_msg k = { .type = P9_TMKDIR, .tag = 3 };
	k.u.mkdir.dfid = 1;
	k.u.mkdir.name = p9s("web");
	k.u.mkdir.mode = 0755;
	assert_true(p9_streq(roundtrip(&k, P9_2000L).u.mkdir.name, "web"));

	struct p9_msg u = { .type = P9_TUNLINKAT, .tag = 4 };
	u.u.unlinkat.name = p9s("web");
	u.u.unlinkat.flags = P9_AT_REMOVEDIR;
	assert_int_equal(roundtrip(&u, P9_2000L).u.unlinkat.flags, P9_AT_REMOVEDIR);

	struct p9_msg f = { .type = P9_RSTATFS, .tag = 5 };
	f.u.rstatfs.type = 0x01021997;
	f.u.rstatfs.namelen = 63;
	b = roundtrip(&f, P9_2000L);
	assert_int_equal(b.u.rstatfs.type, 0x01021997);
	assert_int_equal(b.u.rstatfs.namelen, 63);

	struct p9_msg e = { .type = P9_RLERROR, .tag = 6 };
	e.u.lerror.ecode = EBUSY;
	assert_int_equal(roundtrip(&e, P9_2000L).u.lerror.ecode, EBUSY);

	/* Tfsync with and without Linux's datasync[4]. */
	struct p9_msg y = { .type = P9_TFSYNC, .tag = 7 };
	y.u.fid.fid = 3;
	size_t len = p9_encode(&y, P9_2000L, buf, sizeof(buf));
	assert_int_equal(p9_decode(buf, len, P9_2000L, &b), 0);
	buf[0] = (uint8_t)(len + 4);
	memset(buf + len, 0, 4);
	assert_int_equal(p9_decode(buf, len + 4, P9_2000L, &b), 0);
	assert_int_equal(b.u.fid.fid, 3);
}

static void test_dialect_sets(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TLOPEN, .tag = 1 }, b;
	m.u.lopen.fid = 1;
	size_t len = p9_encode(&m, P9_2000L, buf, sizeof(buf));
	assert_true(len > 0);
	/* .L messages are unknown in 9P2000 and the other way round; the
	 * header is still there for an error reply. */
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -ENOSYS);
	assert_int_equal(b.type, P9_TLOPEN);
	assert_int_equal(b.tag, 1);
	assert_int_equal(p9_encode(&m, P9_2000, buf, sizeof(buf)), 0);
	struct p9_msg o = { .type = P9_TOPEN, .tag = 2 };
	len = p9_encode(&o, P9_2000, buf, sizeof(buf));
	assert_int_equal(p9_decode(buf, len, P9_2000L, &b), -ENOSYS);
	/* Before Tversion only Tversion is known. */
	assert_int_equal(p9_decode(buf, len, P9_UNSET, &b), -ENOSYS);
	/* Types this codec does not implement (Tsymlink, Tlock). */
	uint8_t sym[] = { 7, 0, 0, 0, P9_TSYMLINK, 4, 0 };
	assert_int_equal(p9_decode(sym, sizeof(sym), P9_2000L, &b), -ENOSYS);
	assert_int_equal(b.tag, 4);
}

static void test_stat9(void **state)
{
	(void)state;
	struct p9_stat9 st = { 0 };
	st.qid = (struct p9_qid){ P9_QTDIR, 0, 42 };
	st.mode = P9_DMDIR | 0755;
	st.length = 0;
	st.name = p9s("vms");
	st.uid = st.gid = st.muid = p9s("root");
	struct p9_msg r = { .type = P9_RSTAT, .tag = 1 };
	r.u.rstat.stat = st;
	struct p9_msg b = roundtrip(&r, P9_2000);
	assert_true(p9_streq(b.u.rstat.stat.name, "vms"));
	assert_int_equal(b.u.rstat.stat.mode, P9_DMDIR | 0755);
	assert_int_equal(b.u.rstat.stat.qid.path, 42);
	/* Rstat: n[2] = the entry with its own size[2]; size = 47 + strings. */
	size_t len = p9_encode(&r, P9_2000, buf, sizeof(buf));
	size_t entry = 47 + 3 + 4 * 3;
	assert_int_equal(buf[7] | buf[8] << 8, entry + 2);
	assert_int_equal(buf[9] | buf[10] << 8, entry);
	assert_int_equal(len, 7 + 2 + 2 + entry);
	/* An inner size that disagrees with the outer one. */
	buf[9]++;
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);

	/* Directory-read entries, one after another. */
	size_t a = p9_stat9_put(buf, sizeof(buf), &st);
	st.name = p9s("images");
	size_t c = p9_stat9_put(buf + a, sizeof(buf) - a, &st);
	struct p9_stat9 g;
	assert_int_equal(p9_stat9_get(buf, a + c, &g), a);
	assert_true(p9_streq(g.name, "vms"));
	assert_int_equal(p9_stat9_get(buf + a, c, &g), c);
	assert_true(p9_streq(g.name, "images"));
	assert_int_equal(p9_stat9_get(buf, a - 1, &g), 0);
	assert_int_equal(p9_stat9_put(buf, a - 1, &st), 0);

	/* Twstat with "don't touch" everywhere. */
	struct p9_msg w = { .type = P9_TWSTAT, .tag = 2 };
	w.u.wstat.fid = 5;
	memset(&w.u.wstat.stat, 0xff, sizeof(w.u.wstat.stat));
	w.u.wstat.stat.name = w.u.wstat.stat.uid = w.u.wstat.stat.gid =
		w.u.wstat.stat.muid = p9s("");
	b = roundtrip(&w, P9_2000);
	assert_int_equal(b.u.wstat.stat.length, ~0ULL);
	assert_int_equal(b.u.wstat.stat.mode, 0xffffffffu);
}

static void test_dirent(void **state)
{
	(void)state;
	struct p9_qid q = { P9_QTFILE, 0, 7 }, gq;
	uint64_t off;
	uint8_t type;
	struct p9_str name;
	size_t n = p9_dirent_put(buf, sizeof(buf), &q, 3, 8, "status");
	assert_int_equal(n, 13 + 8 + 1 + 2 + 6);
	assert_int_equal(p9_dirent_get(buf, n, &gq, &off, &type, &name), n);
	assert_int_equal(gq.path, 7);
	assert_int_equal(off, 3);
	assert_int_equal(type, 8);
	assert_true(p9_streq(name, "status"));
	assert_int_equal(p9_dirent_get(buf, n - 1, &gq, &off, &type, &name), 0);
	assert_int_equal(p9_dirent_put(buf, n - 1, &q, 3, 8, "status"), 0);
}

static void test_malformed(void **state)
{
	(void)state;
	struct p9_msg m = { .type = P9_TCLUNK, .tag = 1 }, b;
	m.u.fid.fid = 9;
	size_t len = p9_encode(&m, P9_2000, buf, sizeof(buf));
	/* Runts and size fields that disagree with the buffer. */
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p9_decode(buf, i, P9_2000, &b), -EBADMSG);
	buf[0]++;
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);
	buf[0]--;
	/* Trailing bytes. */
	buf[len] = 0;
	buf[0]++;
	assert_int_equal(p9_decode(buf, len + 1, P9_2000, &b), -EBADMSG);
	/* A NUL inside a name. */
	struct p9_msg w = { .type = P9_TWALK, .tag = 1 };
	w.u.walk.nwname = 1;
	w.u.walk.wname[0] = p9s("ab");
	len = p9_encode(&w, P9_2000, buf, sizeof(buf));
	buf[len - 1] = 0;
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);
	/* A string length past the end. */
	buf[len - 1] = 'b';
	buf[len - 3] = 3;
	assert_int_equal(p9_decode(buf, len, P9_2000, &b), -EBADMSG);
	/* Encoding into too small a buffer. */
	assert_int_equal(p9_encode(&w, P9_2000, buf, len - 1), 0);
	assert_int_equal(p9_encode(&w, P9_2000, buf, len), len);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(p9_type_name(P9_TWALK), "Twalk");
	assert_string_equal(p9_type_name(P9_RLERROR), "Rlerror");
	assert_null(p9_type_name(200));
	assert_true(p9_streq(p9s("ctl"), "ctl"));
	assert_false(p9_streq(p9s("ctl"), "ct"));
	assert_int_equal(p9s(NULL).len, 0);
}

static void test_parse_tcp(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	unsigned len;
	struct berr err = { 0 };
	assert_int_equal(p9_parse_tcp("tcp!127.0.0.1!564", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 564);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(p9_parse_tcp("tcp!::1!5640", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5640);
	const char *bad[] = { "127.0.0.1:564", "tcp!127.0.0.1", "tcp!!564", "tcp!127.0.0.1!0",
			      "tcp!127.0.0.1!65536", "tcp!127.0.0.1!56x", "tcp!localhost!564",
			      "unix!/run/x", "tcp!127.0.0.1!-1", "tcp!127.0.0.1! 564" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		berr_clear(&err);
		assert_int_equal(p9_parse_tcp(bad[i], &ss, &len, &err), -EINVAL);
		assert_true(strstr(err.msg, bad[i]) != NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_bytes), cmocka_unit_test(test_attach_dialects),
		cmocka_unit_test(test_walk),          cmocka_unit_test(test_io),
		cmocka_unit_test(test_l_messages),    cmocka_unit_test(test_dialect_sets),
		cmocka_unit_test(test_stat9),         cmocka_unit_test(test_dirent),
		cmocka_unit_test(test_malformed),     cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_tcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
