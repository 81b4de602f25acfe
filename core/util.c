/* core/util.c: buffers, strict number parsing, files, time. */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		abort();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	return p;
}

void sbuf_init(struct sbuf *s)
{
	s->buf = NULL;
	s->len = s->cap = 0;
}

void sbuf_free(struct sbuf *s)
{
	free(s->buf);
	sbuf_init(s);
}

static void sbuf_reserve(struct sbuf *s, size_t extra)
{
	size_t need = s->len + extra + 1;
	if (need <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 64;
	while (cap < need)
		cap *= 2;
	s->buf = xrealloc(s->buf, cap);
	s->cap = cap;
}

void sbuf_add(struct sbuf *s, const void *data, size_t len)
{
	sbuf_reserve(s, len);
	if (len)
		memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
}

void sbuf_puts(struct sbuf *s, const char *str)
{
	sbuf_add(s, str, strlen(str));
}

void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sbuf_reserve(s, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

char *sbuf_steal(struct sbuf *s)
{
	char *p;
	sbuf_reserve(s, 0);
	s->buf[s->len] = '\0';
	p = s->buf;
	sbuf_init(s);
	return p;
}

void sbuf_shquote(struct sbuf *s, const char *w)
{
	bool plain = *w != '\0';
	for (const char *p = w; *p && plain; p++)
		plain = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			       "0123456789_@%+=:,./-", *p) != NULL;
	if (plain) {
		sbuf_puts(s, w);
		return;
	}
	sbuf_puts(s, "'");
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			sbuf_puts(s, "'\\''");
		else
			sbuf_add(s, p, 1);
	}
	sbuf_puts(s, "'");
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t *ret)
{
	bool neg = false;
	uint64_t v;
	int r;
	if (!s)
		return -EINVAL;
	if (*s == '-') {
		neg = true;
		s++;
	}
	r = parse_u64(s, &v);
	if (r < 0)
		return r;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return -ERANGE;
		*ret = (int64_t)v;
	}
	return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
	char num[32];
	size_t n = 0;
	unsigned shift = 0;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(num))
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	const char *u = s + n;
	switch (*u) {
	case '\0': shift = 0; break;
	case 'K': case 'k': shift = 10; u++; break;
	case 'M': case 'm': shift = 20; u++; break;
	case 'G': case 'g': shift = 30; u++; break;
	case 'T': case 't': shift = 40; u++; break;
	case 'B': break;
	default: return -EINVAL;
	}
	if (shift && (strcmp(u, "iB") == 0 || strcmp(u, "B") == 0))
		u += strlen(u);
	else if (!shift && strcmp(u, "B") == 0)
		u++;
	if (*u)
		return -EINVAL;
	r = parse_u64(num, &v);
	if (r < 0)
		return r;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret_bytes = v << shift;
	return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && bytes && (bytes & 1023) == 0) {
		bytes >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)bytes, units[u]);
}

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = data;
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp);
			return -e;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct sbuf s;
	char chunk[65536];

	if (fd < 0)
		return -errno;
	sbuf_init(&s);
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			sbuf_free(&s);
			return -e;
		}
		if (r == 0)
			break;
		if (s.len + (size_t)r > max) {
			sbuf_free(&s);
			return -EFBIG;
		}
		sbuf_add(&s, chunk, (size_t)r);
	}
	if (ret_len)
		*ret_len = s.len;
	*ret = sbuf_steal(&s);
	return 0;
}

static int rm_rf_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		DIR *d = fdopendir(fd);
		if (!d) {
			int e = errno;
			close(fd);
			return -e;
		}
		struct dirent *de;
		int r = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			int q = rm_rf_at(dirfd(d), de->d_name);
			if (q < 0 && r == 0)
				r = q;
		}
		closedir(d);
		if (r < 0)
			return r;
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n && a[n - 1] == '/')
		return xasprintf("%s%s", a, b[0] == '/' ? b + 1 : b);
	return xasprintf("%s/%s", a, b[0] == '/' ? b + 1 : b);
}

static int64_t clock_ms(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_ms(void) { return clock_ms(CLOCK_REALTIME); }
int64_t mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

void unlock_close(int fd)
{
	if (fd < 0)
		return;
	(void)flock(fd, LOCK_UN);
	close(fd);
}

char *find_program(const char *prog)
{
	if (!prog || !*prog)
		return NULL;
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(d, prog);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

const char *shown_str(char buf[SHOWN_MAX], const char *s)
{
	size_t i;
	for (i = 0; s[i] && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (s[i])
		memcpy(buf + i, "...", 4);
	return buf;
}
