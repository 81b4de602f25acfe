/* tests/p9/p9c.c: a small synchronous 9P client for tests and benchmarks.
 *
 *   p9c [-L] [-m MSIZE] [-u UNAME] [-n N_UNAME] ADDR CMD [ARGS]
 *
 * ADDR is a Unix socket path or tcp!ADDR!PORT.  9P2000 by default (the
 * dialect diod's clients and the kernel do not speak), -L for 9P2000.L.
 * Commands:
 *   version              print the negotiated version and msize
 *   read PATH            the file's contents to stdout
 *   write PATH TEXT      one Twrite of TEXT
 *   ls PATH              one name per line (directory read / readdir)
 *   stat PATH            "name mode length" (9P2000) or "mode size" (.L)
 *   mkdir PATH           Tcreate with DMDIR (9P2000) or Tmkdir (.L)
 *   rm PATH              Tremove (9P2000) or Tunlinkat AT_REMOVEDIR (.L)
 *   orclose PATH         create PATH with ORCLOSE, stat it, clunk it (9P2000)
 *   flush PATH           park a read at the end of a stream file, Tflush it:
 *                        prints "flushed" when Rflush came and the read did not
 *   flushwrite PATH TEXT Twrite then at once Tflush of it: the write's reply
 *                        must come first, then Rflush (a write is never undone)
 *   wait PATH OFFSET     one read at OFFSET (it may block): prints its count
 *   chown PATH USER      Twstat uid (9P2000) or Tsetattr uid (.L; USER a number)
 *   chmod PATH OCTAL     Twstat or Tsetattr of the mode
 *   clone [TEXT...]      open vms/clone read-write, print the new VM's name,
 *                        write each TEXT to it (its ctl; "keep"), then hold
 *                        the fid until stdin ends, then clunk it (the VM goes
 *                        with it unless kept)
 *   bench N ROUNDS PATH  reads of PATH: pread at 0 on one fid, and the whole
 *                        walk/open/read/clunk; prints the median rates
 * and, without a server (the baseline of the same benchmark):
 *   p9c local N ROUNDS FILE   pread(2) at 0 on one descriptor, and
 *                             open/read/close, of a file of this host
 * Errors print "p9c: CMD PATH: <Rerror text or strerror(Rlerror)>" and exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "p9.h"
#include "p9msg.h"
#include "util.h"

static int fd = -1;
static enum p9_dialect D = P9_2000;
static uint32_t msize = 65536;
static uint8_t *tbuf, *rbuf;
static uint16_t next_tag = 1;
static char errtext[512];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("p9c: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void dial(const char *addr)
{
	if (strncmp(addr, "tcp!", 4) == 0) {
		struct sockaddr_storage ss;
		unsigned len;
		struct berr err = { 0 };
		if (p9_parse_tcp(addr, &ss, &len, &err) < 0)
			die("%s", err.msg);
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0)
			die("connect %s: %s", addr, strerror(errno));
		return;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(addr) >= sizeof(sa.sun_path))
		die("%s: path too long", addr);
	strcpy(sa.sun_path, addr);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", addr, strerror(errno));
}

static void send_t(struct p9_msg *t)
{
	size_t len = p9_encode(t, D, tbuf, msize);
	if (!len)
		die("cannot encode %s", p9_type_name(t->type));
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, tbuf + off, len - off);
		if (n <= 0)
			die("write: %s", n < 0 ? strerror(errno) : "closed");
		off += (size_t)n;
	}
}

static void read_full(uint8_t *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n <= 0)
			die("connection %s", n < 0 ? strerror(errno) : "closed by the server");
		off += (size_t)n;
	}
}

/* The next reply, whatever its tag. */
static void recv_r(struct p9_msg *r)
{
	read_full(rbuf, 4);
	uint32_t size = rbuf[0] | rbuf[1] << 8 | rbuf[2] << 16 | (uint32_t)rbuf[3] << 24;
	if (size < P9_HDRSZ || size > msize)
		die("bad reply size %u", size);
	read_full(rbuf + 4, size - 4);
	if (p9_decode(rbuf, size, D, r) < 0)
		die("undecodable reply");
}

/* One round trip.  Returns 0, or -1 with errtext set from the error. */
static int rpc(struct p9_msg *t, struct p9_msg *r)
{
	t->tag = next_tag++;
	if (next_tag == P9_NOTAG)
		next_tag = 1;
	send_t(t);
	recv_r(r);
	if (r->tag != t->tag)
		die("reply tag %u for request tag %u", r->tag, t->tag);
	if (r->type == P9_RERROR) {
		snprintf(errtext, sizeof(errtext), "%.*s", r->u.error.ename.len, r->u.error.ename.s);
		return -1;
	}
	if (r->type == P9_RLERROR) {
		snprintf(errtext, sizeof(errtext), "%s", strerror((int)r->u.lerror.ecode));
		return -1;
	}
	if (r->type != t->type + 1)
		die("%s answered with %s", p9_type_name(t->type), p9_type_name(r->type) ?: "?");
	return 0;
}

static void start(const char *uname, uint32_t n_uname)
{
	struct p9_msg t = { .type = P9_TVERSION }, r;
	const char *want = D == P9_2000L ? "9P2000.L" : "9P2000";
	t.u.version.msize = msize;
	t.u.version.version = p9s(want);
	t.tag = P9_NOTAG;
	send_t(&t);
	enum p9_dialect d = D;
	D = P9_UNSET;
	recv_r(&r);
	D = d;
	if (r.type != P9_RVERSION || !p9_streq(r.u.version.version, want))
		die("server does not speak %s", want);
	msize = r.u.version.msize;

	memset(&t, 0, sizeof(t));
	t.type = P9_TATTACH;
	t.u.attach.fid = 0;
	t.u.attach.afid = P9_NOFID;
	t.u.attach.uname = p9s(uname);
	t.u.attach.aname = p9s("");
	t.u.attach.n_uname = n_uname;
	if (rpc(&t, &r) < 0)
		die("attach: %s", errtext);
}

/* Walk fid 0 to path into newfid (path elements split on '/'). */
static int walk(const char *path, uint32_t newfid)
{
	struct p9_msg t = { .type = P9_TWALK }, r;
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;
	t.u.walk.fid = 0;
	t.u.walk.newfid = newfid;
	for (char *e = strtok_r(copy, "/", &save); e; e = strtok_r(NULL, "/", &save)) {
		if (t.u.walk.nwname == P9_MAXWELEM)
			die("%s: too deep", path);
		t.u.walk.wname[t.u.walk.nwname++] = p9s(e);
	}
	if (rpc(&t, &r) < 0)
		return -1;
	if (r.u.rwalk.nwqid != t.u.walk.nwname) {
		snprintf(errtext, sizeof(errtext), "%s", D == P9_2000L ? strerror(ENOENT)
								       : "file does not exist");
		return -1;
	}
	return 0;
}

static int fopen9(uint32_t fid, int mode)
{
	struct p9_msg t = { 0 }, r;
	if (D == P9_2000L) {
		t.type = P9_TLOPEN;
		t.u.lopen.fid = fid;
		t.u.lopen.flags = (uint32_t)mode;
	} else {
		t.type = P9_TOPEN;
		t.u.open.fid = fid;
		t.u.open.mode = (uint8_t)mode;
	}
	return rpc(&t, &r);
}

static void clunk(uint32_t fid)
{
	struct p9_msg t = { .type = P9_TCLUNK }, r;
	t.u.fid.fid = fid;
	if (rpc(&t, &r) < 0)
		die("clunk: %s", errtext);
}

/* Tread (or Treaddir); returns the count, -1 on error; data in r. */
static long readat(uint32_t fid, uint64_t off, uint32_t count, bool dir, struct p9_msg *r)
{
	struct p9_msg t = { .type = dir ? P9_TREADDIR : P9_TREAD };
	t.u.read.fid = fid;
	t.u.read.offset = off;
	t.u.read.count = count;
	if (rpc(&t, r) < 0)
		return -1;
	return r->u.rread.count;
}

static int cmd_read(const char *path)
{
	struct p9_msg r;
	uint64_t off = 0;
	long n;
	if (walk(path, 1) < 0 || fopen9(1, P9_OREAD) < 0)
		die("read %s: %s", path, errtext);
	while ((n = readat(1, off, msize - P9_IOHDRSZ, false, &r)) > 0) {
		fwrite(r.u.rread.data, 1, (size_t)n, stdout);
		off += (uint64_t)n;
	}
	if (n < 0)
		die("read %s: %s", path, errtext);
	clunk(1);
	return 0;
}

static int cmd_write(const char *path, const char *text)
{
	struct p9_msg t = { .type = P9_TWRITE }, r;
	if (walk(path, 1) < 0 || fopen9(1, P9_OWRITE) < 0)
		die("write %s: %s", path, errtext);
	t.u.write.fid = 1;
	t.u.write.count = (uint32_t)strlen(text);
	t.u.write.data = (const uint8_t *)text;
	if (rpc(&t, &r) < 0)
		die("write %s: %s", path, errtext);
	clunk(1);
	return 0;
}

static int cmd_ls(const char *path)
{
	struct p9_msg r;
	uint64_t off = 0;
	long n;
	if (walk(path, 1) < 0 || fopen9(1, P9_OREAD) < 0)
		die("ls %s: %s", path, errtext);
	while ((n = readat(1, off, msize - P9_IOHDRSZ, D == P9_2000L, &r)) > 0) {
		const uint8_t *p = r.u.rread.data;
		size_t left = (size_t)n;
		while (left) {
			struct p9_str name;
			size_t used;
			if (D == P9_2000L) {
				struct p9_qid q;
				uint8_t type;
				used = p9_dirent_get(p, left, &q, &off, &type, &name);
			} else {
				struct p9_stat9 st;
				used = p9_stat9_get(p, left, &st);
				name = st.name;
			}
			if (!used)
				die("ls %s: malformed directory entry", path);
			if (!(D == P9_2000L && (p9_streq(name, ".") || p9_streq(name, ".."))))
				printf("%.*s\n", name.len, name.s);
			p += used;
			left -= used;
		}
		if (D == P9_2000)
			off += (uint64_t)n;
	}
	if (n < 0)
		die("ls %s: %s", path, errtext);
	clunk(1);
	return 0;
}

static int cmd_stat(const char *path)
{
	struct p9_msg t = { 0 }, r;
	if (walk(path, 1) < 0)
		die("stat %s: %s", path, errtext);
	if (D == P9_2000L) {
		t.type = P9_TGETATTR;
		t.u.getattr.fid = 1;
		t.u.getattr.mask = P9_GETATTR_BASIC;
		if (rpc(&t, &r) < 0)
			die("stat %s: %s", path, errtext);
		printf("%o %llu\n", r.u.rgetattr.mode, (unsigned long long)r.u.rgetattr.size);
	} else {
		t.type = P9_TSTAT;
		t.u.fid.fid = 1;
		if (rpc(&t, &r) < 0)
			die("stat %s: %s", path, errtext);
		const struct p9_stat9 *st = &r.u.rstat.stat;
		printf("%.*s %o %llu\n", st->name.len, st->name.s, st->mode,
		       (unsigned long long)st->length);
	}
	clunk(1);
	return 0;
}

/* Split path into its parent (walked to fid 1) and last element. */
static const char *walk_parent(const char *path, const char *what)
{
	static char parent[4096];
	const char *slash = strrchr(path, '/');
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 0, path);
	if (walk(parent, 1) < 0)
		die("%s %s: %s", what, path, errtext);
	return slash ? slash + 1 : path;
}

static int cmd_mkdir(const char *path, bool orclose)
{
	struct p9_msg t = { 0 }, r;
	const char *name = walk_parent(path, "mkdir");
	if (D == P9_2000L) {
		t.type = P9_TMKDIR;
		t.u.mkdir.dfid = 1;
		t.u.mkdir.name = p9s(name);
		t.u.mkdir.mode = 0755;
		t.u.mkdir.gid = (uint32_t)getgid();
	} else {
		t.type = P9_TCREATE;
		t.u.create.fid = 1;
		t.u.create.name = p9s(name);
		t.u.create.perm = P9_DMDIR | 0755;
		t.u.create.mode = P9_OREAD | (orclose ? P9_ORCLOSE : 0);
	}
	if (rpc(&t, &r) < 0)
		die("mkdir %s: %s", path, errtext);
	if (orclose) {   /* it exists while the fid is open ... */
		if (walk(path, 2) < 0)
			die("orclose %s: not there after create: %s", path, errtext);
		clunk(2);
	}
	clunk(1);        /* ... and is removed by this clunk */
	if (orclose && walk(path, 2) == 0)
		die("orclose %s: still there after clunk", path);
	return 0;
}

static int cmd_rm(const char *path)
{
	struct p9_msg t = { 0 }, r;
	if (D == P9_2000L) {
		const char *name = walk_parent(path, "rm");
		t.type = P9_TUNLINKAT;
		t.u.unlinkat.dirfd = 1;
		t.u.unlinkat.name = p9s(name);
		t.u.unlinkat.flags = P9_AT_REMOVEDIR;
		int ret = rpc(&t, &r);
		clunk(1);
		if (ret < 0)
			die("rm %s: %s", path, errtext);
		return 0;
	}
	if (walk(path, 1) < 0)
		die("rm %s: %s", path, errtext);
	t.type = P9_TREMOVE;
	t.u.fid.fid = 1;
	if (rpc(&t, &r) < 0)   /* the fid is gone either way */
		die("rm %s: %s", path, errtext);
	return 0;
}

static bool readable_within(int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms) > 0;
}

/* A read far past the end of a live stream parks; Tflush must answer
 * with Rflush and the read must never be answered. */
static int cmd_flush(const char *path)
{
	struct p9_msg t = { .type = P9_TREAD }, f = { .type = P9_TFLUSH }, r;
	if (walk(path, 1) < 0 || fopen9(1, P9_OREAD) < 0)
		die("flush %s: %s", path, errtext);
	t.tag = 100;
	t.u.read.fid = 1;
	t.u.read.offset = 1ULL << 40;
	t.u.read.count = 4096;
	send_t(&t);
	if (readable_within(300)) {
		recv_r(&r);
		die("flush %s: the read was answered (%s) instead of blocking", path,
		    p9_type_name(r.type) ?: "?");
	}
	f.tag = 101;
	f.u.flush.oldtag = 100;
	send_t(&f);
	if (!readable_within(5000))
		die("flush %s: no Rflush within 5 s", path);
	recv_r(&r);
	if (r.tag != 101 || r.type != P9_RFLUSH)
		die("flush %s: got %s for tag %u, want Rflush for 101", path,
		    p9_type_name(r.type) ?: "?", r.tag);
	if (readable_within(200))
		die("flush %s: something came after Rflush", path);
	clunk(1);   /* the session still works */
	printf("flushed\n");
	return 0;
}

static int cmd_wait(const char *path, uint64_t off)
{
	struct p9_msg r;
	if (walk(path, 1) < 0 || fopen9(1, P9_OREAD) < 0)
		die("wait %s: %s", path, errtext);
	long n = readat(1, off, 4096, false, &r);
	if (n < 0)
		die("wait %s: %s", path, errtext);
	printf("%ld\n", n);
	clunk(1);
	return 0;
}

static int cmd_flushwrite(const char *path, const char *text)
{
	struct p9_msg t = { .type = P9_TWRITE }, f = { .type = P9_TFLUSH }, r;
	if (walk(path, 1) < 0 || fopen9(1, P9_OWRITE) < 0)
		die("flushwrite %s: %s", path, errtext);
	t.tag = 100;
	t.u.write.fid = 1;
	t.u.write.count = (uint32_t)strlen(text);
	t.u.write.data = (const uint8_t *)text;
	send_t(&t);
	f.tag = 101;
	f.u.flush.oldtag = 100;
	send_t(&f);
	recv_r(&r);
	if (r.tag != 100 || (r.type != P9_RWRITE && r.type != P9_RERROR && r.type != P9_RLERROR))
		die("flushwrite %s: first reply %s for tag %u, want the write's (tag 100)", path,
		    p9_type_name(r.type) ?: "?", r.tag);
	const char *how = r.type == P9_RWRITE ? "written" : "failed";
	recv_r(&r);
	if (r.tag != 101 || r.type != P9_RFLUSH)
		die("flushwrite %s: second reply %s for tag %u, want Rflush (tag 101)", path,
		    p9_type_name(r.type) ?: "?", r.tag);
	clunk(1);
	printf("%s, then flushed\n", how);
	return 0;
}

/* chown (uid set) or chmod (mode set) of path. */
static int cmd_setattr(const char *path, const char *uid, long mode)
{
	struct p9_msg t = { 0 }, r;
	uint64_t v = 0;
	if (walk(path, 1) < 0)
		die("setattr %s: %s", path, errtext);
	if (D == P9_2000L) {
		t.type = P9_TSETATTR;
		t.u.setattr.fid = 1;
		if (uid) {
			if (parse_u64(uid, &v) < 0)
				die("chown: in 9P2000.L the user is a number");
			t.u.setattr.valid = P9_SETATTR_UID;
			t.u.setattr.uid = (uint32_t)v;
		} else {
			t.u.setattr.valid = P9_SETATTR_MODE;
			t.u.setattr.mode = (uint32_t)mode;
		}
	} else {
		t.type = P9_TWSTAT;
		t.u.wstat.fid = 1;
		struct p9_stat9 *st = &t.u.wstat.stat;
		st->type = 0xffff;
		st->dev = 0xffffffffu;
		st->qid.type = 0xff;
		st->qid.version = 0xffffffffu;
		st->qid.path = ~0ULL;
		st->mode = uid ? 0xffffffffu : (uint32_t)mode;
		st->atime = st->mtime = 0xffffffffu;
		st->length = ~0ULL;
		st->name = st->gid = st->muid = p9s("");
		st->uid = p9s(uid ? uid : "");
	}
	if (rpc(&t, &r) < 0)
		die("setattr %s: %s", path, errtext);
	clunk(1);
	return 0;
}

static int cmd_clone(int n, char **texts)
{
	struct p9_msg t = { .type = P9_TWRITE }, r;
	char buf[256];
	if (walk("vms/clone", 1) < 0 || fopen9(1, D == P9_2000L ? 2 /* O_RDWR */ : P9_ORDWR) < 0)
		die("clone: %s", errtext);
	long got = readat(1, 0, 128, false, &r);
	if (got < 0)
		die("clone: read: %s", errtext);
	printf("%.*s", (int)got, (const char *)r.u.rread.data);
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		t.u.write.fid = 1;
		t.u.write.count = (uint32_t)strlen(texts[i]);
		t.u.write.data = (const uint8_t *)texts[i];
		if (rpc(&t, &r) < 0)
			die("clone: write %s: %s", texts[i], errtext);
	}
	while (read(0, buf, sizeof(buf)) > 0)
		;
	clunk(1);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_bench(long n, int rounds, const char *path)
{
	struct p9_msg r;
	double pread_rate[64], cat_rate[64];
	if (rounds < 1 || rounds > 64 || n < 1)
		die("bench: N >= 1 and 1 <= ROUNDS <= 64");
	if (walk(path, 1) < 0 || fopen9(1, P9_OREAD) < 0)
		die("bench %s: %s", path, errtext);
	for (int k = 0; k < rounds; k++) {
		double t0 = now_s();
		for (long i = 0; i < n; i++)
			if (readat(1, 0, msize - P9_IOHDRSZ, false, &r) <= 0)
				die("bench %s: read: %s", path, errtext);
		pread_rate[k] = (double)n / (now_s() - t0);
		t0 = now_s();
		for (long i = 0; i < n; i++) {
			long got;
			if (walk(path, 2) < 0 || fopen9(2, P9_OREAD) < 0)
				die("bench %s: %s", path, errtext);
			uint64_t off = 0;
			while ((got = readat(2, off, msize - P9_IOHDRSZ, false, &r)) > 0)
				off += (uint64_t)got;
			if (got < 0)
				die("bench %s: %s", path, errtext);
			clunk(2);
		}
		cat_rate[k] = (double)n / (now_s() - t0);
	}
	clunk(1);
	printf("pread0 %.0f\ncat %.0f\n", median(pread_rate, rounds), median(cat_rate, rounds));
	return 0;
}

static int cmd_local(long n, int rounds, const char *path)
{
	static char data[1 << 16];
	double pread_rate[64], cat_rate[64];
	if (rounds < 1 || rounds > 64 || n < 1)
		die("local: N >= 1 and 1 <= ROUNDS <= 64");
	int lfd = open(path, O_RDONLY | O_CLOEXEC);
	if (lfd < 0)
		die("local %s: %s", path, strerror(errno));
	for (int k = 0; k < rounds; k++) {
		double t0 = now_s();
		for (long i = 0; i < n; i++)
			if (pread(lfd, data, sizeof(data), 0) <= 0)
				die("local %s: pread: %s", path, strerror(errno));
		pread_rate[k] = (double)n / (now_s() - t0);
		t0 = now_s();
		for (long i = 0; i < n; i++) {
			int f = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t got;
			if (f < 0)
				die("local %s: %s", path, strerror(errno));
			while ((got = read(f, data, sizeof(data))) > 0)
				;
			if (got < 0)
				die("local %s: read: %s", path, strerror(errno));
			close(f);
		}
		cat_rate[k] = (double)n / (now_s() - t0);
	}
	close(lfd);
	printf("pread0 %.0f\ncat %.0f\n", median(pread_rate, rounds), median(cat_rate, rounds));
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: p9c [-L] [-m MSIZE] [-u UNAME] [-n N_UNAME] ADDR CMD [ARGS]\n"
			"  CMD: version | read P | write P TEXT | ls P | stat P | mkdir P | rm P\n"
			"       | orclose P | flush P | flushwrite P TEXT | wait P OFFSET | clone [TEXT...]\n"
			"       | chown P USER | chmod P OCTAL\n"
			"       | bench N ROUNDS P\n"
			"       p9c local N ROUNDS FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char uname[64];
	uint32_t n_uname = P9_NONUNAME;
	uint64_t v;
	int c;

	snprintf(uname, sizeof(uname), "%u", (unsigned)getuid());
	while ((c = getopt(argc, argv, "Lm:u:n:")) != -1) {
		switch (c) {
		case 'L': D = P9_2000L; break;
		case 'm':
			if (parse_u64(optarg, &v) < 0 || v < P9_MSIZE_MIN || v > (1u << 24))
				usage();
			msize = (uint32_t)v;
			break;
		case 'u': snprintf(uname, sizeof(uname), "%s", optarg); break;
		case 'n':
			if (parse_u64(optarg, &v) < 0 || v > UINT32_MAX)
				usage();
			n_uname = (uint32_t)v;
			break;
		default: usage();
		}
	}
	if (argc - optind < 2)
		usage();
	if (strcmp(argv[optind], "local") == 0) {
		uint64_t n, rounds;
		if (argc - optind != 4 || parse_u64(argv[optind + 1], &n) < 0 ||
		    parse_u64(argv[optind + 2], &rounds) < 0)
			usage();
		return cmd_local((long)n, (int)rounds, argv[optind + 3]);
	}
	tbuf = xmalloc(msize);
	rbuf = xmalloc(msize);
	dial(argv[optind]);
	start(uname, n_uname);
	const char *cmd = argv[optind + 1];
	char **a = argv + optind + 2;
	int na = argc - optind - 2;
	if (strcmp(cmd, "version") == 0 && na == 0) {
		printf("%s %u\n", D == P9_2000L ? "9P2000.L" : "9P2000", msize);
		return 0;
	}
	if (strcmp(cmd, "read") == 0 && na == 1) return cmd_read(a[0]);
	if (strcmp(cmd, "write") == 0 && na == 2) return cmd_write(a[0], a[1]);
	if (strcmp(cmd, "ls") == 0 && na == 1) return cmd_ls(a[0]);
	if (strcmp(cmd, "stat") == 0 && na == 1) return cmd_stat(a[0]);
	if (strcmp(cmd, "mkdir") == 0 && na == 1) return cmd_mkdir(a[0], false);
	if (strcmp(cmd, "orclose") == 0 && na == 1 && D == P9_2000) return cmd_mkdir(a[0], true);
	if (strcmp(cmd, "rm") == 0 && na == 1) return cmd_rm(a[0]);
	if (strcmp(cmd, "flush") == 0 && na == 1) return cmd_flush(a[0]);
	if (strcmp(cmd, "flushwrite") == 0 && na == 2) return cmd_flushwrite(a[0], a[1]);
	if (strcmp(cmd, "clone") == 0) return cmd_clone(na, a);
	if (strcmp(cmd, "chown") == 0 && na == 2) return cmd_setattr(a[0], a[1], 0);
	if (strcmp(cmd, "chmod") == 0 && na == 2) {
		char *end;
		long m = strtol(a[1], &end, 8);
		if (*end || m < 0 || m > 0777)
			usage();
		return cmd_setattr(a[0], NULL, m);
	}
	if (strcmp(cmd, "wait") == 0 && na == 2 && parse_u64(a[1], &v) == 0)
		return cmd_wait(a[0], v);
	if (strcmp(cmd, "bench") == 0 && na == 3 && parse_u64(a[0], &v) == 0) {
		uint64_t rounds;
		if (parse_u64(a[1], &rounds) < 0)
			usage();
		return cmd_bench((long)v, (int)rounds, a[2]);
	}
	usage();
}
