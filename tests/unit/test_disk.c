/* tests/unit/test_disk.c: disk_clone (sparse copy on the local fs, reflink
 * on a loop-mounted XFS) and the libext2fs work disk, checked with the real
 * e2fsprogs tools (e2fsck, dumpe2fs, debugfs). */
#define _GNU_SOURCE
/* gcc 12 at -O2 misreads the debugfs() output buffer as dangling (false positive). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include "disk.h"
#include "util.h"
#include "vmroot.h"
#include "wddir.h"

extern char **environ;

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/banger-test-disk-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *mnt = path_join(f->dir, "mnt");

	(void)umount2(mnt, MNT_DETACH); /* left mounted by a failed reflink test */
	rm_rf(f->dir);
	free(f);
	return 0;
}

static bool have_tool(const char *name)
{
	char *argv[] = { "sh", "-c", NULL, NULL };
	_cleanup_free_ char *cmd = xasprintf("command -v %s >/dev/null", name);

	argv[2] = cmd;
	return tu_run(argv, NULL) == 0;
}

static void write_at(int fd, off_t off, char c, size_t len)
{
	char *buf = xmalloc(len);

	memset(buf, c, len);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	free(buf);
}

/* 64 MiB file with three 1 MiB data islands, the rest holes. */
static char *make_sparse(const char *dir)
{
	char *p = path_join(dir, "src.img");
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 20), 0);
	write_at(fd, 0, 'a', 1 << 20);
	write_at(fd, 20 << 20, 'b', 1 << 20);
	write_at(fd, (63 << 20) + 4096, 'c', 100000); /* up to near EOF, unaligned */
	assert_int_equal(fsync(fd), 0);
	close(fd);
	return p;
}

static void assert_same_content(const char *a, const char *b)
{
	_cleanup_free_ char *da = NULL, *db = NULL;
	size_t la, lb;

	assert_int_equal(read_file(a, 128 << 20, &da, &la), 0);
	assert_int_equal(read_file(b, 128 << 20, &db, &lb), 0);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
}

static void test_clone_sparse_copy(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = make_sparse(f->dir);
	_cleanup_free_ char *dst = path_join(f->dir, "dst.img");
	struct berr err = { 0 };
	enum clone_method m = CLONE_REFLINK;
	struct stat ss, ds;
	int fds = count_fds();

	int r = disk_clone(src, dst, &m, &err);
	assert_int_equal(r, 0);
	assert_int_equal(m, CLONE_SPARSE_COPY); /* /tmp is ext4 here: no reflink */
	assert_string_equal(clone_method_name(m), "sparse-copy");
	assert_same_content(src, dst);
	assert_int_equal(stat(src, &ss), 0);
	assert_int_equal(stat(dst, &ds), 0);
	assert_int_equal(ds.st_size, 64 << 20);
	assert_int_equal(ds.st_mode & 07777, 0600);
	/* Holes stay holes: about 3 MiB allocated, not 64. */
	assert_true(ds.st_blocks <= ss.st_blocks + 64);
	assert_true(ds.st_blocks * 512 < (8 << 20));
	assert_int_equal(count_fds(), fds);

	assert_int_equal(disk_probe_clone(f->dir, &m, &err), 0);
	assert_int_equal(m, CLONE_SPARSE_COPY);
}

static void test_clone_errors(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = make_sparse(f->dir);
	_cleanup_free_ char *dst = path_join(f->dir, "exists.img");
	_cleanup_free_ char *missing = path_join(f->dir, "missing.img");
	_cleanup_free_ char *dst2 = path_join(f->dir, "never.img");
	struct berr err = { 0 };
	struct stat st;
	int fd;

	fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(disk_clone(src, dst, NULL, &err), -EEXIST);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, dst));
	assert_int_equal(stat(dst, &st), 0); /* an existing dst is not removed */
	assert_int_equal(st.st_size, 4);

	berr_clear(&err);
	assert_int_equal(disk_clone(missing, dst2, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, missing));
	assert_int_equal(stat(dst2, &st), -1);

	/* A directory as source: refused, and dst cleaned up. */
	berr_clear(&err);
	assert_int_equal(disk_clone(f->dir, dst2, NULL, &err), -EINVAL);
	assert_int_equal(stat(dst2, &st), -1);
	assert_int_equal(errno, ENOENT);

	berr_clear(&err);
	assert_true(disk_probe_clone("/nonexistent-banger-dir", NULL, &err) < 0);
	assert_int_equal(err.code, ENOENT);
}

/* disk_clone_as: a fixed method (config disk_clone); the names back. */
static void test_clone_as(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = make_sparse(f->dir);
	_cleanup_free_ char *a = path_join(f->dir, "as-reflink.img");
	_cleanup_free_ char *b = path_join(f->dir, "as-copy.img");
	_cleanup_free_ char *c = path_join(f->dir, "as-dm.img");
	struct berr err = { 0 };
	enum clone_method m = CLONE_AUTO;
	struct stat st;

	/* /tmp is ext4 here: reflink asked for fails, and leaves nothing. */
	assert_int_equal(disk_clone_as(src, a, CLONE_REFLINK, &m, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "cannot share"));
	assert_int_equal(stat(a, &st), -1);
	berr_clear(&err);
	assert_int_equal(disk_clone_as(src, b, CLONE_SPARSE_COPY, &m, &err), 0);
	assert_int_equal(m, CLONE_SPARSE_COPY);
	assert_same_content(src, b);
	/* A dm snapshot is not a file copy. */
	assert_int_equal(disk_clone_as(src, c, CLONE_DM_SNAPSHOT, &m, &err), -EINVAL);
	assert_int_equal(stat(c, &st), -1);

	const char *names[] = { "auto", "reflink", "sparse-copy", "dm-snapshot" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		assert_int_equal(clone_method_parse(names[i], &m), 0);
		assert_string_equal(clone_method_name(m), names[i]);
	}
	assert_int_equal(clone_method_parse("dm_snapshot", &m), -EINVAL);
	assert_int_equal(clone_method_parse("", &m), -EINVAL);
	assert_int_equal(clone_method_parse(NULL, &m), -EINVAL);
}

/* A qcow2 overlay over a raw base (qemu-img), written by the real QEMU
 * block layer (qemu-io), then made one raw file again: the base never
 * changes, the flat file is the base plus the writes, holes stay holes. */
static void test_overlay_flatten(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = make_sparse(f->dir);
	_cleanup_free_ char *ov = path_join(f->dir, "root.qcow2");
	_cleanup_free_ char *flat = path_join(f->dir, "flat.img");
	_cleanup_free_ char *want = path_join(f->dir, "want.img");
	_cleanup_free_ char *before = NULL;
	size_t blen = 0;
	struct berr err = { 0 };
	struct stat st, bst;
	int fds = count_fds();

	assert_true(have_tool("qemu-img") && have_tool("qemu-io")); /* make deps: qemu-utils */
	assert_true(disk_is_overlay(ov));
	assert_false(disk_is_overlay(src));
	assert_false(disk_is_overlay(".qcow2"));
	assert_int_equal(read_file(src, 128 << 20, &before, &blen), 0);
	assert_int_equal(stat(src, &bst), 0);

	/* The backing file by a relative name: found next to the overlay. */
	assert_int_equal(disk_overlay(ov, "src.img", 64 << 20, &err), 0);
	assert_int_equal(stat(ov, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_size < (1 << 20));
	char *io[] = { "qemu-io", "-f", "qcow2", "-c", "write -P 0x7a 1M 64k", ov, NULL };
	assert_int_equal(tu_run(io, NULL), 0);

	assert_int_equal(disk_flatten(ov, flat, &err), 0);
	assert_int_equal(stat(flat, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_blocks * 512 < (8 << 20)); /* holes stay holes */
	memset(before + (1 << 20), 'z', 64 << 10);
	assert_int_equal(write_file_atomic(want, before, blen, 0600), 0);
	assert_same_content(flat, want);
	/* the base is untouched */
	memset(before + (1 << 20), 0, 64 << 10);
	_cleanup_free_ char *after = NULL;
	size_t alen = 0;
	assert_int_equal(read_file(src, 128 << 20, &after, &alen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(stat(src, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, bst.st_mtim.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, bst.st_mtim.tv_nsec);

	/* An existing destination is refused and kept. */
	assert_int_equal(disk_flatten(ov, want, &err), -EEXIST);
	assert_int_equal(stat(want, &st), 0);
	/* A missing backing file: qemu-img's reason, nothing left behind. */
	_cleanup_free_ char *ov2 = path_join(f->dir, "lost.qcow2");
	_cleanup_free_ char *flat2 = path_join(f->dir, "flat2.img");
	berr_clear(&err);
	assert_int_equal(disk_overlay(ov2, "no-such-base.img", 64 << 20, &err), 0);
	assert_true(disk_flatten(ov2, flat2, &err) < 0);
	assert_non_null(strstr(err.msg, "qemu-img convert failed"));
	assert_non_null(strstr(err.msg, "no-such-base.img"));
	assert_int_equal(stat(flat2, &st), -1);
	assert_int_equal(count_fds(), fds);
}

/* A restored VM's root disk forms (core/vmroot.h): the overlay over a hard
 * link of the snapshot's disk, then one file again (as before a start by a
 * VMM that cannot open qcow2), then nothing. */
static void test_vmroot(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *src = make_sparse(f->dir);
	_cleanup_free_ char *vdir = xasprintf("%s/vms/a", f->dir);
	_cleanup_free_ char *ov = xasprintf("%s/rootfs.qcow2", vdir);
	_cleanup_free_ char *base = xasprintf("%s/rootfs.base", vdir);
	_cleanup_free_ char *raw = xasprintf("%s/rootfs.ext4", vdir);
	_cleanup_free_ char *want = path_join(f->dir, "want.img");
	_cleanup_free_ char *before = NULL;
	size_t blen = 0;
	struct berr err = { 0 };
	struct stat st, sst;

	assert_int_equal(mkdir_p(vdir, 0700), 0);
	assert_false(vmroot_made(f->dir, "a"));
	_cleanup_free_ char *p0 = vmroot_path(f->dir, "a");
	assert_string_equal(p0, raw);
	/* a missing base: an error, nothing left */
	assert_true(vmroot_overlay(f->dir, "a", "/nonexistent/rootfs.ext4", &err) < 0);
	assert_false(vmroot_made(f->dir, "a"));
	assert_int_equal(lstat(base, &st), -1);

	assert_int_equal(vmroot_overlay(f->dir, "a", src, &err), 0);
	assert_true(vmroot_made(f->dir, "a"));
	_cleanup_free_ char *p1 = vmroot_path(f->dir, "a");
	assert_string_equal(p1, ov);
	assert_int_equal(stat(base, &st), 0);
	assert_int_equal(stat(src, &sst), 0);
	assert_int_equal(st.st_ino, sst.st_ino); /* a link, not a copy */
	assert_int_equal(sst.st_nlink, 2);
	char *io[] = { "qemu-io", "-f", "qcow2", "-c", "write -P 0x51 8k 4k", ov, NULL };
	assert_int_equal(tu_run(io, NULL), 0);

	assert_int_equal(vmroot_flatten(f->dir, "a", &err), 0);
	assert_int_equal(lstat(ov, &st), -1);
	assert_int_equal(lstat(base, &st), -1);
	assert_int_equal(stat(src, &sst), 0);
	assert_int_equal(sst.st_nlink, 1);
	_cleanup_free_ char *p2 = vmroot_path(f->dir, "a");
	assert_string_equal(p2, raw);
	assert_true(vmroot_made(f->dir, "a"));
	assert_int_equal(read_file(src, 128 << 20, &before, &blen), 0);
	memset(before + 8192, 0x51, 4096);
	assert_int_equal(write_file_atomic(want, before, blen, 0600), 0);
	assert_same_content(raw, want);
	assert_int_equal(vmroot_flatten(f->dir, "a", &err), 0); /* nothing to do */

	vmroot_drop(f->dir, "a");
	assert_false(vmroot_made(f->dir, "a"));
}

/* Reflink on a loop-mounted XFS image. */
static void test_clone_reflink_xfs(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "xfs.img");
	_cleanup_free_ char *mnt = path_join(f->dir, "mnt");
	_cleanup_free_ char *src = NULL, *dst = NULL;
	struct berr err = { 0 };
	enum clone_method m = CLONE_SPARSE_COPY;
	char *out = NULL;
	int fd, rc;

	if (!have_tool("mkfs.xfs") || access("/dev/loop-control", F_OK) != 0) {
		print_message("mkfs.xfs or loop devices unavailable: skipping reflink test\n");
		skip();
	}
	fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 320 << 20), 0);
	close(fd);
	char *mkfs[] = { "mkfs.xfs", "-q", "-m", "reflink=1", img, NULL };
	rc = tu_run(mkfs, &out);
	if (rc != 0)
		print_message("mkfs.xfs: %s\n", out);
	free(out);
	assert_int_equal(rc, 0);
	assert_int_equal(mkdir(mnt, 0700), 0);
	char *mount_argv[] = { "mount", "-o", "loop", img, mnt, NULL };
	rc = tu_run(mount_argv, &out);
	if (rc != 0) {
		print_message("mount -o loop failed (%s): skipping reflink test\n", out);
		free(out);
		skip();
	}
	free(out);

	src = make_sparse(mnt);
	dst = path_join(mnt, "clone.img");
	rc = disk_clone(src, dst, &m, &err);
	enum clone_method probe = CLONE_SPARSE_COPY;
	int prc = disk_probe_clone(mnt, &probe, &err);
	bool same = false;
	if (rc == 0) {
		_cleanup_free_ char *da = NULL, *db = NULL;
		size_t la = 0, lb = 0;

		same = read_file(src, 128 << 20, &da, &la) == 0 &&
		       read_file(dst, 128 << 20, &db, &lb) == 0 && la == lb &&
		       memcmp(da, db, la) == 0;
	}
	/* Unmount before asserting so a failure does not leave a mount behind. */
	char *umount_argv[] = { "umount", mnt, NULL };
	assert_int_equal(tu_run(umount_argv, NULL), 0);

	assert_int_equal(rc, 0);
	assert_int_equal(m, CLONE_REFLINK);
	assert_string_equal(clone_method_name(m), "reflink");
	assert_true(same);
	assert_int_equal(prc, 0);
	assert_int_equal(probe, CLONE_REFLINK);
}

static void fsck_ok(const char *img)
{
	char *argv[] = { "e2fsck", "-fn", (char *)img, NULL };
	char *out = NULL;
	int rc = tu_run(argv, &out);

	if (rc != 0)
		print_message("e2fsck -fn %s exited %d:\n%s\n", img, rc, out);
	free(out);
	assert_int_equal(rc, 0);
}

static char *debugfs(const char *img, const char *req)
{
	char *argv[] = { "debugfs", "-R", (char *)req, (char *)img, NULL };
	char *out = NULL;

	assert_int_equal(tu_run(argv, &out), 0);
	return out;
}

/* debugfs "stat" output contains "Mode:  0600" and "User:     0   Group:     0". */
static void assert_stat(const char *img, const char *path, const char *mode,
			unsigned uid, unsigned gid, const char *type)
{
	_cleanup_free_ char *req = xasprintf("stat %s", path);
	char *out = debugfs(img, req); /* freed below: no cleanup attr (gcc -O2 false positive) */
	_cleanup_free_ char *m = xasprintf("Mode:  %s", mode);
	_cleanup_free_ char *t = xasprintf("Type: %s", type);
	unsigned u = 99999, g = 99999;
	char *p = strstr(out, "User:");

	if (!strstr(out, m) || !strstr(out, t))
		print_message("%s", out);
	assert_non_null(strstr(out, m));
	assert_non_null(strstr(out, t));
	assert_non_null(strstr(out, "Flags: 0x80000")); /* extents */
	assert_non_null(p);
	char line[128];
	snprintf(line, sizeof(line), "%s", p);
	free(out);
	assert_int_equal(sscanf(line, "User: %u Group: %u", &u, &g), 2);
	assert_int_equal(u, uid);
	assert_int_equal(g, gid);
}

static void test_workdisk_create(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "work.img");
	_cleanup_free_ char *out = NULL, *ls = NULL;
	struct berr err = { 0 };
	struct stat st;
	int fds = count_fds();
	int64_t t0 = mono_ms();

	assert_int_equal(workdisk_create(img, 8ULL << 30, "banger-work", &err), 0);
	print_message("workdisk_create 8 GiB: %lld ms\n", (long long)(mono_ms() - t0));
	assert_int_equal(count_fds(), fds);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8LL << 30);
	assert_int_equal(st.st_mode & 07777, 0600);
	print_message("allocated: %lld KiB\n", (long long)st.st_blocks / 2);
	assert_true(st.st_blocks * 512 < (4 << 20));
	fsck_ok(img);

	char *argv[] = { "dumpe2fs", "-h", img, NULL };
	assert_int_equal(tu_run(argv, &out), 0);
	assert_non_null(strstr(out, "Filesystem volume name:   banger-work"));
	const char *feat[] = { "has_journal", "ext_attr", "dir_index", "filetype", "extent",
			       "flex_bg", "sparse_super", "large_file", "huge_file",
			       "extra_isize", "metadata_csum" };
	char *line = strstr(out, "Filesystem features:");
	assert_non_null(line);
	char *eol = strchr(line, '\n');
	assert_non_null(eol);
	*eol = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(feat); i++) {
		_cleanup_free_ char *w = xasprintf(" %s", feat[i]);
		if (!strstr(line, w))
			print_message("missing feature %s in: %s\n", feat[i], line);
		assert_non_null(strstr(line, w));
	}
	assert_null(strstr(line, "64bit"));

	ls = debugfs(img, "ls -l /");
	assert_non_null(strstr(ls, "40700 (2)      0      0    4096"));
	assert_non_null(strstr(ls, "lost+found"));
	assert_stat(img, "/", "0700", 0, 0, "directory");
	assert_stat(img, "/lost+found", "0700", 0, 0, "directory");

	/* Exists -> EEXIST, and the existing image is untouched. */
	berr_clear(&err);
	assert_int_equal(workdisk_create(img, 64 << 20, NULL, &err), -EEXIST);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8LL << 30);

	_cleanup_free_ char *small = path_join(f->dir, "small.img");
	assert_int_equal(workdisk_create(small, 1 << 20, NULL, &err), -EINVAL);
	assert_int_equal(workdisk_create(small, 64 << 20, "this-label-is-too-long", &err),
			 -EINVAL);
	assert_int_equal(stat(small, &st), -1);
	/* Smallest size, no label. */
	assert_int_equal(workdisk_create(small, 16 << 20, NULL, &err), 0);
	fsck_ok(small);
}

static void test_workdisk_write_files(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "work.img");
	struct berr err = { 0 };
	static const char key[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample banger\n";
	size_t big_len = 3 * 1024 * 1024 + 123;
	_cleanup_free_ char *big = xmalloc(big_len);
	int fds;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	assert_int_equal(workdisk_create(img, 256 << 20, "work", &err), 0);
	fds = count_fds();

	assert_int_equal(workdisk_mkdir(img, "/.ssh", 0700, 0, 0, &err), 0);
	struct workdisk_file files[] = {
		{ "/.ssh/authorized_keys", key, sizeof(key) - 1, 0600, 0, 0 },
		{ "/repo/src/deep/er/main.c", "int main(void) { return 0; }\n", 29, 0644,
		  1000, 1000 },
		{ "/repo/big.bin", big, big_len, 0640, 70000, 70001 },
		{ "/empty", NULL, 0, 0400, 0, 0 },
	};
	int r = workdisk_write_files(img, files, ARRAY_SIZE(files), 0755, &err);
	if (r)
		print_message("%s\n", err.msg);
	assert_int_equal(r, 0);
	assert_int_equal(count_fds(), fds);
	fsck_ok(img);

	_cleanup_free_ char *cat = debugfs(img, "cat /.ssh/authorized_keys");
	assert_non_null(strstr(cat, key));
	_cleanup_free_ char *cat2 = debugfs(img, "cat /repo/src/deep/er/main.c");
	assert_non_null(strstr(cat2, "int main(void) { return 0; }\n"));
	assert_stat(img, "/.ssh", "0700", 0, 0, "directory");
	assert_stat(img, "/.ssh/authorized_keys", "0600", 0, 0, "regular");
	assert_stat(img, "/repo", "0755", 1000, 1000, "directory");
	assert_stat(img, "/repo/src/deep/er", "0755", 1000, 1000, "directory");
	assert_stat(img, "/repo/src/deep/er/main.c", "0644", 1000, 1000, "regular");
	assert_stat(img, "/repo/big.bin", "0640", 70000, 70001, "regular");
	assert_stat(img, "/empty", "0400", 0, 0, "regular");

	/* The big file byte for byte, via debugfs dump. */
	_cleanup_free_ char *dumped = path_join(f->dir, "big.out");
	_cleanup_free_ char *req = xasprintf("dump /repo/big.bin %s", dumped);
	free(debugfs(img, req));
	_cleanup_free_ char *back = NULL;
	size_t back_len = 0;
	assert_int_equal(read_file(dumped, 16 << 20, &back, &back_len), 0);
	assert_int_equal(back_len, big_len);
	assert_memory_equal(back, big, big_len);

	/* Replace: shorter content, new mode and owner; blocks are freed. */
	struct workdisk_file repl = { "/repo/big.bin", "small\n", 6, 0600, 5, 6 };
	assert_int_equal(workdisk_write_files(img, &repl, 1, 0755, &err), 0);
	fsck_ok(img);
	_cleanup_free_ char *cat3 = debugfs(img, "cat /repo/big.bin");
	assert_non_null(strstr(cat3, "small\n"));
	assert_null(strstr(cat3, "abc"));
	assert_stat(img, "/repo/big.bin", "0600", 5, 6, "regular");

	/* Many files in one directory: the directory has to grow. */
	struct workdisk_file many[300];
	char names[300][300];
	for (int i = 0; i < 300; i++) {
		/* Half go straight into /many (link must expand it), half get a
		 * directory each in /dirs (mkdir must expand that). */
		snprintf(names[i], sizeof(names[i]), "/%s/file-with-a-rather-long-name-%03d-%0200d%s",
			 i % 2 ? "many" : "dirs", i, 0, i % 2 ? "" : "/f");
		many[i] = (struct workdisk_file){ names[i], names[i], strlen(names[i]), 0644, 0, 0 };
	}
	assert_int_equal(workdisk_write_files(img, many, 300, 0755, &err), 0);
	fsck_ok(img);
	for (int i = 298; i < 300; i++) {
		_cleanup_free_ char *req2 = xasprintf("cat %s", names[i]);
		_cleanup_free_ char *cat4 = debugfs(img, req2);
		assert_non_null(strstr(cat4, names[i]));
	}

	/* mkdir on an existing directory updates mode and owner; on a file fails. */
	assert_int_equal(workdisk_mkdir(img, "/repo", 0750, 1, 2, &err), 0);
	assert_stat(img, "/repo", "0750", 1, 2, "directory");
	assert_int_equal(workdisk_mkdir(img, "/empty", 0700, 0, 0, &err), -EEXIST);
	/* A file where a directory is needed, and a directory where a file is. */
	struct workdisk_file under_file = { "/empty/x", "x", 1, 0600, 0, 0 };
	assert_int_equal(workdisk_write_files(img, &under_file, 1, 0755, &err), -ENOTDIR);
	struct workdisk_file on_dir = { "/repo", "x", 1, 0600, 0, 0 };
	assert_int_equal(workdisk_write_files(img, &on_dir, 1, 0755, &err), -EISDIR);
	fsck_ok(img);

	/* Not an ext4 image. */
	_cleanup_free_ char *junk = path_join(f->dir, "junk.img");
	int fd = open(junk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	berr_clear(&err);
	assert_int_equal(workdisk_write_files(junk, files, 1, 0755, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, junk));
	assert_int_equal(count_fds(), fds);
}

/* A forked child holds a copy of every descriptor the daemon had open at
 * the time, until it execs or exits; with QEMU spawned from one thread while
 * another writes a work disk, the child briefly shares the disk's open file
 * description.  The lock must not outlive our close because of that: a
 * writer that finishes unlocks explicitly, so the next writer gets in. */
static volatile int forker_stop;

static void *forker(void *arg)
{
	(void)arg;
	while (!forker_stop) {
		pid_t pid = fork();

		if (pid == 0) {
			usleep(20 * 1000);
			_exit(0);
		}
		if (pid > 0)
			(void)waitpid(pid, NULL, 0);
	}
	return NULL;
}

static void test_workdisk_lock_vs_fork(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "work.img");
	struct berr err = { 0 };
	struct workdisk_file file = { "/.ssh/authorized_keys", "k\n", 2, 0600, 0, 0 };
	pthread_t th;
	int failures = 0, rounds = 0;
	int64_t until;

	assert_int_equal(workdisk_create(img, 64 << 20, "work", &err), 0);
	forker_stop = 0;
	assert_int_equal(pthread_create(&th, NULL, forker, NULL), 0);
	until = mono_ms() + 1500;
	while (mono_ms() < until) {
		berr_clear(&err);
		if (workdisk_mkdir(img, "/.ssh", 0700, 0, 0, &err) < 0 ||
		    workdisk_write_files(img, &file, 1, 0700, &err) < 0) {
			if (!failures)
				print_message("first failure: %s\n", err.msg);
			failures++;
		}
		rounds++;
	}
	forker_stop = 1;
	pthread_join(th, NULL);
	print_message("%d rounds of mkdir+write beside a forking thread, %d failed\n",
		      rounds, failures);
	assert_true(rounds > 10);
	assert_int_equal(failures, 0);
	fsck_ok(img);

	/* A real second writer is still refused. */
	int fd = open(img, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(workdisk_write_files(img, &file, 1, 0700, &err), -EBUSY);
	close(fd);
}

static void test_workdisk_bad_paths(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "work.img");
	struct berr err = { 0 };
	char longname[300];

	memset(longname, 'x', sizeof(longname));
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(workdisk_create(img, 32 << 20, NULL, &err), 0);

	const char *bad[] = { "relative/path", "", "/a/../b", "/..", "/a/./b", "/.",
			      "/a/b/..", "/new\nline", "/tab\there", "/del\x7f", "/esc\x1b[0m",
			      "/", "//", longname };
	const int want[] = { EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL,
			     EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, ENAMETOOLONG };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct workdisk_file file = { bad[i], "x", 1, 0600, 0, 0 };

		berr_clear(&err);
		assert_int_equal(workdisk_write_files(img, &file, 1, 0755, &err), -want[i]);
		assert_true(err.msg[0] != '\0');
		assert_null(strchr(err.msg, '\n'));
		if (strcmp(bad[i], "/") && strcmp(bad[i], "//")) {
			berr_clear(&err);
			assert_int_equal(workdisk_mkdir(img, bad[i], 0700, 0, 0, &err), -want[i]);
		}
	}
	struct workdisk_file null_path = { NULL, "x", 1, 0600, 0, 0 };
	assert_int_equal(workdisk_write_files(img, &null_path, 1, 0755, &err), -EINVAL);
	/* A bad path anywhere in the batch: nothing is written. */
	struct workdisk_file batch[] = { { "/ok", "x", 1, 0600, 0, 0 },
					 { "/x/../y", "x", 1, 0600, 0, 0 } };
	assert_int_equal(workdisk_write_files(img, batch, 2, 0755, &err), -EINVAL);
	_cleanup_free_ char *ls = debugfs(img, "ls /");
	assert_null(strstr(ls, "ok"));

	/* Names that look odd but are fine: dots inside names, 255 bytes, spaces. */
	char name255[258];
	name255[0] = '/';
	memset(name255 + 1, 'y', 255);
	name255[256] = '\0';
	struct workdisk_file ok[] = { { "/..hidden", "1", 1, 0600, 0, 0 },
				      { "/a.b/.c", "2", 1, 0600, 0, 0 },
				      { "//double//slash", "3", 1, 0600, 0, 0 },
				      { "/with space", "4", 1, 0600, 0, 0 },
				      { name255, "5", 1, 0600, 0, 0 } };
	int r = workdisk_write_files(img, ok, ARRAY_SIZE(ok), 0755, &err);
	if (r)
		print_message("%s\n", err.msg);
	assert_int_equal(r, 0);
	fsck_ok(img);
	_cleanup_free_ char *c = debugfs(img, "cat /double/slash");
	assert_non_null(strstr(c, "3"));

	/* Another writer holds the image: refused with EBUSY, not interleaved. */
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(workdisk_write_files(img, ok, 1, 0755, &err), -EBUSY);
	assert_int_equal(workdisk_mkdir(img, "/d", 0700, 0, 0, &err), -EBUSY);
	close(fd);
	assert_int_equal(workdisk_mkdir(img, "/d", 0700, 0, 0, &err), 0);
}

/* The names table of core/wddir.c: absent is certain, present is "maybe";
 * counts survive a removal of one of two names; growth keeps everything. */
static void test_wddir_table(void **state)
{
	(void)state;
	struct wddir *d = wddir_new();
	char name[32];

	assert_false(wddir_fresh(d, 12));
	wddir_made(d, 12);
	wddir_made(d, 12);
	assert_true(wddir_fresh(d, 12));
	assert_false(wddir_fresh(d, 13));
	assert_false(wddir_fresh(d, 0));
	assert_false(wddir_may_have(d, 12, "a"));
	wddir_added(d, 12, "a");
	wddir_added(d, 12, "a"); /* the same name twice: counted twice */
	assert_true(wddir_may_have(d, 12, "a"));
	assert_false(wddir_may_have(d, 13, "a")); /* another directory */
	wddir_removed(d, 12, "a");
	assert_true(wddir_may_have(d, 12, "a"));
	wddir_removed(d, 12, "a");
	assert_false(wddir_may_have(d, 12, "a"));
	wddir_removed(d, 12, "a"); /* more removals than adds: stays absent */
	assert_false(wddir_may_have(d, 12, "a"));
	/* past the first sizes (1024 names, 64 directories) */
	for (uint32_t dir = 100; dir < 400; dir++)
		wddir_made(d, dir);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		wddir_added(d, 100 + (uint32_t)(i % 300), name);
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_true(wddir_may_have(d, 100 + (uint32_t)(i % 300), name));
	}
	int maybe = 0;
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		maybe += wddir_may_have(d, 100 + (uint32_t)(i % 300), name);
	}
	assert_int_equal(maybe, 0); /* 64-bit hashes: no false "maybe" among these */
	for (uint32_t dir = 100; dir < 400; dir++)
		assert_true(wddir_fresh(d, dir));
	assert_true(wddir_fresh(d, 12));
	assert_null(wddir_free(d));
}

static int count_entries(const char *img, const char *dir)
{
	_cleanup_free_ char *req = xasprintf("ls -p %s", dir);
	char *out = debugfs(img, req);
	int n = 0;

	for (char *p = out; (p = strstr(p, "\n/")) != NULL; p++)
		n++;
	if (out[0] == '/')
		n++;
	free(out);
	return n;
}

/* The streaming writer's directories (core/wddir.c): thousands of entries
 * appended to one directory this session made, names of every length so
 * entries end at every offset of a block, names replaced, then a second
 * session adding to and replacing in that (no longer fresh) directory. */
static void test_workdisk_session_dirs(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *img = path_join(f->dir, "work.img");
	_cleanup_free_ char *src = path_join(f->dir, "src.txt");
	_cleanup_free_ char *src2 = path_join(f->dir, "src2.txt");
	struct wd_attr fa = { .mode = 0644, .mtime_sec = 1700000000 };
	struct wd_attr da = { .mode = 0755, .mtime_sec = 1700000000 };
	struct berr err = { 0 };
	struct workdisk *wd = NULL;
	uint32_t big, ino, again;
	char name[300], first[300], third[300];
	const int n = 3000;

	assert_int_equal(write_file_atomic(src, "hello\n", 6, 0644), 0);
	assert_int_equal(write_file_atomic(src2, "replaced\n", 9, 0644), 0);
	int fd = open(src, O_RDONLY | O_CLOEXEC), fd2 = open(src2, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && fd2 >= 0);
	assert_int_equal(workdisk_create(img, 256 << 20, NULL, &err), 0);
	assert_int_equal(workdisk_open(img, &wd, &err), 0);
	assert_int_equal(workdisk_mkdirat(wd, WD_ROOT_INO, "big", &da, &big, &err), 0);
	for (int i = 0; i < n; i++) {
		int len = snprintf(name, sizeof(name), "n%05d-", i);
		memset(name + len, 'x', (size_t)(i % 249));
		name[len + i % 249] = '\0';
		if (i == 0)
			strcpy(first, name);
		if (i == 3)
			strcpy(third, name);
		int r;
		if (i % 3 == 0)
			r = workdisk_put_file(wd, big, name, fd, 6, &fa, NULL, &err);
		else if (i % 3 == 1)
			r = workdisk_put_symlink(wd, big, name, "target", &fa, &err);
		else
			r = workdisk_mkdirat(wd, big, name, &da, &ino, &err);
		if (r)
			print_message("entry %d: %s\n", i, err.msg);
		assert_int_equal(r, 0);
	}
	assert_int_equal(workdisk_lookup(wd, big, first, &ino, &err), 0);
	assert_int_equal(workdisk_lookup(wd, big, "absent", &ino, &err), -ENOENT);
	/* a directory made before is found again, not made twice */
	snprintf(name, sizeof(name), "n%05d-xx", 2);
	assert_int_equal(workdisk_lookup(wd, big, name, &ino, &err), 0);
	assert_int_equal(workdisk_mkdirat(wd, big, name, &da, &again, &err), 0);
	assert_int_equal(again, ino);
	/* replaced: a file by a file, a file by a symlink */
	assert_int_equal(workdisk_put_file(wd, big, first, fd2, 9, &fa, NULL, &err), 0);
	assert_int_equal(workdisk_put_symlink(wd, big, third, "other", &fa, &err), 0);
	assert_int_equal(workdisk_close(wd, 0, &err), 0);
	fsck_ok(img);
	assert_int_equal(count_entries(img, "/big"), n + 2);
	_cleanup_free_ char *req = xasprintf("cat /big/%s", first);
	_cleanup_free_ char *cat = debugfs(img, req);
	assert_non_null(strstr(cat, "replaced"));
	free(req);
	req = xasprintf("stat /big/%s", third);
	_cleanup_free_ char *st = debugfs(img, req);
	assert_non_null(strstr(st, "Type: symlink"));
	assert_non_null(strstr(st, "Fast link dest: \"other\""));

	/* A second session: /big is an existing directory now. */
	assert_int_equal(workdisk_open(img, &wd, &err), 0);
	assert_int_equal(workdisk_lookup(wd, WD_ROOT_INO, "big", &big, &err), 0);
	assert_int_equal(workdisk_put_file(wd, big, "late", fd, 6, &fa, NULL, &err), 0);
	assert_int_equal(workdisk_put_file(wd, big, first, fd, 6, &fa, NULL, &err), 0);
	assert_int_equal(workdisk_close(wd, 0, &err), 0);
	fsck_ok(img);
	assert_int_equal(count_entries(img, "/big"), n + 3);
	free(req);
	req = xasprintf("cat /big/%s", first);
	_cleanup_free_ char *cat2 = debugfs(img, req);
	assert_non_null(strstr(cat2, "hello"));
	close(fd);
	close(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clone_sparse_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_as, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clone_reflink_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_flatten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmroot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workdisk_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workdisk_write_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workdisk_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workdisk_lock_vs_fork, setup, teardown),
		cmocka_unit_test(test_wddir_table),
		cmocka_unit_test_setup_teardown(test_workdisk_session_dirs, setup, teardown),
	};

	return cmocka_run_group_tests_name("disk", tests, NULL, NULL);
}
