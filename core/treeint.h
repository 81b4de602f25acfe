/* core/treeint.h: what the files of the tree share, private to them.  From
 * the top: treenode.c (nodes, listing, mkdir/rmdir, open files), treeattr.c
 * (attributes and access of nodes), tree.c (the tables and renderers),
 * treelive.c (ready, wait, events, clone), treebase.c (owners, modes,
 * objects, failures, ctl verbs): each calls only those below it. */
#ifndef BANGER_TREEINT_H
#define BANGER_TREEINT_H

#include "internal.h"
#include "treebase.h"

/* An object as the tree shows it (cached until something changes). */
struct objmeta {
	bool exists;
	uid_t uid;
	gid_t gid;
	mode_t mode;           /* permission bits of its directory */
	int64_t parent;        /* NK_PORT: its VM */
	char name[64];
};
int tree_meta(struct banger *b, enum node_kind k, int64_t id, struct objmeta *ret);

/* Record a failure once: the VM's err for what was done to VM id (k NK_VM
 * or NK_PORTS/NK_PORT with its VM's id), else the top-level err. */
void tree_fail(struct banger *b, enum node_kind k, int64_t vm_id, const struct berr *err,
	       const char *what);

/* The VM's own owner, group, mode (the defaults filled in). */
void tree_vm_owner(struct banger *b, const struct vm_rec *r, uid_t *uid, gid_t *gid, mode_t *mode);
/* The caller as a VM owner (for mkdir, clone). */
void tree_owner_of(const struct tree_caller *who, struct vm_owner *ret);
/* May who make VMs (mkdir in vms/, open clone)?  0 or -EACCES with a
 * sentence. */
int tree_may_create(struct banger *b, const struct tree_caller *who, struct berr *err);

/* The ctl verbs of a VM, for a write to its ctl or to its clone file. */
int tree_vm_ctl(struct banger *b, int64_t id, const char *data, size_t len,
		const struct tree_caller *who, struct berr *err);

#endif
