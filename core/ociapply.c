/* core/ociapply.c: applying one OCI layer to the ext4 tree.
 *
 * Entries are applied in tar order; a later entry for a path replaces an
 * earlier one (a directory entry for an existing directory only updates
 * its metadata and xattrs).  The rules that need the tree:
 *
 * - Nothing is written through a symlink: every parent of an entry must
 *   be a directory (missing ones are made 0755 root); a symlink on the way
 *   refuses the entry, and the layer, with its digest and the entry name.
 *   The same holds for hard link targets, whiteouts and opaque markers, so
 *   a marker under a symlinked directory never touches the target.
 * - A hard link points at what its target path holds now (from this or a
 *   lower layer); a target that does not exist yet, or is a directory,
 *   refuses the layer.  An existing link path is replaced first.
 * - Whiteouts act on lower layers only.  Every name remembers the layer
 *   that wrote it (dent.gen) and whether the layer wrote something below it
 *   (dent.anc_gen); ".wh.NAME" prunes NAME and ".wh..wh..opq" prunes every
 *   child of its directory, where pruning removes what lower layers wrote
 *   and keeps, recursively, what this layer wrote.  So the result does not
 *   depend on where in the tar a whiteout sits. */
#define _GNU_SOURCE
#include <archive_entry.h>
#include <errno.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "ocifs.h"
#include "util.h"

struct apply {
	struct oci_fs *f;
	struct oci_tar *t;
	struct oci_entry *e;
	struct archive_entry *ae;
};

/* The directory holding path's last component, in *ret_dir (0 when a
 * parent is missing and create is false), and the component in leaf. */
static int walk(struct oci_fs *f, const char *path, bool create, bool mark,
		const struct ocifs_meta *pm, ext2_ino_t *ret_dir, char leaf[256], struct berr *err)
{
	ext2_ino_t dir = EXT2_ROOT_INO;
	const char *p = path;

	for (;;) {
		size_t n = strcspn(p, "/");
		memcpy(leaf, p, n);
		leaf[n] = '\0';
		if (!p[n])
			break;
		struct dent *d = ocifs_find(f, dir, leaf);
		if (!d) {
			if (!create) {
				*ret_dir = 0;
				return 0;
			}
			/* A parent the layer does not list: 0755 root. */
			struct ocifs_meta im = { .perm = 0755, .mtime = pm ? pm->mtime : 0 };
			int r = ocifs_mkdir(f, dir, leaf, &im, &d, err);
			if (r < 0)
				return r;
		} else if (d->ftype == EXT2_FT_SYMLINK) {
			return oci_err(err, EPERM, "\"%.*s\" is a symlink, and writing through one is refused",
					(int)(p + n - path), path);
		} else if (d->ftype != EXT2_FT_DIR) {
			return oci_err(err, ENOTDIR, "\"%.*s\" is not a directory", (int)(p + n - path),
					path);
		}
		if (mark)
			d->anc_gen = f->gen;
		dir = d->ino;
		p += n + 1;
	}
	*ret_dir = dir;
	return 0;
}

/* --- whiteouts --- */

static int prune(struct oci_fs *f, struct dent *d, struct berr *err);

static int prune_children(struct oci_fs *f, ext2_ino_t dir, struct berr *err)
{
	char **names;
	size_t n;
	int r = ocifs_list(f, dir, &names, &n, err);

	for (size_t i = 0; i < n && r >= 0; i++) {
		struct dent *c = ocifs_find(f, dir, names[i]);
		if (c)
			r = prune(f, c, err);
	}
	ocifs_list_free(names, n);
	return r;
}

static int prune(struct oci_fs *f, struct dent *d, struct berr *err)
{
	if (d->gen == 0)
		return 0; /* made with the filesystem (lost+found) */
	if (d->ftype == EXT2_FT_DIR && (d->gen == f->gen || d->anc_gen == f->gen))
		return prune_children(f, d->ino, err);
	if (d->gen == f->gen)
		return 0;
	return ocifs_remove(f, d, err);
}

static int do_whiteout(struct apply *a, struct berr *err)
{
	char leaf[256];
	ext2_ino_t dir;
	struct dent *d;
	int r = walk(a->f, a->e->path, false, false, NULL, &dir, leaf, err);

	if (r < 0 || !dir || !(d = ocifs_find(a->f, dir, leaf)))
		return r;
	return prune(a->f, d, err);
}

static int do_opaque(struct apply *a, struct berr *err)
{
	char leaf[256];
	ext2_ino_t dir;
	struct dent *d;
	int r;

	if (!a->e->path[0])
		return prune_children(a->f, EXT2_ROOT_INO, err);
	r = walk(a->f, a->e->path, false, false, NULL, &dir, leaf, err);
	if (r < 0 || !dir || !(d = ocifs_find(a->f, dir, leaf)))
		return r;
	if (d->ftype == EXT2_FT_SYMLINK)
		return oci_err(err, EPERM,
				"\"%s\" is a symlink: an opaque marker under it is refused", a->e->path);
	if (d->ftype != EXT2_FT_DIR)
		return oci_err(err, ENOTDIR, "\"%s\" is not a directory", a->e->path);
	return prune_children(a->f, d->ino, err);
}

/* --- entries that write --- */

static int do_dir(struct apply *a, const struct ocifs_meta *m, struct berr *err)
{
	char leaf[256];
	ext2_ino_t dir;
	struct dent *d;
	int r;

	if (!a->e->path[0]) {
		r = ocifs_set_dir_meta(a->f, EXT2_ROOT_INO, m, err);
		return r < 0 ? r : ocifs_set_xattrs(a->f, EXT2_ROOT_INO, a->ae, true, err);
	}
	r = walk(a->f, a->e->path, true, true, m, &dir, leaf, err);
	if (r < 0)
		return r;
	d = ocifs_find(a->f, dir, leaf);
	if (d && d->ftype == EXT2_FT_DIR) {
		d->gen = a->f->gen;
		r = ocifs_set_dir_meta(a->f, d->ino, m, err);
		return r < 0 ? r : ocifs_set_xattrs(a->f, d->ino, a->ae, true, err);
	}
	if (d && (r = ocifs_remove(a->f, d, err)) < 0)
		return r;
	r = ocifs_mkdir(a->f, dir, leaf, m, &d, err);
	return r < 0 ? r : ocifs_set_xattrs(a->f, d->ino, a->ae, false, err);
}

static int do_leaf(struct apply *a, const struct ocifs_meta *m, struct berr *err)
{
	const struct oci_entry *e = a->e;
	char leaf[256];
	ext2_ino_t dir;
	struct dent *d;
	int r = walk(a->f, e->path, true, true, m, &dir, leaf, err);

	if (r < 0)
		return r;
	d = ocifs_find(a->f, dir, leaf);
	if (d && (r = ocifs_remove(a->f, d, err)) < 0)
		return r;
	switch (e->kind) {
	case OCI_E_REG:
		r = ocifs_create_file(a->f, dir, leaf, m, e->size, a->t, NULL, &d, err);
		break;
	case OCI_E_SYMLINK:
		r = ocifs_symlink(a->f, dir, leaf, m, e->symlink, &d, err);
		break;
	default:
		r = ocifs_mknod(a->f, dir, leaf, e, &d, err);
		break;
	}
	return r < 0 ? r : ocifs_set_xattrs(a->f, d->ino, a->ae, false, err);
}

/* The entry a hard link target path names now, or an error. */
static int link_target(struct oci_fs *f, const char *target, struct dent **ret, struct berr *err)
{
	char leaf[256];
	ext2_ino_t dir;
	struct dent *d = NULL;
	int r = walk(f, target, false, false, NULL, &dir, leaf, err);

	if (r < 0)
		return oci_wrap(err, "hard link target \"%.300s\"", target);
	if (dir)
		d = ocifs_find(f, dir, leaf);
	if (!d)
		return oci_err(err, ENOENT, "hard link target \"%.300s\" does not exist (yet)", target);
	if (d->ftype == EXT2_FT_DIR)
		return oci_err(err, EPERM, "hard link target \"%.300s\" is a directory", target);
	*ret = d;
	return 0;
}

static int do_hardlink(struct apply *a, const struct ocifs_meta *m, struct berr *err)
{
	char leaf[256];
	ext2_ino_t dir, ino;
	uint8_t ftype;
	struct dent *d, *t;
	int r = link_target(a->f, a->e->link, &t, err);

	if (r < 0)
		return r;
	ino = t->ino;
	ftype = t->ftype;
	r = walk(a->f, a->e->path, true, true, m, &dir, leaf, err);
	if (r < 0)
		return r;
	d = ocifs_find(a->f, dir, leaf);
	if (d && d->ino == ino) {
		d->gen = a->f->gen; /* a link to itself */
		return 0;
	}
	if (d) {
		r = ocifs_remove(a->f, d, err);
		if (r < 0)
			return r;
		/* Replacing the link's path may have removed its target. */
		r = link_target(a->f, a->e->link, &t, err);
		if (r < 0 || t->ino != ino)
			return oci_err(err, ENOENT,
					"hard link target \"%.300s\" went away with the path it replaces",
					a->e->link);
	}
	return ocifs_hardlink(a->f, dir, leaf, ino, ftype, &d, err);
}

static int apply_entry(struct apply *a, struct berr *err)
{
	struct ocifs_meta m;

	ocifs_meta_of(a->e, &m);
	switch (a->e->kind) {
	case OCI_E_SKIP:
		return 0;
	case OCI_E_WHITEOUT:
		return do_whiteout(a, err);
	case OCI_E_OPAQUE:
		return do_opaque(a, err);
	case OCI_E_DIR:
		return do_dir(a, &m, err);
	case OCI_E_HARDLINK:
		return do_hardlink(a, &m, err);
	default:
		return do_leaf(a, &m, err);
	}
}

int oci_fs_apply(struct oci_fs *f, int fd, const char *digest, const char *diff_id,
		 uint64_t max_bytes, const atomic_int *cancel,
		 void (*tick)(uint64_t done, void *ctx), void *ctx, struct berr *err)
{
	struct apply a = { .f = f, .e = xmalloc(sizeof(struct oci_entry)) };
	char got[OCI_DIGEST_LEN + 1];
	int64_t last_tick = 0;
	int r;

	f->gen++;
	f->full = false;
	r = oci_tar_open(fd, digest, max_bytes, cancel, &a.t, err);
	while (r >= 0 && (r = oci_tar_next(a.t, &a.ae, err)) > 0) {
		r = oci_entry_read(a.ae, digest, a.e, err);
		if (r < 0)
			break;
		r = apply_entry(&a, err);
		if (r < 0) {
			oci_wrap(err, "layer %s: entry \"%.300s\"", digest, a.e->raw);
			break;
		}
		if (tick && mono_ms() - last_tick >= 100) {
			last_tick = mono_ms();
			tick(oci_tar_compressed_bytes(a.t), ctx);
		}
	}
	if (r == 0)
		r = oci_tar_finish(a.t, got, err);
	if (r == 0 && diff_id && strcmp(got, diff_id) != 0)
		r = oci_err(err, EBADMSG, "layer %s unpacks to %s, but the image config says %s",
			     digest, got, diff_id);
	if (r == 0 && tick)
		tick(oci_tar_compressed_bytes(a.t), ctx);
	oci_tar_free(a.t);
	free(a.e);
	return r;
}

int oci_fs_put_file(struct oci_fs *f, const char *path, const void *data, size_t len,
		    mode_t mode, struct berr *err)
{
	struct ocifs_meta m = { .perm = (uint16_t)(mode & 07777), .mtime = now_ms() / 1000 };
	struct ocifs_meta pm = { .perm = 0755, .mtime = m.mtime };
	char clean[OCI_MAX_PATH + 1], leaf[256];
	ext2_ino_t dir;
	struct dent *d;
	int r;

	while (*path == '/')
		path++;
	r = oci_path_clean(path, clean, err);

	if (r < 0 || !clean[0])
		return r < 0 ? r : oci_err(err, EINVAL, "\"%s\" names no file", path);
	r = walk(f, clean, true, false, &pm, &dir, leaf, err);
	if (r < 0)
		return r;
	d = ocifs_find(f, dir, leaf);
	if (d && (r = ocifs_remove(f, d, err)) < 0)
		return r;
	return ocifs_create_file(f, dir, leaf, &m, len, NULL, data, &d, err);
}
