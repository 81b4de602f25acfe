/* core/filesync.c: [[file_sync]] applied to a work disk (filesync.h). */
#define _GNU_SOURCE
#include "filesync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "util.h"

struct fs_ctx {
	ws_warn_fn warn;
	void *ctx;
	const char *shown;   /* the entry's host path as written in the config */
	int line;
};

static void fwarn(const struct fs_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fwarn(const struct fs_ctx *c, const char *fmt, ...)
{
	char msg[PATH_MAX + 256], line[PATH_MAX + 400];
	va_list ap;

	if (!c->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "file_sync (config line %d) %s: %s", c->line, c->shown, msg);
	c->warn(c->ctx, line);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Collect the regular files below dir (relative to it, prefixed with
 * rel), NUL-separated into out.  Symlinks and special files are skipped
 * with a warning. */
static int collect(int dir, const char *rel, size_t depth, struct sbuf *out, size_t *count,
		   const struct fs_ctx *c, struct berr *err)
{
	int fd = ws_openat(dir, ".", O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return berr_set(err, errno, "cannot read directory %s: %s", *rel ? rel : ".",
				strerror(errno));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berr_set(err, errno, "cannot read directory %s", rel);
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, de->d_name)
						 : xstrdup(de->d_name);
		if (!printable(de->d_name)) {
			fwarn(c, "skipped a name with control characters in %s", *rel ? rel : ".");
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fwarn(c, "skipped %s: %s", path, strerror(errno));
			continue;
		}
		if (S_ISLNK(st.st_mode)) {
			fwarn(c, "skipped %s: a symlink inside a synced directory (not followed)", path);
		} else if (S_ISREG(st.st_mode)) {
			if (++*count > WS_LIST_MAX_ENTRIES) {
				r = berr_set(err, EFBIG, "more than %u files", WS_LIST_MAX_ENTRIES);
				break;
			}
			sbuf_add(out, path, strlen(path) + 1);
		} else if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= WS_MAX_DEPTH) {
				fwarn(c, "skipped %s: more than %d levels deep", path, WS_MAX_DEPTH);
				continue;
			}
			int sub = ws_openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY);
			if (sub < 0) {
				fwarn(c, "skipped %s: %s", path, strerror(errno));
				continue;
			}
			r = collect(sub, path, depth + 1, out, count, c, err);
			close(sub);
			if (r < 0)
				break;
		} else {
			fwarn(c, "skipped %s: not a regular file, directory or symlink", path);
		}
	}
	closedir(d);
	return r;
}

static int sync_dir(struct workdisk *wd, int src, const struct stat *st, uint32_t parent,
		    const char *leaf, mode_t fmode, mode_t dmode, const struct fs_ctx *c,
		    struct berr *err)
{
	struct sbuf names;
	struct ws_list list = { 0 };
	struct ws_plan *plan = NULL;
	struct ws_stats stats = { 0 };
	_cleanup_free_ char *prefix = xasprintf("%s/", c->shown);
	_cleanup_free_ char *what = xasprintf("file_sync %s", c->shown);
	struct ws_copy_opts o = { .id = NULL, .normalize = false, .file_mode = fmode,
				  .dir_mode = dmode, .symlinks = false, .what = what,
				  .prefix = prefix };
	uint64_t free_b, free_i, nb, ni;
	uint32_t bs, top;
	size_t count = 0;
	int r;

	sbuf_init(&names);
	r = collect(src, "", 0, &names, &count, c, err);
	if (r >= 0)
		r = ws_list_parse(names.buf ? names.buf : "", names.len, WS_LIST_ALLOW_DOTGIT,
				  &list, err);
	sbuf_free(&names);
	if (r >= 0)
		r = ws_plan_make(src, &list, &o, NULL, NULL, &plan, err);
	if (r >= 0) {
		workdisk_space(wd, &free_b, &free_i, &bs);
		ws_plan_need(plan, bs, &nb, &ni);
		if (nb * bs > free_b || ni + 1 > free_i)
			r = berr_set(err, ENOSPC, "%s needs %.1f MiB and %llu inodes but the work "
				     "disk has %.1f MiB and %llu inodes free", what,
				     (double)(nb * bs) / 1048576.0, (unsigned long long)ni + 1,
				     (double)free_b / 1048576.0, (unsigned long long)free_i);
	}
	if (r >= 0) {
		struct wd_attr a = { .mode = dmode, .mtime_sec = st->st_mtim.tv_sec,
				     .mtime_nsec = st->st_mtim.tv_nsec };
		r = workdisk_mkdirat(wd, parent, leaf, &a, &top, err);
	}
	if (r >= 0)
		r = ws_plan_write(plan, wd, top, NULL, NULL, &stats, err);
	ws_plan_free(plan);
	ws_list_free(&list);
	return r;
}

static int sync_one(struct workdisk *wd, int home_fd, const char *home, const char *home_real,
		    const struct file_sync *f, const struct fs_ctx *c, struct berr *err)
{
	_cleanup_free_ char *expanded = NULL, *real = NULL, *gdir = NULL, *gleaf = NULL;
	_cleanup_close_ int fd = -1;
	const char *rel;
	mode_t fmode = 0600, dmode = 0700;
	struct stat st;
	uint32_t parent;
	int r;

	if (strcmp(f->host, "~") == 0)
		expanded = xstrdup(home);
	else if (strncmp(f->host, "~/", 2) == 0)
		expanded = path_join(home, f->host + 2);
	else if (f->host[0] == '/')
		expanded = xstrdup(f->host);
	else {
		fwarn(c, "not an absolute path or ~/ path; skipped");
		return 0;
	}
	real = realpath(expanded, NULL);
	if (!real) {
		if (errno == ENOENT)
			fwarn(c, "does not exist; skipped");
		else
			fwarn(c, "cannot be resolved (%s); skipped", strerror(errno));
		return 0;
	}
	size_t hl = strlen(home_real);
	if (strcmp(real, home_real) == 0)
		rel = ".";
	else if (strncmp(real, home_real, hl) == 0 && (real[hl] == '/' || hl == 1))
		rel = real + hl + (hl == 1 ? 0 : 1);
	else {
		fwarn(c, "resolves to %s, outside the home directory %s; skipped", real, home_real);
		return 0;
	}
	fd = ws_openat(home_fd, rel, O_PATH);
	if (fd < 0) {
		fwarn(c, "cannot be opened inside the home directory (%s); skipped", strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "file_sync %s: cannot stat: %s", c->shown, strerror(errno));
	if (f->mode) {
		fmode = (mode_t)strtoul(f->mode, NULL, 8) & 0777;
		dmode = fmode | ((fmode & 0444) >> 2);
	}

	/* "/root/x/y" in the guest is "/x/y" on the work disk. */
	const char *g = f->guest + strlen("/root");
	_cleanup_free_ char *g1 = xstrdup(g), *g2 = xstrdup(g);
	gdir = xstrdup(dirname(g1));
	gleaf = xstrdup(basename(g2));
	struct wd_attr pa = { .mode = 0700, .mtime_sec = time(NULL) };
	r = workdisk_mkdir_p(wd, gdir, &pa, &parent, err);
	if (r < 0)
		return berr_wrap(err, "file_sync %s -> %s", c->shown, f->guest);

	if (S_ISREG(st.st_mode)) {
		_cleanup_close_ int rfd = ws_openat(home_fd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
		struct stat st2;

		if (rfd < 0 || fstat(rfd, &st2) < 0 || st2.st_dev != st.st_dev ||
		    st2.st_ino != st.st_ino) {
			fwarn(c, "changed while it was opened; skipped");
			return 0;
		}
		struct wd_attr a = { .mode = fmode, .mtime_sec = st2.st_mtim.tv_sec,
				     .mtime_nsec = st2.st_mtim.tv_nsec };
		r = workdisk_put_file(wd, parent, gleaf, rfd, (uint64_t)st2.st_size, &a, NULL, err);
	} else if (S_ISDIR(st.st_mode)) {
		r = sync_dir(wd, fd, &st, parent, gleaf, fmode, dmode, c, err);
	} else {
		fwarn(c, "not a regular file or directory; skipped");
		return 0;
	}
	if (r < 0)
		return berr_wrap(err, "file_sync %s -> %s", c->shown, f->guest);
	return 0;
}

int file_sync_apply(const char *image, const struct file_sync *entries, size_t n,
		    const char *home, ws_warn_fn warn, void *ctx, struct berr *err)
{
	_cleanup_free_ char *home_real = NULL;
	_cleanup_close_ int home_fd = -1;
	struct workdisk *wd = NULL;
	int r = 0;

	if (n == 0)
		return 0;
	if (!home || home[0] != '/')
		return berr_set(err, EINVAL, "file_sync: the home directory \"%s\" is not absolute",
				home ? home : "");
	home_real = realpath(home, NULL);
	if (!home_real)
		return berr_set(err, errno, "file_sync: home directory %s: %s", home, strerror(errno));
	home_fd = open(home_real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (home_fd < 0)
		return berr_set(err, errno, "file_sync: cannot open %s: %s", home_real,
				strerror(errno));
	r = workdisk_open(image, &wd, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const struct file_sync *f = &entries[i];
		struct fs_ctx c = { .warn = warn, .ctx = ctx, .shown = f->host, .line = f->line };

		if (!f->host || !f->guest || strncmp(f->guest, "/root/", 6) != 0) {
			r = berr_set(err, EINVAL, "file_sync entry %zu has no host path or a guest path "
				     "outside /root", i + 1);
			break;
		}
		r = sync_one(wd, home_fd, home, home_real, f, &c, err);
	}
	return workdisk_close(wd, r, err);
}
