/* p9/node.h: the control tree (core/tree.h) as 9P nodes.
 *
 * A node is core's tree node plus its last path element (9P stats carry a
 * name, and a walked fid keeps it).  The qid path is computed from the
 * tree node, as fs/fs.c computes its inode numbers.  These functions carry
 * no policy: attributes, access rules, errnos and err files all come from
 * core/tree.h, and the answers match fs/fs.c's. */
#ifndef BANGER_P9_NODE_H
#define BANGER_P9_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "p9msg.h"
#include "tree.h"

struct p9_node {
	struct tree_node t;
	char name[64];         /* last path element ("/" for the root) */
};

void p9_node_root(struct p9_node *ret);
bool p9_node_isdir(const struct p9_node *n);
struct p9_qid p9_node_qid(const struct p9_node *n);
/* The tree file of a file node, else NULL. */
const struct tree_file *p9_node_file(const struct p9_node *n);

/* One step from dir: name (".." goes up), checking who may search dir.
 * -ENOENT, -ENOTDIR, -EACCES. */
int p9_node_walk(struct banger *b, const struct p9_node *dir, const char *name,
		 const struct tree_caller *who, struct p9_node *ret);
/* 0 when the node still exists, else -ENOENT. */
int p9_node_exists(struct banger *b, const struct p9_node *n);
/* The entries of directory dir (without "." and ".."), xmalloc'ed. */
int p9_node_list(struct banger *b, const struct p9_node *dir, struct p9_node **ret,
		 size_t *ret_n);

/* mkdir name in dir (vms/, a VM's ports/: core decides).  On success *ret
 * is the new directory. */
int p9_node_mkdir(struct banger *b, const struct p9_node *dir, const char *name,
		  const struct tree_caller *who, struct p9_node *ret);
/* rmdir of name in dir, with fs/fs.c's errnos. */
int p9_node_rmdir(struct banger *b, const struct p9_node *dir, const char *name,
		  const struct tree_caller *who);
/* Remove the node itself (Tremove, ORCLOSE): rmdir for an object
 * directory, EBUSY for the root and collections, EPERM for files. */
int p9_node_remove(struct banger *b, const struct p9_node *n, const struct tree_caller *who);

/* The sentence core recorded for a failed write on n (the VM's err file
 * for a VM's files, else the top-level err), or for a failed mkdir/rmdir
 * (vm_scope false: the top-level err).  Falls back to strerror(code). */
void p9_node_errmsg(struct banger *b, const struct p9_node *n, bool vm_scope, int code,
		    char *buf, size_t len);

#endif
