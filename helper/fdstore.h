/* helper/fdstore.h: the tree of bangerd.service, mounted by an
 * `ExecStartPre=+` command in the host's mount namespace and handed to the
 * service through systemd's file descriptor store (docs/privileges.md,
 * "bangerd.service and the tree").
 *
 * `bangerd-root --owner USER --mount DIR --fdstore` runs this as root,
 * outside the service's sandbox ("+"), before bangerd starts: it enters
 * PID 1's mount namespace (a "+" command still gets a namespace of its
 * own from systemd 252) and mounts the tree there, where the owner's login
 * shell sees it, and the /dev/fuse
 * descriptor goes to the service manager under the name TREE_FDNAME, which
 * passes it on to bangerd ($LISTEN_FDS).  bangerd serves it as /dev/fd/N
 * and needs neither /dev/fuse, nor fusermount3, nor a mount of its own, so
 * its unit can have NoNewPrivileges=, ProtectSystem=strict and the rest.
 * `--unmount` (the unit's `ExecStopPost=+`) takes the tree away again. */
#ifndef BANGER_HELPER_FDSTORE_H
#define BANGER_HELPER_FDSTORE_H

#include <sys/types.h>

#include "err.h"

/* The name of the tree's descriptor in the service's fd store
 * ($LISTEN_FDNAMES). */
#define TREE_FDNAME "banger-tree"

/* Mount the tree at mountpoint for uid/gid (fusemount_open) and hand the
 * /dev/fuse descriptor to the service manager ($NOTIFY_SOCKET: FDSTORE=1,
 * FDNAME=TREE_FDNAME, FDPOLL=0), replacing a descriptor of that name it
 * may hold from an earlier run, then wait until the manager has taken it
 * (a barrier).  The mount point is created (0755, the owner's) when
 * missing, in a parent reached without symlinks that is root's or the
 * owner's and writable by nobody else.  A tree of uid left mounted there by
 * an earlier daemon is unmounted first.  Without $NOTIFY_SOCKET nothing is
 * mounted (-ENOTCONN): a tree nobody serves would hang whoever opens it;
 * if the handover fails, the tree is unmounted again. */
int fdstore_tree_mount(const char *mountpoint, uid_t uid, gid_t gid, struct berr *err);

/* Unmount the tree of uid at mountpoint in PID 1's mount namespace
 * (fusemount_close: nothing mounted is success, anything but a banger tree
 * of uid is refused). */
int fdstore_tree_unmount(const char *mountpoint, uid_t uid, struct berr *err);

#endif
