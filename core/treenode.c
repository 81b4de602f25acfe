/* core/treenode.c: the tree as nodes for the adapters (fs/, p9/): walking,
 * listing, existence, mkdir and rmdir, open files (the top of the tree's
 * files: core/treeint.h).
 *
 * A node is a directory (its kind and object id) or a file of one (plus
 * its index in the kind's table), computed, never stored, so both adapters
 * name nodes the same way (FUSE inode numbers, 9P qids) without a table.
 * What an object is (exists, owner, group, mode, parent) is read from the
 * store once per generation (core/treecache.h), so a walk or a permission
 * check costs a hash lookup while nothing changes. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "catview.h"
#include "tree_int.h"
#include "treeint.h"
#include "vmexec.h"

static bool is_coll(enum node_kind k)
{
	return k == NK_VMS || k == NK_IMAGES || k == NK_KERNELS || k == NK_PORTS || k == NK_EXECS ||
	       k == NK_SNAPSHOTS;
}

static const char *image_kind(enum node_kind k)
{
	return k == NK_KERNELS || k == NK_KERNEL ? "kernel" : "image";
}

int tree_exists(struct banger *b, const struct tree_node *n)
{
	struct objmeta m;
	if (n->file >= 0 && !tree_node_file(n))
		return -ENOENT;
	switch (n->kind) {
	case NK_ROOT:
	case NK_VMS:
	case NK_IMAGES:
	case NK_KERNELS:
	case NK_EXECS:
	case NK_SNAPSHOTS:
		return n->id == 0 ? 0 : -ENOENT;
	case NK_PORTS:
		return tree_meta(b, NK_VM, n->id, &m);
	case NK_EXEC:
		return vmexec_exists(b->vmexec, n->id) ? 0 : -ENOENT;
	case NK_SNAPSHOT: {
		struct snap_info si;
		if (tree_snap_by_id(b, n->id, &si) < 0)
			return -ENOENT;
		snap_meta_clear(&si.meta);
		return 0;
	}
	case NK_VM:
	case NK_IMAGE:
	case NK_KERNEL:
	case NK_PORT:
		return tree_meta(b, n->kind, n->id, &m);
	case NK_COUNT:
		break;
	}
	return -ENOENT;
}

/* ---- collections --------------------------------------------------------------- */

int tree_lookup(struct banger *b, enum node_kind coll, int64_t parent, const char *name,
		int64_t *ret_id)
{
	if (strlen(name) >= STORE_NAME_MAX)
		return -ENOENT;
	if (coll == NK_VMS) {
		struct vm_rec r = { 0 };
		int ret = store_vm_get_by_name(b->store, name, &r, NULL);
		if (ret == 0)
			*ret_id = r.id;
		vm_rec_clear(&r);
		return ret < 0 ? -ENOENT : 0;
	}
	if (coll == NK_PORTS) {
		struct port_rec *all = NULL;
		size_t n = 0;
		int ret = -ENOENT;
		if (store_port_list(b->store, parent, &all, &n, NULL) < 0)
			return -ENOENT;
		for (size_t i = 0; i < n; i++)
			if (strcmp(all[i].name, name) == 0) {
				*ret_id = all[i].id;
				ret = 0;
			}
		free(all);
		return ret;
	}
	if (coll == NK_IMAGES || coll == NK_KERNELS)
		return catview_lookup(&b->cat, image_kind(coll), name, ret_id) < 0 ? -ENOENT : 0;
	if (coll == NK_EXECS)
		return vmexec_lookup(b->vmexec, name, ret_id) < 0 ? -ENOENT : 0;
	if (coll == NK_SNAPSHOTS) {
		struct snap_info si;
		if (snapstore_get(b->snaps, name, &si, NULL) < 0)
			return -ENOENT;
		*ret_id = tree_snap_id(si.meta.key);
		snap_meta_clear(&si.meta);
		return 0;
	}
	return -ENOENT;
}

static void add(struct tree_entry **v, size_t *n, size_t *cap, enum node_kind k, int64_t id,
		int file, const char *name)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[*n].node = (struct tree_node){ k, id, file };
	snprintf((*v)[*n].name, sizeof((*v)[*n].name), "%s", name);
	(*n)++;
}

static int list_objects(struct banger *b, const struct tree_node *dir, struct tree_entry **v,
			size_t *n, size_t *cap)
{
	if (dir->kind == NK_VMS) {
		struct vm_rec *all;
		size_t cnt;
		int r = store_vm_list(b->store, &all, &cnt, NULL);
		if (r < 0)
			return r;
		for (size_t i = 0; i < cnt; i++)
			add(v, n, cap, NK_VM, all[i].id, -1, all[i].name);
		vm_rec_array_free(all, cnt);
		return 0;
	}
	if (dir->kind == NK_PORTS) {
		struct port_rec *all;
		size_t cnt;
		int r = store_port_list(b->store, dir->id, &all, &cnt, NULL);
		if (r < 0)
			return r;
		for (size_t i = 0; i < cnt; i++)
			add(v, n, cap, NK_PORT, all[i].id, -1, all[i].name);
		free(all);
		return 0;
	}
	if (dir->kind == NK_EXECS) {
		struct vmexec_ent *all;
		size_t cnt;
		vmexec_list(b->vmexec, &all, &cnt);
		for (size_t i = 0; i < cnt; i++)
			add(v, n, cap, NK_EXEC, all[i].id, -1, all[i].name);
		free(all);
		return 0;
	}
	if (dir->kind == NK_SNAPSHOTS) {
		struct snap_info *all;
		size_t cnt;
		int r = snapstore_list(b->snaps, &all, &cnt, NULL);
		if (r < 0)
			return r;
		for (size_t i = 0; i < cnt; i++)
			add(v, n, cap, NK_SNAPSHOT, tree_snap_id(all[i].meta.key), -1,
			    all[i].meta.name);
		snap_info_array_free(all, cnt);
		return 0;
	}
	enum node_kind child = dir->kind == NK_KERNELS ? NK_KERNEL : NK_IMAGE;
	struct cv_entry *all;
	size_t cnt;
	int r = catview_list(&b->cat, image_kind(dir->kind), &all, &cnt);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cnt; i++)
		add(v, n, cap, child, all[i].id, -1, all[i].name);
	free(all);
	return 0;
}

int tree_list(struct banger *b, const struct tree_node *dir, struct tree_entry **ret,
	      size_t *ret_n)
{
	struct tree_entry *v = NULL;
	size_t n = 0, cap = 0, cnt;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!tree_isdir(dir))
		return -ENOTDIR;
	if ((r = tree_exists(b, dir)) < 0)
		return r;
	const struct tree_file *f = tree_files(dir->kind, &cnt);
	for (size_t i = 0; i < cnt; i++)
		add(&v, &n, &cap, dir->kind, dir->id, (int)i, f[i].name);
	if (dir->kind == NK_ROOT) {
		const struct tree_subdir *s = tree_subdirs(&cnt);
		for (size_t i = 0; i < cnt; i++)
			add(&v, &n, &cap, s[i].kind, 0, -1, s[i].name);
	} else if (is_coll(dir->kind)) {
		if ((r = list_objects(b, dir, &v, &n, &cap)) < 0) {
			free(v);
			return r;
		}
	} else {
		const struct tree_subdir *s = tree_obj_subdirs(dir->kind, &cnt);
		for (size_t i = 0; i < cnt; i++)
			add(&v, &n, &cap, s[i].kind, dir->id, -1, s[i].name);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* The directory holding n (a directory). */
static int parent_of(struct banger *b, const struct tree_node *n, struct tree_node *ret)
{
	struct objmeta m;
	switch (n->kind) {
	case NK_ROOT:
	case NK_VMS:
	case NK_IMAGES:
	case NK_KERNELS:
	case NK_EXECS:
	case NK_SNAPSHOTS:
		tree_root(ret);
		return 0;
	case NK_EXEC:
		*ret = (struct tree_node){ NK_EXECS, 0, -1 };
		return 0;
	case NK_SNAPSHOT:
		*ret = (struct tree_node){ NK_SNAPSHOTS, 0, -1 };
		return 0;
	case NK_VM:
		*ret = (struct tree_node){ NK_VMS, 0, -1 };
		return 0;
	case NK_IMAGE:
		*ret = (struct tree_node){ NK_IMAGES, 0, -1 };
		return 0;
	case NK_KERNEL:
		*ret = (struct tree_node){ NK_KERNELS, 0, -1 };
		return 0;
	case NK_PORTS:
		*ret = (struct tree_node){ NK_VM, n->id, -1 };
		return 0;
	case NK_PORT:
		if (tree_meta(b, NK_PORT, n->id, &m) < 0)
			return -ENOENT;
		*ret = (struct tree_node){ NK_PORTS, m.parent, -1 };
		return 0;
	case NK_COUNT:
		break;
	}
	return -ENOENT;
}

int tree_walk(struct banger *b, const struct tree_node *dir, const char *name,
	      struct tree_node *ret)
{
	size_t cnt;
	int r;

	if (!tree_isdir(dir))
		return -ENOTDIR;
	if (strcmp(name, ".") == 0) {
		*ret = *dir;
		return 0;
	}
	if (strcmp(name, "..") == 0)
		return parent_of(b, dir, ret);
	if ((r = tree_exists(b, dir)) < 0)
		return r;
	const struct tree_file *f = tree_files(dir->kind, &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (strcmp(f[i].name, name) == 0) {
			*ret = (struct tree_node){ dir->kind, dir->id, (int)i };
			return 0;
		}
	if (dir->kind == NK_ROOT) {
		const struct tree_subdir *s = tree_subdirs(&cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(s[i].name, name) == 0) {
				*ret = (struct tree_node){ s[i].kind, 0, -1 };
				return 0;
			}
		return -ENOENT;
	}
	if (is_coll(dir->kind)) {
		int64_t id;
		enum node_kind child = dir->kind == NK_VMS ? NK_VM : dir->kind == NK_PORTS ? NK_PORT
				     : dir->kind == NK_KERNELS ? NK_KERNEL
				     : dir->kind == NK_EXECS ? NK_EXEC
				     : dir->kind == NK_SNAPSHOTS ? NK_SNAPSHOT : NK_IMAGE;
		if (tree_lookup(b, dir->kind, dir->id, name, &id) < 0)
			return -ENOENT;
		*ret = (struct tree_node){ child, id, -1 };
		return 0;
	}
	const struct tree_subdir *s = tree_obj_subdirs(dir->kind, &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (strcmp(s[i].name, name) == 0) {
			*ret = (struct tree_node){ s[i].kind, dir->id, -1 };
			return 0;
		}
	return -ENOENT;
}

/* ---- mkdir, rmdir --------------------------------------------------------------- */

int tree_mkdir(struct banger *b, const struct tree_node *dir, const char *name,
	       const struct tree_caller *who, struct tree_node *ret)
{
	struct berr err = { 0 };
	int64_t id = 0;
	int r;

	if (!tree_isdir(dir))
		return -ENOTDIR;
	if (dir->kind == NK_VMS) {
		struct vm_owner own;
		tree_owner_of(who, &own);
		r = tree_may_create(b, who, &err);
		if (r == 0)
			r = vm_create(b, name, &own, &id, &err);
		if (r == 0)
			*ret = (struct tree_node){ NK_VM, id, -1 };
	} else if (dir->kind == NK_PORTS) {
		r = tree_exists(b, dir);
		if (r == 0)
			r = tree_access(b, dir, who, TREE_W | TREE_X);
		if (r < 0) {
			berr_set(&err, -r, "%s", r == -ENOENT ? "no such vm" : "ports/ is not yours "
				 "to change");
		} else {
			r = vmports_add(b->ports, dir->id, name, &id, &err);
			if (r == 0) {
				events_touch(b->events, dir->id);
				*ret = (struct tree_node){ NK_PORT, id, -1 };
			}
		}
	} else if (dir->kind == NK_EXECS) {
		r = tree_access(b, dir, who, TREE_W | TREE_X);
		if (r < 0)
			berr_set(&err, -r, "execs/ is the daemon's user's");
		else
			r = vmexec_create(b->vmexec, name, &id, &err);
		if (r == 0) {
			events_touch(b->events, 0);
			*ret = (struct tree_node){ NK_EXEC, id, -1 };
		}
	} else {
		r = berr_set(&err, EPERM, "mkdir is only for vms/, a VM's ports/ and execs/ (images "
			     "and kernels are imported, snapshots made with 'echo snapshot > "
			     "vms/NAME/ctl')");
	}
	if (r < 0) {
		char what[96];
		snprintf(what, sizeof(what), "mkdir %.64s", name);
		tree_fail(b, dir->kind, dir->kind == NK_PORTS ? dir->id : 0, &err, what);
	}
	banger_changed(b);
	return r;
}

int tree_rmdir(struct banger *b, const struct tree_node *dir, const char *name,
	       const struct tree_caller *who)
{
	struct berr err = { 0 };
	struct tree_node n;
	int r;

	if (!tree_isdir(dir))
		return -ENOTDIR;
	if (dir->kind == NK_ROOT)
		return -EBUSY;
	if (!is_coll(dir->kind))
		return -EPERM;
	if ((r = tree_walk(b, dir, name, &n)) < 0)
		return r;
	if (!tree_isdir(&n))
		return -ENOTDIR;
	/* The sticky rule of vms/ (docs/tree.md): a VM's owner, vms/'s, root;
	 * elsewhere write access to the collection. */
	r = tree_access(b, dir, who, TREE_W | TREE_X);
	if (r == 0 && dir->kind == NK_VMS) {
		struct tree_attr da, va;
		if (tree_attr(b, dir, &da) == 0 && (da.mode & S_ISVTX) && who->uid != 0 &&
		    tree_attr(b, &n, &va) == 0 && who->uid != va.uid && who->uid != da.uid)
			r = -EPERM; /* the kernel's answer for the sticky rule */
	}
	if (r < 0) {
		berr_set(&err, -r, "%s is not yours to delete", name);
	} else if (dir->kind == NK_VMS) {
		r = vm_delete(b, n.id, &err);
	} else if (dir->kind == NK_EXECS || dir->kind == NK_SNAPSHOTS) {
		r = dir->kind == NK_EXECS ? vmexec_remove(b->vmexec, name, &err)
					  : snapstore_remove(b->snaps, name, &err);
		if (r == 0)
			events_unlink(b->events, dir->kind, 0, name);
		events_touch(b->events, 0);
	} else if (dir->kind == NK_PORTS) {
		r = vmports_remove(b->ports, n.id, &err);
		if (r == 0)
			events_unlink(b->events, NK_PORTS, dir->id, name);
		events_touch(b->events, dir->id);
	} else {
		int64_t still;
		r = catview_remove(&b->cat, image_kind(dir->kind), name, &err);
		/* A catalog may still offer it (available): then the name stays. */
		if (r == 0 && catview_lookup(&b->cat, image_kind(dir->kind), name, &still) < 0)
			events_unlink(b->events, dir->kind, 0, name);
		events_touch(b->events, 0);
	}
	if (r < 0) {
		char what[96];
		snprintf(what, sizeof(what), "rmdir %.64s", name);
		if (dir->kind == NK_VMS)
			vm_record_error(b, n.id, &err);
		else if (dir->kind == NK_IMAGES || dir->kind == NK_KERNELS)
			catview_set_err(&b->cat, image_kind(dir->kind), n.id, err.msg);
		tree_fail(b, dir->kind, dir->kind == NK_PORTS ? dir->id : 0, &err, what);
	}
	banger_changed(b);
	return r;
}

/* ---- open files -------------------------------------------------------------- */

int tree_open(struct banger *b, const struct tree_node *n, int acc, const struct tree_caller *who,
	      struct tree_handle **ret)
{
	const struct tree_file *f = tree_node_file(n);
	struct berr err = { 0 };
	int r;

	if (!f)
		return tree_isdir(n) ? -EISDIR : -ENOENT;
	if ((r = tree_exists(b, n)) < 0)
		return r;
	if ((acc != O_RDONLY && !f->write && !f->hwrite) ||
	    (acc != O_WRONLY && !f->read && !f->stream && !f->hread))
		return -EACCES;
	if ((f->flags & TF_RDWR) && acc != O_RDWR) {
		berr_set(&err, EINVAL, "%s is opened read-write (exec 3<>%s); any other open makes "
			 "nothing", f->name, f->name);
		tree_fail(b, NK_ROOT, 0, &err, "open");
		banger_changed(b);
		return -EINVAL;
	}
	int want = (acc != O_WRONLY ? TREE_R : 0) | (acc != O_RDONLY ? TREE_W : 0);
	if ((r = tree_access(b, n, who, want)) < 0)
		return r;
	struct tree_handle *h = xcalloc(1, sizeof(*h));
	h->node = *n;
	h->f = f;
	h->acc = acc;
	if (f->open && (r = f->open(b, n->id, who, &h->st, &err)) < 0) {
		if (!err.msg[0])
			berr_set(&err, -r, "%s: %s", f->name, strerror(-r));
		tree_fail(b, n->kind, n->kind == NK_VM ? n->id : 0, &err, "open");
		banger_changed(b);
		free(h);
		return r;
	}
	*ret = h;
	return 0;
}

ssize_t tree_hread(struct banger *b, struct tree_handle *h, off_t off, char *buf, size_t len,
		   bool *live)
{
	*live = false;
	if (h->f->hread)
		return h->f->hread(b, h->st, off, buf, len, live);
	if (h->f->stream)
		return h->f->stream(b, h->node.id, off, buf, len, live);
	return -EINVAL;
}

bool tree_hready(struct banger *b, struct tree_handle *h, off_t off)
{
	if (h->f->hready)
		return h->f->hready(b, h->st, off);
	if (h->f->stream) {
		char c;
		bool live = false;
		ssize_t n = h->f->stream(b, h->node.id, off, &c, 1, &live);
		return n != 0 || !live;
	}
	return true;
}

int tree_hwrite(struct banger *b, struct tree_handle *h, const char *data, size_t len,
		const struct tree_caller *who)
{
	if (!h->f->hwrite)
		return tree_write(b, &h->node, data, len, who);
	struct berr err = { 0 };
	int r = h->f->hwrite(b, h->st, data, len, who, &err);
	if (r < 0 && err.msg[0])
		blog("write to %s failed: %s", h->f->name, err.msg);
	banger_changed(b);
	return r;
}

void tree_close(struct banger *b, struct tree_handle *h)
{
	if (!h)
		return;
	if (h->f->release)
		h->f->release(b, h->st);
	free(h);
}

uint64_t tree_gen(struct banger *b)
{
	return events_gen(b->events);
}

int tree_touched(struct banger *b, uint64_t *gen, int64_t *ids, size_t cap)
{
	return events_touched(b->events, gen, ids, cap);
}

size_t tree_unlinked(struct banger *b, uint64_t *cursor, struct tree_unlink *out, size_t cap)
{
	struct events_unlink u[32];
	size_t n = events_unlinked(b->events, cursor, u, cap < 32 ? cap : 32);
	for (size_t i = 0; i < n; i++) {
		out[i].dir = (struct tree_node){ (enum node_kind)u[i].dir_kind, u[i].dir_id, -1 };
		snprintf(out[i].name, sizeof(out[i].name), "%s", u[i].name);
	}
	return n;
}
