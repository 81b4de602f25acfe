/* core/disk.c: clone a VM's root image.
 *
 * FICLONE shares the extents of the source (reflink: instant, no space).
 * Where the filesystem cannot do that, copy only the data extents found
 * with SEEK_DATA/SEEK_HOLE, so a mostly empty image stays mostly holes.
 * The work disk (an ext4 filesystem made with libext2fs) is in workdisk.c.
 * A QEMU restore's root disk may instead be a qcow2 overlay of the
 * snapshot's (qemu-img: disk_overlay, disk_flatten). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <string.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk.h"
#include "util.h"

#define COPY_CHUNK (1 << 20)

const char *clone_method_name(enum clone_method m)
{
	switch (m) {
	case CLONE_AUTO:
		return "auto";
	case CLONE_REFLINK:
		return "reflink";
	case CLONE_SPARSE_COPY:
		return "sparse-copy";
	case CLONE_DM_SNAPSHOT:
		return "dm-snapshot";
	}
	return "unknown";
}

int clone_method_parse(const char *s, enum clone_method *ret)
{
	const enum clone_method all[] = {CLONE_AUTO, CLONE_REFLINK, CLONE_SPARSE_COPY,
					 CLONE_DM_SNAPSHOT};
	for (size_t i = 0; s && i < ARRAY_SIZE(all); i++)
		if (strcmp(s, clone_method_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

/* Errors from FICLONE that mean "this filesystem or pair of files cannot
 * share extents", as opposed to a real I/O failure. */
static bool reflink_unsupported(int e)
{
	return e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY ||
	       e == ENOSYS;
}

static bool all_zero(const char *buf, size_t len)
{
	return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

/* Copy [off, off+len) with pread/pwrite.  dst was ftruncated to full size,
 * so blocks of zeros are skipped and stay holes. */
static int copy_rw(int in, int out, off_t off, off_t len, const char *src,
		   struct berr *err)
{
	_cleanup_free_ char *buf = xmalloc(COPY_CHUNK);

	while (len > 0) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = pread(in, buf, want, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "reading %s at offset %lld failed: %s",
					src, (long long)off, strerror(errno));
		}
		if (n == 0)
			return berr_set(err, EIO, "%s shrank while it was being copied", src);
		if (!all_zero(buf, (size_t)n)) {
			for (ssize_t done = 0; done < n;) {
				ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);

				if (w < 0) {
					if (errno == EINTR)
						continue;
					return berr_set(err, errno, "writing the copy of %s failed: %s",
							src, strerror(errno));
				}
				done += w;
			}
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Copy one data extent.  *use_cfr is cleared (for the rest of the copy)
 * when copy_file_range is not available between these files. */
static int copy_extent(int in, int out, off_t off, off_t len, bool *use_cfr,
		       const char *src, struct berr *err)
{
	while (len > 0 && *use_cfr) {
		loff_t oi = off, oo = off;
		size_t want = len < (1 << 30) ? (size_t)len : (1 << 30);
		ssize_t n = copy_file_range(in, &oi, out, &oo, want, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EINVAL) {
				*use_cfr = false;
				break;
			}
			return berr_set(err, errno, "copying %s failed: %s", src,
					strerror(errno));
		}
		if (n == 0)
			return berr_set(err, EIO, "%s shrank while it was being copied", src);
		off += n;
		len -= n;
	}
	return copy_rw(in, out, off, len, src, err);
}

static int sparse_copy(int in, int out, off_t size, const char *src, struct berr *err)
{
	bool use_cfr = true;
	off_t off = 0;
	int r;

	if (ftruncate(out, size) < 0)
		return berr_set(err, errno, "sizing the copy of %s failed: %s", src,
				strerror(errno));

	while (off < size) {
		off_t data = lseek(in, off, SEEK_DATA);
		off_t hole;

		if (data < 0) {
			if (errno == ENXIO) /* only a hole is left */
				return 0;
			if (errno == EINVAL || errno == EOPNOTSUPP) /* no SEEK_DATA here */
				return copy_extent(in, out, off, size - off, &use_cfr, src, err);
			return berr_set(err, errno, "finding data in %s failed: %s", src,
					strerror(errno));
		}
		if (data >= size)
			return 0;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return berr_set(err, errno, "finding holes in %s failed: %s", src,
					strerror(errno));
		if (hole > size)
			hole = size;
		r = copy_extent(in, out, data, hole - data, &use_cfr, src, err);
		if (r < 0)
			return r;
		off = hole;
	}
	return 0;
}

static int clone_fds(int in, int out, const char *src, enum clone_method how,
		     enum clone_method *ret_method, struct berr *err)
{
	struct stat st;
	int r;

	if (fstat(in, &st) < 0)
		return berr_set(err, errno, "cannot stat %s: %s", src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s is not a regular file", src);

	if (how != CLONE_SPARSE_COPY) {
		if (ioctl(out, FICLONE, in) == 0) {
			*ret_method = CLONE_REFLINK;
			return 0;
		}
		if (!reflink_unsupported(errno))
			return berr_set(err, errno, "reflinking %s failed: %s", src,
					strerror(errno));
		if (how == CLONE_REFLINK)
			return berr_set(err, EOPNOTSUPP,
					"disk_clone is reflink, but the file system cannot share "
					"%s's extents (%s)",
					src, strerror(errno));
	}

	r = sparse_copy(in, out, st.st_size, src, err);
	if (r < 0)
		return r;
	*ret_method = CLONE_SPARSE_COPY;
	return 0;
}

int disk_clone(const char *src, const char *dst, enum clone_method *ret_method,
	       struct berr *err)
{
	return disk_clone_as(src, dst, CLONE_AUTO, ret_method, err);
}

int disk_clone_as(const char *src, const char *dst, enum clone_method how,
		  enum clone_method *ret_method, struct berr *err)
{
	_cleanup_close_ int in = -1, out = -1;
	enum clone_method method = CLONE_SPARSE_COPY;
	int r;

	if (how == CLONE_DM_SNAPSHOT)
		return berr_set(err, EINVAL, "a dm snapshot is not a file copy (core/vmdisk.c)");
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return berr_set(err, errno, "cannot open disk image %s: %s", src,
				strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (out < 0)
		return berr_set(err, errno, "cannot create disk %s: %s", dst, strerror(errno));

	r = clone_fds(in, out, src, how, &method, err);
	if (r >= 0 && fsync(out) < 0)
		r = berr_set(err, errno, "flushing disk %s failed: %s", dst, strerror(errno));
	if (r >= 0 && close(TAKE_FD(out)) < 0)
		r = berr_set(err, errno, "closing disk %s failed: %s", dst, strerror(errno));
	if (r < 0) {
		(void)unlink(dst);
		return berr_wrap(err, "cloning %s to %s", src, dst);
	}
	if (ret_method)
		*ret_method = method;
	return 0;
}

int disk_probe_clone(const char *dir, enum clone_method *ret_method, struct berr *err)
{
	_cleanup_free_ char *a = xasprintf("%s/.banger-probe-XXXXXX", dir);
	_cleanup_free_ char *b = xasprintf("%s/.banger-probe-XXXXXX", dir);
	_cleanup_close_ int fa = -1, fb = -1;
	char block[4096];
	enum clone_method method = CLONE_SPARSE_COPY;
	ssize_t w;
	int r = 0;

	fa = mkostemp(a, O_CLOEXEC);
	if (fa < 0)
		return berr_set(err, errno, "cannot create a probe file in %s: %s", dir,
				strerror(errno));
	memset(block, 0x5a, sizeof(block));
	w = pwrite(fa, block, sizeof(block), 0);
	if (w != (ssize_t)sizeof(block)) {
		int e = w < 0 ? errno : EIO;

		r = berr_set(err, e, "writing a probe file in %s failed: %s", dir,
			     strerror(e));
		goto out;
	}
	fb = mkostemp(b, O_CLOEXEC);
	if (fb < 0) {
		r = berr_set(err, errno, "cannot create a probe file in %s: %s", dir,
			     strerror(errno));
		goto out;
	}
	if (ioctl(fb, FICLONE, fa) == 0)
		method = CLONE_REFLINK;
	else if (reflink_unsupported(errno))
		method = CLONE_SPARSE_COPY;
	else
		r = berr_set(err, errno, "probing reflink support in %s failed: %s", dir,
			     strerror(errno));
out:
	(void)unlink(a);
	if (fb >= 0)
		(void)unlink(b);
	if (r < 0)
		return r;
	if (ret_method)
		*ret_method = method;
	return 0;
}

/* ---- qcow2 overlays (qemu-img) ---- */

bool disk_is_overlay(const char *path)
{
	size_t n = strlen(path), s = strlen(DISK_OVERLAY_SUFFIX);
	return n > s && strcmp(path + n - s, DISK_OVERLAY_SUFFIX) == 0;
}

/* Run qemu-img with argv[1..]; its stderr (the reason, when it fails) is
 * kept for the error. */
static int qemu_img(const char **argv, struct berr *err)
{
	_cleanup_free_ char *prog = find_program("qemu-img");
	_cleanup_close_ int rd = -1;
	posix_spawn_file_actions_t fa;
	int pipefd[2], st = 0, r;
	pid_t pid;
	char msg[512];
	size_t used = 0;

	if (!prog)
		return berr_set(err, ENOENT, "qemu-img is not installed (Debian: qemu-utils)");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe: %s", strerror(errno));
	rd = pipefd[0];
	argv[0] = prog;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawn(&pid, prog, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0)
		return berr_set(err, r, "running qemu-img: %s", strerror(r));
	for (;;) {
		ssize_t n = read(rd, msg + used, sizeof(msg) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + (size_t)n < sizeof(msg) - 1)
			used += (size_t)n;
	}
	msg[used] = 0;
	while (used && (msg[used - 1] == '\n' || msg[used - 1] == ' '))
		msg[--used] = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return berr_set(err, EIO, "qemu-img %s failed: %s", argv[1],
			used ? msg : "no message (killed?)");
}

int disk_overlay(const char *overlay, const char *backing, uint64_t size, struct berr *err)
{
	char sz[32];
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	/* -u: the backing file is not opened here (QEMU opens it, read-only,
	 * relative to the overlay's directory when the name is relative). */
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing,
			       "-F", "raw", overlay, sz, NULL };
	int r = qemu_img(argv, err);
	if (r < 0) {
		unlink(overlay);
		return r;
	}
	if (chmod(overlay, 0600) < 0) {
		r = berr_set(err, errno, "chmod %s: %s", overlay, strerror(errno));
		unlink(overlay);
	}
	return r;
}

int disk_flatten(const char *overlay, const char *dst, struct berr *err)
{
	/* -U: the image may be open in a paused QEMU (a snapshot being made;
	 * its metadata is flushed by then). */
	const char *argv[] = { "qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O", "raw",
			       overlay, dst, NULL };
	struct stat st;
	if (lstat(dst, &st) == 0)
		return berr_set(err, EEXIST, "%s exists already", dst);
	int r = qemu_img(argv, err);
	if (r == 0 && chmod(dst, 0600) < 0)
		r = berr_set(err, errno, "chmod %s: %s", dst, strerror(errno));
	if (r < 0)
		unlink(dst);
	return r;
}
