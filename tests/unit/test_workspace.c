/* tests/unit/test_workspace.c: the workspace writer (core/workspace.c) and
 * file_sync (core/filesync.c) against fresh work disks made by
 * workdisk_create, read back with libext2fs and debugfs, checked with
 * e2fsck -fn. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ext2fs/ext2fs.h>

#include "testutil.h"

#include "config.h"
#include "disk.h"
#include "filesync.h"
#include "util.h"
#include "workspace.h"

struct fixture {
	char dir[64];
	char *img, *ws, *repo;
	struct sbuf warnings;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/banger-test-ws-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	chmod(f->dir, 0755);
	f->img = path_join(f->dir, "work.img");
	f->ws = path_join(f->dir, "ws");
	f->repo = path_join(f->dir, "ws/repo");
	mkdir(f->ws, 0755);
	mkdir(f->repo, 0755);
	sbuf_init(&f->warnings);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f->img);
	free(f->ws);
	free(f->repo);
	sbuf_free(&f->warnings);
	free(f);
	return 0;
}

static void collect_warning(void *ctx, const char *line)
{
	struct sbuf *s = ctx;

	assert_null(strchr(line, '\n'));
	sbuf_printf(s, "%s\n", line);
}

static const char *warnings(struct fixture *f)
{
	return f->warnings.buf ? f->warnings.buf : "";
}

/* ---- making files ------------------------------------------------------ */

static void put(const char *dir, const char *rel, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *p = path_join(dir, rel);
	_cleanup_free_ char *copy = xstrdup(p);
	char *slash = strrchr(copy, '/');

	*slash = '\0';
	assert_int_equal(mkdir_p(copy, 0755), 0);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void put_str(const char *dir, const char *rel, const char *s, mode_t mode)
{
	put(dir, rel, s, strlen(s), mode);
}

static void set_mtime(const char *dir, const char *rel, time_t sec, long nsec)
{
	_cleanup_free_ char *p = path_join(dir, rel);
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Write DIR/list from n NUL-terminated names (as git ls-files -z). */
static void write_list(struct fixture *f, const char *file, const char *const *names, size_t n)
{
	struct sbuf s;
	_cleanup_free_ char *p = path_join(f->ws, file);

	sbuf_init(&s);
	for (size_t i = 0; i < n; i++)
		sbuf_add(&s, names[i], strlen(names[i]) + 1);
	assert_int_equal(write_file_atomic(p, s.buf ? s.buf : "", s.len, 0644), 0);
	sbuf_free(&s);
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

/* ---- reading the image back with libext2fs ------------------------------- */

struct img {
	ext2_filsys fs;
};

static void img_open(struct img *m, const char *path)
{
	assert_int_equal(ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &m->fs), 0);
}

static void img_close(struct img *m)
{
	ext2fs_close_free(&m->fs);
}

/* 0 and the inode, or -ENOENT. */
static int img_stat(struct img *m, const char *path, struct ext2_inode_large *in, ext2_ino_t *ret)
{
	ext2_ino_t ino;

	if (ext2fs_namei(m->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino))
		return -ENOENT;
	memset(in, 0, sizeof(*in));
	assert_int_equal(ext2fs_read_inode_full(m->fs, ino, EXT2_INODE(in), sizeof(*in)), 0);
	if (ret)
		*ret = ino;
	return 0;
}

static char *img_read(struct img *m, const char *path, size_t *ret_len)
{
	struct ext2_inode_large in;
	ext2_ino_t ino;
	ext2_file_t file;
	unsigned got = 0;

	assert_int_equal(img_stat(m, path, &in, &ino), 0);
	size_t len = EXT2_I_SIZE(EXT2_INODE(&in));
	char *buf = xmalloc(len + 1);
	assert_int_equal(ext2fs_file_open(m->fs, ino, 0, &file), 0);
	for (size_t done = 0; done < len; done += got) {
		assert_int_equal(ext2fs_file_read(file, buf + done, (unsigned)(len - done), &got), 0);
		assert_true(got > 0);
	}
	ext2fs_file_close(file);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static void assert_file(struct img *m, const char *path, const void *data, size_t len,
			unsigned mode)
{
	struct ext2_inode_large in;
	size_t got_len = 0;
	_cleanup_free_ char *got = NULL;

	if (img_stat(m, path, &in, NULL) < 0)
		fail_msg("%s is missing from the image", path);
	assert_true(LINUX_S_ISREG(in.i_mode));
	if ((in.i_mode & 07777) != mode)
		fail_msg("%s: mode %04o, want %04o", path, in.i_mode & 07777, mode);
	assert_int_equal(inode_uid(*EXT2_INODE(&in)), 0);
	assert_int_equal(inode_gid(*EXT2_INODE(&in)), 0);
	got = img_read(m, path, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
}

static void assert_mode(struct img *m, const char *path, unsigned type, unsigned mode)
{
	struct ext2_inode_large in;

	if (img_stat(m, path, &in, NULL) < 0)
		fail_msg("%s is missing from the image", path);
	if ((in.i_mode & LINUX_S_IFMT) != type || (in.i_mode & 07777) != mode)
		fail_msg("%s: mode %06o, want %06o", path, in.i_mode, type | mode);
	assert_int_equal(inode_uid(*EXT2_INODE(&in)), 0);
}

static void assert_absent(struct img *m, const char *path)
{
	struct ext2_inode_large in;

	if (img_stat(m, path, &in, NULL) == 0)
		fail_msg("%s should not be in the image", path);
}

/* The target of a symlink, via debugfs (fast and slow links alike). */
static char *img_readlink(const char *img, const char *path)
{
	_cleanup_free_ char *req = xasprintf("stat %s", path);
	char *argv[] = { "debugfs", "-R", req, (char *)img, NULL };
	char *out = NULL, *p, *e;

	assert_int_equal(tu_run(argv, &out), 0);
	p = strstr(out, "Fast link dest: \"");
	if (!p) {
		free(out);
		return NULL;
	}
	p += strlen("Fast link dest: \"");
	e = strchr(p, '"');
	assert_non_null(e);
	char *t = xasprintf("%.*s", (int)(e - p), p);
	free(out);
	return t;
}

/* ---- the list parser ------------------------------------------------------ */

static void expect_bad_list(const char *data, size_t len, int flags, int code, const char *want)
{
	struct ws_list l;
	struct berr err = { 0 };

	assert_int_equal(ws_list_parse(data, len, flags, &l, &err), -code);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
	assert_null(strchr(err.msg, '\n'));
	assert_null(l.path);
}

static void test_list_parse(void **state)
{
	struct ws_list l;
	struct berr err = { 0 };
	(void)state;

	static const char good[] = "b/c\0a\0b/a b\0a\0z/\xc3\xa9t\xc3\xa9.txt\0..x\0.a/.b";
	assert_int_equal(ws_list_parse(good, sizeof(good), 0, &l, &err), 0);
	assert_int_equal(l.n, 6);  /* sorted, "a" once */
	assert_string_equal(l.path[0], "..x");
	assert_string_equal(l.path[1], ".a/.b");
	assert_string_equal(l.path[2], "a");
	assert_string_equal(l.path[3], "b/a b");
	assert_string_equal(l.path[4], "b/c");
	assert_string_equal(l.path[5], "z/\xc3\xa9t\xc3\xa9.txt");
	ws_list_free(&l);
	/* no final NUL; an empty list */
	assert_int_equal(ws_list_parse("x\0y", 3, 0, &l, &err), 0);
	assert_int_equal(l.n, 2);
	ws_list_free(&l);
	assert_int_equal(ws_list_parse("", 0, 0, &l, &err), 0);
	assert_int_equal(l.n, 0);
	ws_list_free(&l);
	assert_int_equal(ws_list_parse(".git/config\0a/.git", 19, WS_LIST_ALLOW_DOTGIT, &l, &err), 0);
	assert_int_equal(l.n, 2);
	ws_list_free(&l);

	expect_bad_list("a\0\0b", 4, 0, EINVAL, "entry 2 is empty");
	expect_bad_list("\0", 1, 0, EINVAL, "is empty");
	expect_bad_list("/etc/shadow", 11, 0, EINVAL, "absolute");
	expect_bad_list("../x", 4, 0, EINVAL, "\"..\"");
	expect_bad_list("a/../../x", 9, 0, EINVAL, "\"..\"");
	expect_bad_list("a/..", 4, 0, EINVAL, "\"..\"");
	expect_bad_list("./a", 3, 0, EINVAL, "\".\"");
	expect_bad_list("a/./b", 5, 0, EINVAL, "\".\"");
	expect_bad_list("a//b", 4, 0, EINVAL, "empty component");
	expect_bad_list("a/", 2, 0, EINVAL, "empty component");
	expect_bad_list("ok\0new\nline", 11, 0, EINVAL, "entry 2 (\"new?line\") has a control");
	expect_bad_list("tab\there", 8, 0, EINVAL, "control character");
	expect_bad_list("esc\x1b[0m", 7, 0, EINVAL, "control character");
	expect_bad_list("del\x7f", 4, 0, EINVAL, "control character");
	expect_bad_list(".git/config", 11, 0, EINVAL, "\".git\"");
	expect_bad_list("sub/.GIT/hooks/x", 16, 0, EINVAL, "\".git\"");
	expect_bad_list("a\0a/b", 5, 0, EINVAL, "under another entry");
	char longc[300];
	memset(longc, 'x', 256);
	longc[256] = '\0';
	expect_bad_list(longc, 256, 0, EINVAL, "longer than 255");
	struct sbuf deep;
	sbuf_init(&deep);
	for (int i = 0; i <= WS_MAX_DEPTH; i++)
		sbuf_puts(&deep, i ? "/d" : "d");
	expect_bad_list(deep.buf, deep.len, 0, EINVAL, "levels deep");
	sbuf_free(&deep);
	char *huge = xcalloc(1, PATH_MAX + 10);
	for (int i = 0; i < PATH_MAX + 5; i++)
		huge[i] = (i % 100 == 99) ? '/' : 'y';
	expect_bad_list(huge, PATH_MAX + 5, 0, EINVAL, "longer than");
	free(huge);
}

/* ---- the writer --------------------------------------------------------- */

static int write_ws(struct fixture *f, const struct ws_ident *id, struct ws_stats *st,
		    struct berr *err)
{
	sbuf_free(&f->warnings);
	sbuf_init(&f->warnings);
	return workspace_write(f->img, f->ws, id, collect_warning, &f->warnings, st, err);
}

static void test_write_tree(void **state)
{
	struct fixture *f = *state;
	struct ws_ident me = { .uid = 0, .gid = 0 };
	struct berr err = { 0 };
	struct ws_stats st;
	struct img m;
	size_t big_len = (3 << 20) + 77;
	_cleanup_free_ char *big = xmalloc(big_len);
	_cleanup_free_ char *shadow = NULL, *rel = NULL, *longl = NULL;
	char longt[300];
	int fds;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 2654435761u >> 13);
	put_str(f->repo, "README.md", "# hello\n", 0644);
	put_str(f->repo, "src/deep/er/main.c", "int main(void) { return 0; }\n", 0600);
	put_str(f->repo, "run.sh", "#!/bin/sh\necho hi\n", 0700);
	put_str(f->repo, "dir with space/\xc3\xa9t\xc3\xa9 file.txt", "unicode\n", 0664);
	put(f->repo, "empty", "", 0, 0644);
	put(f->repo, "big.bin", big, big_len, 0644);
	put_str(f->repo, "ignored.log", "not listed\n", 0644);
	assert_int_equal(symlink("/etc/shadow", p("%s/shadow", f->repo)), 0);
	assert_int_equal(symlink("src/deep/er/main.c", p("%s/rel-link", f->repo)), 0);
	memset(longt, 'L', 200);
	longt[200] = '\0';
	assert_int_equal(symlink(longt, p("%s/long-link", f->repo)), 0);
	mkdir(p("%s/submodule", f->repo), 0755);  /* a gitlink: listed, a directory */
	set_mtime(f->repo, "README.md", 1600000000, 123456789);
	set_mtime(f->repo, "shadow", 1500000000, 0);
	set_mtime(f->repo, "src/deep", 1400000000, 0);

	static const char *const names[] = {
		"README.md", "src/deep/er/main.c", "run.sh", "dir with space/\xc3\xa9t\xc3\xa9 file.txt",
		"empty", "big.bin", "shadow", "rel-link", "long-link", "submodule", "vanished.txt",
	};
	write_list(f, "list", names, ARRAY_SIZE(names));
	assert_int_equal(workdisk_create(f->img, 64 << 20, "work", &err), 0);
	fds = count_fds();
	int r = write_ws(f, &me, &st, &err);
	if (r < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(r, 0);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(st.files, 6);
	assert_int_equal(st.symlinks, 3);
	assert_int_equal(st.bytes, 8 + 29 + 18 + 8 + big_len);
	assert_true(st.need_bytes >= st.bytes);
	assert_non_null(strstr(warnings(f), "skipped submodule: a directory (a submodule?)\n"));
	assert_non_null(strstr(warnings(f), "skipped vanished.txt: vanished since it was listed\n"));
	fsck_ok(f->img);

	img_open(&m, f->img);
	assert_mode(&m, "/repo", LINUX_S_IFDIR, 0755);
	assert_mode(&m, "/repo/src", LINUX_S_IFDIR, 0755);
	assert_mode(&m, "/repo/src/deep/er", LINUX_S_IFDIR, 0755);
	assert_file(&m, "/repo/README.md", "# hello\n", 8, 0644);
	assert_file(&m, "/repo/src/deep/er/main.c", "int main(void) { return 0; }\n", 29, 0644);
	assert_file(&m, "/repo/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
	assert_file(&m, "/repo/dir with space/\xc3\xa9t\xc3\xa9 file.txt", "unicode\n", 8, 0644);
	assert_file(&m, "/repo/empty", "", 0, 0644);
	assert_file(&m, "/repo/big.bin", big, big_len, 0644);
	assert_mode(&m, "/repo/shadow", LINUX_S_IFLNK, 0777);
	assert_absent(&m, "/repo/ignored.log");
	assert_absent(&m, "/repo/submodule");
	assert_absent(&m, "/repo/vanished.txt");
	/* mtimes, to the nanosecond */
	struct ext2_inode_large in;
	assert_int_equal(img_stat(&m, "/repo/README.md", &in, NULL), 0);
	assert_int_equal(in.i_mtime, 1600000000);
	assert_int_equal(in.i_mtime_extra >> 2, 123456789);
	assert_int_equal(img_stat(&m, "/repo/shadow", &in, NULL), 0);
	assert_int_equal(in.i_mtime, 1500000000);
	assert_int_equal(img_stat(&m, "/repo/src/deep", &in, NULL), 0);
	assert_int_equal(in.i_mtime, 1400000000);
	img_close(&m);

	/* The symlink to /etc/shadow is a symlink, not the file. */
	shadow = img_readlink(f->img, "/repo/shadow");
	assert_non_null(shadow);
	assert_string_equal(shadow, "/etc/shadow");
	rel = img_readlink(f->img, "/repo/rel-link");
	assert_string_equal(rel, "src/deep/er/main.c");
	/* a target over 60 bytes is a slow symlink: its block holds it */
	_cleanup_free_ char *dumped = path_join(f->dir, "dump");
	_cleanup_free_ char *req = xasprintf("dump -p /repo/long-link %s", dumped);
	char *argv[] = { "debugfs", "-R", req, f->img, NULL };
	assert_int_equal(tu_run(argv, NULL), 0);
	size_t ll = 0;
	assert_int_equal(read_file(dumped, 4096, &longl, &ll), 0);
	assert_int_equal(ll, 200);
	assert_memory_equal(longl, longt, 200);

	/* A second copy into the same disk would mix two trees: refused. */
	r = write_ws(f, &me, &st, &err);
	assert_int_equal(r, -EEXIST);
	assert_non_null(strstr(err.msg, "already has /repo"));
	fsck_ok(f->img);
}

/* The guest .git from DIR/git and DIR/git.list. */
static void test_write_git_dir(void **state)
{
	struct fixture *f = *state;
	struct berr err = { 0 };
	struct ws_stats st;
	struct img m;
	_cleanup_free_ char *git = path_join(f->ws, "git");

	put_str(f->repo, "a.txt", "a\n", 0644);
	put_str(git, "HEAD", "ref: refs/heads/main\n", 0644);
	put_str(git, "refs/heads/main", "0123\n", 0644);
	put_str(git, "objects/pack/pack-1.pack", "PACK", 0444);
	put_str(git, "hooks/post-checkout", "#!/bin/sh\n", 0755);  /* not listed */
	static const char *const names[] = { "a.txt" };
	static const char *const gnames[] = { "HEAD", "refs/heads/main", "objects/pack/pack-1.pack" };
	write_list(f, "list", names, 1);
	write_list(f, "git.list", gnames, 3);
	assert_int_equal(workdisk_create(f->img, 32 << 20, "work", &err), 0);
	assert_int_equal(write_ws(f, NULL, &st, &err), 0);
	fsck_ok(f->img);
	img_open(&m, f->img);
	assert_file(&m, "/repo/a.txt", "a\n", 2, 0644);
	assert_mode(&m, "/repo/.git", LINUX_S_IFDIR, 0755);
	assert_file(&m, "/repo/.git/HEAD", "ref: refs/heads/main\n", 21, 0644);
	assert_file(&m, "/repo/.git/refs/heads/main", "0123\n", 5, 0644);
	assert_file(&m, "/repo/.git/objects/pack/pack-1.pack", "PACK", 4, 0644);
	assert_absent(&m, "/repo/.git/hooks");
	img_close(&m);
}

/* Nothing is written: /repo is absent and the disk is clean. */
static void assert_untouched(struct fixture *f)
{
	struct img m;

	fsck_ok(f->img);
	img_open(&m, f->img);
	assert_absent(&m, "/repo");
	img_close(&m);
}

static void test_hostile_lists(void **state)
{
	struct fixture *f = *state;
	struct berr err = { 0 };
	struct ws_stats st;

	put_str(f->repo, "ok.txt", "ok\n", 0644);
	assert_int_equal(workdisk_create(f->img, 32 << 20, "work", &err), 0);

	static const struct { const char *data; size_t len; const char *want; } bad[] = {
		{ "ok.txt\0../../etc/passwd", 23, "\"..\"" },
		{ "ok.txt\0/etc/passwd", 18, "absolute" },
		{ "ok.txt\0evil\nname", 16, "control character" },
		{ "ok.txt\0.git/config", 18, "\".git\"" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *lp = path_join(f->ws, "list");
		assert_int_equal(write_file_atomic(lp, bad[i].data, bad[i].len, 0644), 0);
		berr_clear(&err);
		assert_int_equal(write_ws(f, NULL, &st, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("\"%s\" does not say %s", err.msg, bad[i].want);
		assert_untouched(f);
	}

	/* A symlinked directory on the way is not followed, whatever it points at. */
	assert_int_equal(symlink("/etc", p("%s/etc-link", f->repo)), 0);
	static const char *const via_link[] = { "ok.txt", "etc-link/passwd" };
	write_list(f, "list", via_link, 2);
	assert_int_equal(write_ws(f, NULL, &st, &err), 0);
	assert_non_null(strstr(warnings(f), "skipped etc-link/passwd: a directory on its path is a "
					    "symlink"));
	struct img m;
	img_open(&m, f->img);
	assert_file(&m, "/repo/ok.txt", "ok\n", 3, 0644);
	assert_absent(&m, "/repo/etc-link");
	img_close(&m);
	fsck_ok(f->img);

	/* The list itself must not be a symlink (to a file the caller cannot read). */
	_cleanup_free_ char *img2 = path_join(f->dir, "work2.img");
	assert_int_equal(workdisk_create(img2, 32 << 20, "work", &err), 0);
	_cleanup_free_ char *lp = path_join(f->ws, "list");
	unlink(lp);
	assert_int_equal(symlink("/etc/shadow", lp), 0);
	assert_true(workspace_write(img2, f->ws, NULL, NULL, NULL, &st, &err) < 0);
	assert_non_null(strstr(err.msg, "list"));
}

/* Files and directories the caller may not read or search are refused,
 * before anything is written. */
static void test_caller_rights(void **state)
{
	struct fixture *f = *state;
	struct berr err = { 0 };
	struct ws_stats st;
	gid_t groups[] = { 4242 };
	struct ws_ident user = { .uid = 1000, .gid = 1000 };
	struct ws_ident member = { .uid = 1001, .gid = 1001, .groups = groups, .ngroups = 1 };

	put_str(f->repo, "public.txt", "public\n", 0644);
	put_str(f->repo, "secret.txt", "root only\n", 0600);  /* owned by root (us) */
	static const char *const one[] = { "public.txt", "secret.txt" };
	write_list(f, "list", one, 2);
	assert_int_equal(workdisk_create(f->img, 32 << 20, "work", &err), 0);
	assert_int_equal(write_ws(f, &user, &st, &err), -EACCES);
	assert_non_null(strstr(err.msg, "secret.txt may not be read by uid 1000"));
	assert_untouched(f);

	/* readable through the group, for a member; the owner reads 0400 */
	assert_int_equal(chown(p("%s/secret.txt", f->repo), 0, 4242), 0);
	assert_int_equal(chmod(p("%s/secret.txt", f->repo), 0640), 0);
	assert_int_equal(write_ws(f, &user, &st, &err), -EACCES);
	assert_int_equal(write_ws(f, &member, &st, &err), 0);
	_cleanup_free_ char *img2 = path_join(f->dir, "work2.img");
	assert_int_equal(chown(p("%s/secret.txt", f->repo), 1000, 1000), 0);
	assert_int_equal(chmod(p("%s/secret.txt", f->repo), 0400), 0);
	assert_int_equal(workdisk_create(img2, 32 << 20, "work", &err), 0);
	assert_int_equal(workspace_write(img2, f->ws, &user, NULL, NULL, &st, &err), 0);
	assert_int_equal(st.files, 2);

	/* a directory the caller cannot search */
	put_str(f->repo, "locked/inner.txt", "inner\n", 0644);
	assert_int_equal(chmod(p("%s/locked", f->repo), 0700), 0);
	static const char *const two[] = { "public.txt", "locked/inner.txt" };
	write_list(f, "list", two, 2);
	_cleanup_free_ char *img3 = path_join(f->dir, "work3.img");
	assert_int_equal(workdisk_create(img3, 32 << 20, "work", &err), 0);
	assert_int_equal(workspace_write(img3, f->ws, &user, NULL, NULL, &st, &err), -EACCES);
	assert_non_null(strstr(err.msg, "may not search directory locked"));

	/* the repository's own parents: the caller must be able to reach it */
	assert_int_equal(chmod(f->ws, 0700), 0);
	assert_int_equal(workspace_write(img3, f->ws, &user, NULL, NULL, &st, &err), -EACCES);
	assert_non_null(strstr(err.msg, "may not search"));
	assert_int_equal(chmod(f->ws, 0755), 0);

	/* a POSIX ACL: user 1000 is named with no rights although "other" may
	 * read; only the owner is trusted with such a file. */
	assert_int_equal(chmod(p("%s/locked", f->repo), 0755), 0);
	struct {
		uint32_t version;
		struct { uint16_t tag, perm; uint32_t id; } e[5];
	} __attribute__((packed)) acl = { 2, {
		{ 0x01, 6, 0xffffffff },   /* user:: rw */
		{ 0x02, 0, 1000 },         /* user:1000: --- */
		{ 0x04, 4, 0xffffffff },   /* group:: r */
		{ 0x10, 4, 0xffffffff },   /* mask:: r */
		{ 0x20, 4, 0xffffffff },   /* other:: r */
	} };
	if (setxattr(p("%s/locked/inner.txt", f->repo), "system.posix_acl_access", &acl,
		     sizeof(acl), 0) < 0) {
		print_message("no POSIX ACLs here (%s): ACL case not checked\n", strerror(errno));
		return;
	}
	struct ws_ident other = { .uid = 1002, .gid = 1002 };
	assert_int_equal(workspace_write(img3, f->ws, &user, NULL, NULL, &st, &err), -EACCES);
	assert_non_null(strstr(err.msg, "with an ACL"));
	assert_int_equal(workspace_write(img3, f->ws, &other, NULL, NULL, &st, &err), -EACCES);
	struct ws_ident owner = { .uid = 0, .gid = 0 };
	assert_int_equal(workspace_write(img3, f->ws, &owner, NULL, NULL, &st, &err), 0);
}

static void test_too_big(void **state)
{
	struct fixture *f = *state;
	struct berr err = { 0 };
	struct ws_stats st;
	size_t len = 24 << 20;
	_cleanup_free_ char *data = xcalloc(1, len);
	struct stat before, after;

	put(f->repo, "huge.bin", data, len, 0644);
	put_str(f->repo, "small.txt", "small\n", 0644);
	static const char *const names[] = { "small.txt", "huge.bin" };
	write_list(f, "list", names, 2);
	assert_int_equal(workdisk_create(f->img, 16 << 20, "work", &err), 0);
	assert_int_equal(stat(f->img, &before), 0);
	assert_int_equal(write_ws(f, NULL, &st, &err), -ENOSPC);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "the repository needs 24."));
	assert_non_null(strstr(err.msg, "MiB free"));
	assert_untouched(f);
	assert_int_equal(stat(f->img, &after), 0);
	assert_int_equal(after.st_blocks, before.st_blocks);  /* not a block written */

	/* too many inodes */
	struct sbuf s;
	sbuf_init(&s);
	for (int i = 0; i < 5000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many/f%04d", i);
		put_str(f->repo, name, "x", 0644);
		sbuf_add(&s, name, strlen(name) + 1);
	}
	_cleanup_free_ char *lp = path_join(f->ws, "list");
	assert_int_equal(write_file_atomic(lp, s.buf, s.len, 0644), 0);
	sbuf_free(&s);
	assert_int_equal(write_ws(f, NULL, &st, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "inodes free"));
	assert_untouched(f);
}

/* ---- file_sync ------------------------------------------------------------ */

static void test_file_sync(void **state)
{
	struct fixture *f = *state;
	struct berr err = { 0 };
	struct banger_config c;
	struct img m;
	_cleanup_free_ char *home = path_join(f->dir, "home");
	_cleanup_free_ char *outside = path_join(f->dir, "outside");
	_cleanup_free_ char *cfg = NULL;

	put_str(home, ".gitconfig", "[user]\n\tname = me\n", 0644);
	put_str(home, ".aws/config", "[default]\n", 0600);
	put_str(home, ".aws/credentials", "secret\n", 0600);
	put_str(home, ".aws/cli/cache/x.json", "{}\n", 0644);
	put_str(outside, "secret", "outside\n", 0644);
	assert_int_equal(symlink(p("%s/secret", outside), p("%s/.aws/escape", home)), 0);
	assert_int_equal(symlink(".gitconfig", p("%s/gitconfig-link", home)), 0);
	assert_int_equal(symlink(p("%s/secret", outside), p("%s/outside-link", home)), 0);
	assert_int_equal(symlink(outside, p("%s/dotfiles", home)), 0);
	put_str(home, "tools/run", "#!/bin/sh\n", 0755);
	set_mtime(home, ".gitconfig", 1234567890, 0);

	cfg = xasprintf(
		"[[file_sync]]\nhost = \"~/.gitconfig\"\nguest = \"~/.gitconfig\"\n"
		"[[file_sync]]\nhost = \"~/.aws\"\nguest = \"~/.aws\"\n"
		"[[file_sync]]\nhost = \"~/gitconfig-link\"\nguest = \"/root/linked/gitconfig\"\n"
		"[[file_sync]]\nhost = \"~/outside-link\"\nguest = \"/root/escaped\"\n"
		"[[file_sync]]\nhost = \"~/dotfiles/secret\"\nguest = \"/root/escaped2\"\n"
		"[[file_sync]]\nhost = \"%s/secret\"\nguest = \"/root/escaped3\"\n"
		"[[file_sync]]\nhost = \"~/missing\"\nguest = \"/root/missing\"\n"
		"[[file_sync]]\nhost = \"%s/tools\"\nguest = \"/root/bin/tools\"\nmode = \"0644\"\n",
		outside, home);
	config_init(&c);
	assert_int_equal(config_parse(&c, cfg, strlen(cfg), "config.toml", &err), 0);
	assert_int_equal(workdisk_create(f->img, 32 << 20, "work", &err), 0);
	int r = file_sync_apply(f->img, c.file_sync, c.n_file_sync, home, collect_warning,
				&f->warnings, &err);
	if (r < 0)
		print_message("%s\n", err.msg);
	assert_int_equal(r, 0);
	config_free(&c);
	print_message("%s", warnings(f));
	fsck_ok(f->img);

	img_open(&m, f->img);
	assert_file(&m, "/.gitconfig", "[user]\n\tname = me\n", 18, 0600);
	struct ext2_inode_large in;
	assert_int_equal(img_stat(&m, "/.gitconfig", &in, NULL), 0);
	assert_int_equal(in.i_mtime, 1234567890);
	assert_mode(&m, "/.aws", LINUX_S_IFDIR, 0700);
	assert_file(&m, "/.aws/config", "[default]\n", 10, 0600);
	assert_file(&m, "/.aws/credentials", "secret\n", 7, 0600);
	assert_mode(&m, "/.aws/cli/cache", LINUX_S_IFDIR, 0700);
	assert_file(&m, "/.aws/cli/cache/x.json", "{}\n", 3, 0600);
	assert_absent(&m, "/.aws/escape");           /* a nested symlink */
	assert_mode(&m, "/linked", LINUX_S_IFDIR, 0700);
	assert_file(&m, "/linked/gitconfig", "[user]\n\tname = me\n", 18, 0600);
	assert_absent(&m, "/escaped");                /* top-level symlink out of the home */
	assert_absent(&m, "/escaped2");               /* through a symlinked directory */
	assert_absent(&m, "/escaped3");               /* an absolute path outside */
	assert_absent(&m, "/missing");
	assert_mode(&m, "/bin/tools", LINUX_S_IFDIR, 0755);  /* the entry's mode, +x for dirs */
	assert_file(&m, "/bin/tools/run", "#!/bin/sh\n", 10, 0644);
	assert_mode(&m, "/bin", LINUX_S_IFDIR, 0700);
	img_close(&m);

	const char *w = warnings(f);
	assert_non_null(strstr(w, "~/.aws: skipped escape: a symlink inside a synced directory"));
	assert_non_null(strstr(w, "~/outside-link: resolves to"));
	assert_non_null(strstr(w, "outside the home directory"));
	assert_non_null(strstr(w, "~/dotfiles/secret: resolves to"));
	assert_non_null(strstr(w, "/secret: resolves to"));
	assert_non_null(strstr(w, "~/missing: does not exist; skipped"));
	assert_non_null(strstr(w, "(config line "));

	/* A guest path through a file is an error that names the entry. */
	const char *clash = "[[file_sync]]\nhost = \"~/.gitconfig\"\nguest = \"/root/.gitconfig/x\"\n";
	config_init(&c);
	assert_int_equal(config_parse(&c, clash, strlen(clash), "config.toml", &err), 0);
	assert_int_equal(file_sync_apply(f->img, c.file_sync, c.n_file_sync, home, NULL, NULL, &err),
			 -ENOTDIR);
	assert_non_null(strstr(err.msg, "file_sync ~/.gitconfig -> /root/.gitconfig/x"));
	config_free(&c);
	fsck_ok(f->img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test_setup_teardown(test_write_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_git_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caller_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_sync, setup, teardown),
	};
	return cmocka_run_group_tests_name("workspace", tests, NULL, NULL);
}
