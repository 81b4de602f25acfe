/* core/tree.h: the control tree (DESIGN §3) as data.
 *
 * Every directory kind has a table of files; each file has a read (render
 * text) and/or a write (parse and act) callback, a stream callback for
 * files read by offset (console, log), or per-open state (ready, wait,
 * events, clone).  Errors from writes, mkdir and rmdir are recorded by the
 * core in the nearest err file (the VM's err, else the top-level err)
 * before the errno is returned, so an adapter only passes errnos through.
 *
 * The adapters (fs/ for FUSE, p9/ for 9P) see the tree as nodes: a node is
 * a directory (its kind and object id) or a file in one (plus the file's
 * index).  Attributes (owner, group, mode, size) and the access rules come
 * from here, so both adapters show and enforce the same thing (docs/tree.md,
 * "Owners and modes"); rendered text is cached here until something
 * changes (core/treecache.h). */
#ifndef BANGER_TREE_H
#define BANGER_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "treebase.h"
#include "util.h"

struct banger;

#define TF_STREAM 0x01  /* read by offset through stream(); no cached text */
#define TF_NOCACHE 0x02 /* rendered anew on every read (doctor: host probes) */
#define TF_CLOCK 0x04   /* its text follows the clock (status's uptime): cached a second */
#define TF_SIZED 0x08   /* a stream whose size is its host file's (size()) */
#define TF_HANDLE 0x10  /* per-open state: open, hread, hwrite, hready, release */
#define TF_BLOCKS 0x20  /* a read may wait (console, ready, wait, events): size 0 */
#define TF_SEQ 0x40     /* one sequence of lines: offsets mean nothing (events) */
#define TF_RDWR 0x80    /* opened read-write only (clone: a previewer's read-only
			   open makes no VM) */

struct tree_file {
	const char *name;
	mode_t mode;          /* permission bits (masked by a VM's mode in its directory) */
	unsigned flags;
	int (*read)(struct banger *b, int64_t id, struct sbuf *out, struct berr *err);
	int (*write)(struct banger *b, int64_t id, const char *data, size_t len,
		     const struct tree_caller *who, struct berr *err);
	/* Read len bytes at off; returns bytes read; *live is true when more
	 * may come later (a reader at EOF should wait). */
	ssize_t (*stream)(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			  bool *live);
	/* TF_SIZED: the length a stat shows. */
	int (*size)(struct banger *b, int64_t id, uint64_t *ret);
	/* TF_HANDLE: open makes the state the others get; release ends it
	 * (it may wait on a VM: clone's destroys one).  hready: would a read
	 * at off return at once (data or the end)? */
	int (*open)(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err);
	ssize_t (*hread)(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live);
	int (*hwrite)(struct banger *b, void *st, const char *data, size_t len,
		      const struct tree_caller *who, struct berr *err);
	bool (*hready)(struct banger *b, void *st, off_t off);
	void (*release)(struct banger *b, void *st);
};

/* Sub-directories of a directory: the root's "vms", "images", "kernels";
 * a VM's "ports". */
struct tree_subdir {
	const char *name;
	enum node_kind kind;   /* NK_VMS ... */
	enum node_kind child;  /* NK_VM ... */
	bool mkdir;            /* users may mkdir/rmdir in it */
};
/* Of the root (tree_subdirs) and of an object of kind k. */
const struct tree_subdir *tree_subdirs(size_t *n);
const struct tree_subdir *tree_obj_subdirs(enum node_kind k, size_t *n);

/* The files in a directory of kind k (NK_ROOT, NK_VMS, NK_VM, NK_IMAGE,
 * NK_KERNEL, NK_PORT). */
const struct tree_file *tree_files(enum node_kind k, size_t *n);

/* ---- nodes ---------------------------------------------------------------- */

/* The tree file of a file node, else NULL. */
const struct tree_file *tree_node_file(const struct tree_node *n);
/* One step from dir: name ("." stays, ".." goes up).  -ENOENT, -ENOTDIR.
 * No access check (tree_access does that). */
int tree_walk(struct banger *b, const struct tree_node *dir, const char *name,
	      struct tree_node *ret);
/* 0 while n exists, else -ENOENT. */
int tree_exists(struct banger *b, const struct tree_node *n);

struct tree_entry {
	struct tree_node node;
	char name[64];
};
/* The entries of directory dir, without "." and "..", xmalloc'ed. */
int tree_list(struct banger *b, const struct tree_node *dir, struct tree_entry **ret,
	      size_t *ret_n);
/* Lookup by name in a collection (NK_VMS, NK_IMAGES, NK_KERNELS; NK_PORTS
 * of VM parent): the object's id. */
int tree_lookup(struct banger *b, enum node_kind coll, int64_t parent, const char *name,
		int64_t *ret_id);

struct tree_attr {
	mode_t mode;           /* S_IFDIR or S_IFREG | permission bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;         /* rendered length; a TF_SIZED file's; 0 for streams, dirs */
	unsigned nlink;
	unsigned flags;        /* a file's TF_ flags; 0 for directories */
};
int tree_attr(struct banger *b, const struct tree_node *n, struct tree_attr *ret);

/* ---- access (docs/tree.md, "Owners and modes") ------------------------------ */

/* May who do want (TREE_R|W|X) to n: the POSIX check on n's attributes
 * (root passes), after the daemon's own gate (without allow_other in the
 * config only the daemon's user and root reach the tree).  0 or -EACCES. */
int tree_access(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		int want);
/* ---- operations; they return 0/-errno and record failures in err files ------ */

/* The text of a (non-stream) file, from the cache when nothing changed. */
int tree_read(struct banger *b, const struct tree_node *n, struct sbuf *out);
int tree_write(struct banger *b, const struct tree_node *n, const char *data, size_t len,
	       const struct tree_caller *who);
/* mkdir name in dir (vms/, a VM's ports/); rmdir name in dir. */
int tree_mkdir(struct banger *b, const struct tree_node *dir, const char *name,
	       const struct tree_caller *who, struct tree_node *ret);
int tree_rmdir(struct banger *b, const struct tree_node *dir, const char *name,
	       const struct tree_caller *who);

/* An open file.  acc: O_RDONLY, O_WRONLY or O_RDWR.  Checks access (R,
 * W) for who, makes a TF_HANDLE file's state (clone creates its VM). */
struct tree_handle {
	struct tree_node node;
	const struct tree_file *f;
	int acc;
	void *st;              /* TF_HANDLE state */
};
int tree_open(struct banger *b, const struct tree_node *n, int acc, const struct tree_caller *who,
	      struct tree_handle **ret);
/* Streams and handle files: read at off; *live: wait at the end. */
ssize_t tree_hread(struct banger *b, struct tree_handle *h, off_t off, char *buf, size_t len,
		   bool *live);
/* Would a read at off return at once (data, or the end)? */
bool tree_hready(struct banger *b, struct tree_handle *h, off_t off);
/* A write through h: a handle file's own, else tree_write. */
int tree_hwrite(struct banger *b, struct tree_handle *h, const char *data, size_t len,
		const struct tree_caller *who);
/* Release (may wait on a VM: a clone's is destroyed).  Accepts NULL. */
void tree_close(struct banger *b, struct tree_handle *h);

/* The generation of core/events.h (bumped by every change) and the ids
 * touched since *gen (see events_touched()): for an adapter's caches. */
uint64_t tree_gen(struct banger *b);
int tree_touched(struct banger *b, uint64_t *gen, int64_t *ids, size_t cap);

/* Names that went from directories (deletions), after *cursor: for an
 * adapter's cached names (see events_unlinked()). */
struct tree_unlink {
	struct tree_node dir;
	char name[64];
};
size_t tree_unlinked(struct banger *b, uint64_t *cursor, struct tree_unlink *out, size_t cap);

#endif
