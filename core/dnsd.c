/* core/dnsd.c: the UDP server for the `.vm` DNS codec (see dnsd.h). */
#include "dnsd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Datagrams handled per wakeup before the stop eventfd is looked at again,
 * so a flood cannot delay dnsd_stop(). */
#define DNSD_BURST 64

struct dnsd {
	int sock;             /* nonblocking UDP socket */
	int stop;             /* eventfd, written once by dnsd_stop() */
	uint16_t port;
	pthread_t thread;
	struct dns_lookup lk; /* read-only once the thread runs */
};

/* Read and answer one datagram.  Returns false when the socket is empty. */
static bool serve_one(struct dnsd *d)
{
	uint8_t q[DNSD_MAX_QUERY], out[DNS_UDP_MAX];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);

	/* MSG_TRUNC: the return value is the datagram's real size, so an
	 * oversize one is recognised (and dropped) instead of half-read. */
	ssize_t n = recvfrom(d->sock, q, sizeof(q), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
	if (n < 0)
		return errno != EAGAIN && errno != EWOULDBLOCK;
	if ((size_t)n > sizeof(q))
		return true;
	size_t len = dns_answer(q, (size_t)n, &d->lk, out, sizeof(out));
	if (len > 0)
		(void)sendto(d->sock, out, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			     (struct sockaddr *)&from, flen);
	return true;
}

static void *serve(void *arg)
{
	struct dnsd *d = arg;
	struct pollfd p[2] = { { .fd = d->sock, .events = POLLIN },
			       { .fd = d->stop, .events = POLLIN } };

	for (;;) {
		if (poll(p, ARRAY_SIZE(p), -1) < 0) {
			/* Only ENOMEM is possible here (signals are blocked):
			 * back off instead of spinning, and keep serving. */
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (p[1].revents)
			return NULL;
		if (p[0].revents)
			for (int i = 0; i < DNSD_BURST && serve_one(d); i++)
				;
	}
}

static int open_socket(const char *addr, uint16_t port, int *ret_fd, uint16_t *ret_port,
		       struct berr *err)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	socklen_t slen = sizeof(sin);

	if (!addr || inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return berr_set(err, EINVAL, "DNS listen address '%.64s' is not an IPv4 dotted quad",
				addr ? addr : "");
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set(err, errno, "cannot create the DNS socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return berr_set(err, errno, "cannot bind the DNS responder to %s:%u: %s", addr,
				(unsigned)port, strerror(errno));
	if (getsockname(fd, (struct sockaddr *)&sin, &slen) < 0)
		return berr_set(err, errno, "cannot read the DNS socket's port: %s",
				strerror(errno));
	*ret_port = ntohs(sin.sin_port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* The thread blocks every signal: a SIGTERM meant for the FUSE loop must
 * reach the thread that can act on it. */
static int start_thread(struct dnsd *d)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&d->thread, NULL, serve, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

int dnsd_start(const char *addr, uint16_t port, const struct dns_lookup *lk, struct dnsd **ret,
	       struct berr *err)
{
	struct dnsd *d = xcalloc(1, sizeof(*d));
	int r;

	d->sock = d->stop = -1;
	if (lk)
		d->lk = *lk;
	r = open_socket(addr, port, &d->sock, &d->port, err);
	if (r < 0)
		goto fail;
	d->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stop < 0) {
		r = berr_set(err, errno, "cannot create the DNS stop eventfd: %s", strerror(errno));
		goto fail;
	}
	r = start_thread(d);
	if (r < 0) {
		r = berr_set(err, -r, "cannot start the DNS thread: %s", strerror(-r));
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	closep(&d->sock);
	closep(&d->stop);
	free(d);
	return r;
}

uint16_t dnsd_port(const struct dnsd *d) { return d->port; }

void dnsd_stop(struct dnsd *d)
{
	uint64_t one = 1;

	if (!d)
		return;
	/* The counter starts at 0 and is written once, so this cannot fail
	 * (an eventfd write fails only when the counter would overflow). */
	(void)!write(d->stop, &one, sizeof(one));
	pthread_join(d->thread, NULL);
	close(d->sock);
	close(d->stop);
	free(d);
}
