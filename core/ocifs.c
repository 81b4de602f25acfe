/* core/ocifs.c: the ext4 image an OCI image is flattened into, written
 * with libext2fs (see ocifs.h for the name index).
 *
 * This file holds the index, directories (blocks, names, link counts),
 * removal, and the image's life; it names the inodes that ocinode.c, below
 * it, makes (files and their data, symlinks, devices). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>

#include "ext4img.h"
#include "ocifs.h"
#include "util.h"

#define BS EXT4IMG_BLOCK_SIZE
#define CSUM_TAIL 12u

struct dirinfo {
	ext2_ino_t ino;
	uint32_t nblocks;   /* directory blocks */
	blk64_t last;       /* the last one (names are added there) */
	uint32_t subdirs;
};

/* --- the index --- */

static int dent_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int dirinfo_cmp(const void *a, const void *b)
{
	const struct dirinfo *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct dent *ocifs_find(struct oci_fs *f, ext2_ino_t parent, const char *name)
{
	struct dent **found;

	f->key->parent = parent;
	snprintf(f->key->name, 256, "%s", name);
	found = tfind(f->key, &f->names, dent_cmp);
	return found ? *found : NULL;
}

static struct dent *dent_add(struct oci_fs *f, ext2_ino_t parent, const char *name,
			     ext2_ino_t ino, uint8_t ftype, blk64_t pblk)
{
	size_t n = strlen(name);
	struct dent *d = xmalloc(sizeof(*d) + n + 1);

	d->parent = parent;
	d->ino = ino;
	d->pblk = pblk;
	d->gen = f->gen;
	d->anc_gen = 0;
	d->ftype = ftype;
	memcpy(d->name, name, n + 1);
	tsearch(d, &f->names, dent_cmp);
	return d;
}

static void dent_del(struct oci_fs *f, struct dent *d)
{
	tdelete(d, &f->names, dent_cmp);
	free(d);
}

static struct dirinfo *dirinfo_get(struct oci_fs *f, ext2_ino_t ino)
{
	struct dirinfo key = { .ino = ino }, **found;

	found = tfind(&key, &f->dirs, dirinfo_cmp);
	return found ? *found : NULL;
}

static void dirinfo_del(struct oci_fs *f, ext2_ino_t ino)
{
	struct dirinfo *di = dirinfo_get(f, ino);

	if (di) {
		tdelete(di, &f->dirs, dirinfo_cmp);
		free(di);
	}
}

/* Load what mkfs made: / and /lost+found. */
static int dirinfo_load(struct oci_fs *f, ext2_ino_t ino, struct berr *err)
{
	struct ext2_inode inode;
	struct dirinfo *di = xcalloc(1, sizeof(*di));
	errcode_t e;

	di->ino = ino;
	e = ext2fs_read_inode(f->fs, ino, &inode);
	if (!e) {
		di->nblocks = (uint32_t)(EXT2_I_SIZE(&inode) / BS);
		di->subdirs = inode.i_links_count >= 2 ? inode.i_links_count - 2u : 0;
		e = ext2fs_bmap2(f->fs, ino, &inode, NULL, 0, di->nblocks - 1, NULL, &di->last);
	}
	if (e) {
		free(di);
		return ocifs_e2err(f, e, err, "reading directory inode %u", ino);
	}
	tsearch(di, &f->dirs, dirinfo_cmp);
	return 0;
}

/* --- directory entries --- */

static unsigned rec_len_of(unsigned name_len)
{
	return (8 + name_len + 3) & ~3u;
}

static int dir_usable(struct oci_fs *f)
{
	return (int)(BS - (ext2fs_has_feature_metadata_csum(f->fs->super) ? CSUM_TAIL : 0));
}

static void fill_dirent(struct oci_fs *f, struct ext2_dir_entry *de, const char *name,
			ext2_ino_t ino, uint8_t ftype)
{
	size_t n = strlen(name);

	de->inode = ino;
	ext2fs_dirent_set_name_len(de, (int)n);
	ext2fs_dirent_set_file_type(de, ftype);
	memcpy(de->name, name, n);
}

/* --- the directory block cache ---
 *
 * Names are added to the last block of a directory one after the other;
 * reading, verifying, checksumming and writing that block for every name
 * made the crc32c of whole blocks the main cost of a layer of many small
 * files.  So a few dozen blocks stay in memory, dirty, and are written
 * once when evicted (least recently used), before their directory is
 * listed, and when the image is closed.  Blocks of a freed directory
 * are forgotten, never written. */

static void dc_init(struct oci_fs *f)
{
	for (size_t i = 0; i < OCIFS_DCACHE; i++)
		f->dc[i].buf = xmalloc(BS);
}

static int dc_write(struct oci_fs *f, struct ocifs_dblock *b, struct berr *err)
{
	errcode_t e;

	if (!b->dirty)
		return 0;
	e = ext2fs_write_dir_block4(f->fs, b->pblk, b->buf, 0, b->dir);
	if (e)
		return ocifs_e2err(f, e, err, "writing a block of directory %u", b->dir);
	b->dirty = false;
	return 0;
}

/* The cached block pblk of dir: read from the image unless fresh (a new
 * block the caller fills).  NULL and err on failure. */
static char *dc_get(struct oci_fs *f, ext2_ino_t dir, blk64_t pblk, bool fresh, struct berr *err)
{
	struct ocifs_dblock *b = NULL, *lru = &f->dc[0];
	errcode_t e;

	for (size_t i = 0; i < OCIFS_DCACHE; i++) {
		if (f->dc[i].dir == dir && f->dc[i].pblk == pblk) {
			b = &f->dc[i];
			break;
		}
		if (f->dc[i].stamp < lru->stamp)
			lru = &f->dc[i];
	}
	if (!b) {
		b = lru;
		if (dc_write(f, b, err) < 0)
			return NULL;
		b->dir = 0;
		if (!fresh) {
			e = ext2fs_read_dir_block4(f->fs, pblk, b->buf, 0, dir);
			if (e) {
				ocifs_e2err(f, e, err, "reading a block of directory %u", dir);
				return NULL;
			}
		}
		b->dir = dir;
		b->pblk = pblk;
	}
	b->stamp = ++f->dc_clock;
	return b->buf;
}

static void dc_dirty(struct oci_fs *f, ext2_ino_t dir, blk64_t pblk)
{
	for (size_t i = 0; i < OCIFS_DCACHE; i++)
		if (f->dc[i].dir == dir && f->dc[i].pblk == pblk)
			f->dc[i].dirty = true;
}

/* Write dir's cached blocks (every directory's when dir is 0); forget
 * them too when drop. */
static int dc_flush(struct oci_fs *f, ext2_ino_t dir, bool drop, struct berr *err)
{
	for (size_t i = 0; i < OCIFS_DCACHE; i++) {
		struct ocifs_dblock *b = &f->dc[i];
		if (!b->dir || (dir && b->dir != dir))
			continue;
		if (drop && dir) {
			b->dirty = false; /* a freed directory: its blocks are gone */
		} else if (dc_write(f, b, err) < 0) {
			return -EIO;
		}
		if (drop)
			b->dir = 0, b->pblk = 0;
	}
	return 0;
}

/* Add name -> ino to the last block of dir, or to a new block. */
static int dirent_insert(struct oci_fs *f, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			 uint8_t ftype, blk64_t *ret_pblk, struct berr *err)
{
	struct dirinfo *di = dirinfo_get(f, dir);
	unsigned need = rec_len_of((unsigned)strlen(name)), rl = 0;
	int usable = dir_usable(f), off = 0;
	struct ext2_dir_entry *de = NULL, *last = NULL;
	char *nb = NULL, *buf;
	blk64_t blk;
	errcode_t e;

	if (!di)
		return oci_err(err, EIO, "directory inode %u is not in the index", dir);
	buf = dc_get(f, dir, di->last, false, err);
	if (!buf)
		return -EIO;
	while (off < usable) {
		de = (struct ext2_dir_entry *)(buf + off);
		if (ext2fs_get_rec_len(f->fs, de, &rl) || rl < 8 || off + (int)rl > usable)
			return oci_err(err, EIO, "directory %u has a corrupt block", dir);
		if (off + (int)rl == usable) {
			last = de;
			break;
		}
		off += (int)rl;
	}
	if (last && !last->inode && rl >= need) {
		fill_dirent(f, last, name, ino, ftype);
	} else if (last && last->inode &&
		   rl - rec_len_of((unsigned)ext2fs_dirent_name_len(last)) >= need) {
		unsigned used = rec_len_of((unsigned)ext2fs_dirent_name_len(last));
		struct ext2_dir_entry *nde = (struct ext2_dir_entry *)((char *)last + used);
		ext2fs_set_rec_len(f->fs, used, last);
		memset(nde, 0, 8);
		ext2fs_set_rec_len(f->fs, rl - used, nde);
		fill_dirent(f, nde, name, ino, ftype);
	} else {
		last = NULL;
	}
	if (last) {
		dc_dirty(f, dir, di->last);
		*ret_pblk = di->last;
		return 0;
	}

	/* A new block at the end of the directory. */
	struct ext2_inode_large in;
	e = ext2fs_new_dir_block(f->fs, 0, 0, &nb);
	if (!e)
		e = ext2fs_new_block2(f->fs, di->last + 1, NULL, &blk);
	if (e) {
		ext2fs_free_mem(&nb);
		return ocifs_e2err(f, e, err, "growing directory %u", dir);
	}
	ext2fs_block_alloc_stats2(f->fs, blk, +1);
	fill_dirent(f, (struct ext2_dir_entry *)nb, name, ino, ftype);
	buf = dc_get(f, dir, blk, true, err);
	if (buf) {
		memcpy(buf, nb, BS);
		dc_dirty(f, dir, blk);
	}
	ext2fs_free_mem(&nb);
	if (!buf)
		return -EIO;
	e = ocifs_inode_read(f, dir, &in);
	if (!e)
		e = ext2fs_bmap2(f->fs, dir, EXT2_INODE(&in), NULL, BMAP_SET, di->nblocks, NULL, &blk);
	if (!e)
		e = ocifs_inode_read(f, dir, &in); /* bmap may have grown the extent tree */
	if (!e) {
		ext2fs_inode_size_set(f->fs, EXT2_INODE(&in), (uint64_t)(di->nblocks + 1) * BS);
		ext2fs_iblk_add_blocks(f->fs, EXT2_INODE(&in), 1);
		e = ocifs_inode_write(f, dir, &in);
	}
	if (e)
		return ocifs_e2err(f, e, err, "growing directory %u", dir);
	di->nblocks++;
	di->last = blk;
	*ret_pblk = blk;
	return 0;
}

static int dirent_remove(struct oci_fs *f, const struct dent *d, struct berr *err)
{
	int usable = dir_usable(f), off = 0;
	size_t n = strlen(d->name);
	struct ext2_dir_entry *prev = NULL;
	unsigned rl, prl;
	char *buf = dc_get(f, d->parent, d->pblk, false, err);

	if (!buf)
		return -EIO;
	while (off < usable) {
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(buf + off);
		if (ext2fs_get_rec_len(f->fs, de, &rl) || rl < 8 || off + (int)rl > usable)
			break;
		if (de->inode == d->ino && (size_t)ext2fs_dirent_name_len(de) == n &&
		    !memcmp(de->name, d->name, n)) {
			if (prev) {
				ext2fs_get_rec_len(f->fs, prev, &prl);
				ext2fs_set_rec_len(f->fs, prl + rl, prev);
			} else {
				de->inode = 0;
			}
			dc_dirty(f, d->parent, d->pblk);
			return 0;
		}
		prev = de;
		off += (int)rl;
	}
	return oci_err(err, EIO, "the name \"%s\" is missing from directory %u", d->name,
			d->parent);
}

static int link_new(struct oci_fs *f, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		    uint8_t ftype, struct dent **ret, struct berr *err)
{
	blk64_t pblk = 0; /* dirent_insert sets it when it succeeds */
	int r = dirent_insert(f, parent, name, ino, ftype, &pblk, err);

	if (r < 0)
		return r;
	*ret = dent_add(f, parent, name, ino, ftype, pblk);
	return 0;
}

/* Keep a directory's link count: 2 + subdirectories, or 1 beyond what
 * fits (dir_nlink). */
static int dir_links(struct oci_fs *f, ext2_ino_t dir, int delta, struct berr *err)
{
	struct dirinfo *di = dirinfo_get(f, dir);
	struct ext2_inode_large in;
	errcode_t e;

	if (!di)
		return oci_err(err, EIO, "directory inode %u is not in the index", dir);
	di->subdirs = (uint32_t)((int64_t)di->subdirs + delta);
	e = ocifs_inode_read(f, dir, &in);
	if (!e) {
		in.i_links_count = di->subdirs + 2 >= EXT2_LINK_MAX ? 1 : (__u16)(di->subdirs + 2);
		e = ocifs_inode_write(f, dir, &in);
	}
	if (e)
		return ocifs_e2err(f, e, err, "updating directory %u", dir);
	return 0;
}

/* --- creating --- */

int ocifs_mkdir(struct oci_fs *f, ext2_ino_t parent, const char *name,
		const struct ocifs_meta *m, struct dent **ret, struct berr *err)
{
	struct ext2_inode_large in;
	struct dirinfo *di;
	ext2_ino_t ino;
	blk64_t blk;
	char *buf = NULL;
	errcode_t e;
	int r;

	e = ocifs_new_ino(f, parent, LINUX_S_IFDIR, &ino);
	if (!e)
		e = ext2fs_new_dir_block(f->fs, ino, parent, &buf);
	if (!e)
		e = ext2fs_new_block2(f->fs, f->goal, NULL, &blk);
	if (e) {
		ext2fs_free_mem(&buf);
		return ocifs_e2err(f, e, err, "making a directory");
	}
	ext2fs_block_alloc_stats2(f->fs, blk, +1);
	e = ext2fs_write_dir_block4(f->fs, blk, buf, 0, ino);
	ext2fs_free_mem(&buf);
	if (e)
		return ocifs_e2err(f, e, err, "writing a directory block");
	ocifs_inode_init(&in, LINUX_S_IFDIR, m);
	in.i_links_count = 2;
	ext2fs_inode_size_set(f->fs, EXT2_INODE(&in), BS);
	ext2fs_iblk_set(f->fs, EXT2_INODE(&in), 1);
	e = ocifs_extents_init(f, ino, &in);
	if (!e)
		e = ocifs_inode_write_new(f, ino, &in);
	if (!e)
		e = ext2fs_bmap2(f->fs, ino, EXT2_INODE(&in), NULL, BMAP_SET, 0, NULL, &blk);
	if (e)
		return ocifs_e2err(f, e, err, "writing a directory inode");
	ext2fs_inode_alloc_stats2(f->fs, ino, +1, 1);
	di = xcalloc(1, sizeof(*di));
	di->ino = ino;
	di->nblocks = 1;
	di->last = blk;
	tsearch(di, &f->dirs, dirinfo_cmp);
	r = link_new(f, parent, name, ino, EXT2_FT_DIR, ret, err);
	if (r < 0)
		return r;
	return dir_links(f, parent, +1, err);
}

/* The inodes ocinode.c makes, named. */
int ocifs_mknod(struct oci_fs *f, ext2_ino_t parent, const char *name,
		const struct oci_entry *e, struct dent **ret, struct berr *err)
{
	ext2_ino_t ino;
	uint8_t ftype;
	int r = ocinode_mknod(f, parent, e, &ino, &ftype, err);

	return r < 0 ? r : link_new(f, parent, name, ino, ftype, ret, err);
}

int ocifs_symlink(struct oci_fs *f, ext2_ino_t parent, const char *name,
		  const struct ocifs_meta *m, const char *target, struct dent **ret,
		  struct berr *err)
{
	ext2_ino_t ino;
	int r = ocinode_symlink(f, parent, m, target, &ino, err);

	return r < 0 ? r : link_new(f, parent, name, ino, EXT2_FT_SYMLINK, ret, err);
}

int ocifs_create_file(struct oci_fs *f, ext2_ino_t parent, const char *name,
		      const struct ocifs_meta *m, uint64_t size, struct oci_tar *t,
		      const void *data, struct dent **ret, struct berr *err)
{
	ext2_ino_t ino;
	int r = ocinode_file(f, parent, m, size, t, data, &ino, err);

	return r < 0 ? r : link_new(f, parent, name, ino, EXT2_FT_REG_FILE, ret, err);
}

int ocifs_hardlink(struct oci_fs *f, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		   uint8_t ftype, struct dent **ret, struct berr *err)
{
	int r = ocinode_link_more(f, ino, err);

	return r < 0 ? r : link_new(f, parent, name, ino, ftype, ret, err);
}

/* --- removing --- */

struct listing {
	char **v;
	size_t n, cap;
};

static int list_proc(struct ext2_dir_entry *de, int offset, int blocksize, char *buf, void *ctx)
{
	struct listing *l = ctx;
	int n = ext2fs_dirent_name_len(de);

	if (!de->inode || (n == 1 && de->name[0] == '.') ||
	    (n == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	if (l->n == l->cap) { /* doubling: a layer's directory may hold millions */
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xasprintf("%.*s", n, de->name);
	return 0;
}

int ocifs_list(struct oci_fs *f, ext2_ino_t ino, char ***ret, size_t *ret_n, struct berr *err)
{
	struct listing l = { 0 };
	errcode_t e;

	if (dc_flush(f, ino, false, err) < 0)
		return -EIO;
	e = ext2fs_dir_iterate(f->fs, ino, 0, NULL, list_proc, &l);

	if (e) {
		ocifs_list_free(l.v, l.n);
		return ocifs_e2err(f, e, err, "listing directory %u", ino);
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

void ocifs_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Drop one link to ino; free it (and, for a directory, everything in it)
 * when it was the last. */
static int drop_inode(struct oci_fs *f, ext2_ino_t ino, struct berr *err)
{
	struct ext2_inode_large in;
	bool dir;
	errcode_t e = ocifs_inode_read(f, ino, &in);
	int r;

	if (e)
		return ocifs_e2err(f, e, err, "reading inode %u", ino);
	dir = LINUX_S_ISDIR(in.i_mode);
	if (dir) {
		char **names;
		size_t n;
		r = ocifs_list(f, ino, &names, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n && r >= 0; i++) {
			struct dent *c = ocifs_find(f, ino, names[i]);
			if (!c) {
				r = oci_err(err, EIO, "\"%s\" in directory %u is not in the index", names[i], ino);
				break;
			}
			ext2_ino_t cino = c->ino;
			dent_del(f, c);
			r = drop_inode(f, cino, err);
		}
		ocifs_list_free(names, n);
		if (r < 0)
			return r;
		e = ocifs_inode_read(f, ino, &in);
		if (e)
			return ocifs_e2err(f, e, err, "reading inode %u", ino);
		in.i_links_count = 0;
	} else if (in.i_links_count > 1) {
		in.i_links_count--;
		e = ocifs_inode_write(f, ino, &in);
		if (e)
			return ocifs_e2err(f, e, err, "writing inode %u", ino);
		return 0;
	}
	if (dir)
		dc_flush(f, ino, true, NULL); /* its blocks are about to be freed */
	/* Free it.  Devices and fast symlinks keep no blocks (their i_block
	 * holds a device number or the target), so only the others are
	 * punched. */
	if ((in.i_flags & EXT4_EXTENTS_FL) &&
	    (LINUX_S_ISREG(in.i_mode) || dir || LINUX_S_ISLNK(in.i_mode))) {
		e = ext2fs_punch(f->fs, ino, EXT2_INODE(&in), NULL, 0, ~0ULL);
		if (!e)
			e = ocifs_inode_read(f, ino, &in);
	}
	if (!e)
		e = ext2fs_free_ext_attr(f->fs, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "freeing inode %u", ino);
	in.i_links_count = 0;
	in.i_dtime = (__u32)time(NULL);
	e = ocifs_inode_write(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "freeing inode %u", ino);
	ext2fs_inode_alloc_stats2(f->fs, ino, -1, dir);
	if (dir)
		dirinfo_del(f, ino);
	return 0;
}

int ocifs_unlink_name(struct oci_fs *f, struct dent *d, struct berr *err)
{
	int r = dirent_remove(f, d, err);

	if (r < 0)
		return r;
	dent_del(f, d);
	return 0;
}

int ocifs_remove(struct oci_fs *f, struct dent *d, struct berr *err)
{
	ext2_ino_t parent = d->parent, ino = d->ino;
	bool dir = d->ftype == EXT2_FT_DIR;
	int r = ocifs_unlink_name(f, d, err);

	if (r < 0)
		return r;
	r = drop_inode(f, ino, err);
	if (r < 0)
		return r;
	return dir ? dir_links(f, parent, -1, err) : 0;
}

/* --- the image --- */

void oci_fs_size(const struct oci_layer_stats *t, uint64_t headroom, struct oci_fs_geom *g)
{
	const uint64_t min_blocks = OCI_MIN_IMAGE_SIZE / BS;
	uint64_t content = t->blocks + 16;  /* / and lost+found */
	uint64_t inodes = t->inodes + 64;
	uint64_t blocks;

	/* 10 % slack on top of the bounds, then the headroom: free blocks,
	 * and one inode per 16 KiB of them (mke2fs's ratio). */
	content += content / 10 + 256;
	inodes += inodes / 10 + headroom / 16384;
	blocks = content + headroom / BS;
	/* Inode tables (256 bytes an inode) come out of the blocks too. */
	blocks += inodes / (BS / 256) + 1;
	/* At most one inode per block (a group has 32768 of each). */
	if (blocks < inodes + inodes / 32)
		blocks = inodes + inodes / 32;
	if (blocks < min_blocks)
		blocks = min_blocks;
	blocks = (blocks + 1023) & ~1023ULL; /* whole 4 MiB */
	g->blocks = blocks;
	g->inodes = inodes;
}

int oci_fs_create(const char *path, const struct oci_fs_geom *g, const char *label,
		  struct oci_fs **ret, struct berr *err)
{
	struct oci_fs *f = xcalloc(1, sizeof(*f));
	uint64_t blocks = g->blocks;
	struct dent *lpf;
	ext2_ino_t lpf_ino;
	int lib = -1, r;
	errcode_t e;

	f->fd = -1;
	f->path = xstrdup(path);
	dc_init(f);
	f->win = xcalloc(OCIFS_WINDOW_BLOCKS, BS);
	f->key = xcalloc(1, sizeof(struct dent) + 256);
	f->gen = 0;

	r = ext4img_open(path, O_CREAT | O_EXCL, &f->fd, &lib, err);
	if (r < 0) {
		free(f->path);
		f->path = NULL; /* not ours to remove */
		goto fail;
	}
	if (ftruncate(f->fd, (off_t)(blocks * BS)) < 0) {
		close(lib);
		r = oci_err(err, errno, "sizing %s failed: %s", path, strerror(errno));
		goto fail;
	}
	r = ext4img_init(lib, blocks, g->inodes, &f->fs, err);
	if (r < 0)
		goto fail;
	r = ext4img_build(f->fs, label, 0755, err);
	if (r < 0)
		goto fail;
	f->fs->umask = 0;
	r = dirinfo_load(f, EXT2_ROOT_INO, err);
	if (r < 0)
		goto fail;
	e = ext2fs_lookup(f->fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf_ino);
	if (e) {
		r = ocifs_e2err(f, e, err, "finding /lost+found");
		goto fail;
	}
	r = dirinfo_load(f, lpf_ino, err);
	if (r < 0)
		goto fail;
	/* / has one block, which holds lost+found. */
	lpf = dent_add(f, EXT2_ROOT_INO, "lost+found", lpf_ino, EXT2_FT_DIR,
		       dirinfo_get(f, EXT2_ROOT_INO)->last);
	(void)lpf;
	*ret = f;
	return 0;
fail:
	oci_fs_close(f, r, NULL);
	return r;
}

int oci_fs_close(struct oci_fs *f, int r, struct berr *err)
{
	if (!f)
		return r;
	if (f->fs && r >= 0)
		r = dc_flush(f, 0, false, err);
	if (f->fs) {
		errcode_t e = r < 0 ? (ext2fs_free(f->fs), 0) : ext2fs_close_free(&f->fs);
		if (e && r >= 0)
			r = ocifs_e2err(f, e, err, "writing the ext4 metadata of %s", f->path);
		f->fs = NULL;
	}
	if (f->fd >= 0) {
		if (r >= 0 && fsync(f->fd) < 0)
			r = oci_err(err, errno, "flushing %s failed: %s", f->path, strerror(errno));
		unlock_close(f->fd);
	}
	if (r < 0 && f->path)
		unlink(f->path);
	tdestroy(f->names, free);
	tdestroy(f->dirs, free);
	free(f->path);
	for (size_t i = 0; i < OCIFS_DCACHE; i++)
		free(f->dc[i].buf);
	free(f->win);
	free(f->key);
	free(f);
	return r;
}

bool oci_fs_full(const struct oci_fs *f)
{
	return f->full;
}
