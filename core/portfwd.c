/* core/portfwd.c: see portfwd.h.
 *
 * Each connection has two sides (the client accepted, the upstream
 * connected) and two directions, each with a pipe: splice(src -> pipe),
 * then splice(pipe -> dst).  Both sides are watched edge-triggered for
 * input and output from the start (no epoll_ctl per event): any event of
 * a connection moves both directions until neither can move (EAGAIN), so
 * no edge is ever missed.  An end of input is passed on as
 * shutdown(SHUT_WR) once the pipe is empty; the connection ends when both
 * directions have.
 *
 * Objects that epoll may still report (a connection or listener taken away
 * by portfwd_remove() or finished by the thread) go to a graveyard the
 * thread empties after each batch of events, so a pointer in an event is
 * never a freed one. */
#define _GNU_SOURCE
#include "portfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define PIPE_SIZE (1 << 20)

enum obj_kind { OBJ_CTL, OBJ_LISTENER, OBJ_SIDE, OBJ_DEAD };

struct obj {
	enum obj_kind kind;
};

struct listener {
	struct obj o;
	int fd;
	int64_t id, group;
	struct listener *next;
};

struct conn;
struct side {
	struct obj o;
	int fd;
	struct conn *c;
	int which;           /* 0 the client, 1 the upstream */
};

struct dir {               /* bytes from side[from] to side[1 - from] */
	int pipe[2];
	size_t queued;       /* in the pipe */
	bool eof;            /* the source said end */
	bool done;           /* passed on (shutdown) */
};

struct conn {
	int64_t id, group;
	struct side s[2];
	struct dir d[2];     /* d[0]: client -> upstream; d[1]: upstream -> client */
	bool connecting;
	struct conn *next;
};

struct grave {
	void *p;
	struct grave *next;
};

struct portfwd {
	struct portfwd_ops ops;
	int ep, efd;
	struct obj ctl;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;        /* everything below */
	struct listener *listeners;
	struct conn *conns;
	size_t nconns;
	struct grave *graves;
	bool stop;
};

static void bury(struct portfwd *p, void *obj)
{
	struct grave *g = xcalloc(1, sizeof(*g));
	((struct obj *)obj)->kind = OBJ_DEAD;
	g->p = obj;
	g->next = p->graves;
	p->graves = g;
}

/* Free what was buried before this batch's events were taken (p->lock held
 * by the caller, the thread). */
static void empty_graves(struct portfwd *p)
{
	while (p->graves) {
		struct grave *g = p->graves;
		p->graves = g->next;
		free(g->p);
		free(g);
	}
}

int portfwd_new(const struct portfwd_ops *ops, struct portfwd **ret, struct berr *err)
{
	struct portfwd *p = xcalloc(1, sizeof(*p));
	p->ops = *ops;
	p->ctl.kind = OBJ_CTL;
	pthread_mutex_init(&p->lock, NULL);
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &p->ctl };
	if (p->ep < 0 || p->efd < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->efd, &ev) < 0) {
		int e = errno;
		portfwd_free(p);
		return berr_set(err, e, "setting up the port forwarder: %s", strerror(e));
	}
	*ret = p;
	return 0;
}

int portfwd_add(struct portfwd *p, int64_t id, int64_t group, const char *addr, uint16_t port,
		uint16_t *ret_port, struct berr *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t len = sizeof(sa);
	int one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return berr_set(err, EINVAL, "'%s' is not an IPv4 address", addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return berr_set(err, e, "%s:%u is in use", addr, (unsigned)port);
		return berr_set(err, e, "cannot listen on %s:%u: %s", addr, (unsigned)port,
				strerror(e));
	}
	struct listener *l = xcalloc(1, sizeof(*l));
	l->o.kind = OBJ_LISTENER;
	l->fd = fd;
	l->id = id;
	l->group = group;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	pthread_mutex_lock(&p->lock);
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		pthread_mutex_unlock(&p->lock);
		close(fd);
		free(l);
		return berr_set(err, e, "epoll: %s", strerror(e));
	}
	l->next = p->listeners;
	p->listeners = l;
	pthread_mutex_unlock(&p->lock);
	*ret_port = ntohs(sa.sin_port);
	return 0;
}

/* p->lock held. */
static void conn_close(struct portfwd *p, struct conn *c)
{
	for (struct conn **pp = &p->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	p->nconns--;
	for (int i = 0; i < 2; i++) {
		if (c->s[i].fd >= 0) {
			epoll_ctl(p->ep, EPOLL_CTL_DEL, c->s[i].fd, NULL);
			close(c->s[i].fd);
			c->s[i].fd = -1;
		}
		c->s[i].o.kind = OBJ_DEAD;
		for (int k = 0; k < 2; k++)
			if (c->d[i].pipe[k] >= 0)
				close(c->d[i].pipe[k]);
	}
	bury(p, c);
}

static void remove_where(struct portfwd *p, bool by_group, int64_t v)
{
	pthread_mutex_lock(&p->lock);
	for (struct listener **pp = &p->listeners; *pp;) {
		struct listener *l = *pp;
		if ((by_group ? l->group : l->id) != v) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		epoll_ctl(p->ep, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
		bury(p, l);
	}
	for (struct conn *c = p->conns, *next; c; c = next) {
		next = c->next;
		if ((by_group ? c->group : c->id) == v)
			conn_close(p, c);
	}
	pthread_mutex_unlock(&p->lock);
}

void portfwd_remove(struct portfwd *p, int64_t id)
{
	remove_where(p, false, id);
}

void portfwd_remove_group(struct portfwd *p, int64_t group)
{
	remove_where(p, true, group);
}

/* Move what can be moved in direction k.  Returns false when the
 * connection must end (an error). */
static bool pump(struct conn *c, int k)
{
	struct dir *d = &c->d[k];
	int src = c->s[k].fd, dst = c->s[1 - k].fd;
	for (;;) {
		bool moved = false;
		if (!d->eof && d->queued < PIPE_SIZE) {
			ssize_t n = splice(src, NULL, d->pipe[1], NULL, PIPE_SIZE - d->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->queued += (size_t)n;
				moved = true;
			} else if (n == 0) {
				d->eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (d->queued) {
			ssize_t n = splice(d->pipe[0], NULL, dst, NULL, d->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->queued -= (size_t)n;
				moved = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (d->eof && !d->queued && !d->done) {
			shutdown(dst, SHUT_WR);
			d->done = true;
		}
		if (!moved)
			return true;
	}
}

static void make_pipe(struct dir *d)
{
	d->pipe[0] = d->pipe[1] = -1;
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) == 0)
		fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
}

/* p->lock held. */
static void accept_one(struct portfwd *p, struct listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct sockaddr_in to;
	int r = p->nconns >= PORTFWD_MAX_CONNS ? -EMFILE : p->ops.target(p->ops.ctx, l->id, &to);
	if (r < 0) {
		close(fd);
		return;
	}
	int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (up < 0 || (connect(up, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS)) {
		if (up >= 0)
			close(up);
		close(fd);
		return;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	c->id = l->id;
	c->group = l->group;
	c->connecting = true;
	for (int i = 0; i < 2; i++) {
		c->s[i].o.kind = OBJ_SIDE;
		c->s[i].c = c;
		c->s[i].which = i;
		make_pipe(&c->d[i]);
	}
	c->s[0].fd = fd;
	c->s[1].fd = up;
	c->next = p->conns;
	p->conns = c;
	p->nconns++;
	if (c->d[0].pipe[0] < 0 || c->d[1].pipe[0] < 0) {
		conn_close(p, c);
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					  .data.ptr = &c->s[i] };
		epoll_ctl(p->ep, EPOLL_CTL_ADD, c->s[i].fd, &ev);
	}
}

/* p->lock held. */
static void side_event(struct portfwd *p, struct side *s, uint32_t events)
{
	struct conn *c = s->c;
	if (c->connecting) {
		int e = 0;
		socklen_t len = sizeof(e);
		/* Until the upstream is connected, only its outcome matters (the
		 * client's bytes wait in its socket: the next pump drains them). */
		if (s->which == 0) {
			if (events & (EPOLLERR | EPOLLHUP))
				conn_close(p, c);
			return;
		}
		if (getsockopt(c->s[1].fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
			conn_close(p, c);
			return;
		}
		if (!(events & EPOLLOUT))
			return; /* not connected yet */
		c->connecting = false;
	}
	if (!pump(c, 0) || !pump(c, 1) || (c->d[0].done && c->d[1].done))
		conn_close(p, c);
}

static void *portfwd_main(void *arg)
{
	struct portfwd *p = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(p->ep, evs, ARRAY_SIZE(evs), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blog("port forwarder: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < n; i++) {
			struct obj *o = evs[i].data.ptr;
			switch (o->kind) {
			case OBJ_CTL: {
				uint64_t v;
				ssize_t k = read(p->efd, &v, sizeof(v));
				(void)k;
				break;
			}
			case OBJ_LISTENER:
				accept_one(p, (struct listener *)o);
				break;
			case OBJ_SIDE:
				side_event(p, (struct side *)o, evs[i].events);
				break;
			case OBJ_DEAD:
				break;
			}
		}
		bool stop = p->stop;
		empty_graves(p);
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
	}
}

int portfwd_start(struct portfwd *p, struct berr *err)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&p->thread, NULL, portfwd_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return berr_set(err, r, "starting the port forwarder: %s", strerror(r));
	p->running = true;
	return 0;
}

void portfwd_free(struct portfwd *p)
{
	if (!p)
		return;
	if (p->running) {
		uint64_t one = 1;
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_mutex_unlock(&p->lock);
		ssize_t k = write(p->efd, &one, sizeof(one));
		(void)k;
		pthread_join(p->thread, NULL);
	}
	while (p->conns)
		conn_close(p, p->conns);
	while (p->listeners) {
		struct listener *l = p->listeners;
		p->listeners = l->next;
		close(l->fd);
		free(l);
	}
	empty_graves(p);
	if (p->ep >= 0)
		close(p->ep);
	if (p->efd >= 0)
		close(p->efd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
