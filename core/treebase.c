/* core/treebase.c: the base of the control tree (core/treebase.h): nodes'
 * owners, groups and modes, the objects they name (cached per generation
 * of core/events.h), who may make VMs, chown and chmod, the recording of
 * failures and the VM verbs that ctl and clone files share.
 *
 * What a stat shows is what is enforced: the FUSE mount has the kernel
 * check the attributes (default_permissions) and the daemon checks them
 * again for every operation with the request's uid; the 9P export checks
 * them with the attach's uid.  A VM carries an owner, a group and a mode;
 * its files take the VM's owner and group, and their table modes masked by
 * the VM's (treeattr.c).  vms/ is the daemon user's, group vm_group and
 * sticky when one is configured (its members make VMs; each deletes only
 * their own), else 0755. */
#define _GNU_SOURCE
#include "treebase.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "catview.h"
#include "ctl.h"
#include "treeint.h"
#include "workspace.h"

void tree_root(struct tree_node *ret)
{
	*ret = (struct tree_node){ NK_ROOT, 0, -1 };
}

bool tree_isdir(const struct tree_node *n)
{
	return n->file < 0;
}

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

static const char *image_kind(enum node_kind k)
{
	return k == NK_KERNELS || k == NK_KERNEL ? "kernel" : "image";
}

#define META_FILE 0xfffe

static void meta_load(struct banger *b, enum node_kind k, int64_t id, struct objmeta *m)
{
	memset(m, 0, sizeof(*m));
	m->uid = b->owner_uid;
	m->gid = b->owner_gid;
	m->mode = 0555;
	if (k == NK_VM || k == NK_PORT) {
		struct vm_rec r = { 0 };
		int64_t vm = id;
		if (k == NK_PORT) {
			struct port_rec p;
			if (store_port_get(b->store, id, &p, NULL) < 0)
				return;
			vm = p.vm_id;
			m->parent = vm;
			snprintf(m->name, sizeof(m->name), "%s", p.name);
		}
		if (store_vm_get(b->store, vm, &r, NULL) < 0)
			return;
		tree_vm_owner(b, &r, &m->uid, &m->gid, &m->mode);
		if (k == NK_VM)
			snprintf(m->name, sizeof(m->name), "%s", r.name);
		vm_rec_clear(&r);
		m->exists = true;
		return;
	}
	if (k == NK_IMAGE || k == NK_KERNEL)
		m->exists = catview_exists(&b->cat, image_kind(k), id) == 0;
}

int tree_meta(struct banger *b, enum node_kind k, int64_t id, struct objmeta *ret)
{
	struct tcache_key key = { (unsigned)k, id, META_FILE };
	struct sbuf s;
	sbuf_init(&s);
	uint64_t gen = events_gen(b->events);
	if (tcache_get(b->tcache, &key, gen, -1, &s) && s.len == sizeof(*ret)) {
		memcpy(ret, s.buf, sizeof(*ret));
	} else {
		meta_load(b, k, id, ret);
		tcache_put(b->tcache, &key, gen, -1, (const char *)ret, sizeof(*ret));
	}
	sbuf_free(&s);
	return ret->exists ? 0 : -ENOENT;
}

int tree_dir_perm(struct banger *b, const struct tree_node *dir, struct tree_perm *a)
{
	struct objmeta m;
	a->uid = b->owner_uid;
	a->gid = b->owner_gid;
	switch (dir->kind) {
	case NK_ROOT:
	case NK_IMAGES:
	case NK_KERNELS:
		a->mode = S_IFDIR | 0755;
		return 0;
	case NK_VMS:
		if (b->vm_group >= 0) {
			a->gid = (gid_t)b->vm_group;
			a->mode = S_IFDIR | S_ISVTX | 0775;
		} else {
			a->mode = S_IFDIR | 0755;
		}
		return 0;
	case NK_IMAGE:
	case NK_KERNEL:
		if (tree_meta(b, dir->kind, dir->id, &m) < 0)
			return -ENOENT;
		a->mode = S_IFDIR | 0555;
		return 0;
	/* Commands run in the daemon's VMs and what they print: its user's
	 * only, whatever allow_other lets others see (docs/tree.md). */
	case NK_EXECS:
	case NK_EXEC:
		a->mode = S_IFDIR | 0700;
		return 0;
	case NK_SNAPSHOTS:
		a->mode = S_IFDIR | 0755;
		return 0;
	case NK_SNAPSHOT:
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
		return 0;
	case NK_COUNT:
		break;
	}
	return -ENOENT;
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

int tree_perm_check(struct banger *b, const struct tree_perm *p, const struct tree_caller *who,
		    int want)
{
	if (!gate(b, who))
		return -EACCES;
	if (who->uid == 0)
		return 0;
	mode_t bits;
	if (who->uid == p->uid)
		bits = (p->mode >> 6) & 7;
	else if (in_group(who, p->gid))
		bits = (p->mode >> 3) & 7;
	else
		bits = p->mode & 7;
	return ((bits & (mode_t)want) == (mode_t)want) ? 0 : -EACCES;
}

int tree_may_create(struct banger *b, const struct tree_caller *who, struct berr *err)
{
	struct tree_node vms = { NK_VMS, 0, -1 };
	struct tree_perm p;
	if (tree_dir_perm(b, &vms, &p) == 0 && tree_perm_check(b, &p, who, TREE_W | TREE_X) == 0)
		return 0;
	return berr_set(err, EACCES, "uid %u may not make VMs: only the daemon's user%s may",
			(unsigned)who->uid, b->vm_group >= 0 ? " and the members of vm_group" : "");
}

int tree_setattr(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		 int64_t uid, int64_t gid, int64_t mode)
{
	struct tree_perm a;
	struct tree_node dir = { n->kind, n->id, -1 };
	struct berr err = { 0 };
	int r;

	if (!gate(b, who))
		return -EACCES;
	if ((r = tree_dir_perm(b, &dir, &a)) < 0)
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

/* ---- failures and verbs ----------------------------------------------------- */

static void set_global_err(struct banger *b, const struct berr *err)
{
	pthread_mutex_lock(&b->lock);
	snprintf(b->global_err, sizeof(b->global_err), "%s", err->msg);
	pthread_mutex_unlock(&b->lock);
	events_touch(b->events, 0);
}

void tree_fail(struct banger *b, enum node_kind k, int64_t vm_id, const struct berr *err,
	       const char *what)
{
	if ((k == NK_VM || k == NK_PORTS || k == NK_PORT) && vm_id > 0)
		vm_record_error(b, vm_id, err);
	else
		set_global_err(b, err);
	blog("%s: %s", what, err->msg);
}

int tree_vm_ctl(struct banger *b, int64_t id, const char *data, size_t len,
		const struct tree_caller *who, struct berr *err)
{
	struct ctl_req *req = xmalloc(sizeof(*req));
	int r = ctl_parse(data, len, vm_verb_cmds, VERB_COUNT, req, err);
	if (r == 0 && req->cmd->id == VERB_WORKSPACE) {
		gid_t groups[64];
		int ng = tree_caller_groups(who, groups, ARRAY_SIZE(groups));
		struct ws_ident ident = { .uid = who->uid, .gid = who->gid,
					  .groups = ng > 0 ? groups : NULL,
					  .ngroups = ng > 0 ? (size_t)ng : 0 };
		r = vm_workspace(b, id, req->argv[0], &ident, err);
	} else if (r == 0) {
		r = vm_verb(b, id, (enum vm_verb)req->cmd->id, err);
	}
	free(req);
	return r;
}

