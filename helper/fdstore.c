/* helper/fdstore.c: the tree of bangerd.service through systemd's file
 * descriptor store (see fdstore.h). */
#define _GNU_SOURCE
#include "fdstore.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fusemount.h"
#include "paths.h"
#include "util.h"

#define BARRIER_USEC (10ULL * 1000 * 1000)

/* Into the mount namespace of PID 1 (the service manager's, which the
 * owner's login shell shares), unless already there.  systemd 252 runs even
 * an "ExecStartPre=+" command in a mount namespace of its own when the
 * unit has file-system settings (measured in the guest host: a tmpfs it
 * mounts is seen neither by the host nor by the service), so "+" alone
 * does not reach the host.  A "+" command has every capability, setns()
 * included; the process is single-threaded, as setns(CLONE_NEWNS) wants. */
static int enter_host_mount_ns(struct berr *err)
{
	struct stat self, init;

	if (stat("/proc/self/ns/mnt", &self) < 0 || stat("/proc/1/ns/mnt", &init) < 0)
		return berr_set(err, errno, "reading the mount namespaces in /proc: %s",
				strerror(errno));
	if (self.st_dev == init.st_dev && self.st_ino == init.st_ino)
		return 0;
	_cleanup_close_ int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "opening /proc/1/ns/mnt: %s", strerror(errno));
	if (setns(fd, CLONE_NEWNS) < 0)
		return berr_set(err, errno,
				"entering the host's mount namespace (PID 1's): %s; the tree "
				"would be mounted where the owner cannot see it",
				strerror(errno));
	return 0;
}

/* The mount point, created when missing.  Its parent is reached without
 * symlinks and must be root's or the owner's, writable by nobody else
 * (the owner's /run/banger): what is created there cannot be redirected
 * by anyone but the owner, and then only to the owner's own files. */
static int mountpoint_ensure(const char *mountpoint, uid_t uid, gid_t gid, struct berr *err)
{
	const char *slash = strrchr(mountpoint, '/');
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int pfd = -1;
	struct stat st;

	if (!slash || !slash[1] || slash == mountpoint)
		return berr_set(err, EINVAL, "mount point %s must be a directory below another",
				mountpoint);
	parent = strndup(mountpoint, (size_t)(slash - mountpoint));
	if (!parent)
		return berr_set(err, ENOMEM, "out of memory");
	pfd = path_openat2(AT_FDCWD, parent, O_PATH | O_DIRECTORY, false);
	if (pfd < 0) {
		int e = errno;
		return berr_set(err, e, "%s: %s", parent,
				e == ELOOP ? "a symlink is on the way; refusing" : strerror(e));
	}
	if (fstat(pfd, &st) < 0)
		return berr_set(err, errno, "%s: %s", parent, strerror(errno));
	if (st.st_uid != 0 && st.st_uid != uid)
		return berr_set(err, EPERM, "%s belongs to uid %u, not to root or uid %u", parent,
				(unsigned)st.st_uid, (unsigned)uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return berr_set(err, EPERM, "%s is writable by group or others (mode %04o)", parent,
				(unsigned)(st.st_mode & 07777));
	mode_t old = umask(022);
	int r = mkdirat(pfd, slash + 1, 0755);
	int e = errno;
	umask(old);
	if (r < 0 && e != EEXIST)
		return berr_set(err, e, "creating %s: %s", mountpoint, strerror(e));
	/* AT_SYMLINK_NOFOLLOW: a symlink the owner put there meanwhile gets
	 * the owner's own uid, and fusemount_open() refuses it. */
	if (r == 0 && fchownat(pfd, slash + 1, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_set(err, errno, "chown %s: %s", mountpoint, strerror(errno));
	return 0;
}

int fdstore_tree_mount(const char *mountpoint, uid_t uid, gid_t gid, struct berr *err)
{
	_cleanup_close_ int fd = -1;
	uid_t who = 0;
	int other = 0, r;

	if (!getenv("NOTIFY_SOCKET"))
		return berr_set(err, ENOTCONN,
				"--fdstore needs a service manager ($NOTIFY_SOCKET is not set): "
				"it is for bangerd.service's ExecStartPre=+");
	if ((r = path_clean_check(mountpoint, err)) < 0)
		return r;
	if ((r = enter_host_mount_ns(err)) < 0)
		return r;
	if ((r = mountpoint_ensure(mountpoint, uid, gid, err)) < 0)
		return r;
	/* The tree of a daemon that died (ENOTCONN there now, or still held
	 * by nobody): a new daemon gets a new one. */
	if ((r = fusemount_find(mountpoint, &who, &other, err)) < 0)
		return r;
	if (r == 1 && who == uid && (r = fusemount_close(mountpoint, uid, err)) < 0)
		return berr_wrap(err, "removing the earlier tree");
	if ((r = fusemount_open(mountpoint, uid, gid, &fd, err)) < 0)
		return r;
	/* One descriptor of that name: an earlier run's goes first. */
	r = sd_pid_notify_with_fds(0, 0, "FDSTOREREMOVE=1\nFDNAME=" TREE_FDNAME, NULL, 0);
	if (r > 0)
		r = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" TREE_FDNAME "\nFDPOLL=0",
					   &fd, 1);
	/* The manager reads the message after we are gone otherwise, and
	 * then cannot tell which unit it is for. */
	if (r > 0)
		r = sd_notify_barrier(0, BARRIER_USEC);
	if (r <= 0) {
		struct berr e2 = {0};
		int e = r < 0 ? -r : ENOTCONN;
		fusemount_close(mountpoint, uid, &e2);
		return berr_set(err, e, "handing the tree's descriptor to the service manager: %s",
				strerror(e));
	}
	return 0;
}

int fdstore_tree_unmount(const char *mountpoint, uid_t uid, struct berr *err)
{
	int r = enter_host_mount_ns(err);
	return r < 0 ? r : fusemount_close(mountpoint, uid, err);
}
