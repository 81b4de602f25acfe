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

#endif
