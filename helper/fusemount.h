/* helper/fusemount.h: mounting banger's control tree for its owner and
 * unmounting it, the way fusermount3 does, so the daemon never needs
 * /dev/fuse or mount privileges itself.
 *
 * Used by bangerd-root (FUSE_MOUNT / FUSE_UNMOUNT: the descriptor goes back
 * to the daemon over the socket) and by a root bangerd in-process.  The
 * daemon then serves the descriptor with libfuse's "/dev/fd/N" mount point
 * form.  See docs/privileges.md. */
#ifndef BANGER_HELPER_FUSEMOUNT_H
#define BANGER_HELPER_FUSEMOUNT_H

#include <sys/types.h>

#include "err.h"

#define TREE_FSTYPE "fuse.banger" /* fuse + subtype, as in /proc/self/mountinfo */
#define TREE_SOURCE "banger"      /* the fsname */

/* Whether fusemount_open() adds allow_other (other users reach the tree;
 * the daemon still checks every request: docs/privileges.md): -1 (the
 * default, bangerd-root's) when /etc/fuse.conf has user_allow_other, as
 * fusermount3 allows it; 0 never; 1 always (a root bangerd whose config
 * says allow_other). */
void fusemount_set_allow_other(int mode);
/* Does /etc/fuse.conf (or path) allow user_allow_other? */
int fusemount_conf_allows(const char *path);

/* Open /dev/fuse and mount it at mountpoint as banger's tree for uid/gid
 * (fd=N,rootmode=40000,user_id=UID,group_id=GID,default_permissions, and
 * allow_other as above; nosuid, nodev).  mountpoint must be absolute and clean, reached without
 * any symlink, an existing directory owned by uid (any directory for uid
 * 0, as for root's own mount(8)), and not already carry a
 * banger tree (-EBUSY: unmount it first).  The mount is made through a
 * descriptor of the directory, so a path swapped after the checks is not
 * followed.  *ret_fd is the /dev/fuse descriptor (O_CLOEXEC); the mount
 * is served by whoever reads it. */
int fusemount_open(const char *mountpoint, uid_t uid, gid_t gid, int *ret_fd, struct berr *err);

/* Lazily unmount the banger tree at mountpoint, if the topmost mount there
 * is one (fuse.banger) belonging to uid; nothing mounted there is success.
 * Another file system, or a tree of another uid, is -EPERM. */
int fusemount_close(const char *mountpoint, uid_t uid, struct berr *err);

/* Is the topmost mount at mountpoint (compared as a string, nothing
 * resolved) a banger tree?  1 and its user_id, or 0.  Any other file
 * system there is 0 with *ret_other set. */
int fusemount_find(const char *mountpoint, uid_t *ret_uid, int *ret_other, struct berr *err);
/* 1 when the banger tree at mountpoint carries allow_other, 0 when not,
 * -errno when there is none. */
int fusemount_has_allow_other(const char *mountpoint);

#endif
