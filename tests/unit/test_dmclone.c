/* Unit tests: the dm-snapshot operations' refusals (helper/ops.c DM_*,
 * helper/dmclone.c: everything checked before device-mapper is touched,
 * so they run on hosts without it), dmclone_cow_size(), and
 * path_openat2()'s walk where openat2 is ENOSYS (as under systemd's
 * RestrictSUIDSGID=, which bangerd-root.service sets): a child process
 * with a seccomp filter answering ENOSYS for openat2 runs the same
 * refusals as the openat2 path.  The real devices are made in the guest
 * test host (tests/guesthost/run.sh). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <endian.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "dmclone.h"
#include "paths.h"
#include "proto.h"
#include "util.h"

#define NOBODY 65534

static char tmp[PATH_MAX];
static struct helper_conf conf;

static void touch_mode(const char *path, mode_t mode, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int run(uid_t peer, unsigned op, const char *a0, const char *a1, bool *rejected,
	       struct berr *err)
{
	struct proto_req req = {.op = (uint16_t)op};
	struct ops_result res;
	const struct proto_op_info *o = proto_op_lookup(op);

	req.nargs = o ? o->nargs : 0;
	snprintf(req.args[0], sizeof(req.args[0]), "%s", a0 ? a0 : "");
	snprintf(req.args[1], sizeof(req.args[1]), "%s", a1 ? a1 : "");
	int r = ops_run(&conf, peer, &req, &res, err);
	*rejected = res.rejected;
	ops_result_done(&res);
	return r;
}

static void test_cow_size(void **state)
{
	/* 8 GiB: the data, 1/128 for the exception table, 4 MiB of header. */
	assert_int_equal(dmclone_cow_size(8ULL << 30), (8ULL << 30) + (64ULL << 20) + (4ULL << 20));
	assert_true(dmclone_cow_size(1) > 1);
}

static void test_names(void **state)
{
	struct berr err;
	assert_int_equal(dmclone_name_validate("vm-1", &err), 0);
	assert_int_equal(dmclone_name_validate("", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("-x", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("x-", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("Vm", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("a/b", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("a b", &err), -EINVAL);
	assert_int_equal(dmclone_name_validate("..", &err), -EINVAL);
	char long_name[70];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(dmclone_name_validate(long_name, &err), -EINVAL);
	long_name[63] = '\0';
	assert_int_equal(dmclone_name_validate(long_name, &err), 0);
}

/* DM_CLONE, DM_REMOVE: every refusal comes before device-mapper. */
static void test_ops_dm_refusals(void **state)
{
	uid_t owner = conf.owner_uid;
	const char *st = conf.state_dir;
	struct berr err;
	bool rej;
	char img[PATH_MAX];

	snprintf(img, sizeof(img), "%s/images/i/rootfs.ext4", st);
	assert_int_equal(mkdir(p("%s/images", st), 0700), 0);
	assert_int_equal(mkdir(p("%s/images/i", st), 0700), 0);
	assert_int_equal(mkdir(p("%s/vms", st), 0700), 0);
	assert_int_equal(mkdir(p("%s/vms/v1", st), 0700), 0);
	touch_mode(img, 0644, 1 << 20);

	/* Names. */
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "Bad", img, &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "../v1", img, &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_DM_REMOVE, "v1/../x", NULL, &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(run(owner, PROTO_OP_DM_REMOVE, "", NULL, &rej, &err), -EINVAL);
	/* Not the owner. */
	assert_int_equal(run(owner + 1, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -EPERM);
	assert_true(rej);
	/* Images outside the roots, through symlinks, unclean. */
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", "/etc/passwd", &rej, &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "not below a managed root"));
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/../images/i/rootfs.ext4",
							       st), &rej, &err), -EINVAL);
	assert_true(rej);
	assert_int_equal(symlink("/etc/shadow", p("%s/images/link.ext4", st)), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/link.ext4", st), &rej,
			     &err), -ELOOP);
	assert_true(rej);
	assert_int_equal(symlink(p("%s/images/i", st), p("%s/images/dirlink", st)), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/dirlink/rootfs.ext4", st),
			     &rej, &err), -ELOOP);
	assert_true(rej);
	/* Not a disk: a directory, a runt. */
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/i", st), &rej, &err),
			 -EPERM);
	assert_true(rej);
	touch_mode(p("%s/images/runt", st), 0644, 700);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/runt", st), &rej, &err),
			 -EINVAL);
	assert_true(rej);
	/* An image the owner may not read (by its mode). */
	touch_mode(p("%s/images/secret", st), geteuid() == 0 ? 0600 : 0000, 1 << 20);
	if (geteuid() == 0)
		assert_int_equal(chown(p("%s/images/secret", st), 0, 0), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/secret", st), &rej,
			     &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "not readable by uid"));
	/* Set-id. */
	touch_mode(p("%s/images/suid", st), 04755, 1 << 20);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", p("%s/images/suid", st), &rej, &err),
			 -EPERM);
	assert_true(rej);

	/* An ACL that denies the owner what the mode bits grant (user:OWNER:---
	 * on a 0644 file): refused for having an ACL at all. */
	{
		struct {
			struct posix_acl_xattr_header h;
			struct posix_acl_xattr_entry e[5];
		} acl = {
		    .h = {htole32(POSIX_ACL_XATTR_VERSION)},
		    .e = {
			{htole16(ACL_USER_OBJ), htole16(ACL_READ | ACL_WRITE), htole32(ACL_UNDEFINED_ID)},
			{htole16(ACL_USER), 0, htole32(owner)},
			{htole16(ACL_GROUP_OBJ), htole16(ACL_READ), htole32(ACL_UNDEFINED_ID)},
			{htole16(ACL_MASK), htole16(ACL_READ), htole32(ACL_UNDEFINED_ID)},
			{htole16(ACL_OTHER), htole16(ACL_READ), htole32(ACL_UNDEFINED_ID)},
		    }};
		const char *a = p("%s/images/acl", st);
		char ap[PATH_MAX];
		snprintf(ap, sizeof(ap), "%s", a);
		touch_mode(ap, 0644, 1 << 20);
		if (setxattr(ap, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0) {
			/* A file system without ACLs cannot hold the case. */
			assert_int_equal(errno, EOPNOTSUPP);
			print_message("# no POSIX ACLs on %s: the ACL refusal is not checked\n", tmp);
		} else {
			assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", ap, &rej, &err), -EPERM);
			assert_true(rej);
			assert_non_null(strstr(err.msg, "has an ACL"));
		}
	}

	/* The COW file: missing is a failure, not an attack. */
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -ENOENT);
	assert_false(rej);
	/* A symlink in its place. */
	const char *cow = p("%s/vms/v1/" DMCLONE_COW_FILE, st);
	char cowp[PATH_MAX];
	snprintf(cowp, sizeof(cowp), "%s", cow);
	assert_int_equal(symlink("/etc/passwd", cowp), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -ELOOP);
	assert_true(rej);
	assert_int_equal(unlink(cowp), 0);
	/* Too small for the image. */
	touch_mode(cowp, 0600, 1 << 20);
	if (geteuid() == 0)
		assert_int_equal(chown(cowp, owner, NOBODY), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -EINVAL);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "needs at least"));
	/* A second link (to a file elsewhere). */
	assert_int_equal(truncate(cowp, (off_t)dmclone_cow_size(1 << 20)), 0);
	assert_int_equal(link(cowp, p("%s/elsewhere", tmp)), 0);
	assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -EPERM);
	assert_true(rej);
	assert_non_null(strstr(err.msg, "links"));
	assert_int_equal(unlink(p("%s/elsewhere", tmp)), 0);
	if (geteuid() == 0) {
		/* Somebody else's file is not taken. */
		assert_int_equal(chown(cowp, NOBODY + 1, NOBODY), 0);
		assert_int_equal(run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err), -EPERM);
		assert_true(rej);
		struct stat sb;
		assert_int_equal(stat(cowp, &sb), 0);
		assert_int_equal(sb.st_uid, NOBODY + 1);
		assert_int_equal(chown(cowp, owner, NOBODY), 0);
	}
	/* Everything right: here, device-mapper decides.  Without it (the
	 * build hosts) a failure, not a rejection; with it a real device,
	 * removed again. */
	int r = run(owner, PROTO_OP_DM_CLONE, "v1", img, &rej, &err);
	assert_false(rej);
	if (r == 0)
		assert_int_equal(run(owner, PROTO_OP_DM_REMOVE, "v1", NULL, &rej, &err), 0);
	else
		assert_true(r == -ENODEV || r == -EACCES || r == -EPERM);
	/* Removing what is not there (or without device-mapper) is fine. */
	assert_int_equal(run(owner, PROTO_OP_DM_REMOVE, "nothing-here", NULL, &rej, &err), 0);
	assert_false(rej);
}

/* ---- path_openat2's walk, with openat2 answering ENOSYS ---- */

static void no_openat2(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = ARRAY_SIZE(f), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		_exit(100);
}

/* In a child: exit 0 when every expectation held, else the line. */
#define EXPECT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			_exit(__LINE__ % 250 + 1);                                                 \
	} while (0)

static void walk_checks(const char *root)
{
	struct berr err;
	int fd = -1;

	/* The filter is on: openat2 itself is ENOSYS. */
	struct open_how how = {.flags = O_PATH};
	EXPECT(syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how)) < 0 && errno == ENOSYS);
	EXPECT(path_open_beneath(root, p("%s/d/file", root), &fd, &err) == 0);
	struct stat st;
	EXPECT(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
	close(fd);
	EXPECT(path_open_beneath(root, p("%s/d/none", root), &fd, &err) == -ENOENT);
	EXPECT(path_open_beneath(root, p("%s/d/leaf", root), &fd, &err) == -ELOOP);
	EXPECT(path_open_beneath(root, p("%s/dl/file", root), &fd, &err) == -ELOOP);
	EXPECT(path_open_beneath(root, p("%s/d/file/x", root), &fd, &err) == -ENOTDIR);
	/* ".." and "." are never resolved. */
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	EXPECT(rfd >= 0);
	EXPECT(path_openat2(rfd, "d/../d/file", O_PATH, true) < 0 && errno == EXDEV);
	EXPECT(path_openat2(rfd, "./d/file", O_PATH, true) < 0 && errno == EXDEV);
	EXPECT(path_openat2(rfd, "/etc/passwd", O_PATH, true) < 0 && errno == EXDEV);
	/* Real flags on the last component (O_RDONLY of a file). */
	fd = path_openat2(rfd, "d/file", O_RDONLY, true);
	EXPECT(fd >= 0);
	close(fd);
	/* Absolute, without beneath (fusemount.c's use): symlinks still
	 * refused anywhere on the way. */
	fd = path_openat2(AT_FDCWD, p("%s/d", root), O_PATH | O_DIRECTORY, false);
	EXPECT(fd >= 0);
	close(fd);
	EXPECT(path_openat2(AT_FDCWD, p("%s/dl/file", root), O_PATH, false) < 0 && errno == ELOOP);
	/* A mount below the root (root only, in a mount namespace of its own). */
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		EXPECT(mount("tmpfs", p("%s/d/m", root), "tmpfs", 0, "size=64k") == 0);
		int x = open(p("%s/d/m/x", root), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		EXPECT(x >= 0);
		close(x);
		EXPECT(path_open_beneath(root, p("%s/d/m/x", root), &fd, &err) == -EXDEV);
		EXPECT(path_openat2(AT_FDCWD, p("%s/d/m/x", root), O_PATH, false) >= 0);
	}
	close(rfd);
	_exit(0);
}

static void test_walk_without_openat2(void **state)
{
	char root[PATH_MAX + 8];
	snprintf(root, sizeof(root), "%s/walk", tmp);
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_equal(mkdir(p("%s/d", root), 0700), 0);
	assert_int_equal(mkdir(p("%s/d/m", root), 0700), 0);
	touch_mode(p("%s/d/file", root), 0600, 0);
	assert_int_equal(symlink("file", p("%s/d/leaf", root)), 0);
	assert_int_equal(symlink("d", p("%s/dl", root)), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		no_openat2();
		walk_checks(root);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("the walk failed an expectation (exit %d: line %% 250 + 1)",
			 WEXITSTATUS(st));

	/* The same expectations with openat2 itself (no filter). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct berr err;
		int fd = -1;
		EXPECT(path_open_beneath(root, p("%s/d/leaf", root), &fd, &err) == -ELOOP);
		EXPECT(path_open_beneath(root, p("%s/dl/file", root), &fd, &err) == -ELOOP);
		EXPECT(path_open_beneath(root, p("%s/d/file", root), &fd, &err) == 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int setup_all(void **state)
{
	char t[] = "/tmp/banger-test-dmclone.XXXXXX";
	if (!mkdtemp(t) || !realpath(t, tmp))
		return -1;
	if (mkdir(p("%s/state", tmp), 0700) < 0 || mkdir(p("%s/run", tmp), 0700) < 0 ||
	    mkdir(p("%s/cache", tmp), 0700) < 0)
		return -1;
	conf = (struct helper_conf){
	    .owner_uid = geteuid() == 0 ? NOBODY : geteuid(),
	    .owner_gid = geteuid() == 0 ? NOBODY : getegid(),
	    .bridge = "br-t",
	    .subnet = "172.30.99.1/24",
	    .state_dir = xstrdup(p("%s/state", tmp)),
	    .runtime_dir = xstrdup(p("%s/run", tmp)),
	    .cache_dir = xstrdup(p("%s/cache", tmp)),
	};
	return 0;
}

static int teardown_all(void **state)
{
	free((char *)conf.state_dir);
	free((char *)conf.runtime_dir);
	free((char *)conf.cache_dir);
	if (tmp[0] && !getenv("KEEP"))
		rm_rf(tmp);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cow_size),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_ops_dm_refusals),
	    cmocka_unit_test(test_walk_without_openat2),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
