/* p9/conn.c: the state of one 9P connection: its fids, its requests, its
 * replies.  The bottom of the server: the reader thread (p9/reader.c), the
 * workers and the waker (p9/work.c) and the operations (p9/ops.c) use it;
 * it calls none of them.
 *
 * Every request is answered exactly once, or not at all when a Tflush
 * cancelled it first; a Tflush for a request being worked on is answered
 * after that request's reply, as the protocol requires (p9_req_done). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "server.h"

/* ---- fids ------------------------------------------------------------------ */

static unsigned fid_hash(uint32_t fid)
{
	return (fid * 2654435761u) >> 24;
}

static struct p9_fid *fid_find(struct p9_conn *c, uint32_t fid)
{
	for (struct p9_fid *f = c->fids[fid_hash(fid)]; f; f = f->next)
		if (f->fid == fid)
			return f;
	return NULL;
}

struct p9_fid *p9_fid_get(struct p9_conn *c, uint32_t fid, bool allow_busy, int *err)
{
	pthread_mutex_lock(&c->lock);
	struct p9_fid *f = fid_find(c, fid);
	if (f && f->busy && !allow_busy) {
		*err = EBUSY;
		f = NULL;
	} else if (!f) {
		*err = EBADF;
	} else {
		f->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	return f;
}

int p9_fid_new(struct p9_conn *c, uint32_t fid, const struct p9_node *n, struct p9_fid **ret)
{
	if (fid == P9_NOFID)
		return -EBADF;
	pthread_mutex_lock(&c->lock);
	if (fid_find(c, fid)) {
		pthread_mutex_unlock(&c->lock);
		return -EEXIST;
	}
	if (c->nfids >= P9_FIDS_MAX) {
		pthread_mutex_unlock(&c->lock);
		return -EMFILE;
	}
	struct p9_fid *f = xcalloc(1, sizeof(*f));
	f->fid = fid;
	f->node = *n;
	f->refs = 2;   /* the table and the caller */
	f->in_table = true;
	sbuf_init(&f->snap);
	unsigned h = fid_hash(fid);
	f->next = c->fids[h];
	c->fids[h] = f;
	c->nfids++;
	pthread_mutex_unlock(&c->lock);
	*ret = f;
	return 0;
}

void p9_fid_free(struct p9_fid *f)
{
	sbuf_free(&f->snap);
	free(f->ents);
	free(f);
}

void p9_fid_put(struct p9_conn *c, struct p9_fid *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&c->lock);
	bool last = --f->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		p9_fid_free(f);
}

void p9_fid_unlink(struct p9_conn *c, struct p9_fid *f)
{
	bool last = false;
	pthread_mutex_lock(&c->lock);
	if (f->in_table) {
		for (struct p9_fid **pp = &c->fids[fid_hash(f->fid)]; *pp; pp = &(*pp)->next)
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		f->in_table = false;
		c->nfids--;
		last = --f->refs == 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (last)
		p9_fid_free(f);
}

void p9_fid_set_busy(struct p9_conn *c, struct p9_fid *f, bool busy)
{
	pthread_mutex_lock(&c->lock);
	f->busy = busy;
	pthread_mutex_unlock(&c->lock);
}

/* ---- replies ------------------------------------------------------------- */

/* BANGER_9P_TRACE=1 in the daemon's environment logs every request and
 * the errno of every error reply (debugging a client). */
static int trace = -1;
bool p9_tracing(void)
{
	if (trace < 0) {
		const char *e = getenv("BANGER_9P_TRACE");
		trace = e && strcmp(e, "1") == 0;
	}
	return trace;
}

void p9_conn_kill(struct p9_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	pthread_mutex_unlock(&c->lock);
	shutdown(c->fd, SHUT_RDWR);
}

void p9_send_msg(struct p9_conn *c, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&c->wlock);
	while (len) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Gone, or not reading its replies (SO_SNDTIMEO). */
			p9_conn_kill(c);
			break;
		}
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&c->wlock);
}

/* Encode and send the reply to tag: o->r when r == 0, else an error
 * (Rlerror errno in 9P2000.L, Rerror sentence in 9P2000). */
void p9_send_reply(struct p9_conn *c, uint8_t *buf, uint16_t tag, int r, struct p9_out *o)
{
	struct p9_msg e;
	const struct p9_msg *m = &o->r;
	if (r < 0) {
		memset(&e, 0, sizeof(e));
		e.tag = tag;
		if (c->d == P9_2000L) {
			e.type = P9_RLERROR;
			e.u.lerror.ecode = (uint32_t)-r;
		} else {
			e.type = P9_RERROR;
			e.u.error.ename = p9s(o->ename[0] ? o->ename : strerror(-r));
		}
		m = &e;
	}
	if (p9_tracing())
		blog("9p: fd %d %s tag %u%s%s", c->fd, p9_type_name(m->type) ?: "?", tag,
		     r < 0 ? " " : "", r < 0 ? strerror(-r) : "");
	size_t len = p9_encode(m, c->d, buf, c->msize);
	if (len)
		p9_send_msg(c, buf, len);
	else
		blog("9p: cannot encode %s (tag %u)", p9_type_name(m->type) ?: "?", tag);
	free(o->owned);
	o->owned = NULL;
	p9_fid_put(c, o->hold);
	o->hold = NULL;
}

void p9_send_rflush(struct p9_conn *c, uint16_t tag)
{
	uint8_t buf[P9_HDRSZ];
	struct p9_msg m = { .type = P9_RFLUSH, .tag = tag };
	size_t len = p9_encode(&m, c->d, buf, sizeof(buf));
	p9_send_msg(c, buf, len);
}

/* ---- requests --------------------------------------------------------------- */

struct p9_req *p9_req_find(struct p9_conn *c, uint16_t tag)
{
	for (struct p9_req *q = c->reqs; q; q = q->next)
		if (q->tag == tag)
			return q;
	return NULL;
}

void p9_req_unlink(struct p9_conn *c, struct p9_req *q)
{
	for (struct p9_req **pp = &c->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	if (q->is_read)
		c->nparked--;
	else
		c->nbusy--;
	pthread_cond_broadcast(&c->cond);
}

void p9_req_free(struct p9_conn *c, struct p9_req *q)
{
	p9_fid_put(c, q->fid);
	free(q->msg);
	free(q);
}

/* q's reply (if any) has been sent: forget q, then answer the flushes
 * that waited for it, and the flushes that waited for those. */
void p9_req_done(struct p9_conn *c, struct p9_req *q)
{
	pthread_mutex_lock(&c->lock);
	p9_req_unlink(c, q);
	struct p9_req *fl = q->flushers;
	pthread_mutex_unlock(&c->lock);
	p9_req_free(c, q);
	while (fl) {
		struct p9_req *next = fl->next_flusher;
		p9_send_rflush(c, fl->tag);
		p9_req_done(c, fl);
		fl = next;
	}
}

/* A parked read tried again found nothing: park it again, unless a flush
 * came meanwhile or the connection is ending (then it is dropped without
 * a reply and the flushes are answered).  Returns true when re-parked. */
bool p9_req_repark(struct p9_conn *c, struct p9_req *q)
{
	pthread_mutex_lock(&c->lock);
	bool cancel = q->flushers || c->dead;
	struct p9_req *fl = q->flushers;
	if (cancel)
		p9_req_unlink(c, q);
	else
		q->state = RQ_PARKED;
	pthread_mutex_unlock(&c->lock);
	if (!cancel)
		return true;
	p9_req_free(c, q);
	while (fl) {
		struct p9_req *next = fl->next_flusher;
		p9_send_rflush(c, fl->tag);
		p9_req_done(c, fl);
		fl = next;
	}
	return false;
}

bool p9_conn_dead(struct p9_conn *c)
{
	pthread_mutex_lock(&c->lock);
	bool dead = c->dead;
	pthread_mutex_unlock(&c->lock);
	return dead;
}
