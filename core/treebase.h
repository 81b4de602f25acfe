/* core/treebase.h: the base of the control tree (core/tree.h): what a node
 * is, who asks, and who may do what (docs/tree.md, "Owners and modes").
 * Below the tree's tables: nothing here knows a file of the tree. */
#ifndef BANGER_TREEBASE_H
#define BANGER_TREEBASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct banger;

enum node_kind {
	NK_ROOT,      /* the mount point */
	NK_VMS,       /* vms/ */
	NK_IMAGES,    /* images/ */
	NK_KERNELS,   /* kernels/ */
	NK_VM,        /* vms/NAME/ */
	NK_IMAGE,     /* images/NAME/ */
	NK_KERNEL,    /* kernels/NAME/ */
	NK_PORTS,     /* vms/NAME/ports/ (its id is the VM's) */
	NK_PORT,      /* vms/NAME/ports/PORT/ (its id is the forward's) */
	NK_EXECS,     /* execs/: commands run through guest agents */
	NK_EXEC,      /* execs/NAME/ */
	NK_SNAPSHOTS, /* snapshots/ */
	NK_SNAPSHOT,  /* snapshots/NAME/ */
	NK_COUNT
};

/* Who asked (the FUSE request's, or the 9P attach's, credentials): access
 * to the tree is checked against them, and what a write may read of the
 * caller's files (docs/workspace.md). */
struct tree_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;  /* supplementary groups, may be NULL ... */
	size_t ngroups;
	/* ... then asked for when needed (FUSE reads them from /proc): fills
	 * buf, returns the count or -errno. */
	int (*groups_fn)(void *ctx, gid_t *buf, size_t cap);
	void *groups_ctx;
};

struct tree_node {
	enum node_kind kind;   /* a directory's kind; a file's: its directory's */
	int64_t id;            /* object id (NK_VM, NK_IMAGE, NK_KERNEL, NK_PORT), the
				  VM's for NK_PORTS, else 0 */
	int file;              /* -1 for the directory, else its index in tree_files(kind) */
};

void tree_root(struct tree_node *ret);
bool tree_isdir(const struct tree_node *n);

#define TREE_R 4
#define TREE_W 2
#define TREE_X 1

/* A directory's owner, group and mode (S_IFDIR | S_ISVTX | bits). */
struct tree_perm {
	uid_t uid;
	gid_t gid;
	mode_t mode;
};
/* Of directory node dir (a file's: pass its directory); -ENOENT when gone. */
int tree_dir_perm(struct banger *b, const struct tree_node *dir, struct tree_perm *ret);
/* May who do want (TREE_R|W|X) to something with owner, group and bits p:
 * the POSIX check (root passes), after the daemon's own gate (without
 * allow_other in the config only the daemon's user and root reach the
 * tree).  0 or -EACCES. */
int tree_perm_check(struct banger *b, const struct tree_perm *p, const struct tree_caller *who,
		    int want);
/* Other users than the daemon's may use the tree (allow_other in the
 * config): the 9P export then accepts any uid's attach (its socket 0666). */
bool tree_shared(struct banger *b);

/* chown/chmod of n (uid, gid, mode: -1 leaves it): a VM's directory only
 * (EPERM elsewhere); chown to another user is root's, chgrp the owner's
 * to a group of theirs (or root's), chmod the owner's (or root's). */
int tree_setattr(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		 int64_t uid, int64_t gid, int64_t mode);

/* The groups of who (groups, else groups_fn): count or -errno. */
int tree_caller_groups(const struct tree_caller *who, gid_t *buf, size_t cap);

#endif
