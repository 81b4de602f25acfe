/* core/ocifs.h: the primitives of the OCI ext4 builder (ocifs.c), used by
 * the layer semantics in ociapply.c.  Private to those two files and the
 * unit tests.
 *
 * The builder keeps its own index of every name in the image (a tree keyed
 * by parent inode and name): libext2fs looks names up and adds them by
 * scanning whole directories, which turns a layer with many files in one
 * directory quadratic.  With the index every lookup is O(log n), a name
 * is added to the last block of its directory, and removed from the block
 * the index says it is in.  The index is complete because the builder
 * made every directory itself. */
#ifndef BANGER_OCIFS_H
#define BANGER_OCIFS_H

#include <ext2fs/ext2fs.h>

#include "ociint.h"

struct dent {
	ext2_ino_t parent, ino;
	blk64_t pblk;      /* the directory block that holds the name */
	uint32_t gen;      /* layer that wrote this name (0: mkfs) */
	uint32_t anc_gen;  /* layer that wrote something below it */
	uint8_t ftype;     /* EXT2_FT_* */
	char name[];
};

#define OCIFS_DCACHE 64

struct ocifs_dblock {
	ext2_ino_t dir;    /* 0: empty slot */
	blk64_t pblk;
	bool dirty;
	uint64_t stamp;
	char *buf;
};

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
	char *win;         /* file data window */
	struct dent *key;  /* lookup key, name room 256 */
};

#define OCIFS_WINDOW_BLOCKS 256

/* Lookups in the index. */
struct dent *ocifs_find(struct oci_fs *f, ext2_ino_t parent, const char *name);

/* Metadata of a new inode or an updated directory, from a tar entry. */
struct ocifs_meta {
	uint16_t perm;
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
};
void ocifs_meta_of(const struct oci_entry *e, struct ocifs_meta *m);

/* Create name in parent; each returns the new index entry, owned by the
 * index.  Errors leave the image to be discarded (the build fails). */
int ocifs_mkdir(struct oci_fs *f, ext2_ino_t parent, const char *name,
		const struct ocifs_meta *m, struct dent **ret, struct berr *err);
int ocifs_mknod(struct oci_fs *f, ext2_ino_t parent, const char *name,
		const struct oci_entry *e, struct dent **ret, struct berr *err);
int ocifs_symlink(struct oci_fs *f, ext2_ino_t parent, const char *name,
		  const struct ocifs_meta *m, const char *target, struct dent **ret,
		  struct berr *err);
/* A regular file whose data comes from the current tar entry (t), or from
 * data/len when t is NULL. */
int ocifs_create_file(struct oci_fs *f, ext2_ino_t parent, const char *name,
		      const struct ocifs_meta *m, uint64_t size, struct oci_tar *t,
		      const void *data, struct dent **ret, struct berr *err);
int ocifs_hardlink(struct oci_fs *f, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		   uint8_t ftype, struct dent **ret, struct berr *err);

/* Set a directory's mode, owner and times (a directory entry of a layer
 * for a directory that exists). */
int ocifs_set_dir_meta(struct oci_fs *f, ext2_ino_t ino, const struct ocifs_meta *m,
		       struct berr *err);
/* Replace all xattrs of ino with those of the tar entry ae. */
int ocifs_set_xattrs(struct oci_fs *f, ext2_ino_t ino, struct archive_entry *ae, bool replace,
		     struct berr *err);

/* Remove the name d (and everything below it); d is freed. */
int ocifs_remove(struct oci_fs *f, struct dent *d, struct berr *err);
/* Unlink just the name d from its directory; keeps the inode. d is freed. */
int ocifs_unlink_name(struct oci_fs *f, struct dent *d, struct berr *err);

/* The names in directory ino (not "." and ".."), xmalloc'ed copies. */
int ocifs_list(struct oci_fs *f, ext2_ino_t ino, char ***ret, size_t *ret_n, struct berr *err);
void ocifs_list_free(char **names, size_t n);

/* Shared by ocifs.c and ocinode.c. */
void ocifs_set_xtime(__u32 *t, __u32 *extra, int64_t sec, uint32_t nsec);
void ocifs_inode_init(struct ext2_inode_large *in, uint16_t type, const struct ocifs_meta *m);
errcode_t ocifs_inode_write_new(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_inode_write(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_inode_read(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
errcode_t ocifs_new_ino(struct oci_fs *f, ext2_ino_t parent, uint16_t type, ext2_ino_t *ret);
errcode_t ocifs_extents_init(struct oci_fs *f, ext2_ino_t ino, struct ext2_inode_large *in);
int ocifs_link_new(struct oci_fs *f, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		   uint8_t ftype, struct dent **ret, struct berr *err);

/* An ext2 error: records whether it means "the image is full". */
int ocifs_e2err(struct oci_fs *f, errcode_t e, struct berr *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
