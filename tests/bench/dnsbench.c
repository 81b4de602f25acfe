/* tests/bench/dnsbench.c: round trips of one DNS query, for make bench.
 *
 *   dnsbench ADDR PORT NAME COUNT   query NAME A at ADDR:PORT, COUNT times
 *   dnsbench --echo NAME COUNT      the same datagram against a UDP echo
 *                                   thread on 127.0.0.1 (the baseline: the
 *                                   socket round trip without any DNS work)
 *
 * One query in flight at a time; prints "median_us M p90_us P per_s R ok N"
 * where ok counts replies that carry the query's ID (and, against a DNS
 * server, NOERROR with one answer). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* A query for NAME, type A, class IN, RD set. */
static size_t build_query(const char *name, uint16_t id, uint8_t *q, size_t cap)
{
	size_t n = 12, len = strlen(name);

	if (len + 18 > cap)
		return 0;
	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63)
			return 0;
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1; /* A */
	q[n++] = 0, q[n++] = 1; /* IN */
	return n;
}

static void *echo_main(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[1500];
	struct sockaddr_in from;
	socklen_t fl;

	for (;;) {
		fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return NULL;
		if (n == 0)
			return NULL; /* the stop datagram */
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	bool echo = argc == 4 && strcmp(argv[1], "--echo") == 0;
	int efd = -1;
	pthread_t th;

	if (!echo && argc != 5) {
		fprintf(stderr, "usage: dnsbench ADDR PORT NAME COUNT | --echo NAME COUNT\n");
		return 2;
	}
	const char *name = argv[echo ? 2 : 3];
	long count = atol(argv[echo ? 3 : 4]);
	if (count < 1 || count > 1000000)
		return 2;
	if (echo) {
		efd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t l = sizeof(to);
		if (efd < 0 || bind(efd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
		    getsockname(efd, (struct sockaddr *)&to, &l) < 0 ||
		    pthread_create(&th, NULL, echo_main, &efd) != 0) {
			perror("echo server");
			return 1;
		}
	} else {
		to.sin_port = htons((uint16_t)atoi(argv[2]));
		if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1)
			return 2;
	}

	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 2 };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("socket");
		return 1;
	}
	int64_t *rtt = calloc((size_t)count, sizeof(*rtt));
	long ok = 0;
	int64_t t_all = now_ns();
	for (long i = 0; i < count; i++) {
		uint8_t q[512], r[1500];
		uint16_t id = (uint16_t)(i * 7919 + 1);
		size_t n = build_query(name, id, q, sizeof(q));
		if (!n)
			return 2;
		int64_t t0 = now_ns();
		ssize_t got = -1;
		if (send(fd, q, n, 0) == (ssize_t)n)
			got = recv(fd, r, sizeof(r), 0);
		rtt[i] = now_ns() - t0;
		if (got < 12 || r[0] != q[0] || r[1] != q[1])
			continue;
		/* echo: the datagram itself; DNS: NOERROR and one answer */
		if (echo || ((r[3] & 0x0f) == 0 && r[6] == 0 && r[7] == 1))
			ok++;
	}
	double secs = (double)(now_ns() - t_all) / 1e9;
	qsort(rtt, (size_t)count, sizeof(*rtt), cmp_i64);
	printf("median_us %.1f p90_us %.1f per_s %.0f ok %ld\n", (double)rtt[count / 2] / 1000.0,
	       (double)rtt[count * 9 / 10] / 1000.0, (double)count / secs, ok);
	free(rtt);
	if (echo) {
		/* a zero-length datagram ends the echo thread */
		send(fd, "", 0, 0);
		pthread_join(th, NULL);
		close(efd);
	}
	close(fd);
	return ok == count ? 0 : 1;
}
