/* core/disk.h: per-VM disks.
 *
 * The root filesystem of a VM is a copy-on-write clone of its image:
 * FICLONE (reflink) where the filesystem supports it, else a sparse copy
 * (only the data extents are copied; holes stay holes).  The work disk is
 * an ext4 filesystem written with libext2fs directly: no mkfs, no mount,
 * no root. */
#ifndef BANGER_DISK_H
#define BANGER_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* CLONE_AUTO: reflink where the file system can, else a sparse copy (what
 * disk_clone() does).  CLONE_DM_SNAPSHOT is made by core/vmdisk.c through
 * core/priv.h (helper/dmclone.h), not here. */
enum clone_method { CLONE_AUTO, CLONE_REFLINK, CLONE_SPARSE_COPY, CLONE_DM_SNAPSHOT };
/* "auto" | "reflink" | "sparse-copy" | "dm-snapshot" */
const char *clone_method_name(enum clone_method m);
/* The config word (disk_clone) back: 0, or -EINVAL. */
int clone_method_parse(const char *s, enum clone_method *ret);

/* Clone src to dst (dst must not exist; created 0600).  On failure dst is
 * removed.  ret_method may be NULL. */
int disk_clone(const char *src, const char *dst, enum clone_method *ret_method,
	       struct berr *err);
/* The same with the method fixed: CLONE_REFLINK fails (EOPNOTSUPP, with a
 * sentence) where the file system cannot share extents, CLONE_SPARSE_COPY
 * copies even where it could; CLONE_AUTO is disk_clone(). */
int disk_clone_as(const char *src, const char *dst, enum clone_method how,
		  enum clone_method *ret_method, struct berr *err);

/* qcow2 overlays, made and read with qemu-img (Debian's qemu-utils): a
 * restore under QEMU gets one over the snapshot's root disk instead of a
 * copy (core/vmdisk.h).  An overlay's path ends in DISK_OVERLAY_SUFFIX. */
#define DISK_OVERLAY_SUFFIX ".qcow2"
bool disk_is_overlay(const char *path);
/* A new overlay (0600; must not exist) of size bytes over backing (raw),
 * which is recorded as given: a relative name is found next to the
 * overlay.  On failure nothing is left. */
int disk_overlay(const char *overlay, const char *backing, uint64_t size, struct berr *err);
/* The overlay's disk as one raw sparse file at dst (0600; must not exist),
 * read through its backing file.  On failure dst is removed. */
int disk_flatten(const char *overlay, const char *dst, struct berr *err);

/* Which method disk_clone would use for a file in dir (probes with a tiny
 * temp file).  For doctor/status. */
int disk_probe_clone(const char *dir, enum clone_method *ret_method, struct berr *err);

/* Create an empty ext4 filesystem image of size bytes at path (sparse
 * file, created 0600, must not exist), with label `label` (may be NULL).
 * Features: extents, 64bit-free, dir_index, filetype, sparse_super,
 * huge_file, flex_bg, metadata_csum, has_journal.  Root dir 0700 owned by
 * 0:0; lost+found present.  e2fsck -fn finds nothing to fix. */
int workdisk_create(const char *path, uint64_t size, const char *label,
		    struct berr *err);

/* Write a file into an ext4 image (unmounted).  guest_path is absolute,
 * parents are created with dir_mode; existing files are replaced.
 * Names with NUL, control characters, "." or ".." components are
 * rejected. */
struct workdisk_file {
	const char *guest_path;
	const void *data;
	size_t len;
	mode_t mode;         /* permission bits, e.g. 0600 */
	uid_t uid;
	gid_t gid;
};
int workdisk_write_files(const char *image, const struct workdisk_file *files,
			 size_t n, mode_t dir_mode, struct berr *err);
int workdisk_mkdir(const char *image, const char *guest_path, mode_t mode,
		   uid_t uid, gid_t gid, struct berr *err);

/* ---- Streaming writer (workspace copy, file_sync) ----------------------
 *
 * A session on one unmounted image: open once, add many entries, close.
 * Entries are named by a parent directory's inode number and one name
 * (no '/', not "." or "..", at most 255 bytes, no control characters), so
 * a caller walking a sorted list does one lookup per entry, not one per
 * path component.  Regular files are streamed from a descriptor straight
 * into blocks allocated up front (copy_file_range into the image, read/
 * pwrite where the kernel cannot): no staging copy.  An existing entry of
 * the same name is replaced (a directory is kept and its attributes
 * updated; a file or symlink where a directory is wanted is an error).
 *
 * The image is locked for the session (flock, as workdisk_write_files).
 * A session that failed half-way leaves a consistent filesystem (e2fsck
 * clean) holding part of the entries: callers that must not leave partial
 * content write into a fresh image and remove it on failure (see
 * docs/workspace.md). */
struct workdisk;

struct wd_attr {
	mode_t mode;             /* permission bits */
	uid_t uid;
	gid_t gid;
	int64_t mtime_sec;       /* atime = mtime; ctime = now */
	long mtime_nsec;
};

#define WD_ROOT_INO 2u

int workdisk_open(const char *image, struct workdisk **ret, struct berr *err);
/* Flush and close; r is the caller's result so far (returned unchanged
 * when negative, after flushing).  Frees wd. */
int workdisk_close(struct workdisk *wd, int r, struct berr *err);
/* Free space: bytes in free blocks, free inodes, block size. */
void workdisk_space(const struct workdisk *wd, uint64_t *ret_free_bytes,
		    uint64_t *ret_free_inodes, uint32_t *ret_block_size);
/* mkdir -p guest_path (absolute, checked as workdisk_write_files does):
 * the directories it creates get a; existing ones are left as they are
 * (a non-directory on the way is ENOTDIR).  Its inode goes to *ret;
 * "/" is the root. */
int workdisk_mkdir_p(struct workdisk *wd, const char *guest_path, const struct wd_attr *a,
		     uint32_t *ret, struct berr *err);
/* The inode of name in directory dir: 0, or -ENOENT (no sentence) when
 * there is none. */
int workdisk_lookup(struct workdisk *wd, uint32_t dir, const char *name, uint32_t *ret,
		    struct berr *err);
/* Directory name in parent: created, or reused (attributes set). */
int workdisk_mkdirat(struct workdisk *wd, uint32_t parent, const char *name,
		     const struct wd_attr *a, uint32_t *ret, struct berr *err);
/* Regular file name in parent with up to size bytes read from src_fd
 * (from offset 0).  A source that ends early gives a shorter file; the
 * bytes written go to *ret_len (may be NULL). */
int workdisk_put_file(struct workdisk *wd, uint32_t parent, const char *name, int src_fd,
		      uint64_t size, const struct wd_attr *a, uint64_t *ret_len,
		      struct berr *err);
/* Symlink name -> target (1..4095 bytes, stored as is, never followed). */
int workdisk_put_symlink(struct workdisk *wd, uint32_t parent, const char *name,
			 const char *target, const struct wd_attr *a, struct berr *err);
/* Set mode/owner/times of an existing inode (a directory after its
 * entries were added). */
int workdisk_set_attr(struct workdisk *wd, uint32_t ino, const struct wd_attr *a,
		      struct berr *err);

#endif
