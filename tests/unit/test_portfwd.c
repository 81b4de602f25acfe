/* tests/unit/test_portfwd.c: core/portfwd.c on loopback: bytes both ways
 * through splice, an end of input passed on (half close), a refused
 * target, a taken port, removal of a forward and of a group with their
 * connections; and core/portname.c. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portfwd.h"
#include "portname.h"
#include "util.h"

/* An echo server: each connection's bytes come back; at its end of input
 * it shuts its side down. */
struct echo {
	int lfd;
	uint16_t port;
	pthread_t th;
};

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
out:
	shutdown(fd, SHUT_WR);
	close(fd);
	return NULL;
}

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	for (;;) {
		int fd = accept(e->lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static void echo_start(struct echo *e)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(e->lfd >= 0);
	assert_int_equal(bind(e->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(e->lfd, 16), 0);
	assert_int_equal(getsockname(e->lfd, (struct sockaddr *)&sa, &len), 0);
	e->port = ntohs(sa.sin_port);
	pthread_create(&e->th, NULL, echo_main, e);
}

static void echo_stop(struct echo *e)
{
	shutdown(e->lfd, SHUT_RDWR);
	pthread_join(e->th, NULL);
	close(e->lfd);
}

static struct echo ECHO;

/* id 1, 3, 4: the echo server; id 2: refused. */
static int target(void *ctx, int64_t id, struct sockaddr_in *ret)
{
	(void)ctx;
	if (id == 2)
		return -EHOSTUNREACH;
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_port = htons(ECHO.port);
	ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return 0;
}

static int dial(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Read until the end (or 10 s without anything); returns the bytes. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 10000) <= 0)
			return got;
		ssize_t n = read(fd, buf + got, cap - got);
		if (n <= 0)
			return got;
		got += (size_t)n;
	}
}

struct writer {
	int fd;
	const char *data;
	size_t len;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;
	for (size_t off = 0; off < w->len;) {
		ssize_t n = write(w->fd, w->data + off, w->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(w->fd, SHUT_WR); /* our end of input travels through */
	return NULL;
}

static void test_forward(void **state)
{
	(void)state;
	struct portfwd *p;
	struct berr err = { 0 };
	struct portfwd_ops ops = { .target = target };
	echo_start(&ECHO);
	assert_int_equal(portfwd_new(&ops, &p, &err), 0);
	uint16_t port1, port2, port3;
	assert_int_equal(portfwd_add(p, 1, 10, "127.0.0.1", 0, &port1, &err), 0);
	assert_true(port1 > 0);
	assert_int_equal(portfwd_add(p, 2, 10, "127.0.0.1", 0, &port2, &err), 0);
	assert_int_equal(portfwd_add(p, 3, 20, "127.0.0.1", 0, &port3, &err), 0);
	/* taken: the same port again */
	uint16_t dup;
	assert_int_equal(portfwd_add(p, 4, 10, "127.0.0.1", port1, &dup, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "is in use"));
	assert_int_equal(portfwd_add(p, 4, 10, "localhost", 0, &dup, &err), -EINVAL);
	assert_int_equal(portfwd_start(p, &err), 0);

	/* 8 MiB there and back, the end of input passed on both ways */
	size_t len = 8u << 20;
	char *data = xmalloc(len), *back = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 31 + (i >> 13));
	int fd = dial(port1);
	assert_true(fd >= 0);
	struct writer w = { fd, data, len };
	pthread_t wt;
	pthread_create(&wt, NULL, write_all, &w);
	size_t got = drain(fd, back, len + 1);
	pthread_join(wt, NULL);
	assert_int_equal(got, len);
	assert_int_equal(memcmp(data, back, len), 0);
	close(fd);

	/* a target that refuses: the connection ends at once */
	fd = dial(port2);
	assert_true(fd >= 0);
	assert_int_equal(drain(fd, back, 16), 0);
	close(fd);

	/* removal: the listener goes, so do open connections */
	int open1 = dial(port1);
	assert_true(open1 >= 0);
	assert_int_equal(write(open1, "x", 1), 1);
	assert_int_equal(drain(open1, back, 1), 1);
	portfwd_remove(p, 1);
	assert_int_equal(dial(port1), -ECONNREFUSED);
	assert_int_equal(drain(open1, back, 16), 0);
	close(open1);
	/* a group: every forward of it */
	portfwd_remove_group(p, 10);
	assert_int_equal(dial(port2), -ECONNREFUSED);
	fd = dial(port3);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(drain(fd, back, 5), 5);
	close(fd);
	/* the port can be had again */
	assert_int_equal(portfwd_add(p, 5, 30, "127.0.0.1", port1, &dup, &err), 0);
	assert_int_equal(dup, port1);
	portfwd_free(p);
	echo_stop(&ECHO);
	free(data);
	free(back);
}

static void test_names(void **state)
{
	(void)state;
	int64_t g, h;
	assert_int_equal(portname_parse("8080", &g, &h), 0);
	assert_int_equal(g, 8080);
	assert_int_equal(h, 0);
	assert_int_equal(portname_parse("22-2222", &g, &h), 0);
	assert_int_equal(g, 22);
	assert_int_equal(h, 2222);
	assert_int_equal(portname_parse("65535-1", &g, &h), 0);
	const char *bad[] = { "", "0", "08080", "65536", "abc", "22-", "-22", "1-2-3", "1 ",
			      "+1", "22-0", "22-022", "123456", "1-65536" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(portname_parse(bad[i], &g, &h), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("portfwd", tests, NULL, NULL);
}
