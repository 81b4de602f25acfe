/* core/vmroot.c: see vmroot.h. */
#define _GNU_SOURCE
#include "vmroot.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "util.h"
#include "vmfiles.h"

char *vmroot_path(const char *state_dir, const char *name)
{
	char *ov = vmf_path(state_dir, name, VMROOT_OVERLAY);
	if (access(ov, F_OK) == 0)
		return ov;
	free(ov);
	return vmf_path(state_dir, name, VMROOT_FILE);
}

bool vmroot_made(const char *state_dir, const char *name)
{
	_cleanup_free_ char *root = vmf_path(state_dir, name, VMROOT_FILE);
	_cleanup_free_ char *ov = vmf_path(state_dir, name, VMROOT_OVERLAY);
	struct stat st;
	return lstat(root, &st) == 0 || access(ov, F_OK) == 0;
}

void vmroot_drop(const char *state_dir, const char *name)
{
	static const char *const all[] = { VMROOT_FILE, VMROOT_OVERLAY, VMROOT_BASE };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		_cleanup_free_ char *p = vmf_path(state_dir, name, all[i]);
		unlink(p);
	}
}

int vmroot_overlay(const char *state_dir, const char *name, const char *base, struct berr *err)
{
	_cleanup_free_ char *ov = vmf_path(state_dir, name, VMROOT_OVERLAY);
	_cleanup_free_ char *bl = vmf_path(state_dir, name, VMROOT_BASE);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", ov);
	struct stat st;

	if (stat(base, &st) < 0)
		return berr_set(err, errno, "%s: %s", base, strerror(errno));
	unlink(bl);
	unlink(tmp);
	/* A hard link, not a copy: the same read-only inode. */
	if (link(base, bl) < 0)
		return berr_set(err, errno, "cannot link %s to %s: %s", bl, base, strerror(errno));
	int r = disk_overlay(tmp, VMROOT_BASE, (uint64_t)st.st_size, err);
	if (r == 0 && rename(tmp, ov) < 0)
		r = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		unlink(bl);
	}
	return r;
}

int vmroot_flatten(const char *state_dir, const char *name, struct berr *err)
{
	_cleanup_free_ char *ov = vmf_path(state_dir, name, VMROOT_OVERLAY);
	_cleanup_free_ char *bl = vmf_path(state_dir, name, VMROOT_BASE);
	_cleanup_free_ char *root = vmf_path(state_dir, name, VMROOT_FILE);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", root);

	if (access(ov, F_OK) < 0)
		return 0;
	unlink(tmp);
	int64_t t0 = mono_ms();
	int r = disk_flatten(ov, tmp, err);
	if (r == 0 && rename(tmp, root) < 0)
		r = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r < 0) {
		unlink(tmp);
		return berr_wrap(err, "making the root disk one file");
	}
	unlink(ov);
	unlink(bl);
	vmf_note(state_dir, name, "root disk: the overlay of the snapshot's disk became %s "
		 "(%lld ms)", VMROOT_FILE, (long long)(mono_ms() - t0));
	return 0;
}
