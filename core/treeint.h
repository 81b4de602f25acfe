/* core/treeint.h: what the files of the tree share (tree.c: the tables and
 * renderers; treenode.c: nodes, listing, handles; treeaccess.c: owners,
 * modes and checks; treelive.c: ready, wait, events, clone).  Private to
 * them. */
#ifndef BANGER_TREEINT_H
#define BANGER_TREEINT_H

#include "internal.h"
#include "tree.h"

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

/* treelive.c: the files with per-open state. */
int live_ready_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err);
int live_wait_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		   struct berr *err);
int live_events_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		     struct berr *err);
ssize_t live_text_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live);
bool live_text_ready(struct banger *b, void *st, off_t off);
ssize_t live_events_read(struct banger *b, void *st, off_t off, char *buf, size_t len,
			 bool *live);
bool live_events_ready(struct banger *b, void *st, off_t off);
void live_release(struct banger *b, void *st);
int live_clone_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err);
ssize_t live_clone_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live);
bool live_clone_ready(struct banger *b, void *st, off_t off);
int live_clone_write(struct banger *b, void *st, const char *data, size_t len,
		     const struct tree_caller *who, struct berr *err);
void live_clone_release(struct banger *b, void *st);
/* The ctl verbs of a VM, for a write to its ctl or to its clone file. */
int tree_vm_ctl(struct banger *b, int64_t id, const char *data, size_t len,
		const struct tree_caller *who, struct berr *err);

#endif
