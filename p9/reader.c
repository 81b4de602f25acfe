/* p9/reader.c: the reader thread of each 9P connection.
 *
 * It decodes messages and answers most of them at once (walk, open, read,
 * stat: none of them waits on a VM).  Writes, mkdir and remove can wait on
 * a VM (a stop takes up to its timeout), so they go to the worker pool
 * (p9/work.c); a stream read at its end is parked until the waker
 * (p9/work.c) finds data for it.  The connection's fids, requests and
 * replies are p9/conn.c's. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "p9.h"
#include "server.h"

/* ---- the reader thread ------------------------------------------------------- */

/* Cancel parked reads, wait for running requests, clunk every fid
 * (removing ORCLOSE ones): the end of a session (Tversion, hangup). */
static void conn_reset(struct p9_conn *c)
{
	struct p9_req *cancel = NULL;
	pthread_mutex_lock(&c->lock);
	for (struct p9_req **pp = &c->reqs; *pp;) {
		struct p9_req *q = *pp;
		if (q->is_read && q->state == RQ_PARKED) {
			*pp = q->next;
			c->nparked--;
			q->next_todo = cancel;
			cancel = q;
		} else {
			pp = &q->next;
		}
	}
	pthread_mutex_unlock(&c->lock);
	while (cancel) {
		struct p9_req *q = cancel;
		cancel = q->next_todo;
		p9_req_free(c, q);
	}
	pthread_mutex_lock(&c->lock);
	while (c->reqs)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	for (unsigned h = 0; h < ARRAY_SIZE(c->fids); h++)
		while (c->fids[h]) {
			struct p9_fid *f = c->fids[h];
			if (f->orclose) {
				struct p9_out o = { 0 };
				int r = p9_op_orclose(c, f, &o);
				if (r < 0)
					blog("9p: remove on close of %s: %s", f->node.name,
					     o.ename[0] ? o.ename : strerror(-r));
			}
			p9_fid_unlink(c, f);
		}
}

static int do_version(struct p9_conn *c, const struct p9_msg *t)
{
	struct p9_msg r = { .type = P9_RVERSION, .tag = t->tag };
	struct p9_str v = t->u.version.version;
	enum p9_dialect d = P9_UNSET;

	if (t->u.version.msize < P9_MSIZE_MIN)
		return -EINVAL;   /* the connection is dropped */
	conn_reset(c);
	if (p9_streq(v, "9P2000.L"))
		d = P9_2000L;
	else if (v.len >= 6 && memcmp(v.s, "9P2000", 6) == 0 && (v.len == 6 || v.s[6] == '.'))
		d = P9_2000;   /* 9P2000.u and others: plain 9P2000 */
	uint32_t msize = t->u.version.msize < P9_MSIZE_MAX ? t->u.version.msize : P9_MSIZE_MAX;
	r.u.version.msize = msize;
	r.u.version.version = p9s(d == P9_2000L ? "9P2000.L" : d == P9_2000 ? "9P2000" : "unknown");
	uint8_t buf[64];
	size_t len = p9_encode(&r, P9_2000, buf, sizeof(buf));
	c->d = d;
	if (d != P9_UNSET) {
		c->msize = msize;
		c->wbuf = xrealloc(c->wbuf, msize);
		if (c->rcap < msize) {
			c->rbuf = xrealloc(c->rbuf, msize);
			c->rcap = msize;
		}
	}
	p9_send_msg(c, buf, len);
	return 0;
}

/* Tflush: cancel a parked read now; wait for a busy request. */
static void do_flush(struct p9_conn *c, const struct p9_msg *t)
{
	pthread_mutex_lock(&c->lock);
	while (c->nbusy >= P9_BUSY_MAX && !c->dead)
		pthread_cond_wait(&c->cond, &c->lock);
	struct p9_req *q = p9_req_find(c, t->u.flush.oldtag);
	if (!q || q->state == RQ_PARKED) {
		if (q)
			p9_req_unlink(c, q);
		pthread_mutex_unlock(&c->lock);
		if (q)
			p9_req_free(c, q);
		p9_send_rflush(c, t->tag);
		return;
	}
	struct p9_req *fl = xcalloc(1, sizeof(*fl));
	fl->c = c;
	fl->tag = t->tag;
	fl->state = RQ_BUSY;
	fl->is_flush = true;
	fl->next = c->reqs;
	c->reqs = fl;
	c->nbusy++;
	/* q is still listed (its reply comes first): append to its waiters. */
	struct p9_req **pp = &q->flushers;
	while (*pp)
		pp = &(*pp)->next_flusher;
	*pp = fl;
	pthread_mutex_unlock(&c->lock);
}

/* Returns false when the connection must end (protocol violation). */
static bool handle(struct p9_conn *c, const uint8_t *msg, size_t len)
{
	struct p9_msg t;
	struct p9_out o;
	int r = p9_decode(msg, len, c->d, &t);

	if (len < P9_HDRSZ || (t.type & 1) || (r < 0 && c->d == P9_UNSET))
		return false;   /* no header, a reply, or anything before Tversion */
	if (p9_tracing())
		blog("9p: fd %d %s tag %u (%zu bytes)", c->fd, p9_type_name(t.type) ?: "?", t.tag, len);
	if (t.type == P9_TVERSION)
		return r == 0 && do_version(c, &t) == 0;
	pthread_mutex_lock(&c->lock);
	bool tag_busy = t.tag == P9_NOTAG || p9_req_find(c, t.tag);
	pthread_mutex_unlock(&c->lock);
	if (tag_busy)
		return false;   /* a tag still in use: the client lost track */
	if (r < 0) {
		memset(&o, 0, sizeof(o));
		p9_send_reply(c, c->wbuf, t.tag, r == -ENOSYS ? -EOPNOTSUPP : -EBADMSG, &o);
		return true;
	}
	if (t.type == P9_TFLUSH) {
		do_flush(c, &t);
		return true;
	}
	bool async = p9_op_async(&t);
	if (t.type == P9_TCLUNK) {
		int err;
		struct p9_fid *f = p9_fid_get(c, t.u.fid.fid, false, &err);
		async = f && f->orclose;
		p9_fid_put(c, f);
	}
	if (async) {
		if ((r = p9_op_claim(c, &t)) < 0) {
			memset(&o, 0, sizeof(o));
			p9_send_reply(c, c->wbuf, t.tag, r, &o);
			return true;
		}
		struct p9_req *q = xcalloc(1, sizeof(*q));
		q->c = c;
		q->tag = t.tag;
		q->state = RQ_BUSY;
		q->msg = xmalloc(len);
		memcpy(q->msg, msg, len);
		p9_decode(q->msg, len, c->d, &q->t);
		pthread_mutex_lock(&c->lock);
		while (c->nbusy >= P9_BUSY_MAX && !c->dead)
			pthread_cond_wait(&c->cond, &c->lock);
		q->next = c->reqs;
		c->reqs = q;
		c->nbusy++;
		pthread_mutex_unlock(&c->lock);
		p9_enqueue(c->s, q);
		return true;
	}
	r = p9_op(c, &t, &o);
	if (r != P9_PARK) {
		p9_send_reply(c, c->wbuf, t.tag, r, &o);
		return true;
	}
	/* A stream read at its end: park it (the op made no reply). */
	int err;
	struct p9_fid *f = p9_fid_get(c, t.u.read.fid, true, &err);
	pthread_mutex_lock(&c->lock);
	if (!f || c->nparked >= P9_PARKED_MAX) {
		pthread_mutex_unlock(&c->lock);
		p9_fid_put(c, f);
		memset(&o, 0, sizeof(o));
		p9_send_reply(c, c->wbuf, t.tag, f ? -ENOBUFS : -EBADF, &o);
		return true;
	}
	struct p9_req *q = xcalloc(1, sizeof(*q));
	q->c = c;
	q->tag = t.tag;
	q->state = RQ_PARKED;
	q->is_read = true;
	q->fid = f;
	q->off = t.u.read.offset;
	q->count = t.u.read.count < c->msize - 11 ? t.u.read.count : c->msize - 11;
	q->next = c->reqs;
	c->reqs = q;
	c->nparked++;
	pthread_mutex_unlock(&c->lock);
	/* Data may have come between the try and the parking. */
	p9_notify(c->s);
	return true;
}

/* Read messages from a buffer refilled from the socket. */
static void *conn_main(void *arg)
{
	struct p9_conn *c = arg;
	struct p9_server *s = c->s;
	size_t start = 0;

	for (;;) {
		size_t have = c->rlen - start;
		if (have >= 4) {
			uint32_t size = (uint32_t)c->rbuf[start] | (uint32_t)c->rbuf[start + 1] << 8 |
					(uint32_t)c->rbuf[start + 2] << 16 |
					(uint32_t)c->rbuf[start + 3] << 24;
			uint32_t limit = c->d == P9_UNSET ? (uint32_t)c->rcap : c->msize;
			if (size < P9_HDRSZ || size > limit)
				break;
			if (have >= size) {
				if (!handle(c, c->rbuf + start, size))
					break;
				start += size;
				continue;
			}
		}
		/* Need more: move what we have to the front, then read. */
		if (start) {
			memmove(c->rbuf, c->rbuf + start, have);
			c->rlen = have;
			start = 0;
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->rlen += (size_t)n;
	}
	p9_conn_kill(c);
	conn_reset(c);
	pthread_mutex_lock(&s->lock);
	for (struct p9_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->nconns--;
	pthread_cond_broadcast(&s->conn_cond);
	pthread_mutex_unlock(&s->lock);
	close(c->fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->wlock);
	pthread_cond_destroy(&c->cond);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	return NULL;
}

int p9_conn_start(struct p9_server *s, int fd, uid_t peer_uid)
{
	struct p9_conn *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->fd = fd;
	c->peer_uid = peer_uid;
	c->msize = 8192;
	c->rcap = 8192 + 64;   /* room for a Tversion before msize is known */
	c->rbuf = xmalloc(c->rcap);
	c->wbuf = xmalloc(c->msize);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	pthread_cond_init(&c->cond, NULL);

	pthread_mutex_lock(&s->lock);
	if (s->stopping || s->nconns >= P9_CONNS_MAX) {
		pthread_mutex_unlock(&s->lock);
		goto fail;
	}
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	if (p9_thread_start(NULL, true, conn_main, c) != 0) {
		s->conns = c->next;
		s->nconns--;
		pthread_mutex_unlock(&s->lock);
		goto fail;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
fail:
	close(fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->wlock);
	pthread_cond_destroy(&c->cond);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
	return -EAGAIN;
}

void p9_conns_shutdown(struct p9_server *s)
{
	pthread_mutex_lock(&s->lock);
	for (struct p9_conn *c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (s->nconns)
		pthread_cond_wait(&s->conn_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}
