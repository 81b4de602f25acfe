/* core/priv.c: choosing how the daemon does what needs root, and the
 * fusermount3 way to mount the tree (see priv.h). */
#define _GNU_SOURCE
#include "priv_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "fusemount.h"
#include "rootc.h"
#include "util.h"

extern char **environ;

/* ---- none: no root, no helper ---- */

static int none_fail(struct priv *p, struct berr *err)
{
	return berr_set(err, EPERM, "%s", p->why);
}

static int none_tree_mount(struct priv *p, const char *mountpoint, int *ret_fd,
			   struct berr *err)
{
	return priv_fusermount(mountpoint, ret_fd, err);
}

static int none_tree_unmount(struct priv *p, const char *mountpoint, struct berr *err)
{
	return priv_fusermount_unmount(mountpoint, err);
}

static int none_net_ensure(struct priv *p, const char *b, const char *c, struct berr *err)
{
	return none_fail(p, err);
}

static int none_tap(struct priv *p, const char *t, const char *b, struct berr *err)
{
	return none_fail(p, err);
}

static int none_tap_open(struct priv *p, const char *t, const char *b, int *fd, struct berr *err)
{
	return none_fail(p, err);
}

static int none_tap_delete(struct priv *p, const char *t, struct berr *err)
{
	return none_fail(p, err);
}

static int none_tap_list(struct priv *p, char ***ret, size_t *n, struct berr *err)
{
	return none_fail(p, err);
}

static int none_resolved_link(struct priv *p, const char *b, const char *a, uint16_t port,
			      struct berr *err)
{
	return none_fail(p, err);
}

static int none_resolved_revert(struct priv *p, const char *b, struct berr *err)
{
	return none_fail(p, err);
}

static int none_jail_launch(struct priv *p, const struct priv_jail *j, pid_t *pid, bool *child,
			    char **via, struct berr *err)
{
	return berr_set(err, EPERM, "jailer_bin is set, but %s: the jailer needs root", p->why);
}

static int none_dm_clone(struct priv *p, const char *s, const char *vm, const char *image,
			 char **dev, int64_t *ms, struct berr *err)
{
	return none_fail(p, err);
}

static int none_dm_remove(struct priv *p, const char *s, const char *vm, struct berr *err)
{
	return none_fail(p, err);
}

static int none_dm_list(struct priv *p, const char *s, char ***ret, size_t *n, struct berr *err)
{
	return none_fail(p, err);
}

static const struct priv_ops priv_none_ops = {
	.mount_how = "by fusermount3",
	.tree_mount = none_tree_mount,
	.tree_unmount = none_tree_unmount,
	.net_ensure = none_net_ensure,
	.tap_create = none_tap,
	.tap_open = none_tap_open,
	.tap_delete = none_tap_delete,
	.tap_list = none_tap_list,
	.resolved_link = none_resolved_link,
	.resolved_revert = none_resolved_revert,
	.jail_launch = none_jail_launch,
	.dm_clone = none_dm_clone,
	.dm_remove = none_dm_remove,
	.dm_list = none_dm_list,
};

/* ---- a tree handed over by the service manager ---- */

/* The descriptor named TREE_FDNAME among $LISTEN_FDS, if it is /dev/fuse
 * (10:229); -1 otherwise.  The environment is cleared either way, so no
 * child sees it. */
static int handed_tree_fd(void)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), fd = -1;

	for (int i = 0; i < n; i++) {
		struct stat st;
		int cand = SD_LISTEN_FDS_START + i;
		if (fd < 0 && names && names[i] && strcmp(names[i], TREE_FDNAME) == 0 &&
		    fstat(cand, &st) == 0 && S_ISCHR(st.st_mode) &&
		    st.st_rdev == makedev(10, 229)) {
			fd = cand;
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
	}
	if (names)
		for (int i = 0; i < n; i++)
			free(names[i]);
	free(names);
	if (fd >= 0) /* ours now: a dead daemon must leave a dead mount */
		(void)sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" TREE_FDNAME);
	return fd;
}

bool priv_tree_handed(const struct priv *p)
{
	return p->tree_handed;
}

/* ---- choosing ---- */

struct priv *priv_open(const char *root_socket)
{
	struct priv *p = xcalloc(1, sizeof(*p));
	struct berr e = {0};

	p->tree_fd = handed_tree_fd();
	p->tree_handed = p->tree_fd >= 0;

	if (geteuid() == 0) {
		p->mode = PRIV_LOCAL;
		p->ops = &priv_local_ops;
		snprintf(p->why, sizeof(p->why), "in-process (root)");
		return p;
	}
	if (root_socket && *root_socket && rootc_open(root_socket, &p->rootc, &e) == 0 &&
	    rootc_ping(p->rootc, &e) == 0) {
		p->mode = PRIV_HELPER;
		p->ops = &priv_helper_ops;
		snprintf(p->why, sizeof(p->why), "through bangerd-root (%s)", root_socket);
		return p;
	}
	rootc_close(p->rootc);
	p->rootc = NULL;
	p->mode = PRIV_NONE;
	p->ops = &priv_none_ops;
	snprintf(p->why, sizeof(p->why), "bangerd is not root and bangerd-root is not reachable (%.200s)",
		 e.msg[0] ? e.msg : "no socket configured");
	return p;
}

void priv_close(struct priv *p)
{
	if (!p)
		return;
	if (p->tree_fd >= 0)
		close(p->tree_fd);
	rootc_close(p->rootc);
	free(p);
}

enum priv_mode priv_mode(const struct priv *p)
{
	return p->mode;
}

const char *priv_why(const struct priv *p)
{
	return p->why;
}

/* ---- dispatch ---- */

/* The handed-over tree must be the one at mountpoint: a banger tree of
 * this uid (the service's mount namespace has a copy of the host's). */
static int handed_tree_take(struct priv *p, const char *mountpoint, int *ret_fd,
			    struct berr *err)
{
	uid_t who = 0;
	int other = 0;
	int r = fusemount_find(mountpoint, &who, &other, err);

	if (r < 0)
		return r;
	if (r == 0 || who != getuid())
		return berr_set(err, ENOENT,
				"the service manager handed over a tree, but %s has %s; "
				"bangerd.service's ExecStartPre and --mount must name the "
				"same place",
				mountpoint, r == 0 ? (other ? "another file system" : "nothing mounted")
						   : "a tree of another uid");
	*ret_fd = TAKE_FD(p->tree_fd);
	return 0;
}

int priv_tree_mount(struct priv *p, const char *mountpoint, int *ret_fd, const char **ret_how,
		    struct berr *err)
{
	if (p->tree_handed) {
		*ret_how = "by bangerd.service's ExecStartPre (fd store)";
		if (p->tree_fd < 0)
			return berr_set(err, EBADF, "the handed-over tree is served already");
		return handed_tree_take(p, mountpoint, ret_fd, err);
	}
	int r = p->ops->tree_mount(p, mountpoint, ret_fd, err);
	*ret_how = p->ops->mount_how;
	/* A helper without --mount (bangerd-root.service today: a mount made
	 * in its own namespace would be invisible): fusermount3 it is. */
	if (r == -EOPNOTSUPP && p->mode == PRIV_HELPER) {
		berr_clear(err);
		r = priv_fusermount(mountpoint, ret_fd, err);
		*ret_how = priv_none_ops.mount_how;
	}
	return r;
}

int priv_tree_unmount(struct priv *p, const char *mountpoint, struct berr *err)
{
	if (p->tree_handed)
		return 0;
	int r = p->ops->tree_unmount(p, mountpoint, err);
	if (r == -EOPNOTSUPP && p->mode == PRIV_HELPER) {
		berr_clear(err);
		r = priv_fusermount_unmount(mountpoint, err);
	}
	return r;
}

int priv_net_ensure(struct priv *p, const char *bridge, const char *gateway_cidr,
		    struct berr *err)
{
	return p->ops->net_ensure(p, bridge, gateway_cidr, err);
}

int priv_tap_create(struct priv *p, const char *tap, const char *bridge, struct berr *err)
{
	return p->ops->tap_create(p, tap, bridge, err);
}

int priv_tap_open(struct priv *p, const char *tap, const char *bridge, int *ret_fd,
		  struct berr *err)
{
	return p->ops->tap_open(p, tap, bridge, ret_fd, err);
}

int priv_tap_delete(struct priv *p, const char *tap, struct berr *err)
{
	return p->ops->tap_delete(p, tap, err);
}

int priv_tap_list(struct priv *p, char ***ret, size_t *ret_n, struct berr *err)
{
	return p->ops->tap_list(p, ret, ret_n, err);
}

void priv_strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

int priv_resolved_link(struct priv *p, const char *bridge, const char *addr, uint16_t port,
		       struct berr *err)
{
	return p->ops->resolved_link(p, bridge, addr, port, err);
}

int priv_resolved_revert(struct priv *p, const char *bridge, struct berr *err)
{
	return p->ops->resolved_revert(p, bridge, err);
}

int priv_jail_launch(struct priv *p, const struct priv_jail *j, pid_t *ret_pid, bool *ret_child,
		     char **ret_via, struct berr *err)
{
	return p->ops->jail_launch(p, j, ret_pid, ret_child, ret_via, err);
}

int priv_dm_clone(struct priv *p, const char *state_dir, const char *vm, const char *image,
		  char **ret_dev, int64_t *ret_ms, struct berr *err)
{
	return p->ops->dm_clone(p, state_dir, vm, image, ret_dev, ret_ms, err);
}

int priv_dm_remove(struct priv *p, const char *state_dir, const char *vm, struct berr *err)
{
	return p->ops->dm_remove(p, state_dir, vm, err);
}

int priv_dm_list(struct priv *p, const char *state_dir, char ***ret, size_t *ret_n,
		 struct berr *err)
{
	return p->ops->dm_list(p, state_dir, ret, ret_n, err);
}

/* ---- fusermount3 ---- */

/* Run fusermount3 with argv (argv[0] is replaced by its path), an extra
 * environment entry (or NULL) and keep_fd (>= 0) inherited.  Its stderr
 * is collected into *ret_msg (xmalloc'ed, trimmed).  Returns the wait
 * status, or a negative errno when it could not be run. */
static int fusermount_run(char **argv, const char *env_extra, int keep_fd, int *ret_sock_fd,
			  char **ret_msg, struct berr *err)
{
	_cleanup_free_ char *prog = find_program("fusermount3");
	_cleanup_close_ int rd = -1, wr = -1;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int pipefd[2], st = 0, r;

	*ret_msg = NULL;
	if (!prog)
		return berr_set(err, ENOENT, "fusermount3 is not installed (Debian package fuse3)");
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe: %s", strerror(errno));
	rd = pipefd[0];
	wr = pipefd[1];
	size_t n_env = 0;
	while (environ[n_env])
		n_env++;
	_cleanup_free_ char **envp = xcalloc(n_env + 2, sizeof(char *));
	for (size_t i = 0; i < n_env; i++)
		envp[i] = environ[i];
	envp[n_env] = (char *)env_extra;
	argv[0] = prog;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, wr, 1);
	posix_spawn_file_actions_adddup2(&fa, wr, 2);
	/* keep_fd was made inheritable by the caller (dup2 onto itself
	 * does not clear FD_CLOEXEC on every libc). */
	r = posix_spawn(&pid, prog, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return berr_set(err, r, "running fusermount3: %s", strerror(r));
	close(TAKE_FD(wr));
	/* Our copy of the child's end goes now, so a fusermount3 that exits
	 * without sending shows as end of file, not as a wait. */
	if (keep_fd >= 0)
		close(keep_fd);

	/* The descriptor arrives before fusermount3 exits; its stderr tells
	 * why when it does not. */
	if (ret_sock_fd && *ret_sock_fd >= 0) {
		int sock = *ret_sock_fd;
		char byte;
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = {.iov_base = &byte, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
				    .msg_controllen = sizeof(ctl.space)};
		int got = -1;
		struct pollfd pf = {.fd = sock, .events = POLLIN};
		if (poll(&pf, 1, 30000) == 1 && recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) == 1) {
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&got, CMSG_DATA(cm), sizeof(int));
		}
		*ret_sock_fd = got; /* the received descriptor, or -1 */
	}
	struct sbuf msg;
	sbuf_init(&msg);
	char buf[512];
	ssize_t k;
	while (msg.len < 4096 && (k = read(rd, buf, sizeof(buf))) > 0)
		sbuf_add(&msg, buf, (size_t)k);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *m = sbuf_steal(&msg);
	size_t l = strlen(m);
	while (l > 0 && (m[l - 1] == '\n' || m[l - 1] == ' '))
		m[--l] = '\0';
	*ret_msg = m;
	return st;
}

int priv_fusermount(const char *mountpoint, int *ret_fd, struct berr *err)
{
	int sv[2];
	_cleanup_free_ char *msg = NULL;
	char env[32];

	/* Called before the daemon starts any thread, so clearing
	 * FD_CLOEXEC on the child's end leaks it to no other child. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return berr_set(err, errno, "socketpair: %s", strerror(errno));
	_cleanup_close_ int mine = sv[0];
	int theirs = sv[1]; /* closed by fusermount_run() */
	if (fcntl(theirs, F_SETFD, 0) < 0) {
		close(theirs);
		return berr_set(err, errno, "fcntl: %s", strerror(errno));
	}
	snprintf(env, sizeof(env), "_FUSE_COMMFD=%d", theirs);
	char *argv[] = {NULL, (char *)"-o", (char *)"fsname=banger,subtype=banger,default_permissions",
			(char *)"--", (char *)mountpoint, NULL};
	int fd = mine;
	int st = fusermount_run(argv, env, theirs, &fd, &msg, err);
	if (st < 0 && fd == mine) /* not run: it did not close theirs */
		close(theirs);
	if (st < 0)
		return st;
	if (fd >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		*ret_fd = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	/* fusermount3 opens /dev/fuse with the caller's rights, so a
	 * root-only node stops it: say what would work. */
	bool dev = msg && strstr(msg, "/dev/fuse");
	return berr_set(err, EPERM, "fusermount3 could not mount %s: %s%s", mountpoint,
			msg && *msg ? msg : "no reason given",
			dev ? " (fusermount3 opens /dev/fuse as you: run bangerd-root with --mount, "
			      "run bangerd as root, or make /dev/fuse 0666 with a udev rule)" : "");
}

int priv_fusermount_unmount(const char *mountpoint, struct berr *err)
{
	_cleanup_free_ char *msg = NULL;
	char *argv[] = {NULL, (char *)"-u", (char *)"-z", (char *)"--",
			(char *)mountpoint, NULL};
	int st = fusermount_run(argv, NULL, -1, NULL, &msg, err);
	if (st < 0)
		return st;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	/* Nothing mounted there is what we wanted. */
	if (msg && strstr(msg, "not found in"))
		return 0;
	return berr_set(err, EIO, "fusermount3 could not unmount %s: %s", mountpoint,
			msg && *msg ? msg : "no reason given");
}
