/* core/qmp.c: QMP client (see qmp.h). */
#define _GNU_SOURCE
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"

struct qmp {
	int fd;
	int timeout_ms;
	uint64_t next_id;
	char *path;
	/* Bytes received but not yet consumed; never more than QMP_MSG_MAX. */
	char buf[QMP_MSG_MAX + 1];
	size_t len;
};

/* Milliseconds left until deadline (a mono_ms value), at least 0. */
static int left_ms(int64_t deadline)
{
	int64_t l = deadline - mono_ms();
	if (l < 0)
		return 0;
	return l > 1000000 ? 1000000 : (int)l;
}

/* Wait for events on fd until deadline.  0 when ready, -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, left_ms(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

static int send_all(struct qmp *q, const char *data, size_t len, int64_t deadline,
		    struct berr *err)
{
	while (len > 0) {
		ssize_t n = send(q->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(q->fd, POLLOUT, deadline);
				if (r == -ETIMEDOUT)
					return berr_set(err, ETIMEDOUT,
							"QMP socket %s did not accept our command in time",
							q->path);
				if (r < 0)
					return berr_set(err, -r, "cannot wait on QMP socket %s: %s",
							q->path, strerror(-r));
				continue;
			}
			return berr_set(err, errno, "cannot write to QMP socket %s: %s",
					q->path, strerror(errno));
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one newline-terminated message and parse it as a JSON object. */
static int read_msg(struct qmp *q, int64_t deadline, json_t **ret, struct berr *err)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		if (nl) {
			size_t n = (size_t)(nl - q->buf);
			json_error_t je;
			json_t *msg = json_loadb(q->buf, n, 0, &je);
			q->len -= n + 1;
			memmove(q->buf, nl + 1, q->len);
			if (!msg)
				return berr_set(err, EPROTO, "QMP sent invalid JSON: %s", je.text);
			if (!json_is_object(msg)) {
				json_decref(msg);
				return berr_set(err, EPROTO, "QMP sent a message that is not an object");
			}
			*ret = msg;
			return 0;
		}
		if (q->len >= QMP_MSG_MAX)
			return berr_set(err, EMSGSIZE,
					"QMP sent a message longer than %d bytes", QMP_MSG_MAX);
		ssize_t n = recv(q->fd, q->buf + q->len, QMP_MSG_MAX - q->len, 0);
		if (n > 0) {
			q->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return berr_set(err, ECONNRESET, "QMP socket %s was closed by QEMU",
					q->path);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return berr_set(err, errno, "cannot read from QMP socket %s: %s",
					q->path, strerror(errno));
		int r = wait_fd(q->fd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			return berr_set(err, ETIMEDOUT, "QMP socket %s did not answer in time",
					q->path);
		if (r < 0)
			return berr_set(err, -r, "cannot wait on QMP socket %s: %s", q->path,
					strerror(-r));
	}
}

static int exec_until(struct qmp *q, const char *cmd, json_t *args, int64_t deadline,
		      json_t **ret, struct berr *err)
{
	uint64_t id = ++q->next_id;
	json_t *req = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)id);
	int r;

	if (!req)
		return berr_set(err, ENOMEM, "cannot build QMP command %s", cmd);
	if (args && json_object_set(req, "arguments", args) < 0) {
		json_decref(req);
		return berr_set(err, EINVAL, "cannot build QMP command %s", cmd);
	}
	_cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return berr_set(err, ENOMEM, "cannot encode QMP command %s", cmd);
	size_t n = strlen(line);
	line[n] = '\n'; /* json_dumps allocated n+1 bytes; we send n+1 and never use it as a string. */
	r = send_all(q, line, n + 1, deadline, err);
	if (r < 0)
		return r;

	for (;;) {
		json_t *msg = NULL;
		r = read_msg(q, deadline, &msg, err);
		if (r < 0) {
			if (r == -ETIMEDOUT)
				berr_set(err, ETIMEDOUT, "QMP socket %s did not answer %s in time",
					 q->path, cmd);
			return r;
		}
		json_t *rid = json_object_get(msg, "id");
		json_t *val = json_object_get(msg, "return");
		json_t *e = json_object_get(msg, "error");
		/* Events and late replies to earlier, timed-out commands. */
		if ((!val && !e) ||
		    (rid && (!json_is_integer(rid) || (uint64_t)json_integer_value(rid) != id))) {
			json_decref(msg);
			continue;
		}
		if (e) {
			const char *desc = json_string_value(json_object_get(e, "desc"));
			r = berr_set(err, EIO, "QMP command %s failed: %s", cmd,
				     desc ? desc : "no description given");
			json_decref(msg);
			return r;
		}
		if (ret)
			*ret = json_incref(val);
		json_decref(msg);
		return 0;
	}
}

int qmp_open(const char *sock, int timeout_ms, struct qmp **ret, struct berr *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct qmp *q;
	json_t *msg = NULL;
	int r;

	if (!sock || strlen(sock) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "QMP socket path %s is too long", sock ? sock : "");
	memcpy(sa.sun_path, sock, strlen(sock) + 1);

	q = xcalloc(1, sizeof(*q));
	q->path = xstrdup(sock);
	q->timeout_ms = timeout_ms;
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd < 0) {
		r = berr_set(err, errno, "cannot create a socket: %s", strerror(errno));
		goto fail;
	}
	while (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			r = wait_fd(q->fd, POLLOUT, deadline);
			if (r == 0 && getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				r = -errno;
			if (r == 0 && soerr)
				r = -soerr;
			if (r == 0)
				break;
			r = berr_set(err, -r, "cannot connect to QMP socket %s: %s", sock,
				     strerror(-r));
			goto fail;
		}
		r = berr_set(err, errno, "cannot connect to QMP socket %s: %s", sock,
			     strerror(errno));
		goto fail;
	}

	r = read_msg(q, deadline, &msg, err);
	if (r < 0) {
		berr_wrap(err, "waiting for the QMP greeting");
		goto fail;
	}
	if (!json_object_get(msg, "QMP")) {
		json_decref(msg);
		r = berr_set(err, EPROTO, "QMP socket %s did not send a QMP greeting", sock);
		goto fail;
	}
	json_decref(msg);
	r = exec_until(q, "qmp_capabilities", NULL, deadline, NULL, err);
	if (r < 0)
		goto fail;
	*ret = q;
	return 0;
fail:
	qmp_close(q);
	return r;
}

int qmp_exec(struct qmp *q, const char *cmd, json_t *args, json_t **ret, struct berr *err)
{
	return exec_until(q, cmd, args, mono_ms() + (q->timeout_ms > 0 ? q->timeout_ms : 0),
			  ret, err);
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->path);
	free(q);
}

int qmp_call(const char *sock, int timeout_ms, const char *cmd, json_t *args,
	     json_t **ret, struct berr *err)
{
	struct qmp *q = NULL;
	int r = qmp_open(sock, timeout_ms, &q, err);
	if (r < 0)
		return r;
	r = qmp_exec(q, cmd, args, ret, err);
	qmp_close(q);
	return r;
}
