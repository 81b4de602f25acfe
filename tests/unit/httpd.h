/* tests/unit/httpd.h: a small HTTP/1.1 server on 127.0.0.1 for the pull
 * engine's unit tests (header only).  It serves documents from a table,
 * honours Range / If-Range / If-None-Match like a static server does, and
 * can misbehave on purpose: cut the connection after N body bytes, answer a
 * fixed status, ignore ranges, lie about the length, trickle slowly.  Every
 * request is logged.  The integration test uses nginx instead. */
#ifndef BANGER_TEST_HTTPD_H
#define BANGER_TEST_HTTPD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTPD_DOCS 8
#define HTTPD_LOG 64

struct httpd_doc {
	char path[128];
	const unsigned char *data;
	size_t len;
	char etag[64];
	/* misbehaviour */
	int cut_after[4];     /* per request #: close after this many body bytes (0 = no) */
	int status;           /* answer this status (and no body) when not 0 */
	int status_if_range;  /* answer this to ranged requests when not 0 */
	bool ignore_range;    /* always 200 */
	bool no_length;       /* no Content-Length, close to end */
	size_t extra;         /* send this many bytes more than len (with no_length) */
	int trickle_ms;       /* sleep between 16 KiB chunks */
	int requests;         /* how many requests it got */
};

struct httpd_req {
	char path[128];
	long long from;       /* Range start, -1 = none */
	char if_range[64], inm[64];
	int status;
	size_t sent;
};

struct httpd {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	struct httpd_doc docs[HTTPD_DOCS];
	size_t ndocs;
	struct httpd_req log[HTTPD_LOG];
	size_t nlog;
	int active;
	bool stop;
};

static inline __attribute__((unused)) struct httpd_doc *httpd_add(struct httpd *h, const char *path,
								  const void *data, size_t len,
								  const char *etag)
{
	pthread_mutex_lock(&h->lock);
	struct httpd_doc *d = &h->docs[h->ndocs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->data = data;
	d->len = len;
	snprintf(d->etag, sizeof(d->etag), "%s", etag ? etag : "");
	pthread_mutex_unlock(&h->lock);
	return d;
}

static inline void httpd_send(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

struct httpd_conn {
	struct httpd *h;
	int fd;
};

static inline void *httpd_conn_main(void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd *h = c->h;
	char buf[8192];
	size_t n = 0;

	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(c->fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[n] = '\0';
	struct httpd_req rq = { .from = -1 };
	sscanf(buf, "GET %127s", rq.path);
	for (char *line = strstr(buf, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
		char *l = line + 2;
		if (!strncasecmp(l, "Range: bytes=", 13))
			rq.from = atoll(l + 13);
		else if (!strncasecmp(l, "If-Range: ", 10))
			sscanf(l + 10, "%63[^\r]", rq.if_range);
		else if (!strncasecmp(l, "If-None-Match: ", 15))
			sscanf(l + 15, "%63[^\r]", rq.inm);
	}
	pthread_mutex_lock(&h->lock);
	struct httpd_doc *d = NULL, snap;
	for (size_t i = 0; i < h->ndocs; i++)
		if (!strcmp(h->docs[i].path, rq.path))
			d = &h->docs[i];
	int nreq = d ? d->requests++ : 0;
	if (d)
		snap = *d;
	pthread_mutex_unlock(&h->lock);

	char hdr[512];
	size_t from = 0, len = d ? snap.len : 0;
	int status;
	if (!d) {
		status = 404;
	} else if (snap.status) {
		status = snap.status;
	} else if (rq.inm[0] && snap.etag[0] && !strcmp(rq.inm, snap.etag)) {
		status = 304;
	} else if (rq.from >= 0 && !snap.ignore_range &&
		   (!rq.if_range[0] || !strcmp(rq.if_range, snap.etag))) {
		status = snap.status_if_range ? snap.status_if_range : 206;
		if (status == 206 && (size_t)rq.from >= snap.len)
			status = 416;
		from = status == 206 ? (size_t)rq.from : 0;
	} else {
		status = 200;
	}
	int hl;
	if (status == 200 || status == 206) {
		hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d X\r\nConnection: close\r\n", status);
		if (snap.etag[0])
			hl += snprintf(hdr + hl, sizeof(hdr) - hl, "ETag: %s\r\n", snap.etag);
		if (status == 206)
			hl += snprintf(hdr + hl, sizeof(hdr) - hl, "Content-Range: bytes %zu-%zu/%zu\r\n",
				       from, snap.len - 1, snap.len);
		if (!snap.no_length)
			hl += snprintf(hdr + hl, sizeof(hdr) - hl, "Content-Length: %zu\r\n",
				       snap.len - from);
		hl += snprintf(hdr + hl, sizeof(hdr) - hl, "\r\n");
	} else {
		hl = snprintf(hdr, sizeof(hdr),
			      "HTTP/1.1 %d X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status);
		len = 0;
	}
	httpd_send(c->fd, hdr, (size_t)hl);
	size_t sent = 0;
	if (status == 200 || status == 206) {
		size_t total = (len - from) + (snap.no_length ? snap.extra : 0);
		size_t limit = nreq < 4 && snap.cut_after[nreq] ? (size_t)snap.cut_after[nreq] : SIZE_MAX;
		unsigned char *junk = calloc(1, 16384);
		while (sent < total && sent < limit) {
			size_t k = total - sent < 16384 ? total - sent : 16384;
			size_t pos = from + sent;
			if (k > limit - sent)
				k = limit - sent;
			if (pos < len && k > len - pos)
				k = len - pos;
			httpd_send(c->fd, pos < len ? snap.data + pos : junk, k);
			sent += k;
			if (snap.trickle_ms) {
				struct timespec ts = { 0, snap.trickle_ms * 1000000L };
				nanosleep(&ts, NULL);
			}
			pthread_mutex_lock(&h->lock);
			bool stop = h->stop;
			pthread_mutex_unlock(&h->lock);
			if (stop)
				break;
		}
		free(junk);
	}
	rq.status = status;
	rq.sent = sent;
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	pthread_mutex_lock(&h->lock);
	if (h->nlog < HTTPD_LOG)
		h->log[h->nlog++] = rq;
	h->active--;
	pthread_mutex_unlock(&h->lock);
	free(c);
	return NULL;
}

static inline void *httpd_main(void *arg)
{
	struct httpd *h = arg;
	for (;;) {
		struct pollfd pfd = { h->fd, POLLIN, 0 };
		int r = poll(&pfd, 1, 50);
		pthread_mutex_lock(&h->lock);
		bool stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
		if (r <= 0)
			continue;
		int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct httpd_conn *c = malloc(sizeof(*c));
		c->h = h;
		c->fd = fd;
		pthread_mutex_lock(&h->lock);
		h->active++;
		pthread_mutex_unlock(&h->lock);
		pthread_t t;
		pthread_create(&t, NULL, httpd_conn_main, c);
		pthread_detach(t);
	}
	return NULL;
}

static inline __attribute__((unused)) void httpd_start(struct httpd *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(h->fd, 16) < 0 ||
	    getsockname(h->fd, (struct sockaddr *)&a, &al) < 0)
		abort();
	h->port = ntohs(a.sin_port);
	pthread_create(&h->thread, NULL, httpd_main, h);
}

static inline __attribute__((unused)) void httpd_stop(struct httpd *h)
{
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	close(h->fd);
	for (;;) {
		pthread_mutex_lock(&h->lock);
		int active = h->active;
		pthread_mutex_unlock(&h->lock);
		if (!active)
			break;
		usleep(10000);
	}
	pthread_mutex_destroy(&h->lock);
}

#endif
