/* Unit tests: helper/proto.c, helper/paths.c and the validation side of
 * helper/ops.c (every refusal happens before the network is touched, so no
 * namespace is needed; the tests that chown need root and are skipped
 * otherwise).  Everything on disk lives in one temp dir. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "fusemount.h"
#include "paths.h"
#include "proto.h"
#include "util.h"

#define NOBODY 65534

static char tmp[PATH_MAX];    /* the temp dir (canonical) */
static char root_a[PATH_MAX]; /* managed roots below it */
static char root_b[PATH_MAX];

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

/* ---- proto: requests ---- */

static size_t enc(unsigned op, const char *const args[], size_t n, uint8_t *buf)
{
	struct berr err;
	size_t len = 0;
	assert_int_equal(proto_encode_request(op, args, n, buf, PROTO_MSG_MAX, &len, &err), 0);
	return len;
}

static void test_req_roundtrip(void **state)
{
	uint8_t buf[PROTO_MSG_MAX];
	struct proto_req req;
	struct berr err;
	const char *const two[] = {"br-fc", "172.16.0.1/24"};
	const char *const one[] = {"/run/banger/run/vms/x/fc.sock"};
	const char *const tap[] = {"bn-0001f3", "br-fc"};
	const char *const empty[] = {""};

	size_t len = enc(PROTO_OP_PING, NULL, 0, buf);
	assert_int_equal(len, PROTO_REQ_HDR);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_int_equal(req.op, PROTO_OP_PING);
	assert_int_equal(req.nargs, 0);

	len = enc(PROTO_OP_NET_ENSURE, two, 2, buf);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_int_equal(req.nargs, 2);
	assert_string_equal(req.args[0], "br-fc");
	assert_string_equal(req.args[1], "172.16.0.1/24");

	len = enc(PROTO_OP_TAP_CREATE, tap, 2, buf);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_string_equal(req.args[0], "bn-0001f3");

	len = enc(PROTO_OP_CHOWN_TO_OWNER, one, 1, buf);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_string_equal(req.args[0], one[0]);

	/* An empty argument is the ops' business, not the wire's. */
	len = enc(PROTO_OP_TAP_DELETE, empty, 1, buf);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_string_equal(req.args[0], "");

	/* The longest argument there is. */
	char *big = xmalloc(PROTO_ARG_MAX + 1);
	memset(big, 'a', PROTO_ARG_MAX);
	big[PROTO_ARG_MAX] = '\0';
	const char *const bigv[] = {big};
	len = enc(PROTO_OP_CHOWN_TO_OWNER, bigv, 1, buf);
	assert_int_equal(proto_decode_request(buf, len, &req, &err), 0);
	assert_int_equal(strlen(req.args[0]), PROTO_ARG_MAX);
	free(big);

	assert_string_equal(proto_op_name(PROTO_OP_TAP_LIST), "TAP_LIST");
	assert_string_equal(proto_op_name(77), "UNKNOWN");
	assert_int_equal(proto_op_by_name("CHOWN_TO_OWNER")->op, PROTO_OP_CHOWN_TO_OWNER);
	assert_null(proto_op_by_name("chown"));
}

static void test_req_encode_refusals(void **state)
{
	uint8_t buf[PROTO_MSG_MAX];
	struct berr err;
	size_t len;
	const char *const one[] = {"x"};

	assert_int_equal(proto_encode_request(0, NULL, 0, buf, sizeof(buf), &len, &err), -EINVAL);
	assert_int_equal(proto_encode_request(99, NULL, 0, buf, sizeof(buf), &len, &err), -EINVAL);
	assert_int_equal(
	    proto_encode_request(PROTO_OP_TAP_DELETE, NULL, 0, buf, sizeof(buf), &len, &err),
	    -EINVAL);
	assert_int_equal(proto_encode_request(PROTO_OP_PING, one, 1, buf, sizeof(buf), &len, &err),
			 -EINVAL);
	char *big = xmalloc(PROTO_ARG_MAX + 2);
	memset(big, 'a', PROTO_ARG_MAX + 1);
	big[PROTO_ARG_MAX + 1] = '\0';
	const char *const bigv[] = {big};
	assert_int_equal(
	    proto_encode_request(PROTO_OP_CHOWN_TO_OWNER, bigv, 1, buf, sizeof(buf), &len, &err),
	    -EMSGSIZE);
	free(big);
	/* A buffer too small for the message. */
	assert_int_equal(proto_encode_request(PROTO_OP_TAP_DELETE, one, 1, buf, 14, &len, &err),
			 -EMSGSIZE);
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8),
	b[3] = (uint8_t)v;
}

static int dec(const uint8_t *buf, size_t len, struct berr *err)
{
	struct proto_req req;
	return proto_decode_request(buf, len, &req, err);
}

static void test_req_decode_refusals(void **state)
{
	uint8_t buf[PROTO_MSG_MAX + 16], good[PROTO_MSG_MAX];
	const char *const one[] = {"bn-1"};
	struct berr err;

	size_t len = enc(PROTO_OP_TAP_DELETE, one, 1, good); /* 12 + 2 + 4 */
	assert_int_equal(len, 18);

	/* Every truncation of a good message, the header included. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(dec(good, n, &err), -EBADMSG);

	/* Bad magic. */
	memcpy(buf, good, len);
	buf[0] ^= 0xff;
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "magic"));

	/* Another version. */
	memcpy(buf, good, len);
	buf[5] = 2;
	assert_int_equal(dec(buf, len, &err), -EPROTO);
	memcpy(buf, good, len);
	buf[4] = 1, buf[5] = 1; /* 257 */
	assert_int_equal(dec(buf, len, &err), -EPROTO);

	/* Unknown ops: 0, past the last, the top. */
	unsigned past = 1;
	while (proto_op_lookup(past))
		past++;
	unsigned bad_ops[] = {0, past, 0x100, 0xffff};
	for (size_t i = 0; i < ARRAY_SIZE(bad_ops); i++) {
		memcpy(buf, good, len);
		buf[6] = (uint8_t)(bad_ops[i] >> 8), buf[7] = (uint8_t)bad_ops[i];
		assert_int_equal(dec(buf, len, &err), -EOPNOTSUPP);
	}

	/* The header's payload length disagrees with the datagram. */
	memcpy(buf, good, len);
	put32(buf + 8, 5);
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	put32(buf + 8, 7);
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	put32(buf + 8, 0xffffffffu);
	assert_int_equal(dec(buf, len, &err), -EBADMSG);

	/* A string length past the end (header consistent). */
	memcpy(buf, good, len);
	buf[12] = 0, buf[13] = 5;
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "past the end"));
	buf[12] = 0xff, buf[13] = 0xff;
	assert_int_equal(dec(buf, len, &err), -EBADMSG);

	/* A string longer than PROTO_ARG_MAX, even when the bytes are there. */
	size_t n = PROTO_ARG_MAX + 1;
	memcpy(buf, good, 12);
	buf[12] = (uint8_t)(n >> 8), buf[13] = (uint8_t)n;
	memset(buf + 14, 'a', n);
	put32(buf + 8, (uint32_t)(2 + n));
	assert_int_equal(dec(buf, 14 + n, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "at most"));

	/* A NUL inside a string. */
	memcpy(buf, good, len);
	buf[15] = '\0';
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "NUL"));

	/* Trailing bytes: an extra string, or junk. */
	memcpy(buf, good, len);
	buf[len] = 0, buf[len + 1] = 1, buf[len + 2] = 'x';
	put32(buf + 8, (uint32_t)(len + 3 - 12));
	assert_int_equal(dec(buf, len + 3, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing"));
	memcpy(buf, good, len);
	buf[len] = 'x';
	put32(buf + 8, (uint32_t)(len + 1 - 12));
	assert_int_equal(dec(buf, len + 1, &err), -EBADMSG);

	/* Too few strings: TAP_CREATE with one. */
	memcpy(buf, good, len);
	buf[7] = PROTO_OP_TAP_CREATE;
	assert_int_equal(dec(buf, len, &err), -EBADMSG);
	/* Too many: PING with one. */
	memcpy(buf, good, len);
	buf[7] = PROTO_OP_PING;
	assert_int_equal(dec(buf, len, &err), -EBADMSG);

	/* Longer than a message may be (checked before anything else). */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(dec(buf, PROTO_MSG_MAX + 1, &err), -EMSGSIZE);

	/* The good one still decodes. */
	assert_int_equal(dec(good, len, &err), 0);
}

/* ---- proto: replies ---- */

static void test_reply_roundtrip(void **state)
{
	uint8_t buf[PROTO_MSG_MAX];
	struct proto_reply rep;
	struct berr err;
	size_t len;
	const char *const list[] = {"bn-1", "bn-22", "bn-333"};

	assert_int_equal(proto_encode_reply(0, "3 taps", list, 3, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), 0);
	assert_int_equal(rep.status, 0);
	assert_string_equal(rep.msg, "3 taps");
	assert_int_equal(rep.n, 3);
	assert_string_equal(rep.list[2], "bn-333");
	assert_null(rep.list[3]);
	proto_reply_done(&rep);

	assert_int_equal(
	    proto_encode_reply(-EPERM, "no\nway\x7f", NULL, 0, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), 0);
	assert_int_equal(rep.status, -EPERM);
	assert_string_equal(rep.msg, "no?way?"); /* control characters never reach a log */
	assert_int_equal(rep.n, 0);
	assert_null(rep.list);
	proto_reply_done(&rep);

	/* A long sentence is cut, not refused. */
	char longmsg[2000];
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(proto_encode_reply(-EIO, longmsg, NULL, 0, buf, sizeof(buf), &len, &err),
			 0);
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), 0);
	assert_int_equal(strlen(rep.msg), PROTO_TEXT_MAX);
	proto_reply_done(&rep);
}

static void test_reply_refusals(void **state)
{
	uint8_t buf[PROTO_MSG_MAX], good[PROTO_MSG_MAX];
	struct proto_reply rep;
	struct berr err;
	size_t len;
	const char *const list[] = {"bn-1", "bn-2"};

	/* Encoder. */
	assert_int_equal(proto_encode_reply(1, "x", NULL, 0, buf, sizeof(buf), &len, &err),
			 -EINVAL);
	assert_int_equal(proto_encode_reply(-5000, "x", NULL, 0, buf, sizeof(buf), &len, &err),
			 -EINVAL);
	const char *const bad[] = {""};
	assert_int_equal(proto_encode_reply(0, "x", bad, 1, buf, sizeof(buf), &len, &err), -EINVAL);
	/* A list that does not fit in 4096 bytes. */
	static char names[PROTO_LIST_MAX][64];
	const char *many[PROTO_LIST_MAX];
	for (size_t i = 0; i < PROTO_LIST_MAX; i++) {
		memset(names[i], 'n', 63);
		many[i] = names[i];
	}
	assert_int_equal(
	    proto_encode_reply(0, "x", many, PROTO_LIST_MAX, buf, sizeof(buf), &len, &err),
	    -EMSGSIZE);
	assert_int_equal(
	    proto_encode_reply(0, "x", many, PROTO_LIST_MAX + 1, buf, sizeof(buf), &len, &err),
	    -EMSGSIZE);

	/* Decoder. */
	assert_int_equal(proto_encode_reply(0, "ok", list, 2, good, sizeof(good), &len, &err), 0);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(proto_decode_reply(good, n, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[0] = 'X';
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[5] = 9;
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EPROTO);
	memcpy(buf, good, len);
	put32(buf + 8, 1); /* a positive status */
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[7] = 3; /* more strings than there are */
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[7] = 1; /* fewer: trailing bytes */
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[6] = 0x10; /* 4098 strings */
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	memcpy(buf, good, len);
	buf[len - 1] = '\0'; /* a NUL in the last string */
	assert_int_equal(proto_decode_reply(buf, len, &rep, &err), -EBADMSG);
	assert_int_equal(proto_decode_reply(good, len, &rep, &err), 0);
	proto_reply_done(&rep);
}

/* ---- paths ---- */

static void test_clean_check(void **state)
{
	struct berr err;
	const char *good[] = {"/", "/a", "/a/b.c/d", "/a/..b/c.", "/a/...", "/.x"};
	const char *bad[] = {"",     "a",      "a/b",	"./a",	   "//a", "/a//b", "/a/",
			     "/a/.", "/a/./b", "/a/..", "/a/../b", "/..", "/a\nb", "/a\x7f"};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(path_clean_check(good[i], &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(path_clean_check(bad[i], &err), -EINVAL);
		assert_null(strchr(err.msg, '\n'));
	}
	char *big = xmalloc(PATH_MAX + 1);
	memset(big, 'a', PATH_MAX);
	big[0] = '/';
	big[PATH_MAX] = '\0';
	assert_int_equal(path_clean_check(big, &err), -EINVAL);
	free(big);
}

static void test_root_check(void **state)
{
	struct berr err;
	uid_t me = geteuid();

	assert_int_equal(path_root_check(root_a, me, &err), 0);
	assert_int_equal(path_root_check("/", me, &err), -EINVAL);
	assert_int_equal(path_root_check("relative", me, &err), -EINVAL);
	assert_int_equal(path_root_check(p("%s/../x", tmp), me, &err), -EINVAL);
	assert_int_equal(path_root_check(p("%s/nonexistent", tmp), me, &err), -ENOENT);

	/* A root that is itself a symlink. */
	assert_int_equal(symlink(root_a, p("%s/rootlink", tmp)), 0);
	assert_int_equal(path_root_check(p("%s/rootlink", tmp), me, &err), -ELOOP);
	/* A root with a symlink above it. */
	assert_int_equal(mkdir(p("%s/real", tmp), 0755), 0);
	assert_int_equal(mkdir(p("%s/real/r", tmp), 0700), 0);
	assert_int_equal(symlink(p("%s/real", tmp), p("%s/updir", tmp)), 0);
	assert_int_equal(path_root_check(p("%s/updir/r", tmp), me, &err), -ELOOP);
	assert_int_equal(path_root_check(p("%s/real/r", tmp), me, &err), 0);
	/* A file. */
	touch(p("%s/file", tmp));
	assert_int_equal(path_root_check(p("%s/file", tmp), me, &err), -ENOTDIR);
	/* Writable by others. */
	assert_int_equal(mkdir(p("%s/open", tmp), 0700), 0);
	assert_int_equal(chmod(p("%s/open", tmp), 0777), 0);
	assert_int_equal(path_root_check(p("%s/open", tmp), me, &err), -EPERM);
	assert_int_equal(chmod(p("%s/open", tmp), 0775), 0);
	assert_int_equal(path_root_check(p("%s/open", tmp), me, &err), -EPERM);
	/* Owned by somebody else (needs root to arrange). */
	if (me == 0) {
		assert_int_equal(mkdir(p("%s/foreign", tmp), 0700), 0);
		assert_int_equal(chown(p("%s/foreign", tmp), NOBODY, NOBODY), 0);
		assert_int_equal(path_root_check(p("%s/foreign", tmp), 1000, &err), -EPERM);
		assert_int_equal(path_root_check(p("%s/foreign", tmp), NOBODY, &err), 0);
	}
}

static void test_under_root(void **state)
{
	const char *const roots[] = {root_a, root_b};
	struct berr err;

	assert_int_equal(mkdir(p("%s/d", root_a), 0700), 0);
	assert_int_equal(mkdir(p("%s/d/e", root_a), 0700), 0);
	touch(p("%s/d/e/f", root_a));
	touch(p("%s/g", root_b));
	touch(p("%s/outside", tmp));

	/* Existing leaves, in either root; the index says which. */
	assert_int_equal(path_under_root(p("%s/d/e/f", root_a), roots, 2, true, &err), 0);
	assert_int_equal(path_under_root(p("%s/d/e", root_a), roots, 2, true, &err), 0);
	assert_int_equal(path_under_root(p("%s/g", root_b), roots, 2, true, &err), 1);

	/* A missing leaf: allowed, unless it must exist. */
	assert_int_equal(path_under_root(p("%s/d/e/new", root_a), roots, 2, false, &err), 0);
	assert_int_equal(path_under_root(p("%s/d/e/new", root_a), roots, 2, true, &err), -ENOENT);
	/* A missing directory in the middle is never fine. */
	assert_int_equal(path_under_root(p("%s/nope/x", root_a), roots, 2, false, &err), -ENOENT);
	/* A file in the middle. */
	assert_int_equal(path_under_root(p("%s/d/e/f/x", root_a), roots, 2, false, &err), -ENOTDIR);

	/* A symlinked leaf (to inside and to outside the root: both refused). */
	assert_int_equal(symlink(p("%s/outside", tmp), p("%s/d/evil", root_a)), 0);
	assert_int_equal(path_under_root(p("%s/d/evil", root_a), roots, 2, false, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "symlink"));
	assert_int_equal(symlink("e/f", p("%s/d/inner", root_a)), 0);
	assert_int_equal(path_under_root(p("%s/d/inner", root_a), roots, 2, false, &err), -ELOOP);
	/* A dangling symlink as the leaf is still a symlink. */
	assert_int_equal(symlink("/nonexistent", p("%s/d/dangling", root_a)), 0);
	assert_int_equal(path_under_root(p("%s/d/dangling", root_a), roots, 2, false, &err),
			 -ELOOP);
	/* A symlinked directory in the middle. */
	assert_int_equal(symlink(tmp, p("%s/dirlink", root_a)), 0);
	assert_int_equal(path_under_root(p("%s/dirlink/outside", root_a), roots, 2, false, &err),
			 -ELOOP);
	assert_int_equal(path_under_root(p("%s/dirlink/missing", root_a), roots, 2, false, &err),
			 -ELOOP);

	/* ".." escapes are refused as such, never resolved. */
	assert_int_equal(path_under_root(p("%s/../outside", root_a), roots, 2, false, &err),
			 -EINVAL);
	assert_int_equal(path_under_root(p("%s/d/../../outside", root_a), roots, 2, false, &err),
			 -EINVAL);
	assert_int_equal(path_under_root(p("%s/d/..", root_a), roots, 2, false, &err), -EINVAL);
	assert_int_equal(path_under_root(p("%s/./d", root_a), roots, 2, false, &err), -EINVAL);
	assert_int_equal(path_under_root(p("%s//d", root_a), roots, 2, false, &err), -EINVAL);

	/* Outside every root; the root itself; a sibling sharing its prefix. */
	assert_int_equal(path_under_root(p("%s/outside", tmp), roots, 2, false, &err), -EPERM);
	assert_int_equal(path_under_root("/etc/shadow", roots, 2, false, &err), -EPERM);
	assert_int_equal(path_under_root(root_a, roots, 2, false, &err), -EPERM);
	assert_int_equal(mkdir(p("%s-sibling", root_a), 0700), 0);
	assert_int_equal(path_under_root(p("%s-sibling/x", root_a), roots, 2, false, &err), -EPERM);
	/* Relative. */
	assert_int_equal(path_under_root("d/e/f", roots, 2, false, &err), -EINVAL);
	/* No roots at all. */
	assert_int_equal(path_under_root(p("%s/d", root_a), roots, 0, false, &err), -EPERM);
}

/* A mount below a root is refused (needs root and a mount namespace). */
static void test_under_root_mount(void **state)
{
	const char *const roots[] = {root_a};
	struct berr err;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip();
	assert_int_equal(mkdir(p("%s/mnt", root_a), 0700), 0);
	assert_int_equal(mount("tmpfs", p("%s/mnt", root_a), "tmpfs", 0, "size=64k"), 0);
	touch(p("%s/mnt/x", root_a));
	assert_int_equal(path_under_root(p("%s/mnt/x", root_a), roots, 1, false, &err), -EXDEV);
	assert_int_equal(path_under_root(p("%s/mnt", root_a), roots, 1, false, &err), -EXDEV);
	int fd = -1;
	assert_int_equal(path_open_beneath(root_a, p("%s/mnt/x", root_a), &fd, &err), -EXDEV);
	umount2(p("%s/mnt", root_a), MNT_DETACH);
}

static void test_open_beneath(void **state)
{
	const char *const roots[] = {root_b};
	struct berr err;
	int fd = -1;

	assert_int_equal(mkdir(p("%s/ob", root_b), 0700), 0);
	touch(p("%s/ob/file", root_b));
	assert_int_equal(path_open_beneath(root_b, p("%s/ob/file", root_b), &fd, &err), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
	assert_int_equal(path_open_beneath(root_b, p("%s/ob/none", root_b), &fd, &err), -ENOENT);
	assert_int_equal(path_open_beneath(root_b, p("%s/x", tmp), &fd, &err), -EPERM);

	/* The race the lstat walk cannot close: the check passes, then the
	 * directory is swapped for a symlink before the open.  openat2 refuses. */
	assert_int_equal(mkdir(p("%s/swap", root_b), 0700), 0);
	assert_int_equal(path_under_root(p("%s/swap/file", root_b), roots, 1, false, &err), 0);
	assert_int_equal(rmdir(p("%s/swap", root_b)), 0);
	assert_int_equal(symlink(p("%s/ob", root_b), p("%s/swap", root_b)), 0);
	assert_int_equal(path_open_beneath(root_b, p("%s/swap/file", root_b), &fd, &err), -ELOOP);
	/* A symlink leaf. */
	assert_int_equal(symlink("file", p("%s/ob/leaflink", root_b)), 0);
	assert_int_equal(path_open_beneath(root_b, p("%s/ob/leaflink", root_b), &fd, &err), -ELOOP);
}

/* ---- ops: refusals before any privileged call ---- */

static struct helper_conf conf;

static int run(uid_t peer, unsigned op, const char *a0, const char *a1, bool *rejected,
	       struct berr *err)
{
	struct proto_req req = {.op = (uint16_t)op, .nargs = 0};
	struct ops_result res;
	const struct proto_op_info *o = proto_op_lookup(op);

	req.nargs = o ? o->nargs : 0;
	snprintf(req.args[0], sizeof(req.args[0]), "%s", a0 ? a0 : "");
	snprintf(req.args[1], sizeof(req.args[1]), "%s", a1 ? a1 : "");
	int r = ops_run(&conf, peer, &req, &res, err);
	*rejected = res.rejected;
	ops_result_done(&res);
	return r;
}

static void test_ops_table(void **state)
{
	struct berr err;
	assert_int_equal(ops_selfcheck(&err), 0);
}

static void test_ops_refusals(void **state)
{
	uid_t owner = conf.owner_uid;
	struct berr err;
	bool rej;

	assert_int_equal(run(owner, PROTO_OP_PING, NULL, NULL, &rej, &err), 0);
	assert_false(rej);

	/* NET_ENSURE: only the configured bridge and subnet. */
	assert_int_equal(run(owner, PROTO_OP_NET_ENSURE, "eth0", "172.30.99.1/24", &rej, &err),
			 -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "not the bridge"));
	assert_int_equal(run(owner, PROTO_OP_NET_ENSURE, "br-t", "10.0.0.1/24", &rej, &err),
			 -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_NET_ENSURE, "br-t", "172.30.99.1/25", &rej, &err),
			 -EPERM);
	assert_int_equal(run(owner, PROTO_OP_NET_ENSURE, "br-t", "172.30.99.01/24", &rej, &err),
			 -EINVAL);
	assert_int_equal(run(owner, PROTO_OP_NET_ENSURE, "br t", "172.30.99.1/24", &rej, &err),
			 -EINVAL);
	assert_true(rej);

	/* TAP_CREATE: banger's prefix, the configured bridge, the owner only. */
	assert_int_equal(run(owner, PROTO_OP_TAP_CREATE, "eth0", "br-t", &rej, &err), -EINVAL);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "bn-"));
	assert_int_equal(run(owner, PROTO_OP_TAP_CREATE, "bn-x", "docker0", &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_TAP_CREATE, "bn-0123456789abc", "br-t", &rej, &err),
			 -EINVAL);
	assert_int_equal(run(owner + 1, PROTO_OP_TAP_CREATE, "bn-x", "br-t", &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_TAP_CREATE, "bn-x/../y", "br-t", &rej, &err), -EINVAL);

	/* TAP_DELETE: never anything but bn-*. */
	assert_int_equal(run(owner, PROTO_OP_TAP_DELETE, "eth0", NULL, &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_TAP_DELETE, "br-t", NULL, &rej, &err), -EINVAL);
	assert_int_equal(run(owner, PROTO_OP_TAP_DELETE, "", NULL, &rej, &err), -EINVAL);

	/* An op number no table knows (the decoder stops it first). */
	assert_int_equal(run(owner, 99, NULL, NULL, &rej, &err), -EOPNOTSUPP);
	assert_true(rej);
}

static void test_ops_chown(void **state)
{
	uid_t owner = conf.owner_uid;
	const char *rt = conf.runtime_dir;
	struct berr err;
	bool rej;

	/* Only below the runtime root: not the state root, not elsewhere. */
	touch(p("%s/state-file", conf.state_dir));
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/state-file", conf.state_dir),
			     NULL, &rej, &err),
			 -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, "/etc/passwd", NULL, &rej, &err),
			 -EPERM);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/../x", rt), NULL, &rej, &err),
			 -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, rt, NULL, &rej, &err), -EPERM);
	/* Symlinks. */
	assert_int_equal(symlink("/etc/passwd", p("%s/pw", rt)), 0);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/pw", rt), NULL, &rej, &err),
			 -ELOOP);
	assert_true(rej);
	assert_int_equal(symlink("/etc", p("%s/etc", rt)), 0);
	assert_int_equal(
	    run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/etc/passwd", rt), NULL, &rej, &err), -ELOOP);
	/* A missing leaf passes the path check and fails in the op: ENOENT,
	 * not a rejection. */
	assert_int_equal(
	    run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/later.sock", rt), NULL, &rej, &err), -ENOENT);
	assert_false(rej);
	/* A directory is refused. */
	assert_int_equal(mkdir(p("%s/vms", rt), 0700), 0);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/vms", rt), NULL, &rej, &err),
			 -EPERM);
	assert_true(rej);

	if (geteuid() != 0)
		skip();
	/* A socket made by "someone else" (root here) is given to the owner. */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vms/api.sock", rt);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, sa.sun_path, NULL, &rej, &err), 0);
	struct stat st;
	assert_int_equal(lstat(sa.sun_path, &st), 0);
	assert_int_equal(st.st_uid, owner);
	close(s);
	/* A regular file with a second link (to something outside) is refused. */
	touch(p("%s/vms/log", rt));
	assert_int_equal(link(p("%s/vms/log", rt), p("%s/hardlink", tmp)), 0);
	assert_int_equal(run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/vms/log", rt), NULL, &rej, &err),
			 -EPERM);
	assert_true(rej);
	assert_int_equal(lstat(p("%s/vms/log", rt), &st), 0);
	assert_int_equal(st.st_uid, 0);
	/* A set-id file is refused. */
	touch(p("%s/vms/suid", rt));
	assert_int_equal(chmod(p("%s/vms/suid", rt), 04755), 0);
	assert_int_equal(
	    run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/vms/suid", rt), NULL, &rej, &err), -EPERM);
	/* A plain file is fine. */
	touch(p("%s/vms/plain", rt));
	assert_int_equal(
	    run(owner, PROTO_OP_CHOWN_TO_OWNER, p("%s/vms/plain", rt), NULL, &rej, &err), 0);
}

/* TAP_OPEN: the same refusals as TAP_CREATE, before the network. */
static void test_ops_tap_open(void **state)
{
	uid_t owner = conf.owner_uid;
	struct berr err;
	bool rej;

	assert_int_equal(run(owner, PROTO_OP_TAP_OPEN, "eth0", "br-t", &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_TAP_OPEN, "bn-x", "docker0", &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner + 1, PROTO_OP_TAP_OPEN, "bn-x", "br-t", &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_TAP_OPEN, "bn-x/../y", "br-t", &rej, &err), -EINVAL);
	assert_true(rej);
}

/* FUSE_MOUNT / FUSE_UNMOUNT: only the configured mount point, only for
 * the owner, only a directory of the owner reached without symlinks.  The
 * real mount runs in the mount namespace test_under_root_mount made. */
static void test_ops_fuse(void **state)
{
	uid_t owner = conf.owner_uid;
	_cleanup_free_ char *mnt = xstrdup(p("%s/fs", tmp));
	struct berr err;
	bool rej;

	/* Not offered without --mount: a plain failure, not an attack. */
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -EOPNOTSUPP);
	assert_false(rej);
	assert_int_equal(run(owner, PROTO_OP_FUSE_UNMOUNT, mnt, NULL, &rej, &err), -EOPNOTSUPP);
	assert_false(rej);

	conf.mountpoint = mnt;
	conf.owner_gid = NOBODY;
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, "/etc", NULL, &rej, &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "not the mount point"));
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, p("%s/../fs", tmp), NULL, &rej, &err),
			 -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner + 1, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_FUSE_UNMOUNT, "/proc", NULL, &rej, &err), -EPERM);
	assert_true(rej);
	/* A symlink at the mount point, to a directory of the owner. */
	assert_int_equal(mkdir(p("%s/elsewhere", tmp), 0700), 0);
	assert_int_equal(symlink(p("%s/elsewhere", tmp), mnt), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(p("%s/elsewhere", tmp), owner, NOBODY), 0);
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -ELOOP);
	assert_true(rej);
	assert_int_equal(unlink(mnt), 0);
	/* Missing, then a file, then somebody else's directory. */
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -ENOENT);
	assert_false(rej);
	touch(mnt);
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -ENOTDIR);
	assert_int_equal(unlink(mnt), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (geteuid() != 0) {
		conf.mountpoint = NULL;
		skip();
	}
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "belongs to uid 0"));

	/* The real thing (in this test's own mount namespace). */
	assert_int_equal(chown(mnt, owner, NOBODY), 0);
	struct proto_req req = {.op = PROTO_OP_FUSE_MOUNT, .nargs = 1};
	snprintf(req.args[0], sizeof(req.args[0]), "%s", mnt);
	struct ops_result res;
	assert_int_equal(ops_run(&conf, owner, &req, &res, &err), 0);
	assert_true(res.fd > 2);
	uid_t who = 0;
	int other = 1;
	assert_int_equal(fusemount_find(mnt, &who, &other, &err), 1);
	assert_int_equal(who, owner);
	_cleanup_free_ char *info = NULL;
	assert_int_equal(read_file("/proc/self/mountinfo", 1 << 20, &info, NULL), 0);
	const char *line = strstr(info, mnt);
	assert_non_null(line);
	const char *eol = strchr(line, '\n');
	_cleanup_free_ char *l = strndup(line, (size_t)(eol - line));
	assert_non_null(strstr(l, "nosuid"));
	assert_non_null(strstr(l, "nodev"));
	assert_non_null(strstr(l, " - fuse.banger banger "));
	assert_non_null(strstr(l, "user_id=65534,group_id=65534"));
	assert_non_null(strstr(l, "default_permissions"));
	assert_null(strstr(l, "allow_other"));
	/* Mounted already: refused, whoever serves it. */
	assert_int_equal(run(owner, PROTO_OP_FUSE_MOUNT, mnt, NULL, &rej, &err), -EBUSY);
	/* Nobody serves it (a killed daemon): FUSE_UNMOUNT takes it away. */
	ops_result_done(&res);
	assert_int_equal(run(owner, PROTO_OP_FUSE_UNMOUNT, mnt, NULL, &rej, &err), 0);
	assert_int_equal(fusemount_find(mnt, &who, &other, &err), 0);
	assert_int_equal(run(owner, PROTO_OP_FUSE_UNMOUNT, mnt, NULL, &rej, &err), 0);
	/* Something else mounted there is not the helper's to take. */
	assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=64k"), 0);
	assert_int_equal(run(owner, PROTO_OP_FUSE_UNMOUNT, mnt, NULL, &rej, &err), -EPERM);
	assert_true(rej);
	assert_int_equal(fusemount_find(mnt, &who, &other, &err), 0);
	assert_int_equal(other, 1);
	umount2(mnt, MNT_DETACH);
	conf.mountpoint = NULL;
	conf.owner_gid = (gid_t)-1;
}

static int setup_all(void **state)
{
	char t[] = "/tmp/banger-test-helper.XXXXXX";
	if (!mkdtemp(t) || !realpath(t, tmp))
		return -1;
	snprintf(root_a, sizeof(root_a), "%s", p("%s/root-a", tmp));
	snprintf(root_b, sizeof(root_b), "%s", p("%s/root-b", tmp));
	if (mkdir(root_a, 0700) < 0 || mkdir(root_b, 0700) < 0 ||
	    mkdir(p("%s/state", tmp), 0700) < 0 || mkdir(p("%s/run", tmp), 0700) < 0 ||
	    mkdir(p("%s/cache", tmp), 0700) < 0)
		return -1;
	conf = (struct helper_conf){
	    .owner_uid = geteuid() == 0 ? NOBODY : geteuid(),
	    .owner_gid = (gid_t)-1,
	    .bridge = "br-t",
	    .subnet = "172.30.99.1/24",
	    .state_dir = xstrdup(p("%s/state", tmp)),
	    .runtime_dir = xstrdup(p("%s/run", tmp)),
	    .cache_dir = xstrdup(p("%s/cache", tmp)),
	};
	return 0;
}

static int teardown_all(void **state)
{
	free((char *)conf.state_dir);
	free((char *)conf.runtime_dir);
	free((char *)conf.cache_dir);
	if (tmp[0] && !getenv("KEEP"))
		rm_rf(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_req_roundtrip),	cmocka_unit_test(test_req_encode_refusals),
	    cmocka_unit_test(test_req_decode_refusals), cmocka_unit_test(test_reply_roundtrip),
	    cmocka_unit_test(test_reply_refusals),	cmocka_unit_test(test_clean_check),
	    cmocka_unit_test(test_root_check),		cmocka_unit_test(test_under_root),
	    cmocka_unit_test(test_open_beneath),	cmocka_unit_test(test_ops_table),
	    cmocka_unit_test(test_ops_refusals),	cmocka_unit_test(test_ops_chown),
	    cmocka_unit_test(test_ops_tap_open),
	    cmocka_unit_test(test_under_root_mount), /* it leaves a mount namespace */
	    cmocka_unit_test(test_ops_fuse),	     /* after it: mounts there */
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
