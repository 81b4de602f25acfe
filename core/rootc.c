/* core/rootc.c: the daemon's client of bangerd-root (see rootc.h). */
#define _GNU_SOURCE
#include "rootc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

struct rootc {
	pthread_mutex_t lock; /* held for one request and its reply */
	char *path;
	int fd; /* -1 while disconnected; under lock */
};

static int rootc_connect(const char *path, int *ret_fd, struct berr *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = ROOTC_TIMEOUT_S};

	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "helper socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return berr_set(err, errno, "setsockopt: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berr_set(err, errno, "connecting to bangerd-root at %s: %s", path,
				strerror(errno));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int rootc_open(const char *socket_path, struct rootc **ret, struct berr *err)
{
	int fd = -1, r;

	if (!socket_path)
		socket_path = ROOTC_DEFAULT_SOCKET;
	if ((r = rootc_connect(socket_path, &fd, err)) < 0)
		return r;
	struct rootc *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->path = xstrdup(socket_path);
	c->fd = fd;
	*ret = c;
	return 0;
}

void rootc_close(struct rootc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c);
}

void rootc_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* recv() of one datagram that also takes the descriptors passed with it
 * (close-on-exec from birth).  *ret_fd is the first one, or -1; any
 * further ones are closed: a reply carries at most one. */
static ssize_t recv_fd(int sock, uint8_t *buf, size_t cap, int flags, int *ret_fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
			    .msg_controllen = sizeof(ctl.space)};
	*ret_fd = -1;
	ssize_t n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*ret_fd < 0)
				*ret_fd = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) { /* descriptors were lost: never use a partial set */
		if (*ret_fd >= 0)
			close(*ret_fd);
		*ret_fd = -2;
	}
	return n;
}

/* One exchange on the current connection.  *ret_gone is set when the
 * connection was found closed before a reply came (worth one retry).
 * *ret_fd is the descriptor that came with the reply, or -1 (-2 when
 * descriptors came but did not fit). */
static int exchange(struct rootc *c, const uint8_t *req, size_t len, struct proto_reply *rep,
		    bool *ret_gone, int *ret_fd, struct berr *err)
{
	uint8_t buf[PROTO_MSG_MAX];

	*ret_gone = false;
	int flags = 0;
	if (send(c->fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		int e = errno;
		if (e != EPIPE && e != ECONNRESET && e != ENOTCONN)
			return berr_set(err, e, "sending to bangerd-root: %s", strerror(e));
		/* The helper may have said why before it hung up (a refused
		 * connection): read that rather than retrying blindly. */
		flags = MSG_DONTWAIT;
	}
	ssize_t n = recv_fd(c->fd, buf, sizeof(buf), MSG_TRUNC | flags, ret_fd);
	/* A helper that hangs up with our request unread (a refused
	 * connection) leaves ECONNRESET pending, which the kernel reports
	 * before the reply it queued first.  Reading the error clears it: look
	 * once more for that reply. */
	if (n < 0 && errno == ECONNRESET) {
		n = recv_fd(c->fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT, ret_fd);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (flags && n <= 0) {
		*ret_gone = true;
		return berr_set(err, EPIPE, "bangerd-root closed the connection");
	}
	if (n < 0) {
		int e = errno;
		*ret_gone = e == ECONNRESET;
		if (e == EAGAIN || e == EWOULDBLOCK)
			return berr_set(err, ETIMEDOUT, "bangerd-root did not answer within %d s",
					ROOTC_TIMEOUT_S);
		return berr_set(err, e, "reading from bangerd-root: %s", strerror(e));
	}
	if (n == 0) {
		*ret_gone = true;
		return berr_set(err, ECONNRESET, "bangerd-root closed the connection");
	}
	if ((size_t)n > sizeof(buf))
		return berr_set(err, EMSGSIZE, "bangerd-root sent a %zd-byte reply", n);
	return proto_decode_reply(buf, (size_t)n, rep, err);
}

int rootc_call_fd(struct rootc *c, int op, const char *const args[], size_t nargs,
		  char ***ret_list, size_t *ret_n, int *ret_fd, struct berr *err)
{
	uint8_t req[PROTO_MSG_MAX];
	struct proto_reply rep = {0};
	size_t len;
	bool gone = false;
	_cleanup_close_ int got = -1;
	int r;

	if (op < 0 ||
	    (r = proto_encode_request((unsigned)op, args, nargs, req, sizeof(req), &len, err)) < 0)
		return op < 0 ? berr_set(err, EINVAL, "unknown helper operation %d", op) : r;
	const struct proto_op_info *info = proto_op_lookup((unsigned)op);

	pthread_mutex_lock(&c->lock);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && (r = rootc_connect(c->path, &c->fd, err)) < 0)
			break;
		if (got >= 0)
			close(got);
		got = -1;
		r = exchange(c, req, len, &rep, &gone, &got, err);
		if (r < 0) {
			/* The stream may be out of step: start afresh next time. */
			close(c->fd);
			c->fd = -1;
			if (gone)
				continue;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;

	if (rep.status < 0) {
		r = berr_set(err, -rep.status, "bangerd-root: %s: %s", proto_op_name((unsigned)op),
			     rep.msg[0] ? rep.msg : strerror(-rep.status));
		proto_reply_done(&rep);
		return r;
	}
	/* Exactly one descriptor with a successful fd_reply op, none
	 * otherwise (docs/privileges.md). */
	if (info->fd_reply != (got >= 0) || got == -2) {
		proto_reply_done(&rep);
		return berr_set(err, EPROTO, "bangerd-root: %s answered %s descriptor",
				info->name, got == -2 ? "more than one" : got >= 0 ? "with a" : "without a");
	}
	if (ret_fd)
		*ret_fd = TAKE_FD(got);
	if (ret_list) {
		*ret_list = rep.list ? TAKE_PTR(rep.list) : xcalloc(1, sizeof(char *));
		if (ret_n)
			*ret_n = rep.n;
		rep.n = 0;
	}
	proto_reply_done(&rep);
	return 0;
}

int rootc_call(struct rootc *c, int op, const char *const args[], size_t nargs, char ***ret_list,
	       size_t *ret_n, struct berr *err)
{
	return rootc_call_fd(c, op, args, nargs, ret_list, ret_n, NULL, err);
}

int rootc_ping(struct rootc *c, struct berr *err)
{
	return rootc_call(c, PROTO_OP_PING, NULL, 0, NULL, NULL, err);
}

int rootc_net_ensure(struct rootc *c, const char *bridge, const char *gateway_cidr,
		     struct berr *err)
{
	const char *const a[] = {bridge, gateway_cidr};
	return rootc_call(c, PROTO_OP_NET_ENSURE, a, 2, NULL, NULL, err);
}

int rootc_tap_create(struct rootc *c, const char *tap, const char *bridge, struct berr *err)
{
	const char *const a[] = {tap, bridge};
	return rootc_call(c, PROTO_OP_TAP_CREATE, a, 2, NULL, NULL, err);
}

int rootc_tap_delete(struct rootc *c, const char *tap, struct berr *err)
{
	const char *const a[] = {tap};
	return rootc_call(c, PROTO_OP_TAP_DELETE, a, 1, NULL, NULL, err);
}

int rootc_tap_list(struct rootc *c, char ***ret, size_t *ret_n, struct berr *err)
{
	return rootc_call(c, PROTO_OP_TAP_LIST, NULL, 0, ret, ret_n, err);
}

int rootc_chown(struct rootc *c, const char *path, struct berr *err)
{
	const char *const a[] = {path};
	return rootc_call(c, PROTO_OP_CHOWN_TO_OWNER, a, 1, NULL, NULL, err);
}

int rootc_resolved_link(struct rootc *c, const char *bridge, const char *addr_port,
			struct berr *err)
{
	const char *const a[] = {bridge, addr_port};
	return rootc_call(c, PROTO_OP_RESOLVED_LINK, a, 2, NULL, NULL, err);
}

int rootc_resolved_revert(struct rootc *c, const char *bridge, struct berr *err)
{
	const char *const a[] = {bridge};
	return rootc_call(c, PROTO_OP_RESOLVED_REVERT, a, 1, NULL, NULL, err);
}

int rootc_jail_launch(struct rootc *c, const char *id, bool serial_api, pid_t *ret_pid,
		      struct berr *err)
{
	const char *const a[] = {id, serial_api ? "api" : "stdout"};
	char **list = NULL;
	size_t n = 0;
	uint64_t v;
	int r = rootc_call(c, PROTO_OP_JAIL_LAUNCH, a, 2, &list, &n, err);
	if (r < 0)
		return r;
	if (n != 1 || parse_u64(list[0], &v) < 0 || v == 0 || v > INT32_MAX)
		r = berr_set(err, EPROTO, "bangerd-root: JAIL_LAUNCH answered %zu strings, not a pid",
			     n);
	else
		*ret_pid = (pid_t)v;
	rootc_strv_free(list);
	return r;
}

int rootc_tap_open(struct rootc *c, const char *tap, const char *bridge, int *ret_fd,
		   struct berr *err)
{
	const char *const a[] = {tap, bridge};
	return rootc_call_fd(c, PROTO_OP_TAP_OPEN, a, 2, NULL, NULL, ret_fd, err);
}

int rootc_fuse_mount(struct rootc *c, const char *mountpoint, int *ret_fd, struct berr *err)
{
	const char *const a[] = {mountpoint};
	return rootc_call_fd(c, PROTO_OP_FUSE_MOUNT, a, 1, NULL, NULL, ret_fd, err);
}

int rootc_fuse_unmount(struct rootc *c, const char *mountpoint, struct berr *err)
{
	const char *const a[] = {mountpoint};
	return rootc_call(c, PROTO_OP_FUSE_UNMOUNT, a, 1, NULL, NULL, err);
}

int rootc_dm_clone(struct rootc *c, const char *vm, const char *image, char **ret_dev,
		   int64_t *ret_ms, struct berr *err)
{
	const char *const a[] = {vm, image};
	char **list = NULL;
	size_t n = 0;
	int64_t ms = 0;
	int r = rootc_call(c, PROTO_OP_DM_CLONE, a, 2, &list, &n, err);
	if (r < 0)
		return r;
	if (n != 2 || list[0][0] != '/' || parse_i64(list[1], &ms) < 0)
		r = berr_set(err, EPROTO,
			     "bangerd-root: DM_CLONE answered %zu strings, not a device and a time", n);
	else {
		*ret_dev = xstrdup(list[0]);
		if (ret_ms)
			*ret_ms = ms;
	}
	rootc_strv_free(list);
	return r;
}

int rootc_dm_remove(struct rootc *c, const char *vm, struct berr *err)
{
	const char *const a[] = {vm};
	return rootc_call(c, PROTO_OP_DM_REMOVE, a, 1, NULL, NULL, err);
}

int rootc_dm_list(struct rootc *c, char ***ret, size_t *ret_n, struct berr *err)
{
	return rootc_call(c, PROTO_OP_DM_LIST, NULL, 0, ret, ret_n, err);
}
