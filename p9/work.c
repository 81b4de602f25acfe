/* p9/work.c: the threads that are not a connection's reader.
 *
 * Workers run the requests that can wait on a VM (writes, mkdir, remove,
 * a clunk that removes); started on demand, at most P9_WORKERS_MAX.  The
 * waker retries parked stream reads whenever p9_notify() is called (the
 * daemon forwards the monitor's notification: at least every 100 ms and on
 * every change).  Every thread starts with all signals blocked. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "banger.h"
#include "p9.h"
#include "server.h"

/* A thread with every signal blocked: SIGTERM and SIGINT must reach the
 * thread that stops the daemon (libfuse's handlers), never one of ours. */
int p9_thread_start(pthread_t *ret, bool detached, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t th;
	sigfillset(&all);
	pthread_attr_init(&attr);
	if (detached)
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(ret ? ret : &th, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return r;
}

/* ---- the worker pool -------------------------------------------------------- */

static void run_job(struct p9_req *q)
{
	struct p9_conn *c = q->c;
	struct p9_out o;
	uint8_t *buf = xmalloc(c->msize);
	int r = p9_op(c, &q->t, &o);
	p9_send_reply(c, buf, q->tag, r, &o);
	free(buf);
	p9_req_done(c, q);
}

static void *worker_main(void *arg)
{
	struct p9_server *s = arg;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->jobs && !s->stopping) {
			s->idle_workers++;
			pthread_cond_wait(&s->work_cond, &s->lock);
			s->idle_workers--;
		}
		if (!s->jobs)
			break;
		struct p9_req *q = s->jobs;
		s->jobs = q->next_job;
		if (!s->jobs)
			s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		run_job(q);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void p9_enqueue(struct p9_server *s, struct p9_req *q)
{
	bool inline_run = false;
	pthread_mutex_lock(&s->lock);
	q->next_job = NULL;
	if (s->jobs_tail)
		s->jobs_tail->next_job = q;
	else
		s->jobs = q;
	s->jobs_tail = q;
	if (s->idle_workers == 0 && s->nworkers < P9_WORKERS_MAX) {
		if (p9_thread_start(&s->workers[s->nworkers], false, worker_main, s) == 0)
			s->nworkers++;
		else if (s->nworkers == 0)
			inline_run = true;
	}
	if (inline_run) {   /* no thread at all: run it here rather than never */
		s->jobs = s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->lock);
		run_job(q);
		return;
	}
	pthread_cond_signal(&s->work_cond);
	pthread_mutex_unlock(&s->lock);
}

void p9_workers_join(struct p9_server *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->work_cond);
	unsigned n = s->nworkers;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->workers[i], NULL);
	pthread_mutex_lock(&s->lock);
	s->nworkers = 0;   /* joined: a second p9_stop joins nothing */
	pthread_mutex_unlock(&s->lock);
}

/* ---- the waker: parked reads tried again ------------------------------------ */

static void retry_parked(struct p9_req *todo)
{
	while (todo) {
		struct p9_req *q = todo;
		struct p9_conn *c = q->c;
		struct p9_out o = { 0 };
		todo = q->next_todo;

		o.r.tag = q->tag;
		int r = p9_conn_dead(c) ? -ECONNRESET
					: p9_op_stream(c, q->fid, q->off, q->count, true, &o);
		if (r == P9_PARK) {
			p9_req_repark(c, q);
			continue;
		}
		uint8_t *buf = xmalloc(c->msize);
		p9_send_reply(c, buf, q->tag, r, &o);
		free(buf);
		p9_req_done(c, q);
	}
}

void *p9_waker_main(void *arg)
{
	struct p9_server *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		while (!s->kicked && !s->stopping)
			pthread_cond_wait(&s->kick_cond, &s->lock);
		s->kicked = false;
		/* Claim every parked read (BUSY), then try them unlocked: a
		 * connection stays alive while it has requests. */
		struct p9_req *todo = NULL;
		for (struct p9_conn *c = s->conns; c; c = c->next) {
			pthread_mutex_lock(&c->lock);
			for (struct p9_req *q = c->reqs; q; q = q->next)
				if (q->is_read && q->state == RQ_PARKED) {
					q->state = RQ_BUSY;
					q->next_todo = todo;
					todo = q;
				}
			pthread_mutex_unlock(&c->lock);
		}
		pthread_mutex_unlock(&s->lock);
		retry_parked(todo);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void p9_notify(void *arg)
{
	struct p9_server *s = arg;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->kicked = true;
	pthread_cond_signal(&s->kick_cond);
	pthread_mutex_unlock(&s->lock);
}
