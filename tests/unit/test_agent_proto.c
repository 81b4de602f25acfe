/* Unit tests: the agent's frame codec and line reader (core/agent_proto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent_proto.h"

static struct agent_frame fr;

static int dec(const char *s, struct berr *err)
{
	static char buf[AGENT_LINE_MAX + 1];
	size_t n = strlen(s);
	memcpy(buf, s, n + 1);
	return agent_frame_decode(buf, n, &fr, err);
}

/* Decode, re-encode, compare. */
static void roundtrip(const char *s)
{
	struct berr err = { 0 };
	struct sbuf out;
	if (dec(s, &err) != 0)
		fail_msg("decode of \"%s\" failed: %s", s, err.msg);
	sbuf_init(&out);
	agent_frame_encode(&fr, &out);
	assert_int_equal(out.len, strlen(s) + 1);
	assert_memory_equal(out.buf, s, strlen(s));
	sbuf_free(&out);
}

static void test_roundtrips(void **state)
{
	(void)state;
	roundtrip("hello 0 1 abc");
	roundtrip("hello 0 1 abc 0.1.0");
	roundtrip("ping 12");
	roundtrip("exec 7 pipe /root 3 1 sh -c echo%20hi;%20exit%203 PATH=/usr/bin:/bin");
	roundtrip("exec 7 null ~ 1 0 true");
	roundtrip("in 7 aGVsbG8K");
	roundtrip("out 7 2 ZXJyCg==");
	roundtrip("exit 7 signal 9");
	roundtrip("put 9 /root/f 420 5");
	roundtrip("ident 4 hostname=web1 dns=10.0.0.1,10.0.0.2");
	roundtrip("ident 4 iface=eth0 mac=52:54:00:12:34:56");
	roundtrip("ident 4 mount=/root");
	roundtrip("ident 4 hostname=a iface=b addr=c gw=d dns=e machine_id=f mac=g mount=/root");
	roundtrip("hello 0 1 abc 0.1.0%20ident-mac%20ident-mount");
	roundtrip("shutdown 10 poweroff force");
	roundtrip("err 0 71 line%20too%20long");
	roundtrip("ok 5");
	roundtrip("ok 5 ssh-ed25519%20AAAA");
}

static void test_version_features(void **state)
{
	(void)state;
	assert_true(agent_version_has("0.1.0 ident-mac ident-mount", "ident-mac"));
	assert_true(agent_version_has("0.1.0 ident-mac ident-mount", "ident-mount"));
	assert_false(agent_version_has("0.1.0", "ident-mac"));          /* an older agent */
	assert_false(agent_version_has("", "ident-mac"));
	assert_false(agent_version_has("ident-mac", "ident-mac"));      /* the version, not a feature */
	assert_false(agent_version_has("0.1.0 ident-macs", "ident-mac")); /* whole words */
	assert_false(agent_version_has("0.1.0 ident-ma", "ident-mac"));
	assert_false(agent_version_has("0.1.0 ident-mac", ""));
	assert_true(agent_version_has("0.1.0  ident-mac", "ident-mac"));
}

static void test_fields(void **state)
{
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(dec("exec 7 pipe %7E%25%20 3 1 x ~ a%0Ab X=1", &err), 0);
	assert_int_equal(fr.v->verb, AV_EXEC);
	assert_int_equal(fr.id, 7);
	assert_string_equal(fr.f[1].s, "~% ");
	assert_int_equal(fr.f[5].len, 0);
	assert_string_equal(fr.f[5].s, "");
	assert_string_equal(fr.f[6].s, "a\nb");
	assert_int_equal(dec("in 3 AAEC", &err), 0);
	assert_int_equal(fr.f[0].len, 3);
	assert_memory_equal(fr.f[0].s, "\0\1\2", 3);
	if (dec("ident 1 hostname=a%20b gw=~", &err) != 0) fail_msg("%s", err.msg);
	assert_string_equal(fr.f[0].s, "hostname");
	assert_string_equal(fr.f[0].val, "a b");
	assert_string_equal(fr.f[1].val, "");
	assert_int_equal(dec("clock 2 18446744073709551615 0", &err), -EPROTO);
	assert_int_equal(dec("ack 2 262144", &err), 0);
	assert_int_equal(fr.f[0].n, AGENT_WINDOW);
}

static void test_encoder(void **state)
{
	struct sbuf s;
	(void)state;
	sbuf_init(&s);
	size_t b = agent_frame_begin(&s, AV_EXEC, 42);
	agent_put_word(&s, "pipe");
	agent_put_cstr(&s, "");
	agent_put_num(&s, 2);
	agent_put_num(&s, 0);
	agent_put_cstr(&s, "printf");
	agent_put_str(&s, "a b\n%~\x7f\xff", 8);
	assert_int_equal(agent_frame_end(&s, b), 0);
	assert_string_equal(s.buf, "exec 42 pipe ~ 2 0 printf a%20b%0A%25%7E%7F%FF\n");
	sbuf_free(&s);

	sbuf_init(&s);
	b = agent_frame_begin(&s, AV_OUT, 1);
	agent_put_num(&s, 1);
	agent_put_data(&s, "hi\n", 3);
	assert_int_equal(agent_frame_end(&s, b), 0);
	assert_string_equal(s.buf, "out 1 1 aGkK\n");
	/* too long: dropped, buffer back to where the frame began */
	size_t before = s.len;
	b = agent_frame_begin(&s, AV_OK, 2);
	char *big = malloc(AGENT_LINE_MAX);
	memset(big, 'x', AGENT_LINE_MAX);
	agent_put_str(&s, big, AGENT_LINE_MAX - 4);
	assert_int_equal(agent_frame_end(&s, b), -E2BIG);
	assert_int_equal(s.len, before);
	free(big);
	sbuf_free(&s);

	sbuf_init(&s);
	b = agent_frame_begin(&s, AV_IDENT, 3);
	agent_put_kv(&s, "hostname", "x y");
	assert_int_equal(agent_frame_end(&s, b), 0);
	assert_string_equal(s.buf, "ident 3 hostname=x%20y\n");
	sbuf_free(&s);
}

static void expect_bad(const char *s, const char *words)
{
	struct berr err = { 0 };
	if (dec(s, &err) != -EPROTO)
		fail_msg("\"%s\" was accepted", s);
	if (!strstr(err.msg, words))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, err.msg, words);
}

static void test_rejects(void **state)
{
	(void)state;
	expect_bad("", "empty frame");
	expect_bad("ping", "no id");
	expect_bad("pong 1", "unknown verb");
	expect_bad("PING 1", "unknown verb");
	expect_bad("ping 01", "bad id");
	expect_bad("ping 4294967296", "bad id");
	expect_bad("ping 0", "request id");
	expect_bad("ping 1 x", "0..0 fields");
	expect_bad("ping  1", "empty field");
	expect_bad("ping 1 ", "empty field");
	expect_bad("ping\t1", "not printable");
	expect_bad("hello 1 1 x", "id 0");
	expect_bad("exec 1 pipe / 2 0 true", "counts");
	expect_bad("exec 1 pipe / 1 1 true NOEQUALS", "NAME=value");
	expect_bad("exec 1 pipe / 1 1 true =x", "NAME=value");
	expect_bad("exec 1 tty / 1 0 true", "pipe or null");
	expect_bad("exec 1 pipe / 1 0 ~", "program name is empty");
	expect_bad("exec 1 pipe / 1 0 a%00b", "percent");
	expect_bad("exec 1 pipe / 1 0 a%41", "percent");     /* escaped without need */
	expect_bad("exec 1 pipe / 1 0 a%0a", "percent");     /* lowercase hex */
	expect_bad("exec 1 pipe / 1 0 a%0", "percent");      /* truncated */
	expect_bad("exec 1 pipe / 1 0 a~", "percent");       /* '~' only alone */
	expect_bad("in 1 aGk", "base64");
	expect_bad("in 1 aGl=", "base64");                   /* non-zero pad bits */
	expect_bad("in 1 a=Gk", "base64");
	expect_bad("in 1 ====", "base64");
	expect_bad("put 1 rel/path 420 1", "absolute");
	expect_bad("put 1 /x 4096 1", "07777");
	expect_bad("put 1 /x 420 17179869185", "size");
	expect_bad("ident 1 color=red", "unknown key");
	expect_bad("ident 1 gw=a gw=b", "repeats");
	expect_bad("ident 1 hostname", "key=value");
	expect_bad("ident 1", "at least one");
	expect_bad("ident 1 mac=a mac=b", "repeats");
	expect_bad("ident 1 mount=/root mount=/root", "repeats");
	expect_bad("ident 1 hostname=a iface=b addr=c gw=d dns=e machine_id=f mac=g mount=/root dns=x",
		   "takes 0..8 fields, not 9");
	expect_bad("clock 1 5 1000000000", "nanoseconds");
	expect_bad("rng 1 AAAA", "rng takes");
	expect_bad("shutdown 1 halt", "poweroff or reboot");
	expect_bad("shutdown 1 reboot now", "force");
	expect_bad("out 1 3 aGkK", "stream");
	expect_bad("exit 1 code 256", "0..255");
	expect_bad("exit 1 core 1", "code or signal");
	expect_bad("err 1 0 x", "errno");
	expect_bad("kill 1 65", "signal");
	expect_bad("ack 1 0", "ack");
}

static void test_data_bound(void **state)
{
	struct berr err = { 0 };
	(void)state;
	size_t raw = AGENT_DATA_MAX + 3;
	uint8_t *bytes = calloc(1, raw);
	char *line = malloc(agent_b64_len(raw) + 16);
	strcpy(line, "in 1 ");
	agent_b64_encode(bytes, AGENT_DATA_MAX, line + 5);
	line[5 + agent_b64_len(AGENT_DATA_MAX)] = '\0';
	assert_int_equal(dec(line, &err), 0);
	assert_int_equal(fr.f[0].len, AGENT_DATA_MAX);
	agent_b64_encode(bytes, raw, line + 5);
	line[5 + agent_b64_len(raw)] = '\0';
	assert_int_equal(dec(line, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "more than"));
	free(bytes);
	free(line);
}

static void test_b64(void **state)
{
	uint8_t in[256], out[256];
	char enc[400];
	size_t n;
	(void)state;
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len < 20; len++) {
		agent_b64_encode(in, len, enc);
		assert_int_equal(agent_b64_decode(enc, agent_b64_len(len), out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(in, out, len);
	}
	agent_b64_encode("foobar", 6, enc);
	enc[8] = '\0';
	assert_string_equal(enc, "Zm9vYmFy");
}

/* The line reader: pieces, empty lines, an over-long line dropped whole. */
static void feed(struct agent_lines *l, const char *s, size_t n)
{
	while (n) {
		size_t room;
		char *p = agent_lines_space(l, &room);
		assert_non_null(p);
		size_t k = n < room ? n : room;
		memcpy(p, s, k);
		agent_lines_commit(l, k);
		s += k;
		n -= k;
		if (n) { /* full: the caller must drain before more space */
			char *line;
			size_t len;
			int r;
			while ((r = agent_lines_next(l, &line, &len)) != 0)
				assert_int_equal(r, -E2BIG);
		}
	}
}

static void test_lines(void **state)
{
	struct agent_lines l;
	char *line;
	size_t len;
	(void)state;
	agent_lines_init(&l);
	feed(&l, "ping 1\n\nping", 12);
	assert_int_equal(agent_lines_next(&l, &line, &len), 1);
	assert_string_equal(line, "ping 1");
	assert_int_equal(agent_lines_next(&l, &line, &len), 0);
	feed(&l, " 2\n", 3);
	assert_int_equal(agent_lines_next(&l, &line, &len), 1);
	assert_string_equal(line, "ping 2");
	assert_int_equal(len, 6);

	/* 3 MiB without a LF, then a good line: one E2BIG, then the line. */
	char *junk = malloc(3 << 20);
	memset(junk, 'A', 3 << 20);
	int e2big = 0;
	size_t off = 0;
	while (off < (3u << 20)) {
		size_t room;
		char *p = agent_lines_space(&l, &room);
		size_t k = ((3u << 20) - off) < room ? (3u << 20) - off : room;
		memcpy(p, junk + off, k);
		agent_lines_commit(&l, k);
		off += k;
		int r;
		while ((r = agent_lines_next(&l, &line, &len)) != 0) {
			assert_int_equal(r, -E2BIG);
			e2big++;
		}
	}
	assert_int_equal(e2big, 1);
	feed(&l, "tail\nping 3\n", 12);
	assert_int_equal(agent_lines_next(&l, &line, &len), 1);
	assert_string_equal(line, "ping 3");
	assert_int_equal(agent_lines_next(&l, &line, &len), 0);

	/* a line of exactly AGENT_LINE_MAX - 1 bytes + LF fits */
	memset(junk, 'B', AGENT_LINE_MAX - 1);
	junk[AGENT_LINE_MAX - 1] = '\n';
	feed(&l, junk, AGENT_LINE_MAX);
	assert_int_equal(agent_lines_next(&l, &line, &len), 1);
	assert_int_equal(len, AGENT_LINE_MAX - 1);
	free(junk);
	agent_lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrips), cmocka_unit_test(test_fields), cmocka_unit_test(test_version_features),
		cmocka_unit_test(test_encoder),	   cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_data_bound), cmocka_unit_test(test_b64),
		cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
