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
