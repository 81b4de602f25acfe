/* core/workspace.h: a host directory's listed files copied into a VM's
 * work disk before boot (docs/workspace.md).
 *
 * The caller (the shim, or any script) makes a workspace directory:
 *
 *   DIR/repo       the repository: a symlink to it, or a directory
 *   DIR/list       the files to copy, relative to repo/, NUL-separated
 *                  (git ls-files -z)
 *   DIR/git/       optional: the guest's .git (written to /root/repo/.git)
 *   DIR/git.list   its files, relative to git/, NUL-separated
 *
 * and asks the daemon to copy it.  Everything under DIR is opened as the
 * caller would see it: every file and directory is checked against the
 * caller's uid, gid and groups (the FUSE request's), no symlink is
 * followed below repo/ or git/ (a listed symlink is copied as a symlink),
 * and list entries that are absolute, hold "." or ".." components, empty
 * components, control characters or a ".git" component are refused.
 *
 * In the work disk (mounted at /root in the guest) the files land under
 * /repo: directories 0755, files 0644 or 0755 (any exec bit on the host),
 * symlinks as they are, everything owned by root, with the host's mtimes.
 * Subdirectories in the list (gitlinks: submodules), files that vanished
 * since they were listed and special files are skipped with a warning
 * line each.
 *
 * No FUSE here: the daemon passes the identity it got from FUSE. */
#ifndef BANGER_WORKSPACE_H
#define BANGER_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

struct workdisk;

/* Where the repository goes in the work disk (/root/repo in the guest). */
#define WS_GUEST_DIR "/repo"
/* Bounds on what a caller can make the daemon hold. */
#define WS_LIST_MAX_BYTES (256u << 20)
#define WS_LIST_MAX_ENTRIES (4u << 20)
#define WS_MAX_DEPTH 128

/* Who asked: the daemon opens files only as far as this identity could. */
struct ws_ident {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;   /* supplementary groups (may be NULL) */
	size_t ngroups;
};

/* One warning line ("skipped sub/mod: a directory (a submodule?)"), no
 * newline.  May be NULL. */
typedef void (*ws_warn_fn)(void *ctx, const char *line);

/* A parsed list: sorted (strcmp), duplicates dropped. */
struct ws_list {
	char *buf;        /* the entries, NUL-terminated, point into this */
	char **path;
	size_t n;
};

#define WS_LIST_ALLOW_DOTGIT 1  /* the git/ list: ".git" components are fine */

/* Parse NUL-separated relative paths (a final NUL is optional; an empty
 * input is an empty list).  Refused with -EINVAL and a sentence naming the
 * entry: an empty entry, an absolute path, empty, "." or ".." components,
 * a trailing '/', control characters, a component over 255 bytes, a path
 * over PATH_MAX, more than WS_MAX_DEPTH components, a ".git" component
 * (unless WS_LIST_ALLOW_DOTGIT), or a path listed both as a file and as a
 * directory of another entry ("a" and "a/b").  -EFBIG past the bounds
 * above. */
int ws_list_parse(const char *data, size_t len, int flags, struct ws_list *ret,
		  struct berr *err);
void ws_list_free(struct ws_list *l);

/* Totals of a copy (also what --dry-run style callers show). */
struct ws_stats {
	uint64_t files, dirs, symlinks, skipped;
	uint64_t bytes;        /* file data written */
	uint64_t need_bytes;   /* the space the copy was estimated to need */
	uint64_t free_bytes;   /* free space in the disk before it */
};

/* Copy the workspace directory wsdir (absolute; layout above) into the
 * unmounted work disk image, under WS_GUEST_DIR, as identity id.
 *
 * Before anything is written, every listed entry is looked at (type,
 * size, the caller's right to read it) and the space and inodes it needs
 * are compared with what the disk has free: a repository that does not
 * fit fails with -ENOSPC and a sentence giving both sizes, and the image
 * is not touched.  A file the caller cannot read, a directory it cannot
 * search, or a list that is refused fails the same way (-EACCES, -EINVAL).
 * An error while writing (I/O, a file that became unreadable) can leave
 * part of the copy behind: the caller's contract is to write into a work
 * disk made for this (workdisk_create) and to delete it on failure
 * (docs/workspace.md).  WS_GUEST_DIR must not exist yet (-EEXIST). */
int workspace_write(const char *image, const char *wsdir, const struct ws_ident *id,
		    ws_warn_fn warn, void *ctx, struct ws_stats *ret_stats,
		    struct berr *err);

/* ---- the pieces, also used by file_sync (core/filesync.c) ------------- */

/* Open directory path (absolute) as id would: following symlinks as the
 * kernel does, then requiring search permission for id on every directory
 * of the path it resolved to.  id NULL: no check.  Returns an O_PATH
 * descriptor in *ret_fd. */
int ws_open_dir(const char *path, const struct ws_ident *id, int *ret_fd,
		struct berr *err);

/* openat2(dir, name) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS and O_NOFOLLOW | O_CLOEXEC added to flags: no
 * symlink anywhere on the way, nothing outside dir.  -1 with errno. */
int ws_openat(int dir, const char *name, int flags);

/* May id open st (the file behind fd; fd -1 when unknown) for reading
 * (R_OK) or, for a directory, searching (X_OK)?  Unix mode bits; a file
 * that has a POSIX ACL is allowed only to its owner (and root), which
 * never allows more than the kernel would. */
bool ws_may(const struct stat *st, int fd, const struct ws_ident *id, int want);

struct ws_copy_opts {
	const struct ws_ident *id;  /* NULL: the daemon's own files, no check */
	bool normalize;             /* 0644/0755 by exec bit; else file_mode/dir_mode */
	mode_t file_mode, dir_mode;
	bool symlinks;              /* copy symlinks; false: skip with a warning */
	const char *what;           /* "the repository": for sentences */
	const char *prefix;         /* shown before paths in warnings ("" ok) */
};

struct ws_plan;
/* Look at every entry of list under src_dir (fstat, access checks): the
 * first pass of a copy.  Warnings for skipped entries are given here. */
int ws_plan_make(int src_dir, const struct ws_list *list, const struct ws_copy_opts *o,
		 ws_warn_fn warn, void *ctx, struct ws_plan **ret, struct berr *err);
/* Blocks (of block_size bytes) and inodes the planned copy needs. */
void ws_plan_need(const struct ws_plan *p, uint32_t block_size, uint64_t *ret_blocks,
		  uint64_t *ret_inodes);
/* The second pass: write the planned entries under directory dest. */
int ws_plan_write(struct ws_plan *p, struct workdisk *wd, uint32_t dest, ws_warn_fn warn,
		  void *ctx, struct ws_stats *stats, struct berr *err);
void ws_plan_free(struct ws_plan *p);

#endif
