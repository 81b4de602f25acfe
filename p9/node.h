/* p9/node.h: the control tree (core/tree.h) as 9P nodes.
 *
 * A node names a place in the tree the way a FUSE inode does in fs/fs.c:
 * (what, kind, object id, file index), so a qid path is computed, never
 * stored.  These functions carry no policy: permissions, errnos and err
 * files all come from core/tree.h, and the answers match fs/fs.c's. */
#ifndef BANGER_P9_NODE_H
#define BANGER_P9_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "p9msg.h"
#include "tree.h"

enum p9_tag { PN_ROOT, PN_SUBDIR, PN_OBJDIR, PN_OBJFILE, PN_ROOTFILE };

struct p9_node {
	enum p9_tag tag;
	enum node_kind kind;   /* collection (subdir) or object kind */
	int64_t id;            /* object id, or the subdir's index */
	unsigned file;         /* file index in its table */
	char name[64];         /* last path element ("/" for the root) */
};

/* What a stat/getattr shows. */
struct p9_info {
	mode_t mode;           /* S_IFDIR/S_IFREG | permission bits */
	uint64_t size;         /* rendered length; 0 for directories and streams */
	unsigned nlink;
};

void p9_node_root(struct p9_node *ret);
bool p9_node_isdir(const struct p9_node *n);
struct p9_qid p9_node_qid(const struct p9_node *n);
/* The tree file of a file node, else NULL. */
const struct tree_file *p9_node_file(const struct p9_node *n);
/* The kind a file's callbacks are called with (NK_ROOT for root files). */
enum node_kind p9_node_file_kind(const struct p9_node *n);

/* One step from dir: name (".." goes up).  -ENOENT, -ENOTDIR. */
int p9_node_walk(struct banger *b, const struct p9_node *dir, const char *name,
		 struct p9_node *ret);
/* 0 when the node still exists, else -ENOENT. */
int p9_node_exists(struct banger *b, const struct p9_node *n);
/* Mode, size (non-stream files are rendered, as fs/fs.c does), nlink. */
int p9_node_info(struct banger *b, const struct p9_node *n, struct p9_info *ret);
/* The entries of directory dir (without "." and ".."), xmalloc'ed. */
int p9_node_list(struct banger *b, const struct p9_node *dir, struct p9_node **ret,
		 size_t *ret_n);

/* mkdir name in dir (only vms/ accepts it: core decides).  On success
 * *ret is the new directory. */
int p9_node_mkdir(struct banger *b, const struct p9_node *dir, const char *name,
		  struct p9_node *ret);
/* rmdir of name in dir, with fs/fs.c's errnos for the places core does
 * not handle (EBUSY at the root, EPERM elsewhere). */
int p9_node_rmdir(struct banger *b, const struct p9_node *dir, const char *name);
/* Remove the node itself (Tremove, ORCLOSE): rmdir for an object
 * directory, EBUSY for the root and collections, EPERM for files. */
int p9_node_remove(struct banger *b, const struct p9_node *n);

/* The sentence core recorded for a failed write on n (the VM's err file
 * for a VM's files, else the top-level err), or for a failed mkdir/rmdir
 * (vm_scope false: the top-level err).  Falls back to strerror(code). */
void p9_node_errmsg(struct banger *b, const struct p9_node *n, bool vm_scope, int code,
		    char *buf, size_t len);

#endif
