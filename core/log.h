/* core/log.h: the daemon's log lines and the notes it appends to a VM's
 * log file.  The bottom of the daemon: it calls nothing of banger's. */
#ifndef BANGER_LOG_H
#define BANGER_LOG_H

#include <stdarg.h>

/* One line to the daemon's stderr with a timestamp:
 * "2026-12-07T03:00:17.935Z bangerd: ...". */
void blog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Append "banger: <text>\n" to the file at path (created 0600), best effort;
 * path may be NULL.  One write(2), so notes of several threads never
 * interleave inside a line. */
void log_note(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vnote(const char *path, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
