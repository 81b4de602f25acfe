/* core/priv.h: everything the daemon needs root for, behind one interface.
 *
 * Chosen once, when the daemon opens, and never asked again:
 *   local   bangerd runs as root: the operations run in-process, with the
 *           same code bangerd-root runs (helper/net.c, nat.c, resolved.c,
 *           jail.c, fusemount.c);
 *   helper  bangerd is not root and bangerd-root answers: every operation
 *           is a request to it (core/rootc.c), and devices come back as
 *           descriptors (SCM_RIGHTS), so the daemon never opens /dev/fuse
 *           or /dev/net/tun itself;
 *   none    neither: the tree is mounted with the setuid fusermount3 and
 *           the network operations fail with a sentence saying why.
 * The mount falls back to fusermount3 in helper mode too when the helper
 * was started without --mount.  See docs/privileges.md. */
#ifndef BANGER_PRIV_H
#define BANGER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct priv;

enum priv_mode { PRIV_LOCAL, PRIV_HELPER, PRIV_NONE };

/* Choose the mode: local when root; else connect to root_socket (NULL or
 * "" means none) and ping.  Never fails: an unreachable helper is mode
 * none, with the reason in priv_why(). */
struct priv *priv_open(const char *root_socket);
/* Accepts NULL. */
void priv_close(struct priv *p);

enum priv_mode priv_mode(const struct priv *p);
/* "in-process (root)", "through bangerd-root", or why there is neither. */
const char *priv_why(const struct priv *p);

/* The control tree.  *ret_fd is a /dev/fuse descriptor already mounted at
 * mountpoint for this process's uid (serve it as "/dev/fd/N"); *ret_how
 * (static) says by whom: "in-process (root)", "by bangerd-root", "by
 * fusermount3", or "by bangerd.service's ExecStartPre (fd store)" when the
 * service manager handed the tree over (see priv_tree_handed()). */
int priv_tree_mount(struct priv *p, const char *mountpoint, int *ret_fd, const char **ret_how,
		    struct berr *err);
/* Unmount (lazily) the tree at mountpoint; nothing mounted is success.
 * A handed-over tree is left alone: its unit's ExecStopPost=+ unmounts it
 * (the daemon runs in a mount namespace of its own, with no right to). */
int priv_tree_unmount(struct priv *p, const char *mountpoint, struct berr *err);
/* The service manager handed this process its tree: a descriptor named
 * TREE_FDNAME in $LISTEN_FDS, taken by priv_open() (which also drops it
 * from the manager's fd store, so a daemon that dies leaves a dead mount,
 * not one that hangs its users).  The tree is then mounted already and
 * waits for this process to answer FUSE's INIT: the caller must not touch
 * the mount point before it serves the descriptor (a stat would wait for
 * itself).  See docs/privileges.md, "bangerd.service and the tree". */
bool priv_tree_handed(const struct priv *p);

/* Network (helper/net.h for what each does; the tap belongs to this
 * process's uid). */
int priv_net_ensure(struct priv *p, const char *bridge, const char *gateway_cidr,
		    struct berr *err);
int priv_tap_create(struct priv *p, const char *tap, const char *bridge, struct berr *err);
int priv_tap_open(struct priv *p, const char *tap, const char *bridge, int *ret_fd,
		  struct berr *err);
int priv_tap_delete(struct priv *p, const char *tap, struct berr *err);
/* *ret: NULL-terminated, free with priv_strv_free(). */
int priv_tap_list(struct priv *p, char ***ret, size_t *ret_n, struct berr *err);
void priv_strv_free(char **v);

/* systemd-resolved: "~vm" on bridge to addr:port, and back. */
int priv_resolved_link(struct priv *p, const char *bridge, const char *addr, uint16_t port,
		       struct berr *err);
int priv_resolved_revert(struct priv *p, const char *bridge, struct berr *err);

/* Firecracker through its jailer, in the jail <state_dir>/jail/<id>/root
 * the daemon prepared (helper/jail.h). */
struct priv_jail {
	const char *id;
	bool serial_api;          /* --daemonize, serial through PUT /serial */
	/* Used in-process only (bangerd-root has its own): */
	const char *jailer_bin, *firecracker_bin, *state_dir;
	int outfd, errfd;         /* stdout/stderr without serial_api */
};
/* *ret_child: the pid is this process's child (to be reaped), or not (the
 * jailer daemonized it, or bangerd-root detached it).  *ret_via names who
 * ran the jailer (static or the jailer's path, xmalloc'ed). */
int priv_jail_launch(struct priv *p, const struct priv_jail *j, pid_t *ret_pid, bool *ret_child,
		     char **ret_via, struct berr *err);

/* dm-snapshot clones (helper/dmclone.h): banger-<vm>, a snapshot of image
 * over <state_dir>/vms/<vm>/rootfs.cow (which the caller made, sparse, of
 * dmclone_cow_size()), its node given to this process's uid; *ret_dev is
 * that node (xmalloc'ed), *ret_ms (may be NULL) what making it took.  In
 * helper mode bangerd-root uses its own --state-dir and --cache-dir as the
 * roots, so state_dir must be the same directory.  Idempotent.  Without
 * root or helper: -EPERM with the reason. */
int priv_dm_clone(struct priv *p, const char *state_dir, const char *vm, const char *image,
		  char **ret_dev, int64_t *ret_ms, struct berr *err);
/* Remove banger-<vm> (nothing there is success; in use is -EBUSY). */
int priv_dm_remove(struct priv *p, const char *state_dir, const char *vm, struct berr *err);
/* The VM names with a banger-<vm> device of this uid; free with
 * priv_strv_free().  Failing means no dm-snapshot clones here (the
 * sentence says why). */
int priv_dm_list(struct priv *p, const char *state_dir, char ***ret, size_t *ret_n,
		 struct berr *err);

#endif
