/* core/vmdisk.h: a VM's disks before its VMM starts: the root disk cloned
 * from its image and the work disk made (first start), then what banger
 * writes into them with libext2fs (no mount, no root): config.toml's
 * [[file_sync]] into a new work disk, root's authorized_keys on the work
 * disk (every start), the hostname on the root disk (first start).  A
 * workspace, when the VM got one, is already in its work disk (vm.c).  Each disk is built under a temporary name and
 * renamed, so a crash never leaves a half-written disk that looks complete. */
#ifndef BANGER_VMDISK_H
#define BANGER_VMDISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct vmdisk_req {
	const char *state_dir;
	const char *name;        /* the VM */
	const char *image_path;  /* its image's rootfs.ext4 */
	uint64_t disk_size;      /* the work disk, bytes */
	const char *pubkey;      /* banger's "ssh-ed25519 ..." for authorized_keys */
	/* config.toml's [[file_sync]], applied to a new work disk; host paths
	 * must lie in home (the owner's) */
	const struct file_sync *file_sync;
	size_t n_file_sync;
	const char *home;
};

/* [[file_sync]] into the work disk image (not yet booted): warnings (a
 * missing host path, a nested symlink) go to the VM's log. */
int vmdisk_file_sync(const struct vmdisk_req *q, const char *image, struct berr *err);

/* *ret_first: this was the VM's first start (the root disk was cloned). */
int vmdisk_prepare(const struct vmdisk_req *q, bool *ret_first, struct berr *err);

#endif
