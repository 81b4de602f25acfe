/* core/ext4img.c: libext2fs plumbing shared by the work disk and the OCI
 * image builder (see ext4img.h).
 *
 * ext4img_init + ext4img_build do what mke2fs does for a fresh sparse file:
 * fill a superblock, lay out the group tables, mark inode tables as zeroed
 * (the file is all holes, so they read back as zeros), make / and
 * lost+found, reserve the special inodes and add a journal without writing
 * it out. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>

#include "ext4img.h"
#include "util.h"

#define INODE_SIZE 256
#define LPF_SIZE (16 * 1024)

static pthread_once_t et_once = PTHREAD_ONCE_INIT;

static void et_init(void)
{
	initialize_ext2_error_table();
}

int ext4img_errno(errcode_t e)
{
	if (e > 0 && e < 4096)
		return (int)e;
	switch (e) {
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_DIR_NO_SPACE_FOR_CSUM:
	case EXT2_ET_EA_NO_SPACE:
		return ENOSPC;
	case EXT2_ET_FILE_NOT_FOUND:
		return ENOENT;
	case EXT2_ET_DIR_EXISTS:
		return EEXIST;
	case EXT2_ET_NO_DIRECTORY:
		return ENOTDIR;
	case EXT2_ET_BAD_MAGIC:
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
	case EXT2_ET_JOURNAL_TOO_SMALL:
		return EINVAL;
	case EXT2_ET_NO_MEMORY:
		return ENOMEM;
	default:
		return EIO;
	}
}

const char *ext4img_msg(errcode_t e)
{
	pthread_once(&et_once, et_init);
	return error_message(e);
}

int ext4img_open(const char *path, int flags, int *ret_fd, int *ret_lib, struct berr *err)
{
	_cleanup_close_ int fd = -1;
	int lib;

	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | flags, 0600);
	if (fd < 0)
		return berr_set(err, errno, "cannot open disk image %s: %s", path,
				strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return berr_set(err, errno == EWOULDBLOCK ? EBUSY : errno,
				"disk image %s is locked by another writer", path);
	lib = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (lib < 0)
		return berr_set(err, errno, "cannot duplicate the descriptor of %s: %s",
				path, strerror(errno));
	*ret_fd = TAKE_FD(fd);
	*ret_lib = lib;
	return 0;
}

void ext4img_set_owner(struct ext2_inode *inode, uid_t uid, gid_t gid)
{
	inode->i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(*inode, uid >> 16);
	inode->i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(*inode, gid >> 16);
}

int ext4img_set_dir_attrs(ext2_filsys fs, ext2_ino_t ino, mode_t mode, uid_t uid, gid_t gid,
			  const char *what, struct berr *err)
{
	struct ext2_inode inode;
	errcode_t e;

	e = ext2fs_read_inode(fs, ino, &inode);
	if (e)
		return E2ERR(err, e, "reading the inode of %s failed", what);
	inode.i_mode = LINUX_S_IFDIR | (mode & 07777);
	ext4img_set_owner(&inode, uid, gid);
	inode.i_ctime = fs->now ? fs->now : time(NULL);
	e = ext2fs_write_inode(fs, ino, &inode);
	if (e)
		return E2ERR(err, e, "writing the inode of %s failed", what);
	return 0;
}

int ext4img_make_dir(ext2_filsys fs, ext2_ino_t parent, const char *name, ext2_ino_t *ret_ino,
		     const char *what, struct berr *err)
{
	errcode_t e;

	e = ext2fs_mkdir(fs, parent, 0, name);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(fs, parent);
		if (!e)
			e = ext2fs_mkdir(fs, parent, 0, name);
	}
	if (e)
		return E2ERR(err, e, "creating directory %s failed", what);
	e = ext2fs_lookup(fs, parent, name, (int)strlen(name), NULL, ret_ino);
	if (e)
		return E2ERR(err, e, "finding new directory %s failed", what);
	return 0;
}

static int write_reserved_inodes(ext2_filsys fs, struct berr *err)
{
	_cleanup_free_ char *buf = xcalloc(1, EXT2_INODE_SIZE(fs->super));

	for (ext2_ino_t ino = 1; ino < EXT2_FIRST_INODE(fs->super); ino++) {
		errcode_t e = ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)buf,
						      EXT2_INODE_SIZE(fs->super));
		if (e)
			return E2ERR(err, e, "writing reserved inode %u failed", ino);
	}
	return 0;
}

int ext4img_init(int lib, uint64_t blocks, uint64_t inodes, ext2_filsys *ret_fs,
		 struct berr *err)
{
	struct ext2_super_block param;
	char name[16];
	errcode_t e;

	if (blocks > EXT4IMG_MAX_BLOCKS || inodes > UINT32_MAX - 65536) {
		close(lib);
		return berr_set(err, EFBIG, "an ext4 image of %llu blocks and %llu inodes is too large",
				(unsigned long long)blocks, (unsigned long long)inodes);
	}
	memset(&param, 0, sizeof(param));
	ext2fs_blocks_count_set(&param, blocks);
	param.s_log_block_size = 2; /* 1024 << 2 */
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_inode_size = INODE_SIZE;
	param.s_inodes_count = (__u32)inodes;
	param.s_log_groups_per_flex = 4;
	param.s_min_extra_isize = param.s_want_extra_isize =
		sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	param.s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
	param.s_feature_compat = EXT2_FEATURE_COMPAT_DIR_INDEX |
				 EXT2_FEATURE_COMPAT_EXT_ATTR;
	param.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE |
				   EXT3_FEATURE_INCOMPAT_EXTENTS |
				   EXT4_FEATURE_INCOMPAT_FLEX_BG;
	param.s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
				    EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
				    EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
				    EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
				    EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
				    EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;

	snprintf(name, sizeof(name), "%d", lib);
	e = ext2fs_initialize(name, EXT2_FLAG_64BITS, &param, unixfd_io_manager, ret_fs);
	if (e)
		return E2ERR(err, e, "initializing ext4 failed");
	return 0;
}

uint64_t ext4img_journal_blocks(uint64_t blocks)
{
	int n = ext2fs_default_journal_size(blocks);

	return n > 0 ? (uint64_t)n : 0;
}

int ext4img_build(ext2_filsys fs, const char *label, mode_t root_mode, struct berr *err)
{
	struct ext2fs_journal_params jparams;
	struct ext2_super_block *sb = fs->super;
	ext2_ino_t lpf;
	errcode_t e;
	int r;

	if (label && strlen(label) > EXT2_LABEL_LEN)
		return berr_set(err, EINVAL, "filesystem label \"%s\" is longer than %d bytes",
				label, EXT2_LABEL_LEN);
	if (getrandom(sb->s_uuid, sizeof(sb->s_uuid), 0) != (ssize_t)sizeof(sb->s_uuid) ||
	    getrandom(sb->s_hash_seed, sizeof(sb->s_hash_seed), 0) !=
		    (ssize_t)sizeof(sb->s_hash_seed))
		return berr_set(err, EIO, "no random bytes for the filesystem UUID");
	sb->s_uuid[6] = (sb->s_uuid[6] & 0x0f) | 0x40;  /* version 4 */
	sb->s_uuid[8] = (sb->s_uuid[8] & 0x3f) | 0x80;  /* RFC 4122 variant */
	ext2fs_init_csum_seed(fs);
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	sb->s_checksum_type = EXT2_CRC32C_CHKSUM;
	sb->s_max_mnt_count = -1;
	sb->s_checkinterval = 0;
	sb->s_mkfs_time = sb->s_lastcheck = sb->s_wtime = (__u32)time(NULL);
	memset(sb->s_volume_name, 0, sizeof(sb->s_volume_name));
	if (label)
		memcpy(sb->s_volume_name, label, strlen(label));

	e = ext2fs_allocate_tables(fs);
	if (e)
		return E2ERR(err, e, "allocating group tables failed");

	/* The image is a fresh sparse file: inode tables already read as zeros,
	 * so tell the kernel it need not zero them (mke2fs does the same after
	 * a discard that zeroes). */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
		ext2fs_group_desc_csum_set(fs, g);
	}
	r = write_reserved_inodes(fs, err);
	if (r < 0)
		return r;

	fs->umask = 077;
	e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
	if (e)
		return E2ERR(err, e, "creating the root directory failed");
	r = ext4img_set_dir_attrs(fs, EXT2_ROOT_INO, root_mode, 0, 0, "/", err);
	if (r < 0)
		return r;

	r = ext4img_make_dir(fs, EXT2_ROOT_INO, "lost+found", &lpf, "/lost+found", err);
	if (r < 0)
		return r;
	/* e2fsck wants lost+found preallocated so it never has to grow it. */
	for (unsigned size = fs->blocksize; size < LPF_SIZE; size += fs->blocksize) {
		e = ext2fs_expand_dir(fs, lpf);
		if (e)
			return E2ERR(err, e, "growing /lost+found failed");
	}

	for (ext2_ino_t ino = EXT2_ROOT_INO + 1; ino < EXT2_FIRST_INODE(sb); ino++)
		ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	ext2fs_mark_ib_dirty(fs);

	ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
	ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
	e = ext2fs_update_bb_inode(fs, NULL);
	if (e)
		return E2ERR(err, e, "writing the bad block inode failed");

	e = ext2fs_get_journal_params(&jparams, fs);
	if (e)
		return E2ERR(err, e, "sizing the journal failed");
	/* LAZYINIT: the journal's blocks are holes, hence zeros already. */
	e = ext2fs_add_journal_inode3(fs, &jparams, ~0ULL,
				      EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK);
	if (e)
		return E2ERR(err, e, "creating the journal failed");
	return 0;
}
