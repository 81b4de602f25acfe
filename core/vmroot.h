/* core/vmroot.h: the forms of a VM's root disk in STATE/vms/NAME.
 *
 * rootfs.ext4: a clone of the image (a file, or a symlink to a dm device:
 * core/vmdisk.h); or, for a VM restored by a VMM that opens qcow2 (QEMU),
 * rootfs.qcow2:
 * an overlay whose backing file is rootfs.base, a hard link to the
 * snapshot's read-only root disk (so the snapshot may go while the VM
 * lives).  The overlay becomes a rootfs.ext4 (vmroot_flatten) when a
 * VMM that cannot open it starts the VM. */
#ifndef BANGER_VMROOT_H
#define BANGER_VMROOT_H

#include <stdbool.h>

#include "err.h"

#define VMROOT_FILE "rootfs.ext4"
#define VMROOT_OVERLAY "rootfs.qcow2"
#define VMROOT_BASE "rootfs.base"

/* The path of the VM's root disk: the overlay when it has one, else
 * rootfs.ext4 (which may not exist yet). */
char *vmroot_path(const char *state_dir, const char *name);
/* Has the VM a root disk (of either form)? */
bool vmroot_made(const char *state_dir, const char *name);
/* The overlay over base (a snapshot's rootfs.ext4, read-only): link and
 * overlay, or nothing (err says why: no qemu-img, another file system). */
int vmroot_overlay(const char *state_dir, const char *name, const char *base, struct berr *err);
/* The overlay, if any, into a rootfs.ext4 of its own; the overlay and its
 * base go.  0 when there was none. */
int vmroot_flatten(const char *state_dir, const char *name, struct berr *err);
/* Remove the root disk in every form (a restore that fell back). */
void vmroot_drop(const char *state_dir, const char *name);

#endif
