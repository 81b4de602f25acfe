/* core/publish.c: catalogs from local bundles (see publish.h). */
#define _GNU_SOURCE
#include "publish.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "catindex.h"
#include "util.h"

#define COPY_CHUNK (1u << 20)

/* ---- signing ------------------------------------------------------- */

int cat_sign(const char *key_path, const void *doc, size_t len, unsigned char sig[64],
	     struct berr *err)
{
	FILE *f = fopen(key_path, "re");
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 64;
	int r = 0;

	if (!f)
		return berr_set(err, errno, "cannot open signing key %s: %s", key_path,
				strerror(errno));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		return berr_set(err, EINVAL, "%s is not a PEM private key", key_path);
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		r = berr_set(err, EINVAL,
			     "%s is not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)",
			     key_path);
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, doc, len) != 1 || siglen != 64)
		r = berr_set(err, EIO, "signing with %s failed", key_path);
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return r;
}

/* ---- the files of a bundle directory ------------------------------- */

struct found {
	char *path;
	char *link;       /* symlink target, or NULL */
	uint64_t size;
};

struct walk {
	struct found *v;
	size_t n, cap;
};

static int walk_dir(int dfd, const char *dir, const char *rel, struct walk *w, struct berr *err)
{
	int fd = rel[0] ? bundle_openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
			: fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return berr_set(err, fd < 0 ? -fd : errno, "cannot open %s/%s", dir, rel);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;
	if (!d) {
		close(fd);
		return berr_set(err, errno, "cannot read %s/%s", dir, rel);
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue; /* ".", "..", .recipe, temp files */
		if (!rel[0] && strcmp(de->d_name, MANIFEST_NAME) == 0)
			continue;
		_cleanup_free_ char *p = rel[0] ? xasprintf("%s/%s", rel, de->d_name)
						: xstrdup(de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = berr_set(err, errno, "cannot stat %s/%s", dir, p);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			r = walk_dir(dfd, dir, p, w, err);
			continue;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			r = berr_set(err, EINVAL,
				     "%s/%s is neither a file, a directory nor a symlink: a bundle cannot hold it",
				     dir, p);
			break;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 16;
			w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
		}
		struct found *f = &w->v[w->n++];
		memset(f, 0, sizeof(*f));
		f->path = TAKE_PTR(p);
		f->size = (uint64_t)st.st_size;
		if (S_ISLNK(st.st_mode)) {
			char t[MANIFEST_MAX_PATH + 2];
			ssize_t n = readlinkat(dirfd(d), de->d_name, t, sizeof(t) - 1);
			if (n < 0) {
				r = berr_set(err, errno, "cannot read the symlink %s/%s", dir, f->path);
				break;
			}
			t[n] = '\0';
			f->link = xstrdup(t);
		}
	}
	closedir(d);
	return r;
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].path);
		free(w->v[i].link);
	}
	free(w->v);
}

static int cmp_found(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->path, ((const struct found *)b)->path);
}

/* ---- writing the archive ------------------------------------------- */

struct out {
	int fd;
	struct sha256 h;
	const char *path;
	int err;
};

static la_ssize_t out_write(struct archive *a, void *opaque, const void *buf, size_t len)
{
	struct out *o = opaque;
	const char *p = buf;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(o->fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			o->err = errno;
			archive_set_error(a, errno, "writing %s: %s", o->path, strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	sha256_feed(&o->h, buf, len);
	return (la_ssize_t)len;
}

static int add_entry(struct archive *a, const char *path, mode_t type, uint64_t size,
		     const char *link, struct berr *err)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFLNK ? 0777 : 0644);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)size : 0);
	if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_uname(e, "root");
	archive_entry_set_gname(e, "root");
	int ar = archive_write_header(a, e);
	archive_entry_free(e);
	if (ar != ARCHIVE_OK)
		return berr_set(err, EIO, "writing the archive entry %s: %s", path,
				archive_error_string(a));
	return 0;
}

static int add_file_data(struct archive *a, int dfd, const char *dir, const char *path,
			 uint64_t size, unsigned char *buf, struct berr *err)
{
	_cleanup_close_ int fd = bundle_openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0);
	uint64_t done = 0;
	if (fd < 0)
		return berr_set(err, -fd, "cannot open %s/%s: %s", dir, path, strerror(-fd));
	while (done < size) {
		size_t want = size - done < COPY_CHUNK ? (size_t)(size - done) : COPY_CHUNK;
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return berr_set(err, n < 0 ? errno : EIO, "reading %s/%s: %s", dir, path,
					n < 0 ? strerror(errno) : "it shrank while being packed");
		if (archive_write_data(a, buf, (size_t)n) != n)
			return berr_set(err, EIO, "writing the archive: %s", archive_error_string(a));
		done += (uint64_t)n;
	}
	return 0;
}

/* The manifest of the archive: the directory's own, with a files list. */
static int archive_manifest(int dfd, const char *dir, const struct bundle_manifest *verified,
			    const struct walk *w, char **ret_text, struct berr *err)
{
	json_t *doc = json_loads(verified->text, 0, NULL);
	json_t *files = json_array();
	char sha[SHA256_HEX_LEN + 1];
	int r;

	if (!doc || !files) {
		json_decref(doc);
		json_decref(files);
		return berr_set(err, EINVAL, "%s/manifest.json cannot be read again", dir);
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->v[i];
		if (f->link) {
			json_array_append_new(files, json_pack("{s:s, s:s}", "path", f->path,
							       "symlink", f->link));
			continue;
		}
		const struct bundle_file *bf = manifest_find(verified, f->path);
		if (bf) {
			memcpy(sha, bf->sha256, sizeof(sha));
		} else {
			_cleanup_close_ int fd = bundle_openat(dfd, f->path, O_RDONLY | O_NOFOLLOW, 0);
			if (fd < 0 || (r = sha256_fd(fd, sha, NULL, err)) < 0) {
				json_decref(doc);
				json_decref(files);
				return berr_set(err, fd < 0 ? -fd : EIO, "cannot read %s/%s", dir, f->path);
			}
		}
		json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "path", f->path, "size",
						       (json_int_t)f->size, "sha256", sha));
	}
	json_object_set_new(doc, "files", files);
	*ret_text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return *ret_text ? 0 : berr_set(err, ENOMEM, "out of memory");
}

int bundle_pack(const char *dir, const char *out, int level, int threads,
		char ret_sha[SHA256_HEX_LEN + 1], uint64_t *ret_size,
		struct bundle_manifest **ret_m, struct berr *err)
{
	struct bundle_manifest *verified = NULL, *m = NULL;
	struct walk w = { 0 };
	_cleanup_free_ char *text = NULL, *tmp = xasprintf("%s.tmp.%d", out, (int)getpid());
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ unsigned char *buf = NULL;
	struct archive *a = NULL;
	struct out o = { .fd = -1, .path = tmp };
	char opt[32];
	int r;

	if ((r = bundle_verify_dir(dir, &verified, err)) < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = berr_set(err, errno, "cannot open %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((r = walk_dir(dfd, dir, "", &w, err)) < 0)
		goto out;
	if (w.n)
		qsort(w.v, w.n, sizeof(*w.v), cmp_found);
	if ((r = archive_manifest(dfd, dir, verified, &w, &text, err)) < 0)
		goto out;
	if ((r = manifest_parse(text, strlen(text), 0, &m, err)) < 0) {
		berr_wrap(err, "%s cannot be published", dir);
		goto out;
	}
	o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o.fd < 0) {
		r = berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (sha256_begin(&o.h) < 0) {
		r = berr_set(err, ENOMEM, "cannot start a sha256 digest");
		goto out;
	}
	a = archive_write_new();
	archive_write_add_filter_zstd(a);
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	snprintf(opt, sizeof(opt), "%d", level > 0 ? level : 9);
	archive_write_set_filter_option(a, "zstd", "compression-level", opt);
	snprintf(opt, sizeof(opt), "%d", threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
	archive_write_set_filter_option(a, "zstd", "threads", opt); /* older libarchive: ignored */
	if (archive_write_open(a, &o, NULL, out_write, NULL) != ARCHIVE_OK) {
		r = berr_set(err, EIO, "cannot start the archive %s: %s", tmp, archive_error_string(a));
		goto out;
	}
	if ((r = add_entry(a, MANIFEST_NAME, AE_IFREG, strlen(text), NULL, err)) < 0)
		goto out;
	if (archive_write_data(a, text, strlen(text)) != (la_ssize_t)strlen(text)) {
		r = berr_set(err, EIO, "writing the archive: %s", archive_error_string(a));
		goto out;
	}
	buf = xmalloc(COPY_CHUNK);
	for (size_t i = 0; i < w.n; i++) {
		const struct found *f = &w.v[i];
		r = add_entry(a, f->path, f->link ? AE_IFLNK : AE_IFREG, f->size, f->link, err);
		if (r == 0 && !f->link)
			r = add_file_data(a, dfd, dir, f->path, f->size, buf, err);
		if (r < 0)
			goto out;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		r = berr_set(err, o.err ? o.err : EIO, "finishing the archive %s: %s", tmp,
			     archive_error_string(a));
		goto out;
	}
	if (fsync(o.fd) < 0 || close(TAKE_FD(o.fd)) < 0 || rename(tmp, out) < 0) {
		r = berr_set(err, errno, "cannot write %s: %s", out, strerror(errno));
		goto out;
	}
	*ret_size = o.h.bytes;
	sha256_end(&o.h, ret_sha);
	if (ret_m)
		*ret_m = TAKE_PTR(m);
	r = 0;
out:
	if (a)
		archive_write_free(a);
	sha256_abort(&o.h);
	if (o.fd >= 0) {
		close(o.fd);
		unlink(tmp);
	} else if (r < 0) {
		unlink(tmp);
	}
	walk_free(&w);
	manifest_free(verified);
	manifest_free(m);
	return r;
}

/* ---- the catalog --------------------------------------------------- */

static void plog(const struct publish_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void plog(const struct publish_opts *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->log(o->opaque, line);
}

/* Bundle directories named by the sources. */
static int collect(const struct publish_opts *o, char ***ret, size_t *ret_n, struct berr *err)
{
	char **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < o->n_sources; i++) {
		const char *src = o->sources[i];
		_cleanup_free_ char *mf = path_join(src, MANIFEST_NAME);
		if (access(mf, F_OK) == 0) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = xstrdup(src);
			continue;
		}
		bool any = false;
		const char *subs[] = { "kernels", "images" };
		for (size_t k = 0; k < ARRAY_SIZE(subs); k++) {
			_cleanup_free_ char *d = path_join(src, subs[k]);
			DIR *dir = opendir(d);
			struct dirent *de;
			if (!dir)
				continue;
			any = true;
			while ((de = readdir(dir))) {
				if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
					continue;
				_cleanup_free_ char *b = path_join(d, de->d_name);
				_cleanup_free_ char *bm = path_join(b, MANIFEST_NAME);
				if (access(bm, F_OK) < 0)
					continue;
				v = xrealloc(v, (n + 1) * sizeof(*v));
				v[n++] = TAKE_PTR(b);
			}
			closedir(dir);
		}
		if (!any) {
			for (size_t k = 0; k < n; k++)
				free(v[k]);
			free(v);
			return berr_set(err, ENOENT,
					"%s is neither a bundle (no manifest.json) nor a directory with kernels/ or images/",
					src);
		}
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static char *compact_version(const char *iso)
{
	char out[32];
	size_t k = 0;
	for (const char *p = iso; *p && k + 1 < sizeof(out); p++)
		if ((*p >= '0' && *p <= '9') || *p == 'T' || *p == 'Z')
			out[k++] = *p;
	out[k] = '\0';
	return k >= 8 ? xstrdup(out) : NULL;
}

static const char *jstr(json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

/* The index entry of a packed bundle (url relative to the catalog). */
static json_t *make_entry(const struct bundle_manifest *m, const char *version,
			  const char *arch, const char *rel, const char *sha, uint64_t size)
{
	json_t *doc = json_loads(m->text, 0, NULL);
	struct sbuf d;
	sbuf_init(&d);
	const char *desc = jstr(doc, "description");
	if (desc) {
		sbuf_puts(&d, desc);
	} else if (strcmp(m->kind, "image") == 0) {
		sbuf_printf(&d, "%s image", jstr(doc, "distro") ? jstr(doc, "distro") : m->name);
		if (jstr(doc, "source"))
			sbuf_printf(&d, " (%s)", jstr(doc, "source"));
	} else {
		sbuf_printf(&d, "%s kernel", jstr(doc, "distro") ? jstr(doc, "distro") : m->name);
		if (jstr(doc, "kernel_version"))
			sbuf_printf(&d, " %s", jstr(doc, "kernel_version"));
	}
	for (size_t i = 0; i < d.len; i++)
		if ((unsigned char)d.buf[i] < 0x20 || d.buf[i] == 0x7f)
			d.buf[i] = ' ';
	if (d.len > 512)
		d.buf[512] = '\0';
	json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "name", m->name,
			      "kind", m->kind, "version", version, "arch", arch, "description",
			      d.buf, "url", rel, "size", (json_int_t)size, "sha256", sha,
			      "unpacked_size", (json_int_t)m->total_size);
	if (strcmp(m->kind, "image") == 0) {
		const struct bundle_file *root = manifest_find(m, "rootfs.ext4");
		if (jstr(doc, "kernel"))
			json_object_set_new(e, "kernel", json_string(jstr(doc, "kernel")));
		json_object_set_new(e, "min_disk_size", json_integer((json_int_t)root->size));
	}
	sbuf_free(&d);
	json_decref(doc);
	return e;
}

static bool same_entry(json_t *a, json_t *b)
{
	return !strcmp(jstr(a, "kind") ?: "", jstr(b, "kind") ?: "") &&
	       !strcmp(jstr(a, "name") ?: "", jstr(b, "name") ?: "") &&
	       !strcmp(jstr(a, "arch") ?: "", jstr(b, "arch") ?: "");
}

static int cmp_entry(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(jstr(x, "kind") ?: "", jstr(y, "kind") ?: "");
	return c ? c : strcmp(jstr(x, "name") ?: "", jstr(y, "name") ?: "");
}

static int publish_one(const struct publish_opts *o, const char *dir, json_t *entries,
		       struct berr *err)
{
	_cleanup_free_ char *mtext = NULL, *mpath = path_join(dir, MANIFEST_NAME);
	char sha[SHA256_HEX_LEN + 1], arch[65] = "";
	uint64_t size = 0;
	struct bundle_manifest *m = NULL;
	struct utsname u;
	int r;

	if ((r = read_file(mpath, MANIFEST_MAX_BYTES, &mtext, NULL)) < 0)
		return berr_set(err, -r, "cannot read %s: %s", mpath, strerror(-r));
	json_t *doc = json_loads(mtext, 0, NULL);
	struct berr ne = { 0 };
	if (!jstr(doc, "name") || !bundle_main_file(jstr(doc, "kind")) ||
	    bundle_name_check(jstr(doc, "name"), &ne) < 0) {
		json_decref(doc);
		return berr_set(err, EINVAL, "%s: manifest.json needs a valid name and kind", dir);
	}
	_cleanup_free_ char *name = xstrdup(jstr(doc, "name"));
	_cleanup_free_ char *kind = xstrdup(jstr(doc, "kind"));
	_cleanup_free_ char *version = jstr(doc, "version") ? xstrdup(jstr(doc, "version"))
		: jstr(doc, "built_at") ? compact_version(jstr(doc, "built_at")) : NULL;
	if (!version) {
		struct stat st;
		char b[32];
		time_t t = stat(mpath, &st) == 0 ? st.st_mtime : time(NULL);
		strftime(b, sizeof(b), "%Y%m%dT%H%M%SZ", gmtime(&t));
		version = xstrdup(b);
	}
	if (jstr(doc, "arch"))
		snprintf(arch, sizeof(arch), "%s", jstr(doc, "arch"));
	else if (uname(&u) == 0)
		snprintf(arch, sizeof(arch), "%s", u.machine);
	_cleanup_free_ char *rel = xasprintf("%ss/%s-%s.tar.zst", kind, name, version);
	_cleanup_free_ char *out = path_join(o->out_dir, rel);
	_cleanup_free_ char *sub = xasprintf("%s/%ss", o->out_dir, kind);
	json_decref(doc);
	if ((r = mkdir_p(sub, 0755)) < 0)
		return berr_set(err, -r, "cannot create %s: %s", sub, strerror(-r));
	/* The same version already published, its archive intact: keep it. */
	size_t i;
	json_t *old;
	json_array_foreach(entries, i, old) {
		struct stat st;
		char have[SHA256_HEX_LEN + 1];
		if (strcmp(jstr(old, "kind") ?: "", kind) || strcmp(jstr(old, "name") ?: "", name) ||
		    strcmp(jstr(old, "arch") ?: "", arch) || strcmp(jstr(old, "url") ?: "", rel) ||
		    stat(out, &st) < 0 ||
		    (json_int_t)st.st_size != json_integer_value(json_object_get(old, "size")))
			continue;
		_cleanup_close_ int fd = open(out, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && sha256_fd(fd, have, NULL, err) == 0 &&
		    strcmp(have, jstr(old, "sha256") ?: "") == 0) {
			plog(o, "%s %s (%s) is published already: %s", kind, name, version, rel);
			return 0;
		}
	}
	plog(o, "packing %s %s (%s) from %s", kind, name, version, dir);
	if ((r = bundle_pack(dir, out, o->level, o->threads, sha, &size, &m, err)) < 0)
		return r;
	json_t *e = make_entry(m, version, arch, rel, sha, size);
	manifest_free(m);
	json_array_foreach(entries, i, old) {
		if (same_entry(old, e)) {
			json_array_remove(entries, i);
			break;
		}
	}
	json_array_append_new(entries, e);
	plog(o, "packed %s: %llu bytes, sha256 %s", rel, (unsigned long long)size, sha);
	return 0;
}

int catalog_publish(const struct publish_opts *o, struct berr *err)
{
	_cleanup_free_ char *ipath = path_join(o->out_dir, "index.json");
	_cleanup_free_ char *spath = path_join(o->out_dir, "index.json.sig");
	_cleanup_free_ char *stmp = NULL, *old = NULL, *text = NULL;
	char **dirs = NULL;
	size_t n = 0;
	json_t *entries = NULL;
	struct berr ve = { 0 };
	int r;

	if (!o->key_path && !o->allow_unsigned)
		return berr_set(err, EINVAL,
				"a signing key is needed (make one with: openssl genpkey -algorithm ed25519 -out KEY)");
	if (o->key_path) {
		unsigned char probe[64];
		if ((r = cat_sign(o->key_path, "", 0, probe, err)) < 0)
			return r;
	}
	if ((r = collect(o, &dirs, &n, err)) < 0)
		return r;
	if (n == 0) {
		r = berr_set(err, ENOENT, "no bundle to publish");
		goto out;
	}
	if ((r = mkdir_p(o->out_dir, 0755)) < 0) {
		r = berr_set(err, -r, "cannot create %s: %s", o->out_dir, strerror(-r));
		goto out;
	}
	/* Keep the entries of an existing catalog. */
	if (read_file(ipath, CAT_INDEX_MAX_BYTES, &old, NULL) == 0) {
		json_t *doc = json_loads(old, 0, NULL);
		entries = json_incref(json_object_get(doc, "entries"));
		json_decref(doc);
		if (!json_is_array(entries)) {
			json_decref(entries);
			r = berr_set(err, EINVAL, "%s exists but is not a catalog index", ipath);
			entries = NULL;
			goto out;
		}
	} else {
		entries = json_array();
	}
	for (size_t i = 0; i < n; i++)
		if ((r = publish_one(o, dirs[i], entries, err)) < 0)
			goto out;
	{
		size_t k = json_array_size(entries);
		json_t **v = xcalloc(k ? k : 1, sizeof(*v));
		for (size_t i = 0; i < k; i++)
			v[i] = json_incref(json_array_get(entries, i));
		qsort(v, k, sizeof(*v), cmp_entry);
		json_array_clear(entries);
		for (size_t i = 0; i < k; i++)
			json_array_append_new(entries, v[i]);
		free(v);
	}
	char when[32];
	time_t t = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_t *doc = json_pack("{s:i, s:s, s:O}", "format_version", CAT_FORMAT_VERSION,
				"generated_at", when, "entries", entries);
	{
		char *dumped = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		text = dumped ? xasprintf("%s\n", dumped) : NULL;
		free(dumped);
	}
	json_decref(doc);
	if (!text) {
		r = berr_set(err, ENOMEM, "out of memory");
		goto out;
	}
	{
		/* What clients will parse must parse. */
		_cleanup_free_ char *real = realpath(o->out_dir, NULL);
		_cleanup_free_ char *base = xasprintf("file://%s/index.json", real ? real : "/");
		struct cat_index *ix = NULL;
		if (cat_index_parse(text, strlen(text), base, &ix, &ve) < 0) {
			r = berr_set(err, EINVAL, "the new index would not be valid: %s", ve.msg);
			goto out;
		}
		cat_index_free(ix);
	}
	if (o->key_path) {
		unsigned char sig[64];
		if ((r = cat_sign(o->key_path, text, strlen(text), sig, err)) < 0)
			goto out;
		stmp = xasprintf("%s.new", spath);
		if ((r = write_file_atomic(stmp, sig, sizeof(sig), 0644)) < 0 ||
		    (rename(stmp, spath) < 0 && (r = -errno))) {
			r = berr_set(err, -r, "cannot write %s: %s", spath, strerror(-r));
			goto out;
		}
	} else {
		unlink(spath);
	}
	if ((r = write_file_atomic(ipath, text, strlen(text), 0644)) < 0) {
		r = berr_set(err, -r, "cannot write %s: %s", ipath, strerror(-r));
		goto out;
	}
	plog(o, "wrote %s (%zu entries)%s", ipath, json_array_size(entries),
	     o->key_path ? " and its signature" : ", unsigned");
	r = 0;
out:
	json_decref(entries);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	return r;
}
