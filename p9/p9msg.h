/* p9/p9msg.h: 9P2000 and 9P2000.L messages as C structs, and their codec.
 *
 * One struct p9_msg holds any message of either dialect; p9_decode() and
 * p9_encode() are symmetric (the server decodes T-messages and encodes
 * R-messages, the test client the other way round).  Decoded strings and
 * data point into the caller's buffer: they live as long as it does.
 * Strings are not NUL-terminated; a decoded string never contains a NUL. */
#ifndef BANGER_P9_MSG_H
#define BANGER_P9_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P9_NOTAG 0xffffu
#define P9_NOFID 0xffffffffu
#define P9_NONUNAME 0xffffffffu
#define P9_HDRSZ 7            /* size[4] type[1] tag[2] */
#define P9_IOHDRSZ 24         /* room a Twrite/Rread needs besides its data */
#define P9_MAXWELEM 16        /* names in one Twalk */
#define P9_MSIZE_MIN 256      /* below this a Tversion is refused */

enum p9_type {
	P9_TLERROR = 6, P9_RLERROR,
	P9_TSTATFS = 8, P9_RSTATFS,
	P9_TLOPEN = 12, P9_RLOPEN,
	P9_TLCREATE = 14, P9_RLCREATE,
	P9_TSYMLINK = 16, P9_RSYMLINK,
	P9_TMKNOD = 18, P9_RMKNOD,
	P9_TRENAME = 20, P9_RRENAME,
	P9_TREADLINK = 22, P9_RREADLINK,
	P9_TGETATTR = 24, P9_RGETATTR,
	P9_TSETATTR = 26, P9_RSETATTR,
	P9_TXATTRWALK = 30, P9_RXATTRWALK,
	P9_TXATTRCREATE = 32, P9_RXATTRCREATE,
	P9_TREADDIR = 40, P9_RREADDIR,
	P9_TFSYNC = 50, P9_RFSYNC,
	P9_TLOCK = 52, P9_RLOCK,
	P9_TGETLOCK = 54, P9_RGETLOCK,
	P9_TLINK = 70, P9_RLINK,
	P9_TMKDIR = 72, P9_RMKDIR,
	P9_TRENAMEAT = 74, P9_RRENAMEAT,
	P9_TUNLINKAT = 76, P9_RUNLINKAT,
	P9_TVERSION = 100, P9_RVERSION,
	P9_TAUTH = 102, P9_RAUTH,
	P9_TATTACH = 104, P9_RATTACH,
	P9_TERROR = 106, P9_RERROR,
	P9_TFLUSH = 108, P9_RFLUSH,
	P9_TWALK = 110, P9_RWALK,
	P9_TOPEN = 112, P9_ROPEN,
	P9_TCREATE = 114, P9_RCREATE,
	P9_TREAD = 116, P9_RREAD,
	P9_TWRITE = 118, P9_RWRITE,
	P9_TCLUNK = 120, P9_RCLUNK,
	P9_TREMOVE = 122, P9_RREMOVE,
	P9_TSTAT = 124, P9_RSTAT,
	P9_TWSTAT = 126, P9_RWSTAT,
};

/* Which protocol a connection speaks, fixed by Tversion. */
enum p9_dialect {
	P9_UNSET = 0,   /* before Tversion: only Tversion/Rversion decode */
	P9_2000,        /* "9P2000": Rerror strings, stat, directory reads */
	P9_2000L,       /* "9P2000.L": Rlerror errnos, getattr, readdir */
};

/* qid.type bits and 9P2000 mode bits. */
#define P9_QTDIR 0x80
#define P9_QTFILE 0x00
#define P9_DMDIR 0x80000000u
/* Topen/Tcreate mode (9P2000). */
#define P9_OREAD 0
#define P9_OWRITE 1
#define P9_ORDWR 2
#define P9_OEXEC 3
#define P9_OTRUNC 0x10
#define P9_ORCLOSE 0x40
/* Tlopen flags (9P2000.L: Linux's open flags on x86 and arm). */
#define P9_L_ACCMODE 03
#define P9_L_RDONLY 00
#define P9_L_WRONLY 01
#define P9_L_RDWR 02
#define P9_L_CREATE 0100
#define P9_L_EXCL 0200
#define P9_L_TRUNC 01000
#define P9_L_APPEND 02000
#define P9_L_NONBLOCK 04000
#define P9_L_DIRECTORY 0200000
/* Tunlinkat flags. */
#define P9_AT_REMOVEDIR 0x200
/* Tgetattr request mask: the basic set and all. */
#define P9_GETATTR_BASIC 0x7ffULL
#define P9_GETATTR_ALL 0x3fffULL
/* Tsetattr valid bits. */
#define P9_SETATTR_MODE 0x1
#define P9_SETATTR_UID 0x2
#define P9_SETATTR_GID 0x4
#define P9_SETATTR_SIZE 0x8
#define P9_SETATTR_ATIME 0x10
#define P9_SETATTR_MTIME 0x20
#define P9_SETATTR_CTIME 0x40
#define P9_SETATTR_ATIME_SET 0x80
#define P9_SETATTR_MTIME_SET 0x100

struct p9_str {
	const char *s;
	uint16_t len;
};

struct p9_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* A 9P2000 stat entry (Rstat, Twstat, directory reads). */
struct p9_stat9 {
	uint16_t type;
	uint32_t dev;
	struct p9_qid qid;
	uint32_t mode, atime, mtime;
	uint64_t length;
	struct p9_str name, uid, gid, muid;
};

/* Rgetattr. */
struct p9_attr {
	uint64_t valid;
	struct p9_qid qid;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, blksize, blocks;
	uint64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
	uint64_t btime_sec, btime_nsec, gen, data_version;
};

struct p9_msg {
	uint8_t type;
	uint16_t tag;
	union {
		struct { uint32_t msize; struct p9_str version; } version;      /* T/R */
		struct { uint32_t afid; struct p9_str uname, aname; uint32_t n_uname; } auth;
		struct { uint32_t fid, afid; struct p9_str uname, aname; uint32_t n_uname; } attach;
		struct { struct p9_qid qid; } rqid;                             /* Rauth Rattach Rmkdir */
		struct { struct p9_str ename; } error;                          /* Rerror */
		struct { uint32_t ecode; } lerror;                              /* Rlerror */
		struct { uint16_t oldtag; } flush;
		struct { uint32_t fid, newfid; uint16_t nwname; struct p9_str wname[P9_MAXWELEM]; } walk;
		struct { uint16_t nwqid; struct p9_qid wqid[P9_MAXWELEM]; } rwalk;
		struct { uint32_t fid; uint8_t mode; } open;
		struct { uint32_t fid, flags; } lopen;
		struct { struct p9_qid qid; uint32_t iounit; } ropen;           /* Ropen Rlopen Rcreate Rlcreate */
		struct { uint32_t fid; struct p9_str name; uint32_t perm; uint8_t mode; } create;
		struct { uint32_t fid; struct p9_str name; uint32_t flags, mode, gid; } lcreate;
		struct { uint32_t fid; uint64_t offset; uint32_t count; } read; /* Tread Treaddir */
		struct { uint32_t count; const uint8_t *data; } rread;          /* Rread Rreaddir */
		struct { uint32_t fid; uint64_t offset; uint32_t count; const uint8_t *data; } write;
		struct { uint32_t count; } rwrite;
		struct { uint32_t fid; } fid;              /* Tclunk Tremove Tstat Tstatfs Tfsync */
		struct { struct p9_stat9 stat; } rstat;
		struct { uint32_t fid; struct p9_stat9 stat; } wstat;
		struct { uint32_t fid; uint64_t mask; } getattr;
		struct p9_attr rgetattr;
		struct {
			uint32_t fid, valid, mode, uid, gid;
			uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
		} setattr;
		struct {
			uint32_t type, bsize;
			uint64_t blocks, bfree, bavail, files, ffree, fsid;
			uint32_t namelen;
		} rstatfs;
		struct { uint32_t dfid; struct p9_str name; uint32_t mode, gid; } mkdir;
		struct { uint32_t dirfd; struct p9_str name; uint32_t flags; } unlinkat;
		struct { uint32_t fid, newfid; struct p9_str name; } xattrwalk;
	} u;
};

/* Decode one whole message (buf holds exactly size[4] bytes as its first
 * field says).  Returns 0; -EBADMSG when it is malformed (short, long,
 * a count past its end, a NUL in a string, too many walk names); -ENOSYS
 * when the type is not one this codec knows in dialect d (ret->type and
 * ret->tag are still filled when the header was readable, so the server
 * can answer with an error). */
int p9_decode(const uint8_t *buf, size_t len, enum p9_dialect d, struct p9_msg *ret);

/* Encode m into buf (at most cap bytes).  Returns the message's length,
 * or 0 when it does not fit or the type is not known in dialect d. */
size_t p9_encode(const struct p9_msg *m, enum p9_dialect d, uint8_t *buf, size_t cap);

/* Directory read payloads, built and parsed one entry at a time.  The put
 * functions return the bytes written or 0 when the entry does not fit; the
 * get functions return the bytes consumed or 0 when malformed. */
size_t p9_stat9_put(uint8_t *buf, size_t cap, const struct p9_stat9 *st);
size_t p9_stat9_get(const uint8_t *buf, size_t len, struct p9_stat9 *ret);
size_t p9_dirent_put(uint8_t *buf, size_t cap, const struct p9_qid *qid, uint64_t offset,
		     uint8_t type, const char *name);
size_t p9_dirent_get(const uint8_t *buf, size_t len, struct p9_qid *ret_qid,
		     uint64_t *ret_offset, uint8_t *ret_type, struct p9_str *ret_name);

/* "Tread", "Rlerror", ... or NULL. */
const char *p9_type_name(uint8_t type);

/* A C string as a p9_str (for encoding). */
static inline struct p9_str p9s(const char *s)
{
	size_t n = 0;
	while (s && s[n])
		n++;
	return (struct p9_str){ s ? s : "", (uint16_t)(n > 0xffff ? 0xffff : n) };
}
/* p9_str equals the C string s. */
bool p9_streq(struct p9_str a, const char *s);

#endif
