/* core/treeaccess.c: owners, groups and modes of the tree's nodes, and who
 * may do what (docs/tree.md, "Owners and modes").
 *
 * What a stat shows is what is enforced: the FUSE mount has the kernel
 * check these attributes (default_permissions) and the daemon checks them
 * again for every operation with the request's uid; the 9P export checks
 * them with the attach's uid.  A VM carries an owner, a group and a mode;
 * its files take the VM's owner and group, and their table modes masked
 * by the VM's mode (a class that may not read the VM reads none of its
 * files, one that may not write it writes none).  vms/ is the daemon
 * user's, group vm_group and sticky when one is configured (its members
 * make VMs; each deletes only their own), else 0755. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "treeint.h"

void tree_vm_owner(struct banger *b, const struct vm_rec *r, uid_t *uid, gid_t *gid, mode_t *mode)
{
	*uid = r->owner_uid >= 0 ? (uid_t)r->owner_uid : b->owner_uid;
	*gid = r->owner_gid >= 0 ? (gid_t)r->owner_gid : b->owner_gid;
	*mode = (mode_t)(r->mode >= 0 ? r->mode : b->cfg.vm_mode) & 0777;
}

void tree_owner_of(const struct tree_caller *who, struct vm_owner *ret)
{
	*ret = (struct vm_owner){ .uid = who->uid, .gid = who->gid, .ephemeral = false };
}

int tree_caller_groups(const struct tree_caller *who, gid_t *buf, size_t cap)
{
	if (who->groups) {
		size_t n = who->ngroups < cap ? who->ngroups : cap;
		memcpy(buf, who->groups, n * sizeof(*buf));
		return (int)n;
	}
	if (who->groups_fn)
		return who->groups_fn(who->groups_ctx, buf, cap);
	return 0;
}

static bool in_group(const struct tree_caller *who, gid_t gid)
{
	gid_t g[256];
	if (who->gid == gid)
		return true;
	int n = tree_caller_groups(who, g, ARRAY_SIZE(g));
	for (int i = 0; i < n; i++)
		if (g[i] == gid)
			return true;
	return false;
}

/* A table mode seen through its directory's: each class keeps r and w
 * only where the directory grants them. */
static mode_t masked(mode_t file, mode_t dir)
{
	mode_t out = 0;
	for (int shift = 6; shift >= 0; shift -= 3) {
		if ((file & 0400) && (dir & (4u << shift)))
			out |= 4u << shift;
		if ((file & 0200) && (dir & (2u << shift)))
			out |= 2u << shift;
	}
	return out;
}

/* The directory attributes of dir (a directory node). */
static int dir_attr(struct banger *b, const struct tree_node *dir, struct tree_attr *a)
{
	struct objmeta m;
	size_t cnt;
	memset(a, 0, sizeof(*a));
	a->uid = b->owner_uid;
	a->gid = b->owner_gid;
	a->nlink = 2;
	switch (dir->kind) {
	case NK_ROOT:
		tree_subdirs(&cnt);
		a->mode = S_IFDIR | 0755;
		a->nlink = 2 + (unsigned)cnt;
		return 0;
	case NK_VMS:
		if (b->vm_group >= 0) {
			a->gid = (gid_t)b->vm_group;
			a->mode = S_IFDIR | S_ISVTX | 0775;
		} else {
			a->mode = S_IFDIR | 0755;
		}
		return 0;
	case NK_IMAGES:
	case NK_KERNELS:
		a->mode = S_IFDIR | 0755;
		return 0;
	case NK_IMAGE:
	case NK_KERNEL:
		if (tree_meta(b, dir->kind, dir->id, &m) < 0)
			return -ENOENT;
		a->mode = S_IFDIR | 0555;
		return 0;
	case NK_VM:
	case NK_PORTS:
	case NK_PORT:
		if (tree_meta(b, dir->kind == NK_PORTS ? NK_VM : dir->kind, dir->id, &m) < 0)
			return -ENOENT;
		a->uid = m.uid;
		a->gid = m.gid;
		a->mode = S_IFDIR | m.mode;
		a->nlink = dir->kind == NK_VM ? 3 : 2;
		return 0;
	case NK_COUNT:
		break;
	}
	return -ENOENT;
}

int tree_attr(struct banger *b, const struct tree_node *n, struct tree_attr *ret)
{
	struct tree_node dir = { n->kind, n->id, -1 };
	int r;

	if (tree_isdir(n))
		return dir_attr(b, n, ret);
	const struct tree_file *f = tree_node_file(n);
	if (!f)
		return -ENOENT;
	if ((r = dir_attr(b, &dir, ret)) < 0)
		return r;
	mode_t dmode = ret->mode & 0777;
	ret->mode = S_IFREG | (n->kind == NK_ROOT || n->kind == NK_IMAGE || n->kind == NK_KERNEL
				       ? f->mode : masked(f->mode, dmode));
	ret->nlink = 1;
	ret->flags = f->flags;
	ret->size = 0;
	if (f->flags & TF_SIZED) {
		f->size(b, n->id, &ret->size);
	} else if (f->read && !(f->flags & (TF_STREAM | TF_HANDLE))) {
		struct sbuf s;
		sbuf_init(&s);
		if (tree_read(b, n, &s) == 0)
			ret->size = s.len;
		sbuf_free(&s);
	}
	return 0;
}

/* Without allow_other in the config only the daemon's user and root reach
 * the tree (the mount may carry allow_other because /etc/fuse.conf lets
 * bangerd-root add it: docs/privileges.md). */
static bool gate(struct banger *b, const struct tree_caller *who)
{
	return b->cfg.allow_other || who->uid == b->owner_uid || who->uid == 0;
}

bool tree_shared(struct banger *b)
{
	return b->cfg.allow_other;
}

int tree_access(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		int want)
{
	struct tree_attr a;
	if (!gate(b, who))
		return -EACCES;
	if (who->uid == 0)
		return 0;
	int r = tree_attr(b, n, &a);
	if (r < 0)
		return r;
	mode_t bits;
	if (who->uid == a.uid)
		bits = (a.mode >> 6) & 7;
	else if (in_group(who, a.gid))
		bits = (a.mode >> 3) & 7;
	else
		bits = a.mode & 7;
	return ((bits & (mode_t)want) == (mode_t)want) ? 0 : -EACCES;
}

int tree_may_create(struct banger *b, const struct tree_caller *who, struct berr *err)
{
	struct tree_node vms = { NK_VMS, 0, -1 };
	if (tree_access(b, &vms, who, TREE_W | TREE_X) == 0)
		return 0;
	return berr_set(err, EACCES, "uid %u may not make VMs: only the daemon's user%s may",
			(unsigned)who->uid, b->vm_group >= 0 ? " and the members of vm_group" : "");
}

int tree_setattr(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		 int64_t uid, int64_t gid, int64_t mode)
{
	struct tree_attr a;
	struct berr err = { 0 };
	int r;

	if (!gate(b, who))
		return -EACCES;
	if ((r = tree_attr(b, n, &a)) < 0)
		return r;
	if (n->kind != NK_VM || !tree_isdir(n))
		r = berr_set(&err, EPERM, "only a VM's directory changes owner or mode");
	else if (uid >= 0 && (uid_t)uid != a.uid && who->uid != 0)
		r = berr_set(&err, EPERM, "only root gives a VM to another user");
	else if (gid >= 0 && (gid_t)gid != a.gid && who->uid != 0 &&
		 (who->uid != a.uid || !in_group(who, (gid_t)gid)))
		r = berr_set(&err, EPERM, "a VM's group is changed by its owner, to a group of "
			     "theirs (or by root)");
	else if (mode >= 0 && who->uid != 0 && who->uid != a.uid)
		r = berr_set(&err, EPERM, "a VM's mode is changed by its owner (or by root)");
	if (r == 0 && (uid >= 0 || gid >= 0 || mode >= 0))
		r = vm_chown(b, n->id, uid, gid, mode >= 0 ? (mode & 0777) : -1, &err);
	if (r < 0)
		tree_fail(b, n->kind, n->kind == NK_VM ? n->id : 0, &err, "chown/chmod");
	return r;
}
