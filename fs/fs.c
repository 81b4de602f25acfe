/* fs/fs.c: the control tree as a low-level FUSE file system.
 *
 * A thin adapter over core/tree.h: inode numbers encode a tree node
 * (kind, object id, file) so no inode table is kept (like Plan 9 qids);
 * every request is answered exactly once; reads of files that may wait
 * (console, ready, wait, events) are parked and answered by fs_notify()
 * when something changed, so `cat` and `tail -f` follow without a thread
 * per reader.  All policy lives in core/.
 *
 * Caching (docs/tree.md, "Caching"): the kernel keeps entries and
 * attributes for an hour and the text of files in its page cache; core
 * reports every change (core/events.h), and a thread here tells the
 * kernel to forget what changed (fuse_lowlevel_notify_inval_inode) before
 * fs_notify() returns, so a write that changed something is answered after
 * the kernel has forgotten it.  Names that went (a VM deleted over 9P or
 * by a clone file's close) are forgotten by a second thread
 * (notify_inval_entry takes the directory's lock, which a request in
 * flight may hold, so nobody waits for that one).  An open compares the
 * text it renders with what the kernel was last given: the same text
 * keeps the kernel's pages (FOPEN_KEEP_CACHE), other text drops them, and
 * a length the kernel does not know is served without its cache (direct
 * I/O) while its attributes are refreshed.  Files that stream, and every
 * open for writing, use direct I/O. */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

#define CACHE_TIMEOUT 3600.0   /* entries and attributes the kernel keeps */
#define NOTIFY_WAIT_MS 1000    /* the longest a change waits for the kernel to forget */

/* ---- inode numbers ---------------------------------------------------------
 * bit 56 set for every node but the root; 48..55 kind; 8..47 object id;
 * 0..7 file index + 1 (0: the directory itself). */
static fuse_ino_t ino_of(const struct tree_node *n)
{
	if (n->kind == NK_ROOT && n->file < 0)
		return FUSE_ROOT_ID;
	return (1ULL << 56) | ((uint64_t)n->kind << 48) | (((uint64_t)n->id & 0xffffffffffULL) << 8) |
	       (uint64_t)(n->file + 1);
}

static struct tree_node node_of(fuse_ino_t ino)
{
	struct tree_node n;
	if (ino == FUSE_ROOT_ID) {
		tree_root(&n);
		return n;
	}
	n.kind = (enum node_kind)((ino >> 48) & 0xff);
	n.id = (int64_t)((ino >> 8) & 0xffffffffffULL);
	n.file = (int)(ino & 0xff) - 1;
	if (n.kind >= NK_COUNT)
		n.kind = NK_COUNT; /* exists() says no */
	return n;
}

static struct banger *B;
static struct fuse_session *SE;
static time_t start_time;

/* ---- who asks ------------------------------------------------------------------ */

struct fcaller {
	struct tree_caller c;
	fuse_req_t req;
};

static int req_groups(void *ctx, gid_t *buf, size_t cap)
{
	struct fcaller *fc = ctx;
	int n = fuse_req_getgroups(fc->req, (int)cap, buf);
	if (n < 0)
		return n;
	return n > (int)cap ? (int)cap : n;
}

static void caller_of(fuse_req_t req, struct fcaller *fc)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	memset(fc, 0, sizeof(*fc));
	fc->req = req;
	fc->c.uid = ctx->uid;
	fc->c.gid = ctx->gid;
	fc->c.groups_fn = req_groups;
	fc->c.groups_ctx = fc;
}

/* ---- what the kernel holds ---------------------------------------------------------
 * Per inode the kernel knows (looked up, not yet forgotten): how often it
 * was looked up, the size last reported, and a hash of the text last given
 * to its page cache. */
struct kino {
	fuse_ino_t ino;
	uint64_t nlookup;
	uint64_t size;          /* last reported */
	bool size_known;
	uint64_t hash;          /* of the text its page cache may hold */
	bool have_text;
	struct kino *next;
};
#define KBUCKETS 1024
static pthread_mutex_t k_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kino *kinos[KBUCKETS];   /* guarded by k_lock */

static struct kino *k_find(fuse_ino_t ino, bool make)
{
	unsigned h = (unsigned)((ino * 0x9e3779b97f4a7c15ULL) >> 54) % KBUCKETS;
	for (struct kino *k = kinos[h]; k; k = k->next)
		if (k->ino == ino)
			return k;
	if (!make)
		return NULL;
	struct kino *k = xcalloc(1, sizeof(*k));
	k->ino = ino;
	k->next = kinos[h];
	kinos[h] = k;
	return k;
}

static void k_forget(fuse_ino_t ino, uint64_t n)
{
	unsigned h = (unsigned)((ino * 0x9e3779b97f4a7c15ULL) >> 54) % KBUCKETS;
	pthread_mutex_lock(&k_lock);
	for (struct kino **pp = &kinos[h]; *pp; pp = &(*pp)->next)
		if ((*pp)->ino == ino) {
			struct kino *k = *pp;
			k->nlookup = k->nlookup > n ? k->nlookup - n : 0;
			if (k->nlookup == 0) {
				*pp = k->next;
				free(k);
			}
			break;
		}
	pthread_mutex_unlock(&k_lock);
}

static void k_reported(fuse_ino_t ino, const struct stat *st, bool lookup)
{
	pthread_mutex_lock(&k_lock);
	struct kino *k = k_find(ino, lookup);
	if (k) {
		if (lookup)
			k->nlookup++;
		k->size = (uint64_t)st->st_size;
		k->size_known = true;
	}
	pthread_mutex_unlock(&k_lock);
}

static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h ^ n;
}

/* ---- forgetting: the invalidation threads ------------------------------------------- */

static pthread_mutex_t inv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inv_kick = PTHREAD_COND_INITIALIZER;   /* work for the threads */
static pthread_cond_t inv_done = PTHREAD_COND_INITIALIZER;   /* done_gen moved */
static uint64_t want_gen, done_gen;                           /* guarded by inv_lock */
static fuse_ino_t extra[64];                                  /* inodes to refresh */
static size_t nextra;
static bool unlinks_pending, inv_stop, inv_started;
static pthread_t inode_thread, entry_thread;

static bool kind_is_global(enum node_kind k)
{
	return k == NK_ROOT || k == NK_VMS || k == NK_IMAGES || k == NK_KERNELS ||
	       k == NK_IMAGE || k == NK_KERNEL;
}

/* The inodes the kernel knows that a change of these ids may concern
 * (all: everything). */
static size_t inodes_of(const int64_t *ids, int n, bool all, fuse_ino_t **ret)
{
	size_t cnt = 0, cap = 64;
	fuse_ino_t *v = xmalloc(cap * sizeof(*v));
	pthread_mutex_lock(&k_lock);
	for (size_t b = 0; b < KBUCKETS; b++)
		for (struct kino *k = kinos[b]; k; k = k->next) {
			struct tree_node nd = node_of(k->ino);
			bool hit = all || nd.kind == NK_PORT;
			for (int i = 0; i < n && !hit; i++)
				hit = ids[i] == 0 ? kind_is_global(nd.kind)
						  : (nd.kind == NK_VM || nd.kind == NK_PORTS) && nd.id == ids[i];
			if (!hit || k->ino == FUSE_ROOT_ID)
				continue;
			if (cnt == cap) {
				cap *= 2;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[cnt++] = k->ino;
			k->have_text = false;
		}
	pthread_mutex_unlock(&k_lock);
	*ret = v;
	return cnt;
}

static void *inode_main(void *arg)
{
	uint64_t seen = tree_gen(B);
	(void)arg;
	pthread_mutex_lock(&inv_lock);
	for (;;) {
		while (!inv_stop && want_gen <= done_gen && !nextra)
			pthread_cond_wait(&inv_kick, &inv_lock);
		if (inv_stop)
			break;
		fuse_ino_t more[64];
		size_t nmore = nextra;
		if (nextra)
			memcpy(more, extra, nextra * sizeof(*extra));
		nextra = 0;
		pthread_mutex_unlock(&inv_lock);

		int64_t ids[256];
		int n = tree_touched(B, &seen, ids, ARRAY_SIZE(ids));
		fuse_ino_t *inos;
		size_t cnt = inodes_of(ids, n < 0 ? 0 : n, n < 0, &inos);
		for (size_t i = 0; i < cnt; i++)
			fuse_lowlevel_notify_inval_inode(SE, inos[i], 0, 0);
		for (size_t i = 0; i < nmore; i++)
			fuse_lowlevel_notify_inval_inode(SE, more[i], -1, 0);
		free(inos);

		pthread_mutex_lock(&inv_lock);
		if (seen > done_gen)
			done_gen = seen;
		pthread_cond_broadcast(&inv_done);
	}
	pthread_mutex_unlock(&inv_lock);
	return NULL;
}

static void *entry_main(void *arg)
{
	uint64_t cursor = 0;
	struct tree_unlink u[32];
	(void)arg;
	/* Only what goes from now on. */
	while (tree_unlinked(B, &cursor, u, ARRAY_SIZE(u)) == ARRAY_SIZE(u))
		;
	pthread_mutex_lock(&inv_lock);
	for (;;) {
		while (!inv_stop && !unlinks_pending)
			pthread_cond_wait(&inv_kick, &inv_lock);
		if (inv_stop)
			break;
		unlinks_pending = false;
		pthread_mutex_unlock(&inv_lock);
		size_t n;
		while ((n = tree_unlinked(B, &cursor, u, ARRAY_SIZE(u))) > 0)
			for (size_t i = 0; i < n; i++)
				fuse_lowlevel_notify_inval_entry(SE, ino_of(&u[i].dir), u[i].name,
								 strlen(u[i].name));
		pthread_mutex_lock(&inv_lock);
	}
	pthread_mutex_unlock(&inv_lock);
	return NULL;
}

/* The kernel forgets ino's attributes (its size changed). */
static void refresh_later(fuse_ino_t ino)
{
	pthread_mutex_lock(&inv_lock);
	if (nextra < ARRAY_SIZE(extra))
		extra[nextra++] = ino;
	pthread_cond_broadcast(&inv_kick);
	pthread_mutex_unlock(&inv_lock);
}

/* Everything changed up to now is forgotten by the kernel (or a second
 * has passed: a kernel that blocks an invalidation never hangs us). */
static void forget_changes(void)
{
	uint64_t gen = tree_gen(B);
	pthread_mutex_lock(&inv_lock);
	if (!inv_started || inv_stop) {
		pthread_mutex_unlock(&inv_lock);
		return;
	}
	if (gen > want_gen)
		want_gen = gen;
	unlinks_pending = true;
	pthread_cond_broadcast(&inv_kick);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += NOTIFY_WAIT_MS % 1000 * 1000000L;
	ts.tv_sec += NOTIFY_WAIT_MS / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	while (done_gen < gen && !inv_stop)
		if (pthread_cond_timedwait(&inv_done, &inv_lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&inv_lock);
}

/* ---- attributes and entries ----------------------------------------------------------- */

static int node_stat(const struct tree_node *n, struct stat *st, double *timeout)
{
	struct tree_attr a;
	int r = tree_attr(B, n, &a);
	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->st_ino = ino_of(n);
	st->st_mode = a.mode;
	st->st_nlink = a.nlink;
	st->st_uid = a.uid;
	st->st_gid = a.gid;
	st->st_size = (off_t)a.size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a.size + 511) / 512);
	st->st_atime = st->st_mtime = st->st_ctime = start_time;
	/* A file whose size is a host file's, or that probes the host, changes
	 * without a report; the root is asked every time, so a stat of the
	 * mount point finds a daemon that died (ENOTCONN: banger_mount_tree()
	 * clears it). */
	*timeout = (a.flags & (TF_SIZED | TF_NOCACHE)) || ino_of(n) == FUSE_ROOT_ID ? 0.0
										   : CACHE_TIMEOUT;
	return 0;
}

static void reply_entry(fuse_req_t req, const struct tree_node *n)
{
	struct fuse_entry_param e;
	double to;
	memset(&e, 0, sizeof(e));
	int r = node_stat(n, &e.attr, &to);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = ino_of(n);
	e.generation = 1;
	e.entry_timeout = CACHE_TIMEOUT;
	e.attr_timeout = to;
	k_reported(e.ino, &e.attr, true);
	if (fuse_reply_entry(req, &e) != 0)
		k_forget(e.ino, 1);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tree_node p = node_of(parent), n;
	struct fcaller fc;
	caller_of(req, &fc);
	int r = tree_access(B, &p, &fc.c, TREE_X);
	if (r == 0)
		r = tree_walk(B, &p, name, &n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	k_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		k_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void reply_attr(fuse_req_t req, fuse_ino_t ino, const struct tree_node *n)
{
	struct stat st;
	double to;
	int r = tree_exists(B, n);
	if (r == 0)
		r = node_stat(n, &st, &to);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	k_reported(ino, &st, false);
	fuse_reply_attr(req, &st, to);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree_node n = node_of(ino);
	struct fcaller fc;
	(void)fi;
	caller_of(req, &fc);
	int r = tree_access(B, &n, &fc.c, 0);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_attr(req, ino, &n);
}

/* chown/chmod of a VM's directory; O_TRUNC and `: > file` arrive as a
 * size change, accepted on writable files (each write is a whole command
 * anyway); times are ignored. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct tree_node n = node_of(ino);
	const struct tree_file *f = tree_node_file(&n);
	struct fcaller fc;
	int r = 0;
	(void)fi;
	caller_of(req, &fc);
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		r = tree_setattr(B, &n, &fc.c, to_set & FUSE_SET_ATTR_UID ? (int64_t)attr->st_uid : -1,
				 to_set & FUSE_SET_ATTR_GID ? (int64_t)attr->st_gid : -1,
				 to_set & FUSE_SET_ATTR_MODE ? (int64_t)(attr->st_mode & 07777) : -1);
		if (r == 0)
			forget_changes();
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!f || !(f->write || f->hwrite) || attr->st_size != 0)
			r = f && (f->write || f->hwrite) ? -EINVAL : -EACCES;
		else
			r = tree_access(B, &n, &fc.c, TREE_W);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_attr(req, ino, &n);
}

/* ---- directories ------------------------------------------------------------------------ */

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
	struct tree_node n = node_of(ino), up;
	struct tree_entry *ents = NULL;
	struct fcaller fc;
	size_t ne = 0;

	caller_of(req, &fc);
	if (!tree_isdir(&n)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	int r = tree_access(B, &n, &fc.c, TREE_R);
	if (r == 0)
		r = tree_list(B, &n, &ents, &ne);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	struct dirbuf *db = xcalloc(1, sizeof(*db));
	if (tree_walk(B, &n, "..", &up) < 0)
		up = n;
	dirbuf_add(req, db, ".", ino, S_IFDIR);
	dirbuf_add(req, db, "..", ino_of(&up), S_IFDIR);
	for (size_t i = 0; i < ne; i++)
		dirbuf_add(req, db, ents[i].name, ino_of(&ents[i].node),
			   tree_isdir(&ents[i].node) ? S_IFDIR : S_IFREG);
	free(ents);
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
	struct tree_node p = node_of(parent), n;
	struct fcaller fc;
	(void)mode;
	caller_of(req, &fc);
	int r = tree_mkdir(B, &p, name, &fc.c, &n);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &n);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct tree_node p = node_of(parent);
	struct fcaller fc;
	caller_of(req, &fc);
	int r = tree_rmdir(B, &p, name, &fc.c);
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

/* ---- files ---------------------------------------------------------------------------- */

struct handle {
	struct tree_handle *th;
	bool text;                   /* served from snap */
	struct sbuf snap;            /* rendered content at open (text files) */
	bool nonblock;
	off_t pos;                   /* streams: end of the last read (for poll) */
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

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct tree_node n = node_of(ino);
	struct tree_handle *th = NULL;
	struct fcaller fc;
	int acc = fi->flags & O_ACCMODE;

	caller_of(req, &fc);
	if (tree_isdir(&n)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	int r = tree_open(B, &n, acc, &fc.c, &th);
	if (r < 0) {
		fuse_reply_err(req, -r);
		if (r != -ENOENT && r != -EACCES)
			forget_changes(); /* a failed clone: err changed */
		return;
	}
	struct handle *h = xcalloc(1, sizeof(*h));
	h->th = th;
	h->nonblock = (fi->flags & O_NONBLOCK) != 0;
	sbuf_init(&h->snap);
	const struct tree_file *f = th->f;
	h->text = f->read && !(f->flags & (TF_STREAM | TF_HANDLE));
	fi->direct_io = 1;
	if (h->text && acc != O_WRONLY) {
		r = tree_read(B, &n, &h->snap);
		if (r < 0) {
			tree_close(B, th);
			sbuf_free(&h->snap);
			free(h);
			fuse_reply_err(req, -r);
			return;
		}
		if (acc == O_RDONLY) {
			/* The kernel's cache, when it knows this length. */
			uint64_t hh = text_hash(h->snap.buf ? h->snap.buf : "", h->snap.len);
			bool refresh = false;
			pthread_mutex_lock(&k_lock);
			struct kino *k = k_find(ino, false);
			if (k && k->size_known && k->size == h->snap.len) {
				fi->direct_io = 0;
				fi->keep_cache = k->have_text && k->hash == hh;
				k->hash = hh;
				k->have_text = true;
			} else if (k) {
				k->have_text = false;
				refresh = true;
			}
			pthread_mutex_unlock(&k_lock);
			if (refresh)
				refresh_later(ino);
		}
	}
	if (f->flags & TF_SEQ)
		fi->nonseekable = 1;
	if (th->st)
		forget_changes(); /* clone made a VM */
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

/* Try to answer a stream read now.  Returns true if replied. */
static bool stream_try(fuse_req_t req, struct handle *h, off_t off, size_t size, bool parked)
{
	char *buf = xmalloc(size ? size : 1);
	bool live = false;
	ssize_t n = tree_hread(B, h->th, off, buf, size, &live);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else if (n > 0 || !live || size == 0) {
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
	if (h->text) {
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
	/* Something may have changed between the try and the parking. */
	fs_notify(NULL);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct fcaller fc;
	(void)ino, (void)off;
	/* The writer's credentials: a write may name files it reads as them. */
	caller_of(req, &fc);
	int r = tree_hwrite(B, h->th, buf, size, &fc.c);
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
	if (h->text) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT);
		return;
	}
	if (tree_hready(B, h->th, h->pos))
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
	/* A clone file's VM is destroyed here: that may take a while, and
	 * close(2) does not wait for it. */
	bool had_state = h->th->st != NULL;
	tree_close(B, h->th);
	sbuf_free(&h->snap);
	free(h);
	fuse_reply_err(req, 0);
	if (had_state)
		forget_changes();
}

void fs_notify(void *arg)
{
	struct parked *todo, *keep = NULL;
	(void)arg;

	/* The kernel forgets what changed before a waiting reader hears of it. */
	forget_changes();
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
		if (tree_hready(B, h->th, h->pos)) {
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
	.forget = op_forget,
	.forget_multi = op_forget_multi,
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
	SE = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	return SE;
}

static int thread_start(pthread_t *t, void *(*fn)(void *))
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(t, NULL, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int fs_start(void)
{
	int r = thread_start(&inode_thread, inode_main);
	if (r != 0)
		return -r;
	r = thread_start(&entry_thread, entry_main);
	if (r != 0) {
		pthread_mutex_lock(&inv_lock);
		inv_stop = true;
		pthread_cond_broadcast(&inv_kick);
		pthread_mutex_unlock(&inv_lock);
		pthread_join(inode_thread, NULL);
		return -r;
	}
	pthread_mutex_lock(&inv_lock);
	inv_started = true;
	done_gen = want_gen = tree_gen(B);
	pthread_mutex_unlock(&inv_lock);
	return 0;
}

void fs_stop(void)
{
	pthread_mutex_lock(&inv_lock);
	bool was = inv_started;
	inv_stop = true;
	pthread_cond_broadcast(&inv_kick);
	pthread_cond_broadcast(&inv_done);
	pthread_mutex_unlock(&inv_lock);
	if (!was)
		return;
	pthread_join(inode_thread, NULL);
	pthread_join(entry_thread, NULL);
	pthread_mutex_lock(&k_lock);
	for (size_t b = 0; b < KBUCKETS; b++)
		while (kinos[b]) {
			struct kino *k = kinos[b];
			kinos[b] = k->next;
			free(k);
		}
	pthread_mutex_unlock(&k_lock);
}
