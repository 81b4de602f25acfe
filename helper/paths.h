/* helper/paths.h: the checks that keep bangerd-root's path operations
 * inside the directories banger manages (DESIGN.md §7).
 *
 * A managed root (state, runtime, cache dir) is fixed when the helper
 * starts.  A path a client sends is accepted only when it is absolute and
 * already clean (no empty, "." or ".." component: they are refused, never
 * resolved), lies strictly below one of the roots, and no existing
 * component below that root is a symlink or another mount (lstat walk).
 * The walk is advice for good error messages; the operation itself then
 * opens the path with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_XDEV) from an fd of the root, so swapping a component for a
 * symlink between the check and the use does not work either. */
#ifndef BANGER_HELPER_PATHS_H
#define BANGER_HELPER_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Syntax only: absolute, at most PATH_MAX - 1 bytes, no empty component
 * ("//", a trailing '/'), no "." or ".." component, no control character.
 * -EINVAL otherwise. */
int path_clean_check(const char *path, struct berr *err);

/* For the helper's configuration: root must pass path_clean_check, not be
 * "/", be an existing directory that is not a symlink, have no symlink
 * anywhere on its path (realpath(root) is root), be owned by root or by
 * owner, and not be writable by group or others. */
int path_root_check(const char *root, uid_t owner, struct berr *err);

/* Is path strictly below one of roots[0..n), with no existing component
 * below the root a symlink or a mount point?  Returns the index of the root
 * (>= 0), or a negative errno: -EINVAL (not clean), -EPERM (under no root),
 * -ELOOP (a symlink), -ENOTDIR (a non-directory in the middle), -EXDEV
 * (another mount), -ENOENT (a missing directory in the middle, or a missing
 * leaf when leaf_must_exist).  A missing leaf is fine otherwise. */
int path_under_root(const char *path, const char *const roots[], size_t n, bool leaf_must_exist,
		    struct berr *err);

/* Open path, which must lie below root, as an O_PATH fd without following
 * any symlink or crossing a mount: openat2() from an O_PATH fd of root with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV. */
int path_open_beneath(const char *root, const char *path, int *ret_fd, struct berr *err);

/* openat2(dirfd, rel, flags | O_CLOEXEC) with RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS, plus RESOLVE_BENEATH | RESOLVE_NO_XDEV when
 * beneath.  Where openat2 answers ENOSYS (a seccomp filter: systemd's
 * RestrictSUIDSGID=, which bangerd-root.service sets, does so because
 * openat2's flags cannot be inspected), the same is done by hand: one
 * openat(O_PATH | O_NOFOLLOW) per component from dirfd, refusing a symlink
 * (ELOOP), a mount crossing when beneath (EXDEV, by mount id), a
 * non-directory in the middle (ENOTDIR), and "." or ".." anywhere (EXDEV:
 * never resolved); the last component is opened with flags | O_NOFOLLOW.
 * rel is relative when beneath; otherwise it may be absolute (resolved
 * from "/").  Returns the descriptor, or -1 with errno set. */
int path_openat2(int dirfd, const char *rel, int flags, bool beneath);

#endif
