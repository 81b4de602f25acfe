/* p9/node.c: walking, listing and removing for 9P over core's tree nodes
 * (core/tree.h); the same nodes and errnos as fs/fs.c's FUSE mapping. */
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
	tree_root(&ret->t);
	snprintf(ret->name, sizeof(ret->name), "/");
}

bool p9_node_isdir(const struct p9_node *n)
{
	return tree_isdir(&n->t);
}

struct p9_qid p9_node_qid(const struct p9_node *n)
{
	struct p9_qid q = { 0 };
	q.type = p9_node_isdir(n) ? P9_QTDIR : P9_QTFILE;
	if (!(n->t.kind == NK_ROOT && n->t.file < 0))
		q.path = (1ULL << 56) | ((uint64_t)n->t.kind << 48) |
			 (((uint64_t)n->t.id & 0xffffffffffULL) << 8) | (uint64_t)(n->t.file + 1);
	return q;
}

const struct tree_file *p9_node_file(const struct p9_node *n)
{
	return tree_node_file(&n->t);
}

/* The name of directory node t within its parent (for ".."). */
static void name_of(struct banger *b, const struct tree_node *t, char *buf, size_t len)
{
	struct tree_node up;
	struct tree_entry *ents = NULL;
	size_t n = 0;
	snprintf(buf, len, "/");
	if (t->kind == NK_ROOT || tree_walk(b, t, "..", &up) < 0 ||
	    tree_list(b, &up, &ents, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (memcmp(&ents[i].node, t, sizeof(*t)) == 0) {
			snprintf(buf, len, "%s", ents[i].name);
			break;
		}
	free(ents);
}

int p9_node_walk(struct banger *b, const struct p9_node *dir, const char *name,
		 const struct tree_caller *who, struct p9_node *ret)
{
	struct p9_node n;
	if (!p9_node_isdir(dir))
		return -ENOTDIR;
	int r = tree_access(b, &dir->t, who, TREE_X);
	if (r == 0)
		r = tree_walk(b, &dir->t, name, &n.t);
	if (r < 0)
		return r;
	if (strcmp(name, "..") == 0)
		name_of(b, &n.t, n.name, sizeof(n.name));
	else if (strcmp(name, ".") == 0)
		snprintf(n.name, sizeof(n.name), "%s", dir->name);
	else
		snprintf(n.name, sizeof(n.name), "%s", name);
	*ret = n;
	return 0;
}

int p9_node_exists(struct banger *b, const struct p9_node *n)
{
	return tree_exists(b, &n->t) < 0 ? -ENOENT : 0;
}

int p9_node_list(struct banger *b, const struct p9_node *dir, struct p9_node **ret,
		 size_t *ret_n)
{
	struct tree_entry *ents = NULL;
	size_t n = 0;
	*ret = NULL;
	*ret_n = 0;
	int r = tree_list(b, &dir->t, &ents, &n);
	if (r < 0)
		return r;
	struct p9_node *out = xcalloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].t = ents[i].node;
		snprintf(out[i].name, sizeof(out[i].name), "%s", ents[i].name);
	}
	free(ents);
	*ret = out;
	*ret_n = n;
	return 0;
}

int p9_node_mkdir(struct banger *b, const struct p9_node *dir, const char *name,
		  const struct tree_caller *who, struct p9_node *ret)
{
	struct p9_node n;
	int r = tree_mkdir(b, &dir->t, name, who, &n.t);
	if (r < 0)
		return r;
	snprintf(n.name, sizeof(n.name), "%s", name);
	*ret = n;
	return 0;
}

int p9_node_rmdir(struct banger *b, const struct p9_node *dir, const char *name,
		  const struct tree_caller *who)
{
	return tree_rmdir(b, &dir->t, name, who);
}

int p9_node_remove(struct banger *b, const struct p9_node *n, const struct tree_caller *who)
{
	struct tree_node parent;
	if (!p9_node_isdir(n))
		return -EPERM;
	if (n->t.kind == NK_ROOT || n->t.kind == NK_VMS || n->t.kind == NK_IMAGES ||
	    n->t.kind == NK_KERNELS || n->t.kind == NK_PORTS)
		return -EBUSY;
	if (tree_walk(b, &n->t, "..", &parent) < 0)
		return -ENOENT;
	return tree_rmdir(b, &parent, n->name, who);
}

/* The top-level err file, or the VM's own. */
static void read_err_file(struct banger *b, enum node_kind k, int64_t id, struct sbuf *out)
{
	size_t cnt;
	const struct tree_file *f = tree_files(k, &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (strcmp(f[i].name, "err") == 0) {
			struct tree_node t = { k, id, (int)i };
			tree_read(b, &t, out);
			return;
		}
}

void p9_node_errmsg(struct banger *b, const struct p9_node *n, bool vm_scope, int code,
		    char *buf, size_t len)
{
	struct sbuf s;
	sbuf_init(&s);
	if (vm_scope && (n->t.kind == NK_VM || n->t.kind == NK_PORTS))
		read_err_file(b, NK_VM, n->t.id, &s);
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
