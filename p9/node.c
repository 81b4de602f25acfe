/* p9/node.c: walking, listing and describing the control tree for 9P.
 *
 * The same nodes and errnos as fs/fs.c's FUSE mapping: root files and
 * collections at the top, one directory per object, the object kind's
 * file table inside it. */
#define _GNU_SOURCE
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

void p9_node_root(struct p9_node *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->tag = PN_ROOT;
	ret->kind = NK_ROOT;
	snprintf(ret->name, sizeof(ret->name), "/");
}

bool p9_node_isdir(const struct p9_node *n)
{
	return n->tag == PN_ROOT || n->tag == PN_SUBDIR || n->tag == PN_OBJDIR;
}

struct p9_qid p9_node_qid(const struct p9_node *n)
{
	struct p9_qid q = { 0 };
	q.type = p9_node_isdir(n) ? P9_QTDIR : P9_QTFILE;
	if (n->tag != PN_ROOT)
		q.path = ((uint64_t)n->tag << 56) | ((uint64_t)n->kind << 48) |
			 (((uint64_t)n->id & 0xffffffffffULL) << 8) | (n->file & 0xff);
	return q;
}

static const struct tree_subdir *subdir_at(int64_t idx)
{
	size_t n;
	const struct tree_subdir *s = tree_subdirs(&n);
	return idx >= 0 && (size_t)idx < n ? &s[idx] : NULL;
}

/* The collection holding objects of kind k. */
static int64_t subdir_of_child(enum node_kind k)
{
	size_t n;
	const struct tree_subdir *s = tree_subdirs(&n);
	for (size_t i = 0; i < n; i++)
		if (s[i].child == k)
			return (int64_t)i;
	return -1;
}

const struct tree_file *p9_node_file(const struct p9_node *n)
{
	size_t cnt;
	const struct tree_file *f;
	if (n->tag == PN_ROOTFILE)
		f = tree_files(NK_ROOT, &cnt);
	else if (n->tag == PN_OBJFILE)
		f = tree_files(n->kind, &cnt);
	else
		return NULL;
	return n->file < cnt ? &f[n->file] : NULL;
}

enum node_kind p9_node_file_kind(const struct p9_node *n)
{
	return n->tag == PN_ROOTFILE ? NK_ROOT : n->kind;
}

static void set(struct p9_node *ret, enum p9_tag tag, enum node_kind kind, int64_t id,
		unsigned file, const char *name)
{
	memset(ret, 0, sizeof(*ret));
	ret->tag = tag;
	ret->kind = kind;
	ret->id = id;
	ret->file = file;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
}

/* The name of object id in collection dir (for "..": a node keeps only
 * its own name). */
static int object_name(struct banger *b, enum node_kind coll, int64_t id, char *buf,
		       size_t len)
{
	struct tree_entry *ents = NULL;
	size_t n = 0;
	int r = tree_list(b, coll, &ents, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (ents[i].id == id) {
			snprintf(buf, len, "%s", ents[i].name);
			r = 0;
			break;
		}
	free(ents);
	return r;
}

static int walk_up(struct banger *b, const struct p9_node *n, struct p9_node *ret)
{
	switch (n->tag) {
	case PN_ROOT:
	case PN_SUBDIR:
	case PN_ROOTFILE:
		p9_node_root(ret);
		return 0;
	case PN_OBJDIR: {
		int64_t idx = subdir_of_child(n->kind);
		const struct tree_subdir *s = subdir_at(idx);
		if (!s)
			return -ENOENT;
		set(ret, PN_SUBDIR, s->kind, idx, 0, s->name);
		return 0;
	}
	case PN_OBJFILE: {
		int64_t idx = subdir_of_child(n->kind);
		size_t nd;
		const struct tree_subdir *all = tree_subdirs(&nd);
		for (size_t i = 0; i < nd; i++)
			if (all[i].kind == n->kind) { /* a collection's own file (images/ctl) */
				set(ret, PN_SUBDIR, all[i].kind, (int64_t)i, 0, all[i].name);
				return 0;
			}
		const struct tree_subdir *s = subdir_at(idx);
		char name[64];
		if (!s || object_name(b, s->kind, n->id, name, sizeof(name)) < 0)
			return -ENOENT;
		set(ret, PN_OBJDIR, n->kind, n->id, 0, name);
		return 0;
	}
	}
	return -ENOENT;
}

int p9_node_walk(struct banger *b, const struct p9_node *dir, const char *name,
		 struct p9_node *ret)
{
	size_t cnt;

	if (!p9_node_isdir(dir))
		return -ENOTDIR;
	if (strcmp(name, "..") == 0)
		return walk_up(b, dir, ret);
	if (strcmp(name, ".") == 0) {
		*ret = *dir;
		return 0;
	}
	if (dir->tag == PN_ROOT) {
		const struct tree_file *f = tree_files(NK_ROOT, &cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(f[i].name, name) == 0) {
				set(ret, PN_ROOTFILE, NK_ROOT, 0, (unsigned)i, name);
				return 0;
			}
		const struct tree_subdir *s = tree_subdirs(&cnt);
		for (size_t i = 0; i < cnt; i++)
			if (strcmp(s[i].name, name) == 0) {
				set(ret, PN_SUBDIR, s[i].kind, (int64_t)i, 0, name);
				return 0;
			}
		return -ENOENT;
	}
	if (dir->tag == PN_SUBDIR) {
		const struct tree_subdir *s = subdir_at(dir->id);
		int64_t id;
		/* A collection's own files (images/ctl) come before its objects. */
		const struct tree_file *f = s ? tree_files(s->kind, &cnt) : NULL;
		for (size_t i = 0; f && i < cnt; i++)
			if (strcmp(f[i].name, name) == 0) {
				set(ret, PN_OBJFILE, s->kind, 0, (unsigned)i, name);
				return 0;
			}
		if (!s || strlen(name) >= sizeof(ret->name) || tree_lookup(b, s->kind, name, &id) < 0)
			return -ENOENT;
		set(ret, PN_OBJDIR, s->child, id, 0, name);
		return 0;
	}
	if (tree_exists(b, dir->kind, dir->id) < 0)
		return -ENOENT;
	const struct tree_file *f = tree_files(dir->kind, &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (strcmp(f[i].name, name) == 0) {
			set(ret, PN_OBJFILE, dir->kind, dir->id, (unsigned)i, name);
			return 0;
		}
	return -ENOENT;
}

int p9_node_exists(struct banger *b, const struct p9_node *n)
{
	switch (n->tag) {
	case PN_ROOT:
		return 0;
	case PN_SUBDIR:
		return subdir_at(n->id) ? 0 : -ENOENT;
	case PN_ROOTFILE:
		return p9_node_file(n) ? 0 : -ENOENT;
	case PN_OBJDIR:
	case PN_OBJFILE:
		if (n->tag == PN_OBJFILE && !p9_node_file(n))
			return -ENOENT;
		return tree_exists(b, n->kind, n->id) < 0 ? -ENOENT : 0;
	}
	return -ENOENT;
}

int p9_node_info(struct banger *b, const struct p9_node *n, struct p9_info *ret)
{
	int r = p9_node_exists(b, n);
	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	switch (n->tag) {
	case PN_ROOT:
		ret->mode = S_IFDIR | 0755;
		ret->nlink = 5;
		return 0;
	case PN_SUBDIR:
		ret->mode = S_IFDIR | 0755;
		ret->nlink = 2;
		return 0;
	case PN_OBJDIR:
		ret->mode = S_IFDIR | (n->kind == NK_VM ? 0755 : 0555);
		ret->nlink = 2;
		return 0;
	case PN_OBJFILE:
	case PN_ROOTFILE: {
		const struct tree_file *f = p9_node_file(n);
		ret->mode = S_IFREG | f->mode;
		ret->nlink = 1;
		if (f->read) {
			struct sbuf s;
			sbuf_init(&s);
			if (tree_read(b, p9_node_file_kind(n), n->id, f, &s) == 0)
				ret->size = s.len;
			sbuf_free(&s);
		}
		return 0;
	}
	}
	return -ENOENT;
}

int p9_node_list(struct banger *b, const struct p9_node *dir, struct p9_node **ret,
		 size_t *ret_n)
{
	size_t cnt, n = 0;
	struct p9_node *out = NULL;

	*ret = NULL;
	*ret_n = 0;
	if (!p9_node_isdir(dir))
		return -ENOTDIR;
	if (dir->tag == PN_ROOT) {
		size_t nd;
		const struct tree_file *f = tree_files(NK_ROOT, &cnt);
		const struct tree_subdir *s = tree_subdirs(&nd);
		out = xcalloc(cnt + nd, sizeof(*out));
		for (size_t i = 0; i < cnt; i++)
			set(&out[n++], PN_ROOTFILE, NK_ROOT, 0, (unsigned)i, f[i].name);
		for (size_t i = 0; i < nd; i++)
			set(&out[n++], PN_SUBDIR, s[i].kind, (int64_t)i, 0, s[i].name);
	} else if (dir->tag == PN_SUBDIR) {
		const struct tree_subdir *s = subdir_at(dir->id);
		struct tree_entry *ents = NULL;
		size_t ne = 0;
		if (!s)
			return -ENOENT;
		int r = tree_list(b, s->kind, &ents, &ne);
		if (r < 0)
			return r;
		const struct tree_file *f = tree_files(s->kind, &cnt);
		out = xcalloc(ne + cnt + 1, sizeof(*out));
		for (size_t i = 0; f && i < cnt; i++)
			set(&out[n++], PN_OBJFILE, s->kind, 0, (unsigned)i, f[i].name);
		for (size_t i = 0; i < ne; i++)
			set(&out[n++], PN_OBJDIR, s->child, ents[i].id, 0, ents[i].name);
		free(ents);
	} else {
		if (tree_exists(b, dir->kind, dir->id) < 0)
			return -ENOENT;
		const struct tree_file *f = tree_files(dir->kind, &cnt);
		out = xcalloc(cnt, sizeof(*out));
		for (size_t i = 0; i < cnt; i++)
			set(&out[n++], PN_OBJFILE, dir->kind, dir->id, (unsigned)i, f[i].name);
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

int p9_node_mkdir(struct banger *b, const struct p9_node *dir, const char *name,
		  struct p9_node *ret)
{
	const struct tree_subdir *s = dir->tag == PN_SUBDIR ? subdir_at(dir->id) : NULL;
	int64_t id;
	if (!s)
		return -EPERM;
	int r = tree_mkdir(b, s->kind, name, &id);
	if (r < 0)
		return r;
	set(ret, PN_OBJDIR, s->child, id, 0, name);
	return 0;
}

int p9_node_rmdir(struct banger *b, const struct p9_node *dir, const char *name)
{
	const struct tree_subdir *s = dir->tag == PN_SUBDIR ? subdir_at(dir->id) : NULL;
	if (!s)
		return dir->tag == PN_ROOT ? -EBUSY : -EPERM;
	return tree_rmdir(b, s->kind, name);
}

int p9_node_remove(struct banger *b, const struct p9_node *n)
{
	struct p9_node parent;
	switch (n->tag) {
	case PN_ROOT:
	case PN_SUBDIR:
		return -EBUSY;
	case PN_OBJDIR:
		if (walk_up(b, n, &parent) < 0)
			return -ENOENT;
		return p9_node_rmdir(b, &parent, n->name);
	default:
		return -EPERM;
	}
}

/* The top-level err file, or the VM's own. */
static void read_err_file(struct banger *b, enum node_kind k, int64_t id, struct sbuf *out)
{
	size_t cnt;
	const struct tree_file *f = tree_files(k, &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (strcmp(f[i].name, "err") == 0) {
			tree_read(b, k, id, &f[i], out);
			return;
		}
}

void p9_node_errmsg(struct banger *b, const struct p9_node *n, bool vm_scope, int code,
		    char *buf, size_t len)
{
	struct sbuf s;
	sbuf_init(&s);
	if (vm_scope && n->kind == NK_VM && (n->tag == PN_OBJFILE || n->tag == PN_OBJDIR))
		read_err_file(b, NK_VM, n->id, &s);
	else
		read_err_file(b, NK_ROOT, 0, &s);
	while (s.len && (s.buf[s.len - 1] == '\n' || s.buf[s.len - 1] == '\r'))
		s.len--;
	if (s.len)
		snprintf(buf, len, "%.*s", (int)s.len, s.buf);
	else
		snprintf(buf, len, "%s", strerror(code));
	sbuf_free(&s);
}
