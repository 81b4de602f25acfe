/* helper/root_main.c: bangerd-root, the privileged half of banger.
 *
 *   bangerd-root --owner USER|UID [--socket PATH] [--state-dir DIR]
 *                [--runtime-dir DIR] [--cache-dir DIR] [--bridge NAME]
 *                [--subnet CIDR] [--jailer PATH --firecracker PATH]
 *                [--mount DIR]
 *   bangerd-root --owner USER|UID --mount DIR --fdstore | --unmount
 *
 * Listens on a SOCK_SEQPACKET Unix socket that only the owner may open
 * (0600, owned by the owner, in a root-owned 0755 directory), checks the
 * peer's uid with SO_PEERCRED on every connection, and answers one request
 * at a time from a single-threaded poll loop (helper/ops.c does the work).
 * A malformed message gets an error reply and its connection is closed;
 * nothing a client sends ends the helper.  SIGTERM and SIGINT end it
 * cleanly (the socket is removed).  With --fdstore or --unmount it serves
 * nothing: it mounts the tree for bangerd.service and hands it over, or
 * unmounts it, and exits (helper/fdstore.h).  See docs/privileges.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdstore.h"
#include "jail.h"
#include "net.h"
#include "paths.h"
#include "proto.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/banger-root/root.sock"
#define MAX_CLIENTS 16
#define IDLE_TIMEOUT_MS (120 * 1000) /* a connection silent this long is closed */

struct client {
	int fd;
	uid_t uid;
	int64_t last; /* mono_ms() of the last message */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bangerd-root --owner USER|UID [--socket PATH] [--state-dir DIR]\n"
		   "                    [--runtime-dir DIR] [--cache-dir DIR] [--bridge NAME]\n"
		   "                    [--subnet CIDR] [--jailer PATH --firecracker PATH]\n"
		   "                    [--mount DIR]\n"
		   "       bangerd-root --owner USER|UID --mount DIR --fdstore | --unmount\n"
		   "defaults: --socket " DEFAULT_SOCKET " --state-dir /var/lib/banger\n"
		   "          --runtime-dir /run/banger --cache-dir /var/cache/banger\n"
		   "          --bridge br-fc --subnet 172.16.0.1/24\n");
}

/* USER or a decimal uid (strict).  Fills the primary gid when known. */
static int owner_parse(const char *s, uid_t *ret_uid, gid_t *ret_gid, struct berr *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	uint64_t v;

	if (parse_u64(s, &v) == 0) {
		if (v >= (uid_t)-1)
			return berr_set(err, ERANGE, "uid %s is out of range", s);
		*ret_uid = (uid_t)v;
		*ret_gid = (gid_t)-1;
		if (getpwuid_r((uid_t)v, &pw, buf, sizeof(buf), &res) == 0 && res)
			*ret_gid = pw.pw_gid;
	} else {
		int r = getpwnam_r(s, &pw, buf, sizeof(buf), &res);
		if (r != 0 || !res)
			return berr_set(err, r ? r : ENOENT, "no user named \"%.64s\"", s);
		*ret_uid = pw.pw_uid;
		*ret_gid = pw.pw_gid;
	}
	if (*ret_uid == 0)
		return berr_set(err, EINVAL,
				"the owner must not be root: a root bangerd needs no "
				"helper");
	return 0;
}

/* The socket's directory: created root-owned 0755 when missing; an
 * existing one must be a real directory owned by root and writable only by
 * root, so nobody else can swap the socket path. */
static int socket_dir_prepare(const char *sock, struct berr *err)
{
	_cleanup_free_ char *dir = xstrdup(sock);
	char *slash = strrchr(dir, '/');
	struct stat st;

	if (sock[0] != '/' || !slash || slash == dir || !slash[1])
		return berr_set(err, EINVAL,
				"--socket %s must be an absolute path below a directory", sock);
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return berr_set(err, errno, "creating %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0)
		return berr_set(err, errno, "%s: %s", dir, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return berr_set(err, ELOOP, "refusing socket directory %s: it is a symlink", dir);
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "refusing socket directory %s: not a directory", dir);
	if (st.st_uid != 0)
		return berr_set(err, EPERM,
				"refusing socket directory %s: owned by uid %u, not root", dir,
				(unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return berr_set(err, EPERM,
				"refusing socket directory %s: writable by group or "
				"others (mode %04o)",
				dir, (unsigned)(st.st_mode & 07777));
	if (chmod(dir, 0755) < 0)
		return berr_set(err, errno, "chmod %s: %s", dir, strerror(errno));
	return 0;
}

static int socket_listen(const char *path, uid_t owner, gid_t gid, int *ret_fd, struct berr *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return berr_set(err, EEXIST, "%s exists and is not a socket", path);
		if (unlink(path) < 0) /* a stale socket of an earlier run */
			return berr_set(err, errno, "removing %s: %s", path, strerror(errno));
	}
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket: %s", strerror(errno));
	/* Born 0600: there is no moment at which another user could connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (r < 0)
		return berr_set(err, e, "bind %s: %s", path, strerror(e));
	/* chmod while root still owns it (after the chown that would take
	 * CAP_FOWNER, which the helper does not keep). */
	if (fchmodat(AT_FDCWD, path, 0600, 0) < 0 ||
	    fchownat(AT_FDCWD, path, owner, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_set(err, errno, "chown/chmod %s: %s", path, strerror(errno));
	if (listen(fd, 16) < 0)
		return berr_set(err, errno, "listen: %s", strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Send one reply, with pass (>= 0) as its one SCM_RIGHTS descriptor; a
 * client that cannot take it loses its connection. */
static int reply_fd(int fd, int status, const char *msg, char *const *list, size_t n, int pass)
{
	uint8_t buf[PROTO_MSG_MAX];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct berr e;
	size_t len;

	if (proto_encode_reply(status, msg, (const char *const *)list, n, buf, sizeof(buf), &len,
			       &e) < 0) {
		if (proto_encode_reply(-e.code, e.msg, NULL, 0, buf, sizeof(buf), &len, &e) < 0)
			return -EIO;
		pass = -1;
	}
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (pass >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof(ctl.space);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
		return -errno;
	return 0;
}

static int reply(int fd, int status, const char *msg, char *const *list, size_t n)
{
	return reply_fd(fd, status, msg, list, n, -1);
}

/* Close a connection we turn away: read what it already sent first, so
 * the close does not turn into ECONNRESET ahead of our reply (the client
 * copes either way; see client.c). */
static void drain_close(int fd)
{
	uint8_t junk[PROTO_MSG_MAX];
	for (int i = 0; i < 4 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void client_accept(int lfd, const struct helper_conf *conf, struct client *cl)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t cl_len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl_len) < 0) {
		fprintf(stderr, "bangerd-root: rejected connection: SO_PEERCRED: %s\n",
			strerror(errno));
		close(fd);
		return;
	}
	/* The identity comes from the kernel, never from a message. */
	if (cred.uid != conf->owner_uid) {
		char msg[160];
		snprintf(msg, sizeof(msg), "uid %u is not the owner of this helper",
			 (unsigned)cred.uid);
		fprintf(stderr,
			"bangerd-root: rejected connection from uid %u (pid %d): not the "
			"owner (uid %u)\n",
			(unsigned)cred.uid, (int)cred.pid, (unsigned)conf->owner_uid);
		reply(fd, -EPERM, msg, NULL, 0);
		drain_close(fd);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (cl[i].fd < 0) {
			cl[i] = (struct client){.fd = fd, .uid = cred.uid, .last = mono_ms()};
			return;
		}
	fprintf(stderr, "bangerd-root: rejected connection from uid %u: %d connections are open\n",
		(unsigned)cred.uid, MAX_CLIENTS);
	reply(fd, -EBUSY, "too many connections to bangerd-root", NULL, 0);
	drain_close(fd);
}

/* One datagram from a client: decode, run, reply.  A malformed one ends
 * the connection after its error reply. */
static void client_serve(const struct helper_conf *conf, struct client *c)
{
	uint8_t buf[PROTO_MSG_MAX];
	struct proto_req req;
	struct ops_result res;
	struct berr err;

	/* MSG_TRUNC: the return value is the datagram's real length, so an
	 * oversized message is seen as such, not silently cut. */
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->last = mono_ms();
	int r = proto_decode_request(buf, (size_t)n, &req, &err);
	if (r < 0) {
		fprintf(stderr, "bangerd-root: rejected message from uid %u: %s\n",
			(unsigned)c->uid, err.msg);
		reply(c->fd, r, err.msg, NULL, 0);
		client_close(c);
		return;
	}
	r = ops_run(conf, c->uid, &req, &res, &err);
	if (reply_fd(c->fd, r, r < 0 ? err.msg : res.msg, res.list, res.n, r < 0 ? -1 : res.fd) < 0)
		client_close(c);
	ops_result_done(&res);
}

static int serve(const struct helper_conf *conf, int lfd, int sfd)
{
	struct client cl[MAX_CLIENTS];
	struct pollfd pfd[MAX_CLIENTS + 2];

	for (int i = 0; i < MAX_CLIENTS; i++)
		cl[i].fd = -1;
	for (;;) {
		int64_t now = mono_ms(), wait = IDLE_TIMEOUT_MS;
		pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (cl[i].fd >= 0 && now - cl[i].last >= IDLE_TIMEOUT_MS)
				client_close(&cl[i]);
			if (cl[i].fd >= 0 && IDLE_TIMEOUT_MS - (now - cl[i].last) < wait)
				wait = IDLE_TIMEOUT_MS - (now - cl[i].last);
			pfd[i + 2] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
		}
		if (poll(pfd, MAX_CLIENTS + 2, (int)wait + 1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "bangerd-root: poll: %s\n", strerror(errno));
			return -errno;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				fprintf(stderr, "bangerd-root: signal %u, exiting\n", si.ssi_signo);
				break;
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (cl[i].fd < 0 || pfd[i + 2].fd != cl[i].fd || !pfd[i + 2].revents)
				continue;
			if (pfd[i + 2].revents & POLLIN)
				client_serve(conf, &cl[i]);
			else /* POLLHUP/POLLERR without data */
				client_close(&cl[i]);
		}
		if (pfd[1].revents & POLLIN)
			client_accept(lfd, conf, cl);
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_close(&cl[i]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"owner", required_argument, NULL, 'o'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"cache-dir", required_argument, NULL, 'c'},
	    {"bridge", required_argument, NULL, 'b'},
	    {"subnet", required_argument, NULL, 'n'},
	    {"jailer", required_argument, NULL, 'j'},
	    {"firecracker", required_argument, NULL, 'f'},
	    {"mount", required_argument, NULL, 'm'},
	    {"fdstore", no_argument, NULL, 'F'},
	    {"unmount", no_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *sock = DEFAULT_SOCKET, *owner = NULL, *jailer = NULL, *firecracker = NULL;
	_cleanup_free_ char *jailer_real = NULL, *fc_real = NULL;
	struct helper_conf conf = {
	    .bridge = "br-fc",
	    .subnet = "172.16.0.1/24",
	    .state_dir = "/var/lib/banger",
	    .runtime_dir = "/run/banger",
	    .cache_dir = "/var/cache/banger",
	};
	struct berr err;
	uint32_t gw, net;
	int c, prefix, once = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			sock = optarg;
			break;
		case 'o':
			owner = optarg;
			break;
		case 's':
			conf.state_dir = optarg;
			break;
		case 'r':
			conf.runtime_dir = optarg;
			break;
		case 'c':
			conf.cache_dir = optarg;
			break;
		case 'b':
			conf.bridge = optarg;
			break;
		case 'n':
			conf.subnet = optarg;
			break;
		case 'j':
			jailer = optarg;
			break;
		case 'f':
			firecracker = optarg;
			break;
		case 'm':
			conf.mountpoint = optarg;
			break;
		case 'F':
		case 'U':
			if (once && once != c) {
				fprintf(stderr, "bangerd-root: --fdstore and --unmount exclude each other\n");
				return 2;
			}
			once = c;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bangerd-root %s\n", BANGER_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !owner) {
		fprintf(stderr, "bangerd-root: %s\n",
			owner ? "unexpected argument" : "--owner is required");
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bangerd-root: must run as root\n");
		return 1;
	}
	/* The tree of bangerd.service (helper/fdstore.h): once, then exit. */
	if (once) {
		if (!conf.mountpoint) {
			fprintf(stderr, "bangerd-root: --%s needs --mount DIR\n",
				once == 'F' ? "fdstore" : "unmount");
			return 2;
		}
		if (owner_parse(owner, &conf.owner_uid, &conf.owner_gid, &err) < 0 ||
		    (once == 'F' && conf.owner_gid == (gid_t)-1 &&
		     berr_set(&err, EINVAL, "the owner (uid %u) has no primary group for the mount",
			      (unsigned)conf.owner_uid) < 0) ||
		    (once == 'F' ? fdstore_tree_mount(conf.mountpoint, conf.owner_uid,
						       conf.owner_gid, &err)
				 : fdstore_tree_unmount(conf.mountpoint, conf.owner_uid, &err)) < 0) {
			fprintf(stderr, "bangerd-root: %s\n", err.msg);
			return 1;
		}
		fprintf(stderr, "bangerd-root: %s %s for uid %u\n",
			once == 'F' ? "the tree is mounted, its descriptor handed to the service, at"
				    : "no banger tree is mounted at",
			conf.mountpoint, (unsigned)conf.owner_uid);
		return 0;
	}
	/* JAIL_LAUNCH runs exactly these two binaries (helper/jail.h). */
	if (!jailer != !firecracker) {
		fprintf(stderr, "bangerd-root: --jailer and --firecracker go together\n");
		return 2;
	}
	if (jailer && (jail_binary_check(jailer, &jailer_real, &err) < 0 ||
		       jail_binary_check(firecracker, &fc_real, &err) < 0)) {
		fprintf(stderr, "bangerd-root: %s\n", err.msg);
		return 1;
	}
	conf.jailer = jailer_real;
	conf.firecracker = fc_real;
	if (owner_parse(owner, &conf.owner_uid, &conf.owner_gid, &err) < 0 ||
	    net_name_validate(conf.bridge, NULL, &err) < 0 ||
	    net_subnet_parse(conf.subnet, &gw, &net, &prefix, &err) < 0 ||
	    path_root_check(conf.state_dir, conf.owner_uid, &err) < 0 ||
	    path_root_check(conf.runtime_dir, conf.owner_uid, &err) < 0 ||
	    path_root_check(conf.cache_dir, conf.owner_uid, &err) < 0 || ops_selfcheck(&err) < 0 ||
	    (conf.mountpoint && path_clean_check(conf.mountpoint, &err) < 0)) {
		fprintf(stderr, "bangerd-root: %s\n", err.msg);
		return 1;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	_cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	_cleanup_close_ int lfd = -1;
	if (sfd < 0) {
		fprintf(stderr, "bangerd-root: signalfd: %s\n", strerror(errno));
		return 1;
	}
	if (socket_dir_prepare(sock, &err) < 0 ||
	    socket_listen(sock, conf.owner_uid, conf.owner_gid, &lfd, &err) < 0) {
		fprintf(stderr, "bangerd-root: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr,
		"bangerd-root %s: listening on %s for uid %u; bridge %s, subnet %s, "
		"roots %s %s %s\n",
		BANGER_VERSION, sock, (unsigned)conf.owner_uid, conf.bridge, conf.subnet,
		conf.state_dir, conf.runtime_dir, conf.cache_dir);
	if (conf.jailer)
		fprintf(stderr, "bangerd-root: JAIL_LAUNCH runs %s on %s, jails in %s/%s\n",
			conf.jailer, conf.firecracker, conf.state_dir, JAIL_SUBDIR);
	if (conf.mountpoint)
		fprintf(stderr, "bangerd-root: FUSE_MOUNT mounts the tree at %s\n", conf.mountpoint);
	int r = serve(&conf, lfd, sfd);
	unlink(sock);
	return r < 0 ? 1 : 0;
}
