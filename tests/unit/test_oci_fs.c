/* tests/unit/test_oci_fs.c: synthetic tar layers applied to ext4 by the
 * OCI builder (core/ocitar.c, ocilayer.c, ocifs.c, ocinode.c, ociapply.c):
 * every rule of layers -> ext4 (files, sparse holes, directories,
 * symlinks, hard links, devices, fifos, owners, modes, times, xattrs,
 * whiteouts, opaque markers) and the hostile input that needs no network
 * (traversal in every form, hard links to missing paths, truncated and
 * corrupt compression, bombs, a full image, a full host).  Each image is
 * sized from the scan without headroom and must pass e2fsck -fn. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"
#include "ocitest.h"

#include "ociint.h"
#include "util.h"

struct fx {
	char dir[64];
	char image[PATH_MAX];
	struct tb *t[8];
	size_t n;
	ext2_filsys fs;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/banger-test-ocifs-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->image, sizeof(f->image), "%s/rootfs.ext4", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *mnt = path_join(f->dir, "mnt");

	if (f->fs)
		ext2fs_close_free(&f->fs);
	(void)umount2(mnt, MNT_DETACH);
	for (size_t i = 0; i < f->n; i++) {
		if (f->t[i]->a)
			archive_write_free(f->t[i]->a);
		free(f->t[i]);
	}
	rm_rf(f->dir);
	free(f);
	return 0;
}

static struct tb *layer(struct fx *f, const char *comp)
{
	char name[32];

	snprintf(name, sizeof(name), "layer%zu.tar", f->n);
	f->t[f->n] = tb_new(f->dir, name, comp);
	return f->t[f->n++];
}

/* Build from every layer so far; on success open the image (f->fs). */
static int build(struct fx *f, struct berr *err)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->t[i]->a)
			tb_done(f->t[i]);
	unlink(f->image);
	int r = build_image(f->image, f->t, f->n, err);
	if (r == 0) {
		assert_int_equal(fsck(f->image), 0);
		f->fs = img_open(f->image);
		assert_non_null(f->fs);
	} else {
		assert_int_equal(access(f->image, F_OK), -1); /* nothing left behind */
	}
	return r;
}

static void build_ok(struct fx *f)
{
	struct berr err = { 0 };

	if (build(f, &err) < 0)
		fail_msg("build failed: %s", err.msg);
}

static void expect_msg(const struct berr *err, const char *words)
{
	if (!strstr(err->msg, words))
		fail_msg("message \"%s\" lacks \"%s\"", err->msg, words);
}

static int64_t mtime_of(const struct ext2_inode_large *in)
{
	return (int32_t)in->i_mtime + ((int64_t)(in->i_mtime_extra & 3) << 32);
}

/* --- part 2: what a layer writes --- */

static void test_files_owners_modes_times(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "gzip");
	char *big = xmalloc(3 << 20);
	struct ext2_inode_large in;
	size_t len;
	char *data;

	for (size_t i = 0; i < (3u << 20); i++)
		big[i] = (char)(i * 2654435761u >> 13);
	tb_ent(t, &(struct ent){ .name = "./", .type = AE_IFDIR, .perm = 0755 });
	tb_ent(t, &(struct ent){ .name = "./etc/", .type = AE_IFDIR, .perm = 0750, .uid = 5, .gid = 6 });
	tb_ent(t, &(struct ent){ .name = "./etc/hello", .data = "hello\n", .len = 6, .perm = 0640,
				 .uid = 100000, .gid = 4000000000u, .mtime = 1234567890, .nsec = 123456789 });
	tb_ent(t, &(struct ent){ .name = "usr/bin/su", .data = "#!su", .len = 4, .perm = 04755 });
	tb_ent(t, &(struct ent){ .name = "usr/bin/wall", .data = "w", .len = 1, .perm = 02755, .gid = 5 });
	tb_ent(t, &(struct ent){ .name = "tmp/", .type = AE_IFDIR, .perm = 01777 });
	tb_ent(t, &(struct ent){ .name = "empty", .perm = 0600 });
	tb_ent(t, &(struct ent){ .name = "big", .data = big, .len = 3u << 20 });
	tb_ent(t, &(struct ent){ .name = "future", .data = "f", .len = 1, .mtime = 4102444800LL }); /* 2100 */
	tb_ent(t, &(struct ent){ .name = "past", .data = "p", .len = 1, .mtime = -86400 });
	build_ok(f);

	in = img_inode(f->fs, "/etc/hello");
	assert_true(LINUX_S_ISREG(in.i_mode));
	assert_int_equal(in.i_mode & 07777, 0640);
	assert_int_equal(inode_uid(in), 100000);
	assert_int_equal(inode_gid(in), 4000000000u);
	assert_int_equal(mtime_of(&in), 1234567890);
	assert_int_equal(in.i_mtime_extra >> 2, 123456789);
	data = img_read(f->fs, "/etc/hello", &len);
	assert_int_equal(len, 6);
	assert_string_equal(data, "hello\n");
	free(data);
	in = img_inode(f->fs, "/etc");
	assert_int_equal(in.i_mode & 07777, 0750);
	assert_int_equal(inode_uid(in), 5);
	assert_int_equal(img_inode(f->fs, "/usr/bin/su").i_mode & 07777, 04755);
	assert_int_equal(img_inode(f->fs, "/usr/bin/wall").i_mode & 07777, 02755);
	assert_int_equal(img_inode(f->fs, "/tmp").i_mode & 07777, 01777);
	/* parents the layer does not list: 0755 root */
	in = img_inode(f->fs, "/usr/bin");
	assert_true(LINUX_S_ISDIR(in.i_mode));
	assert_int_equal(in.i_mode & 07777, 0755);
	assert_int_equal(inode_uid(in), 0);
	{
		struct ext2_inode_large e = img_inode(f->fs, "/empty");
		assert_int_equal(EXT2_I_SIZE(&e), 0);
	}
	data = img_read(f->fs, "/big", &len);
	assert_int_equal(len, 3u << 20);
	assert_memory_equal(data, big, len);
	free(data);
	in = img_inode(f->fs, "/future");
	assert_int_equal(mtime_of(&in), 4102444800LL);
	in = img_inode(f->fs, "/past");
	assert_int_equal(mtime_of(&in), -86400);
	free(big);
}

static void test_sparse(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "zstd");
	char *zeros = xcalloc(1, 1 << 20), *mixed = xcalloc(1, 1 << 20);
	struct ext2_inode_large in;
	size_t len;
	char *data;

	memset(mixed + 8192, 'x', 100);        /* block 2 */
	memset(mixed + (1 << 20) - 10, 'y', 10); /* the last block */
	tb_ent(t, &(struct ent){ .name = "zeros", .data = zeros, .len = 1 << 20 });
	tb_ent(t, &(struct ent){ .name = "mixed", .data = mixed, .len = 1 << 20 });
	tb_done(t);
	/* A tar bomb: a sparse file claiming 1 TB with 2 small data segments
	 * (PAX sparse 1.0, written by GNU tar from a sparse file). */
	{
		_cleanup_free_ char *src = path_join(f->dir, "src");
		_cleanup_free_ char *bomb = path_join(src, "bomb");
		_cleanup_free_ char *cmd = xasprintf("tar --sparse --format=posix -C %s -cf %s/layer%zu.tar bomb",
						     src, f->dir, f->n);
		char *argv[] = { "sh", "-c", cmd, NULL };
		int fd;
		assert_int_equal(mkdir(src, 0700), 0);
		fd = open(bomb, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_int_equal(pwrite(fd, "head", 4, 4096), 4);
		assert_int_equal(pwrite(fd, "tail", 4, (1LL << 40) - 4), 4);
		close(fd);
		assert_int_equal(run_status(argv), 0);
		t = xcalloc(1, sizeof(*t));
		snprintf(t->path, sizeof(t->path), "%s/layer%zu.tar", f->dir, f->n);
		sha256_file_hex(t->path, t->digest);
		f->t[f->n++] = t;
		rm_rf(src);
	}
	build_ok(f);

	in = img_inode(f->fs, "/zeros");
	assert_int_equal(EXT2_I_SIZE(&in), 1 << 20);
	assert_int_equal(in.i_blocks, 0); /* all holes */
	data = img_read(f->fs, "/zeros", &len);
	assert_int_equal(len, 1 << 20);
	assert_memory_equal(data, zeros, len);
	free(data);
	in = img_inode(f->fs, "/mixed");
	assert_int_equal(in.i_blocks, 2 * 8); /* two 4 KiB blocks, in 512-byte units */
	data = img_read(f->fs, "/mixed", &len);
	assert_memory_equal(data, mixed, 1 << 20);
	free(data);
	in = img_inode(f->fs, "/bomb");
	assert_int_equal(EXT2_I_SIZE(&in), 1LL << 40);
	assert_true(in.i_blocks <= 3 * 8);
	{
		ext2_file_t ef;
		char b[8];
		unsigned got;
		assert_int_equal(ext2fs_file_open(f->fs, img_ino(f->fs, "/bomb"), 0, &ef), 0);
		ext2fs_file_llseek(ef, 4096, EXT2_SEEK_SET, NULL);
		ext2fs_file_read(ef, b, 4, &got);
		assert_memory_equal(b, "head", 4);
		ext2fs_file_llseek(ef, (1ULL << 40) - 4, EXT2_SEEK_SET, NULL);
		ext2fs_file_read(ef, b, 4, &got);
		assert_memory_equal(b, "tail", 4);
		ext2fs_file_read(ef, b, 4, &got);
		assert_int_equal(got, 0);
		ext2fs_file_close(ef);
	}
	/* The image stays small: apparent size is what the content needs. */
	struct stat st;
	assert_int_equal(stat(f->image, &st), 0);
	assert_true(st.st_size <= (128 << 20));
	free(zeros);
	free(mixed);
}

static void test_symlinks_devices_fifos(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "none");
	char longt[300];
	struct ext2_inode_large in;
	char *data;

	memset(longt, 'L', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	memcpy(longt, "/opt/", 5);
	tb_ent(t, &(struct ent){ .name = "bin", .type = AE_IFLNK, .symlink = "usr/bin" });
	tb_ent(t, &(struct ent){ .name = "long", .type = AE_IFLNK, .symlink = longt, .uid = 7 });
	tb_ent(t, &(struct ent){ .name = "dev/null", .type = AE_IFCHR, .perm = 0666, .maj = 1, .min = 3 });
	tb_ent(t, &(struct ent){ .name = "dev/nvme", .type = AE_IFBLK, .perm = 0660, .maj = 259,
				 .min = 300000, .gid = 6 });
	tb_ent(t, &(struct ent){ .name = "run/fifo", .type = AE_IFIFO, .perm = 0620 });
	build_ok(f);

	in = img_inode(f->fs, "/bin");
	assert_true(LINUX_S_ISLNK(in.i_mode));
	assert_int_equal(EXT2_I_SIZE(&in), 7);
	assert_memory_equal((char *)in.i_block, "usr/bin", 7);
	in = img_inode(f->fs, "/long");
	assert_true(LINUX_S_ISLNK(in.i_mode));
	assert_int_equal(inode_uid(in), 7);
	data = img_read(f->fs, "/long", NULL);
	assert_string_equal(data, longt);
	free(data);
	in = img_inode(f->fs, "/dev/null");
	assert_true(LINUX_S_ISCHR(in.i_mode));
	assert_int_equal(in.i_mode & 07777, 0666);
	assert_int_equal(in.i_block[0], (1 << 8) | 3);
	in = img_inode(f->fs, "/dev/nvme");
	assert_true(LINUX_S_ISBLK(in.i_mode));
	assert_int_equal(in.i_block[0], 0);
	assert_int_equal(in.i_block[1], (300000 & 0xff) | (259 << 8) | ((300000 & ~0xffu) << 12));
	in = img_inode(f->fs, "/run/fifo");
	assert_true(LINUX_S_ISFIFO(in.i_mode));
	assert_int_equal(in.i_mode & 07777, 0620);
}

static void test_hardlinks(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "gzip");
	struct ext2_inode_large in;
	char *data;

	tb_ent(t, &(struct ent){ .name = "a", .data = "AAA", .len = 3, .perm = 0751 });
	tb_ent(t, &(struct ent){ .name = "d/b", .hardlink = "a" });
	tb_ent(t, &(struct ent){ .name = "lower", .data = "old", .len = 3 });
	tb_ent(t, &(struct ent){ .name = "x", .data = "x1", .len = 2 });
	tb_ent(t, &(struct ent){ .name = "s", .type = AE_IFLNK, .symlink = "a" });
	tb_done(t);
	t = layer(f, "gzip");
	tb_ent(t, &(struct ent){ .name = "c", .hardlink = "d/b" });      /* to a lower file */
	tb_ent(t, &(struct ent){ .name = "x", .hardlink = "lower" });    /* replaces x */
	tb_ent(t, &(struct ent){ .name = "lower", .data = "new", .len = 3 }); /* x keeps "old" */
	tb_ent(t, &(struct ent){ .name = "s2", .hardlink = "s" });       /* to a symlink */
	tb_ent(t, &(struct ent){ .name = "a", .hardlink = "a" });        /* to itself */
	build_ok(f);

	assert_int_equal(img_ino(f->fs, "/a"), img_ino(f->fs, "/d/b"));
	assert_int_equal(img_ino(f->fs, "/a"), img_ino(f->fs, "/c"));
	in = img_inode(f->fs, "/a");
	assert_int_equal(in.i_links_count, 3);
	assert_int_equal(in.i_mode & 07777, 0751);
	data = img_read(f->fs, "/x", NULL);
	assert_string_equal(data, "old");
	free(data);
	data = img_read(f->fs, "/lower", NULL);
	assert_string_equal(data, "new");
	free(data);
	assert_int_equal(img_inode(f->fs, "/x").i_links_count, 1);
	assert_int_equal(img_ino(f->fs, "/s"), img_ino(f->fs, "/s2"));
	assert_int_equal(img_inode(f->fs, "/s2").i_links_count, 2);
}

static void test_hardlink_refused(void **state)
{
	struct fx *f = *state;
	struct berr err = { 0 };
	struct tb *t = layer(f, "none");

	/* a hard link to a path not yet written (it comes later in the tar) */
	tb_ent(t, &(struct ent){ .name = "early", .hardlink = "late" });
	tb_ent(t, &(struct ent){ .name = "late", .data = "z", .len = 1 });
	assert_int_equal(build(f, &err), -ENOENT);
	expect_msg(&err, t->digest);
	expect_msg(&err, "entry \"early\": hard link target \"late\" does not exist (yet)");

	struct fx g = { 0 };
	memcpy(g.dir, f->dir, sizeof(f->dir));
	memcpy(g.image, f->image, sizeof(f->image));
	t = layer(&g, "none");
	tb_ent(t, &(struct ent){ .name = "dir/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "l", .hardlink = "dir" });
	assert_int_equal(build(&g, &err), -EPERM);
	expect_msg(&err, "is a directory");
	free(g.t[0]);
}

static void test_xattrs(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "gzip");
	/* cap_net_raw+ep, VFS_CAP_REVISION_2 */
	static const char cap[20] = { 0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0,
				      0, 0, 0, 0, 0, 0, 0, 0 };
	/* user::rwx user:1000:rw- group::r-x mask::rwx other::r-x */
	static const char acl[44] = { 2, 0, 0, 0, 1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 6, 0, 0xe8, 3, 0, 0,
				      4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
				      0x20, 0, 5, 0, 0xff, 0xff, 0xff, 0xff };
	char bigval[1500];
	size_t len;
	char *v;

	memset(bigval, 'v', sizeof(bigval));
	tb_ent(t, &(struct ent){ .name = "usr/bin/ping", .data = "ELF", .len = 3, .perm = 0755,
				 .xname = { "security.capability" }, .xval = { cap }, .xlen = { 20 } });
	tb_ent(t, &(struct ent){ .name = "srv/", .type = AE_IFDIR, .xname = { "user.old", "trusted.t" },
				 .xval = { "1", "2" } });
	tb_ent(t, &(struct ent){ .name = "acl", .data = "a", .len = 1, .xname = { "system.posix_acl_access" },
				 .xval = { acl }, .xlen = { sizeof(acl) } });
	tb_ent(t, &(struct ent){ .name = "bigx", .data = "b", .len = 1, .xname = { "user.big" },
				 .xval = { bigval }, .xlen = { sizeof(bigval) } });
	tb_done(t);
	t = layer(f, "gzip");
	/* a directory entry for an existing directory replaces its xattrs */
	tb_ent(t, &(struct ent){ .name = "srv/", .type = AE_IFDIR, .perm = 0700, .xname = { "user.new" },
				 .xval = { "3" } });
	build_ok(f);

	v = img_xattr(f->fs, "/usr/bin/ping", "security.capability", &len);
	assert_non_null(v);
	assert_int_equal(len, 20);
	assert_memory_equal(v, cap, 20);
	free(v);
	assert_int_equal(img_xattr_count(f->fs, "/srv"), 1);
	v = img_xattr(f->fs, "/srv", "user.new", &len);
	assert_string_equal(v, "3");
	free(v);
	assert_null(img_xattr(f->fs, "/srv", "user.old", NULL));
	assert_int_equal(img_inode(f->fs, "/srv").i_mode & 07777, 0700);
	/* On disk, the ACL is in ext4's format (what the kernel reads):
	 * version 1, short entries for the owner/group/mask/other. */
	{
		static const char disk[28] = { 1, 0, 0, 0, 1, 0, 7, 0, 2, 0, 6, 0, 0xe8, 3, 0, 0,
					       4, 0, 5, 0, 0x10, 0, 7, 0, 0x20, 0, 5, 0 };
		struct ext2_xattr_handle *h;
		void *raw = NULL;
		unsigned int flags = XATTR_HANDLE_FLAG_RAW;
		assert_int_equal(ext2fs_xattrs_open(f->fs, img_ino(f->fs, "/acl"), &h), 0);
		assert_int_equal(ext2fs_xattrs_flags(h, &flags, NULL), 0);
		assert_int_equal(ext2fs_xattrs_read(h), 0);
		assert_int_equal(ext2fs_xattr_get(h, "system.posix_acl_access", &raw, &len), 0);
		assert_int_equal(len, sizeof(disk));
		assert_memory_equal(raw, disk, sizeof(disk));
		ext2fs_free_mem(&raw);
		ext2fs_xattrs_close(&h);
	}
	v = img_xattr(f->fs, "/bigx", "user.big", &len);
	assert_int_equal(len, sizeof(bigval));
	free(v);
}

static void test_xattr_refused(void **state)
{
	struct fx *f = *state;
	struct berr err = { 0 };
	struct tb *t = layer(f, "none");

	tb_ent(t, &(struct ent){ .name = "x", .data = "x", .len = 1, .xname = { "os2.weird" },
				 .xval = { "1" } });
	assert_int_equal(build(f, &err), -ENOTSUP);
	expect_msg(&err, "entry \"x\": xattr \"os2.weird\" is not in a namespace ext4 stores");
}

static void test_replace_types(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "none");

	tb_ent(t, &(struct ent){ .name = "d/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "d/f", .data = "1", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "d/sub/deep", .data = "2", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "file", .data = "3", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "keep/", .type = AE_IFDIR, .perm = 0700 });
	tb_ent(t, &(struct ent){ .name = "keep/child", .data = "4", .len = 1 });
	tb_done(t);
	t = layer(f, "none");
	tb_ent(t, &(struct ent){ .name = "d", .type = AE_IFLNK, .symlink = "/x" }); /* dir -> symlink */
	tb_ent(t, &(struct ent){ .name = "file/", .type = AE_IFDIR });             /* file -> dir */
	tb_ent(t, &(struct ent){ .name = "file/in", .data = "5", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "keep/", .type = AE_IFDIR, .perm = 0711, .uid = 9 }); /* merge */
	build_ok(f);

	assert_true(LINUX_S_ISLNK(img_inode(f->fs, "/d").i_mode));
	assert_true(LINUX_S_ISDIR(img_inode(f->fs, "/file").i_mode));
	{
		char *in = img_read(f->fs, "/file/in", NULL);
		assert_non_null(in);
		assert_string_equal(in, "5");
		free(in);
	}
	assert_int_equal(img_inode(f->fs, "/keep").i_mode & 07777, 0711);
	assert_int_equal(inode_uid(img_inode(f->fs, "/keep")), 9);
	assert_true(img_ino(f->fs, "/keep/child") != 0);
	/* the root lost one directory (d) and gained none: link count */
	assert_int_equal(img_inode(f->fs, "/").i_links_count, 2 + 3); /* lost+found file keep */
}

/* --- whiteouts --- */

static void lower_tree(struct fx *f)
{
	struct tb *t = layer(f, "gzip");

	tb_ent(t, &(struct ent){ .name = "etc/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "etc/a", .data = "a", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "etc/b", .data = "b", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "etc/sub/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "etc/sub/c", .data = "c", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "var/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "var/log/", .type = AE_IFDIR });
	tb_ent(t, &(struct ent){ .name = "var/log/old", .data = "o", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "link", .hardlink = "etc/a" });
	tb_done(t);
}

static void test_whiteouts(void **state)
{
	struct fx *f = *state;
	struct tb *t;

	lower_tree(f);
	t = layer(f, "gzip");
	tb_ent(t, &(struct ent){ .name = "etc/.wh.a" });          /* a file */
	tb_ent(t, &(struct ent){ .name = "etc/.wh.sub" });        /* a directory, recursively */
	tb_ent(t, &(struct ent){ .name = "etc/.wh.nothere" });    /* nothing to remove */
	tb_ent(t, &(struct ent){ .name = "nodir/.wh.x" });        /* nor here */
	tb_ent(t, &(struct ent){ .name = ".wh.var" });
	tb_ent(t, &(struct ent){ .name = "etc/.wh..wh.plnk/x" }); /* AUFS metadata: ignored */
	/* whiteouts never act on their own layer, before or after the entry */
	tb_ent(t, &(struct ent){ .name = "etc/.wh.new1" });
	tb_ent(t, &(struct ent){ .name = "etc/new1", .data = "n1", .len = 2 });
	tb_ent(t, &(struct ent){ .name = "etc/new2", .data = "n2", .len = 2 });
	tb_ent(t, &(struct ent){ .name = "etc/.wh.new2" });
	build_ok(f);

	assert_int_equal(img_ino(f->fs, "/etc/a"), 0);
	assert_true(img_ino(f->fs, "/etc/b") != 0);
	assert_int_equal(img_ino(f->fs, "/etc/sub"), 0);
	assert_int_equal(img_ino(f->fs, "/var"), 0);
	assert_int_equal(img_ino(f->fs, "/etc/.wh.nothere"), 0);
	assert_int_equal(img_ino(f->fs, "/nodir"), 0);
	assert_int_equal(img_ino(f->fs, "/etc/.wh..wh.plnk"), 0);
	assert_true(img_ino(f->fs, "/etc/new1") != 0);
	assert_true(img_ino(f->fs, "/etc/new2") != 0);
	/* the hard link survives its other name */
	assert_int_equal(img_inode(f->fs, "/link").i_links_count, 1);
	assert_int_equal(img_inode(f->fs, "/etc").i_links_count, 2);
}

static void check_opaque(struct fx *f)
{
	assert_true(LINUX_S_ISDIR(img_inode(f->fs, "/etc").i_mode));
	assert_int_equal(img_ino(f->fs, "/etc/a"), 0);
	assert_int_equal(img_ino(f->fs, "/etc/b"), 0);
	assert_int_equal(img_ino(f->fs, "/etc/sub/c"), 0); /* lower content below a kept dir */
	assert_true(img_ino(f->fs, "/etc/sub/mine") != 0); /* this layer's, two levels down */
	assert_true(img_ino(f->fs, "/etc/fresh") != 0);
	assert_true(img_ino(f->fs, "/var/log/old") != 0);  /* elsewhere: untouched */
	assert_int_equal(img_inode(f->fs, "/link").i_links_count, 1);
	assert_int_equal(img_inode(f->fs, "/etc").i_mode & 07777, 0700);
}

static void opaque_case(void **state, bool marker_first)
{
	struct fx *f = *state;
	struct tb *t;

	lower_tree(f);
	t = layer(f, "gzip");
	if (marker_first)
		tb_ent(t, &(struct ent){ .name = "etc/.wh..wh..opq" });
	tb_ent(t, &(struct ent){ .name = "etc/", .type = AE_IFDIR, .perm = 0700 });
	tb_ent(t, &(struct ent){ .name = "etc/fresh", .data = "f", .len = 1 });
	tb_ent(t, &(struct ent){ .name = "etc/sub/mine", .data = "m", .len = 1 });
	if (!marker_first)
		tb_ent(t, &(struct ent){ .name = "etc/.wh..wh..opq" });
	build_ok(f);
	check_opaque(f);
}

static void test_opaque_first(void **state)
{
	opaque_case(state, true);
}

static void test_opaque_last(void **state)
{
	opaque_case(state, false);
}

static void test_opaque_root(void **state)
{
	struct fx *f = *state;
	struct tb *t;

	lower_tree(f);
	t = layer(f, "none");
	tb_ent(t, &(struct ent){ .name = "new", .data = "n", .len = 1 });
	tb_ent(t, &(struct ent){ .name = ".wh..wh..opq" });
	build_ok(f);
	assert_int_equal(img_ino(f->fs, "/etc"), 0);
	assert_int_equal(img_ino(f->fs, "/var"), 0);
	assert_true(img_ino(f->fs, "/new") != 0);
	assert_true(img_ino(f->fs, "/lost+found") != 0); /* made with the filesystem */
}

/* --- traversal and other refusals --- */

struct refusal {
	const char *lower_symlink;    /* name -> /etc in the lower layer, or NULL */
	struct ent e;
	int code;
	const char *words;
};

static void test_traversal(void **state)
{
	struct fx *f = *state;
	const struct refusal cases[] = {
		{ NULL, { .name = "../escape", .data = "x", .len = 1 }, EPERM, "\"..\" component is refused" },
		{ NULL, { .name = "a/../../escape", .data = "x", .len = 1 }, EPERM, "\"..\"" },
		{ NULL, { .name = "/etc/passwd", .data = "x", .len = 1 }, EPERM, "absolute names are refused" },
		{ NULL, { .name = "h", .hardlink = "../outside" }, EPERM, "hard link target \"../outside\"" },
		{ NULL, { .name = "h", .hardlink = "/etc/shadow" }, EPERM, "absolute names" },
		{ "lnk", { .name = "lnk/passwd", .data = "x", .len = 1 }, EPERM,
		  "\"lnk\" is a symlink, and writing through one is refused" },
		{ "lnk", { .name = "lnk/sub/deep", .type = AE_IFDIR }, EPERM, "\"lnk\" is a symlink" },
		{ "lnk", { .name = "h", .hardlink = "lnk/shadow" }, EPERM,
		  "hard link target \"lnk/shadow\": \"lnk\" is a symlink" },
		{ "lnk", { .name = "lnk/.wh.passwd" }, EPERM, "\"lnk\" is a symlink" },
		{ "lnk", { .name = "lnk/.wh..wh..opq" }, EPERM,
		  "\"lnk\" is a symlink: an opaque marker under it is refused" },
		{ "file", { .name = "file/x", .data = "x", .len = 1 }, ENOTDIR, "\"file\" is not a directory" },
		{ NULL, { .name = "a/.wh..." }, EPERM, "a whiteout must name a file" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fx g = { 0 };
		struct berr err = { 0 };
		struct tb *t;
		memcpy(g.dir, f->dir, sizeof(g.dir));
		snprintf(g.image, sizeof(g.image), "%s/case%zu.ext4", f->dir, i);
		t = layer(&g, "none");
		tb_ent(t, &(struct ent){ .name = "etc/", .type = AE_IFDIR });
		tb_ent(t, &(struct ent){ .name = "etc/passwd", .data = "root", .len = 4 });
		if (cases[i].lower_symlink && !strcmp(cases[i].lower_symlink, "file"))
			tb_ent(t, &(struct ent){ .name = "file", .data = "f", .len = 1 });
		else if (cases[i].lower_symlink)
			tb_ent(t, &(struct ent){ .name = cases[i].lower_symlink, .type = AE_IFLNK,
						 .symlink = "/etc" });
		tb_done(t);
		t = layer(&g, "gzip");
		tb_ent(t, &cases[i].e);
		int r = build(&g, &err);
		if (r != -cases[i].code || !strstr(err.msg, cases[i].words) ||
		    !strstr(err.msg, g.t[1]->digest) || !strstr(err.msg, cases[i].e.name))
			fail_msg("case %zu (%s): r=%d \"%s\"", i, cases[i].e.name, r, err.msg);
		for (size_t k = 0; k < g.n; k++)
			free(g.t[k]);
	}
}

/* --- streams --- */

static void test_stream_errors(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "gzip");
	char *rnd = xmalloc(256 << 10);
	struct oci_layer_stats st;
	struct berr err = { 0 };
	struct stat sb;
	int fd;

	for (size_t i = 0; i < (256u << 10); i++)
		rnd[i] = (char)(rand() & 0xff);
	tb_ent(t, &(struct ent){ .name = "r", .data = rnd, .len = 256 << 10 });
	tb_done(t);
	free(rnd);
	/* a truncated gzip */
	assert_int_equal(stat(t->path, &sb), 0);
	_cleanup_free_ char *cut = path_join(f->dir, "cut.tar.gz");
	{
		char *data = NULL;
		size_t len = 0;
		assert_int_equal(read_file(t->path, 1 << 30, &data, &len), 0);
		assert_int_equal(write_file_atomic(cut, data, len / 2, 0600), 0);
		/* trailing garbage after a complete member */
		_cleanup_free_ char *junk = path_join(f->dir, "junk.tar.gz");
		char *more = xmalloc(len + 16);
		memcpy(more, data, len);
		memcpy(more + len, "garbage-garbage!", 16);
		assert_int_equal(write_file_atomic(junk, more, len + 16, 0600), 0);
		fd = open(junk, O_RDONLY | O_CLOEXEC);
		assert_int_equal(oci_layer_scan(fd, "sha256:junk", 1ULL << 30, NULL, NULL, NULL, &st, &err),
				 -EBADMSG);
		expect_msg(&err, "trailing garbage");
		close(fd);
		free(more);
		free(data);
	}
	fd = open(cut, O_RDONLY | O_CLOEXEC);
	assert_int_equal(oci_layer_scan(fd, "sha256:cut", 1ULL << 30, NULL, NULL, NULL, &st, &err), -EBADMSG);
	expect_msg(&err, "layer sha256:cut: truncated gzip input");
	close(fd);
	/* corrupt data inside */
	{
		char *data = NULL;
		size_t len = 0;
		assert_int_equal(read_file(t->path, 1 << 30, &data, &len), 0);
		for (size_t i = 100; i < 200; i++)
			data[i] ^= 0x5a;
		_cleanup_free_ char *bad = path_join(f->dir, "bad.gz");
		assert_int_equal(write_file_atomic(bad, data, len, 0600), 0);
		free(data);
		fd = open(bad, O_RDONLY | O_CLOEXEC);
		assert_int_equal(oci_layer_scan(fd, "sha256:bad", 1ULL << 30, NULL, NULL, NULL, &st, &err),
				 -EBADMSG);
		close(fd);
	}
	/* a bomb beyond the limit on the content */
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(oci_layer_scan(fd, "sha256:big", 100000, NULL, NULL, NULL, &st, &err), -EFBIG);
	expect_msg(&err, "more than 100000 bytes");
	close(fd);
	/* not a tar at all */
	_cleanup_free_ char *txt = path_join(f->dir, "notar");
	assert_int_equal(write_file_atomic(txt, "hello, this is not a tar archive at all\n", 41, 0600), 0);
	fd = open(txt, O_RDONLY | O_CLOEXEC);
	assert_true(oci_layer_scan(fd, "sha256:txt", 1ULL << 30, NULL, NULL, NULL, &st, &err) < 0);
	expect_msg(&err, "layer sha256:txt");
	close(fd);
	/* an empty stream */
	_cleanup_free_ char *empty = path_join(f->dir, "empty");
	assert_int_equal(write_file_atomic(empty, "", 0, 0600), 0);
	fd = open(empty, O_RDONLY | O_CLOEXEC);
	assert_true(oci_layer_scan(fd, "sha256:empty", 1ULL << 30, NULL, NULL, NULL, &st, &err) < 0);
	close(fd);
}

/* A tar split across two gzip members, and across two zstd frames, is one
 * stream (gzip, zstd and Go's readers agree). */
static void test_multi_member(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "none");
	struct oci_layer_stats st, plain;
	struct berr err = { 0 };
	const char *tools[] = { "gzip", "zstd" };
	int fd;

	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		tb_ent(t, &(struct ent){ .name = name, .data = name, .len = strlen(name) });
	}
	tb_done(t);
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(oci_layer_scan(fd, "sha256:plain", 1ULL << 30, NULL, NULL, NULL, &plain, &err), 0);
	close(fd);
	assert_string_equal(plain.diff_id, t->digest);
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		_cleanup_free_ char *out = xasprintf("%s/two.%s", f->dir, tools[i]);
		_cleanup_free_ char *cmd = xasprintf(
			"head -c 7000 %s | %s -c > %s && tail -c +7001 %s | %s -c >> %s", t->path,
			tools[i], out, t->path, tools[i], out);
		char *argv[] = { "sh", "-c", cmd, NULL };
		assert_int_equal(run_status(argv), 0);
		fd = open(out, O_RDONLY | O_CLOEXEC);
		assert_int_equal(oci_layer_scan(fd, "sha256:two", 1ULL << 30, NULL, NULL, NULL, &st, &err), 0);
		close(fd);
		assert_string_equal(st.diff_id, plain.diff_id);
		assert_int_equal(st.entries, 40);
	}
}

static void test_diff_id_and_cancel(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "zstd");
	struct oci_layer_stats st;
	struct oci_fs_geom g = { 0 };
	struct oci_fs *fs;
	struct berr err = { 0 };
	atomic_int cancel = 1;
	int fd;

	tb_ent(t, &(struct ent){ .name = "a", .data = "a", .len = 1 });
	tb_done(t);
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(oci_layer_scan(fd, t->digest, 1ULL << 30, NULL, NULL, NULL, &st, &err), 0);
	oci_fs_size(&st, 0, &g);
	assert_int_equal(oci_fs_create(f->image, &g, "rootfs", &fs, &err), 0);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(oci_fs_apply(fs, fd, t->digest, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
				      1ULL << 30, NULL, NULL, NULL, &err),
			 -EBADMSG);
	expect_msg(&err, "but the image config says sha256:0000");
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(oci_fs_apply(fs, fd, t->digest, NULL, 1ULL << 30, &cancel, NULL, NULL, &err),
			 -ECANCELED);
	assert_int_equal(oci_fs_close(fs, -ECANCELED, &err), -ECANCELED);
	assert_int_equal(access(f->image, F_OK), -1);
	close(fd);
}

/* n files of 1 MiB of incompressible data, then the layer is done. */
static void random_files(struct tb *t, int n)
{
	char *rnd = xmalloc(1 << 20);

	for (size_t i = 0; i < (1u << 20); i++)
		rnd[i] = (char)(rand() & 0xff);
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		rnd[0] = (char)i;
		tb_ent(t, &(struct ent){ .name = name, .data = rnd, .len = 1 << 20 });
	}
	tb_done(t);
	free(rnd);
}

static void test_image_full(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "zstd");
	struct oci_fs_geom g = { .blocks = 16384, .inodes = 1024 }; /* 64 MiB */
	struct oci_fs *fs;
	struct berr err = { 0 };
	int fd;

	random_files(t, 80);
	assert_int_equal(oci_fs_create(f->image, &g, "rootfs", &fs, &err), 0);
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	int r = oci_fs_apply(fs, fd, t->digest, NULL, 1ULL << 30, NULL, NULL, NULL, &err);
	close(fd);
	assert_int_equal(r, -ENOSPC);
	assert_true(oci_fs_full(fs)); /* the image, not the host: a larger one may follow */
	assert_int_equal(oci_fs_close(fs, r, &err), r);
	assert_int_equal(access(f->image, F_OK), -1);
}

/* The host's filesystem full (a small tmpfs): one sentence, nothing left. */
static void test_host_full(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *mnt = path_join(f->dir, "mnt");
	struct tb *t = layer(f, "zstd");
	struct berr err = { 0 };

	random_files(t, 12);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=6m") < 0)
		skip();
	snprintf(f->image, sizeof(f->image), "%s/rootfs.ext4", mnt);
	int r = build_image(f->image, f->t, f->n, &err);
	assert_int_equal(r, -ENOSPC);
	expect_msg(&err, "no space left on the host");
	assert_int_equal(access(f->image, F_OK), -1);
}

/* Many names in one directory (no quadratic lookups), removed again by an
 * opaque marker in the next layer. */
static void test_many_files(void **state)
{
	struct fx *f = *state;
	struct tb *t = layer(f, "gzip");
	char name[64];

	tb_ent(t, &(struct ent){ .name = "d/", .type = AE_IFDIR });
	for (int i = 0; i < 30000; i++) {
		snprintf(name, sizeof(name), "d/file-with-a-longish-name-%06d", i);
		tb_ent(t, &(struct ent){ .name = name });
	}
	tb_done(t);
	t = layer(f, "gzip");
	tb_ent(t, &(struct ent){ .name = "d/.wh..wh..opq" });
	for (int i = 0; i < 30000; i += 3) {
		snprintf(name, sizeof(name), "d/file-with-a-longish-name-%06d", i);
		tb_ent(t, &(struct ent){ .name = name, .data = "k", .len = 1 });
	}
	tb_ent(t, &(struct ent){ .name = "d/file-with-a-longish-name-000003", .hardlink = "d/file-with-a-longish-name-000000" });
	build_ok(f);
	assert_true(img_ino(f->fs, "/d/file-with-a-longish-name-000000") != 0);
	assert_true(img_ino(f->fs, "/d/file-with-a-longish-name-000003") != 0);
	assert_int_equal(img_ino(f->fs, "/d/file-with-a-longish-name-000001"), 0);
	assert_int_equal(img_ino(f->fs, "/d/file-with-a-longish-name-029999"), 0);
	assert_true(img_ino(f->fs, "/d/file-with-a-longish-name-029997") != 0);
}

static void test_put_file(void **state)
{
	struct fx *f = *state;
	struct oci_fs_geom g = { .blocks = 16384, .inodes = 1024 };
	struct oci_fs *fs;
	struct berr err = { 0 };
	char *data;

	assert_int_equal(oci_fs_create(f->image, &g, "rootfs", &fs, &err), 0);
	assert_int_equal(oci_fs_put_file(fs, "/.banger/init", "#!init", 6, 0755, &err), 0);
	assert_int_equal(oci_fs_put_file(fs, "/.banger/init", "#!init2", 7, 0700, &err), 0);
	assert_int_equal(oci_fs_put_file(fs, "/", "x", 1, 0700, &err), -EINVAL);
	assert_int_equal(oci_fs_close(fs, 0, &err), 0);
	assert_int_equal(fsck(f->image), 0);
	f->fs = img_open(f->image);
	data = img_read(f->fs, "/.banger/init", NULL);
	assert_string_equal(data, "#!init2");
	free(data);
	assert_int_equal(img_inode(f->fs, "/.banger/init").i_mode & 07777, 0700);
	assert_int_equal(img_inode(f->fs, "/.banger").i_mode & 07777, 0755);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_files_owners_modes_times),
		T(test_sparse),
		T(test_symlinks_devices_fifos),
		T(test_hardlinks),
		T(test_hardlink_refused),
		T(test_xattrs),
		T(test_xattr_refused),
		T(test_replace_types),
		T(test_whiteouts),
		T(test_opaque_first),
		T(test_opaque_last),
		T(test_opaque_root),
		T(test_traversal),
		T(test_stream_errors),
		T(test_multi_member),
		T(test_diff_id_and_cancel),
		T(test_image_full),
		T(test_host_full),
		T(test_many_files),
		T(test_put_file),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
