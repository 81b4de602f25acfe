/* core/monitor.c: see monitor.h. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vmm.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* epoll tags: the high byte says what the event is about. */
#define TAG_CTL 1ULL
#define TAG_PROC 2ULL
#define TAG_NOTIFY 3ULL
#define TAG_SHIFT 56
#define ID_MASK ((1ULL << TAG_SHIFT) - 1)

struct watch {
	int64_t id;
	int pidfd;   /* -1 once the process is reported gone */
	int wd;      /* inotify watch, -1 without a console */
	bool gone;   /* already gone when watched: report from the thread */
};

struct monitor {
	struct monitor_ops ops;
	int ep, efd, ino;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards everything below */
	struct watch *w;
	size_t n, cap;
	bool stop;
};

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static struct watch *find(struct monitor *m, int64_t id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->w[i].id == id)
			return &m->w[i];
	return NULL;
}

/* Drop a watch (m->lock held). */
static void drop(struct monitor *m, struct watch *w)
{
	if (w->pidfd >= 0) {
		epoll_ctl(m->ep, EPOLL_CTL_DEL, w->pidfd, NULL);
		close(w->pidfd);
	}
	if (w->wd >= 0) {
		/* Another VM's console is never the same inode, so the wd is ours. */
		inotify_rm_watch(m->ino, w->wd);
	}
	*w = m->w[--m->n];
}

static void kick(struct monitor *m)
{
	uint64_t one = 1;
	ssize_t k = write(m->efd, &one, sizeof(one));
	(void)k;
}

int monitor_new(const struct monitor_ops *ops, struct monitor **ret, struct berr *err)
{
	struct monitor *m = xcalloc(1, sizeof(*m));
	m->ops = *ops;
	m->ep = epoll_create1(EPOLL_CLOEXEC);
	m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	pthread_mutex_init(&m->lock, NULL);
	if (m->ep < 0 || m->efd < 0 || m->ino < 0) {
		int e = errno;
		monitor_free(m);
		return berr_set(err, e, "setting up the VMM monitor: %s", strerror(e));
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_CTL << TAG_SHIFT};
	struct epoll_event ei = {.events = EPOLLIN, .data.u64 = TAG_NOTIFY << TAG_SHIFT};
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, m->efd, &ev) < 0 ||
	    epoll_ctl(m->ep, EPOLL_CTL_ADD, m->ino, &ei) < 0) {
		int e = errno;
		monitor_free(m);
		return berr_set(err, e, "setting up the VMM monitor: %s", strerror(e));
	}
	*ret = m;
	return 0;
}

int monitor_watch(struct monitor *m, int64_t id, pid_t pid, int64_t pid_start,
		  const char *console, struct berr *err)
{
	struct watch w = {.id = id, .pidfd = -1, .wd = -1};
	int64_t st = 0;

	if ((uint64_t)id > ID_MASK || pid <= 0)
		return berr_set(err, EINVAL, "bad VMM to watch (vm %lld, pid %d)", (long long)id,
				(int)pid);
	w.pidfd = pidfd_open_(pid);
	if (w.pidfd < 0 && errno != ESRCH)
		return berr_set(err, errno, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	/* Opened after the check that the pid was ours: it must still be the
	 * same process (its start time), or it is a recycled pid. */
	if (w.pidfd >= 0 && (proc_start_time(pid, &st) < 0 || st != pid_start)) {
		close(w.pidfd);
		w.pidfd = -1;
	}
	w.gone = w.pidfd < 0;
	if (console && !w.gone)
		w.wd = inotify_add_watch(m->ino, console, IN_MODIFY | IN_CLOSE_WRITE);

	pthread_mutex_lock(&m->lock);
	struct watch *old = find(m, id);
	if (old)
		drop(m, old);
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->w = xrealloc(m->w, m->cap * sizeof(*m->w));
	}
	m->w[m->n++] = w;
	if (w.pidfd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.u64 = (TAG_PROC << TAG_SHIFT) | (uint64_t)id};
		if (epoll_ctl(m->ep, EPOLL_CTL_ADD, w.pidfd, &ev) < 0) {
			int e = errno;
			drop(m, &m->w[m->n - 1]);
			pthread_mutex_unlock(&m->lock);
			return berr_set(err, e, "watching pid %d: %s", (int)pid, strerror(e));
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (w.gone)
		kick(m);
	return 0;
}

void monitor_unwatch(struct monitor *m, int64_t id)
{
	pthread_mutex_lock(&m->lock);
	struct watch *w = find(m, id);
	if (w)
		drop(m, w);
	pthread_mutex_unlock(&m->lock);
}

/* id's process became readable (it exited): reap it if it is our child. */
static void proc_event(struct monitor *m, int64_t id)
{
	siginfo_t si;
	bool have = false;
	int status = 0;

	pthread_mutex_lock(&m->lock);
	struct watch *w = find(m, id);
	if (!w || w->pidfd < 0) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG) == 0 &&
	    si.si_pid != 0) {
		have = true;
		/* Back to the wait status the rest of the daemon reads. */
		if (si.si_code == CLD_EXITED)
			status = W_EXITCODE(si.si_status & 0xff, 0);
		else if (si.si_code == CLD_DUMPED)
			status = W_EXITCODE(0, si.si_status & 0x7f) | 0x80;
		else
			status = W_EXITCODE(0, si.si_status & 0x7f);
	}
	drop(m, w);
	pthread_mutex_unlock(&m->lock);
	m->ops.exited(m->ops.ctx, id, have, status);
}

/* Watches that were gone when made (m->lock not held). */
static void gone_events(struct monitor *m)
{
	for (;;) {
		int64_t id = -1;
		pthread_mutex_lock(&m->lock);
		for (size_t i = 0; i < m->n; i++)
			if (m->w[i].gone) {
				id = m->w[i].id;
				drop(m, &m->w[i]);
				break;
			}
		pthread_mutex_unlock(&m->lock);
		if (id < 0)
			return;
		m->ops.exited(m->ops.ctx, id, false, 0);
	}
}

static void inotify_events(struct monitor *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int64_t ids[64];
	size_t n_ids = 0;
	ssize_t len;

	while ((len = read(m->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			pthread_mutex_lock(&m->lock);
			for (size_t i = 0; i < m->n; i++) {
				if (m->w[i].wd != ev->wd)
					continue;
				bool seen = false;
				for (size_t k = 0; k < n_ids; k++)
					seen |= ids[k] == m->w[i].id;
				if (!seen && n_ids < ARRAY_SIZE(ids))
					ids[n_ids++] = m->w[i].id;
			}
			pthread_mutex_unlock(&m->lock);
		}
	}
	for (size_t k = 0; k < n_ids; k++)
		m->ops.changed(m->ops.ctx, ids[k]);
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct epoll_event evs[16];

	gone_events(m);
	for (;;) {
		int n = epoll_wait(m->ep, evs, ARRAY_SIZE(evs), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			blog("monitor: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64 >> TAG_SHIFT;
			int64_t id = (int64_t)(evs[i].data.u64 & ID_MASK);
			if (tag == TAG_CTL) {
				uint64_t v;
				ssize_t k = read(m->efd, &v, sizeof(v));
				(void)k;
				pthread_mutex_lock(&m->lock);
				bool stop = m->stop;
				pthread_mutex_unlock(&m->lock);
				if (stop)
					return NULL;
				gone_events(m);
			} else if (tag == TAG_PROC) {
				proc_event(m, id);
			} else if (tag == TAG_NOTIFY) {
				inotify_events(m);
			}
		}
	}
}

int monitor_start(struct monitor *m, struct berr *err)
{
	sigset_t all, old;
	sigfillset(&all);
	/* Signals stay with the threads that handle them (libfuse's). */
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&m->thread, NULL, monitor_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return berr_set(err, r, "starting the VMM monitor: %s", strerror(r));
	m->running = true;
	return 0;
}

void monitor_free(struct monitor *m)
{
	if (!m)
		return;
	if (m->running) {
		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_mutex_unlock(&m->lock);
		kick(m);
		pthread_join(m->thread, NULL);
	}
	while (m->n)
		drop(m, &m->w[0]);
	free(m->w);
	if (m->ep >= 0)
		close(m->ep);
	if (m->efd >= 0)
		close(m->efd);
	if (m->ino >= 0)
		close(m->ino);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
