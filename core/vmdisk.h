/* core/vmdisk.h: a VM's disks before its VMM starts: the root disk cloned
 * from its image and the work disk made (first start), then what banger
 * writes into them with libext2fs (no mount, no root): root's
 * authorized_keys on the work disk (every start), the hostname on the root
 * disk (first start).  Each disk is built under a temporary name and
 * renamed, so a crash never leaves a half-written disk that looks complete. */
#ifndef BANGER_VMDISK_H
#define BANGER_VMDISK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct vmdisk_req {
	const char *state_dir;
	const char *name;        /* the VM */
	const char *image_path;  /* its image's rootfs.ext4 */
	uint64_t disk_size;      /* the work disk, bytes */
	const char *pubkey;      /* banger's "ssh-ed25519 ..." for authorized_keys */
};

/* *ret_first: this was the VM's first start (the root disk was cloned). */
int vmdisk_prepare(const struct vmdisk_req *q, bool *ret_first, struct berr *err);

#endif
