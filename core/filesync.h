/* core/filesync.h: config.toml's [[file_sync]] entries copied into a VM's
 * work disk at its first start (docs/workspace.md, "file_sync").
 *
 * Rules (DESIGN §7):
 * - host is "~/..." (the owner's home) or an absolute path; after
 *   resolving it (realpath) it must lie inside the home, else the entry
 *   is skipped with a warning.  So a top-level symlink is followed only
 *   when it resolves inside the home; below that, nothing is followed:
 *   symlinks inside a synced directory are skipped with a warning, and
 *   the files are opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from
 *   the home.
 * - guest is under /root (config.c turns "~/" into /root/); it lands in
 *   the work disk (the guest's /root) at the same place.
 * - files get mode 0600, directories 0700, or the entry's mode (for
 *   directories with a search bit for each read bit: "0644" gives 0755),
 *   owned by root, with the host's mtimes.  Directories the guest path
 *   needs on the way are made 0700.
 * - a host path that does not exist is a warning, not a failure; so are
 *   special files.  Empty directories inside a synced one are not made.
 * The daemon reads the files with its own rights: file_sync is the
 * owner's configuration. */
#ifndef BANGER_FILESYNC_H
#define BANGER_FILESYNC_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "workspace.h"

int file_sync_apply(const char *image, const struct file_sync *entries, size_t n,
		    const char *home, ws_warn_fn warn, void *ctx, struct berr *err);

#endif
