/* core/banger.h: the domain, as the file-tree adapter sees it.
 *
 * fs/ (FUSE today, perhaps 9P later) talks to banger only through this
 * header and core/tree.h.  Nothing here knows about FUSE. */
#ifndef BANGER_BANGER_H
#define BANGER_BANGER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct banger_paths {
	char *state_dir;     /* banger.db, vms/, images/, kernels/ */
	char *runtime_dir;   /* 0700: per-VM sockets */
	char *cache_dir;     /* downloads and build cache */
	char *image_cache;   /* bundles built by `make images`, imported at start */
	char *config_path;   /* config.toml */
	char *root_socket;   /* bangerd-root's socket, used when not root */
	bool config_must_exist;
};

/* Defaults from the environment (BANGER_STATE_DIR, BANGER_RUNTIME_DIR,
 * BANGER_CACHE_DIR, BANGER_IMAGE_CACHE, BANGER_CONFIG, BANGER_ROOT_SOCKET,
 * XDG_*, HOME). */
void banger_paths_default(struct banger_paths *p);
void banger_paths_free(struct banger_paths *p);

struct banger;

/* Open the store, load config, create directories, choose how privileged
 * operations are done (core/priv.h), import bundles found in the image
 * cache, re-adopt VMs left running by an earlier daemon.  Starts no thread
 * and no process that outlives it, so the caller may fork (daemonize)
 * afterwards. */
int banger_open(struct banger **ret, const struct banger_paths *p, struct berr *err);
/* Mount the tree at mountpoint for this process's uid, whichever way this
 * daemon can (in-process as root, by bangerd-root, by fusermount3), after
 * removing a stale tree a killed daemon left there.  *ret_fd is the
 * /dev/fuse descriptor to serve as "/dev/fd/N". */
int banger_mount_tree(struct banger *b, const char *mountpoint, int *ret_fd, struct berr *err);
/* Unmount it again (lazily); logs a failure. */
void banger_unmount_tree(struct banger *b, const char *mountpoint);
/* Start the threads: the monitor (VMM exits, console growth), the .vm DNS
 * responder when the bridge exists, the readiness waiters of adopted VMs.
 * Call after daemonizing.  notify is called from the monitor about every
 * 100 ms and whenever something changed, so the tree adapter can answer
 * reads that wait for data. */
int banger_run(struct banger *b, void (*notify)(void *), void *arg);
/* Stop the monitor and free everything.  Running VMs keep running. */
void banger_close(struct banger *b);


#endif
