/* core/ocifs.h: the primitives of the OCI ext4 builder (ocifs.c over
 * ocinode.c), used by the layer semantics in ociapply.c.  Private to those
 * files and the unit tests.
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
#include "ocinode.h"

struct dent {
	ext2_ino_t parent, ino;
	blk64_t pblk;      /* the directory block that holds the name */
	uint32_t gen;      /* layer that wrote this name (0: mkfs) */
	uint32_t anc_gen;  /* layer that wrote something below it */
	uint8_t ftype;     /* EXT2_FT_* */
	char name[];
};

/* Lookups in the index. */
struct dent *ocifs_find(struct oci_fs *f, ext2_ino_t parent, const char *name);

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

/* Remove the name d (and everything below it); d is freed. */
int ocifs_remove(struct oci_fs *f, struct dent *d, struct berr *err);
/* Unlink just the name d from its directory; keeps the inode. d is freed. */
int ocifs_unlink_name(struct oci_fs *f, struct dent *d, struct berr *err);

/* The names in directory ino (not "." and ".."), xmalloc'ed copies. */
int ocifs_list(struct oci_fs *f, ext2_ino_t ino, char ***ret, size_t *ret_n, struct berr *err);
void ocifs_list_free(char **names, size_t n);

#endif
