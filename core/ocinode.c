/* core/ocinode.c: inodes of the OCI ext4 builder: errors, regular files
 * and their data, symlinks, devices and fifos, link counts of hard links,
 * directory metadata and xattrs.  Every inode made here has no name yet:
 * ocifs.c, above, links it (directories and the name index are ocifs.c's).
 *
 * File data is written a window (1 MiB) at a time: all-zero blocks are
 * left as holes, every run of data blocks is allocated with one
 * ext2fs_fallocate() and written with one io_channel_write_blk64(), so a
 * file costs a handful of system calls instead of one per block.
 * Every new inode is written whole (256 bytes, zeroed first), so nothing
 * of an inode freed earlier in the build survives in its slot. */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>

#include "ext4img.h"
#include "ocinode.h"
#include "util.h"

#define BS EXT4IMG_BLOCK_SIZE
#define LINK_MAX_FILE 65000u

/* --- errors --- */

int ocifs_e2err(struct oci_fs *f, errcode_t e, struct berr *err, const char *fmt, ...)
{
	char what[BERR_MSG_MAX];
	va_list ap;

	if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL ||
	    e == EXT2_ET_DIR_NO_SPACE)
		f->full = true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e == EXT2_ET_EA_NO_SPACE)
		return oci_err(err, E2BIG, "%s: its xattrs do not fit in an inode and one block", what);
	if (e == EXT2_ET_SHORT_WRITE || e == ENOSPC)
		return oci_err(err, ENOSPC, "%s: no space left on the host for the image", what);
	return oci_err(err, ext4img_errno(e), "%s: %s", what, ext4img_msg(e));
}

/* --- inodes --- */

void ocifs_set_xtime(__u32 *t, __u32 *extra, int64_t sec, uint32_t nsec)
{
	/* 32 bits of seconds + 2 epoch bits: 1901 to 2446. */
	const int64_t lo = INT32_MIN, hi = (1LL << 34) + INT32_MIN - 1;

	if (sec < lo)
		sec = lo;
	if (sec > hi)
		sec = hi;
	*t = (__u32)(int32_t)sec;
	*extra = (__u32)((((uint64_t)(sec - (int32_t)sec)) >> 32) & 3) | (nsec << 2);
}

void ocifs_inode_init(struct ext2_inode_large *in, uint16_t type, const struct ocifs_meta *m)
{
	memset(in, 0, sizeof(*in));
	in->i_mode = (__u16)(type | (m->perm & 07777));
	ext4img_set_owner(EXT2_INODE(in), m->uid, m->gid);
	in->i_links_count = 1;
	in->i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	ocifs_set_xtime(&in->i_mtime, &in->i_mtime_extra, m->mtime, m->mtime_nsec);
	ocifs_set_xtime(&in->i_atime, &in->i_atime_extra, m->mtime, m->mtime_nsec);
	ocifs_set_xtime(&in->i_ctime, &in->i_ctime_extra, m->mtime, m->mtime_nsec);
	ocifs_set_xtime(&in->i_crtime, &in->i_crtime_extra, m->mtime, m->mtime_nsec);
}

void ocifs_meta_of(const struct oci_entry *e, struct ocifs_meta *m)
{
	m->perm = e->perm;
	m->uid = e->uid;
	m->gid = e->gid;
	m->mtime = e->mtime;
	m->mtime_nsec = e->mtime_nsec;
}

/* Write the whole on-disk inode: our fields, zeros after them. */
errcode_t ocifs_inode_write_new(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in)
{
	char buf[1024];
	size_t size = EXT2_INODE_SIZE(f->fs->super);

	if (size > sizeof(buf))
		return EXT2_ET_UNSUPP_FEATURE;
	memset(buf, 0, size);
	memcpy(buf, in, sizeof(*in) < size ? sizeof(*in) : size);
	return ext2fs_write_inode_full(f->fs, ino, (struct ext2_inode *)buf, (int)size);
}

errcode_t ocifs_inode_write(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in)
{
	return ext2fs_write_inode_full(f->fs, ino, EXT2_INODE(in), sizeof(*in));
}

errcode_t ocifs_inode_read(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	return ext2fs_read_inode_full(f->fs, ino, EXT2_INODE(in), sizeof(*in));
}

errcode_t ocifs_new_ino(struct oci_fs *f, ext2_ino_t parent, uint16_t type, ext2_ino_t *ret)
{
	return ext2fs_new_inode(f->fs, parent, type, NULL, ret);
}

/* An empty extent tree in the inode (what ext2fs_extent_open2 sets up). */
errcode_t ocifs_extents_init(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in)
{
	ext2_extent_handle_t h;
	errcode_t e = ext2fs_extent_open2(f->fs, ino, EXT2_INODE(in), &h);

	if (!e)
		ext2fs_extent_free(h);
	return e;
}

/* --- creating --- */

int ocinode_mknod(struct oci_fs *f, ext2_ino_t parent, const struct oci_entry *ent,
		  ext2_ino_t *ret_ino, uint8_t *ret_ftype, struct berr *err)
{
	struct ext2_inode_large in;
	struct ocifs_meta m;
	uint16_t type;
	uint8_t ftype;
	ext2_ino_t ino;
	errcode_t e;

	switch (ent->kind) {
	case OCI_E_CHR:
		type = LINUX_S_IFCHR, ftype = EXT2_FT_CHRDEV;
		break;
	case OCI_E_BLK:
		type = LINUX_S_IFBLK, ftype = EXT2_FT_BLKDEV;
		break;
	default:
		type = LINUX_S_IFIFO, ftype = EXT2_FT_FIFO;
		break;
	}
	ocifs_meta_of(ent, &m);
	e = ocifs_new_ino(f, parent, type, &ino);
	if (e)
		return ocifs_e2err(f, e, err, "allocating an inode");
	ocifs_inode_init(&in, type, &m);
	if (type != LINUX_S_IFIFO) {
		uint32_t ma = ent->rdev_major, mi = ent->rdev_minor;
		if (ma < 256 && mi < 256) {
			in.i_block[0] = ma * 256 + mi;
		} else {
			in.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
		}
	}
	e = ocifs_inode_write_new(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "writing an inode");
	ext2fs_inode_alloc_stats2(f->fs, ino, +1, 0);
	*ret_ino = ino;
	*ret_ftype = ftype;
	return 0;
}

int ocinode_symlink(struct oci_fs *f, ext2_ino_t parent, const struct ocifs_meta *m,
		    const char *target, ext2_ino_t *ret_ino, struct berr *err)
{
	struct ext2_inode_large in, got;
	ext2_ino_t ino;
	errcode_t e;

	e = ocifs_new_ino(f, parent, LINUX_S_IFLNK, &ino);
	/* name NULL: ext2fs_symlink makes the inode (and its block for a
	 * long target) without a lookup or a link; we link it ourselves. */
	if (!e)
		e = ext2fs_symlink(f->fs, parent, ino, NULL, target);
	if (!e)
		e = ocifs_inode_read(f, ino, &got);
	if (e)
		return ocifs_e2err(f, e, err, "making a symlink");
	ocifs_inode_init(&in, LINUX_S_IFLNK, m);
	in.i_mode = LINUX_S_IFLNK | 0777;
	in.i_flags = got.i_flags;
	in.i_size = got.i_size;
	in.i_size_high = got.i_size_high;
	in.i_blocks = got.i_blocks;
	in.osd2.linux2.l_i_blocks_hi = got.osd2.linux2.l_i_blocks_hi;
	memcpy(in.i_block, got.i_block, sizeof(in.i_block));
	e = ocifs_inode_write(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "writing a symlink inode");
	*ret_ino = ino;
	return 0;
}

int ocinode_link_more(struct oci_fs *f, ext2_ino_t ino, struct berr *err)
{
	struct ext2_inode_large in;
	errcode_t e = ocifs_inode_read(f, ino, &in);

	if (e)
		return ocifs_e2err(f, e, err, "reading the link target");
	if (in.i_links_count >= LINK_MAX_FILE)
		return oci_err(err, EMLINK, "the target has %u hard links already", in.i_links_count);
	in.i_links_count++;
	e = ocifs_inode_write(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "writing the link target");
	return 0;
}

/* --- file data --- */

static bool block_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < BS / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Allocate logical blocks [lblk, lblk+n) of ino and write data there. */
static int write_run(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in,
		     blk64_t lblk, blk64_t n, const char *data, struct berr *err)
{
	ext2_extent_handle_t h = NULL;
	errcode_t e;

	e = ext2fs_fallocate(f->fs, EXT2_FALLOCATE_FORCE_INIT, ino, EXT2_INODE(in),
			     f->goal ? f->goal : ~0ULL, lblk, n);
	if (!e)
		e = ext2fs_extent_open2(f->fs, ino, EXT2_INODE(in), &h);
	for (blk64_t l = lblk; !e && l < lblk + n;) {
		struct ext2fs_extent ex;
		e = ext2fs_extent_goto(h, l);
		if (!e)
			e = ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, &ex);
		if (!e && (ex.e_lblk > l || ex.e_lblk + ex.e_len <= l))
			e = EXT2_ET_EXTENT_NOT_FOUND;
		if (e)
			break;
		blk64_t cnt = ex.e_lblk + ex.e_len - l;
		if (cnt > lblk + n - l)
			cnt = lblk + n - l;
		e = io_channel_write_blk64(f->fs->io, ex.e_pblk + (l - ex.e_lblk), (int)cnt,
					   data + (l - lblk) * BS);
		f->goal = ex.e_pblk + (l - ex.e_lblk) + cnt;
		l += cnt;
	}
	if (h)
		ext2fs_extent_free(h);
	if (e)
		return ocifs_e2err(f, e, err, "writing file data");
	return 0;
}

/* The window holds logical blocks [wb, wb + used); write its data runs. */
static int flush_window(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in,
			blk64_t wb, size_t used, struct berr *err)
{
	for (size_t i = 0; i < used;) {
		if (block_zero(f->win + i * BS)) {
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < used && !block_zero(f->win + j * BS))
			j++;
		int r = write_run(f, ino, in, wb + i, j - i, f->win + i * BS, err);
		if (r < 0)
			return r;
		i = j;
	}
	return 0;
}

/* The window is all zeros between files (callers of copy_data rely on
 * it): only the blocks a file used are cleared again. */
static int copy_window(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in,
		       uint64_t size, struct oci_tar *t, const char *mem, size_t *used_max,
		       struct berr *err)
{
	const uint64_t wbytes = (uint64_t)OCIFS_WINDOW_BLOCKS * BS;
	blk64_t wb = 0;      /* first block of the window */
	size_t used = 0;     /* blocks of the window that hold bytes */
	bool memdone = false;
	int r;

	for (;;) {
		const void *buf;
		size_t len;
		int64_t off;

		if (t) {
			r = oci_tar_data(t, &buf, &len, &off, err);
			if (r < 0)
				return r;
			if (r == 0)
				break;
		} else {
			if (memdone || !size)
				break;
			buf = mem, len = size, off = 0, memdone = true;
		}
		if (off < 0 || (uint64_t)off + len > size || (uint64_t)off < wb * BS)
			return oci_err(err, EBADMSG, "its data lies outside the file");
		const char *p = buf;
		uint64_t pos = (uint64_t)off;
		while (len > 0) {
			if (pos >= wb * BS + wbytes) {
				r = flush_window(f, ino, in, wb, used, err);
				if (r < 0)
					return r;
				memset(f->win, 0, used * BS);
				wb = pos / BS;
				used = 0;
			}
			size_t o = (size_t)(pos - wb * BS);
			size_t c = (size_t)(wbytes - o) < len ? (size_t)(wbytes - o) : len;
			memcpy(f->win + o, p, c);
			if ((o + c + BS - 1) / BS > used)
				used = (o + c + BS - 1) / BS;
			if (used > *used_max)
				*used_max = used;
			p += c;
			pos += c;
			len -= c;
		}
	}
	return flush_window(f, ino, in, wb, used, err);
}

static int copy_data(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in,
		     uint64_t size, struct oci_tar *t, const char *mem, struct berr *err)
{
	size_t used = 0;
	int r = copy_window(f, ino, in, size, t, mem, &used, err);

	memset(f->win, 0, used * BS);
	return r;
}

int ocinode_file(struct oci_fs *f, ext2_ino_t parent, const struct ocifs_meta *m, uint64_t size,
		 struct oci_tar *t, const void *data, ext2_ino_t *ret_ino, struct berr *err)
{
	struct ext2_inode_large in;
	ext2_ino_t ino;
	errcode_t e;
	int r;

	e = ocifs_new_ino(f, parent, LINUX_S_IFREG, &ino);
	if (e)
		return ocifs_e2err(f, e, err, "allocating an inode");
	ocifs_inode_init(&in, LINUX_S_IFREG, m);
	e = ocifs_extents_init(f, ino, &in);
	if (!e)
		e = ext2fs_inode_size_set(f->fs, EXT2_INODE(&in), size);
	if (!e)
		e = ocifs_inode_write_new(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "writing an inode");
	ext2fs_inode_alloc_stats2(f->fs, ino, +1, 0);
	r = copy_data(f, ino, &in, size, t, data, err);
	if (r < 0)
		return r;
	e = ocifs_inode_write(f, ino, &in);
	if (e)
		return ocifs_e2err(f, e, err, "writing an inode");
	*ret_ino = ino;
	return 0;
}

/* --- metadata of existing directories, xattrs --- */

int ocifs_set_dir_meta(struct oci_fs *f, ext2_ino_t ino, const struct ocifs_meta *m,
		       struct berr *err)
{
	struct ext2_inode_large in;
	errcode_t e = ocifs_inode_read(f, ino, &in);

	if (!e) {
		in.i_mode = (__u16)(LINUX_S_IFDIR | (m->perm & 07777));
		ext4img_set_owner(EXT2_INODE(&in), m->uid, m->gid);
		ocifs_set_xtime(&in.i_mtime, &in.i_mtime_extra, m->mtime, m->mtime_nsec);
		ocifs_set_xtime(&in.i_atime, &in.i_atime_extra, m->mtime, m->mtime_nsec);
		ocifs_set_xtime(&in.i_ctime, &in.i_ctime_extra, m->mtime, m->mtime_nsec);
		e = ocifs_inode_write(f, ino, &in);
	}
	if (e)
		return ocifs_e2err(f, e, err, "updating a directory");
	return 0;
}

struct xnames {
	char **v;
	size_t n;
};

static int collect_xattr(char *name, char *value, size_t len, void *ctx)
{
	struct xnames *x = ctx;

	x->v = xrealloc(x->v, (x->n + 1) * sizeof(*x->v));
	x->v[x->n++] = xstrdup(name);
	return 0;
}

int ocifs_set_xattrs(struct oci_fs *f, ext2_ino_t ino, struct archive_entry *ae, bool replace,
		     struct berr *err)
{
	struct ext2_xattr_handle *h = NULL;
	struct xnames old = { 0 };
	const char *name;
	const void *value;
	size_t len;
	errcode_t e;
	int n = archive_entry_xattr_reset(ae);

	if (n == 0 && !replace)
		return 0;
	e = ext2fs_xattrs_open(f->fs, ino, &h);
	if (!e)
		e = ext2fs_xattrs_read(h);
	if (!e && replace) {
		e = ext2fs_xattrs_iterate(h, collect_xattr, &old);
		for (size_t i = 0; !e && i < old.n; i++)
			e = ext2fs_xattr_remove(h, old.v[i]);
	}
	/* An empty value is a PAX deletion record: no xattr (as Go's tar
	 * reader, hence Docker and umoci, read it). */
	while (!e && archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK)
		if (len)
			e = ext2fs_xattr_set(h, name, value, len);
	if (h) {
		errcode_t e2 = ext2fs_xattrs_close(&h);
		if (!e)
			e = e2;
	}
	for (size_t i = 0; i < old.n; i++)
		free(old.v[i]);
	free(old.v);
	if (e)
		return ocifs_e2err(f, e, err, "setting xattrs");
	return 0;
}

