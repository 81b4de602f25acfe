/* core/treeattr.c: what a stat of a node shows, and the access check that
 * goes with it (docs/tree.md, "Owners and modes"): a directory's owner,
 * group and mode come from treebase.c; a file takes its directory's owner
 * and group and its table mode masked by its directory's (a class that may
 * not read a VM reads none of its files, one that may not write it writes
 * none); its size is its text's (tree.c's cache), its host file's, or 0. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "treeint.h"

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

/* Owner, group and mode of n (no size: an access check needs none). */
static int node_perm(struct banger *b, const struct tree_node *n, struct tree_perm *p,
		     const struct tree_file **ret_f)
{
	struct tree_node dir = { n->kind, n->id, -1 };
	int r = tree_dir_perm(b, &dir, p);
	*ret_f = NULL;
	if (r < 0 || tree_isdir(n))
		return r;
	const struct tree_file *f = tree_node_file(n);
	if (!f)
		return -ENOENT;
	mode_t dmode = p->mode & 0777;
	p->mode = S_IFREG | (n->kind == NK_ROOT || n->kind == NK_IMAGE || n->kind == NK_KERNEL
				     ? f->mode : masked(f->mode, dmode));
	*ret_f = f;
	return 0;
}

int tree_attr(struct banger *b, const struct tree_node *n, struct tree_attr *ret)
{
	const struct tree_file *f;
	struct tree_perm p;
	size_t cnt;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = node_perm(b, n, &p, &f)) < 0)
		return r;
	ret->uid = p.uid;
	ret->gid = p.gid;
	ret->mode = p.mode;
	if (!f) {
		ret->nlink = n->kind == NK_ROOT ? (tree_subdirs(&cnt), 2 + (unsigned)cnt)
			     : n->kind == NK_VM ? 3 : 2;
		return 0;
	}
	ret->nlink = 1;
	ret->flags = f->flags;
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

int tree_access(struct banger *b, const struct tree_node *n, const struct tree_caller *who,
		int want)
{
	const struct tree_file *f;
	struct tree_perm p;
	int r = node_perm(b, n, &p, &f);
	if (r < 0)
		return r;
	return tree_perm_check(b, &p, who, want);
}
