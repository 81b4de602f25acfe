/* core/log.c: see log.h. */
#define _GNU_SOURCE
#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void blog(const char *fmt, ...)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ bangerd: ", ts, now.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void log_vnote(const char *path, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (!path)
		return;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	_cleanup_free_ char *line = xasprintf("banger: %s\n", msg);
	free(msg);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	ssize_t n = write(fd, line, strlen(line));
	(void)n;
}

void log_note(const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vnote(path, fmt, ap);
	va_end(ap);
}
