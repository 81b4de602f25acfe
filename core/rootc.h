/* core/rootc.h: bangerd's side of the bangerd-root protocol.
 *
 * One connection (SOCK_SEQPACKET) to the helper's socket, shared by the
 * daemon's threads: rootc_call() holds a lock for the whole request and
 * reply.  Every operation is idempotent, so when the helper has dropped
 * the connection (restarted, idle timeout) rootc_call() reconnects and
 * sends the request once more.  The helper's error sentence is copied into
 * err; the errno is the helper's.  See docs/privileges.md. */
#ifndef BANGER_ROOTC_H
#define BANGER_ROOTC_H

#include <stddef.h>

#include "err.h"
#include "proto.h"

#define ROOTC_DEFAULT_SOCKET "/run/banger-root/root.sock"
#define ROOTC_TIMEOUT_S 60 /* for one reply; NET_ENSURE loads nftables */

struct rootc;

int rootc_open(const char *socket, struct rootc **ret, struct berr *err);
/* Accepts NULL. */
void rootc_close(struct rootc *c);

/* Send op (enum proto_op) with its arguments and wait for the reply.
 * Returns the helper's status (0 or a negative errno, with its sentence in
 * err) or a local error.  With ret_list, the reply's strings are returned
 * as a NULL-terminated array (free with rootc_strv_free(); never NULL on
 * success) and their count in ret_n. */
int rootc_call(struct rootc *c, int op, const char *const args[], size_t nargs, char ***ret_list,
	       size_t *ret_n, struct berr *err);
void rootc_strv_free(char **v);
/* rootc_call() for any op; with an fd_reply op (proto.h) a success also
 * hands back the descriptor that came with the reply in *ret_fd
 * (O_CLOEXEC; closed when ret_fd is NULL).  A reply whose descriptors do
 * not match the op is -EPROTO. */
int rootc_call_fd(struct rootc *c, int op, const char *const args[], size_t nargs,
		  char ***ret_list, size_t *ret_n, int *ret_fd, struct berr *err);

int rootc_ping(struct rootc *c, struct berr *err);
int rootc_net_ensure(struct rootc *c, const char *bridge, const char *gateway_cidr,
		     struct berr *err);
int rootc_tap_create(struct rootc *c, const char *tap, const char *bridge, struct berr *err);
int rootc_tap_delete(struct rootc *c, const char *tap, struct berr *err);
/* A tap on bridge that lives as long as the descriptor (net_tap_open()). */
int rootc_tap_open(struct rootc *c, const char *tap, const char *bridge, int *ret_fd,
		   struct berr *err);
/* The tree mounted at mountpoint (the helper's --mount) for the owner;
 * *ret_fd is /dev/fuse, to serve as "/dev/fd/N".  -EOPNOTSUPP when the
 * helper offers no mount. */
int rootc_fuse_mount(struct rootc *c, const char *mountpoint, int *ret_fd, struct berr *err);
int rootc_fuse_unmount(struct rootc *c, const char *mountpoint, struct berr *err);
int rootc_tap_list(struct rootc *c, char ***ret, size_t *ret_n, struct berr *err);
int rootc_chown(struct rootc *c, const char *path, struct berr *err);
/* systemd-resolved: send "~vm" queries on bridge to addr_port ("ADDR:PORT",
 * the bridge's gateway address), and undo that.  See helper/resolved.h. */
int rootc_resolved_link(struct rootc *c, const char *bridge, const char *addr_port,
			struct berr *err);
int rootc_resolved_revert(struct rootc *c, const char *bridge, struct berr *err);
/* Launch Firecracker through the jailer in the jail the daemon prepared
 * (<state_dir>/jail/<id>/root, see helper/jail.h).  serial_api: true runs
 * the jailer with --daemonize (serial output through PUT /serial), false
 * without, stdout and stderr on the jail's console.log and vmm.log.  Not
 * idempotent, but a resend after a lost reply is refused (the pid file
 * then exists).  *ret_pid is Firecracker's pid. */
int rootc_jail_launch(struct rootc *c, const char *id, bool serial_api, pid_t *ret_pid,
		      struct berr *err);

/* A dm-snapshot clone of image for vm (helper/dmclone.h): *ret_dev is the
 * device node, now the owner's (xmalloc'ed); *ret_ms what the helper took.
 * Idempotent: a device banger made over the same files is answered as is. */
int rootc_dm_clone(struct rootc *c, const char *vm, const char *image, char **ret_dev,
		   int64_t *ret_ms, struct berr *err);
int rootc_dm_remove(struct rootc *c, const char *vm, struct berr *err);
/* VM names with a banger-<vm> device of the owner. */
int rootc_dm_list(struct rootc *c, char ***ret, size_t *ret_n, struct berr *err);

#endif
