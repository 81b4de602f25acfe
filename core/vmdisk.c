/* core/vmdisk.c: see vmdisk.h. */
#define _GNU_SOURCE
#include "vmdisk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "dmclone.h"
#include "filesync.h"
#include "log.h"
#include "priv.h"
#include "util.h"
#include "vmfiles.h"

static void sync_warn(void *ctx, const char *line)
{
	const struct vmdisk_req *q = ctx;
	vmf_note(q->state_dir, q->name, "file_sync: %s", line);
}

int vmdisk_file_sync(const struct vmdisk_req *q, const char *image, struct berr *err)
{
	if (!q->n_file_sync)
		return 0;
	if (!q->home)
		return berr_set(err, ENOENT, "file_sync needs the owner's home directory, which is "
				"unknown");
	int r = file_sync_apply(image, q->file_sync, q->n_file_sync, q->home, sync_warn,
				(void *)q, err);
	return r < 0 ? berr_wrap(err, "file_sync") : 0;
}

/* ---- dm-snapshot root disks ---- */

static bool dm_usable(struct priv *p, const char *state_dir, char *why, size_t len)
{
	char **v = NULL;
	size_t n = 0;
	struct berr e = {0};

	if (!p)
		return snprintf(why, len, "no privileged side to ask"), false;
	int r = priv_dm_list(p, state_dir, &v, &n, &e);
	priv_strv_free(v);
	if (r < 0)
		snprintf(why, len, "%.150s", e.msg);
	return r == 0;
}

int vmdisk_clone_choose(const char *pref, struct priv *p, const char *state_dir, bool jailed,
			enum clone_method *ret, char *why, size_t len)
{
	enum clone_method want = CLONE_AUTO, probed = CLONE_SPARSE_COPY;
	char dmwhy[200] = "", scratch[8];
	int r = 0;

	if (!why)
		why = scratch, len = sizeof(scratch);
	if (clone_method_parse(pref ? pref : "auto", &want) < 0) {
		*ret = CLONE_SPARSE_COPY;
		snprintf(why, len, "disk_clone \"%.32s\" is not a method; copying", pref);
		return -EINVAL;
	}
	if (want == CLONE_AUTO || want == CLONE_REFLINK)
		(void)disk_probe_clone(state_dir, &probed, NULL);
	switch (want) {
	case CLONE_AUTO:
		if (probed == CLONE_REFLINK) {
			*ret = CLONE_REFLINK;
			snprintf(why, len, "auto: the file system of %s shares extents", state_dir);
		} else if (jailed) {
			*ret = CLONE_SPARSE_COPY;
			snprintf(why, len, "auto: no reflink on %s, and Firecracker is jailed "
				 "(jailer_bin): a jail cannot hold a dm-snapshot's device; clones "
				 "copy data", state_dir);
		} else if (dm_usable(p, state_dir, dmwhy, sizeof(dmwhy))) {
			*ret = CLONE_DM_SNAPSHOT;
			snprintf(why, len, "auto: no reflink on %s; device-mapper %s", state_dir,
				 priv_mode(p) == PRIV_HELPER ? "through bangerd-root" : "in-process (root)");
		} else {
			*ret = CLONE_SPARSE_COPY;
			snprintf(why, len, "auto: no reflink on %s, no dm-snapshot (%.150s); clones "
				 "copy data", state_dir, dmwhy);
		}
		return 0;
	case CLONE_REFLINK:
		*ret = CLONE_REFLINK;
		if (probed == CLONE_REFLINK) {
			snprintf(why, len, "config: the file system of %s shares extents", state_dir);
			return 0;
		}
		snprintf(why, len, "config asks for reflink, but the file system of %s cannot "
			 "share extents: VM starts fail", state_dir);
		return -EOPNOTSUPP;
	case CLONE_DM_SNAPSHOT:
		*ret = CLONE_DM_SNAPSHOT;
		if (jailed) {
			snprintf(why, len, "config asks for dm-snapshot, but Firecracker is jailed "
				 "(jailer_bin): a jail cannot hold its device node; jailed "
				 "Firecracker starts fail");
			return -EOPNOTSUPP;
		}
		if (dm_usable(p, state_dir, dmwhy, sizeof(dmwhy))) {
			snprintf(why, len, "config: device-mapper %s", priv_mode(p) == PRIV_HELPER
				 ? "through bangerd-root" : "in-process (root)");
			return 0;
		}
		snprintf(why, len, "config asks for dm-snapshot, but %.150s: VM starts fail", dmwhy);
		return -ENODEV;
	case CLONE_SPARSE_COPY:
		*ret = CLONE_SPARSE_COPY;
		snprintf(why, len, "config: clones copy data");
		return r;
	}
	return r;
}

/* rootfs.ext4 -> dev, replaced atomically (a symlink under a temp name). */
static int root_link(const char *root, const char *dev, struct berr *err)
{
	char cur[PATH_MAX];
	ssize_t n = readlink(root, cur, sizeof(cur) - 1);
	if (n > 0 && (size_t)n == strlen(dev) && memcmp(cur, dev, (size_t)n) == 0)
		return 0;
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", root);
	unlink(tmp);
	if (symlink(dev, tmp) < 0)
		return berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
	if (rename(tmp, root) < 0) {
		int e = errno;
		unlink(tmp);
		return berr_set(err, e, "cannot rename %s: %s", tmp, strerror(e));
	}
	return 0;
}

/* The VM's snapshot device, made (first start: a fresh COW file) or found
 * again (later starts; after a reboot it is made again over the same COW
 * file, the VM's writes in it). */
static int dm_root(const struct vmdisk_req *q, const char *root, bool first, struct berr *err)
{
	_cleanup_free_ char *cow = vmf_path(q->state_dir, q->name, DMCLONE_COW_FILE);
	_cleanup_free_ char *dev = NULL;
	int64_t ms = 0;
	int r;

	if (!q->priv)
		return berr_set(err, EINVAL, "dm-snapshot clones need the privileged side (priv)");
	if (first) {
		struct stat st;
		/* A device of an earlier VM of this name, or of a start that
		 * crashed half-way, goes first: a new COW file is a new disk. */
		if ((r = priv_dm_remove(q->priv, q->state_dir, q->name, err)) < 0)
			return berr_wrap(err, "removing an earlier device of vm %s", q->name);
		if (stat(q->image_path, &st) < 0)
			return berr_set(err, errno, "image %s: %s", q->image_path, strerror(errno));
		unlink(cow);
		_cleanup_close_ int fd = open(cow, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return berr_set(err, errno, "cannot create %s: %s", cow, strerror(errno));
		if (ftruncate(fd, (off_t)dmclone_cow_size((uint64_t)st.st_size)) < 0) {
			int e = errno;
			unlink(cow);
			return berr_set(err, e, "sizing %s: %s", cow, strerror(e));
		}
	}
	r = priv_dm_clone(q->priv, q->state_dir, q->name, q->image_path, &dev, &ms, err);
	if (r < 0) {
		if (first)
			unlink(cow);
		return berr_wrap(err, "dm-snapshot of %s", q->image_path);
	}
	if ((r = root_link(root, dev, err)) < 0) {
		if (first) {
			struct berr e2 = {0};
			priv_dm_remove(q->priv, q->state_dir, q->name, &e2);
			unlink(cow);
		}
		return r;
	}
	if (first)
		vmf_note(q->state_dir, q->name, "root disk: dm-snapshot %s%s of %s at %s (%lld ms)",
			 DMCLONE_NAME_PREFIX, q->name, q->image_path, dev, (long long)ms);
	return 0;
}

int vmdisk_forget(struct priv *p, const char *state_dir, const char *name, struct berr *err)
{
	_cleanup_free_ char *root = vmf_path(state_dir, name, "rootfs.ext4");
	_cleanup_free_ char *cow = vmf_path(state_dir, name, DMCLONE_COW_FILE);
	struct stat st;

	if (!p || ((lstat(root, &st) < 0 || !S_ISLNK(st.st_mode)) && access(cow, F_OK) < 0))
		return 0;
	return priv_dm_remove(p, state_dir, name, err);
}

int vmdisk_sweep(struct priv *p, const char *state_dir, const char *const *live, size_t n)
{
	char **v = NULL;
	size_t nv = 0;
	struct berr e = {0};
	int removed = 0;

	if (!p)
		return -EINVAL;
	int r = priv_dm_list(p, state_dir, &v, &nv, &e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nv; i++) {
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = strcmp(v[i], live[j]) == 0;
		if (keep)
			continue;
		if (priv_dm_remove(p, state_dir, v[i], &e) < 0) {
			blog("orphaned device %s%s stays: %s", DMCLONE_NAME_PREFIX, v[i], e.msg);
			continue;
		}
		blog("removed orphaned device %s%s (no VM of that name)", DMCLONE_NAME_PREFIX,
		     v[i]);
		removed++;
	}
	priv_strv_free(v);
	return removed;
}

/* ---- the disks ---- */

/* Root clone and work disk, when missing. */
static int create_disks(const struct vmdisk_req *q, bool *ret_first, struct berr *err)
{
	_cleanup_free_ char *root = vmf_path(q->state_dir, q->name, "rootfs.ext4");
	_cleanup_free_ char *work = vmf_path(q->state_dir, q->name, "work.ext4");
	_cleanup_free_ char *dir = vmf_dir(q->state_dir, q->name);
	struct stat rst;
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create %s: %s", dir, strerror(-r));

	bool linked = lstat(root, &rst) == 0 && S_ISLNK(rst.st_mode);
	*ret_first = !linked && !vmroot_made(q->state_dir, q->name);
	if (!linked && !*ret_first && access(root, F_OK) < 0) {
		/* an overlay (vmroot_overlay): nothing to make */
	} else if (linked || (*ret_first && q->clone == CLONE_DM_SNAPSHOT)) {
		/* A VM made as a dm snapshot stays one, whatever the config
		 * says now; a VM made otherwise stays a file. */
		if ((r = dm_root(q, root, *ret_first, err)) < 0)
			return berr_wrap(err, "the root disk");
	} else if (*ret_first) {
		_cleanup_free_ char *tmp = xasprintf("%s.tmp", root);
		enum clone_method m;
		unlink(tmp);
		r = disk_clone_as(q->image_path, tmp, q->clone, &m, err);
		if (r < 0)
			return berr_wrap(err, "cloning the root disk");
		if (rename(tmp, root) < 0) {
			unlink(tmp);
			return berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
		}
		vmf_note(q->state_dir, q->name, "root disk cloned from %s (%s)", q->image_path,
			 clone_method_name(m));
	}
	if (access(work, F_OK) < 0) {
		_cleanup_free_ char *tmp = xasprintf("%s.tmp", work);
		unlink(tmp);
		r = workdisk_create(tmp, q->disk_size, "work", err);
		if (r < 0)
			return berr_wrap(err, "creating the work disk");
		if ((r = vmdisk_file_sync(q, tmp, err)) < 0) {
			unlink(tmp);
			return r;
		}
		if (rename(tmp, work) < 0) {
			unlink(tmp);
			return berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
		}
		char sz[32];
		format_size(q->disk_size, sz, sizeof(sz));
		vmf_note(q->state_dir, q->name, "work disk created (%s, ext4)", sz);
	}
	return 0;
}

/* authorized_keys on the work disk (/root in the guest), every start; the
 * hostname on the root disk, the first time. */
static int seed(const struct vmdisk_req *q, bool first, struct berr *err)
{
	_cleanup_free_ char *root = vmf_path(q->state_dir, q->name, "rootfs.ext4");
	_cleanup_free_ char *work = vmf_path(q->state_dir, q->name, "work.ext4");
	_cleanup_free_ char *keys = xasprintf("%s\n", q->pubkey);
	struct workdisk_file ak = {
		.guest_path = "/.ssh/authorized_keys", .data = keys, .len = strlen(keys),
		.mode = 0600, .uid = 0, .gid = 0,
	};
	int ret = workdisk_mkdir(work, "/.ssh", 0700, 0, 0, err);
	if (ret == 0)
		ret = workdisk_write_files(work, &ak, 1, 0700, err);
	if (ret < 0 && first)
		return berr_wrap(err, "writing authorized_keys to the work disk");
	if (ret < 0)
		blog("vm %s: authorized_keys not refreshed (%s); the previous one stays", q->name,
		     err->msg);
	if (first) {
		_cleanup_free_ char *hn = xasprintf("%s\n", q->name);
		struct workdisk_file f = {
			.guest_path = "/etc/hostname", .data = hn, .len = strlen(hn),
			.mode = 0644, .uid = 0, .gid = 0,
		};
		ret = workdisk_write_files(root, &f, 1, 0755, err);
		if (ret < 0)
			return berr_wrap(err, "writing /etc/hostname to the root disk");
	}
	return 0;
}

int vmdisk_prepare(const struct vmdisk_req *q, bool *ret_first, struct berr *err)
{
	int r = create_disks(q, ret_first, err);
	if (r == 0)
		r = seed(q, *ret_first, err);
	return r;
}
