/* core/ext4img.h: the libext2fs plumbing shared by everything that writes
 * an ext4 image directly (the work disk, the OCI image builder): error
 * translation, opening an image through our own locked O_CLOEXEC
 * descriptor, and creating a fresh filesystem the way mke2fs does for a
 * sparse file.  Not a public API of banger: only core/ files include it. */
#ifndef BANGER_EXT4IMG_H
#define BANGER_EXT4IMG_H

#include <stdint.h>
#include <sys/types.h>

#include <ext2fs/ext2fs.h>

#include "err.h"

#define EXT4IMG_BLOCK_SIZE 4096
/* No 64bit feature: block numbers are 32 bits. */
#define EXT4IMG_MAX_BLOCKS ((1ULL << 32) - 1)

/* libext2fs returns either an errno or a code from its own table. */
int ext4img_errno(errcode_t e);
const char *ext4img_msg(errcode_t e);
#define E2ERR(err, e, fmt, ...) \
	berr_set(err, ext4img_errno(e), fmt ": %s", ##__VA_ARGS__, ext4img_msg(e))

/* Open path read-write with our own CLOEXEC descriptor, flock()ed against
 * other banger writers.  *ret_fd stays the caller's; *ret_lib is a
 * duplicate for libext2fs's unixfd manager (it closes it). */
int ext4img_open(const char *path, int flags, int *ret_fd, int *ret_lib, struct berr *err);

/* 32-bit owner into an inode (low and high halves). */
void ext4img_set_owner(struct ext2_inode *inode, uid_t uid, gid_t gid);

/* Set a directory's mode, owner and ctime. */
int ext4img_set_dir_attrs(ext2_filsys fs, ext2_ino_t ino, mode_t mode, uid_t uid, gid_t gid,
			  const char *what, struct berr *err);

/* Make directory name in parent (expanding parent when full); *ret_ino. */
int ext4img_make_dir(ext2_filsys fs, ext2_ino_t parent, const char *name, ext2_ino_t *ret_ino,
		     const char *what, struct berr *err);

/* ext2fs_initialize() on the descriptor lib (which the library owns from
 * then on, also on failure) with banger's ext4 feature set: 4 KiB blocks,
 * 256-byte inodes, extents, flex_bg, dir_index, ext_attr, huge_file,
 * dir_nlink, extra_isize, metadata_csum; no 64bit, no resize_inode.  Only
 * memory is touched: check the geometry, then ext4img_build() or
 * ext2fs_free(). */
int ext4img_init(int lib, uint64_t blocks, uint64_t inodes, ext2_filsys *ret_fs,
		 struct berr *err);

/* Lay out an initialized filesystem on its (sparse, all-zero) file: group
 * tables, reserved inodes, / (root_mode, 0:0), /lost+found, and a journal
 * whose blocks stay holes. */
int ext4img_build(ext2_filsys fs, const char *label, mode_t root_mode, struct berr *err);

/* Blocks the journal of ext4img_build() takes for a filesystem of blocks. */
uint64_t ext4img_journal_blocks(uint64_t blocks);

#endif
