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
	struct open_how how = {
	    .flags = O_PATH | O_CLOEXEC,
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd = (int)syscall(SYS_openat2, rfd, path + rl + 1, &how, sizeof(how));
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
