/* core/vmdisk.c: see vmdisk.h. */
#define _GNU_SOURCE
#include "vmdisk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "filesync.h"
#include "log.h"
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

/* Root clone and work disk, when missing. */
static int create_disks(const struct vmdisk_req *q, bool *ret_first, struct berr *err)
{
	_cleanup_free_ char *root = vmf_path(q->state_dir, q->name, "rootfs.ext4");
	_cleanup_free_ char *work = vmf_path(q->state_dir, q->name, "work.ext4");
	_cleanup_free_ char *dir = vmf_dir(q->state_dir, q->name);
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create %s: %s", dir, strerror(-r));

	*ret_first = access(root, F_OK) < 0;
	if (*ret_first) {
		_cleanup_free_ char *tmp = xasprintf("%s.tmp", root);
		enum clone_method m;
		unlink(tmp);
		r = disk_clone(q->image_path, tmp, &m, err);
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
