/* p9/server.h: what the files of the 9P server share (private to p9/).
 * From the top down, each calling only the ones below it:
 *   listen.c   the listeners, the server's life (p9.h)
 *   reader.c   a connection's reader thread: decode, answer or dispatch
 *   work.c     the worker pool and the waker (parked reads)
 *   ops.c      what each message does to the control tree
 *   conn.c     a connection's state: fids, requests, replies
 * over node.c (the tree as 9P nodes) and codec.c (the wire format). */
#ifndef BANGER_P9_SERVER_H
#define BANGER_P9_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "node.h"
#include "p9msg.h"
#include "util.h"

/* Bounds on what one client can make the daemon hold. */
#define P9_MSIZE_MAX (256u * 1024)  /* largest message (Tversion asks; we cap) */
#define P9_CONNS_MAX 64             /* connections at once */
#define P9_FIDS_MAX 4096            /* fids per connection */
#define P9_PARKED_MAX 128           /* blocked stream reads per connection */
#define P9_BUSY_MAX 64              /* writes/mkdirs/... and their flushes per connection */
#define P9_WORKERS_MAX 8            /* threads running writes, mkdir, remove */
#define P9_SEND_TIMEOUT_S 10        /* a client that takes no reply for this long is dropped */

struct p9_conn;

struct p9_server {
	struct banger *b;
	uid_t owner;
	gid_t group;
	char owner_name[64];
	time_t start;

	int unix_fd, tcp_fd;       /* listeners, -1 when off */
	char *sock_path;           /* absolute, NULL when off */
	dev_t sock_dev;            /* to remove only our own socket at stop */
	ino_t sock_ino;
	int stop_pipe[2];

	pthread_mutex_t lock;      /* everything below */
	pthread_cond_t work_cond;  /* a job was queued (workers) */
	pthread_cond_t kick_cond;  /* kicked (the waker) */
	pthread_cond_t conn_cond;  /* a connection ended */
	struct p9_conn *conns;
	unsigned nconns;
	struct p9_req *jobs, *jobs_tail;
	pthread_t workers[P9_WORKERS_MAX];
	unsigned nworkers, idle_workers;
	bool kicked;               /* p9_notify since the waker last looked */
	bool started, stopping;
	pthread_t accept_thread, waker_thread;
};

/* A fid: a node, opened or not.  node/f/acc/nonblock/orclose are set
 * before a fid is shared and never change while others hold it; snap and
 * the directory snapshot are touched by the connection's reader thread
 * only.  ORCLOSE (remove at clunk) is how a `clone` file will tie a VM's
 * life to a fid. */
struct p9_fid {
	uint32_t fid;
	int refs;                  /* guarded by conn->lock: the table + requests */
	bool busy;                 /* a worker changes it: other requests get EBUSY */
	bool in_table;
	struct p9_node node;
	bool open;
	int acc;                   /* P9_OREAD, P9_OWRITE or P9_ORDWR */
	bool nonblock, orclose;
	const struct tree_file *f;
	struct sbuf snap;          /* a non-stream file's text, rendered at open */
	bool snap_fresh;           /* not yet read: a read at 0 uses it as is */
	struct p9_node *ents;      /* a directory's entries, listed at open/offset 0 */
	size_t nents;
	size_t dir_pos;            /* 9P2000 directory read: next entry ... */
	uint64_t dir_off;          /* ... and the offset it starts at */
	struct p9_fid *next;
};

/* A request not answered inline: a parked stream read, a job for a
 * worker, or a flush waiting for one.  A PARKED read is answered by the
 * waker or cancelled by a flush; a BUSY one is being worked on and is
 * answered first, then the flushes that wait for it. */
enum p9_req_state { RQ_PARKED, RQ_BUSY };
struct p9_req {
	struct p9_conn *c;
	uint16_t tag;
	enum p9_req_state state;
	bool is_read, is_flush;
	struct p9_fid *fid;        /* a reference, or NULL */
	uint64_t off;
	uint32_t count;
	uint8_t *msg;              /* a worker job's message (t points into it) */
	struct p9_msg t;
	struct p9_req *flushers;
	struct p9_req *next, *next_flusher, *next_job, *next_todo;
};

struct p9_conn {
	struct p9_server *s;
	int fd;
	uid_t peer_uid;            /* (uid_t)-1 when unknown (TCP) */
	pthread_mutex_t lock;      /* fids, reqs, counts, dead */
	pthread_cond_t cond;       /* a request ended */
	pthread_mutex_t wlock;     /* one reply on the socket at a time */
	enum p9_dialect d;         /* written by the reader thread while no request runs */
	uint32_t msize;
	struct p9_fid *fids[256];
	unsigned nfids;
	struct p9_req *reqs;
	unsigned nparked, nbusy;
	bool dead;
	uint8_t *rbuf;             /* reader thread: input, and its replies */
	size_t rcap, rlen;
	uint8_t *wbuf;
	struct p9_conn *next;
};

/* A reply being built by an operation. */
struct p9_out {
	struct p9_msg r;
	char ename[BERR_MSG_MAX];  /* 9P2000 Rerror text; "" = strerror */
	uint8_t *owned;            /* freed after the reply is sent */
	struct p9_fid *hold;       /* the reply points into it: put after sending */
	char name[64];             /* a stat's name */
};

/* fids (conn.c).  get returns a reference (or NULL with *err set:
 * EBADF unknown, EBUSY a worker holds it); put drops one. */
struct p9_fid *p9_fid_get(struct p9_conn *c, uint32_t fid, bool allow_busy, int *err);
int p9_fid_new(struct p9_conn *c, uint32_t fid, const struct p9_node *n,
	       struct p9_fid **ret);
void p9_fid_put(struct p9_conn *c, struct p9_fid *f);
/* Take f out of the table (clunk, remove); the caller's reference stays. */
void p9_fid_unlink(struct p9_conn *c, struct p9_fid *f);
void p9_fid_set_busy(struct p9_conn *c, struct p9_fid *f, bool busy);
/* Release everything a fid holds (its last reference went). */
void p9_fid_free(struct p9_fid *f);

/* Replies (conn.c).  send_msg sends one encoded message (a peer that
 * does not take it kills the connection); send_reply encodes o->r (r ==
 * 0) or an error into buf (msize bytes) and sends it; send_rflush
 * answers a Tflush.  conn_kill marks the connection dead and shuts its
 * socket; conn_dead tells.  p9_tracing: BANGER_9P_TRACE=1. */
void p9_send_msg(struct p9_conn *c, const uint8_t *buf, size_t len);
void p9_send_reply(struct p9_conn *c, uint8_t *buf, uint16_t tag, int r, struct p9_out *o);
void p9_send_rflush(struct p9_conn *c, uint16_t tag);
void p9_conn_kill(struct p9_conn *c);
bool p9_conn_dead(struct p9_conn *c);
bool p9_tracing(void);

/* Requests (conn.c).  find and unlink with c->lock held; free drops q's
 * fid reference and q.  req_done forgets an answered request and answers
 * the flushes waiting for it; req_repark parks a read again (false: it
 * was dropped, flushed or its connection is ending). */
struct p9_req *p9_req_find(struct p9_conn *c, uint16_t tag);
void p9_req_unlink(struct p9_conn *c, struct p9_req *q);
void p9_req_free(struct p9_conn *c, struct p9_req *q);
void p9_req_done(struct p9_conn *c, struct p9_req *q);
bool p9_req_repark(struct p9_conn *c, struct p9_req *q);

/* Operations (ops.c).  p9_op returns 0 (o->r is the reply), P9_PARK (a
 * stream read at its end: park it), or -errno (o->ename may say more).
 * p9_op_async: the message runs on a worker (it may wait on a VM).
 * p9_op_claim: mark the fids an async message will change busy (in the
 * reader thread, before the message is queued); -errno refuses it. */
#define P9_PARK 1
bool p9_op_async(const struct p9_msg *t);
int p9_op_claim(struct p9_conn *c, const struct p9_msg *t);
int p9_op(struct p9_conn *c, const struct p9_msg *t, struct p9_out *o);
/* A parked read, tried again: 0 answered, P9_PARK still nothing, -errno. */
int p9_op_stream(struct p9_conn *c, struct p9_fid *f, uint64_t off, uint32_t count,
		 bool parked, struct p9_out *o);
/* Clunk time for a fid opened with ORCLOSE: remove its node. */
int p9_op_orclose(struct p9_conn *c, struct p9_fid *f, struct p9_out *o);

/* Threads (work.c).  thread_start blocks every signal in the new thread. */
int p9_thread_start(pthread_t *ret, bool detached, void *(*fn)(void *), void *arg);
void p9_enqueue(struct p9_server *s, struct p9_req *q);
void *p9_waker_main(void *arg);
void p9_workers_join(struct p9_server *s);

/* Connections (reader.c).  Serve one accepted connection on a thread of
 * its own (detached); the server counts it in nconns until it ends.
 * peer_uid is (uid_t)-1 when unknown (TCP). */
int p9_conn_start(struct p9_server *s, int fd, uid_t peer_uid);
/* Ask every connection to end (shutdown of its socket) and wait for them. */
void p9_conns_shutdown(struct p9_server *s);

#endif
