/* libFuzzer target: a layer blob (tar, gzip or zstd) scanned, then applied
 * twice, as two layers on top of a small fixed lower layer, into an ext4
 * image in memory (/dev/shm).  Twice, so the input's whiteouts and
 * opaque markers act on its own entries of the layer below, and on the
 * fixed tree (a directory, files, a symlink to /etc, a hard link). */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ociint.h"
#include "util.h"

static int lower_fd = -1;
static char image[64];

static void add(struct archive *a, const char *name, unsigned type, const char *target)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_copy_pathname(e, name);
	if (type == 1) {
		archive_entry_copy_hardlink(e, target);
	} else {
		archive_entry_set_filetype(e, type);
		archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
		if (type == AE_IFLNK)
			archive_entry_copy_symlink(e, target);
		if (type == AE_IFREG)
			archive_entry_set_size(e, 3);
	}
	archive_write_header(a, e);
	if (type == AE_IFREG)
		archive_write_data(a, "abc", 3);
	archive_entry_free(e);
}

static void make_lower(void)
{
	struct archive *a = archive_write_new();
	char buf[64 << 10];
	size_t used = 0;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, buf, sizeof(buf), &used);
	add(a, "etc/", AE_IFDIR, NULL);
	add(a, "etc/passwd", AE_IFREG, NULL);
	add(a, "a/", AE_IFDIR, NULL);
	add(a, "a/b", AE_IFREG, NULL);
	add(a, "a/c/", AE_IFDIR, NULL);
	add(a, "a/c/d", AE_IFREG, NULL);
	add(a, "lnk", AE_IFLNK, "/etc");
	add(a, "hl", 1, "a/b");
	archive_write_close(a);
	archive_write_free(a);
	lower_fd = memfd_create("lower", MFD_CLOEXEC);
	if (lower_fd < 0 || write(lower_fd, buf, used) != (ssize_t)used)
		abort();
	snprintf(image, sizeof(image), "/dev/shm/fuzz-oci-layer-%d.ext4", (int)getpid());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_layer_stats st = { 0 }, lower = { 0 };
	struct oci_fs_geom g;
	struct oci_fs *f = NULL;
	struct berr err = { 0 };
	int fd, r;

	if (lower_fd < 0)
		make_lower();
	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	lseek(lower_fd, 0, SEEK_SET);
	if (oci_layer_scan(lower_fd, "sha256:lower", 1 << 20, NULL, NULL, NULL, &lower, &err) < 0)
		abort();
	lseek(fd, 0, SEEK_SET);
	r = oci_layer_scan(fd, "sha256:fuzz", 32 << 20, NULL, NULL, NULL, &st, &err);
	/* Sized from the scan when it passed; else the minimum, and the
	 * applier must refuse the same input on its own. */
	st.inodes = 2 * st.inodes + lower.inodes;
	st.blocks = 2 * st.blocks + lower.blocks;
	oci_fs_size(&st, 0, &g);
	if (g.blocks > (1u << 20)) /* a 4 GiB sparse image at most */
		g.blocks = 1u << 20, g.inodes = g.inodes > 500000 ? 500000 : g.inodes;
	unlink(image);
	if (oci_fs_create(image, &g, "fuzz", &f, &err) < 0)
		abort();
	lseek(lower_fd, 0, SEEK_SET);
	if (oci_fs_apply(f, lower_fd, "sha256:lower", NULL, 1 << 20, NULL, NULL, NULL, &err) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		lseek(fd, 0, SEEK_SET);
		int a = oci_fs_apply(f, fd, "sha256:fuzz", NULL, 32 << 20, NULL, NULL, NULL, &err);
		if (r == 0 && a < 0 && !oci_fs_full(f) && i == 0) {
			/* the scan passed: only tree rules may refuse it */
			if (!strstr(err.msg, "symlink") && !strstr(err.msg, "not a directory") &&
			    !strstr(err.msg, "hard link") && !strstr(err.msg, "xattrs") &&
			    !strstr(err.msg, "outside the file"))
				abort();
		}
		if (a < 0)
			break;
	}
	oci_fs_close(f, 0, &err);
	unlink(image);
	close(fd);
	return 0;
}
