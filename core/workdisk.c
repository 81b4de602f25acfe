/* core/workdisk.c: the per-VM work disk, an ext4 image written with
 * libext2fs directly (no mkfs, no mount, no root).
 *
 * workdisk_create makes a fresh filesystem in a sparse file the way mke2fs
 * does (ext4img_init + ext4img_build, core/ext4img.c).  The files are then
 * added with workdisk_write_files / workdisk_mkdir.
 *
 * Every image is opened through our own O_CLOEXEC descriptor (the library's
 * unixfd I/O manager), and flock()ed so two banger writers cannot interleave. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>

#include "disk.h"
#include "ext4img.h"
#include "util.h"
#include "wddir.h"

#define WD_BLOCK_SIZE EXT4IMG_BLOCK_SIZE
#define WD_INODE_RATIO 16384
#define WD_MIN_SIZE (16ULL << 20)
#define WD_MAX_SIZE (EXT4IMG_MAX_BLOCKS * WD_BLOCK_SIZE)

int workdisk_create(const char *path, uint64_t size, const char *label,
		    struct berr *err)
{
	_cleanup_unlock_close_ int fd = -1;
	int lib = -1;
	ext2_filsys fs = NULL;
	uint64_t blocks, inodes;
	errcode_t e;
	int r;

	if (size < WD_MIN_SIZE || size > WD_MAX_SIZE)
		return berr_set(err, EINVAL,
				"work disk size %llu is out of range (16 MiB to 16 TiB)",
				(unsigned long long)size);
	if (label && strlen(label) > EXT2_LABEL_LEN)
		return berr_set(err, EINVAL, "filesystem label \"%s\" is longer than %d bytes",
				label, EXT2_LABEL_LEN);
	blocks = size / WD_BLOCK_SIZE;
	inodes = blocks * WD_BLOCK_SIZE / WD_INODE_RATIO;
	if (inodes > UINT32_MAX - 65536)
		inodes = UINT32_MAX - 65536;

	r = ext4img_open(path, O_CREAT | O_EXCL, &fd, &lib, err);
	if (r < 0)
		return berr_wrap(err, "creating work disk %s", path);
	if (ftruncate(fd, (off_t)(blocks * WD_BLOCK_SIZE)) < 0) {
		close(lib);
		r = berr_set(err, errno, "sizing the file failed: %s", strerror(errno));
		goto fail;
	}
	/* The library owns lib from here on (and has closed it on failure). */
	r = ext4img_init(lib, blocks, inodes, &fs, err);
	if (r < 0)
		goto fail;
	r = ext4img_build(fs, label, 0700, err);
	e = ext2fs_close_free(&fs);
	if (r < 0)
		goto fail;
	if (e) {
		r = E2ERR(err, e, "writing the ext4 metadata failed");
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = berr_set(err, errno, "flushing the file failed: %s", strerror(errno));
		goto fail;
	}
	return 0;

fail:
	(void)unlink(path);
	return berr_wrap(err, "creating work disk %s", path);
}

/* A guest path: absolute, at most PATH_MAX bytes, no control characters,
 * no "." or ".." components, components of at most 255 bytes.  Empty
 * components ("//") are ignored, as the kernel does. */
static int check_guest_path(const char *path, struct berr *err)
{
	size_t len, comp = 0;

	if (!path || path[0] != '/')
		return berr_set(err, EINVAL, "guest path \"%s\" is not absolute",
				path ? path : "(null)");
	len = strnlen(path, PATH_MAX);
	if (len >= PATH_MAX)
		return berr_set(err, ENAMETOOLONG, "guest path is longer than %d bytes",
				PATH_MAX - 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c == 0x7f)
			return berr_set(err, EINVAL,
					"guest path has a control character at byte %zu", i);
	}
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		comp = strcspn(p, "/");
		if (comp == 0)
			break;
		if ((comp == 1 && p[0] == '.') || (comp == 2 && p[0] == '.' && p[1] == '.'))
			return berr_set(err, EINVAL,
					"guest path \"%s\" has a \".\" or \"..\" component", path);
		if (comp > EXT2_NAME_LEN)
			return berr_set(err, ENAMETOOLONG,
					"guest path \"%s\" has a component longer than %d bytes",
					path, EXT2_NAME_LEN);
		p += comp;
	}
	return 0;
}

/* Split the next component of *p into name (NUL-terminated); returns false
 * at the end.  *last says whether it is the final component. */
static bool next_component(const char **p, char name[static EXT2_NAME_LEN + 1],
			   bool *last)
{
	const char *s = *p;
	size_t n;

	while (*s == '/')
		s++;
	n = strcspn(s, "/");
	if (n == 0)
		return false;
	memcpy(name, s, n);
	name[n] = '\0';
	s += n;
	*p = s;
	while (*s == '/')
		s++;
	*last = *s == '\0';
	return true;
}

/* Walk guest_path from the root.  Directories on the way are created
 * (mode, uid, gid) when missing; existing ones are left as they are, and
 * a non-directory on the way is an error (nothing is followed: a symlink
 * is not a directory).  Returns the inode of the last directory in
 * *ret_dir and the final component in leaf. */
static int walk_parents(ext2_filsys fs, const char *guest_path, mode_t mode, uid_t uid,
			gid_t gid, ext2_ino_t *ret_dir, char leaf[static EXT2_NAME_LEN + 1],
			struct berr *err)
{
	char name[EXT2_NAME_LEN + 1];
	ext2_ino_t dir = EXT2_ROOT_INO;
	const char *p = guest_path;
	bool last = false;

	while (next_component(&p, name, &last)) {
		struct ext2_inode inode;
		ext2_ino_t ino;
		errcode_t e;
		int r;

		if (last) {
			memcpy(leaf, name, strlen(name) + 1);
			*ret_dir = dir;
			return 0;
		}
		_cleanup_free_ char *sofar = xasprintf("%.*s", (int)(p - guest_path), guest_path);

		e = ext2fs_lookup(fs, dir, name, (int)strlen(name), NULL, &ino);
		if (e == EXT2_ET_FILE_NOT_FOUND) {
			r = ext4img_make_dir(fs, dir, name, &ino, sofar, err);
			if (r < 0)
				return r;
			r = ext4img_set_dir_attrs(fs, ino, mode, uid, gid, sofar, err);
			if (r < 0)
				return r;
		} else if (e) {
			return E2ERR(err, e, "looking up %s failed", sofar);
		} else {
			e = ext2fs_read_inode(fs, ino, &inode);
			if (e)
				return E2ERR(err, e, "reading the inode of %s failed", sofar);
			if (!LINUX_S_ISDIR(inode.i_mode))
				return berr_set(err, ENOTDIR, "%s is not a directory", sofar);
		}
		dir = ino;
	}
	return berr_set(err, EINVAL, "guest path \"%s\" names no file", guest_path);
}

static int image_open_fs(const char *image, int *ret_fd, ext2_filsys *ret_fs,
			 struct berr *err)
{
	_cleanup_unlock_close_ int fd = -1;
	ext2_filsys fs = NULL;
	char name[16];
	errcode_t e;
	int lib, r;

	r = ext4img_open(image, 0, &fd, &lib, err);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%d", lib);
	e = ext2fs_open(name, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unixfd_io_manager, &fs);
	if (e)
		return E2ERR(err, e, "opening ext4 on disk image %s failed", image);
	if (ext2fs_has_feature_journal_needs_recovery(fs->super) ||
	    !(fs->super->s_state & EXT2_VALID_FS)) {
		ext2fs_free(fs);
		return berr_set(err, EBUSY,
				"disk image %s is in use or was not cleanly unmounted", image);
	}
	e = ext2fs_read_bitmaps(fs);
	if (e) {
		ext2fs_free(fs);
		return E2ERR(err, e, "reading the bitmaps of %s failed", image);
	}
	*ret_fd = TAKE_FD(fd);
	*ret_fs = fs;
	return 0;
}

/* Write everything out; r is the result so far (kept if already failed).
 * The fs is flushed even after an error: each step leaves the metadata
 * consistent, and what is in memory must reach the disk to stay so. */
static int image_close_fs(const char *image, int fd, ext2_filsys fs, int r,
			  struct berr *err)
{
	errcode_t e = ext2fs_close_free(&fs);

	if (e && r >= 0)
		r = E2ERR(err, e, "writing the ext4 metadata of %s failed", image);
	if (fsync(fd) < 0 && r >= 0)
		r = berr_set(err, errno, "flushing disk image %s failed: %s", image,
			     strerror(errno));
	unlock_close(fd);
	return r;
}

static void set_times(ext2_filsys fs, struct ext2_inode *inode)
{
	__u32 now = (__u32)(fs->now ? fs->now : time(NULL));

	inode->i_atime = inode->i_ctime = inode->i_mtime = now;
}

static int write_data(ext2_filsys fs, ext2_ino_t ino, const void *data, size_t len,
		      const char *path, struct berr *err)
{
	ext2_file_t file;
	errcode_t e, e2;
	const char *p = data;

	e = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file);
	if (e)
		return E2ERR(err, e, "opening %s in the image failed", path);
	while (len > 0) {
		unsigned int chunk = len > (1U << 20) ? (1U << 20) : (unsigned int)len;
		unsigned int done = 0;

		e = ext2fs_file_write(file, p, chunk, &done);
		if (e)
			break;
		if (done == 0) {
			e = EXT2_ET_SHORT_WRITE;
			break;
		}
		p += done;
		len -= done;
	}
	e2 = ext2fs_file_close(file);
	if (!e)
		e = e2;
	if (e)
		return E2ERR(err, e, "writing %s in the image failed", path);
	return 0;
}

/* Create a new regular file, or empty an existing one in place (its other
 * hard links see the new content, as with O_TRUNC). */
static int write_one(ext2_filsys fs, const struct workdisk_file *f, mode_t dir_mode,
		     struct berr *err)
{
	char leaf[EXT2_NAME_LEN + 1];
	struct ext2_inode_large big;
	struct ext2_inode *inode = EXT2_INODE(&big);
	ext2_ino_t dir, ino;
	errcode_t e;
	int r;

	r = check_guest_path(f->guest_path, err);
	if (r < 0)
		return r;
	r = walk_parents(fs, f->guest_path, dir_mode, f->uid, f->gid, &dir, leaf, err);
	if (r < 0)
		return r;

	e = ext2fs_lookup(fs, dir, leaf, (int)strlen(leaf), NULL, &ino);
	if (e == 0) {
		e = ext2fs_read_inode(fs, ino, inode);
		if (e)
			return E2ERR(err, e, "reading the inode of %s failed", f->guest_path);
		if (LINUX_S_ISDIR(inode->i_mode))
			return berr_set(err, EISDIR, "%s is a directory", f->guest_path);
		if (!LINUX_S_ISREG(inode->i_mode))
			return berr_set(err, EEXIST, "%s exists and is not a regular file",
					f->guest_path);
		e = ext2fs_punch(fs, ino, inode, NULL, 0, ~0ULL);
		if (!e)
			e = ext2fs_read_inode(fs, ino, inode);
		if (e)
			return E2ERR(err, e, "truncating %s failed", f->guest_path);
		inode->i_size = 0;
		inode->i_size_high = 0;
	} else if (e == EXT2_ET_FILE_NOT_FOUND) {
		e = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | 0600, NULL, &ino);
		if (e)
			return E2ERR(err, e, "allocating an inode for %s failed", f->guest_path);
		memset(&big, 0, sizeof(big));
		inode->i_links_count = 1;
		inode->i_mode = LINUX_S_IFREG;
		if (ext2fs_has_feature_extents(fs->super)) {
			ext2_extent_handle_t h;

			e = ext2fs_extent_open2(fs, ino, inode, &h);
			if (e)
				return E2ERR(err, e, "setting up extents for %s failed",
					     f->guest_path);
			ext2fs_extent_free(h);
		}
		e = ext2fs_write_new_inode(fs, ino, inode);
		if (e)
			return E2ERR(err, e, "writing the inode of %s failed", f->guest_path);
		ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
		e = ext2fs_link(fs, dir, leaf, ino, EXT2_FT_REG_FILE);
		if (e == EXT2_ET_DIR_NO_SPACE) {
			e = ext2fs_expand_dir(fs, dir);
			if (!e)
				e = ext2fs_link(fs, dir, leaf, ino, EXT2_FT_REG_FILE);
		}
		if (e) {
			ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
			return E2ERR(err, e, "linking %s failed", f->guest_path);
		}
	} else {
		return E2ERR(err, e, "looking up %s failed", f->guest_path);
	}

	inode->i_mode = LINUX_S_IFREG | (f->mode & 07777);
	ext4img_set_owner(inode, f->uid, f->gid);
	set_times(fs, inode);
	e = ext2fs_write_inode(fs, ino, inode);
	if (e)
		return E2ERR(err, e, "writing the inode of %s failed", f->guest_path);
	return write_data(fs, ino, f->data, f->len, f->guest_path, err);
}

int workdisk_write_files(const char *image, const struct workdisk_file *files,
			 size_t n, mode_t dir_mode, struct berr *err)
{
	ext2_filsys fs;
	int fd, r = 0;

	for (size_t i = 0; i < n; i++) {
		r = check_guest_path(files[i].guest_path, err);
		if (r < 0)
			return berr_wrap(err, "writing files to %s", image);
		if (files[i].len && !files[i].data)
			return berr_set(err, EINVAL, "no data given for %s", files[i].guest_path);
	}
	r = image_open_fs(image, &fd, &fs, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = write_one(fs, &files[i], dir_mode, err);
	r = image_close_fs(image, fd, fs, r, err);
	if (r < 0)
		return berr_wrap(err, "writing files to %s", image);
	return 0;
}

int workdisk_mkdir(const char *image, const char *guest_path, mode_t mode, uid_t uid,
		   gid_t gid, struct berr *err)
{
	char leaf[EXT2_NAME_LEN + 1];
	struct ext2_inode inode;
	ext2_filsys fs;
	ext2_ino_t dir, ino = 0;
	errcode_t e;
	int fd, r;

	r = check_guest_path(guest_path, err);
	if (r < 0)
		return r;
	r = image_open_fs(image, &fd, &fs, err);
	if (r < 0)
		return r;
	r = walk_parents(fs, guest_path, mode, uid, gid, &dir, leaf, err);
	if (r >= 0) {
		e = ext2fs_lookup(fs, dir, leaf, (int)strlen(leaf), NULL, &ino);
		if (e == EXT2_ET_FILE_NOT_FOUND) {
			r = ext4img_make_dir(fs, dir, leaf, &ino, guest_path, err);
		} else if (e) {
			r = E2ERR(err, e, "looking up %s failed", guest_path);
		} else if ((e = ext2fs_read_inode(fs, ino, &inode))) {
			r = E2ERR(err, e, "reading the inode of %s failed", guest_path);
		} else if (!LINUX_S_ISDIR(inode.i_mode)) {
			r = berr_set(err, EEXIST, "%s exists and is not a directory", guest_path);
		}
	}
	if (r >= 0)
		r = ext4img_set_dir_attrs(fs, ino, mode, uid, gid, guest_path, err);
	r = image_close_fs(image, fd, fs, r, err);
	if (r < 0)
		return berr_wrap(err, "making directory %s in %s", guest_path, image);
	return 0;
}

/* ---- Streaming writer (disk.h: workdisk_open ... workdisk_close) ------- */

struct workdisk {
	char *image;
	int fd;              /* ours (locked); data blocks are written through it */
	ext2_filsys fs;
	bool no_copy_range;  /* copy_file_range refused once: use read/pwrite */
	bool freed;          /* blocks were freed since the cache was last emptied */
	struct wddir *dirs;  /* the directories this session made, their names */
};

/* File data goes to the image through our own descriptor, around the
 * library's (write-back) block cache.  A block freed in this session may
 * still sit in that cache, dirty, and be given to a file next: empty the
 * cache (flush and drop: what turning it off does) before data is written
 * after anything was freed, so no stale copy can land on the data later. */
static int drop_cache(struct workdisk *wd, struct berr *err)
{
	errcode_t e;

	if (!wd->freed)
		return 0;
	e = io_channel_set_options(wd->fs->io, "cache=off");
	if (!e)
		e = io_channel_set_options(wd->fs->io, "cache=on");
	if (e)
		return E2ERR(err, e, "emptying the block cache of %s failed", wd->image);
	wd->freed = false;
	return 0;
}

int workdisk_open(const char *image, struct workdisk **ret, struct berr *err)
{
	struct workdisk *wd;
	ext2_filsys fs;
	int fd, r;

	r = image_open_fs(image, &fd, &fs, err);
	if (r < 0)
		return r;
	wd = xcalloc(1, sizeof(*wd));
	wd->image = xstrdup(image);
	wd->fd = fd;
	wd->fs = fs;
	wd->dirs = wddir_new();
	*ret = wd;
	return 0;
}

int workdisk_close(struct workdisk *wd, int r, struct berr *err)
{
	if (!wd)
		return r;
	r = image_close_fs(wd->image, wd->fd, wd->fs, r, err);
	wddir_free(wd->dirs);
	free(wd->image);
	free(wd);
	return r;
}

void workdisk_space(const struct workdisk *wd, uint64_t *ret_free_bytes,
		    uint64_t *ret_free_inodes, uint32_t *ret_block_size)
{
	if (ret_free_bytes)
		*ret_free_bytes = ext2fs_free_blocks_count(wd->fs->super) * wd->fs->blocksize;
	if (ret_free_inodes)
		*ret_free_inodes = wd->fs->super->s_free_inodes_count;
	if (ret_block_size)
		*ret_block_size = wd->fs->blocksize;
}

/* One directory entry name: 1..255 bytes, no '/', not "." or "..", no
 * control characters. */
static int check_name(const char *name, struct berr *err)
{
	size_t n = name ? strnlen(name, EXT2_NAME_LEN + 1) : 0;

	if (n == 0)
		return berr_set(err, EINVAL, "empty file name");
	if (n > EXT2_NAME_LEN)
		return berr_set(err, ENAMETOOLONG, "file name longer than %d bytes", EXT2_NAME_LEN);
	if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return berr_set(err, EINVAL, "file name \"%s\" is not allowed", name);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/')
			return berr_set(err, EINVAL, "file name \"%s\" contains '/'", name);
		if (c < 0x20 || c == 0x7f)
			return berr_set(err, EINVAL, "file name has a control character at byte %zu", i);
	}
	return 0;
}

/* ext4 keeps seconds in 32 bits plus two epoch bits beside the
 * nanoseconds in the _extra field. */
static __u32 time_extra(int64_t sec, long nsec)
{
	uint64_t epoch = ((uint64_t)(sec - (int64_t)(int32_t)sec) >> 32) & 3;

	if (nsec < 0 || nsec > 999999999)
		nsec = 0;
	return (__u32)(((uint64_t)nsec << 2) | epoch);
}

#define HAS_EXTRA(in, field) \
	((in)->i_extra_isize >= offsetof(struct ext2_inode_large, field) + \
	 sizeof((in)->field) - EXT2_GOOD_OLD_INODE_SIZE)

static void apply_attr(ext2_filsys fs, struct ext2_inode_large *in, __u16 type,
		       const struct wd_attr *a)
{
	int64_t now = fs->now ? fs->now : time(NULL);

	in->i_mode = type | (a->mode & 07777);
	ext4img_set_owner(EXT2_INODE(in), a->uid, a->gid);
	in->i_mtime = in->i_atime = (__u32)a->mtime_sec;
	in->i_ctime = (__u32)now;
	if (HAS_EXTRA(in, i_mtime_extra))
		in->i_mtime_extra = time_extra(a->mtime_sec, a->mtime_nsec);
	if (HAS_EXTRA(in, i_atime_extra))
		in->i_atime_extra = time_extra(a->mtime_sec, a->mtime_nsec);
	if (HAS_EXTRA(in, i_ctime_extra))
		in->i_ctime_extra = time_extra(now, 0);
}

static errcode_t read_big(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	return ext2fs_read_inode_full(fs, ino, EXT2_INODE(in), sizeof(*in));
}

static errcode_t write_big(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *in)
{
	return ext2fs_write_inode_full(fs, ino, EXT2_INODE(in), sizeof(*in));
}

int workdisk_set_attr(struct workdisk *wd, uint32_t ino, const struct wd_attr *a,
		      struct berr *err)
{
	struct ext2_inode_large in;
	errcode_t e;

	e = read_big(wd->fs, ino, &in);
	if (!e) {
		apply_attr(wd->fs, &in, (__u16)(in.i_mode & LINUX_S_IFMT), a);
		e = write_big(wd->fs, ino, &in);
	}
	if (e)
		return E2ERR(err, e, "setting the attributes of inode %u failed", ino);
	return 0;
}

/* ext2fs_lookup, except in a directory this session made, where a name it
 * did not add is known to be absent without reading the directory
 * (core/wddir.h). */
static errcode_t find_entry(struct workdisk *wd, ext2_ino_t dir, const char *name,
			    ext2_ino_t *ret)
{
	if (wddir_fresh(wd->dirs, dir) && !wddir_may_have(wd->dirs, dir, name))
		return EXT2_ET_FILE_NOT_FOUND;
	return ext2fs_lookup(wd->fs, dir, name, (int)strlen(name), NULL, ret);
}

/* A new entry (name must not be in parent) at the end of parent. */
static errcode_t link_entry(struct workdisk *wd, ext2_ino_t parent, const char *name,
			    ext2_ino_t ino, int type)
{
	errcode_t e = wddir_append(wd->fs, parent, name, ino, type);

	if (!e && wddir_fresh(wd->dirs, parent))
		wddir_added(wd->dirs, parent, name);
	return e;
}

/* Take back an entry link_entry made (when what it names could not be
 * made). */
static void unlink_entry(struct workdisk *wd, ext2_ino_t parent, const char *name,
			 ext2_ino_t ino)
{
	if (ext2fs_unlink(wd->fs, parent, name, ino, 0) == 0 && wddir_fresh(wd->dirs, parent))
		wddir_removed(wd->dirs, parent, name);
}

/* A new directory name in parent (name is not there): entry first, then
 * the directory (ext2fs_mkdir without a name does not link it). */
static int make_dir(struct workdisk *wd, ext2_ino_t parent, const char *name,
		    ext2_ino_t *ret, struct berr *err)
{
	ext2_ino_t ino;
	errcode_t e = ext2fs_new_inode(wd->fs, parent, LINUX_S_IFDIR | 0755, NULL, &ino);

	if (e)
		return E2ERR(err, e, "allocating an inode for directory %s failed", name);
	e = link_entry(wd, parent, name, ino, EXT2_FT_DIR);
	if (e)
		return E2ERR(err, e, "linking directory %s failed", name);
	e = ext2fs_mkdir(wd->fs, parent, ino, NULL);
	if (e) {
		unlink_entry(wd, parent, name, ino);
		return E2ERR(err, e, "creating directory %s failed", name);
	}
	wddir_made(wd->dirs, ino);
	*ret = ino;
	return 0;
}

int workdisk_mkdirat(struct workdisk *wd, uint32_t parent, const char *name,
		     const struct wd_attr *a, uint32_t *ret, struct berr *err)
{
	struct ext2_inode_large in;
	ext2_ino_t ino;
	errcode_t e;
	int r;

	r = check_name(name, err);
	if (r < 0)
		return r;
	e = find_entry(wd, parent, name, &ino);
	if (e == EXT2_ET_FILE_NOT_FOUND) {
		r = make_dir(wd, parent, name, &ino, err);
		if (r < 0)
			return r;
	} else if (e) {
		return E2ERR(err, e, "looking up %s failed", name);
	}
	e = read_big(wd->fs, ino, &in);
	if (e)
		return E2ERR(err, e, "reading the inode of %s failed", name);
	if (!LINUX_S_ISDIR(in.i_mode))
		return berr_set(err, ENOTDIR, "%s exists and is not a directory", name);
	apply_attr(wd->fs, &in, LINUX_S_IFDIR, a);
	e = write_big(wd->fs, ino, &in);
	if (e)
		return E2ERR(err, e, "writing the inode of %s failed", name);
	*ret = ino;
	return 0;
}

int workdisk_mkdir_p(struct workdisk *wd, const char *guest_path, const struct wd_attr *a,
		     uint32_t *ret, struct berr *err)
{
	char name[EXT2_NAME_LEN + 1];
	const char *p = guest_path;
	uint32_t dir = EXT2_ROOT_INO;
	bool last = false;
	int r;

	r = check_guest_path(guest_path, err);
	if (r < 0)
		return r;
	while (next_component(&p, name, &last)) {
		ext2_ino_t ino;
		errcode_t e = find_entry(wd, dir, name, &ino);

		(void)last;
		if (e == 0) {
			struct ext2_inode inode;

			e = ext2fs_read_inode(wd->fs, ino, &inode);
			if (e)
				return E2ERR(err, e, "reading the inode of %s failed", name);
			if (!LINUX_S_ISDIR(inode.i_mode))
				return berr_set(err, ENOTDIR, "%s in %s is not a directory", name,
						guest_path);
			dir = ino;
			continue;
		}
		if (e && e != EXT2_ET_FILE_NOT_FOUND)
			return E2ERR(err, e, "looking up %s failed", name);
		r = workdisk_mkdirat(wd, dir, name, a, &dir, err);
		if (r < 0)
			return r;
	}
	*ret = dir;
	return 0;
}

/* Remove name (not a directory) from parent, freeing its inode when that
 * was its last link. */
static int drop_entry(ext2_filsys fs, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		      struct berr *err)
{
	struct ext2_inode_large in;
	errcode_t e;

	e = read_big(fs, ino, &in);
	if (e)
		return E2ERR(err, e, "reading the inode of %s failed", name);
	if (LINUX_S_ISDIR(in.i_mode))
		return berr_set(err, EISDIR, "%s is a directory", name);
	e = ext2fs_unlink(fs, parent, name, ino, 0);
	if (e)
		return E2ERR(err, e, "unlinking %s failed", name);
	if (in.i_links_count > 1) {
		in.i_links_count--;
	} else {
		in.i_links_count = 0;
		if (ext2fs_inode_has_valid_blocks2(fs, EXT2_INODE(&in))) {
			e = ext2fs_punch(fs, ino, EXT2_INODE(&in), NULL, 0, ~0ULL);
			if (e)
				return E2ERR(err, e, "freeing the blocks of %s failed", name);
		}
		in.i_dtime = (__u32)(fs->now ? fs->now : time(NULL));
		ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
	}
	e = write_big(fs, ino, &in);
	if (e)
		return E2ERR(err, e, "writing the inode of %s failed", name);
	return 0;
}

/* Look name up in parent; an existing non-directory is removed (and
 * wd->freed set). */
static int clear_name(struct workdisk *wd, ext2_ino_t parent, const char *name,
		      struct berr *err)
{
	ext2_ino_t ino;
	errcode_t e = find_entry(wd, parent, name, &ino);
	int r;

	if (e == EXT2_ET_FILE_NOT_FOUND)
		return 0;
	if (e)
		return E2ERR(err, e, "looking up %s failed", name);
	wd->freed = true;
	r = drop_entry(wd->fs, parent, name, ino, err);
	if (r == 0 && wddir_fresh(wd->dirs, parent))
		wddir_removed(wd->dirs, parent, name);
	return r;
}

/* Copy len bytes of src (from src_off) to the image at dst_off. */
static int copy_run(struct workdisk *wd, int src, uint64_t src_off, uint64_t dst_off,
		    uint64_t len, uint64_t *ret_done, const char *name, struct berr *err)
{
	uint64_t done = 0;

	while (done < len && !wd->no_copy_range) {
		loff_t in = (loff_t)(src_off + done), out = (loff_t)(dst_off + done);
		size_t want = len - done > (1U << 30) ? (1U << 30) : (size_t)(len - done);
		ssize_t n = copy_file_range(src, &in, wd->fd, &out, want, 0);

		if (n > 0) {
			done += (uint64_t)n;
			continue;
		}
		if (n == 0)
			goto out;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP && errno != EBADF)
			return berr_set(err, errno, "copying %s failed: %s", name, strerror(errno));
		wd->no_copy_range = true;
	}
	if (done < len) {
		_cleanup_free_ char *buf = xmalloc(1U << 20);

		while (done < len) {
			size_t want = len - done > (1U << 20) ? (1U << 20) : (size_t)(len - done);
			ssize_t n = pread(src, buf, want, (off_t)(src_off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return berr_set(err, errno, "reading %s failed: %s", name,
						strerror(errno));
			if (n == 0)
				break;
			for (ssize_t w = 0; w < n;) {
				ssize_t m = pwrite(wd->fd, buf + w, (size_t)(n - w),
						   (off_t)(dst_off + done + (uint64_t)w));
				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0)
					return berr_set(err, m < 0 ? errno : EIO,
							"writing %s into %s failed: %s", name,
							wd->image, strerror(m < 0 ? errno : EIO));
				w += m;
			}
			done += (uint64_t)n;
		}
	}
out:
	*ret_done = done;
	return 0;
}

/* Fill the blocks of ino (allocated, size bytes) from src; *ret_len gets
 * what the source really had (less when it shrank). */
static int fill_blocks(struct workdisk *wd, ext2_ino_t ino, struct ext2_inode *inode, int src,
		       uint64_t size, uint64_t *ret_len, const char *name, struct berr *err)
{
	ext2_filsys fs = wd->fs;
	uint64_t bs = fs->blocksize, nblocks = (size + bs - 1) / bs, lblk = 0, copied = 0;
	ext2_extent_handle_t h;
	errcode_t e;
	int r = 0;

	e = ext2fs_extent_open2(fs, ino, inode, &h);
	if (e)
		return E2ERR(err, e, "reading the extents of %s failed", name);
	while (lblk < nblocks) {
		struct ext2fs_extent ex;
		uint64_t run, bytes, done = 0;

		e = ext2fs_extent_goto(h, lblk);
		if (!e)
			e = ext2fs_extent_get(h, EXT2_EXTENT_CURRENT, &ex);
		if (!e && (ex.e_lblk > lblk || ex.e_lblk + ex.e_len <= lblk))
			e = EXT2_ET_EXTENT_NOT_FOUND;
		if (e) {
			r = E2ERR(err, e, "mapping block %llu of %s failed",
				  (unsigned long long)lblk, name);
			break;
		}
		run = ex.e_lblk + ex.e_len - lblk;
		if (run > nblocks - lblk)
			run = nblocks - lblk;
		bytes = run * bs;
		if (bytes > size - lblk * bs)
			bytes = size - lblk * bs;
		r = copy_run(wd, src, lblk * bs, (ex.e_pblk + (lblk - ex.e_lblk)) * bs, bytes,
			     &done, name, err);
		if (r < 0)
			break;
		copied += done;
		if (done < bytes)
			break; /* the source ended early */
		lblk += run;
	}
	ext2fs_extent_free(h);
	*ret_len = copied;
	return r;
}

/* Zero the rest of the block after len bytes (a reused block may hold old
 * data there). */
static int zero_tail(struct workdisk *wd, ext2_ino_t ino, struct ext2_inode *inode,
		     uint64_t len, const char *name, struct berr *err)
{
	static const char zeros[EXT2_MAX_BLOCK_SIZE];
	uint64_t bs = wd->fs->blocksize, tail = len % bs;
	blk64_t pblk = 0;
	errcode_t e;

	if (tail == 0)
		return 0;
	e = ext2fs_bmap2(wd->fs, ino, inode, NULL, 0, len / bs, NULL, &pblk);
	if (e)
		return E2ERR(err, e, "mapping the last block of %s failed", name);
	if (pblk && pwrite(wd->fd, zeros, bs - tail, (off_t)(pblk * bs + tail)) !=
			    (ssize_t)(bs - tail))
		return berr_set(err, EIO, "writing %s into %s failed", name, wd->image);
	return 0;
}

int workdisk_put_file(struct workdisk *wd, uint32_t parent, const char *name, int src_fd,
		      uint64_t size, const struct wd_attr *a, uint64_t *ret_len,
		      struct berr *err)
{
	ext2_filsys fs = wd->fs;
	struct ext2_inode_large in;
	struct ext2_inode *inode = EXT2_INODE(&in);
	uint64_t bs = fs->blocksize, len = 0;
	ext2_extent_handle_t h;
	ext2_ino_t ino;
	errcode_t e;
	int r;

	r = check_name(name, err);
	if (r < 0)
		return r;
	if (size > (uint64_t)ext2fs_blocks_count(fs->super) * bs)
		return berr_set(err, ENOSPC, "%s (%llu bytes) is larger than the disk", name,
				(unsigned long long)size);
	r = clear_name(wd, parent, name, err);
	if (r < 0)
		return r;
	e = ext2fs_new_inode(fs, parent, LINUX_S_IFREG | 0600, NULL, &ino);
	if (e)
		return E2ERR(err, e, "allocating an inode for %s failed", name);
	memset(&in, 0, sizeof(in));
	in.i_links_count = 1;
	in.i_extra_isize = sizeof(in) - EXT2_GOOD_OLD_INODE_SIZE;
	in.i_crtime = (__u32)(fs->now ? fs->now : time(NULL));
	apply_attr(fs, &in, LINUX_S_IFREG, a);
	e = ext2fs_extent_open2(fs, ino, inode, &h); /* an empty extent tree */
	if (e)
		return E2ERR(err, e, "setting up extents for %s failed", name);
	ext2fs_extent_free(h);
	e = ext2fs_inode_size_set(fs, inode, size);
	if (!e)
		e = write_big(fs, ino, &in);
	if (e)
		return E2ERR(err, e, "writing the inode of %s failed", name);
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	e = link_entry(wd, parent, name, ino, EXT2_FT_REG_FILE);
	if (e) {
		ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
		return E2ERR(err, e, "linking %s failed", name);
	}
	if (size > 0) {
		e = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT | EXT2_FALLOCATE_INIT_BEYOND_EOF,
				     ino, inode, ~0ULL, 0, (size + bs - 1) / bs);
		if (!e)
			e = write_big(fs, ino, &in);
		if (e) {
			r = E2ERR(err, e, "allocating %llu bytes for %s failed",
				  (unsigned long long)size, name);
			goto shrink; /* leave a consistent (empty) file */
		}
		r = drop_cache(wd, err);
		if (r >= 0)
			r = fill_blocks(wd, ino, inode, src_fd, size, &len, name, err);
		if (r >= 0)
			r = zero_tail(wd, ino, inode, len, name, err);
	}
shrink:
	if (len < size) {
		/* The source shrank (or failed): give back the blocks past len. */
		errcode_t e2 = ext2fs_punch(fs, ino, inode, NULL, (len + bs - 1) / bs, ~0ULL);

		wd->freed = true;

		if (!e2)
			e2 = ext2fs_inode_size_set(fs, inode, len);
		if (!e2)
			e2 = write_big(fs, ino, &in);
		if (e2 && r >= 0)
			r = E2ERR(err, e2, "truncating %s failed", name);
	}
	if (ret_len)
		*ret_len = len;
	return r;
}

int workdisk_put_symlink(struct workdisk *wd, uint32_t parent, const char *name,
			 const char *target, const struct wd_attr *a, struct berr *err)
{
	ext2_filsys fs = wd->fs;
	size_t tlen = target ? strnlen(target, PATH_MAX) : 0;
	ext2_ino_t ino;
	errcode_t e;
	int r;

	r = check_name(name, err);
	if (r < 0)
		return r;
	if (tlen == 0 || tlen >= PATH_MAX || tlen >= fs->blocksize)
		return berr_set(err, EINVAL, "symlink %s: target of %zu bytes (1 to %u allowed)",
				name, tlen, (unsigned)(fs->blocksize - 1));
	r = clear_name(wd, parent, name, err);
	if (r < 0)
		return r;
	/* entry first, then the link (ext2fs_symlink without a name does not
	 * link it) */
	e = ext2fs_new_inode(fs, parent, LINUX_S_IFLNK | 0777, NULL, &ino);
	if (e)
		return E2ERR(err, e, "allocating an inode for symlink %s failed", name);
	e = link_entry(wd, parent, name, ino, EXT2_FT_SYMLINK);
	if (e)
		return E2ERR(err, e, "linking symlink %s failed", name);
	e = ext2fs_symlink(fs, parent, ino, NULL, target);
	if (e) {
		unlink_entry(wd, parent, name, ino);
		return E2ERR(err, e, "creating symlink %s failed", name);
	}
	struct wd_attr la = *a;
	la.mode = 0777;
	return workdisk_set_attr(wd, ino, &la, err);
}

int workdisk_lookup(struct workdisk *wd, uint32_t dir, const char *name, uint32_t *ret,
		    struct berr *err)
{
	ext2_ino_t ino;
	errcode_t e;
	int r = check_name(name, err);

	if (r < 0)
		return r;
	e = find_entry(wd, dir, name, &ino);
	if (e == EXT2_ET_FILE_NOT_FOUND)
		return -ENOENT;
	if (e)
		return E2ERR(err, e, "looking up %s failed", name);
	*ret = ino;
	return 0;
}
