/* p9/codec.c: 9P2000 / 9P2000.L message encoding and decoding.
 *
 * Little-endian fields, strings as len[2] + bytes, no allocation: decoded
 * strings and data point into the message buffer.  Every count is checked
 * against what is left before it is used; a message must be consumed
 * exactly (trailing bytes are an error).  Fuzzed by tests/fuzz/fuzz_p9.c. */
#include "p9msg.h"

#include <errno.h>
#include <string.h>

/* ---- reading -------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t g8(struct rd *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

static uint16_t g16(struct rd *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t g32(struct rd *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			   (uint32_t)p[3] << 24
		 : 0;
}

static uint64_t g64(struct rd *r)
{
	uint64_t lo = g32(r);
	return lo | (uint64_t)g32(r) << 32;
}

static struct p9_str gstr(struct rd *r)
{
	struct p9_str s = { "", 0 };
	uint16_t n = g16(r);
	const uint8_t *p = take(r, n);
	if (!p)
		return s;
	if (memchr(p, 0, n)) {
		r->bad = true;
		return s;
	}
	s.s = (const char *)p;
	s.len = n;
	return s;
}

static struct p9_qid gqid(struct rd *r)
{
	struct p9_qid q;
	q.type = g8(r);
	q.version = g32(r);
	q.path = g64(r);
	return q;
}

static void gstat9(struct rd *r, struct p9_stat9 *st)
{
	uint16_t size = g16(r);
	if (r->bad || size > r->left) {
		r->bad = true;
		return;
	}
	/* The entry is parsed from a reader bounded by its own size field. */
	struct rd in = { r->p, size, false };
	st->type = g16(&in);
	st->dev = g32(&in);
	st->qid = gqid(&in);
	st->mode = g32(&in);
	st->atime = g32(&in);
	st->mtime = g32(&in);
	st->length = g64(&in);
	st->name = gstr(&in);
	st->uid = gstr(&in);
	st->gid = gstr(&in);
	st->muid = gstr(&in);
	if (in.bad || in.left) {
		r->bad = true;
		return;
	}
	take(r, size);
}

/* Rstat/Twstat wrap the stat entry in one more n[2]. */
static void gstat9_wrapped(struct rd *r, struct p9_stat9 *st)
{
	uint16_t n = g16(r);
	if (r->bad || n != r->left) {
		r->bad = true;
		return;
	}
	gstat9(r, st);
}

static const uint8_t *gdata(struct rd *r, uint32_t *ret_count)
{
	*ret_count = g32(r);
	const uint8_t *p = take(r, *ret_count);
	return p ? p : (const uint8_t *)"";
}

/* Which types a dialect speaks (both directions). */
static bool known(uint8_t type, enum p9_dialect d)
{
	uint8_t t = type & ~1u;   /* the T of a pair */
	if (t == P9_TVERSION)
		return true;
	if (d == P9_UNSET)
		return false;
	switch (t) {
	case P9_TAUTH: case P9_TATTACH: case P9_TFLUSH: case P9_TWALK:
	case P9_TREAD: case P9_TWRITE: case P9_TCLUNK: case P9_TREMOVE:
		return true;
	case P9_TERROR: case P9_TOPEN: case P9_TCREATE: case P9_TSTAT: case P9_TWSTAT:
		return d == P9_2000 && type != P9_TERROR;
	case P9_TLERROR: case P9_TSTATFS: case P9_TLOPEN: case P9_TLCREATE:
	case P9_TGETATTR: case P9_TSETATTR: case P9_TREADDIR: case P9_TFSYNC:
	case P9_TMKDIR: case P9_TUNLINKAT: case P9_TXATTRWALK:
		return d == P9_2000L && type != P9_TLERROR;
	default:
		return false;
	}
}

int p9_decode(const uint8_t *buf, size_t len, enum p9_dialect d, struct p9_msg *m)
{
	struct rd r = { buf, len, false };
	memset(m, 0, sizeof(*m));
	uint32_t size = g32(&r);
	m->type = g8(&r);
	m->tag = g16(&r);
	if (r.bad || size != len)
		return -EBADMSG;
	if (!known(m->type, d))
		return -ENOSYS;
	bool L = d == P9_2000L;

	switch (m->type) {
	case P9_TVERSION: case P9_RVERSION:
		m->u.version.msize = g32(&r);
		m->u.version.version = gstr(&r);
		break;
	case P9_TAUTH:
		m->u.auth.afid = g32(&r);
		m->u.auth.uname = gstr(&r);
		m->u.auth.aname = gstr(&r);
		m->u.auth.n_uname = L ? g32(&r) : P9_NONUNAME;
		break;
	case P9_TATTACH:
		m->u.attach.fid = g32(&r);
		m->u.attach.afid = g32(&r);
		m->u.attach.uname = gstr(&r);
		m->u.attach.aname = gstr(&r);
		m->u.attach.n_uname = L ? g32(&r) : P9_NONUNAME;
		break;
	case P9_RAUTH: case P9_RATTACH: case P9_RMKDIR:
		m->u.rqid.qid = gqid(&r);
		break;
	case P9_RERROR:
		m->u.error.ename = gstr(&r);
		break;
	case P9_RLERROR:
		m->u.lerror.ecode = g32(&r);
		break;
	case P9_TFLUSH:
		m->u.flush.oldtag = g16(&r);
		break;
	case P9_TWALK:
		m->u.walk.fid = g32(&r);
		m->u.walk.newfid = g32(&r);
		m->u.walk.nwname = g16(&r);
		if (m->u.walk.nwname > P9_MAXWELEM)
			return -EBADMSG;
		for (unsigned i = 0; i < m->u.walk.nwname; i++)
			m->u.walk.wname[i] = gstr(&r);
		break;
	case P9_RWALK:
		m->u.rwalk.nwqid = g16(&r);
		if (m->u.rwalk.nwqid > P9_MAXWELEM)
			return -EBADMSG;
		for (unsigned i = 0; i < m->u.rwalk.nwqid; i++)
			m->u.rwalk.wqid[i] = gqid(&r);
		break;
	case P9_TOPEN:
		m->u.open.fid = g32(&r);
		m->u.open.mode = g8(&r);
		break;
	case P9_TLOPEN:
		m->u.lopen.fid = g32(&r);
		m->u.lopen.flags = g32(&r);
		break;
	case P9_ROPEN: case P9_RLOPEN: case P9_RCREATE: case P9_RLCREATE:
		m->u.ropen.qid = gqid(&r);
		m->u.ropen.iounit = g32(&r);
		break;
	case P9_TCREATE:
		m->u.create.fid = g32(&r);
		m->u.create.name = gstr(&r);
		m->u.create.perm = g32(&r);
		m->u.create.mode = g8(&r);
		break;
	case P9_TLCREATE:
		m->u.lcreate.fid = g32(&r);
		m->u.lcreate.name = gstr(&r);
		m->u.lcreate.flags = g32(&r);
		m->u.lcreate.mode = g32(&r);
		m->u.lcreate.gid = g32(&r);
		break;
	case P9_TREAD: case P9_TREADDIR:
		m->u.read.fid = g32(&r);
		m->u.read.offset = g64(&r);
		m->u.read.count = g32(&r);
		break;
	case P9_RREAD: case P9_RREADDIR:
		m->u.rread.data = gdata(&r, &m->u.rread.count);
		break;
	case P9_TWRITE:
		m->u.write.fid = g32(&r);
		m->u.write.offset = g64(&r);
		m->u.write.data = gdata(&r, &m->u.write.count);
		break;
	case P9_RWRITE:
		m->u.rwrite.count = g32(&r);
		break;
	case P9_TFSYNC:
		m->u.fid.fid = g32(&r);
		if (r.left == 4)   /* datasync[4], sent by newer Linux clients */
			g32(&r);
		break;
	case P9_TCLUNK: case P9_TREMOVE: case P9_TSTAT: case P9_TSTATFS:
		m->u.fid.fid = g32(&r);
		break;
	case P9_RSTAT:
		gstat9_wrapped(&r, &m->u.rstat.stat);
		break;
	case P9_TWSTAT:
		m->u.wstat.fid = g32(&r);
		gstat9_wrapped(&r, &m->u.wstat.stat);
		break;
	case P9_TGETATTR:
		m->u.getattr.fid = g32(&r);
		m->u.getattr.mask = g64(&r);
		break;
	case P9_RGETATTR: {
		struct p9_attr *a = &m->u.rgetattr;
		a->valid = g64(&r);
		a->qid = gqid(&r);
		a->mode = g32(&r);
		a->uid = g32(&r);
		a->gid = g32(&r);
		uint64_t *v[] = { &a->nlink, &a->rdev, &a->size, &a->blksize, &a->blocks,
				  &a->atime_sec, &a->atime_nsec, &a->mtime_sec, &a->mtime_nsec,
				  &a->ctime_sec, &a->ctime_nsec, &a->btime_sec, &a->btime_nsec,
				  &a->gen, &a->data_version };
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			*v[i] = g64(&r);
		break;
	}
	case P9_TSETATTR:
		m->u.setattr.fid = g32(&r);
		m->u.setattr.valid = g32(&r);
		m->u.setattr.mode = g32(&r);
		m->u.setattr.uid = g32(&r);
		m->u.setattr.gid = g32(&r);
		m->u.setattr.size = g64(&r);
		m->u.setattr.atime_sec = g64(&r);
		m->u.setattr.atime_nsec = g64(&r);
		m->u.setattr.mtime_sec = g64(&r);
		m->u.setattr.mtime_nsec = g64(&r);
		break;
	case P9_RSTATFS:
		m->u.rstatfs.type = g32(&r);
		m->u.rstatfs.bsize = g32(&r);
		m->u.rstatfs.blocks = g64(&r);
		m->u.rstatfs.bfree = g64(&r);
		m->u.rstatfs.bavail = g64(&r);
		m->u.rstatfs.files = g64(&r);
		m->u.rstatfs.ffree = g64(&r);
		m->u.rstatfs.fsid = g64(&r);
		m->u.rstatfs.namelen = g32(&r);
		break;
	case P9_TMKDIR:
		m->u.mkdir.dfid = g32(&r);
		m->u.mkdir.name = gstr(&r);
		m->u.mkdir.mode = g32(&r);
		m->u.mkdir.gid = g32(&r);
		break;
	case P9_TUNLINKAT:
		m->u.unlinkat.dirfd = g32(&r);
		m->u.unlinkat.name = gstr(&r);
		m->u.unlinkat.flags = g32(&r);
		break;
	case P9_TXATTRWALK:
		m->u.xattrwalk.fid = g32(&r);
		m->u.xattrwalk.newfid = g32(&r);
		m->u.xattrwalk.name = gstr(&r);
		break;
	case P9_RFLUSH: case P9_RCLUNK: case P9_RREMOVE: case P9_RWSTAT:
	case P9_RSETATTR: case P9_RFSYNC: case P9_RUNLINKAT:
		break;
	default:
		return -ENOSYS;
	}
	if (r.bad || r.left)
		return -EBADMSG;
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

struct wr {
	uint8_t *p;
	size_t cap, len;
	bool full;
};

static uint8_t *room(struct wr *w, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return NULL;
	}
	uint8_t *p = w->p + w->len;
	w->len += n;
	return p;
}

static void p8(struct wr *w, uint8_t v)
{
	uint8_t *p = room(w, 1);
	if (p)
		p[0] = v;
}

static void p16(struct wr *w, uint16_t v)
{
	uint8_t *p = room(w, 2);
	if (p)
		p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void p32(struct wr *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (p)
		for (int i = 0; i < 4; i++)
			p[i] = (uint8_t)(v >> (8 * i));
}

static void p64(struct wr *w, uint64_t v)
{
	p32(w, (uint32_t)v);
	p32(w, (uint32_t)(v >> 32));
}

static void pbytes(struct wr *w, const void *data, size_t n)
{
	uint8_t *p = room(w, n);
	if (p && n)
		memcpy(p, data, n);
}

static void pstr(struct wr *w, struct p9_str s)
{
	p16(w, s.len);
	pbytes(w, s.s, s.len);
}

static void pqid(struct wr *w, const struct p9_qid *q)
{
	p8(w, q->type);
	p32(w, q->version);
	p64(w, q->path);
}

static size_t stat9_size(const struct p9_stat9 *st)
{
	return 2 + 4 + 13 + 4 + 4 + 4 + 8 + 8 + (size_t)st->name.len + st->uid.len +
	       st->gid.len + st->muid.len;
}

static void pstat9(struct wr *w, const struct p9_stat9 *st)
{
	if (stat9_size(st) > 0xffff - 2) {
		w->full = true;
		return;
	}
	p16(w, (uint16_t)stat9_size(st));
	p16(w, st->type);
	p32(w, st->dev);
	pqid(w, &st->qid);
	p32(w, st->mode);
	p32(w, st->atime);
	p32(w, st->mtime);
	p64(w, st->length);
	pstr(w, st->name);
	pstr(w, st->uid);
	pstr(w, st->gid);
	pstr(w, st->muid);
}

size_t p9_encode(const struct p9_msg *m, enum p9_dialect d, uint8_t *buf, size_t cap)
{
	struct wr w = { buf, cap, 0, false };
	bool L = d == P9_2000L;

	if (!known(m->type, d))
		return 0;
	p32(&w, 0);   /* size, filled in below */
	p8(&w, m->type);
	p16(&w, m->tag);
	switch (m->type) {
	case P9_TVERSION: case P9_RVERSION:
		p32(&w, m->u.version.msize);
		pstr(&w, m->u.version.version);
		break;
	case P9_TAUTH:
		p32(&w, m->u.auth.afid);
		pstr(&w, m->u.auth.uname);
		pstr(&w, m->u.auth.aname);
		if (L)
			p32(&w, m->u.auth.n_uname);
		break;
	case P9_TATTACH:
		p32(&w, m->u.attach.fid);
		p32(&w, m->u.attach.afid);
		pstr(&w, m->u.attach.uname);
		pstr(&w, m->u.attach.aname);
		if (L)
			p32(&w, m->u.attach.n_uname);
		break;
	case P9_RAUTH: case P9_RATTACH: case P9_RMKDIR:
		pqid(&w, &m->u.rqid.qid);
		break;
	case P9_RERROR:
		pstr(&w, m->u.error.ename);
		break;
	case P9_RLERROR:
		p32(&w, m->u.lerror.ecode);
		break;
	case P9_TFLUSH:
		p16(&w, m->u.flush.oldtag);
		break;
	case P9_TWALK:
		if (m->u.walk.nwname > P9_MAXWELEM)
			return 0;
		p32(&w, m->u.walk.fid);
		p32(&w, m->u.walk.newfid);
		p16(&w, m->u.walk.nwname);
		for (unsigned i = 0; i < m->u.walk.nwname; i++)
			pstr(&w, m->u.walk.wname[i]);
		break;
	case P9_RWALK:
		if (m->u.rwalk.nwqid > P9_MAXWELEM)
			return 0;
		p16(&w, m->u.rwalk.nwqid);
		for (unsigned i = 0; i < m->u.rwalk.nwqid; i++)
			pqid(&w, &m->u.rwalk.wqid[i]);
		break;
	case P9_TOPEN:
		p32(&w, m->u.open.fid);
		p8(&w, m->u.open.mode);
		break;
	case P9_TLOPEN:
		p32(&w, m->u.lopen.fid);
		p32(&w, m->u.lopen.flags);
		break;
	case P9_ROPEN: case P9_RLOPEN: case P9_RCREATE: case P9_RLCREATE:
		pqid(&w, &m->u.ropen.qid);
		p32(&w, m->u.ropen.iounit);
		break;
	case P9_TCREATE:
		p32(&w, m->u.create.fid);
		pstr(&w, m->u.create.name);
		p32(&w, m->u.create.perm);
		p8(&w, m->u.create.mode);
		break;
	case P9_TLCREATE:
		p32(&w, m->u.lcreate.fid);
		pstr(&w, m->u.lcreate.name);
		p32(&w, m->u.lcreate.flags);
		p32(&w, m->u.lcreate.mode);
		p32(&w, m->u.lcreate.gid);
		break;
	case P9_TREAD: case P9_TREADDIR:
		p32(&w, m->u.read.fid);
		p64(&w, m->u.read.offset);
		p32(&w, m->u.read.count);
		break;
	case P9_RREAD: case P9_RREADDIR:
		p32(&w, m->u.rread.count);
		pbytes(&w, m->u.rread.data, m->u.rread.count);
		break;
	case P9_TWRITE:
		p32(&w, m->u.write.fid);
		p64(&w, m->u.write.offset);
		p32(&w, m->u.write.count);
		pbytes(&w, m->u.write.data, m->u.write.count);
		break;
	case P9_RWRITE:
		p32(&w, m->u.rwrite.count);
		break;
	case P9_TCLUNK: case P9_TREMOVE: case P9_TSTAT: case P9_TSTATFS: case P9_TFSYNC:
		p32(&w, m->u.fid.fid);
		break;
	case P9_RSTAT:
		p16(&w, (uint16_t)(stat9_size(&m->u.rstat.stat) + 2));
		pstat9(&w, &m->u.rstat.stat);
		break;
	case P9_TWSTAT:
		p32(&w, m->u.wstat.fid);
		p16(&w, (uint16_t)(stat9_size(&m->u.wstat.stat) + 2));
		pstat9(&w, &m->u.wstat.stat);
		break;
	case P9_TGETATTR:
		p32(&w, m->u.getattr.fid);
		p64(&w, m->u.getattr.mask);
		break;
	case P9_RGETATTR: {
		const struct p9_attr *a = &m->u.rgetattr;
		p64(&w, a->valid);
		pqid(&w, &a->qid);
		p32(&w, a->mode);
		p32(&w, a->uid);
		p32(&w, a->gid);
		const uint64_t v[] = { a->nlink, a->rdev, a->size, a->blksize, a->blocks,
				       a->atime_sec, a->atime_nsec, a->mtime_sec, a->mtime_nsec,
				       a->ctime_sec, a->ctime_nsec, a->btime_sec, a->btime_nsec,
				       a->gen, a->data_version };
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			p64(&w, v[i]);
		break;
	}
	case P9_TSETATTR:
		p32(&w, m->u.setattr.fid);
		p32(&w, m->u.setattr.valid);
		p32(&w, m->u.setattr.mode);
		p32(&w, m->u.setattr.uid);
		p32(&w, m->u.setattr.gid);
		p64(&w, m->u.setattr.size);
		p64(&w, m->u.setattr.atime_sec);
		p64(&w, m->u.setattr.atime_nsec);
		p64(&w, m->u.setattr.mtime_sec);
		p64(&w, m->u.setattr.mtime_nsec);
		break;
	case P9_RSTATFS:
		p32(&w, m->u.rstatfs.type);
		p32(&w, m->u.rstatfs.bsize);
		p64(&w, m->u.rstatfs.blocks);
		p64(&w, m->u.rstatfs.bfree);
		p64(&w, m->u.rstatfs.bavail);
		p64(&w, m->u.rstatfs.files);
		p64(&w, m->u.rstatfs.ffree);
		p64(&w, m->u.rstatfs.fsid);
		p32(&w, m->u.rstatfs.namelen);
		break;
	case P9_TMKDIR:
		p32(&w, m->u.mkdir.dfid);
		pstr(&w, m->u.mkdir.name);
		p32(&w, m->u.mkdir.mode);
		p32(&w, m->u.mkdir.gid);
		break;
	case P9_TUNLINKAT:
		p32(&w, m->u.unlinkat.dirfd);
		pstr(&w, m->u.unlinkat.name);
		p32(&w, m->u.unlinkat.flags);
		break;
	case P9_TXATTRWALK:
		p32(&w, m->u.xattrwalk.fid);
		p32(&w, m->u.xattrwalk.newfid);
		pstr(&w, m->u.xattrwalk.name);
		break;
	case P9_RFLUSH: case P9_RCLUNK: case P9_RREMOVE: case P9_RWSTAT:
	case P9_RSETATTR: case P9_RFSYNC: case P9_RUNLINKAT:
		break;
	default:
		return 0;
	}
	if (w.full || w.len > UINT32_MAX)
		return 0;
	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)(w.len >> (8 * i));
	return w.len;
}

/* ---- directory entries ------------------------------------------------------ */

size_t p9_stat9_put(uint8_t *buf, size_t cap, const struct p9_stat9 *st)
{
	struct wr w = { buf, cap, 0, false };
	pstat9(&w, st);
	return w.full ? 0 : w.len;
}

size_t p9_stat9_get(const uint8_t *buf, size_t len, struct p9_stat9 *ret)
{
	struct rd r = { buf, len, false };
	memset(ret, 0, sizeof(*ret));
	gstat9(&r, ret);
	return r.bad ? 0 : len - r.left;
}

size_t p9_dirent_put(uint8_t *buf, size_t cap, const struct p9_qid *qid, uint64_t offset,
		     uint8_t type, const char *name)
{
	struct wr w = { buf, cap, 0, false };
	pqid(&w, qid);
	p64(&w, offset);
	p8(&w, type);
	pstr(&w, p9s(name));
	return w.full ? 0 : w.len;
}

size_t p9_dirent_get(const uint8_t *buf, size_t len, struct p9_qid *ret_qid,
		     uint64_t *ret_offset, uint8_t *ret_type, struct p9_str *ret_name)
{
	struct rd r = { buf, len, false };
	*ret_qid = gqid(&r);
	*ret_offset = g64(&r);
	*ret_type = g8(&r);
	*ret_name = gstr(&r);
	return r.bad ? 0 : len - r.left;
}

const char *p9_type_name(uint8_t type)
{
	static const struct { uint8_t t; const char *name; } names[] = {
		{ P9_RLERROR, "Rlerror" }, { P9_TSTATFS, "Tstatfs" }, { P9_RSTATFS, "Rstatfs" },
		{ P9_TLOPEN, "Tlopen" }, { P9_RLOPEN, "Rlopen" }, { P9_TLCREATE, "Tlcreate" },
		{ P9_RLCREATE, "Rlcreate" }, { P9_TGETATTR, "Tgetattr" }, { P9_RGETATTR, "Rgetattr" },
		{ P9_TSETATTR, "Tsetattr" }, { P9_RSETATTR, "Rsetattr" },
		{ P9_TXATTRWALK, "Txattrwalk" }, { P9_TREADDIR, "Treaddir" },
		{ P9_RREADDIR, "Rreaddir" }, { P9_TFSYNC, "Tfsync" }, { P9_RFSYNC, "Rfsync" },
		{ P9_TMKDIR, "Tmkdir" }, { P9_RMKDIR, "Rmkdir" }, { P9_TUNLINKAT, "Tunlinkat" },
		{ P9_RUNLINKAT, "Runlinkat" }, { P9_TVERSION, "Tversion" },
		{ P9_RVERSION, "Rversion" }, { P9_TAUTH, "Tauth" }, { P9_RAUTH, "Rauth" },
		{ P9_TATTACH, "Tattach" }, { P9_RATTACH, "Rattach" }, { P9_RERROR, "Rerror" },
		{ P9_TFLUSH, "Tflush" }, { P9_RFLUSH, "Rflush" }, { P9_TWALK, "Twalk" },
		{ P9_RWALK, "Rwalk" }, { P9_TOPEN, "Topen" }, { P9_ROPEN, "Ropen" },
		{ P9_TCREATE, "Tcreate" }, { P9_RCREATE, "Rcreate" }, { P9_TREAD, "Tread" },
		{ P9_RREAD, "Rread" }, { P9_TWRITE, "Twrite" }, { P9_RWRITE, "Rwrite" },
		{ P9_TCLUNK, "Tclunk" }, { P9_RCLUNK, "Rclunk" }, { P9_TREMOVE, "Tremove" },
		{ P9_RREMOVE, "Rremove" }, { P9_TSTAT, "Tstat" }, { P9_RSTAT, "Rstat" },
		{ P9_TWSTAT, "Twstat" }, { P9_RWSTAT, "Rwstat" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == type)
			return names[i].name;
	return NULL;
}

bool p9_streq(struct p9_str a, const char *s)
{
	size_t n = strlen(s);
	return n == a.len && memcmp(a.s, s, n) == 0;
}
