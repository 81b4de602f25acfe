/* fs/fs.c: the control tree as a low-level FUSE file system.
 *
 * A thin adapter: inode numbers encode (what, kind, id, file) so no inode
 * table is kept (like Plan 9 qids); every request is answered exactly
 * once; reads of stream files (console) that reach EOF while the VM runs
 * are parked and answered by fs_notify() when data arrives or the VM
 * stops, so `cat` and `tail -f` follow live output without a thread per
 * reader.  All policy lives in core/. */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

/* ---- inode numbers -------------------------------------------------------
 * bits 56..63 tag, 48..55 node kind, 8..47 object id, 0..7 file index. */
enum tag { TAG_ROOT = 0, TAG_SUBDIR = 1, TAG_OBJDIR = 2, TAG_OBJFILE = 3, TAG_ROOTFILE = 4 };

struct node {
	enum tag tag;
	enum node_kind kind;   /* collection (subdir) or object kind */
	int64_t id;            /* object id or subdir index */
	unsigned file;         /* file index */
};

static fuse_ino_t ino_make(enum tag t, enum node_kind k, int64_t id, unsigned file)
{
	if (t == TAG_ROOT)
		return FUSE_ROOT_ID;
	return ((uint64_t)t << 56) | ((uint64_t)k << 48) |
	       (((uint64_t)id & 0xffffffffffULL) << 8) | (file & 0xff);
}

static struct node ino_parse(fuse_ino_t ino)
{
	struct node n = { 0 };
	if (ino == FUSE_ROOT_ID) {
		n.tag = TAG_ROOT;
		n.kind = NK_ROOT;
		return n;
	}
	n.tag = (enum tag)(ino >> 56);
	n.kind = (enum node_kind)((ino >> 48) & 0xff);
	n.id = (int64_t)((ino >> 8) & 0xffffffffffULL);
	n.file = ino & 0xff;
	return n;
}

static struct banger *B;
static time_t start_time;

static const struct tree_subdir *subdir_at(int64_t idx)
{
	size_t n;
	const struct tree_subdir *s = tree_subdirs(&n);
	return idx >= 0 && (size_t)idx < n ? &s[idx] : NULL;
}

static const struct tree_file *file_of(const struct node *n)
{
	size_t cnt;
	const struct tree_file *f;
	if (n->tag == TAG_ROOTFILE)
		f = tree_files(NK_ROOT, &cnt);
	else if (n->tag == TAG_OBJFILE)
		f = tree_files(n->kind, &cnt);
	else
		return NULL;
	return n->file < cnt ? &f[n->file] : NULL;
}

/* Fill st for node n; -ENOENT if it no longer exists. */
static int node_stat(const struct node *n, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = start_time;
	switch (n->tag) {
	case TAG_ROOT:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 5;
		return 0;
	case TAG_SUBDIR: {
		const struct tree_subdir *s = subdir_at(n->id);
		if (!s)
			return -ENOENT;
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	case TAG_OBJDIR:
		if (tree_exists(B, n->kind, n->id) < 0)
			return -ENOENT;
		st->st_mode = S_IFDIR | (n->kind == NK_VM ? 0755 : 0555);
		st->st_nlink = 2;
		return 0;
	case TAG_OBJFILE:
	case TAG_ROOTFILE: {
		const struct tree_file *f = file_of(n);
		if (!f)
			return -ENOENT;
		if (n->tag == TAG_OBJFILE && tree_exists(B, n->kind, n->id) < 0)
			return -ENOENT;
		st->st_mode = S_IFREG | f->mode;
		st->st_nlink = 1;
		if (f->read) {
			struct sbuf s;
			sbuf_init(&s);
			if (tree_read(B, n->tag == TAG_ROOTFILE ? NK_ROOT : n->kind, n->id, f, &s) == 0)
				st->st_size = (off_t)s.len;
			sbuf_free(&s);
		}
		return 0;
	}
	}
	return -ENOENT;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino, const struct node *n)
{
	struct fuse_entry_param e;
	int r;
	memset(&e, 0, sizeof(e));
	r = node_stat(n, ino, &e.attr);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	/* Root-level entries never change; everything else is re-checked. */
	e.entry_timeout = n->tag == TAG_SUBDIR || n->tag == TAG_ROOTFILE ? 60.0 : 0.0;
	e.attr_timeout = 0.0;
	fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node p = ino_parse(parent), n = { 0 };
	size_t cnt;

	if (p.tag == TAG_ROOT) {
		const struct tree_file *f = tree_files(NK_ROOT, &cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(f[i].name, name) == 0) {
				n = (struct node){ TAG_ROOTFILE, NK_ROOT, 0, (unsigned)i };
				reply_entry(req, ino_make(n.tag, n.kind, 0, n.file), &n);
				return;
			}
		const struct tree_subdir *s = tree_subdirs(&cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(s[i].name, name) == 0) {
				n = (struct node){ TAG_SUBDIR, s[i].kind, (int64_t)i, 0 };
				reply_entry(req, ino_make(n.tag, n.kind, n.id, 0), &n);
				return;
			}
	} else if (p.tag == TAG_SUBDIR) {
		const struct tree_subdir *s = subdir_at(p.id);
		int64_t id;
		/* A collection's own files (images/ctl) come before its objects. */
		const struct tree_file *f = s ? tree_files(s->kind, &cnt) : NULL;
		for (size_t i = 0; f && i < cnt; i++)
			if (strcmp(f[i].name, name) == 0) {
				n = (struct node){ TAG_OBJFILE, s->kind, 0, (unsigned)i };
				reply_entry(req, ino_make(n.tag, n.kind, 0, n.file), &n);
				return;
			}
		if (s && tree_lookup(B, s->kind, name, &id) == 0) {
			n = (struct node){ TAG_OBJDIR, s->child, id, 0 };
			reply_entry(req, ino_make(n.tag, n.kind, id, 0), &n);
			return;
		}
	} else if (p.tag == TAG_OBJDIR) {
		const struct tree_file *f = tree_files(p.kind, &cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(f[i].name, name) == 0) {
				n = (struct node){ TAG_OBJFILE, p.kind, p.id, (unsigned)i };
				reply_entry(req, ino_make(n.tag, n.kind, n.id, n.file), &n);
				return;
			}
	} else {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fuse_reply_err(req, ENOENT);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n = ino_parse(ino);
	struct stat st;
	(void)fi;
	int r = node_stat(&n, ino, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0.0);
}

/* O_TRUNC on open and `: > file` arrive as a size change: accept it on
 * writable files (each write is a whole command anyway). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct node n = ino_parse(ino);
	const struct tree_file *f = file_of(&n);
	struct stat st;
	(void)fi;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && (!f || !f->write || attr->st_size != 0)) {
		fuse_reply_err(req, f && f->write ? EINVAL : EACCES);
		return;
	}
	int r = node_stat(&n, ino, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, 0.0);
}

/* ---- directories --------------------------------------------------------- */

struct dirbuf {
	char *p;
	size_t size;
};

static void dirbuf_add(fuse_req_t req, struct dirbuf *b, const char *name, fuse_ino_t ino,
		       mode_t mode)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = mode;
	size_t old = b->size;
	b->size += fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	b->p = xrealloc(b->p, b->size);
	fuse_add_direntry(req, b->p + old, b->size - old, name, &st, (off_t)b->size);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n = ino_parse(ino);
	struct dirbuf *db = xcalloc(1, sizeof(*db));
	size_t cnt;

	if (n.tag == TAG_OBJFILE || n.tag == TAG_ROOTFILE) {
		free(db);
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	dirbuf_add(req, db, ".", ino, S_IFDIR);
	dirbuf_add(req, db, "..", FUSE_ROOT_ID, S_IFDIR);
	if (n.tag == TAG_ROOT) {
		const struct tree_file *f = tree_files(NK_ROOT, &cnt);
		for (size_t i = 0; i < cnt; i++)
			dirbuf_add(req, db, f[i].name, ino_make(TAG_ROOTFILE, NK_ROOT, 0, (unsigned)i),
				   S_IFREG);
		const struct tree_subdir *s = tree_subdirs(&cnt);
		for (size_t i = 0; i < cnt; i++)
			dirbuf_add(req, db, s[i].name, ino_make(TAG_SUBDIR, s[i].kind, (int64_t)i, 0),
				   S_IFDIR);
	} else if (n.tag == TAG_SUBDIR) {
		const struct tree_subdir *s = subdir_at(n.id);
		struct tree_entry *ents = NULL;
		size_t ne = 0;
		const struct tree_file *f = s ? tree_files(s->kind, &cnt) : NULL;
		for (size_t i = 0; f && i < cnt; i++)
			dirbuf_add(req, db, f[i].name, ino_make(TAG_OBJFILE, s->kind, 0, (unsigned)i),
				   S_IFREG);
		if (s && tree_list(B, s->kind, &ents, &ne) == 0)
			for (size_t i = 0; i < ne; i++)
				dirbuf_add(req, db, ents[i].name,
					   ino_make(TAG_OBJDIR, s->child, ents[i].id, 0), S_IFDIR);
		free(ents);
	} else {
		if (tree_exists(B, n.kind, n.id) < 0) {
			free(db->p);
			free(db);
			fuse_reply_err(req, ENOENT);
			return;
		}
		const struct tree_file *f = tree_files(n.kind, &cnt);
		for (size_t i = 0; i < cnt; i++)
			dirbuf_add(req, db, f[i].name, ino_make(TAG_OBJFILE, n.kind, n.id, (unsigned)i),
				   S_IFREG);
	}
	fi->fh = (uint64_t)(uintptr_t)db;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirbuf *db = (struct dirbuf *)(uintptr_t)fi->fh;
	(void)ino;
	if ((size_t)off >= db->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* From a copy, for the same reason as op_read. */
	size_t n = db->size - (size_t)off < size ? db->size - (size_t)off : size;
	char *copy = xmalloc(n);
	memcpy(copy, db->p + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirbuf *db = (struct dirbuf *)(uintptr_t)fi->fh;
	(void)ino;
	free(db->p);
	free(db);
	fuse_reply_err(req, 0);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node p = ino_parse(parent);
	const struct tree_subdir *s = p.tag == TAG_SUBDIR ? subdir_at(p.id) : NULL;
	int64_t id;
	(void)mode;
	if (!s) {
		fuse_reply_err(req, EPERM);
		return;
	}
	int r = tree_mkdir(B, s->kind, name, &id);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct node n = { TAG_OBJDIR, s->child, id, 0 };
	reply_entry(req, ino_make(n.tag, n.kind, id, 0), &n);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node p = ino_parse(parent);
	const struct tree_subdir *s = p.tag == TAG_SUBDIR ? subdir_at(p.id) : NULL;
	if (!s) {
		fuse_reply_err(req, p.tag == TAG_ROOT ? EBUSY : EPERM);
		return;
	}
	int r = tree_rmdir(B, s->kind, name);
	fuse_reply_err(req, r < 0 ? -r : 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EACCES);
}

/* ---- files --------------------------------------------------------------- */

struct handle {
	struct node n;
	const struct tree_file *f;
	struct sbuf snap;            /* rendered content at open (non-stream) */
	bool nonblock;
	off_t pos;                   /* stream: end of the last read (for poll) */
	struct fuse_pollhandle *ph;  /* guarded by wait_lock */
	struct handle *poll_next;    /* in pollers list while ph is set */
};

/* Parked reads and pollers, answered by fs_notify(). */
struct parked {
	fuse_req_t req;
	struct handle *h;
	off_t off;
	size_t size;
	struct parked *next;
};
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static struct parked *parked_reads;     /* guarded by wait_lock */
static struct handle *pollers;          /* guarded by wait_lock */

static enum node_kind file_kind(const struct node *n)
{
	return n->tag == TAG_ROOTFILE ? NK_ROOT : n->kind;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n = ino_parse(ino);
	const struct tree_file *f = file_of(&n);
	int acc = fi->flags & O_ACCMODE;

	if (!f) {
		fuse_reply_err(req, n.tag == TAG_ROOT || n.tag == TAG_SUBDIR || n.tag == TAG_OBJDIR
					    ? EISDIR : ENOENT);
		return;
	}
	if (n.tag == TAG_OBJFILE && tree_exists(B, n.kind, n.id) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((acc != O_RDONLY && !f->write) || (acc != O_WRONLY && !f->read && !f->stream)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	struct handle *h = xcalloc(1, sizeof(*h));
	h->n = n;
	h->f = f;
	h->nonblock = (fi->flags & O_NONBLOCK) != 0;
	sbuf_init(&h->snap);
	if (acc != O_WRONLY && f->read) {
		int r = tree_read(B, file_kind(&n), n.id, f, &h->snap);
		if (r < 0) {
			sbuf_free(&h->snap);
			free(h);
			fuse_reply_err(req, -r);
			return;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;     /* contents change under the kernel's feet */
	fi->nonseekable = 0;
	fuse_reply_open(req, fi);
}

/* Try to answer a stream read now.  Returns true if replied. */
static bool stream_try(fuse_req_t req, struct handle *h, off_t off, size_t size, bool parked)
{
	char *buf = xmalloc(size ? size : 1);
	bool live = false;
	ssize_t n = h->f->stream(B, h->n.id, off, buf, size, &live);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else if (n > 0 || !live) {
		h->pos = off + n;
		fuse_reply_buf(req, buf, (size_t)n);
	} else if (h->nonblock && !parked) {
		fuse_reply_err(req, EAGAIN);
	} else {
		free(buf);
		return false;
	}
	free(buf);
	return true;
}

static void read_interrupted(fuse_req_t req, void *data)
{
	struct parked **pp, *found = NULL;
	(void)data;
	pthread_mutex_lock(&wait_lock);
	for (pp = &parked_reads; *pp; pp = &(*pp)->next)
		if ((*pp)->req == req) {
			found = *pp;
			*pp = found->next;
			break;
		}
	pthread_mutex_unlock(&wait_lock);
	if (found) {
		fuse_reply_err(req, EINTR);
		free(found);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	(void)ino;
	if (size > (1 << 20))
		size = 1 << 20;
	if (!(h->f->flags & TF_STREAM)) {
		if ((size_t)off >= h->snap.len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		/* Reply from a copy: once the kernel has the data, the reader may
		 * close and its RELEASE (freeing snap) can run before our writev
		 * call has returned. */
		size_t n = h->snap.len - (size_t)off < size ? h->snap.len - (size_t)off : size;
		char *copy = xmalloc(n);
		memcpy(copy, h->snap.buf + off, n);
		fuse_reply_buf(req, copy, n);
		free(copy);
		return;
	}
	if (stream_try(req, h, off, size, false))
		return;
	struct parked *p = xcalloc(1, sizeof(*p));
	p->req = req;
	p->h = h;
	p->off = off;
	p->size = size;
	pthread_mutex_lock(&wait_lock);
	p->next = parked_reads;
	parked_reads = p;
	pthread_mutex_unlock(&wait_lock);
	/* May call read_interrupted() right away: the lock is not held. */
	fuse_req_interrupt_func(req, read_interrupted, NULL);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	(void)ino, (void)off;
	/* The writer's credentials: a write may name files it reads as them. */
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int ng = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
	struct tree_caller who = { .uid = ctx->uid, .gid = ctx->gid,
				   .groups = ng > 0 && ng <= (int)ARRAY_SIZE(groups) ? groups : NULL,
				   .ngroups = ng > 0 && ng <= (int)ARRAY_SIZE(groups) ? (size_t)ng : 0 };
	int r = tree_write(B, file_kind(&h->n), h->n.id, h->f, buf, size, &who);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	unsigned revents = POLLOUT;
	(void)ino;
	if (!(h->f->flags & TF_STREAM)) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT);
		return;
	}
	char c;
	bool live = false;
	ssize_t n = h->f->stream(B, h->n.id, h->pos, &c, 1, &live);
	if (n != 0 || !live)
		revents |= POLLIN;
	if (ph) {
		pthread_mutex_lock(&wait_lock);
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		else {
			h->poll_next = pollers;
			pollers = h;
		}
		h->ph = ph;
		pthread_mutex_unlock(&wait_lock);
	}
	fuse_reply_poll(req, revents);
}

static void pollers_remove(struct handle *h)
{
	for (struct handle **pp = &pollers; *pp; pp = &(*pp)->poll_next)
		if (*pp == h) {
			*pp = h->poll_next;
			break;
		}
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	(void)ino;
	pthread_mutex_lock(&wait_lock);
	if (h->ph) {
		pollers_remove(h);
		fuse_pollhandle_destroy(h->ph);
		h->ph = NULL;
	}
	pthread_mutex_unlock(&wait_lock);
	sbuf_free(&h->snap);
	free(h);
	fuse_reply_err(req, 0);
}

void fs_notify(void *arg)
{
	struct parked *todo, *keep = NULL;
	(void)arg;

	pthread_mutex_lock(&wait_lock);
	todo = parked_reads;
	parked_reads = NULL;
	pthread_mutex_unlock(&wait_lock);
	/* Requests taken off the list are ours: an interrupt arriving now finds
	 * nothing and does not reply. */
	while (todo) {
		struct parked *p = todo;
		todo = p->next;
		if (stream_try(p->req, p->h, p->off, p->size, true)) {
			free(p);
		} else {
			p->next = keep;
			keep = p;
		}
	}
	pthread_mutex_lock(&wait_lock);
	while (keep) {
		struct parked *p = keep;
		keep = p->next;
		p->next = parked_reads;
		parked_reads = p;
	}
	for (struct handle **pp = &pollers; *pp;) {
		struct handle *h = *pp;
		char c;
		bool live = false;
		ssize_t n = h->f->stream(B, h->n.id, h->pos, &c, 1, &live);
		if (n != 0 || !live) {
			fuse_lowlevel_notify_poll(h->ph);
			fuse_pollhandle_destroy(h->ph);
			h->ph = NULL;
			*pp = h->poll_next;
			continue;
		}
		pp = &h->poll_next;
	}
	pthread_mutex_unlock(&wait_lock);
}

void fs_drain(void)
{
	pthread_mutex_lock(&wait_lock);
	struct parked *todo = parked_reads;
	parked_reads = NULL;
	pthread_mutex_unlock(&wait_lock);
	while (todo) {
		struct parked *p = todo;
		todo = p->next;
		fuse_reply_buf(p->req, NULL, 0);
		free(p);
	}
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.poll = op_poll,
	.release = op_release,
};

struct fuse_session *fs_new(struct banger *b, int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	B = b;
	start_time = time(NULL);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	return se;
}
