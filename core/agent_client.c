/* core/agent_client.c: the host side of the guest agent protocol (see
 * agent_client.h for the API, docs/agent.md for the protocol).
 *
 * Threads: a reader thread per connection decodes frames and updates the
 * pending requests under a.mu; callers wait on a.cv.  Frame writes are
 * serialised by a.wmu.  Output callbacks and get's writes to dst_fd run on
 * the reader thread with a.mu released (the request is pinned meanwhile
 * by cb_busy, so it cannot be freed under them). */
#define _GNU_SOURCE
#include "agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_proto.h"
#include "util.h"

struct pend {
	struct pend *next;
	uint32_t id;
	enum agent_verb verb;
	bool done;
	int code;                /* err: positive errno */
	char msg[BERR_MSG_MAX];  /* err: the agent's sentence */
	char *field;             /* ok: its first field */
	/* exec */
	bool started;
	pid_t pid;
	int status;
	void (*on_output)(void *ctx, int stream, const void *data, size_t len);
	void *ctx;
	int wakefd;
	/* exec stdin, put */
	int64_t credit;
	/* get */
	int dst_fd;
	uint64_t got, max;
	int werr;
	/* the reader is in a callback or a write for this request */
	int cb_busy;
};

struct agent {
	int fd;
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	pthread_mutex_t wmu; /* frame writes */
	struct pend *pend;
	size_t npend;
	uint32_t next_id;
	bool hello_ok;
	char nonce[33];
	char version[256]; /* hello's AGENTVERSION: "VERSION[ FEATURE...]" */
	bool broken;
	struct berr why;
};

struct agent_exec {
	struct agent *a;
	struct pend *p;
	bool stdin_closed;
};

/* ---- connection state ---- */

static void wake(struct pend *p)
{
	if (p->wakefd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(p->wakefd, &one, sizeof(one));
		(void)w;
	}
}

/* Under a->mu.  The first reason wins. */
static void broke(struct agent *a, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void broke(struct agent *a, int code, const char *fmt, ...)
{
	if (!a->broken) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(a->why.msg, sizeof(a->why.msg), fmt, ap);
		va_end(ap);
		a->why.code = code;
		a->broken = true;
	}
	for (struct pend *p = a->pend; p; p = p->next)
		wake(p);
	pthread_cond_broadcast(&a->cv);
}

static struct pend *find(struct agent *a, uint32_t id)
{
	for (struct pend *p = a->pend; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* ---- reader ---- */

static bool reply_fits(enum agent_verb req, enum agent_verb rep)
{
	switch (rep) {
	case AV_OK:
		return req != AV_EXEC;
	case AV_ERR:
		return true;
	case AV_STARTED:
	case AV_OUT:
	case AV_EXIT:
		return req == AV_EXEC;
	case AV_ACK:
		return req == AV_EXEC || req == AV_PUT;
	case AV_DATA:
		return req == AV_GET;
	default:
		return false;
	}
}

/* One decoded-or-not line.  Called with a->mu held. */
static void dispatch(struct agent *a, char *line, size_t len, struct agent_frame *fr)
{
	struct berr e = { 0 };
	int rc = agent_frame_decode(line, len, fr, &e);

	if (!a->hello_ok) {
		/* Before our hello's answer: what a previous session left in
		 * the channel is skipped. */
		if (rc == 0 && fr->v->verb == AV_HELLO && strcmp(fr->f[1].s, a->nonce) == 0) {
			if (fr->f[0].n != AGENT_PROTO_VERSION)
				broke(a, EPROTONOSUPPORT, "the agent speaks protocol %llu, not %d",
				      (unsigned long long)fr->f[0].n, AGENT_PROTO_VERSION);
			snprintf(a->version, sizeof(a->version), "%s", fr->nf > 2 ? fr->f[2].s : "");
			a->hello_ok = true;
			pthread_cond_broadcast(&a->cv);
		} else if (rc == 0 && fr->v->verb == AV_ERR && fr->id == 0 &&
			   fr->f[0].n == EPROTONOSUPPORT) {
			broke(a, EPROTONOSUPPORT, "the agent refused the handshake: %s", fr->f[1].s);
		}
		return;
	}
	if (rc < 0) {
		broke(a, EPROTO, "the agent sent a malformed frame: %s", e.msg);
		return;
	}
	if (fr->v->verb == AV_ERR && fr->id == 0) {
		broke(a, (int)fr->f[0].n, "the agent ended the session: %s", fr->f[1].s);
		return;
	}
	struct pend *p = find(a, fr->id);
	if (!p)
		return; /* a request given up on (timeout): late frames are dropped */
	if (!reply_fits(p->verb, fr->v->verb)) {
		broke(a, EPROTO, "the agent sent %s for a %s request", fr->v->name,
		      agent_verb_lookup(p->verb)->name);
		return;
	}
	if (p->done)
		return;
	switch (fr->v->verb) {
	case AV_OK:
		p->field = fr->nf > 0 ? xstrdup(fr->f[0].s) : NULL;
		p->done = true;
		break;
	case AV_ERR:
		p->code = (int)fr->f[0].n;
		snprintf(p->msg, sizeof(p->msg), "%s", fr->f[1].s);
		p->done = true;
		break;
	case AV_STARTED:
		p->started = true;
		p->pid = (pid_t)fr->f[0].n;
		break;
	case AV_OUT:
		if (!p->started) {
			broke(a, EPROTO, "the agent sent output before the command started");
			return;
		}
		if (p->on_output) {
			p->cb_busy++;
			pthread_mutex_unlock(&a->mu);
			p->on_output(p->ctx, (int)fr->f[0].n, fr->f[1].s, fr->f[1].len);
			pthread_mutex_lock(&a->mu);
			p->cb_busy--;
		}
		break;
	case AV_ACK:
		p->credit += (int64_t)fr->f[0].n;
		if (p->credit > AGENT_WINDOW) {
			broke(a, EPROTO, "the agent acknowledged more bytes than were sent");
			return;
		}
		break;
	case AV_EXIT:
		p->status = strcmp(fr->f[0].s, "signal") == 0 ? 128 + (int)fr->f[1].n : (int)fr->f[1].n;
		p->done = true;
		break;
	case AV_DATA:
		if (p->got + fr->f[0].len > p->max) {
			broke(a, EPROTO, "the agent sent more file data than the %llu bytes allowed",
			      (unsigned long long)p->max);
			return;
		}
		p->got += fr->f[0].len;
		if (!p->werr) {
			int fd = p->dst_fd, werr = 0;
			p->cb_busy++;
			pthread_mutex_unlock(&a->mu);
			for (size_t off = 0; off < fr->f[0].len;) {
				ssize_t w = write(fd, fr->f[0].s + off, fr->f[0].len - off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					werr = w < 0 ? errno : EIO;
					break;
				}
				off += (size_t)w;
			}
			pthread_mutex_lock(&a->mu);
			p->cb_busy--;
			p->werr = werr;
		}
		break;
	default:
		break;
	}
	if (p->done)
		wake(p);
	pthread_cond_broadcast(&a->cv);
}

static void *reader(void *arg)
{
	struct agent *a = arg;
	struct agent_lines l;
	struct agent_frame *fr = xmalloc(sizeof(*fr));
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	agent_lines_init(&l);
	for (;;) {
		size_t room;
		char *buf = agent_lines_space(&l, &room);
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };
		if (poll(&pf, 1, -1) < 0 && errno != EINTR) {
			pthread_mutex_lock(&a->mu);
			broke(a, errno, "poll on the agent connection failed: %s", strerror(errno));
			pthread_mutex_unlock(&a->mu);
			break;
		}
		ssize_t n = read(a->fd, buf, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		pthread_mutex_lock(&a->mu);
		if (n <= 0) {
			if (n == 0)
				broke(a, ECONNRESET, "the agent closed the connection");
			else
				broke(a, errno, "reading from the agent failed: %s", strerror(errno));
			pthread_mutex_unlock(&a->mu);
			break;
		}
		agent_lines_commit(&l, (size_t)n);
		char *line;
		size_t len;
		int r;
		while (!a->broken && (r = agent_lines_next(&l, &line, &len)) != 0) {
			if (r == 1)
				dispatch(a, line, len, fr);
			else if (a->hello_ok)
				broke(a, E2BIG, "the agent sent a line longer than %d bytes",
				      AGENT_LINE_MAX - 1);
		}
		bool stop = a->broken;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
	}
	agent_lines_free(&l);
	free(fr);
	return NULL;
}

/* ---- writing ---- */

static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pf = { .fd = fd, .events = ev };
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

/* Send a whole frame before deadline.  A frame cut half-way leaves the
 * stream unusable: the connection is then broken. */
static int send_frame(struct agent *a, const struct sbuf *f, int timeout_ms, struct berr *err)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t off = 0;
	int r = 0;
	pthread_mutex_lock(&a->wmu);
	pthread_mutex_lock(&a->mu);
	if (a->broken) {
		*err = a->why;
		r = -a->why.code;
	}
	pthread_mutex_unlock(&a->mu);
	while (r == 0 && off < f->len) {
		ssize_t n = send(a->fd, f->buf + off, f->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = wait_fd(a->fd, POLLOUT, deadline);
			if (r == 0)
				continue;
			r = berr_set(err, -r, "the agent did not take a request within %d ms", timeout_ms);
		} else {
			r = berr_set(err, errno ? errno : EIO, "writing to the agent failed: %s",
				     strerror(errno ? errno : EIO));
		}
		pthread_mutex_lock(&a->mu);
		broke(a, err->code, "%s", err->msg);
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_unlock(&a->wmu);
	return r;
}

/* ---- requests ---- */

static int pend_new(struct agent *a, enum agent_verb verb, struct pend **ret, struct berr *err)
{
	pthread_mutex_lock(&a->mu);
	if (a->broken) {
		*err = a->why;
		pthread_mutex_unlock(&a->mu);
		return -a->why.code;
	}
	if (a->npend >= AGENT_REQS_MAX) {
		pthread_mutex_unlock(&a->mu);
		return berr_set(err, EAGAIN, "%d agent requests are in flight already", AGENT_REQS_MAX);
	}
	struct pend *p = xcalloc(1, sizeof(*p));
	do
		p->id = ++a->next_id;
	while (p->id == 0 || find(a, p->id));
	p->verb = verb;
	p->wakefd = p->dst_fd = -1;
	p->credit = AGENT_WINDOW;
	p->next = a->pend;
	a->pend = p;
	a->npend++;
	pthread_mutex_unlock(&a->mu);
	*ret = p;
	return 0;
}

static void pend_drop(struct agent *a, struct pend *p)
{
	pthread_mutex_lock(&a->mu);
	while (p->cb_busy)
		pthread_cond_wait(&a->cv, &a->mu);
	for (struct pend **pp = &a->pend; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			a->npend--;
			break;
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (p->wakefd >= 0)
		close(p->wakefd);
	free(p->field);
	free(p);
}

/* Wait on a->cv (a->mu held) until deadline (< 0: no deadline). */
static int cv_wait_until(struct agent *a, int64_t deadline)
{
	if (deadline < 0) {
		pthread_cond_wait(&a->cv, &a->mu);
		return 0;
	}
	int64_t left = deadline - mono_ms();
	if (left <= 0)
		return -ETIMEDOUT;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&a->cv, &a->mu, &ts);
	return 0;
}

enum wait_for { W_DONE, W_STARTED, W_CREDIT };

/* Wait (a->mu held) until the condition, the request's end or a broken
 * connection, at most until deadline (< 0: forever). */
static int wait_locked(struct agent *a, struct pend *p, enum wait_for w, int64_t need,
		       int64_t deadline)
{
	for (;;) {
		if (p->done || a->broken)
			return 0;
		if (w == W_STARTED && p->started)
			return 0;
		if (w == W_CREDIT && p->credit >= need)
			return 0;
		if (cv_wait_until(a, deadline) < 0)
			return -ETIMEDOUT;
	}
}

/* The outcome of a finished (or failed) request as 0 / -errno + sentence. */
static int outcome_locked(struct agent *a, struct pend *p, const char *what, struct berr *err)
{
	if (p->done && p->code)
		return berr_set(err, p->code, "%s", p->msg);
	if (p->done)
		return 0;
	if (a->broken) {
		*err = a->why;
		return berr_wrap(err, "%s", what);
	}
	return 0;
}

/* Send frame f for p and wait for its end. */
static int call(struct agent *a, struct pend *p, const struct sbuf *f, int timeout_ms,
		const char *what, struct berr *err)
{
	int r = send_frame(a, f, timeout_ms, err);
	if (r < 0)
		return berr_wrap(err, "%s", what);
	pthread_mutex_lock(&a->mu);
	r = wait_locked(a, p, W_DONE, 0, mono_ms() + timeout_ms);
	if (r == -ETIMEDOUT)
		r = berr_set(err, ETIMEDOUT, "%s: the agent did not answer within %d ms", what, timeout_ms);
	else
		r = outcome_locked(a, p, what, err);
	pthread_mutex_unlock(&a->mu);
	return r;
}

/* End frame f (begun at b for p), send it, wait for p's end, drop p.
 * ret_field (may be NULL) gets ok's first field. */
static int finish(struct agent *a, struct pend *p, struct sbuf *f, size_t b, int timeout_ms,
		  const char *what, char **ret_field, struct berr *err)
{
	int r = agent_frame_end(f, b);
	if (r < 0) {
		r = berr_set(err, E2BIG, "%s: the request does not fit in one frame (%d bytes)", what,
			     AGENT_LINE_MAX);
	} else {
		r = call(a, p, f, timeout_ms, what, err);
		if (r == 0 && ret_field)
			*ret_field = TAKE_PTR(p->field);
	}
	sbuf_free(f);
	pend_drop(a, p);
	return r;
}

/* ---- connecting ---- */

static int connect_unix(const char *path, int64_t deadline, int *ret, struct berr *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set(err, errno, "cannot make a socket: %s", strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno == EINTR)
			continue;
		/* a full backlog: try again until the deadline */
		if (errno == EAGAIN && mono_ms() < deadline) {
			usleep(5000);
			continue;
		}
		int e = errno;
		close(fd);
		return berr_set(err, e, "cannot connect to %s: %s", path, strerror(e));
	}
	*ret = fd;
	return 0;
}

int agent_open_fd(int fd, int timeout_ms, struct agent **ret, struct berr *err)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	pthread_condattr_t ca;
	uint8_t rnd[8];
	int r;

	a->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->wmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* no entropy source: the time still makes stale answers unlikely */
		int64_t t = mono_ms() ^ ((int64_t)getpid() << 32);
		memcpy(rnd, &t, sizeof(rnd));
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(a->nonce + 2 * i, 3, "%02x", rnd[i]);
	r = pthread_create(&a->thr, NULL, reader, a);
	if (r != 0) {
		agent_close(a);
		return berr_set(err, r, "cannot start the agent reader thread: %s", strerror(r));
	}
	a->thr_started = true;

	/* The leading LF ends whatever partial line a previous host left. */
	struct sbuf f;
	sbuf_init(&f);
	sbuf_puts(&f, "\n");
	size_t b = agent_frame_begin(&f, AV_HELLO, 0);
	agent_put_num(&f, AGENT_PROTO_VERSION);
	agent_put_cstr(&f, a->nonce);
	(void)agent_frame_end(&f, b);
	r = send_frame(a, &f, timeout_ms, err);
	sbuf_free(&f);
	if (r == 0) {
		pthread_mutex_lock(&a->mu);
		int64_t deadline = mono_ms() + timeout_ms;
		while (!a->hello_ok && !a->broken && cv_wait_until(a, deadline) == 0)
			;
		if (a->broken) {
			*err = a->why;
			r = -a->why.code;
		} else if (!a->hello_ok) {
			r = berr_set(err, ETIMEDOUT,
				     "the agent did not answer the handshake within %d ms (no agent in the "
				     "guest, or still booting, or another client holds the channel)",
				     timeout_ms);
		}
		pthread_mutex_unlock(&a->mu);
	}
	if (r < 0) {
		agent_close(a);
		return r;
	}
	*ret = a;
	return 0;
}

int agent_connect_unix(const char *path, int timeout_ms, struct agent **ret, struct berr *err)
{
	int fd;
	int r = connect_unix(path, mono_ms() + timeout_ms, &fd, err);
	if (r < 0)
		return r;
	return agent_open_fd(fd, timeout_ms, ret, err);
}

int agent_connect_fc_vsock(const char *uds, unsigned port, int timeout_ms, struct agent **ret,
			   struct berr *err)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char line[40];
	size_t n = 0;
	int fd, r;

	r = connect_unix(uds, deadline, &fd, err);
	if (r < 0)
		return r;
	int len = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
		int e = errno ? errno : EIO;
		close(fd);
		return berr_set(err, e, "cannot send CONNECT to %s: %s", uds, strerror(e));
	}
	/* "OK <host port>\n", read byte by byte so no protocol byte is eaten. */
	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k == 1) {
			if (c == '\n')
				break;
			if (n + 1 >= sizeof(line)) {
				close(fd);
				return berr_set(err, EPROTO, "firecracker's answer to CONNECT on %s is too long", uds);
			}
			line[n++] = c;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r == 0)
				continue;
			close(fd);
			return berr_set(err, ETIMEDOUT, "firecracker did not answer CONNECT %u on %s within %d ms",
					port, uds, timeout_ms);
		}
		close(fd);
		return berr_set(err, ECONNREFUSED,
				"firecracker closed the vsock connection to port %u: nothing listens there "
				"in the guest (no agent, or still booting)", port);
	}
	line[n] = '\0';
	uint64_t hp;
	if (strncmp(line, "OK ", 3) != 0 || parse_u64(line + 3, &hp) < 0) {
		close(fd);
		return berr_set(err, EPROTO, "firecracker answered CONNECT with \"%.32s\", not OK <port>", line);
	}
	int64_t left = deadline - mono_ms();
	return agent_open_fd(fd, left > 0 ? (int)left : 1, ret, err);
}

void agent_close(struct agent *a)
{
	if (!a)
		return;
	shutdown(a->fd, SHUT_RDWR);
	if (a->thr_started)
		pthread_join(a->thr, NULL);
	close(a->fd);
	while (a->pend) { /* requests whose owners are gone already */
		struct pend *p = a->pend;
		a->pend = p->next;
		if (p->wakefd >= 0)
			close(p->wakefd);
		free(p->field);
		free(p);
	}
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->wmu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

bool agent_broken(struct agent *a, struct berr *why)
{
	pthread_mutex_lock(&a->mu);
	bool b = a->broken;
	if (b && why)
		*why = a->why;
	pthread_mutex_unlock(&a->mu);
	return b;
}

/* ---- operations ---- */

bool agent_has_feature(struct agent *a, const char *feature)
{
	pthread_mutex_lock(&a->mu);
	bool found = agent_version_has(a->version, feature);
	pthread_mutex_unlock(&a->mu);
	return found;
}

int agent_ping(struct agent *a, int timeout_ms, int64_t *ret_uptime_ms, struct berr *err)
{
	struct pend *p;
	struct sbuf f;
	_cleanup_free_ char *up = NULL;
	int r = pend_new(a, AV_PING, &p, err);
	if (r < 0)
		return berr_wrap(err, "ping");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_PING, p->id);
	r = finish(a, p, &f, b, timeout_ms, "ping", &up, err);
	if (r < 0)
		return r;
	int64_t v;
	if (!up || parse_i64(up, &v) < 0)
		return berr_set(err, EPROTO, "ping: the agent's uptime \"%s\" is not a number", up ? up : "");
	if (ret_uptime_ms)
		*ret_uptime_ms = v;
	return 0;
}

int agent_exec_start(struct agent *a, const struct agent_exec_spec *spec, int timeout_ms,
		     struct agent_exec **ret, struct berr *err)
{
	size_t argc = 0, envc = 0;
	struct pend *p;
	struct sbuf f;
	int r;

	if (!spec || !spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return berr_set(err, EINVAL, "exec needs a program name");
	while (spec->argv[argc])
		argc++;
	while (spec->env && spec->env[envc]) {
		const char *e = spec->env[envc];
		if (e[0] == '=' || !strchr(e, '='))
			return berr_set(err, EINVAL, "environment entry \"%s\" is not NAME=value", e);
		envc++;
	}
	if (4 + argc + envc > AGENT_FIELDS_MAX)
		return berr_set(err, E2BIG, "exec takes at most %d arguments and environment entries",
				AGENT_FIELDS_MAX - 4);
	r = pend_new(a, AV_EXEC, &p, err);
	if (r < 0)
		return berr_wrap(err, "exec %s", spec->argv[0]);
	p->on_output = spec->on_output;
	p->ctx = spec->ctx;
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wakefd < 0) {
		r = berr_set(err, errno, "cannot make an eventfd: %s", strerror(errno));
		pend_drop(a, p);
		return r;
	}
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_EXEC, p->id);
	agent_put_word(&f, spec->stdin_pipe ? "pipe" : "null");
	agent_put_cstr(&f, spec->cwd ? spec->cwd : "");
	agent_put_num(&f, argc);
	agent_put_num(&f, envc);
	for (size_t i = 0; i < argc; i++)
		agent_put_cstr(&f, spec->argv[i]);
	for (size_t i = 0; i < envc; i++)
		agent_put_cstr(&f, spec->env[i]);
	r = agent_frame_end(&f, b);
	if (r < 0)
		r = berr_set(err, E2BIG, "the command line does not fit in one frame (%d bytes)",
			     AGENT_LINE_MAX);
	else
		r = send_frame(a, &f, timeout_ms, err);
	sbuf_free(&f);
	if (r == 0) {
		pthread_mutex_lock(&a->mu);
		r = wait_locked(a, p, W_STARTED, 0, mono_ms() + timeout_ms);
		if (r == -ETIMEDOUT)
			r = berr_set(err, ETIMEDOUT, "the agent did not start %s within %d ms",
				     spec->argv[0], timeout_ms);
		else if (!p->started)
			r = outcome_locked(a, p, "exec", err);
		pthread_mutex_unlock(&a->mu);
	}
	if (r < 0) {
		bool timed_out = err->code == ETIMEDOUT;
		uint32_t id = p->id;
		pend_drop(a, p);
		if (timed_out) { /* it may start later: do not leave it running */
			struct sbuf k;
			struct berr ignore;
			sbuf_init(&k);
			size_t kb = agent_frame_begin(&k, AV_KILL, id);
			agent_put_num(&k, SIGKILL);
			(void)agent_frame_end(&k, kb);
			(void)send_frame(a, &k, 100, &ignore);
			sbuf_free(&k);
		}
		return r;
	}
	struct agent_exec *x = xcalloc(1, sizeof(*x));
	x->a = a;
	x->p = p;
	x->stdin_closed = !spec->stdin_pipe;
	*ret = x;
	return 0;
}

pid_t agent_exec_pid(const struct agent_exec *x)
{
	return x->p->pid;
}

int agent_exec_fd(const struct agent_exec *x)
{
	return x->p->wakefd;
}

int agent_exec_stdin(struct agent_exec *x, const void *data, size_t len, int timeout_ms,
		     struct berr *err)
{
	struct agent *a = x->a;
	struct pend *p = x->p;
	const char *d = data;
	if (x->stdin_closed)
		return berr_set(err, EPIPE, "the command's stdin is closed");
	while (len > 0) {
		size_t n = len < AGENT_DATA_MAX ? len : AGENT_DATA_MAX;
		pthread_mutex_lock(&a->mu);
		int r = wait_locked(a, p, W_CREDIT, (int64_t)n, mono_ms() + timeout_ms);
		if (r == 0 && (p->done || a->broken)) {
			/* the command ended: what it did not read is dropped */
			bool ended = p->done && !a->broken;
			r = ended ? 0 : outcome_locked(a, p, "stdin", err);
			pthread_mutex_unlock(&a->mu);
			if (ended)
				return berr_set(err, EPIPE, "the command has ended");
			return r;
		}
		if (r == -ETIMEDOUT) {
			pthread_mutex_unlock(&a->mu);
			return berr_set(err, ETIMEDOUT,
					"the command did not read its stdin within %d ms", timeout_ms);
		}
		p->credit -= (int64_t)n;
		pthread_mutex_unlock(&a->mu);
		struct sbuf f;
		sbuf_init(&f);
		size_t b = agent_frame_begin(&f, AV_IN, p->id);
		agent_put_data(&f, d, n);
		(void)agent_frame_end(&f, b);
		r = send_frame(a, &f, timeout_ms, err);
		sbuf_free(&f);
		if (r < 0)
			return r;
		d += n;
		len -= n;
	}
	return 0;
}

static int exec_small(struct agent_exec *x, enum agent_verb v, uint64_t arg, struct berr *err)
{
	struct sbuf f;
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, v, x->p->id);
	if (v == AV_KILL)
		agent_put_num(&f, arg);
	(void)agent_frame_end(&f, b);
	int r = send_frame(x->a, &f, 5000, err);
	sbuf_free(&f);
	return r;
}

int agent_exec_stdin_close(struct agent_exec *x, struct berr *err)
{
	if (x->stdin_closed)
		return 0;
	x->stdin_closed = true;
	return exec_small(x, AV_EOF, 0, err);
}

int agent_exec_kill(struct agent_exec *x, int sig, struct berr *err)
{
	if (sig < 1 || sig > 64)
		return berr_set(err, EINVAL, "signal %d is out of range", sig);
	pthread_mutex_lock(&x->a->mu);
	bool done = x->p->done;
	pthread_mutex_unlock(&x->a->mu);
	if (done)
		return 0;
	return exec_small(x, AV_KILL, (uint64_t)sig, err);
}

int agent_exec_wait(struct agent_exec *x, int timeout_ms, int *ret_status, struct berr *err)
{
	struct agent *a = x->a;
	struct pend *p = x->p;
	pthread_mutex_lock(&a->mu);
	int r = wait_locked(a, p, W_DONE, 0, timeout_ms < 0 ? -1 : mono_ms() + timeout_ms);
	if (r == -ETIMEDOUT)
		r = berr_set(err, ETIMEDOUT, "the command did not end within %d ms", timeout_ms);
	else if (!p->done)
		r = outcome_locked(a, p, "waiting for the command", err);
	else if (p->code)
		r = berr_set(err, p->code, "%s", p->msg);
	else if (ret_status)
		*ret_status = p->status;
	pthread_mutex_unlock(&a->mu);
	return r;
}

void agent_exec_free(struct agent_exec *x)
{
	if (!x)
		return;
	struct berr ignore;
	(void)agent_exec_kill(x, SIGKILL, &ignore);
	pend_drop(x->a, x->p);
	free(x);
}

int agent_exec(struct agent *a, const struct agent_exec_spec *spec, int stdin_fd, int timeout_ms,
	       int *ret_status, struct berr *err)
{
	struct agent_exec_spec s = *spec;
	struct agent_exec *x;
	s.stdin_pipe = stdin_fd >= 0;
	int r = agent_exec_start(a, &s, timeout_ms, &x, err);
	if (r < 0)
		return r;
	if (stdin_fd >= 0) {
		static __thread char buf[AGENT_DATA_MAX];
		for (;;) {
			struct pollfd pf[2] = { { .fd = stdin_fd, .events = POLLIN },
						{ .fd = agent_exec_fd(x), .events = POLLIN } };
			if (poll(pf, 2, -1) < 0 && errno != EINTR) {
				r = berr_set(err, errno, "poll: %s", strerror(errno));
				break;
			}
			if (pf[1].revents)
				break; /* the command ended */
			if (!pf[0].revents)
				continue;
			ssize_t n = read(stdin_fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				r = agent_exec_stdin_close(x, err);
				break;
			}
			r = agent_exec_stdin(x, buf, (size_t)n, timeout_ms, err);
			if (r == -EPIPE) { /* ended or closed its stdin: stop copying */
				r = 0;
				break;
			}
			if (r < 0)
				break;
		}
	}
	if (r == 0)
		r = agent_exec_wait(x, -1, ret_status, err);
	agent_exec_free(x);
	return r;
}

/* put: data from a buffer or a descriptor. */
static int put_common(struct agent *a, const char *path, const void *data, int src_fd, uint64_t size,
		      unsigned mode, int timeout_ms, struct berr *err)
{
	struct pend *p;
	struct sbuf f;
	int r;

	if (!path || path[0] != '/' || strlen(path) > AGENT_PATH_MAX)
		return berr_set(err, EINVAL, "put needs an absolute guest path of at most %d bytes",
				AGENT_PATH_MAX);
	if (mode > 07777)
		return berr_set(err, EINVAL, "mode %o is out of range", mode);
	if (size > AGENT_FILE_MAX)
		return berr_set(err, EFBIG, "put: %llu bytes is over the %llu-byte limit",
				(unsigned long long)size, (unsigned long long)AGENT_FILE_MAX);
	r = pend_new(a, AV_PUT, &p, err);
	if (r < 0)
		return berr_wrap(err, "put %s", path);
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_PUT, p->id);
	agent_put_cstr(&f, path);
	agent_put_num(&f, mode);
	agent_put_num(&f, size);
	(void)agent_frame_end(&f, b);
	r = send_frame(a, &f, timeout_ms, err);
	sbuf_free(&f);
	char *buf = src_fd >= 0 ? xmalloc(AGENT_DATA_MAX) : NULL;
	uint64_t off = 0;
	while (r == 0 && off < size) {
		size_t n = size - off < AGENT_DATA_MAX ? (size_t)(size - off) : AGENT_DATA_MAX;
		const char *chunk;
		if (src_fd >= 0) {
			ssize_t k = read(src_fd, buf, n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r = berr_set(err, k < 0 ? errno : EIO, "put %s: the source %s", path,
					     k < 0 ? strerror(errno) : "shrank while it was sent");
				break;
			}
			n = (size_t)k;
			chunk = buf;
		} else {
			chunk = (const char *)data + off;
		}
		pthread_mutex_lock(&a->mu);
		r = wait_locked(a, p, W_CREDIT, (int64_t)n, mono_ms() + timeout_ms);
		if (r == -ETIMEDOUT)
			r = berr_set(err, ETIMEDOUT, "put %s: the agent did not take data within %d ms",
				     path, timeout_ms);
		else if (p->done || a->broken)
			r = p->done && !p->code ? berr_set(err, EPROTO, "put %s: the agent answered early", path)
						: outcome_locked(a, p, "put", err);
		else
			p->credit -= (int64_t)n;
		pthread_mutex_unlock(&a->mu);
		if (r < 0)
			break;
		sbuf_init(&f);
		b = agent_frame_begin(&f, AV_DATA, p->id);
		agent_put_data(&f, chunk, n);
		(void)agent_frame_end(&f, b);
		r = send_frame(a, &f, timeout_ms, err);
		sbuf_free(&f);
		off += n;
	}
	free(buf);
	if (r == 0) {
		pthread_mutex_lock(&a->mu);
		r = wait_locked(a, p, W_DONE, 0, mono_ms() + timeout_ms);
		if (r == -ETIMEDOUT)
			r = berr_set(err, ETIMEDOUT, "put %s: the agent did not finish within %d ms", path,
				     timeout_ms);
		else
			r = outcome_locked(a, p, "put", err);
		pthread_mutex_unlock(&a->mu);
	}
	pend_drop(a, p);
	return r;
}

int agent_put(struct agent *a, const char *path, const void *data, size_t len, unsigned mode,
	      int timeout_ms, struct berr *err)
{
	return put_common(a, path, data, -1, len, mode, timeout_ms, err);
}

int agent_put_fd(struct agent *a, const char *path, int src_fd, unsigned mode, int timeout_ms,
		 struct berr *err)
{
	struct stat st;
	if (fstat(src_fd, &st) < 0)
		return berr_set(err, errno, "put %s: cannot stat the source: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "put %s: the source is not a regular file", path);
	return put_common(a, path, NULL, src_fd, (uint64_t)st.st_size, mode, timeout_ms, err);
}

int agent_get(struct agent *a, const char *path, int dst_fd, uint64_t max, int timeout_ms,
	      uint64_t *ret_size, struct berr *err)
{
	struct pend *p;
	struct sbuf f;
	int r;

	if (!path || path[0] != '/' || strlen(path) > AGENT_PATH_MAX)
		return berr_set(err, EINVAL, "get needs an absolute guest path of at most %d bytes",
				AGENT_PATH_MAX);
	if (max > AGENT_FILE_MAX)
		max = AGENT_FILE_MAX;
	r = pend_new(a, AV_GET, &p, err);
	if (r < 0)
		return berr_wrap(err, "get %s", path);
	p->dst_fd = dst_fd;
	p->max = max;
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_GET, p->id);
	agent_put_cstr(&f, path);
	agent_put_num(&f, max);
	(void)agent_frame_end(&f, b);
	r = send_frame(a, &f, timeout_ms, err);
	sbuf_free(&f);
	if (r == 0) {
		pthread_mutex_lock(&a->mu);
		/* timeout_ms bounds each wait for progress, not the whole copy */
		uint64_t seen = p->got;
		int64_t deadline = mono_ms() + timeout_ms;
		while (!p->done && !a->broken) {
			if (cv_wait_until(a, deadline) < 0) {
				r = berr_set(err, ETIMEDOUT, "get %s: the agent sent nothing for %d ms", path,
					     timeout_ms);
				break;
			}
			if (p->got != seen) {
				seen = p->got;
				deadline = mono_ms() + timeout_ms;
			}
		}
		if (r == 0)
			r = outcome_locked(a, p, "get", err);
		while (r == 0 && p->cb_busy)
			pthread_cond_wait(&a->cv, &a->mu);
		if (r == 0 && p->werr)
			r = berr_set(err, p->werr, "get %s: cannot write the copy: %s", path, strerror(p->werr));
		uint64_t said;
		if (r == 0 && (!p->field || parse_u64(p->field, &said) < 0 || said != p->got))
			r = berr_set(err, EPROTO, "get %s: the agent's byte count does not match the data", path);
		if (r == 0 && ret_size)
			*ret_size = p->got;
		pthread_mutex_unlock(&a->mu);
	}
	pend_drop(a, p);
	return r;
}

int agent_set_identity(struct agent *a, const struct agent_identity *id, int timeout_ms,
		       struct berr *err)
{
	const char *keys[] = { "hostname", "iface", "addr", "gw", "dns", "machine_id", "mac", "mount" };
	const char *vals[] = { id->hostname, id->iface, id->addr, id->gw, id->dns, id->machine_id,
			       id->mac, id->mount };
	struct pend *p;
	struct sbuf f;
	bool any = false;
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
		any = any || vals[i];
		if (vals[i] && strlen(vals[i]) > 255)
			return berr_set(err, EINVAL, "identity: %s is longer than 255 bytes", keys[i]);
	}
	if (!any)
		return berr_set(err, EINVAL, "identity: nothing to set");
	int r = pend_new(a, AV_IDENT, &p, err);
	if (r < 0)
		return berr_wrap(err, "identity");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_IDENT, p->id);
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
		if (vals[i])
			agent_put_kv(&f, keys[i], vals[i]);
	return finish(a, p, &f, b, timeout_ms, "identity", NULL, err);
}

int agent_new_hostkey(struct agent *a, int timeout_ms, char **ret_pubkey, struct berr *err)
{
	struct pend *p;
	struct sbuf f;
	char *key = NULL;
	int r = pend_new(a, AV_HOSTKEY, &p, err);
	if (r < 0)
		return berr_wrap(err, "host key");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_HOSTKEY, p->id);
	r = finish(a, p, &f, b, timeout_ms, "host key", &key, err);
	if (r < 0)
		return r;
	/* "ssh-ed25519 BASE64", nothing else */
	bool ok = key && strncmp(key, "ssh-ed25519 ", 12) == 0 && key[12];
	for (const char *c = key ? key + 12 : ""; ok && *c; c++)
		ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		     *c == '+' || *c == '/' || *c == '=';
	if (!ok) {
		free(key);
		return berr_set(err, EPROTO, "host key: the agent returned something that is not an "
					     "ssh-ed25519 public key");
	}
	*ret_pubkey = key;
	return 0;
}

int agent_set_clock(struct agent *a, const struct timespec *ts, int timeout_ms, struct berr *err)
{
	struct timespec now;
	struct pend *p;
	struct sbuf f;
	if (!ts) {
		clock_gettime(CLOCK_REALTIME, &now);
		ts = &now;
	}
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return berr_set(err, EINVAL, "clock: the time is out of range");
	int r = pend_new(a, AV_CLOCK, &p, err);
	if (r < 0)
		return berr_wrap(err, "clock");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_CLOCK, p->id);
	agent_put_num(&f, (uint64_t)ts->tv_sec);
	agent_put_num(&f, (uint64_t)ts->tv_nsec);
	return finish(a, p, &f, b, timeout_ms, "clock", NULL, err);
}

int agent_reseed_rng(struct agent *a, int timeout_ms, struct berr *err)
{
	uint8_t seed[64];
	struct pend *p;
	struct sbuf f;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return berr_set(err, errno ? errno : EIO, "rng: getrandom failed: %s",
				strerror(errno ? errno : EIO));
	int r = pend_new(a, AV_RNG, &p, err);
	if (r < 0)
		return berr_wrap(err, "rng");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_RNG, p->id);
	agent_put_data(&f, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	r = finish(a, p, &f, b, timeout_ms, "rng", NULL, err);
	return r;
}

int agent_shutdown(struct agent *a, bool reboot, bool force, int timeout_ms, struct berr *err)
{
	struct pend *p;
	struct sbuf f;
	int r = pend_new(a, AV_SHUTDOWN, &p, err);
	if (r < 0)
		return berr_wrap(err, "shutdown");
	sbuf_init(&f);
	size_t b = agent_frame_begin(&f, AV_SHUTDOWN, p->id);
	agent_put_word(&f, reboot ? "reboot" : "poweroff");
	if (force)
		agent_put_word(&f, "force");
	return finish(a, p, &f, b, timeout_ms, "shutdown", NULL, err);
}
