/* core/tree.h: the control tree (DESIGN §3) as data.
 *
 * Every directory kind has a table of files; each file has a read (render
 * text) and/or a write (parse and act) callback, or a stream callback for
 * files read by offset (console, log).  Errors from writes, mkdir and
 * rmdir are recorded by the core in the nearest err file (the VM's err,
 * else the top-level err) before the errno is returned, so an adapter only
 * passes errnos through. */
#ifndef BANGER_TREE_H
#define BANGER_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct banger;

enum node_kind {
	NK_ROOT,      /* the mount point */
	NK_VMS,       /* vms/ */
	NK_IMAGES,    /* images/ */
	NK_KERNELS,   /* kernels/ */
	NK_VM,        /* vms/NAME/ */
	NK_IMAGE,     /* images/NAME/ */
	NK_KERNEL,    /* kernels/NAME/ */
	NK_EXECS,     /* execs/: commands run through guest agents */
	NK_EXEC,      /* execs/NAME/ */
	NK_SNAPSHOTS, /* snapshots/ */
	NK_SNAPSHOT,  /* snapshots/NAME/ */
	NK_COUNT
};

#define TF_STREAM 0x1   /* read by offset through stream() */

/* Who asked (the FUSE request's, or the 9P attach's, credentials): what a
 * write may read of the caller's files is checked against them
 * (docs/workspace.md). */
struct tree_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;  /* supplementary groups, may be NULL */
	size_t ngroups;
};

struct tree_file {
	const char *name;
	mode_t mode;          /* permission bits */
	unsigned flags;
	int (*read)(struct banger *b, int64_t id, struct sbuf *out, struct berr *err);
	int (*write)(struct banger *b, int64_t id, const char *data, size_t len,
		     const struct tree_caller *who, struct berr *err);
	/* Read len bytes at off; returns bytes read; *live is true when more
	 * may come later (a reader at EOF should wait). */
	ssize_t (*stream)(struct banger *b, int64_t id, off_t off, char *buf,
			  size_t len, bool *live);
};

/* Sub-directories of the root: "vms", "images", "kernels". */
struct tree_subdir {
	const char *name;
	enum node_kind kind;   /* NK_VMS ... */
	enum node_kind child;  /* NK_VM ... */
	bool mkdir;            /* users may mkdir/rmdir in it */
};
const struct tree_subdir *tree_subdirs(size_t *n);

/* The files in a directory of kind k (NK_ROOT, NK_VM, NK_IMAGE, NK_KERNEL). */
const struct tree_file *tree_files(enum node_kind k, size_t *n);

struct tree_entry {
	int64_t id;
	char name[64];
};
/* Objects in a collection directory (NK_VMS, NK_IMAGES, NK_KERNELS). */
int tree_list(struct banger *b, enum node_kind dir, struct tree_entry **ret, size_t *ret_n);
int tree_lookup(struct banger *b, enum node_kind dir, const char *name, int64_t *ret_id);
/* 0 if object id of kind k (NK_VM...) exists, else -ENOENT. */
int tree_exists(struct banger *b, enum node_kind k, int64_t id);

/* Operations; they return 0/-errno and record failures in err files. */
int tree_read(struct banger *b, enum node_kind k, int64_t id, const struct tree_file *f,
	      struct sbuf *out);
int tree_write(struct banger *b, enum node_kind k, int64_t id, const struct tree_file *f,
	       const char *data, size_t len, const struct tree_caller *who);
int tree_mkdir(struct banger *b, enum node_kind dir, const char *name, int64_t *ret_id);
int tree_rmdir(struct banger *b, enum node_kind dir, const char *name);

#endif
