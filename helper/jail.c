/* helper/jail.c: launching Firecracker through its jailer, for bangerd-root
 * (JAIL_LAUNCH) and for a bangerd running as root (see jail.h). */
#define _GNU_SOURCE
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "paths.h"
#include "util.h"

#define PIDFILE_MAX 20	/* bytes of a pid file we accept */
#define STDERR_KEEP 400 /* bytes of the jailer's stderr kept for the error */
#define POLL_MS 10

int jail_binary_check(const char *path, char **ret, struct berr *err)
{
	struct stat st;

	if (!path || path[0] != '/')
		return berr_set(err, EINVAL, "%s must be an absolute path", path ? path : "(none)");
	_cleanup_free_ char *real = realpath(path, NULL);
	if (!real)
		return berr_set(err, errno, "%s: %s", path, strerror(errno));
	if (stat(real, &st) < 0)
		return berr_set(err, errno, "%s: %s", real, strerror(errno));
	if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
		return berr_set(err, EINVAL, "%s is not an executable regular file", real);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return berr_set(err, EPERM,
				"%s must be owned by root and writable by nobody else (uid %u, "
				"mode %04o)",
				real, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	_cleanup_free_ char *dir = xstrdup(real);
	for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
		*slash = '\0';
		const char *d = *dir ? dir : "/";
		if (stat(d, &st) < 0)
			return berr_set(err, errno, "%s: %s", d, strerror(errno));
		if (st.st_uid != 0 ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
			return berr_set(err, EPERM,
					"%s is in %s, which someone other than root may change "
					"(uid %u, mode %04o)",
					real, d, (unsigned)st.st_uid,
					(unsigned)(st.st_mode & 07777));
		if (!*dir)
			break;
	}
	*ret = TAKE_PTR(real);
	return 0;
}

int jail_id_validate(const char *id, struct berr *err)
{
	size_t n = id ? strnlen(id, JAIL_ID_MAX + 1) : 0;

	if (n == 0)
		return berr_set(err, EINVAL, "empty jail id");
	if (n > JAIL_ID_MAX)
		return berr_set(err, EINVAL, "jail id is longer than %d characters", JAIL_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return berr_set(
			    err, EINVAL,
			    "jail id \"%.64s\" may contain only letters, digits and '-'", id);
	}
	return 0;
}

const char *jail_exec_name(const char *exec_file)
{
	const char *s = strrchr(exec_file, '/');
	return s ? s + 1 : exec_file;
}

char *jail_vm_dir(const char *state_dir, const char *id)
{
	return xasprintf("%s/" JAIL_SUBDIR "/%s", state_dir, id);
}

char *jail_root_dir(const char *state_dir, const char *id)
{
	return xasprintf("%s/" JAIL_SUBDIR "/%s/root", state_dir, id);
}

int jail_build_argv(const struct jail_conf *c, const char *id, bool daemonize,
		    struct jail_argv *ret, struct berr *err)
{
	size_t n = 0;
	int r;

	if ((r = jail_id_validate(id, err)) < 0)
		return r;
	snprintf(ret->uid, sizeof(ret->uid), "%u", (unsigned)c->uid);
	snprintf(ret->gid, sizeof(ret->gid), "%u", (unsigned)c->gid);
	/* Flags and values are separate elements: the jailer's parser has no
	 * --name=value (FIRECRACKER.md §3, §4).  No --id after "--": the
	 * jailer passes its own and Firecracker rejects a repeated flag. */
	const char *v[] = {c->jailer, "--id",	     id,      "--exec-file", c->exec_file,
			   "--uid",   ret->uid,	     "--gid", ret->gid,	     "--chroot-base-dir",
			   JAIL_BASE, "--daemonize", "--",    "--api-sock",  JAIL_API_SOCK};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		if (!daemonize && strcmp(v[i], "--daemonize") == 0)
			continue;
		ret->argv[n++] = (char *)v[i];
	}
	ret->argv[n] = NULL;
	return 0;
}

/* openat2 below an O_PATH descriptor: no symlink, no magic link, no mount
 * crossing, nothing outside. */
static int open_below(int dirfd, const char *rel, int flags)
{
	return path_openat2(dirfd, rel, flags, true);
}

/* Reopen an O_PATH descriptor of a file we have checked with real access
 * flags: the same inode, whatever its name points to by now. */
static int reopen(int pathfd, int flags)
{
	char p[40];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", pathfd);
	return open(p, flags | O_CLOEXEC | O_NOCTTY);
}

int jail_check(const struct jail_conf *c, const char *id, struct jail_target *ret, struct berr *err)
{
	const char *const roots[] = {c->state_dir};
	_cleanup_free_ char *root = NULL, *pidname = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if ((r = jail_id_validate(id, err)) < 0)
		return r;
	root = jail_root_dir(c->state_dir, id);
	if ((r = path_under_root(root, roots, 1, true, err)) < 0)
		return r == -ENOENT
			   ? berr_wrap(err, "the jail root must exist (bangerd prepares it)")
			   : r;
	if ((r = path_open_beneath(c->state_dir, root, &fd, err)) < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "fstat %s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "jail root %s is not a directory", root);
	if (st.st_uid != c->uid)
		return berr_set(err, EPERM, "jail root %s is owned by uid %u, not by uid %u", root,
				(unsigned)st.st_uid, (unsigned)c->uid);
	ret->dev = st.st_dev;
	ret->ino = st.st_ino;
	/* The jailer creates the pid file with O_EXCL, as root: anything
	 * there already is stale or planted, and would be read instead. */
	pidname = xasprintf("%s.pid", jail_exec_name(c->exec_file));
	if (fstatat(fd, pidname, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return berr_set(err, EEXIST,
				"%s/%s already exists; the jailer writes the pid file itself", root,
				pidname);
	if (errno != ENOENT)
		return berr_set(err, errno, "%s/%s: %s", root, pidname, strerror(errno));
	return 0;
}

int jail_open_output(const struct jail_conf *c, const char *id, const char *name, int *ret_fd,
		     struct berr *err)
{
	_cleanup_free_ char *root = NULL, *path = NULL;
	_cleanup_close_ int pfd = -1;
	struct stat st;
	int r;

	if ((r = jail_id_validate(id, err)) < 0)
		return r;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return berr_set(err, EINVAL, "\"%s\" is not a file name", name);
	root = jail_root_dir(c->state_dir, id);
	path = path_join(root, name);
	if ((r = path_open_beneath(c->state_dir, path, &pfd, err)) < 0)
		return r;
	if (fstat(pfd, &st) < 0)
		return berr_set(err, errno, "fstat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != c->uid || (st.st_mode & (S_ISUID | S_ISGID)))
		return berr_set(err, EPERM,
				"%s is not a plain regular file owned by uid %u; refusing it as "
				"the jailer's output",
				path, (unsigned)c->uid);
	int fd = reopen(pfd, O_WRONLY | O_APPEND);
	if (fd < 0)
		return berr_set(err, errno, "opening %s: %s", path, strerror(errno));
	*ret_fd = fd;
	return 0;
}

/* ---- the child: mount namespace, then exec the jailer ---- */

struct launch_paths {
	char mnt[64], base[64], d_exec[PATH_MAX], d_id[PATH_MAX], d_root[PATH_MAX];
	char rel_root[PATH_MAX]; /* jail/<id>/root, relative to the state dir */
	char self_fd[40];
};

struct child_fail {
	int step, err;
};

static const char *const step_names[] = {
    "setsid",
    "unshare(CLONE_NEWNS)",
    "making mounts private",
    "opening the state dir",
    "opening the jail root",
    "the jail root changed since it was checked",
    "mounting a tmpfs on " JAIL_MOUNT,
    "creating " JAIL_BASE,
    "binding the jail root",
    "setting up stdio",
    "forking",
    "exec of the jailer",
};

/* Async-signal-safe from here on: the daemon is multithreaded. */
static void __attribute__((noreturn)) child_die(int fd, int step)
{
	struct child_fail f = {.step = step, .err = errno};
	ssize_t n = write(fd, &f, sizeof(f));
	(void)n;
	_exit(127);
}

static void __attribute__((noreturn))
child_main(const struct jail_conf *c, const struct jail_target *t, const struct launch_paths *lp,
	   char *const argv[], int efd, int in, int out, int errf, bool detach)
{
	static char *const envp[] = {NULL};
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	struct stat st;
	int step = 0;

	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own session: Firecracker outlives whoever launched it. */
	if (setsid() < 0)
		child_die(efd, step);
	step++;
	if (unshare(CLONE_NEWNS) < 0)
		child_die(efd, step);
	step++;
	/* Nothing mounted here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_die(efd, step);
	step++;
	/* Opened again in this namespace (a bind mount's source must be in
	 * the caller's namespace), then compared with what jail_check saw. */
	int sfd = open(c->state_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		child_die(efd, step);
	step++;
	int rfd = open_below(sfd, lp->rel_root, O_PATH | O_DIRECTORY);
	if (rfd < 0)
		child_die(efd, step);
	step++;
	if (fstat(rfd, &st) < 0 || st.st_dev != t->dev || st.st_ino != t->ino ||
	    st.st_uid != c->uid) {
		errno = ESTALE;
		child_die(efd, step);
	}
	step++;
	if (mount("tmpfs", lp->mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=64k") < 0)
		child_die(efd, step);
	step++;
	if (mkdir(lp->base, 0755) < 0 || mkdir(lp->d_exec, 0755) < 0 || mkdir(lp->d_id, 0755) < 0 ||
	    mkdir(lp->d_root, 0700) < 0)
		child_die(efd, step);
	step++;
	char self[40];
	memcpy(self, lp->self_fd, sizeof(self));
	/* "/proc/self/fd/" + the number: built by hand, no snprintf here. */
	{
		char num[12];
		int k = 0, v = rfd;
		do
			num[k++] = (char)('0' + v % 10);
		while ((v /= 10) > 0 && k < 11);
		size_t l = strlen(self);
		while (k > 0 && l < sizeof(self) - 1)
			self[l++] = num[--k];
		self[l] = '\0';
	}
	if (mount(self, lp->d_root, NULL, MS_BIND, NULL) < 0)
		child_die(efd, step);
	step++;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errf, 2) < 0)
		child_die(efd, step);
	step++;
	if (detach) {
		pid_t p = fork();
		if (p < 0)
			child_die(efd, step);
		if (p > 0)
			_exit(0);
	}
	step++;
	execve(c->jailer, argv, envp);
	child_die(efd, step);
}

/* ---- the parent ---- */

static bool pid_running(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] && p[2] != 'Z' && p[2] != 'X' && p[2] != 'x';
}

/* The real uid of pid from /proc/PID/status (readable by anyone). */
static int pid_uid(pid_t pid, uid_t *ret)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, 16384, &text, NULL) < 0)
		return -ESRCH;
	const char *u = strstr(text, "\nUid:\t");
	if (!u)
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(u + 6, &end, 10);
	if (errno || end == u + 6 || *end != '\t')
		return -EINVAL;
	*ret = (uid_t)v;
	return 0;
}

/* Does pid run the copied exec file of this jail with this id?  The
 * jailer execs "/<exec>" inside the jail, so its argv[0] is that; for an
 * interpreted exec file (a test double) the kernel replaces argv[0] with
 * the interpreter and inserts the file's path.  Then "--id ID" (the
 * jailer's).  When /proc/PID/exe is readable (same uid, or
 * CAP_SYS_PTRACE) and the file is not a script, its inode must be the
 * copied file's. */
static bool pid_runs_exec(pid_t pid, const char *exec, const char *jailed_path, const char *id,
			  int rootfd)
{
	char path[64];
	_cleanup_free_ char *cmd = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (read_file(path, 65536, &cmd, &len) < 0 || len == 0)
		return false;
	const char *av[64];
	size_t ac = 0;
	for (size_t i = 0; i < len && ac < ARRAY_SIZE(av); i += strlen(cmd + i) + 1)
		av[ac++] = cmd + i;
	bool script = false;
	_cleanup_close_ int efd = open_below(rootfd, exec, O_PATH);
	struct stat est, pst;
	if (efd < 0 || fstat(efd, &est) < 0 || !S_ISREG(est.st_mode))
		return false;
	{
		_cleanup_close_ int rd = reopen(efd, O_RDONLY | O_NONBLOCK);
		char hdr[2];
		script = rd >= 0 && read(rd, hdr, 2) == 2 && hdr[0] == '#' && hdr[1] == '!';
	}
	char slash_exec[PATH_MAX];
	snprintf(slash_exec, sizeof(slash_exec), "/%s", exec);
	size_t first = 0;
	if (ac > 0 && strcmp(av[0], slash_exec) == 0)
		first = 1;
	else if (script && ac > 1 && strcmp(av[1], jailed_path) == 0)
		first = 2;
	else
		return false;
	if (ac < first + 2 || strcmp(av[first], "--id") != 0 || strcmp(av[first + 1], id) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (!script && stat(path, &pst) == 0 &&
	    (pst.st_dev != est.st_dev || pst.st_ino != est.st_ino))
		return false;
	return true;
}

/* The pid the jailer wrote: 0 while there is none yet (or it is still
 * empty), negative for a pid file that is not the jailer's. */
static int read_pid_file(int rootfd, const char *name, pid_t *ret, struct berr *err)
{
	_cleanup_close_ int pfd = open_below(rootfd, name, O_PATH);
	struct stat st;
	char buf[PIDFILE_MAX + 1];

	if (pfd < 0 && errno == ENOENT)
		return 0;
	if (pfd < 0)
		return berr_set(err, errno, "pid file %s: %s", name,
				errno == ELOOP ? "it is a symlink" : strerror(errno));
	if (fstat(pfd, &st) < 0)
		return berr_set(err, errno, "fstat pid file %s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1)
		return berr_set(err, EPERM,
				"pid file %s is not a single-link regular file owned by root, as "
				"the jailer writes it",
				name);
	_cleanup_close_ int fd = reopen(pfd, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return berr_set(err, errno, "opening pid file %s: %s", name, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return berr_set(err, errno, "reading pid file %s: %s", name, strerror(errno));
	if (n == 0)
		return 0; /* created, not yet written */
	if (n > PIDFILE_MAX)
		return berr_set(err, EBADMSG, "pid file %s is too long", name);
	buf[n] = '\0';
	uint64_t v;
	if (parse_u64(buf, &v) < 0 || v == 0 || v > INT32_MAX)
		return berr_set(err, EBADMSG, "pid file %s holds \"%.20s\", not a pid", name, buf);
	*ret = (pid_t)v;
	return 1;
}

static void drain(int fd, char *buf, size_t *len, size_t cap)
{
	if (fd < 0)
		return;
	for (;;) {
		char tmp[256];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			return;
		size_t k = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
		/* One line of text for an error message. */
		for (size_t i = 0; i < k; i++)
			buf[*len + i] =
			    (unsigned char)tmp[i] < 0x20 || tmp[i] == 0x7f ? ' ' : tmp[i];
		*len += k;
		while (*len > 0 && buf[*len - 1] == ' ')
			(*len)--;
		buf[*len] = '\0';
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* An fd >= 3, so that the child's dup2 onto 0..2 never clobbers one it
 * still needs (the caller keeps its own). */
static int fd_high(int fd)
{
	return fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
}

int jail_launch(const struct jail_conf *c, const char *id, const struct jail_target *t,
		const struct jail_io *io, pid_t *ret_pid, struct berr *err)
{
	struct launch_paths lp;
	struct jail_argv ja;
	const char *exec = jail_exec_name(c->exec_file);
	_cleanup_free_ char *pidname = xasprintf("%s.pid", exec);
	_cleanup_free_ char *rootpath = jail_root_dir(c->state_dir, id);
	_cleanup_close_ int nul = -1, out = -1, errf = -1, rootfd = -1, efd_r = -1, cap_r = -1;
	char said[STDERR_KEEP + 1] = "";
	char jailed_exec[PATH_MAX + NAME_MAX + 2];
	size_t said_len = 0;
	pid_t child = -1, pid = 0;
	bool reaped = false;
	/* Without --daemonize and without detach, the jailer execs Firecracker
	 * in place: the child is Firecracker, and stays the caller's. */
	bool own_child = !io->daemonize && !io->detach;
	int r, st = 0;

	if ((r = jail_build_argv(c, id, io->daemonize, &ja, err)) < 0)
		return r;
	memset(&lp, 0, sizeof(lp));
	snprintf(lp.mnt, sizeof(lp.mnt), "%s", JAIL_MOUNT);
	snprintf(lp.base, sizeof(lp.base), "%s", JAIL_BASE);
	snprintf(lp.d_exec, sizeof(lp.d_exec), "%s/%s", JAIL_BASE, exec);
	snprintf(lp.d_id, sizeof(lp.d_id), "%s/%s/%s", JAIL_BASE, exec, id);
	snprintf(lp.d_root, sizeof(lp.d_root), "%s/%s/%s/root", JAIL_BASE, exec, id);
	snprintf(lp.rel_root, sizeof(lp.rel_root), JAIL_SUBDIR "/%s/root", id);
	snprintf(lp.self_fd, sizeof(lp.self_fd), "/proc/self/fd/");
	snprintf(jailed_exec, sizeof(jailed_exec), "%s/%s", lp.d_root, exec);

	if ((r = path_open_beneath(c->state_dir, rootpath, &rootfd, err)) < 0)
		return r;
	{
		_cleanup_close_ int n0 = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (n0 < 0)
			return berr_set(err, errno, "/dev/null: %s", strerror(errno));
		nul = fd_high(n0);
	}
	if (io->daemonize) {
		/* Until it daemonizes, the jailer's complaints come here. */
		int cap[2];
		if (pipe2(cap, O_CLOEXEC | O_NONBLOCK) < 0)
			return berr_set(err, errno, "pipe: %s", strerror(errno));
		cap_r = cap[0];
		out = fd_high(nul);
		errf = fd_high(cap[1]);
		close(cap[1]);
	} else {
		out = fd_high(io->outfd);
		errf = fd_high(io->errfd);
	}
	if (nul < 0 || out < 0 || errf < 0)
		return berr_set(err, EBADF, "cannot set up the jailer's stdio");
	int efd[2];
	if (pipe2(efd, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe: %s", strerror(errno));
	efd_r = efd[0];
	child = fork();
	if (child < 0) {
		close(efd[1]);
		return berr_set(err, errno, "fork: %s", strerror(errno));
	}
	if (child == 0)
		child_main(c, t, &lp, ja.argv, efd[1], nul, out, errf,
			   io->detach && !io->daemonize);
	close(efd[1]);
	close(TAKE_FD(errf));

	/* The child's setup: EOF once the jailer is exec'd (the pipe is
	 * close-on-exec), a failure record otherwise. */
	{
		struct child_fail f;
		struct pollfd pf = {.fd = efd_r, .events = POLLIN};
		ssize_t n = 0;
		if (poll(&pf, 1, JAIL_START_MS) > 0)
			n = read(efd_r, &f, sizeof(f));
		if (n == (ssize_t)sizeof(f)) {
			int k = f.step >= 0 && (size_t)f.step < ARRAY_SIZE(step_names) ? f.step : 0;
			r = berr_set(err, f.err ? f.err : EIO, "launching the jailer: %s: %s",
				     step_names[k], strerror(f.err));
			goto fail;
		}
	}
	if (io->detach && !io->daemonize) {
		/* The intermediate process exits as soon as it has forked. */
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
		reaped = true;
	}

	int64_t deadline = mono_ms() + JAIL_START_MS;
	for (;;) {
		drain(cap_r, said, &said_len, sizeof(said));
		if (!reaped && waitpid(child, &st, WNOHANG) == child) {
			reaped = true;
			/* With --daemonize the first process exits 0 after its
			 * first fork; anything else is the jailer giving up (or
			 * Firecracker exiting at once). */
			if (!io->daemonize || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				drain(cap_r, said, &said_len, sizeof(said));
				r = berr_set(err, ECHILD, "the jailer exited with %s %d%s%s",
					     WIFEXITED(st) ? "status" : "signal",
					     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
					     said_len ? ": " : "", said);
				goto fail;
			}
		}
		if (pid == 0 && (r = read_pid_file(rootfd, pidname, &pid, err)) < 0)
			goto fail;
		if (pid > 0 && own_child && pid != child) {
			r = berr_set(err, EPERM, "the pid file says %d, but the jailer is pid %d",
				     (int)pid, (int)child);
			goto fail;
		}
		if (pid > 0 && pid_running(pid)) {
			uid_t u;
			if (pid_uid(pid, &u) == 0 && u == c->uid &&
			    pid_runs_exec(pid, exec, jailed_exec, id, rootfd))
				break;
		}
		if (mono_ms() >= deadline) {
			if (pid > 0)
				r = berr_set(
				    err, ETIMEDOUT,
				    "pid %d (from the jailer's pid file) did not run %s as "
				    "uid %u within %d s%s%s",
				    (int)pid, exec, (unsigned)c->uid, JAIL_START_MS / 1000,
				    said_len ? ": " : "", said);
			else
				r = berr_set(err, ETIMEDOUT,
					     "the jailer wrote no pid file within %d s%s%s",
					     JAIL_START_MS / 1000, said_len ? ": " : "", said);
			goto fail;
		}
		sleep_ms(POLL_MS);
	}
	/* With --daemonize the jailer's first process exits right after its
	 * first fork, before the pid file exists: collect it. */
	if (io->daemonize && !reaped)
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
	*ret_pid = pid;
	return 0;

fail:
	if (pid > 0 && pid_running(pid)) {
		uid_t u;
		if (pid_uid(pid, &u) == 0 && u == c->uid &&
		    pid_runs_exec(pid, exec, jailed_exec, id, rootfd))
			kill(pid, SIGKILL);
	}
	if (!reaped) {
		kill(child, SIGKILL);
		while (waitpid(child, &st, 0) < 0 && errno == EINTR)
			;
	}
	return r;
}

int jail_kill_strays(const char *root_dir, const char *id)
{
	_cleanup_close_ int rootfd = open(root_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int n = 0;

	if (rootfd < 0)
		return 0;
	int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l <= 4 || strcmp(e->d_name + l - 4, ".pid") != 0)
			continue;
		char exec[NAME_MAX + 1];
		snprintf(exec, sizeof(exec), "%.*s", (int)(l - 4), e->d_name);
		_cleanup_close_ int pfd = open_below(rootfd, e->d_name, O_RDONLY | O_NONBLOCK);
		struct stat st;
		char buf[PIDFILE_MAX + 1];
		uint64_t v;
		if (pfd < 0 || fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		ssize_t k = read(pfd, buf, PIDFILE_MAX);
		if (k <= 0)
			continue;
		buf[k] = '\0';
		if (parse_u64(buf, &v) < 0 || v == 0 || v > INT32_MAX)
			continue;
		pid_t pid = (pid_t)v;
		uid_t u;
		char jailed[PATH_MAX];
		snprintf(jailed, sizeof(jailed), "%s/%s/%s/root/%s", JAIL_BASE, exec, id, exec);
		if (!pid_running(pid) || pid_uid(pid, &u) < 0 || u != getuid() ||
		    !pid_runs_exec(pid, exec, jailed, id, rootfd))
			continue;
		if (kill(pid, SIGKILL) == 0)
			n++;
	}
	closedir(d);
	return n;
}
