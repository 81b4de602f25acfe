/* helper/paths.c: managed roots and the path checks of bangerd-root (see
 * paths.h and docs/privileges.md). */
#define _GNU_SOURCE
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/stat.h>

#include <linux/openat2.h>

#include "util.h"

/* A copy of s safe to print on one log line: control bytes become '?',
 * long paths are cut (with "..."). */
static const char *shown(const char *s, char out[160])
{
	size_t i = 0, n = strlen(s);
	for (; i < n && i < 150; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

int path_clean_check(const char *path, struct berr *err)
{
	char s[160];

	if (!path || !*path)
		return berr_set(err, EINVAL, "empty path");
	size_t n = strnlen(path, PATH_MAX);
	if (n >= PATH_MAX)
		return berr_set(err, EINVAL, "path is longer than %d bytes", PATH_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return berr_set(err, EINVAL, "path %s contains a control character",
					shown(path, s));
	if (path[0] != '/')
		return berr_set(err, EINVAL, "path %s is not absolute", shown(path, s));
	if (n == 1)
		return 0;
	/* Every component between slashes: not empty, not ".", not "..". */
	for (const char *c = path + 1;;) {
		const char *e = strchr(c, '/');
		size_t cl = e ? (size_t)(e - c) : strlen(c);
		if (cl == 0)
			return berr_set(err, EINVAL,
					"path %s has an empty component (\"//\" or a "
					"trailing '/')",
					shown(path, s));
		if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
			return berr_set(err, EINVAL,
					"path %s has a \"%.*s\" component; paths must be "
					"clean",
					shown(path, s), (int)cl, c);
		if (!e)
			return 0;
		c = e + 1;
	}
}

int path_root_check(const char *root, uid_t owner, struct berr *err)
{
	struct stat st;
	char s[160];
	int r;

	if ((r = path_clean_check(root, err)) < 0)
		return berr_wrap(err, "managed root");
	if (strcmp(root, "/") == 0)
		return berr_set(err, EINVAL, "\"/\" cannot be a managed root");
	if (lstat(root, &st) < 0) {
		int e = errno;
		return berr_set(err, e, "managed root %s: %s", shown(root, s), strerror(e));
	}
	if (S_ISLNK(st.st_mode))
		return berr_set(err, ELOOP, "managed root %s is a symlink", shown(root, s));
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "managed root %s is not a directory", shown(root, s));
	_cleanup_free_ char *real = realpath(root, NULL);
	if (!real) {
		int e = errno;
		return berr_set(err, e, "managed root %s: %s", shown(root, s), strerror(e));
	}
	if (strcmp(real, root) != 0)
		return berr_set(err, ELOOP, "managed root %s has a symlink on its path (it is %s)",
				shown(root, s), real);
	if (st.st_uid != 0 && st.st_uid != owner)
		return berr_set(err, EPERM,
				"managed root %s is owned by uid %u, not by root or the "
				"owner (uid %u)",
				shown(root, s), (unsigned)st.st_uid, (unsigned)owner);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return berr_set(err, EPERM,
				"managed root %s is writable by group or others (mode "
				"%04o)",
				shown(root, s), (unsigned)(st.st_mode & 07777));
	return 0;
}

/* The index of the root path lies strictly below, or -1. */
static int root_index(const char *path, const char *const roots[], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!roots[i])
			continue;
		size_t rl = strlen(roots[i]);
		if (rl > 1 && strncmp(path, roots[i], rl) == 0 && path[rl] == '/' && path[rl + 1])
			return (int)i;
	}
	return -1;
}

int path_under_root(const char *path, const char *const roots[], size_t n, bool leaf_must_exist,
		    struct berr *err)
{
	char s[160];
	struct stat st, rst;
	int r;

	if ((r = path_clean_check(path, err)) < 0)
		return r;
	int idx = root_index(path, roots, n);
	if (idx < 0)
		return berr_set(err, EPERM, "path %s is not below a managed root", shown(path, s));
	const char *root = roots[idx];
	size_t rl = strlen(root);

	/* The root itself: still a directory and not a symlink. */
	if (lstat(root, &rst) < 0) {
		int e = errno;
		return berr_set(err, e, "managed root %s: %s", root, strerror(e));
	}
	if (!S_ISDIR(rst.st_mode))
		return berr_set(err, S_ISLNK(rst.st_mode) ? ELOOP : ENOTDIR,
				"managed root %s is no longer a directory", root);

	_cleanup_free_ char *buf = xstrdup(path);
	for (char *p = buf + rl + 1;;) {
		char *slash = strchr(p, '/');
		bool leaf = slash == NULL;
		if (slash)
			*slash = '\0';
		if (lstat(buf, &st) < 0) {
			int e = errno;
			if (e == ENOENT && leaf && !leaf_must_exist)
				return idx;
			if (e == ENOENT)
				return berr_set(err, ENOENT, "%s %s does not exist",
						leaf ? "path" : "directory", shown(buf, s));
			return berr_set(err, e, "%s: %s", shown(buf, s), strerror(e));
		}
		if (S_ISLNK(st.st_mode))
			return berr_set(err, ELOOP,
					"%s is a symlink; no component below a managed "
					"root may be one",
					shown(buf, s));
		if (st.st_dev != rst.st_dev)
			return berr_set(err, EXDEV,
					"%s is on another mount than its managed root %s",
					shown(buf, s), root);
		if (leaf)
			return idx;
		if (!S_ISDIR(st.st_mode))
			return berr_set(err, ENOTDIR, "%s is not a directory", shown(buf, s));
		*slash = '/';
		p = slash + 1;
	}
}

/* The mount id of fd (statx), or its st_dev when the kernel has none. */
static int mount_of(int fd, uint64_t *ret)
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
		return -1;
	*ret = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id
					    : ((uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor);
	return 0;
}

/* The walk of path_openat2() where openat2 is not allowed. */
static int walk_open(int dirfd, const char *rel, int flags, bool beneath)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t mnt0 = 0, mnt;
	int cur = -1, e;

	if (!rel || !*rel || (beneath && rel[0] == '/')) {
		errno = rel && *rel ? EXDEV : ENOENT;
		return -1;
	}
	if (rel[0] == '/') {
		cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		rel++;
	} else {
		cur = dirfd == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)
					: fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	}
	if (cur < 0)
		return -1;
	if (beneath && mount_of(cur, &mnt0) < 0)
		goto fail;
	if (!*rel) { /* "/" itself */
		int fd = openat(cur, ".", flags | O_CLOEXEC);
		e = errno;
		close(cur);
		errno = e;
		return fd;
	}
	buf = strdup(rel);
	if (!buf) {
		errno = ENOMEM;
		goto fail;
	}
	for (char *c = buf;;) {
		char *slash = strchr(c, '/');
		bool last = !slash;
		if (slash)
			*slash = '\0';
		if (!*c || strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			errno = EXDEV;
			goto fail;
		}
		int next = openat(cur, c, last ? flags | O_NOFOLLOW | O_CLOEXEC
					      : O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			goto fail;
		close(cur);
		cur = next;
		struct stat st;
		if (fstat(cur, &st) < 0)
			goto fail;
		if (S_ISLNK(st.st_mode)) { /* O_PATH | O_NOFOLLOW opens a symlink itself */
			errno = ELOOP;
			goto fail;
		}
		if (beneath && mount_of(cur, &mnt) < 0)
			goto fail;
		if (beneath && mnt != mnt0) {
			errno = EXDEV;
			goto fail;
		}
		if (last)
			return cur;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
		c = slash + 1;
	}
fail:
	e = errno;
	if (cur >= 0)
		close(cur);
	errno = e;
	return -1;
}

int path_openat2(int dirfd, const char *rel, int flags, bool beneath)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   (beneath ? RESOLVE_BENEATH | RESOLVE_NO_XDEV : 0),
	};
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return walk_open(dirfd, rel, flags, beneath);
	return fd;
}

int path_open_beneath(const char *root, const char *path, int *ret_fd, struct berr *err)
{
	char s[160];
	size_t rl = strlen(root);

	if (strncmp(path, root, rl) != 0 || path[rl] != '/' || !path[rl + 1])
		return berr_set(err, EPERM, "path %s is not below %s", shown(path, s), root);
	_cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0) {
		int e = errno;
		return berr_set(err, e, "opening managed root %s: %s", root, strerror(e));
	}
	/* No O_NOFOLLOW: with it, O_PATH would open a trailing symlink
	 * itself; without it, RESOLVE_NO_SYMLINKS refuses it with ELOOP. */
	int fd = path_openat2(rfd, path + rl + 1, O_PATH, true);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return berr_set(err, ELOOP, "%s: a component is a symlink", shown(path, s));
		if (e == EXDEV)
			return berr_set(err, EXDEV,
					"%s: a component is another mount or escapes %s",
					shown(path, s), root);
		if (e == ENOENT)
			return berr_set(err, ENOENT, "%s does not exist", shown(path, s));
		return berr_set(err, e, "opening %s: %s", shown(path, s), strerror(e));
	}
	*ret_fd = fd;
	return 0;
}
