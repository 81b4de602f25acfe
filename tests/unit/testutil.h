/* tests/unit/testutil.h: small helpers several unit tests share (header
 * only: each test is one .c file linked with the core sources it tests). */
#ifndef BANGER_TESTUTIL_H
#define BANGER_TESTUTIL_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

/* printf into one of eight rotating static buffers: a few formatted paths
 * can be alive in one expression. */
static inline char *p(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static inline char *p(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX * 2];
	static int next;
	char *b = bufs[next++ % 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* Open descriptors of this process (below 1024): leak checks. */
static inline __attribute__((unused)) int count_fds(void)
{
	int n = 0;
	char path[64];

	for (int i = 0; i < 1024; i++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", i);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

/* The helpers below use cmocka's assertions: include this header after
 * <cmocka.h>. */
#ifdef cmocka_unit_test
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

/* Run argv, capture stdout (and stderr) into *out (may be NULL); returns the
 * exit status, or -1 if it did not exit normally. */
static inline __attribute__((unused)) int tu_run(char *const argv[], char **out)
{
	char tmpl[] = "/tmp/banger-test-out-XXXXXX";
	posix_spawn_file_actions_t fa;
	int fd, status;
	pid_t pid;

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFD, FD_CLOEXEC), 0);
	unlink(tmpl);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (out) {
		off_t len = lseek(fd, 0, SEEK_END);
		char *buf = malloc((size_t)len + 1);

		assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
		buf[len] = '\0';
		*out = buf;
	}
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
#endif

#endif
