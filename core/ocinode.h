/* core/ocinode.h: the bottom of the OCI ext4 builder (ocinode.c): the
 * image being built, its errors, and inodes made without a name: regular
 * files and their data, symlinks, devices and fifos, one more link to an
 * inode, directory metadata and xattrs.  Names, directories and the name
 * index are ocifs.c's, above this file: it links what this file makes.
 * Private to ocifs.c, ocinode.c, ociapply.c and the unit tests. */
#ifndef BANGER_OCINODE_H
#define BANGER_OCINODE_H

#include <ext2fs/ext2fs.h>

#include "ociint.h"

#define OCIFS_DCACHE 64
#define OCIFS_WINDOW_BLOCKS 256

/* A cached directory block (ocifs.c's directory block cache). */
struct ocifs_dblock {
	ext2_ino_t dir;    /* 0: empty slot */
	blk64_t pblk;
	bool dirty;
	uint64_t stamp;
	char *buf;
};

struct dent;

/* The image being built.  ocinode.c uses fs, full, goal and win; the
 * name index, directory info and directory block cache are ocifs.c's. */
struct oci_fs {
	char *path;
	int fd;
	ext2_filsys fs;
	void *names;       /* struct dent, by (parent, name) */
	void *dirs;        /* struct dirinfo, by inode */
	uint32_t gen;      /* the layer being applied, from 1 */
	bool full;         /* the last failure was the image running out of space */
	blk64_t goal;      /* where the next data block should go */
	struct ocifs_dblock dc[OCIFS_DCACHE]; /* directory blocks (ocifs.c) */
	uint64_t dc_clock;
	char *win;         /* file data window, OCIFS_WINDOW_BLOCKS blocks, zeroed */
	struct dent *key;  /* lookup key, name room 256 */
};

/* An ext2 error: records whether it means "the image is full". */
int ocifs_e2err(struct oci_fs *f, errcode_t e, struct berr *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Metadata of a new inode or an updated directory, from a tar entry. */
struct ocifs_meta {
	uint16_t perm;
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
};
void ocifs_meta_of(const struct oci_entry *e, struct ocifs_meta *m);

/* Inode primitives (ocifs.c makes directories with them). */
void ocifs_set_xtime(__u32 *t, __u32 *extra, int64_t sec, uint32_t nsec);
void ocifs_inode_init(struct ext2_inode_large *in, uint16_t type, const struct ocifs_meta *m);
errcode_t ocifs_inode_write_new(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_inode_write(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_inode_read(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_new_ino(struct oci_fs *f, ext2_ino_t parent, uint16_t type, ext2_ino_t *ret);
errcode_t ocifs_extents_init(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);

/* New inodes with no name yet (parent is the allocation hint); the caller
 * links them.  Errors leave the image to be discarded (the build fails). */
int ocinode_mknod(struct oci_fs *f, ext2_ino_t parent, const struct oci_entry *e,
		  ext2_ino_t *ret_ino, uint8_t *ret_ftype, struct berr *err);
int ocinode_symlink(struct oci_fs *f, ext2_ino_t parent, const struct ocifs_meta *m,
		    const char *target, ext2_ino_t *ret_ino, struct berr *err);
/* A regular file whose data comes from the current tar entry (t), or from
 * data/size when t is NULL. */
int ocinode_file(struct oci_fs *f, ext2_ino_t parent, const struct ocifs_meta *m, uint64_t size,
		 struct oci_tar *t, const void *data, ext2_ino_t *ret_ino, struct berr *err);
/* Count one more link to ino (a hard link about to be named). */
int ocinode_link_more(struct oci_fs *f, ext2_ino_t ino, struct berr *err);

/* Set a directory's mode, owner and times (a directory entry of a layer
 * for a directory that exists). */
int ocifs_set_dir_meta(struct oci_fs *f, ext2_ino_t ino, const struct ocifs_meta *m,
		       struct berr *err);
/* Replace all xattrs of ino with those of the tar entry ae. */
int ocifs_set_xattrs(struct oci_fs *f, ext2_ino_t ino, struct archive_entry *ae, bool replace,
		     struct berr *err);

#endif
