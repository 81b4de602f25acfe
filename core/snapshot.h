/* core/snapshot.h: the snapshots a VM can be restored from
 * (docs/snapshots.md): one directory per snapshot under STATE/snapshots/,
 *
 *     NAME/meta.json     what it is, what a restore must match (its key),
 *                        the size and checksum of every file (snapmeta.h)
 *     NAME/state         the machine's device state (the driver's format)
 *     NAME/mem           the guest's memory: mapped privately by every
 *                        restore, never written (0400; 0600 for QEMU 7.2
 *                        under a daemon that is not root, which opens it
 *                        read-write)
 *     NAME/rootfs.ext4   the root disk as the guest left it (a restore's
 *                        root disk is a clone of it)
 *
 * made under a temporary name and renamed into place when complete.  A
 * snapshot is found by its key (the SHA-256 of what must match); before it
 * is used its files are checked: sizes every time, checksums when a file
 * changed since it was last checked (device, inode, size, mtime, ctime),
 * so a snapshot is read whole once per daemon run, and again after any
 * write to it.  One that fails is removed and the reason returned.
 *
 * Takes no struct banger: the caller hands in the driver, the VM's process
 * and spec, and how to quiesce the guest (through its agent).  Thread-safe. */
#ifndef BANGER_SNAPSHOT_H
#define BANGER_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "snapmeta.h"
#include "util.h"
#include "vmm.h"

struct snapstore;

/* dir: STATE/snapshots (made 0700; leftovers of interrupted snapshots are
 * removed).  Starts nothing. */
int snapstore_new(const char *dir, struct snapstore **ret, struct berr *err);
void snapstore_free(struct snapstore *ss);
const char *snapstore_dir(const struct snapstore *ss);

/* Every snapshot whose meta.json parses (a broken one is listed with its
 * reason in *bad, NULL-able); sorted by name. */
struct snap_info {
	struct snap_meta meta;
	uint64_t bytes;          /* disk usage of its files */
};
int snapstore_list(struct snapstore *ss, struct snap_info **ret, size_t *ret_n, struct berr *err);
void snap_info_array_free(struct snap_info *a, size_t n);
/* One by name; -ENOENT if there is none (or its meta.json is broken: why
 * in err). */
int snapstore_get(struct snapstore *ss, const char *name, struct snap_info *ret, struct berr *err);
/* rmdir: -EBUSY while one is being made or restored from. */
int snapstore_remove(struct snapstore *ss, const char *name, struct berr *err);

/* A snapshot in use by a restore: its paths stay valid (rmdir refuses)
 * until snapstore_release. */
struct snap_use {
	struct snap_meta meta;
	char *dir, *state, *mem, *rootfs;
};
/* The snapshot whose key is key, checked.  0: *ret is in use;
 * -ENOENT: none (err: a sentence); other: there was one and it failed the
 * check (err says why; it has been removed). */
int snapstore_find(struct snapstore *ss, const char key[65], struct snap_use *ret,
		   struct berr *err);
void snapstore_release(struct snapstore *ss, struct snap_use *u);
/* Is a snapshot with this key there (no check)? */
bool snapstore_has(struct snapstore *ss, const char key[65]);

/* What making a snapshot needs from its caller. */
struct snap_source {
	const struct vmm_driver *drv;
	const struct vmm_host *host;
	const struct vmm_proc *proc;   /* the running VM */
	const struct vmm_spec *spec;   /* as it was started (disks, sizes, devices) */
	const char *key_text;          /* what a restore must match */
	const char *image, *kernel, *vm;
	const char *cmdline;           /* the extra kernel args it was started with */
	uint64_t work_size;            /* its work disk's size, 0: none */
	const char *state_dir;         /* the VM's log: STATE/vms/VM/vmm.log */
	/* Before the pause: quiesce the guest (flush, let go of the work disk,
	 * take the network down); after the resume: undo it. */
	int (*guest_quiesce)(void *ctx, struct berr *err);
	int (*guest_thaw)(void *ctx, struct berr *err);
	void *ctx;
	const atomic_bool *cancel;     /* may be NULL: checked between steps */
};
/* Make a snapshot of a running VM; *ret_name (SNAP_NAME_MAX) is its name.
 * -EEXIST: there is one with this key already; -EBUSY: one is being made.
 * The VM runs again when this returns, also on failure (which leaves no
 * files behind). */
int snapstore_create(struct snapstore *ss, const struct snap_source *src, char *ret_name,
		     struct berr *err);

/* How many snapshots there are (for doctor). */
size_t snapstore_count(struct snapstore *ss);

#endif
