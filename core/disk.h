/* core/disk.h: per-VM disks.
 *
 * The root filesystem of a VM is a copy-on-write clone of its image:
 * FICLONE (reflink) where the filesystem supports it, else a sparse copy
 * (only the data extents are copied; holes stay holes).  The work disk is
 * an ext4 filesystem written with libext2fs directly: no mkfs, no mount,
 * no root. */
#ifndef BANGER_DISK_H
#define BANGER_DISK_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum clone_method { CLONE_REFLINK, CLONE_SPARSE_COPY };
const char *clone_method_name(enum clone_method m); /* "reflink" | "sparse-copy" */

/* Clone src to dst (dst must not exist; created 0600).  On failure dst is
 * removed.  ret_method may be NULL. */
int disk_clone(const char *src, const char *dst, enum clone_method *ret_method,
	       struct berr *err);

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

#endif
