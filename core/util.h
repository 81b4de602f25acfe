/* core/util.h: small helpers shared by every part of banger. */
#ifndef BANGER_UTIL_H
#define BANGER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "err.h"

/* Cleanup attributes (crun/systemd style).  Steal ownership with
 * TAKE_PTR / TAKE_FD. */
static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* For a descriptor holding a flock(): unlock, then close.  The unlock is
 * explicit because a child forked by another thread (posix_spawn of a VMM)
 * may hold a copy of the open file description until it execs, and a plain
 * close would leave the lock with that copy. */
void unlock_close(int fd);
static inline void unlock_closep(int *fd) { unlock_close(*fd); }
#define _cleanup_unlock_close_ __attribute__((cleanup(unlock_closep)))

/* prog as posix_spawnp would find it: itself when it has a '/', else the
 * first executable in $PATH (xmalloc'ed); NULL when none or prog empty. */
char *find_program(const char *prog);

#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Growable string buffer.  Allocation failure aborts (the daemon cannot
 * make progress without memory; every size a user controls is bounded
 * before it gets here). */
struct sbuf {
	char *buf;
	size_t len, cap;
};
void sbuf_init(struct sbuf *s);
void sbuf_free(struct sbuf *s);
void sbuf_add(struct sbuf *s, const void *data, size_t len);
void sbuf_puts(struct sbuf *s, const char *str);
void sbuf_printf(struct sbuf *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *sbuf_steal(struct sbuf *s); /* NUL-terminated, caller frees */
/* Append w quoted for a POSIX shell (bare when it needs no quoting). */
void sbuf_shquote(struct sbuf *s, const char *w);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict number parsing: the whole string must be a number in range,
 * no sign junk, no trailing garbage.  Return 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t *ret);
int hex_digit(char c); /* 0-15 for 0-9, a-f, A-F; else -1 */
int parse_i64(const char *s, int64_t *ret);
/* Sizes: "8G", "512M", "1024K", "4096" (bytes), binary units, optional
 * trailing "iB"/"B" ("8GiB", "8GB" both mean 8*2^30). */
int parse_size(const char *s, uint64_t *ret_bytes);
/* Format bytes as the shortest exact unit: 8589934592 -> "8G". */
void format_size(uint64_t bytes, char *buf, size_t len);

/* Files. */
int mkdir_p(const char *path, mode_t mode);
/* Write a file atomically (temp name + fsync + rename). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole file (bounded by max bytes); NUL-terminated. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
int rm_rf(const char *path);
char *path_join(const char *a, const char *b); /* xmalloc'ed */

/* An untrusted string for an error message: at most 64 bytes of it, bytes
 * outside printable ASCII as '?', "..." when cut.  buf needs 68 bytes. */
#define SHOWN_MAX 68
const char *shown_str(char buf[SHOWN_MAX], const char *s);

/* Time. */
int64_t now_ms(void);      /* CLOCK_REALTIME in milliseconds */
int64_t mono_ms(void);     /* CLOCK_MONOTONIC in milliseconds */

#endif
