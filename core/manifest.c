/* core/manifest.c: bundle manifests and directory bundle verification
 * (see manifest.h). */
#define _GNU_SOURCE
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

const char *bundle_main_file(const char *kind)
{
	if (kind && strcmp(kind, "image") == 0)
		return "rootfs.ext4";
	if (kind && strcmp(kind, "kernel") == 0)
		return "vmlinux";
	return NULL;
}

int bundle_name_check(const char *name, struct berr *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63)
		return berr_set(err, EINVAL, "bundle name must be 1-63 characters");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return berr_set(err, EINVAL,
					"bundle name '%.63s' may only use a-z, 0-9, '-', '.' and '_'",
					name);
	}
	if (name[0] == '.' || name[0] == '-')
		return berr_set(err, EINVAL, "bundle name '%s' cannot start with '%c'", name,
				name[0]);
	return 0;
}

static bool path_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._-+,=@~:", c) != NULL;
}

int manifest_path_check(const char *path, struct berr *err)
{
	char b[SHOWN_MAX];
	size_t n = strlen(path), depth = 0;

	if (n == 0)
		return berr_set(err, EINVAL, "an empty path");
	if (n > MANIFEST_MAX_PATH)
		return berr_set(err, EINVAL, "path '%s' is longer than %u bytes", shown_str(b, path),
				MANIFEST_MAX_PATH);
	if (path[0] == '/')
		return berr_set(err, EINVAL, "path '%s' is absolute", shown_str(b, path));
	for (const char *c = path; *c;) {
		const char *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (len == 0)
			return berr_set(err, EINVAL, "path '%s' has an empty component",
					shown_str(b, path));
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return berr_set(err, EINVAL, "path '%s' contains '%.*s'", shown_str(b, path),
					(int)len, c);
		for (size_t i = 0; i < len; i++)
			if (!path_char_ok(c[i]))
				return berr_set(err, EINVAL,
						"path '%s' contains a character outside A-Z a-z 0-9 . _ - + , = @ ~ :",
						shown_str(b, path));
		if (++depth > MANIFEST_MAX_DEPTH)
			return berr_set(err, EINVAL, "path '%s' is deeper than %u components",
					shown_str(b, path), MANIFEST_MAX_DEPTH);
		if (!e)
			break;
		if (e[1] == '\0')
			return berr_set(err, EINVAL, "path '%s' ends with '/'", shown_str(b, path));
		c = e + 1;
	}
	if (strcmp(path, MANIFEST_NAME) == 0)
		return berr_set(err, EINVAL, "path '%s' is the manifest itself", path);
	return 0;
}

/* Where symlink target t, placed at path p, leads, as a path relative to
 * the bundle ("" for its top); NULL when it leaves the bundle or has any
 * other shape than "../" repeated, then names without "." or "..": so
 * resolving it never passes through a directory it did not name. */
static char *symlink_resolve(const char *p, const char *t)
{
	size_t up = 0, depth = 0;
	const char *c = t;

	if (!*t || t[0] == '/' || strlen(t) > MANIFEST_MAX_PATH)
		return NULL;
	while (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0')) {
		up++;
		c += c[2] ? 3 : 2;
	}
	if (*c) {
		struct berr e;
		if (manifest_path_check(c, &e) < 0 && strcmp(c, MANIFEST_NAME) != 0)
			return NULL;
	}
	for (const char *q = p; (q = strchr(q, '/')); q++)
		depth++;
	if (up > depth)
		return NULL;
	/* keep the first (depth - up) components of p's directory */
	size_t keep = 0, n = depth - up;
	for (size_t i = 0; i < n; i++)
		keep += strcspn(p + keep, "/") + 1;
	if (!*c)
		return keep ? xasprintf("%.*s", (int)(keep - 1), p) : xstrdup("");
	return xasprintf("%.*s%s", (int)keep, p, c);
}

struct bundle_manifest *manifest_free(struct bundle_manifest *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].path);
		free(m->files[i].symlink);
	}
	free(m->files);
	free(m->name);
	free(m->kind);
	free(m->text);
	free(m);
	return NULL;
}

const struct bundle_file *manifest_find(const struct bundle_manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n_files; i++)
		if (strcmp(m->files[i].path, path) == 0)
			return &m->files[i];
	return NULL;
}

static int get_u64(json_t *v, uint64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int add_file(struct bundle_manifest *m, size_t *cap, const char *path)
{
	if (m->n_files == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		m->files = xrealloc(m->files, *cap * sizeof(*m->files));
	}
	struct bundle_file *f = &m->files[m->n_files++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	return 0;
}

static int parse_files(struct bundle_manifest *m, json_t *files, struct berr *err)
{
	size_t cap = 0, i;
	json_t *f;
	char b[SHOWN_MAX];

	if (!json_is_array(files))
		return berr_set(err, EINVAL, "manifest.json: files must be an array");
	if (json_array_size(files) > MANIFEST_MAX_FILES)
		return berr_set(err, EINVAL, "manifest.json: more than %u files",
				MANIFEST_MAX_FILES);
	json_array_foreach(files, i, f) {
		const char *key;
		json_t *v;
		if (!json_is_object(f))
			return berr_set(err, EINVAL, "manifest.json: files[%zu] is not an object", i);
		json_object_foreach(f, key, v) {
			if (strcmp(key, "path") && strcmp(key, "size") && strcmp(key, "sha256") &&
			    strcmp(key, "symlink"))
				return berr_set(err, EINVAL, "manifest.json: files[%zu] has unknown key '%s'",
						i, shown_str(b, key));
		}
		const char *path = json_string_value(json_object_get(f, "path"));
		if (!path)
			return berr_set(err, EINVAL, "manifest.json: files[%zu] has no path", i);
		struct berr pe = { 0 };
		if (manifest_path_check(path, &pe) < 0)
			return berr_set(err, EINVAL, "manifest.json: files[%zu]: %s", i, pe.msg);
		add_file(m, &cap, path);
		struct bundle_file *bf = &m->files[m->n_files - 1];
		json_t *link = json_object_get(f, "symlink");
		if (link) {
			const char *t = json_string_value(link);
			if (!t || json_object_get(f, "size") || json_object_get(f, "sha256"))
				return berr_set(err, EINVAL,
						"manifest.json: files[%zu] symlink needs a string target and no size or sha256",
						i);
			_cleanup_free_ char *to = symlink_resolve(path, t);
			if (!to)
				return berr_set(err, EINVAL,
						"manifest.json: symlink '%s' points outside the bundle", path);
			bf->symlink = xstrdup(t);
			continue;
		}
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		if (!sha)
			return berr_set(err, EINVAL, "manifest.json: file '%s' has no sha256", path);
		if (!sha256_hex_valid(sha))
			return berr_set(err, EINVAL,
					"manifest.json: sha256 of '%s' is not 64 lowercase hex digits", path);
		memcpy(bf->sha256, sha, SHA256_HEX_LEN + 1);
		if (get_u64(json_object_get(f, "size"), &bf->size) < 0)
			return berr_set(err, EINVAL,
					"manifest.json: file '%s' needs a size (a non-negative integer)", path);
		bf->has_size = true;
		if (bf->size > UINT64_MAX - m->total_size)
			return berr_set(err, EINVAL, "manifest.json: the sizes add up to more than 2^64");
		m->total_size += bf->size;
	}
	return 0;
}

/* The files of a manifest written before "files" existed. */
static int parse_legacy(struct bundle_manifest *m, json_t *doc, struct berr *err)
{
	static const struct { const char *key, *kind, *path; } sums[] = {
		{ "sha256", NULL, NULL },
		{ "initrd_sha256", "kernel", "initrd.img" },
		{ "modules_sha256", "kernel", "modules.tar.gz" },
	};
	size_t cap = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sums); i++) {
		json_t *v = json_object_get(doc, sums[i].key);
		if (sums[i].kind && strcmp(sums[i].kind, m->kind) != 0)
			continue;
		if (!v && i == 0)
			return berr_set(err, EINVAL,
					"manifest.json has neither a files list nor a sha256 of %s",
					bundle_main_file(m->kind));
		if (!v)
			continue;
		const char *sha = json_string_value(v);
		if (!sha256_hex_valid(sha))
			return berr_set(err, EINVAL,
					"manifest.json: %s is not 64 lowercase hex digits", sums[i].key);
		add_file(m, &cap, sums[i].path ? sums[i].path : bundle_main_file(m->kind));
		memcpy(m->files[m->n_files - 1].sha256, sha, SHA256_HEX_LEN + 1);
	}
	/* An image's "size" is its rootfs.ext4's apparent size. */
	uint64_t size;
	if (strcmp(m->kind, "image") == 0 && get_u64(json_object_get(doc, "size"), &size) == 0) {
		m->files[0].size = size;
		m->files[0].has_size = true;
		m->total_size = size;
	}
	m->legacy = true;
	return 0;
}

/* No two entries with one path; no entry below a file or a symlink; no
 * symlink whose target passes through another symlink. */
static int check_layout(const struct bundle_manifest *m, struct berr *err)
{
	for (size_t i = 0; i < m->n_files; i++) {
		if (!m->files[i].symlink)
			continue;
		_cleanup_free_ char *to = symlink_resolve(m->files[i].path, m->files[i].symlink);
		for (size_t j = 0; to && j < m->n_files; j++) {
			size_t l = strlen(m->files[j].path);
			if (m->files[j].symlink && strncmp(to, m->files[j].path, l) == 0 &&
			    to[l] == '/')
				return berr_set(err, EINVAL,
						"manifest.json: symlink '%s' leads through the symlink '%s'",
						m->files[i].path, m->files[j].path);
		}
	}
	for (size_t i = 0; i < m->n_files; i++) {
		const char *a = m->files[i].path;
		size_t la = strlen(a);
		for (size_t j = 0; j < m->n_files; j++) {
			const char *b = m->files[j].path;
			if (i == j)
				continue;
			if (i < j && strcmp(a, b) == 0)
				return berr_set(err, EINVAL, "manifest.json lists '%s' twice", a);
			if (strncmp(a, b, la) == 0 && b[la] == '/')
				return berr_set(err, EINVAL,
						"manifest.json lists '%s' below the file '%s'", b, a);
		}
	}
	return 0;
}

int manifest_parse(const char *text, size_t len, unsigned flags,
		   struct bundle_manifest **ret, struct berr *err)
{
	json_error_t jerr;
	json_t *doc = NULL;
	struct bundle_manifest *m = NULL;
	char b[SHOWN_MAX];
	int r;

	if (len > MANIFEST_MAX_BYTES)
		return berr_set(err, EFBIG, "manifest.json is larger than %u bytes",
				MANIFEST_MAX_BYTES);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return berr_set(err, EINVAL, "manifest.json:%d: invalid JSON: %s", jerr.line,
				jerr.text);
	if (!json_is_object(doc)) {
		r = berr_set(err, EINVAL, "manifest.json is not a JSON object");
		goto out;
	}
	const char *name = json_string_value(json_object_get(doc, "name"));
	const char *kind = json_string_value(json_object_get(doc, "kind"));
	if (!name || !kind) {
		r = berr_set(err, EINVAL, "manifest.json needs string fields name and kind");
		goto out;
	}
	if ((r = bundle_name_check(name, err)) < 0) {
		berr_wrap(err, "manifest.json");
		goto out;
	}
	if (!bundle_main_file(kind)) {
		r = berr_set(err, EINVAL, "manifest.json: kind must be image or kernel, not '%s'",
			     shown_str(b, kind));
		goto out;
	}
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->kind = xstrdup(kind);
	json_t *files = json_object_get(doc, "files");
	if (files)
		r = parse_files(m, files, err);
	else if (flags & MANIFEST_LEGACY)
		r = parse_legacy(m, doc, err);
	else
		r = berr_set(err, EINVAL, "manifest.json has no files list");
	if (r < 0)
		goto out;
	if ((r = check_layout(m, err)) < 0)
		goto out;
	const struct bundle_file *main_f = manifest_find(m, bundle_main_file(kind));
	if (!main_f || main_f->symlink) {
		r = berr_set(err, EINVAL, "manifest.json does not list %s as a regular file",
			     bundle_main_file(kind));
		goto out;
	}
	const char *top = json_string_value(json_object_get(doc, "sha256"));
	if (files && top && strcmp(top, main_f->sha256) != 0) {
		r = berr_set(err, EINVAL,
			     "manifest.json: sha256 disagrees with the files entry of %s",
			     main_f->path);
		goto out;
	}
	m->text = xmalloc(len + 1);
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	*ret = TAKE_PTR(m);
	r = 0;
out:
	manifest_free(m);
	json_decref(doc);
	return r;
}

int bundle_openat(int dirfd, const char *rel, int flags, unsigned mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC,
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

static int verify_file(int dfd, const char *dir, const struct bundle_file *f, struct berr *err)
{
	struct stat st;
	char sha[SHA256_HEX_LEN + 1];
	uint64_t size;

	if (f->symlink) {
		char t[MANIFEST_MAX_PATH + 2];
		int pfd = bundle_openat(dfd, f->path, O_PATH | O_NOFOLLOW, 0);
		if (pfd < 0)
			return berr_set(err, -pfd, "%s/%s: %s", dir, f->path, strerror(-pfd));
		ssize_t n = readlinkat(pfd, "", t, sizeof(t) - 1);
		int e = errno;
		close(pfd);
		if (n < 0)
			return berr_set(err, e == ENOENT ? EINVAL : e, "%s/%s is not a symlink", dir,
					f->path);
		t[n] = '\0';
		if (strcmp(t, f->symlink) != 0)
			return berr_set(err, EBADMSG, "%s/%s points to '%s', the manifest says '%s'", dir,
					f->path, t, f->symlink);
		return 0;
	}
	_cleanup_close_ int fd = bundle_openat(dfd, f->path, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0);
	if (fd == -ELOOP || fd == -EXDEV)
		return berr_set(err, ELOOP, "%s/%s is reached through a symlink (refused, not followed)",
				dir, f->path);
	if (fd == -ENOENT)
		return berr_set(err, ENOENT, "manifest.json names %s, which is absent from %s",
				f->path, dir);
	if (fd < 0)
		return berr_set(err, -fd, "cannot open %s/%s: %s", dir, f->path, strerror(-fd));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s/%s is not a regular file", dir, f->path);
	if (f->has_size && (uint64_t)st.st_size != f->size)
		return berr_set(err, EBADMSG, "%s/%s has %lld bytes, the manifest says %llu", dir,
				f->path, (long long)st.st_size, (unsigned long long)f->size);
	int r = sha256_fd(fd, sha, &size, err);
	if (r < 0)
		return berr_wrap(err, "reading %s/%s", dir, f->path);
	if (strcmp(sha, f->sha256) != 0)
		return berr_set(err, EBADMSG, "%s/%s has sha256 %s, the manifest says %s", dir,
				f->path, sha, f->sha256);
	return 0;
}

int bundle_verify_dir(const char *dir, struct bundle_manifest **ret, struct berr *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int mfd = -1;
	_cleanup_free_ char *text = NULL;
	struct bundle_manifest *m = NULL;
	struct stat st;
	int r;

	if (dfd < 0)
		return berr_set(err, errno, "cannot open bundle directory %s: %s", dir,
				strerror(errno));
	mfd = bundle_openat(dfd, MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0);
	if (mfd == -ELOOP)
		return berr_set(err, ELOOP, "%s/manifest.json is a symlink (refused, not followed)",
				dir);
	if (mfd < 0)
		return berr_set(err, -mfd, "cannot open %s/manifest.json: %s", dir, strerror(-mfd));
	if (fstat(mfd, &st) < 0 || !S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "%s/manifest.json is not a regular file", dir);
	if (st.st_size > (off_t)MANIFEST_MAX_BYTES)
		return berr_set(err, EFBIG, "%s/manifest.json is larger than %u bytes", dir,
				MANIFEST_MAX_BYTES);
	{
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
		r = read_file(path, MANIFEST_MAX_BYTES, &text, NULL);
		if (r < 0)
			return berr_set(err, -r, "cannot read %s/manifest.json: %s", dir, strerror(-r));
	}
	r = manifest_parse(text, strlen(text), MANIFEST_LEGACY, &m, err);
	if (r < 0)
		return berr_wrap(err, "%s", dir);
	if (m->legacy) {
		static const char *const summed[] = { "initrd.img", "modules.tar.gz" };
		for (size_t i = 0; i < ARRAY_SIZE(summed) && strcmp(m->kind, "kernel") == 0; i++) {
			if (!manifest_find(m, summed[i]) && faccessat(dfd, summed[i], F_OK,
								      AT_SYMLINK_NOFOLLOW) == 0) {
				r = berr_set(err, EINVAL, "%s/%s has no sum in manifest.json", dir,
					     summed[i]);
				goto out;
			}
		}
	}
	for (size_t i = 0; i < m->n_files; i++)
		if ((r = verify_file(dfd, dir, &m->files[i], err)) < 0)
			goto out;
	*ret = TAKE_PTR(m);
	r = 0;
out:
	manifest_free(m);
	return r;
}
