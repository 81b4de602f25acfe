/* p9/ops.c: what each 9P message does to the control tree.
 *
 * One handler per message, each returning the reply or an errno (and, for
 * 9P2000, a sentence).  Writes, mkdir and remove go through core/tree.h,
 * which records failures in the nearest err file; that sentence becomes
 * the Rerror text.  The errnos match fs/fs.c's for the same operation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "banger.h"
#include "server.h"

#define V9FS_MAGIC 0x01021997u
#define DT_DIR_ 4
#define DT_REG_ 8

static struct banger *B(struct p9_conn *c)
{
	return c->s->b;
}

/* A 9P string as a C string in buf; -EINVAL when it does not fit or holds
 * a '/' (names are single path elements). */
static int name_of(struct p9_str s, char *buf, size_t len)
{
	if (s.len == 0 || s.len >= len || memchr(s.s, '/', s.len))
		return -EINVAL;
	memcpy(buf, s.s, s.len);
	buf[s.len] = 0;
	return 0;
}

static uint32_t iounit(struct p9_conn *c)
{
	return c->msize - P9_IOHDRSZ;
}

/* The sentence core recorded, for an errno that came from core. */
static int core_err(struct p9_conn *c, const struct p9_node *n, bool vm_scope, int r,
		    struct p9_out *o)
{
	p9_node_errmsg(B(c), n, vm_scope, -r, o->ename, sizeof(o->ename));
	return r;
}

/* ---- attach --------------------------------------------------------------- */

/* The uid an attach names: n_uname (9P2000.L), else uname as a user name or
 * number; (uid_t)-1 when it names nobody. */
static uid_t attach_uid(struct p9_str uname, uint32_t n_uname)
{
	char name[64];
	uint64_t v;
	if (n_uname != P9_NONUNAME)
		return (uid_t)n_uname;
	if (uname.len == 0 || uname.len >= sizeof(name))
		return (uid_t)-1;
	memcpy(name, uname.s, uname.len);
	name[uname.len] = 0;
	if (parse_u64(name, &v) == 0 && v < (uid_t)-1)
		return (uid_t)v;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res)
		return res->pw_uid;
	return (uid_t)-1;
}

/* Who the connection acts as: the peer's gid and groups on the Unix socket
 * (the kernel's word), the user's own from the password and group files
 * for a claim over TCP. */
static void set_caller(struct p9_conn *c, uid_t uid)
{
	c->who = (struct tree_caller){ .uid = uid, .gid = (gid_t)-1 };
	if (c->peer_uid != (uid_t)-1 && c->npeer_groups >= 0) {
		c->who.gid = c->peer_gid;
		int n = c->npeer_groups < 64 ? c->npeer_groups : 64;
		memcpy(c->groups, c->peer_groups, (size_t)n * sizeof(gid_t));
		c->who.groups = c->groups;
		c->who.ngroups = (size_t)n;
	} else {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
			int n = (int)ARRAY_SIZE(c->groups);
			c->who.gid = res->pw_gid;
			if (getgrouplist(res->pw_name, res->pw_gid, c->groups, &n) < 0)
				n = 0;
			c->who.groups = c->groups;
			c->who.ngroups = (size_t)n;
		} else if (c->peer_uid != (uid_t)-1) {
			c->who.gid = c->peer_gid;
		}
	}
	c->attached = true;
}

static int op_attach(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	struct p9_node root;
	struct p9_fid *f;
	const struct p9_str aname = t->u.attach.aname;
	uid_t uid = attach_uid(t->u.attach.uname, t->u.attach.n_uname);
	bool shared = tree_shared(B(c));

	/* The name must be the peer's own (Unix socket); without allow_other
	 * only the daemon's user attaches, as only it reaches the mount. */
	if (uid == (uid_t)-1 || (c->peer_uid != (uid_t)-1 && c->peer_uid != uid) ||
	    (!shared && uid != c->s->owner) || (c->attached && c->who.uid != uid)) {
		if (shared)
			snprintf(o->ename, sizeof(o->ename),
				 "attach refused: attach as yourself (uid %d)", (int)c->peer_uid);
		else
			snprintf(o->ename, sizeof(o->ename),
				 "attach refused: only uid %u (%s) may attach to this tree",
				 (unsigned)c->s->owner, c->s->owner_name);
		return -EACCES;
	}
	if (t->u.attach.afid != P9_NOFID) {
		snprintf(o->ename, sizeof(o->ename), "no authentication: attach with afid NOFID");
		return -EINVAL;
	}
	if (aname.len && !p9_streq(aname, "/")) {
		snprintf(o->ename, sizeof(o->ename), "no such tree: attach to \"\" or \"/\"");
		return -ENOENT;
	}
	if (!c->attached)
		set_caller(c, uid);
	p9_node_root(&root);
	int r = p9_fid_new(c, t->u.attach.fid, &root, &f);
	if (r < 0)
		return r;
	p9_fid_put(c, f);
	o->r.u.rqid.qid = p9_node_qid(&root);
	return 0;
}

/* ---- walk ----------------------------------------------------------------- */

static int op_walk(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.walk.fid, false, &err), *nf = NULL;
	struct p9_node n;
	unsigned i;

	if (!f)
		return -err;
	/* Walking an open fid in place would leave it open elsewhere; cloning
	 * from it is fine (diod's clients walk from directories they read). */
	if (f->open && t->u.walk.newfid == t->u.walk.fid) {
		p9_fid_put(c, f);
		return -EBADF;
	}
	n = f->node;
	for (i = 0; i < t->u.walk.nwname; i++) {
		char name[256];
		int r = name_of(t->u.walk.wname[i], name, sizeof(name));
		if (r == 0)
			r = p9_node_walk(B(c), &n, name, &c->who, &n);
		if (r < 0) {
			if (i == 0) {
				p9_fid_put(c, f);
				return r;
			}
			break;
		}
		o->r.u.rwalk.wqid[i] = p9_node_qid(&n);
	}
	o->r.u.rwalk.nwqid = (uint16_t)i;
	if (i == t->u.walk.nwname) {
		if (t->u.walk.newfid == t->u.walk.fid) {
			f->node = n;
		} else {
			int r = p9_fid_new(c, t->u.walk.newfid, &n, &nf);
			if (r < 0) {
				p9_fid_put(c, f);
				return r;
			}
			p9_fid_put(c, nf);
		}
	}
	p9_fid_put(c, f);
	return 0;
}

/* ---- open and create ------------------------------------------------------ */

struct open_req {
	int acc;               /* P9_OREAD/OWRITE/ORDWR */
	bool orclose, nonblock, want_dir;
};

static int do_open(struct p9_conn *c, struct p9_fid *f, const struct open_req *q,
		   struct p9_out *o)
{
	int r;
	if (f->open)
		return -EBADF;
	if ((r = p9_node_exists(B(c), &f->node)) < 0)
		return r;
	if (p9_node_isdir(&f->node)) {
		if (q->acc != P9_OREAD)
			return -EISDIR;
		if (q->orclose && (f->node.t.kind == NK_ROOT || f->node.t.kind == NK_VMS ||
				   f->node.t.kind == NK_IMAGES || f->node.t.kind == NK_KERNELS ||
				   f->node.t.kind == NK_PORTS))
			return -EBUSY;
		if ((r = tree_access(B(c), &f->node.t, &c->who, TREE_R)) < 0)
			return r;
	} else {
		const struct tree_file *tf = p9_node_file(&f->node);
		if (q->want_dir)
			return -ENOTDIR;
		if (q->orclose)
			return -EPERM;   /* files cannot be removed */
		int acc = q->acc == P9_OREAD ? O_RDONLY : q->acc == P9_OWRITE ? O_WRONLY : O_RDWR;
		struct tree_handle *h = NULL;
		if ((r = tree_open(B(c), &f->node.t, acc, &c->who, &h)) < 0)
			return r;
		f->text = tf->read && !(tf->flags & (TF_STREAM | TF_HANDLE));
		if (q->acc != P9_OWRITE && f->text) {
			r = tree_read(B(c), &f->node.t, &f->snap);
			if (r < 0) {
				sbuf_free(&f->snap);
				tree_close(B(c), h);
				return r;
			}
			f->snap_fresh = true;
		}
		f->f = tf;
		f->h = h;
	}
	f->open = true;
	f->acc = q->acc;
	f->orclose = q->orclose;
	f->nonblock = q->nonblock;
	o->r.u.ropen.qid = p9_node_qid(&f->node);
	o->r.u.ropen.iounit = iounit(c);
	return 0;
}

static int op_open(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0;
	struct p9_fid *f;
	struct open_req q = { 0 };
	uint32_t fid;

	if (t->type == P9_TLOPEN) {
		fid = t->u.lopen.fid;
		q.acc = (int)(t->u.lopen.flags & P9_L_ACCMODE);
		q.nonblock = (t->u.lopen.flags & P9_L_NONBLOCK) != 0;
		q.want_dir = (t->u.lopen.flags & P9_L_DIRECTORY) != 0;
		if (q.acc == 3)
			return -EINVAL;
	} else {
		fid = t->u.open.fid;
		q.acc = t->u.open.mode & 3;
		if (q.acc == P9_OEXEC)
			q.acc = P9_OREAD;
		q.orclose = (t->u.open.mode & P9_ORCLOSE) != 0;
		if ((t->u.open.mode & P9_OTRUNC) && q.acc == P9_OREAD)
			return -EACCES;
	}
	if (!(f = p9_fid_get(c, fid, false, &err)))
		return -err;
	int r = do_open(c, f, &q, o);
	p9_fid_put(c, f);
	return r;
}

/* Tcreate: a directory in vms/ is a mkdir (core decides where it is
 * allowed); files cannot be created (EACCES, as over FUSE).  The fid
 * becomes the new directory, opened. */
static int op_create(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.create.fid, true, &err);
	struct p9_node n;
	char name[256];
	struct open_req q = { P9_OREAD, (t->u.create.mode & P9_ORCLOSE) != 0, false, false };

	if (!f)
		return -err;
	if (f->open || !p9_node_isdir(&f->node))
		r = f->open ? -EBADF : -ENOTDIR;
	else if (!(t->u.create.perm & P9_DMDIR))
		r = -EACCES;
	else if ((t->u.create.mode & 3) != P9_OREAD && (t->u.create.mode & 3) != P9_OEXEC)
		r = -EISDIR;
	else if ((r = name_of(t->u.create.name, name, sizeof(name))) < 0)
		;
	else if ((r = p9_node_mkdir(B(c), &f->node, name, &c->who, &n)) < 0)
		core_err(c, &f->node, f->node.t.kind == NK_PORTS, r, o);
	else {
		f->node = n;
		r = do_open(c, f, &q, o);
	}
	p9_fid_set_busy(c, f, false);
	p9_fid_put(c, f);
	return r;
}

static int op_mkdir(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.mkdir.dfid, false, &err);
	struct p9_node n;
	char name[256];

	if (!f)
		return -err;
	if (!p9_node_isdir(&f->node))
		r = -ENOTDIR;
	else if ((r = name_of(t->u.mkdir.name, name, sizeof(name))) < 0)
		;
	else if ((r = p9_node_mkdir(B(c), &f->node, name, &c->who, &n)) < 0)
		core_err(c, &f->node, f->node.t.kind == NK_PORTS, r, o);
	else
		o->r.u.rqid.qid = p9_node_qid(&n);
	p9_fid_put(c, f);
	return r;
}

/* ---- read ------------------------------------------------------------------- */

static int relist(struct p9_conn *c, struct p9_fid *f)
{
	free(f->ents);
	f->ents = NULL;
	f->nents = 0;
	f->dir_pos = 0;
	f->dir_off = 0;
	return p9_node_list(B(c), &f->node, &f->ents, &f->nents);
}

/* A uid or gid as 9P2000 names it: the name, else the number. */
static void id_name(bool group, unsigned id, char *buf, size_t len)
{
	char tmp[4096];
	if (group) {
		struct group gr, *res = NULL;
		if (getgrgid_r(id, &gr, tmp, sizeof(tmp), &res) == 0 && res) {
			snprintf(buf, len, "%s", res->gr_name);
			return;
		}
	} else {
		struct passwd pw, *res = NULL;
		if (getpwuid_r(id, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
			snprintf(buf, len, "%s", res->pw_name);
			return;
		}
	}
	snprintf(buf, len, "%u", id);
}

static void fill_stat9(struct p9_conn *c, const struct p9_node *n, const struct tree_attr *in,
		       struct p9_names *nm, struct p9_stat9 *st)
{
	memset(st, 0, sizeof(*st));
	st->qid = p9_node_qid(n);
	st->mode = (in->mode & 0777) | (S_ISDIR(in->mode) ? P9_DMDIR : 0);
	st->atime = st->mtime = (uint32_t)c->s->start;
	st->length = in->size;
	st->name = p9s(n->name);
	id_name(false, in->uid, nm->uid, sizeof(nm->uid));
	id_name(true, in->gid, nm->gid, sizeof(nm->gid));
	st->uid = st->muid = p9s(nm->uid);
	st->gid = p9s(nm->gid);
}

/* 9P2000: a directory read returns whole stat entries; the offset is 0 or
 * where the previous read ended. */
static int dir_read9(struct p9_conn *c, struct p9_fid *f, uint64_t off, uint32_t count,
		     struct p9_out *o)
{
	int r;
	if (off == 0 && (r = relist(c, f)) < 0)
		return r;
	if (off != f->dir_off)
		return -EINVAL;
	uint8_t *buf = xmalloc(count ? count : 1);
	size_t used = 0;
	while (f->dir_pos < f->nents) {
		struct tree_attr in;
		struct p9_stat9 st;
		struct p9_names nm;
		const struct p9_node *n = &f->ents[f->dir_pos];
		if (tree_attr(B(c), &n->t, &in) < 0) {   /* gone since the listing */
			f->dir_pos++;
			continue;
		}
		fill_stat9(c, n, &in, &nm, &st);
		size_t w = p9_stat9_put(buf + used, count - used, &st);
		if (w == 0)
			break;
		used += w;
		f->dir_pos++;
	}
	if (used == 0 && f->dir_pos < f->nents) {
		free(buf);
		return -EINVAL;   /* count too small for one entry */
	}
	f->dir_off += used;
	o->owned = buf;
	o->r.u.rread.data = buf;
	o->r.u.rread.count = (uint32_t)used;
	return 0;
}

int p9_op_stream(struct p9_conn *c, struct p9_fid *f, uint64_t off, uint32_t count,
		 bool parked, struct p9_out *o)
{
	bool live = false;
	char *buf = xmalloc(count ? count : 1);
	if (off > INT64_MAX) {
		free(buf);
		return -EINVAL;
	}
	ssize_t n = tree_hread(B(c), f->h, (off_t)off, buf, count, &live);
	if (count == 0 && n >= 0)
		live = false;   /* a read of nothing never waits */
	if (n < 0 || (n == 0 && live)) {
		free(buf);
		if (n < 0)
			return (int)n;
		return f->nonblock && !parked ? -EAGAIN : P9_PARK;
	}
	o->r.type = P9_RREAD;
	o->owned = (uint8_t *)buf;
	o->r.u.rread.data = (uint8_t *)buf;
	o->r.u.rread.count = (uint32_t)n;
	return 0;
}

static int op_read(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.read.fid, false, &err);
	uint64_t off = t->u.read.offset;
	uint32_t count = t->u.read.count;

	if (!f)
		return -err;
	if (count > c->msize - 11)
		count = c->msize - 11;
	if (!f->open || f->acc == P9_OWRITE) {
		r = -EBADF;
	} else if (p9_node_isdir(&f->node)) {
		r = c->d == P9_2000 ? dir_read9(c, f, off, count, o) : -EISDIR;
	} else if (!f->text) {
		r = p9_op_stream(c, f, off, count, false, o);
	} else {
		/* Plan 9 style: a read at 0 renders afresh, except the first
		 * (open just did); later offsets read the same snapshot. */
		if (off == 0 && !f->snap_fresh) {
			sbuf_free(&f->snap);
			r = tree_read(B(c), &f->node.t, &f->snap);
		}
		f->snap_fresh = false;
		if (r == 0) {
			size_t avail = off < f->snap.len ? f->snap.len - off : 0;
			o->r.u.rread.count = (uint32_t)(avail < count ? avail : count);
			o->r.u.rread.data = avail ? (const uint8_t *)f->snap.buf + off : NULL;
			o->hold = f;   /* the reply points into f->snap */
			return 0;
		}
	}
	p9_fid_put(c, f);
	return r;
}

/* 9P2000.L readdir: "." and ".." first, as over FUSE; an entry's offset is
 * the index of the next one. */
static int op_readdir(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.read.fid, false, &err);
	uint64_t off = t->u.read.offset;
	uint32_t count = t->u.read.count;

	if (!f)
		return -err;
	if (count > c->msize - 11)
		count = c->msize - 11;
	if (!f->open || !p9_node_isdir(&f->node)) {
		p9_fid_put(c, f);
		return f->open ? -ENOTDIR : -EBADF;
	}
	if ((off == 0 || !f->ents) && (r = relist(c, f)) < 0) {
		p9_fid_put(c, f);
		return r;
	}
	uint8_t *buf = xmalloc(count ? count : 1);
	size_t used = 0;
	for (uint64_t i = off; i < f->nents + 2; i++) {
		struct p9_node up, *n;
		const char *name;
		if (i == 0) {
			n = &f->node;
			name = ".";
		} else if (i == 1) {
			if (p9_node_walk(B(c), &f->node, "..", &c->who, &up) < 0)
				up = f->node;
			n = &up;
			name = "..";
		} else {
			n = &f->ents[i - 2];
			name = n->name;
		}
		struct p9_qid q = p9_node_qid(n);
		size_t w = p9_dirent_put(buf + used, count - used, &q, i + 1,
					 p9_node_isdir(n) ? DT_DIR_ : DT_REG_, name);
		if (w == 0)
			break;
		used += w;
	}
	p9_fid_put(c, f);
	o->owned = buf;
	o->r.u.rread.data = buf;
	o->r.u.rread.count = (uint32_t)used;
	return 0;
}

/* ---- write ------------------------------------------------------------------ */

/* Each write is one whole command; the offset is ignored (docs/tree.md). */
static int op_write(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.write.fid, false, &err);
	if (!f)
		return -err;
	if (!f->open || f->acc == P9_OREAD)
		r = -EBADF;
	else if (p9_node_isdir(&f->node))
		r = -EISDIR;
	else if ((r = tree_hwrite(B(c), f->h, (const char *)t->u.write.data, t->u.write.count,
				  &c->who)) < 0)
		core_err(c, &f->node, true, r, o);
	else
		o->r.u.rwrite.count = t->u.write.count;
	p9_fid_put(c, f);
	return r < 0 ? r : 0;
}

/* ---- clunk and remove ----------------------------------------------------- */

/* Remove f's node; only object directories reach core (and its err). */
static int remove_node(struct p9_conn *c, struct p9_fid *f, struct p9_out *o)
{
	enum node_kind k = f->node.t.kind;
	int r = p9_node_remove(B(c), &f->node, &c->who);
	if (r < 0 && p9_node_isdir(&f->node) && r != -ENOENT &&
	    (k == NK_VM || k == NK_PORT || k == NK_IMAGE || k == NK_KERNEL))
		core_err(c, &f->node, k == NK_PORT, r, o);
	return r;
}

int p9_op_orclose(struct p9_conn *c, struct p9_fid *f, struct p9_out *o)
{
	return remove_node(c, f, o);
}

/* Tclunk and Tremove: the fid is gone afterwards whatever the outcome. */
static int op_clunk(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.fid.fid, true, &err);
	if (!f)
		return -err;
	if (t->type == P9_TREMOVE)
		r = remove_node(c, f, o);
	else if (f->orclose)
		r = p9_op_orclose(c, f, o);
	p9_fid_close(c, f);   /* a clone file's VM goes now */
	p9_fid_unlink(c, f);
	p9_fid_set_busy(c, f, false);
	p9_fid_put(c, f);
	return r;
}

/* unlinkat checks what the VFS would before asking core: the name must
 * exist, rmdir wants a directory, unlink a file (and files are never
 * removed: EPERM, as over FUSE). */
static int op_unlinkat(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.unlinkat.dirfd, false, &err);
	struct p9_node n;
	char name[256];

	if (!f)
		return -err;
	if ((r = name_of(t->u.unlinkat.name, name, sizeof(name))) < 0 ||
	    (r = p9_node_walk(B(c), &f->node, name, &c->who, &n)) < 0)
		;
	else if (!(t->u.unlinkat.flags & P9_AT_REMOVEDIR))
		r = p9_node_isdir(&n) ? -EISDIR : -EPERM;
	else if (!p9_node_isdir(&n))
		r = -ENOTDIR;
	else if ((r = p9_node_rmdir(B(c), &f->node, name, &c->who)) < 0 &&
		 (f->node.t.kind == NK_VMS || f->node.t.kind == NK_PORTS) && r != -ENOENT)
		core_err(c, &f->node, f->node.t.kind == NK_PORTS, r, o);
	p9_fid_put(c, f);
	return r;
}

/* ---- attributes ------------------------------------------------------------ */

static int op_stat(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.fid.fid, false, &err);
	struct tree_attr in;
	if (!f)
		return -err;
	if ((r = tree_access(B(c), &f->node.t, &c->who, 0)) == 0 &&
	    (r = tree_attr(B(c), &f->node.t, &in)) == 0) {
		fill_stat9(c, &f->node, &in, &o->names, &o->r.u.rstat.stat);
		snprintf(o->name, sizeof(o->name), "%s", f->node.name);
		o->r.u.rstat.stat.name = p9s(o->name);
	}
	p9_fid_put(c, f);
	return r;
}

static int op_getattr(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.getattr.fid, false, &err);
	struct tree_attr in;
	struct p9_attr *a = &o->r.u.rgetattr;
	if (!f)
		return -err;
	if ((r = tree_access(B(c), &f->node.t, &c->who, 0)) == 0 &&
	    (r = tree_attr(B(c), &f->node.t, &in)) == 0) {
		a->valid = P9_GETATTR_BASIC;
		a->qid = p9_node_qid(&f->node);
		a->mode = in.mode;
		a->uid = in.uid;
		a->gid = in.gid;
		a->nlink = in.nlink;
		a->size = in.size;
		a->blksize = 4096;
		a->blocks = (in.size + 511) / 512;
		a->atime_sec = a->mtime_sec = a->ctime_sec = (uint64_t)c->s->start;
	}
	p9_fid_put(c, f);
	return r;
}

/* A size change to 0 on a writable file (O_TRUNC, `: > ctl`) is accepted,
 * times are ignored, owners and modes cannot change: as over FUSE. */
static int size_change(struct p9_conn *c, const struct p9_node *n, uint64_t size)
{
	const struct tree_file *tf = p9_node_file(n);
	bool w = tf && (tf->write || tf->hwrite);
	if (!w || size != 0)
		return w ? -EINVAL : -EACCES;
	return tree_access(B(c), &n->t, &c->who, TREE_W);
}

/* chown, chgrp, chmod: core decides (a VM's directory only). */
static int owner_change(struct p9_conn *c, struct p9_fid *f, int64_t uid, int64_t gid,
			int64_t mode, struct p9_out *o)
{
	int r = tree_setattr(B(c), &f->node.t, &c->who, uid, gid, mode);
	if (r < 0 && f->node.t.kind == NK_VM)
		core_err(c, &f->node, true, r, o);
	return r;
}

static int op_setattr(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.setattr.fid, false, &err);
	uint32_t v = t->u.setattr.valid;
	if (!f)
		return -err;
	if ((r = p9_node_exists(B(c), &f->node)) < 0)
		;
	else if (v & (P9_SETATTR_MODE | P9_SETATTR_UID | P9_SETATTR_GID))
		r = owner_change(c, f, v & P9_SETATTR_UID ? (int64_t)t->u.setattr.uid : -1,
				 v & P9_SETATTR_GID ? (int64_t)t->u.setattr.gid : -1,
				 v & P9_SETATTR_MODE ? (int64_t)(t->u.setattr.mode & 07777) : -1, o);
	else if (v & P9_SETATTR_SIZE)
		r = size_change(c, &f->node, t->u.setattr.size);
	p9_fid_put(c, f);
	return r;
}

/* A group named by 9P2000: a name or a number; -1 when none. */
static int64_t group_of(struct p9_str g)
{
	char name[64], buf[4096];
	uint64_t v;
	struct group gr, *res = NULL;
	if (g.len == 0 || g.len >= sizeof(name))
		return -1;
	memcpy(name, g.s, g.len);
	name[g.len] = 0;
	if (parse_u64(name, &v) == 0 && v < (gid_t)-1)
		return (int64_t)v;
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res)
		return res->gr_gid;
	return -1;
}

/* Twstat: ~0 and "" mean "don't touch"; only a length of 0 on a writable
 * file and time changes are accepted. */
static int op_wstat(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0, r;
	struct p9_fid *f = p9_fid_get(c, t->u.wstat.fid, false, &err);
	const struct p9_stat9 *st = &t->u.wstat.stat;
	if (!f)
		return -err;
	if ((r = p9_node_exists(B(c), &f->node)) < 0)
		;
	else if (st->name.len)
		r = -EPERM;
	else if (st->uid.len || st->gid.len || st->mode != 0xffffffffu) {
		int64_t uid = -1, gid = -1;
		if (st->uid.len && (uid = (int64_t)attach_uid(st->uid, P9_NONUNAME)) == (uid_t)-1)
			r = -EINVAL;
		else if (st->gid.len && (gid = group_of(st->gid)) < 0)
			r = -EINVAL;
		else
			r = owner_change(c, f, uid, gid,
					 st->mode != 0xffffffffu ? (int64_t)(st->mode & 0777) : -1, o);
	} else if (st->length != ~0ULL)
		r = size_change(c, &f->node, st->length);
	p9_fid_put(c, f);
	return r;
}

static int op_statfs(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.fid.fid, false, &err);
	if (!f)
		return -err;
	p9_fid_put(c, f);
	o->r.u.rstatfs.type = V9FS_MAGIC;
	o->r.u.rstatfs.bsize = 4096;
	o->r.u.rstatfs.namelen = 63;   /* a VM name is a DNS label */
	return 0;
}

static int op_fsync(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	int err = 0;
	struct p9_fid *f = p9_fid_get(c, t->u.fid.fid, true, &err);
	(void)o;
	if (!f)
		return -err;
	p9_fid_put(c, f);
	return 0;
}

/* ---- dispatch --------------------------------------------------------------- */

bool p9_op_async(const struct p9_msg *t)
{
	switch (t->type) {
	case P9_TWRITE: case P9_TCREATE: case P9_TMKDIR: case P9_TREMOVE: case P9_TUNLINKAT:
		return true;
	default:
		return false;
	}
}

int p9_op_claim(struct p9_conn *c, const struct p9_msg *t)
{
	int err = 0;
	uint32_t fid;
	if (t->type == P9_TCREATE)
		fid = t->u.create.fid;
	else if (t->type == P9_TREMOVE || t->type == P9_TCLUNK)
		fid = t->u.fid.fid;
	else
		return 0;
	struct p9_fid *f = p9_fid_get(c, fid, false, &err);
	if (!f)
		return -err;
	p9_fid_set_busy(c, f, true);
	p9_fid_put(c, f);
	return 0;
}

int p9_op(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o)
{
	memset(&o->r, 0, sizeof(o->r));
	o->r.type = (uint8_t)(t->type + 1);
	o->r.tag = t->tag;
	o->ename[0] = 0;
	o->owned = NULL;
	o->hold = NULL;
	switch (t->type) {
	case P9_TAUTH:
		/* No auth file: 9P2000.L clients (diod's libnpclient) read ENOENT
		 * as "not required"; 9P2000 ones read the sentence. */
		snprintf(o->ename, sizeof(o->ename), "authentication not required");
		return -ENOENT;
	case P9_TATTACH: return op_attach(c, t, o);
	case P9_TWALK: return op_walk(c, t, o);
	case P9_TOPEN: case P9_TLOPEN: return op_open(c, t, o);
	case P9_TCREATE: return op_create(c, t, o);
	case P9_TLCREATE: return -EACCES;
	case P9_TMKDIR: return op_mkdir(c, t, o);
	case P9_TREAD: return op_read(c, t, o);
	case P9_TREADDIR: return op_readdir(c, t, o);
	case P9_TWRITE: return op_write(c, t, o);
	case P9_TCLUNK: case P9_TREMOVE: return op_clunk(c, t, o);
	case P9_TUNLINKAT: return op_unlinkat(c, t, o);
	case P9_TSTAT: return op_stat(c, t, o);
	case P9_TWSTAT: return op_wstat(c, t, o);
	case P9_TGETATTR: return op_getattr(c, t, o);
	case P9_TSETATTR: return op_setattr(c, t, o);
	case P9_TSTATFS: return op_statfs(c, t, o);
	case P9_TFSYNC: return op_fsync(c, t, o);
	default:
		return -EOPNOTSUPP;
	}
}
