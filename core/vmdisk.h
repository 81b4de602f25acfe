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
#include "disk.h"
#include "err.h"
#include "vmroot.h"

struct priv;

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
	/* How the root disk is made at the first start (vmdisk_clone_choose()).
	 * CLONE_AUTO (0): a reflink where the file system can, else a sparse
	 * copy.  CLONE_DM_SNAPSHOT needs priv: the device banger-<name> is
	 * made through it, and rootfs.ext4 is a symlink to its node. */
	enum clone_method clone;
	struct priv *priv;
};

/* The config's disk_clone ("auto", "reflink", "dm-snapshot",
 * "sparse-copy") against this host: auto is reflink when the state
 * directory's file system shares extents, else dm-snapshot when
 * device-mapper answers (root, or bangerd-root) and Firecracker is not
 * jailed (jailed: a jail holds files, and a dm clone is a device node the
 * jailer does not make), else sparse-copy.  *ret is the method VMs get; why
 * (may be NULL) says why in a line for doctor.  Returns 0, or a negative
 * errno when an explicit choice cannot work here (*ret is that choice all
 * the same: VM starts then fail with the reason, and doctor says it). */
int vmdisk_clone_choose(const char *pref, struct priv *p, const char *state_dir, bool jailed,
			enum clone_method *ret, char *why, size_t len);

/* Before a VM's directory is removed (delete): its dm snapshot goes, when
 * it has one (a symlinked rootfs.ext4 or a rootfs.cow).  -EBUSY when a VMM
 * still holds it. */
int vmdisk_forget(struct priv *p, const char *state_dir, const char *name, struct berr *err);

/* At daemon start: remove every banger-<vm> device of this owner whose VM
 * is not among live[0..n) (left by a daemon killed while it made or removed
 * one).  Each removal is logged; returns how many went, or a negative
 * errno when device-mapper is not usable here (nothing to sweep). */
int vmdisk_sweep(struct priv *p, const char *state_dir, const char *const *live, size_t n);

/* [[file_sync]] into the work disk image (not yet booted): warnings (a
 * missing host path, a nested symlink) go to the VM's log. */
int vmdisk_file_sync(const struct vmdisk_req *q, const char *image, struct berr *err);

/* *ret_first: this was the VM's first start (the root disk was cloned). */
int vmdisk_prepare(const struct vmdisk_req *q, bool *ret_first, struct berr *err);

#endif
