/* helper/dmclone.h: a VM's root disk as a device-mapper snapshot of its
 * image (docs/privileges.md, "DM_CLONE").
 *
 * The device "banger-<vm>" is a dm "snapshot" target whose origin is the
 * image on a read-only loop device and whose exception store (persistent,
 * 4 KiB chunks) is <state root>/vms/<vm>/rootfs.cow, a sparse file the
 * owner makes, on a second loop device.  At its first use the helper takes
 * that file (root's, 0600): only the snapshot writes it from then on, and
 * the helper needs no CAP_DAC_OVERRIDE to open it.  Both loop devices are set up with
 * LO_FLAGS_AUTOCLEAR: the snapshot holds them, and they go with it.  The
 * device's uuid is "BANGER-<uid>-<vm>": only root can set a dm uuid, and
 * banger removes, lists and reuses nothing that lacks its own.  Its node,
 * /dev/mapper/banger-<vm>, is made by libdevmapper itself (mknod), the
 * owner's and 0600 from birth, and udev's rules are told to skip the
 * device (no link, no blkid probe of the guest's file system, no
 * permissions of udev's that a later event would put back): the VMM and
 * bangerd (which writes /etc/hostname into it with libext2fs) open it as
 * the owner, and no clone waits for udev.  A persistent exception store survives the device: after a
 * reboot the same call re-creates the device from the same file, with the
 * VM's writes in it.
 *
 * Used by bangerd-root (DM_CLONE, DM_REMOVE, DM_LIST) and in-process by a
 * bangerd running as root.  Needs CAP_SYS_ADMIN (device-mapper ioctls,
 * LOOP_CONFIGURE), CAP_MKNOD (the node) and CAP_CHOWN. */
#ifndef BANGER_HELPER_DMCLONE_H
#define BANGER_HELPER_DMCLONE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define DMCLONE_NAME_PREFIX "banger-"
#define DMCLONE_UUID_PREFIX "BANGER-"
#define DMCLONE_COW_FILE "rootfs.cow" /* in <state root>/vms/<vm>/ */
#define DMCLONE_CHUNK_SECTORS 8	      /* 4 KiB exceptions */
#define DMCLONE_DEV_MAX 96	      /* "/dev/mapper/banger-<63>" fits */

/* The size the COW file must have at least for an image of image_bytes:
 * room for every chunk to be rewritten, plus the store's metadata (one
 * 16-byte entry per chunk, 256 to a 4 KiB metadata chunk) and its header.
 * bangerd creates the file (sparse) with this size. */
static inline uint64_t dmclone_cow_size(uint64_t image_bytes)
{
	return image_bytes + image_bytes / 128 + (4ULL << 20);
}

struct dmclone_conf {
	const char *state_dir; /* the COW files: <state_dir>/vms/<vm>/rootfs.cow */
	const char *cache_dir; /* images may lie below it or below state_dir */
	uid_t uid;	       /* the owner: the uuid, the COW file's and the node's owner */
	gid_t gid;
};

/* A VM name as banger takes it (a DNS label: 1-63 of [a-z0-9-], not
 * starting or ending with '-'); -EINVAL with a sentence otherwise. */
int dmclone_name_validate(const char *vm, struct berr *err);

/* Is device-mapper usable here?  0, or -ENODEV/-EACCES with why. */
int dmclone_probe(struct berr *err);

/* Make (or find) the snapshot of image for vm.  image must be a regular
 * file below state_dir or cache_dir, reached without symlinks or mount
 * crossings, a multiple of 512 bytes, not set-id, and readable by the owner
 * by its mode (so nothing the owner could not read becomes readable);
 * <state_dir>/vms/<vm>/rootfs.cow a regular file of the owner (or already
 * taken: root's) with one link, at least dmclone_cow_size() of the image;
 * it becomes root's, 0600.  A device of that name
 * that banger made over these same two files is success as it is (a
 * restart, a resent request); one over other files is -EEXIST (remove it
 * first); one without banger's uuid is refused (-EPERM).  *ret_dev gets
 * the node to open, /dev/mapper/banger-<vm>.  ret_t (may be NULL): where
 * the time went. */
struct dmclone_times {
	int64_t total_us;  /* the whole call */
	int64_t checks_us; /* opening and checking the two files */
	int64_t loops_us;  /* the two loop devices */
	int64_t device_us; /* the device-mapper ioctls (create, load, resume) */
	int64_t node_us;   /* the library's node operations (mknod of the owner's node) */
};
int dmclone_create(const struct dmclone_conf *c, const char *vm, const char *image,
		   char ret_dev[DMCLONE_DEV_MAX], struct dmclone_times *ret_t, struct berr *err);

/* Remove banger-<vm> if it exists (its loop devices go with it).  A
 * device of that name without banger's uuid for this owner is refused
 * (-EPERM); one in use is -EBUSY.  Nothing there is success. */
int dmclone_remove(const struct dmclone_conf *c, const char *vm, struct berr *err);

/* The VM names of every banger-<vm> device with this owner's uuid:
 * NULL-terminated, free with net_strv_free() (helper/net.h). */
int dmclone_list(const struct dmclone_conf *c, char ***ret, size_t *ret_n, struct berr *err);

#endif
