/* core/workspace.c: listed host files copied into a work disk before boot
 * (workspace.h, docs/workspace.md).
 *
 * Two passes over a sorted list.  The first looks at every entry (fstatat
 * below a directory opened without following symlinks, the caller's
 * rights checked) and adds up what the copy needs; nothing is written
 * when it does not fit.  The second opens each file again (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, O_NOFOLLOW), checks it again on
 * the open descriptor, and streams it into the image (disk.h).
 *
 * Both passes keep a stack of open directories for the current prefix:
 * entries of one directory are contiguous in a sorted list, so each
 * directory is opened (and created in the image) once. */
#define _GNU_SOURCE
#include "workspace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "util.h"

/* ---- the list ---------------------------------------------------------- */

/* At most 64 bytes of a name, control characters shown as '?'. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, n = len < 64 ? len : 64;

	for (i = 0; i < n && i + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (len > n && i + 4 < size)
		strcpy(buf + i, "...");
	return buf;
}

static int check_entry(const char *s, size_t len, size_t idx, int flags, struct berr *err)
{
	char b[80];
	size_t depth = 0;

	if (len == 0)
		return berr_set(err, EINVAL, "list entry %zu is empty", idx + 1);
	shown(b, sizeof(b), s, len);
	if (len >= PATH_MAX)
		return berr_set(err, EINVAL, "list entry %zu (\"%s\") is longer than %d bytes",
				idx + 1, b, PATH_MAX - 1);
	if (s[0] == '/')
		return berr_set(err, EINVAL, "list entry %zu (\"%s\") is an absolute path", idx + 1, b);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return berr_set(err, EINVAL,
					"list entry %zu (\"%s\") has a control character at byte %zu",
					idx + 1, b, i + 1);
	}
	for (size_t i = 0; i <= len;) {
		size_t n = 0;

		while (i + n < len && s[i + n] != '/')
			n++;
		if (n == 0)
			return berr_set(err, EINVAL, "list entry %zu (\"%s\") has an empty component "
					"(a leading, doubled or trailing '/')", idx + 1, b);
		if ((n == 1 && s[i] == '.') || (n == 2 && s[i] == '.' && s[i + 1] == '.'))
			return berr_set(err, EINVAL, "list entry %zu (\"%s\") has a \".\" or \"..\" "
					"component", idx + 1, b);
		if (n > 255)
			return berr_set(err, EINVAL, "list entry %zu (\"%s\") has a component longer "
					"than 255 bytes", idx + 1, b);
		if (!(flags & WS_LIST_ALLOW_DOTGIT) && n == 4 && strncasecmp(s + i, ".git", 4) == 0)
			return berr_set(err, EINVAL, "list entry %zu (\"%s\") has a \".git\" component "
					"(the guest's .git is made by banger)", idx + 1, b);
		if (++depth > WS_MAX_DEPTH)
			return berr_set(err, EINVAL, "list entry %zu (\"%s\") is more than %d levels "
					"deep", idx + 1, b, WS_MAX_DEPTH);
		i += n + 1;
	}
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const struct ws_list *l, const char *s)
{
	return bsearch(&s, l->path, l->n, sizeof(*l->path), cmp_path) != NULL;
}

int ws_list_parse(const char *data, size_t len, int flags, struct ws_list *ret,
		  struct berr *err)
{
	struct ws_list l = { 0 };
	size_t n = 0, k = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > WS_LIST_MAX_BYTES)
		return berr_set(err, EFBIG, "the file list is larger than %u bytes", WS_LIST_MAX_BYTES);
	if (len == 1 && data[0] == '\0')
		return berr_set(err, EINVAL, "list entry 1 is empty");
	if (len > 0 && data[len - 1] == '\0')
		len--;  /* the terminator of the last entry */
	if (len == 0) {
		ret->path = xcalloc(1, sizeof(char *));
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0')
			n++;
	n++;
	if (n > WS_LIST_MAX_ENTRIES)
		return berr_set(err, EFBIG, "the file list has more than %u entries",
				WS_LIST_MAX_ENTRIES);
	l.buf = xmalloc(len + 1);
	memcpy(l.buf, data, len);
	l.buf[len] = '\0';
	l.path = xcalloc(n, sizeof(char *));
	for (size_t i = 0, start = 0; i <= len; i++) {
		if (i < len && l.buf[i] != '\0')
			continue;
		r = check_entry(l.buf + start, i - start, k, flags, err);
		if (r < 0) {
			ws_list_free(&l);
			return r;
		}
		l.path[k++] = l.buf + start;
		start = i + 1;
	}
	l.n = k;
	qsort(l.path, l.n, sizeof(*l.path), cmp_path);
	k = 0;
	for (size_t i = 0; i < l.n; i++)
		if (k == 0 || strcmp(l.path[k - 1], l.path[i]) != 0)
			l.path[k++] = l.path[i];
	l.n = k;
	/* "a" and "a/b" cannot both be files. */
	for (size_t i = 0; i < l.n; i++) {
		char *s = l.path[i];

		for (char *p = strchr(s, '/'); p; p = strchr(p + 1, '/')) {
			char prefix[PATH_MAX];

			memcpy(prefix, s, (size_t)(p - s));
			prefix[p - s] = '\0';
			if (listed(&l, prefix)) {
				char b[80];
				r = berr_set(err, EINVAL, "list entry \"%s\" is under another entry, "
					     "which is listed as a file", shown(b, sizeof(b), s, strlen(s)));
				ws_list_free(&l);
				return r;
			}
		}
	}
	*ret = l;
	return 0;
}

void ws_list_free(struct ws_list *l)
{
	if (!l)
		return;
	free(l->buf);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

/* ---- the caller's rights --------------------------------------------- */

/* Does the file have a POSIX access ACL?  Errors count as yes: the
 * answer only ever takes rights away. */
static bool has_acl(int fd)
{
	char proc[64];
	ssize_t n;

	if (fd < 0)
		return false;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = getxattr(proc, "system.posix_acl_access", NULL, 0);
	if (n < 0)
		return !(errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP);
	return n > 0;
}

static bool in_group(const struct ws_ident *id, gid_t g)
{
	if (id->gid == g)
		return true;
	for (size_t i = 0; i < id->ngroups; i++)
		if (id->groups[i] == g)
			return true;
	return false;
}

/* The same for name in directory dir (not followed). */
static bool has_acl_at(int dir, const char *name)
{
	char proc[PATH_MAX + 64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dir, name);
	n = lgetxattr(proc, "system.posix_acl_access", NULL, 0);
	if (n < 0)
		return !(errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP);
	return n > 0;
}

/* acl: -1 unknown (looked up on fd), 0 none, 1 present */
static bool may(const struct stat *st, int fd, int acl, const struct ws_ident *id, int want)
{
	unsigned bits, need = 0;

	if (!id || id->uid == 0)
		return true;  /* root reads and searches everything (DAC override) */
	if (want & R_OK)
		need |= 4;
	if (want & W_OK)
		need |= 2;
	if (want & X_OK)
		need |= 1;
	if (st->st_uid == id->uid)
		bits = (st->st_mode >> 6) & 7;
	else if (acl > 0 || (acl < 0 && has_acl(fd)))
		return false;
	else if (in_group(id, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & need) == need;
}

bool ws_may(const struct stat *st, int fd, const struct ws_ident *id, int want)
{
	return may(st, fd, -1, id, want);
}

int ws_openat(int dir, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dir, name, &how, sizeof(how));

	return fd < 0 ? -1 : (int)fd;
}

int ws_open_dir(const char *path, const struct ws_ident *id, int *ret_fd, struct berr *err)
{
	_cleanup_close_ int first = -1, cur = -1;
	char proc[64], real[PATH_MAX];
	struct stat st, st0;
	ssize_t n;

	if (!path || path[0] != '/')
		return berr_set(err, EINVAL, "\"%s\" is not an absolute path", path ? path : "");
	first = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (first < 0)
		return berr_set(err, errno, "cannot open directory %s: %s", path, strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", first);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0 || real[0] != '/')
		return berr_set(err, EIO, "cannot resolve directory %s", path);
	real[n] = '\0';
	cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return berr_set(err, errno, "cannot open /: %s", strerror(errno));
	for (char *p = real;;) {
		char *next;

		if (fstat(cur, &st) < 0)
			return berr_set(err, errno, "cannot stat a directory of %s: %s", path,
					strerror(errno));
		if (!ws_may(&st, cur, id, X_OK))
			return berr_set(err, EACCES, "%s: uid %u may not search %.*s", path,
					(unsigned)id->uid, (int)(p - real > 1 ? p - real - 1 : 1), real);
		while (*p == '/')
			p++;
		if (!*p)
			break;
		next = strchr(p, '/');
		if (next)
			*next = '\0';
		int fd = ws_openat(cur, p, O_PATH | O_DIRECTORY);
		if (fd < 0) {
			int e = errno;
			return berr_set(err, e == ELOOP ? EACCES : e,
					"cannot open directory %s (resolved to %s): %s", path, real,
					strerror(e));
		}
		close(cur);
		cur = fd;
		if (!next)
			p += strlen(p);
		else {
			*next = '/';
			p = next;
		}
	}
	if (fstat(first, &st0) < 0 || st0.st_dev != st.st_dev || st0.st_ino != st.st_ino)
		return berr_set(err, EAGAIN, "directory %s changed while it was opened", path);
	*ret_fd = TAKE_FD(cur);
	return 0;
}

/* Read name below dir (no symlink followed) as id, at most max bytes. */
static int read_as(int dir, const char *name, const struct ws_ident *id, size_t max,
		   char **ret, size_t *ret_len, struct berr *err)
{
	_cleanup_close_ int fd = ws_openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", name, strerror(errno));
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "cannot stat %s: %s", name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s is not a regular file", name);
	if (!ws_may(&st, fd, id, R_OK))
		return berr_set(err, EACCES, "%s may not be read by uid %u", name, (unsigned)id->uid);
	if ((uint64_t)st.st_size > max)
		return berr_set(err, EFBIG, "%s is larger than %zu bytes", name, max);
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ---- the directory walk ---------------------------------------------- */

enum { T_SKIP, T_REG, T_LNK };

struct level {
	size_t len;       /* of the directory's path in the list (0: the root) */
	int fd;
	uint32_t ino;     /* in the image (second pass) */
};

struct walk {
	int root;
	const struct ws_copy_opts *o;
	struct workdisk *wd;      /* NULL in the first pass */
	size_t depth;
	struct level lv[WS_MAX_DEPTH + 1];
	const char *cur;          /* the path lv[depth] belongs to */
	uint64_t new_dirs, dirent_bytes;
};

static void walk_init(struct walk *w, int root, const struct ws_copy_opts *o,
		      struct workdisk *wd, uint32_t dest)
{
	memset(w, 0, sizeof(*w));
	w->root = root;
	w->o = o;
	w->wd = wd;
	w->lv[0].fd = root;
	w->lv[0].ino = dest;
	w->cur = "";
}

static void walk_done(struct walk *w)
{
	for (size_t i = 1; i <= w->depth; i++)
		close(w->lv[i].fd);
	w->depth = 0;
}

static void warnf(ws_warn_fn warn, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warnf(ws_warn_fn warn, void *ctx, const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	warn(ctx, line);
}

static uint64_t dirent_size(size_t namelen)
{
	return 8 + ((namelen + 3) & ~(size_t)3);
}

/* Make lv[depth] the directory holding path; *ret_leaf is its last
 * component.  1: done; 0: a directory on the way is gone or is no
 * directory (*why says which; the entry is skipped); <0: error. */
static int walk_to(struct walk *w, const char *path, const char **ret_leaf,
		   const char **why, struct berr *err)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) : 0;

	/* Pop to the longest open prefix of the directory part. */
	while (w->depth > 0) {
		size_t l = w->lv[w->depth].len;

		if (l <= dirlen && strncmp(w->cur, path, l) == 0 && (l == dirlen || path[l] == '/'))
			break;
		close(w->lv[w->depth].fd);
		w->depth--;
	}
	w->cur = path;
	while (w->lv[w->depth].len < dirlen) {
		size_t start = w->lv[w->depth].len + (w->depth > 0 ? 1 : 0);
		const char *end = memchr(path + start, '/', dirlen - start + 1);
		size_t n = (size_t)(end - path) - start;
		char name[256];
		struct stat st;
		int fd;

		memcpy(name, path + start, n);
		name[n] = '\0';
		fd = ws_openat(w->lv[w->depth].fd, name, O_PATH | O_DIRECTORY);
		if (fd < 0) {
			if (errno == ENOENT) {
				*why = "a directory on its path vanished";
				return 0;
			}
			if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV) {
				*why = "a directory on its path is a symlink or not a directory "
				       "(not followed)";
				return 0;
			}
			return berr_set(err, errno, "cannot open directory %.*s: %s",
					(int)(start + n), path, strerror(errno));
		}
		if (fstat(fd, &st) < 0) {
			int e = errno;
			close(fd);
			return berr_set(err, e, "cannot stat %.*s: %s", (int)(start + n), path,
					strerror(e));
		}
		if (!ws_may(&st, fd, w->o->id, X_OK)) {
			close(fd);
			return berr_set(err, EACCES, "%s: uid %u may not search directory %.*s",
					w->o->what, (unsigned)w->o->id->uid, (int)(start + n), path);
		}
		uint32_t ino = 0;
		if (w->wd) {
			struct wd_attr a = {
				.mode = w->o->normalize ? 0755 : w->o->dir_mode,
				.mtime_sec = st.st_mtim.tv_sec, .mtime_nsec = st.st_mtim.tv_nsec,
			};
			int r = workdisk_mkdirat(w->wd, w->lv[w->depth].ino, name, &a, &ino, err);
			if (r < 0) {
				close(fd);
				return berr_wrap(err, "%s: %.*s", w->o->what, (int)(start + n), path);
			}
		} else {
			w->dirent_bytes += dirent_size(n) + 24;
		}
		w->new_dirs++;
		w->depth++;
		w->lv[w->depth] = (struct level){ .len = start + n, .fd = fd, .ino = ino };
	}
	*ret_leaf = slash ? slash + 1 : path;
	return 1;
}

/* ---- plan and write ---------------------------------------------------- */

struct ws_plan {
	int src;
	const struct ws_list *list;
	struct ws_copy_opts o;
	unsigned char *type;
	uint64_t *size;
	uint64_t files, symlinks, new_dirs, dirent_bytes;
};

void ws_plan_free(struct ws_plan *p)
{
	if (!p)
		return;
	free(p->type);
	free(p->size);
	free(p);
}

int ws_plan_make(int src_dir, const struct ws_list *list, const struct ws_copy_opts *o,
		 ws_warn_fn warn, void *ctx, struct ws_plan **ret, struct berr *err)
{
	struct ws_plan *p = xcalloc(1, sizeof(*p));
	struct walk w;
	int r = 0;

	p->src = src_dir;
	p->list = list;
	p->o = *o;
	p->type = xcalloc(list->n ? list->n : 1, 1);
	p->size = xcalloc(list->n ? list->n : 1, sizeof(uint64_t));
	walk_init(&w, src_dir, &p->o, NULL, 0);
	for (size_t i = 0; i < list->n; i++) {
		const char *path = list->path[i], *leaf = NULL, *why = NULL;
		struct stat st;

		r = walk_to(&w, path, &leaf, &why, err);
		if (r < 0)
			break;
		if (r == 0) {
			warnf(warn, ctx, "skipped %s%s: %s", o->prefix, path, why);
			continue;
		}
		r = 0;
		if (fstatat(w.lv[w.depth].fd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) {
				warnf(warn, ctx, "skipped %s%s: vanished since it was listed",
				      o->prefix, path);
				continue;
			}
			r = berr_set(err, errno, "%s: cannot stat %s: %s", o->what, path,
				     strerror(errno));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			int acl = 0;

			if (o->id && o->id->uid != 0 && st.st_uid != o->id->uid)
				acl = has_acl_at(w.lv[w.depth].fd, leaf);
			if (!may(&st, -1, acl, o->id, R_OK)) {
				r = berr_set(err, EACCES, "%s: %s may not be read by uid %u (mode %04o, "
					     "owner %u%s)", o->what, path, (unsigned)o->id->uid,
					     (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
					     acl ? ", with an ACL" : "");
				break;
			}
			p->type[i] = T_REG;
			p->size[i] = (uint64_t)st.st_size;
			p->files++;
		} else if (S_ISLNK(st.st_mode) && o->symlinks) {
			p->type[i] = T_LNK;
			p->size[i] = (uint64_t)st.st_size;
			p->symlinks++;
		} else {
			warnf(warn, ctx, "skipped %s%s: %s", o->prefix, path,
			      S_ISLNK(st.st_mode) ? "a symlink (not followed)" :
			      S_ISDIR(st.st_mode) ? "a directory (a submodule?)" :
			      "not a regular file or symlink");
			continue;
		}
		w.dirent_bytes += dirent_size(strlen(leaf));
	}
	p->new_dirs = w.new_dirs;
	p->dirent_bytes = w.dirent_bytes;
	walk_done(&w);
	if (r < 0) {
		ws_plan_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void ws_plan_need(const struct ws_plan *p, uint32_t bs, uint64_t *ret_blocks,
		  uint64_t *ret_inodes)
{
	uint64_t blocks = 0;

	for (size_t i = 0; i < p->list->n; i++) {
		uint64_t nb = (p->size[i] + bs - 1) / bs;

		if (p->type[i] == T_REG)
			/* an extent maps at most 32768 blocks; four fit in the inode,
			 * each further block of the tree holds 340 */
			blocks += nb + (nb > 4 * 32768 ? 1 + nb / (340ULL * 32768) : 0);
		else if (p->type[i] == T_LNK && p->size[i] >= 60)
			blocks++;  /* not a fast symlink */
	}
	/* a block per new directory, the entries at 3/4 fill, 1% slack */
	blocks += p->new_dirs + (p->dirent_bytes * 4 / 3 + bs - 1) / bs;
	blocks += blocks / 100 + 16;
	*ret_blocks = blocks;
	*ret_inodes = p->files + p->symlinks + p->new_dirs;
}

int ws_plan_write(struct ws_plan *p, struct workdisk *wd, uint32_t dest, ws_warn_fn warn,
		  void *ctx, struct ws_stats *stats, struct berr *err)
{
	const struct ws_copy_opts *o = &p->o;
	struct walk w;
	int r = 0;

	walk_init(&w, p->src, o, wd, dest);
	for (size_t i = 0; i < p->list->n; i++) {
		const char *path = p->list->path[i], *leaf = NULL, *why = NULL;
		struct stat st;
		int dfd;

		if (p->type[i] == T_SKIP)
			continue;
		r = walk_to(&w, path, &leaf, &why, err);
		if (r < 0)
			break;
		if (r == 0) {
			warnf(warn, ctx, "skipped %s%s: %s", o->prefix, path, why);
			stats->skipped++;
			continue;
		}
		r = 0;
		dfd = w.lv[w.depth].fd;
		if (p->type[i] == T_LNK) {
			char target[PATH_MAX];
			ssize_t n;

			if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode) ||
			    (n = readlinkat(dfd, leaf, target, sizeof(target) - 1)) <= 0) {
				warnf(warn, ctx, "skipped %s%s: vanished or changed since it was listed",
				      o->prefix, path);
				stats->skipped++;
				continue;
			}
			target[n] = '\0';
			struct wd_attr a = { .mode = 0777, .mtime_sec = st.st_mtim.tv_sec,
					     .mtime_nsec = st.st_mtim.tv_nsec };
			r = workdisk_put_symlink(wd, w.lv[w.depth].ino, leaf, target, &a, err);
			if (r < 0) {
				berr_wrap(err, "%s: %s", o->what, path);
				break;
			}
			stats->symlinks++;
			continue;
		}

		_cleanup_close_ int fd = ws_openat(dfd, leaf, O_RDONLY | O_NONBLOCK | O_NOCTTY);
		if (fd < 0 && (errno == ENOENT || errno == ELOOP)) {
			warnf(warn, ctx, "skipped %s%s: %s since it was listed", o->prefix, path,
			      errno == ENOENT ? "vanished" : "became a symlink");
			stats->skipped++;
			continue;
		}
		if (fd < 0) {
			r = berr_set(err, errno, "%s: cannot open %s: %s", o->what, path,
				     strerror(errno));
			break;
		}
		if (fstat(fd, &st) < 0) {
			r = berr_set(err, errno, "%s: cannot stat %s: %s", o->what, path,
				     strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			warnf(warn, ctx, "skipped %s%s: no longer a regular file", o->prefix, path);
			stats->skipped++;
			continue;
		}
		if (!ws_may(&st, fd, o->id, R_OK)) {
			r = berr_set(err, EACCES, "%s: %s may not be read by uid %u (mode %04o, owner "
				     "%u%s)", o->what, path, (unsigned)o->id->uid,
				     (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
				     has_acl(fd) ? ", with an ACL" : "");
			break;
		}
		struct wd_attr a = {
			.mode = o->normalize ? ((st.st_mode & 0111) ? 0755 : 0644) : o->file_mode,
			.mtime_sec = st.st_mtim.tv_sec, .mtime_nsec = st.st_mtim.tv_nsec,
		};
		uint64_t len = 0;
		r = workdisk_put_file(wd, w.lv[w.depth].ino, leaf, fd, (uint64_t)st.st_size, &a,
				      &len, err);
		if (r < 0) {
			berr_wrap(err, "%s: %s", o->what, path);
			break;
		}
		if (len < (uint64_t)st.st_size)
			warnf(warn, ctx, "shortened %s%s: it shrank while it was copied", o->prefix,
			      path);
		stats->files++;
		stats->bytes += len;
	}
	stats->dirs += w.new_dirs;
	walk_done(&w);
	return r;
}

/* ---- the whole copy -------------------------------------------------------- */

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

/* Open DIR/name (a directory, the symlink followed) as id. */
static int open_sub(const char *wsdir, const char *name, const struct ws_ident *id, int *ret,
		    struct berr *err)
{
	_cleanup_free_ char *p = path_join(wsdir, name);

	return ws_open_dir(p, id, ret, err);
}

static int load_list(int dfd, const char *name, int flags, const struct ws_ident *id,
		     struct ws_list *ret, struct berr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_as(dfd, name, id, WS_LIST_MAX_BYTES, &buf, &len, err);
	if (r < 0)
		return r;
	r = ws_list_parse(buf, len, flags, ret, err);
	if (r < 0)
		return berr_wrap(err, "%s", name);
	return 0;
}

int workspace_write(const char *image, const char *wsdir, const struct ws_ident *id,
		    ws_warn_fn warn, void *ctx, struct ws_stats *ret_stats, struct berr *err)
{
	_cleanup_close_ int dfd = -1, repo = -1, git = -1;
	struct ws_list list = { 0 }, glist = { 0 };
	struct ws_plan *plan = NULL, *gplan = NULL;
	struct workdisk *wd = NULL;
	struct ws_stats stats = { 0 };
	struct ws_copy_opts o = { .id = id, .normalize = true, .symlinks = true,
				  .what = "the repository", .prefix = "" };
	struct ws_copy_opts go = { .id = id, .normalize = true, .symlinks = false,
				   .what = "the guest .git", .prefix = ".git/" };
	uint64_t free_b = 0, free_i = 0, nb = 0, ni = 0, b2 = 0, i2 = 0;
	uint32_t bs = 0, dest = 0, gdest = 0;
	bool with_git;
	struct stat st;
	int r;

	r = ws_open_dir(wsdir, id, &dfd, err);
	if (r >= 0)
		r = load_list(dfd, "list", 0, id, &list, err);
	if (r >= 0)
		r = open_sub(wsdir, "repo", id, &repo, err);
	if (r < 0)
		goto out;
	with_git = faccessat(dfd, "git.list", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (with_git) {
		r = load_list(dfd, "git.list", WS_LIST_ALLOW_DOTGIT, id, &glist, err);
		if (r >= 0)
			r = open_sub(wsdir, "git", id, &git, err);
		if (r < 0)
			goto out;
	}

	r = ws_plan_make(repo, &list, &o, warn, ctx, &plan, err);
	if (r >= 0 && with_git)
		r = ws_plan_make(git, &glist, &go, warn, ctx, &gplan, err);
	if (r < 0)
		goto out;

	r = workdisk_open(image, &wd, err);
	if (r < 0)
		goto out;
	workdisk_space(wd, &free_b, &free_i, &bs);
	ws_plan_need(plan, bs, &nb, &ni);
	if (gplan) {
		ws_plan_need(gplan, bs, &b2, &i2);
		nb += b2;
		ni += i2 + 1;
	}
	nb += 1;  /* /repo itself */
	ni += 1;
	stats.need_bytes = nb * bs;
	stats.free_bytes = free_b;
	if (nb * bs > free_b || ni > free_i) {
		r = berr_set(err, ENOSPC, "the repository needs %.1f MiB and %llu inodes (%llu files, "
			     "%.1f MiB of data) but the work disk has %.1f MiB free and %llu inodes "
			     "free: give the VM a larger disk_size", mib(nb * bs), (unsigned long long)ni,
			     (unsigned long long)(plan->files + (gplan ? gplan->files : 0)),
			     mib((nb - nb / 101) * bs), mib(free_b), (unsigned long long)free_i);
		goto out;
	}
	/* The guest dir must be new: a second copy would mix two trees. */
	r = workdisk_lookup(wd, WD_ROOT_INO, &WS_GUEST_DIR[1], &dest, err);
	if (r == 0)
		r = berr_set(err, EEXIST, "the work disk already has %s (/root%s in the guest)",
			     WS_GUEST_DIR, WS_GUEST_DIR);
	else if (r == -ENOENT)
		r = 0;
	if (r < 0)
		goto out;
	if (fstat(repo, &st) < 0) {
		r = berr_set(err, errno, "cannot stat the repository: %s", strerror(errno));
		goto out;
	}
	struct wd_attr da = { .mode = 0755, .mtime_sec = st.st_mtim.tv_sec,
			      .mtime_nsec = st.st_mtim.tv_nsec };
	r = workdisk_mkdirat(wd, WD_ROOT_INO, &WS_GUEST_DIR[1], &da, &dest, err);
	if (r >= 0)
		r = ws_plan_write(plan, wd, dest, warn, ctx, &stats, err);
	if (r >= 0 && gplan) {
		r = workdisk_mkdirat(wd, dest, ".git", &da, &gdest, err);
		if (r >= 0)
			r = ws_plan_write(gplan, wd, gdest, warn, ctx, &stats, err);
	}
	if (r >= 0)
		stats.dirs += 1 + (gplan ? 1 : 0);
out:
	r = workdisk_close(wd, r, err);
	ws_plan_free(plan);
	ws_plan_free(gplan);
	ws_list_free(&list);
	ws_list_free(&glist);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = stats;
	return 0;
}
