/* helper/fusemount.c: banger's tree mounted for its owner (see fusemount.h).
 *
 * The mount options are the ones fusermount3 passes to the kernel for a
 * user's mount; what fusermount3 checks of the mount point (a directory
 * the user owns, reached without symlinks) is checked here too.  The mount
 * table is read with libmount. */
#define _GNU_SOURCE
#include "fusemount.h"

#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

static inline void mnt_tablep(struct libmnt_table **t)
{
	if (*t)
		mnt_unref_table(*t);
}

int fusemount_find(const char *mountpoint, uid_t *ret_uid, int *ret_other, struct berr *err)
{
	__attribute__((cleanup(mnt_tablep))) struct libmnt_table *tb =
		mnt_new_table_from_file("/proc/self/mountinfo");
	char *val = NULL;
	size_t len = 0;
	uint64_t v;

	if (ret_other)
		*ret_other = 0;
	if (!tb)
		return berr_set(err, EIO, "cannot read /proc/self/mountinfo");
	/* No cache is set on the table: the target is compared as given. */
	struct libmnt_fs *fs = mnt_table_find_target(tb, mountpoint, MNT_ITER_BACKWARD);
	if (!fs)
		return 0;
	const char *type = mnt_fs_get_fstype(fs);
	if (!type || strcmp(type, TREE_FSTYPE) != 0) {
		if (ret_other)
			*ret_other = 1;
		return 0;
	}
	if (mnt_fs_get_option(fs, "user_id", &val, &len) != 0 || len == 0 || len > 10)
		return berr_set(err, EIO, "the tree at %s has no user_id", mountpoint);
	char num[16];
	memcpy(num, val, len);
	num[len] = '\0';
	if (parse_u64(num, &v) < 0 || v >= (uid_t)-1)
		return berr_set(err, EIO, "the tree at %s has user_id %s", mountpoint, num);
	if (ret_uid)
		*ret_uid = (uid_t)v;
	return 1;
}

/* An O_PATH descriptor of path, reached without following any symlink. */
static int open_nofollow(const char *path, int flags, int *ret_fd, struct berr *err)
{
	int fd = path_openat2(AT_FDCWD, path, O_PATH | flags, false);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return berr_set(err, ELOOP, "%s: a symlink is on the way; refusing", path);
		return berr_set(err, e, "%s: %s", path, strerror(e));
	}
	*ret_fd = fd;
	return 0;
}

int fusemount_open(const char *mountpoint, uid_t uid, gid_t gid, int *ret_fd, struct berr *err)
{
	_cleanup_close_ int dfd = -1, fuse = -1;
	struct stat st;
	uid_t who;
	int other = 0, r;

	if ((r = path_clean_check(mountpoint, err)) < 0)
		return r;
	if ((r = fusemount_find(mountpoint, &who, &other, err)) < 0)
		return r;
	if (r == 1)
		return berr_set(err, EBUSY,
				"a banger tree (uid %u) is already mounted at %s; unmount it first",
				(unsigned)who, mountpoint);
	if ((r = open_nofollow(mountpoint, O_DIRECTORY, &dfd, err)) < 0)
		return r;
	if (fstat(dfd, &st) < 0)
		return berr_set(err, errno, "%s: %s", mountpoint, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "%s is not a directory", mountpoint);
	if (uid != 0 && st.st_uid != uid)
		return berr_set(err, EPERM, "mount point %s belongs to uid %u, not to uid %u",
				mountpoint, (unsigned)st.st_uid, (unsigned)uid);
	fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse < 0)
		return berr_set(err, errno, "opening /dev/fuse: %s", strerror(errno));
	char opts[160], target[64];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u,default_permissions",
		 fuse, (unsigned)uid, (unsigned)gid);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", dfd);
	if (mount(TREE_SOURCE, target, TREE_FSTYPE, MS_NOSUID | MS_NODEV, opts) < 0)
		return berr_set(err, errno, "mounting the tree at %s: %s", mountpoint,
				strerror(errno));
	*ret_fd = TAKE_FD(fuse);
	return 0;
}

int fusemount_close(const char *mountpoint, uid_t uid, struct berr *err)
{
	_cleanup_close_ int pfd = -1;
	uid_t who = 0;
	int other = 0, r;

	if ((r = path_clean_check(mountpoint, err)) < 0)
		return r;
	if ((r = fusemount_find(mountpoint, &who, &other, err)) < 0)
		return r;
	if (r == 0 && other)
		return berr_set(err, EPERM, "%s is not a banger tree; refusing to unmount it",
				mountpoint);
	if (r == 0)
		return 0;
	if (who != uid)
		return berr_set(err, EPERM, "the tree at %s belongs to uid %u, not to uid %u",
				mountpoint, (unsigned)who, (unsigned)uid);
	/* Through a descriptor of the parent reached without symlinks, and
	 * the leaf not followed either. */
	const char *slash = strrchr(mountpoint, '/');
	_cleanup_free_ char *parent = slash == mountpoint ? xstrdup("/")
		: strndup(mountpoint, (size_t)(slash - mountpoint));
	if (!parent)
		return berr_set(err, ENOMEM, "out of memory");
	if ((r = open_nofollow(parent, O_DIRECTORY, &pfd, err)) < 0)
		return r;
	char target[PATH_MAX];
	snprintf(target, sizeof(target), "/proc/self/fd/%d/%s", pfd, slash + 1);
	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
		return berr_set(err, errno, "unmounting the tree at %s: %s", mountpoint,
				strerror(errno));
	return 0;
}
