/* core/bundle.c: extracting .tar.zst bundles safely and sparse (see
 * bundle.h). */
#define _GNU_SOURCE
#include "bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

#define READ_CHUNK (1u << 20)
#define HOLE_BLOCK 4096u
#define WRITEBACK_KICK (32u << 20) /* start writeback every 32 MiB written */

struct xctx {
	const struct bundle_source *src;
	const struct bundle_limits *lim;
	struct berr src_err;
	bool src_failed;
	unsigned char *buf;
	int dfd;                      /* the target directory */
	struct bundle_manifest *m;
	bool *seen;                   /* per manifest file */
};

static la_ssize_t src_read(struct archive *a, void *opaque, const void **buf)
{
	struct xctx *x = opaque;
	ssize_t n = x->src->read(x->src->opaque, x->buf, READ_CHUNK, &x->src_err);
	if (n < 0) {
		x->src_failed = true;
		archive_set_error(a, (int)-n, "%s", x->src_err.msg);
		return -1;
	}
	*buf = x->buf;
	return n;
}

static bool cancelled(const struct xctx *x)
{
	return x->lim && x->lim->cancel && atomic_load(x->lim->cancel);
}

/* The error of a failed libarchive call: the source's own when it failed. */
static int archive_fail(struct xctx *x, struct archive *a, struct berr *err, const char *what)
{
	if (x->src_failed) {
		*err = x->src_err;
		return -x->src_err.code;
	}
	return berr_set(err, EBADMSG, "bundle archive is not a valid .tar.zst (%s): %s", what,
			archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* The archive's name for an entry, as a bundle path: one leading "./"
 * and a trailing '/' (directories) are dropped. */
static int entry_path(const char *raw, char *out, size_t len, struct berr *err)
{
	char b[SHOWN_MAX];
	if (!raw)
		return berr_set(err, EINVAL, "bundle archive has an entry without a name");
	if (strncmp(raw, "./", 2) == 0 && raw[2])
		raw += 2;
	size_t n = strlen(raw);
	if (n >= len)
		return berr_set(err, EINVAL, "bundle archive entry '%s' has a name too long",
				shown_str(b, raw));
	memcpy(out, raw, n + 1);
	if (n > 1 && out[n - 1] == '/')
		out[n - 1] = '\0';
	struct berr pe = { 0 };
	if (manifest_path_check(out, &pe) < 0)
		return berr_set(err, EINVAL, "bundle archive entry refused: %s", pe.msg);
	return 0;
}

/* Open (creating when asked) the directory holding path below dfd,
 * never through a symlink; *ret_base points into path at the last name. */
static int open_parent(int dfd, const char *path, bool create, int *ret_fd,
		       const char **ret_base, struct berr *err)
{
	const char *slash = strrchr(path, '/');
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return berr_set(err, errno, "dup: %s", strerror(errno));
	if (slash) {
		char comp[256];
		for (const char *c = path; c < slash;) {
			size_t n = strcspn(c, "/");
			if (n >= sizeof(comp)) {
				close(fd);
				return berr_set(err, ENAMETOOLONG, "bundle path '%s' has a long name", path);
			}
			memcpy(comp, c, n);
			comp[n] = '\0';
			if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return berr_set(err, e, "cannot create directory for '%s': %s", path,
						strerror(e));
			}
			int nfd = bundle_openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
			close(fd);
			if (nfd < 0)
				return berr_set(err, -nfd, "cannot open the directory of '%s': %s", path,
						strerror(-nfd));
			fd = nfd;
			c += n + 1;
		}
	}
	*ret_fd = fd;
	*ret_base = slash ? slash + 1 : path;
	return 0;
}

static bool is_zero(const unsigned char *p, size_t n)
{
	return n && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

struct wfile {
	int fd;
	struct sha256_bg *h;
	bool sync;           /* start writeback early: the final fsync waits less */
	uint64_t unkicked;   /* bytes written since the last kick */
	uint64_t kick_from;  /* offset of the first of them */
};

/* Write len bytes at off, leaving aligned 4 KiB blocks of zeros as holes;
 * every byte goes to the digest. */
static int write_sparse(struct wfile *wf, const unsigned char *p, size_t len, uint64_t off)
{
	int fd = wf->fd;
	struct sha256_bg *h = wf->h;
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		bool zero = false, first = true;
		while (i < len) {
			uint64_t o = off + i;
			size_t n = HOLE_BLOCK - (size_t)(o % HOLE_BLOCK);
			if (n > len - i)
				n = len - i;
			/* Never-written bytes read as zeros (each offset is
			 * written at most once), so any run of zeros may be
			 * skipped: whole blocks become holes. */
			bool z = is_zero(p + i, n);
			if (first)
				zero = z;
			else if (z != zero)
				break;
			first = false;
			i += n;
		}
		if (zero) {
			if (h)
				sha256_bg_zeros(h, i - start);
		} else {
			int r = pwrite_all(fd, p + start, i - start, off + start);
			if (r < 0)
				return r;
			if (h)
				sha256_bg_feed(h, p + start, i - start);
			if (wf->sync) {
				if (!wf->unkicked)
					wf->kick_from = off + start;
				wf->unkicked += i - start;
				if (wf->unkicked >= WRITEBACK_KICK) {
					(void)sync_file_range(fd, (off_t)wf->kick_from,
							      (off_t)(off + i - wf->kick_from),
							      SYNC_FILE_RANGE_WRITE);
					wf->unkicked = 0;
				}
			}
		}
	}
	return 0;
}

static int write_file(struct xctx *x, struct archive *a, const char *path,
		      const struct bundle_file *f, struct berr *err)
{
	_cleanup_close_ int pfd = -1, fd = -1;
	const char *base;
	struct sha256_bg *h = NULL;
	char sha[SHA256_HEX_LEN + 1];
	uint64_t pos = 0;
	int r;

	if ((r = open_parent(x->dfd, path, true, &pfd, &base, err)) < 0)
		return r;
	fd = bundle_openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0644);
	if (fd < 0)
		return berr_set(err, -fd, "cannot create '%s': %s", path, strerror(-fd));
	if (!x->lim->no_file_sums && (r = sha256_bg_start(&h)) < 0)
		return berr_set(err, -r, "cannot start a sha256 digest");
	struct wfile wf = { .fd = fd, .h = h, .sync = !x->lim->no_sync };
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &len, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK) {
			r = archive_fail(x, a, err, path);
			goto out;
		}
		if (cancelled(x)) {
			r = berr_set(err, ECANCELED, "cancelled");
			goto out;
		}
		if (off < 0 || (uint64_t)off < pos || (uint64_t)off > f->size ||
		    len > f->size - (uint64_t)off) {
			r = berr_set(err, EBADMSG,
				     "bundle archive entry '%s' holds data beyond its %llu bytes", path,
				     (unsigned long long)f->size);
			goto out;
		}
		if ((uint64_t)off > pos && h)
			sha256_bg_zeros(h, (uint64_t)off - pos);
		r = write_sparse(&wf, buf, len, (uint64_t)off);
		if (r < 0) {
			r = berr_set(err, -r, "writing '%s': %s", path, strerror(-r));
			goto out;
		}
		pos = (uint64_t)off + len;
	}
	if (pos < f->size && h)
		sha256_bg_zeros(h, f->size - pos);
	if (ftruncate(fd, (off_t)f->size) < 0) {
		r = berr_set(err, errno, "writing '%s': %s", path, strerror(errno));
		goto out;
	}
	if (h) {
		sha256_bg_end(h, sha);
		h = NULL;
	} else {
		snprintf(sha, sizeof(sha), "%s", f->sha256); /* no_file_sums */
	}
	if (strcmp(sha, f->sha256) != 0) {
		r = berr_set(err, EBADMSG, "bundle file '%s' has sha256 %s, the manifest says %s", path,
			     sha, f->sha256);
		goto out;
	}
	if (!x->lim->no_sync && fsync(fd) < 0) {
		r = berr_set(err, errno, "writing '%s': %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	sha256_bg_abort(h);
	return r;
}

static int read_manifest(struct xctx *x, struct archive *a, struct archive_entry *e,
			 struct berr *err)
{
	const char *raw = archive_entry_pathname(e);
	char b[SHOWN_MAX];
	int r;

	if (raw && strncmp(raw, "./", 2) == 0)
		raw += 2;
	if (!raw || strcmp(raw, MANIFEST_NAME) != 0)
		return berr_set(err, EINVAL, "bundle archive starts with '%s', not manifest.json",
				raw ? shown_str(b, raw) : "(no name)");
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
		return berr_set(err, EINVAL, "bundle archive's manifest.json is not a regular file");
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) > (la_int64_t)MANIFEST_MAX_BYTES)
		return berr_set(err, EFBIG, "bundle archive's manifest.json is larger than %u bytes",
				MANIFEST_MAX_BYTES);
	size_t len = (size_t)archive_entry_size(e);
	_cleanup_free_ char *text = xmalloc(len + 1);
	size_t got = 0;
	while (got < len) {
		la_ssize_t n = archive_read_data(a, text + got, len - got);
		if (n < 0)
			return archive_fail(x, a, err, "manifest.json");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != len)
		return berr_set(err, EBADMSG, "bundle archive's manifest.json is truncated");
	if ((r = manifest_parse(text, len, 0, &x->m, err)) < 0)
		return berr_wrap(err, "bundle archive");
	if (x->lim->kind && strcmp(x->lim->kind, x->m->kind))
		return berr_set(err, EINVAL, "bundle is a%s %s, not a%s %s",
				x->m->kind[0] == 'i' ? "n" : "", x->m->kind,
				x->lim->kind[0] == 'i' ? "n" : "", x->lim->kind);
	if (x->lim->name && strcmp(x->lim->name, x->m->name))
		return berr_set(err, EINVAL, "bundle is named '%s', not '%s'", x->m->name,
				x->lim->name);
	uint64_t max = x->lim->max_unpacked ? x->lim->max_unpacked : BUNDLE_DEFAULT_MAX_UNPACKED;
	if (x->m->total_size > max)
		return berr_set(err, EFBIG,
				"bundle's manifest lists %llu bytes of files, more than the %llu allowed",
				(unsigned long long)x->m->total_size, (unsigned long long)max);
	x->seen = xcalloc(x->m->n_files ? x->m->n_files : 1, sizeof(bool));
	_cleanup_close_ int fd =
		bundle_openat(x->dfd, MANIFEST_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
	if (fd < 0 || pwrite_all(fd, (const unsigned char *)text, len, 0) < 0 ||
	    (!x->lim->no_sync && fsync(fd) < 0))
		return berr_set(err, fd < 0 ? -fd : errno, "cannot write manifest.json: %s",
				strerror(fd < 0 ? -fd : errno));
	return 0;
}

/* Is path a directory some listed file lives in? */
static bool implied_dir(const struct bundle_manifest *m, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < m->n_files; i++)
		if (strncmp(m->files[i].path, path, n) == 0 && m->files[i].path[n] == '/')
			return true;
	return false;
}

static const char *type_name(mode_t t)
{
	switch (t) {
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a fifo";
	case AE_IFSOCK: return "a socket";
	default: return "of an unknown type";
	}
}

static int extract_entry(struct xctx *x, struct archive *a, struct archive_entry *e,
			 struct berr *err)
{
	char path[MANIFEST_MAX_PATH + 2], b[SHOWN_MAX];
	const char *hl = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	const struct bundle_file *f;
	int r;

	if ((r = entry_path(archive_entry_pathname(e), path, sizeof(path), err)) < 0)
		return r;
	if (type == AE_IFDIR && !hl) {
		if (!implied_dir(x->m, path))
			return berr_set(err, EINVAL,
					"bundle archive entry '%s' is a directory manifest.json does not imply",
					path);
		_cleanup_close_ int pfd = -1;
		const char *base;
		if ((r = open_parent(x->dfd, path, true, &pfd, &base, err)) < 0)
			return r;
		if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
			return berr_set(err, errno, "cannot create directory '%s': %s", path,
					strerror(errno));
		return 0;
	}
	if (!hl && type != AE_IFREG && type != AE_IFLNK)
		return berr_set(err, EINVAL, "bundle archive entry '%s' is %s (refused)", path,
				type_name(type));
	char target[MANIFEST_MAX_PATH + 2];
	if (hl) {
		struct berr te = { 0 };
		if (entry_path(hl, target, sizeof(target), &te) < 0)
			return berr_set(err, EINVAL,
					"bundle archive entry '%s' is a hard link to '%s', outside the bundle",
					path, shown_str(b, hl));
	}
	f = manifest_find(x->m, path);
	if (!f)
		return berr_set(err, EINVAL, "bundle archive entry '%s' is not listed in manifest.json",
				path);
	size_t idx = (size_t)(f - x->m->files);
	if (x->seen[idx])
		return berr_set(err, EINVAL, "bundle archive holds '%s' twice", path);
	x->seen[idx] = true;
	if (hl) {
		const struct bundle_file *t = manifest_find(x->m, target);
		if (!t || t->symlink || !x->seen[t - x->m->files] || f->symlink ||
		    strcmp(t->sha256, f->sha256) != 0 || t->size != f->size)
			return berr_set(err, EINVAL,
					"bundle archive entry '%s' is a hard link to '%s', which is not an extracted file with the same sum",
					path, shown_str(b, hl));
		_cleanup_close_ int sfd = -1, dfd = -1;
		const char *sb, *db;
		if ((r = open_parent(x->dfd, target, false, &sfd, &sb, err)) < 0 ||
		    (r = open_parent(x->dfd, path, true, &dfd, &db, err)) < 0)
			return r;
		if (linkat(sfd, sb, dfd, db, 0) < 0)
			return berr_set(err, errno, "cannot link '%s': %s", path, strerror(errno));
		return 0;
	}
	if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		if (!f->symlink || !t || strcmp(t, f->symlink) != 0)
			return berr_set(err, EINVAL,
					"bundle archive entry '%s' is a symlink to '%s', which manifest.json does not list",
					path, t ? shown_str(b, t) : "");
		_cleanup_close_ int pfd = -1;
		const char *base;
		if ((r = open_parent(x->dfd, path, true, &pfd, &base, err)) < 0)
			return r;
		if (symlinkat(t, pfd, base) < 0)
			return berr_set(err, errno, "cannot create symlink '%s': %s", path,
					strerror(errno));
		return 0;
	}
	if (f->symlink)
		return berr_set(err, EINVAL,
				"bundle archive entry '%s' is a regular file, manifest.json says a symlink",
				path);
	if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
	    (uint64_t)archive_entry_size(e) != f->size)
		return berr_set(err, EFBIG,
				"bundle archive entry '%s' holds %lld bytes, the manifest says %llu (refused)",
				path, (long long)archive_entry_size(e), (unsigned long long)f->size);
	return write_file(x, a, path, f, err);
}

static int extract(struct xctx *x, const char *dir, struct berr *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r, ar;

	if (!a)
		return berr_set(err, ENOMEM, "out of memory");
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, x, NULL, src_read, NULL) != ARCHIVE_OK) {
		if (x->src_failed)
			r = archive_fail(x, a, err, "opening");
		else
			r = berr_set(err, EBADMSG, "bundle archive is not a zstd-compressed tar: %s",
				     archive_error_string(a) ? archive_error_string(a) : "unknown format");
		goto out;
	}
	ar = archive_read_next_header(a, &e);
	if (ar == ARCHIVE_EOF) {
		r = berr_set(err, EINVAL, "bundle archive is empty");
		goto out;
	}
	if (ar != ARCHIVE_OK) {
		r = archive_fail(x, a, err, "first entry");
		goto out;
	}
	if (archive_filter_count(a) < 2 || archive_filter_code(a, 0) != ARCHIVE_FILTER_ZSTD) {
		r = berr_set(err, EINVAL, "bundle archive is not zstd-compressed");
		goto out;
	}
	if ((r = read_manifest(x, a, e, err)) < 0)
		goto out;
	while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (cancelled(x)) {
			r = berr_set(err, ECANCELED, "cancelled");
			goto out;
		}
		if ((r = extract_entry(x, a, e, err)) < 0)
			goto out;
	}
	if (ar != ARCHIVE_EOF) {
		r = archive_fail(x, a, err, "reading an entry");
		goto out;
	}
	for (size_t i = 0; i < x->m->n_files; i++) {
		if (!x->seen[i]) {
			r = berr_set(err, EBADMSG, "manifest.json names '%s', which is absent from the archive",
				     x->m->files[i].path);
			goto out;
		}
	}
	/* The rest of the source (end-of-archive padding): read, so a caller
	 * hashing the stream sees all of it. */
	for (;;) {
		ssize_t n = x->src->read(x->src->opaque, x->buf, READ_CHUNK, &x->src_err);
		if (n < 0) {
			*err = x->src_err;
			r = -x->src_err.code;
			goto out;
		}
		if (n == 0)
			break;
	}
	if (!x->lim->no_sync && fsync(x->dfd) < 0) {
		r = berr_set(err, errno, "cannot sync %s: %s", dir, strerror(errno));
		goto out;
	}
	r = 0;
out:
	archive_read_free(a);
	return r;
}

int bundle_extract(const struct bundle_source *src, const char *dir,
		   const struct bundle_limits *lim, struct bundle_manifest **ret,
		   struct berr *err)
{
	static const struct bundle_limits none = { 0 };
	struct xctx x = { .src = src, .lim = lim ? lim : &none, .dfd = -1 };
	int r;

	if (mkdir(dir, 0700) < 0)
		return berr_set(err, errno, "cannot create %s: %s", dir, strerror(errno));
	x.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x.dfd < 0) {
		r = berr_set(err, errno, "cannot open %s: %s", dir, strerror(errno));
		rmdir(dir);
		return r;
	}
	x.buf = xmalloc(READ_CHUNK);
	r = extract(&x, dir, err);
	close(x.dfd);
	free(x.buf);
	free(x.seen);
	if (r < 0) {
		rm_rf(dir);
		manifest_free(x.m);
		return r;
	}
	if (ret)
		*ret = x.m;
	else
		manifest_free(x.m);
	return 0;
}

struct fd_src {
	int fd;
	const char *path;
};

static ssize_t fd_read(void *opaque, void *buf, size_t len, struct berr *err)
{
	struct fd_src *s = opaque;
	for (;;) {
		ssize_t n = read(s->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return berr_set(err, errno, "reading %s: %s", s->path, strerror(errno));
	}
}

int bundle_extract_file(const char *archive, const char *dir, const struct bundle_limits *lim,
			struct bundle_manifest **ret, struct berr *err)
{
	_cleanup_close_ int fd = open(archive, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", archive, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s is not a regular file", archive);
	struct fd_src s = { fd, archive };
	struct bundle_source src = { fd_read, &s };
	int r = bundle_extract(&src, dir, lim, ret, err);
	if (r < 0)
		return berr_wrap(err, "%s", archive);
	return 0;
}
