/* core/catalog.c: registering kernels and images.
 *
 * A bundle is a directory with manifest.json and its files (kernel:
 * vmlinux [+ initrd.img]; image: rootfs.ext4).  Import checks the
 * manifest and the sha256 of the main file, links or clones the files into
 * a temporary directory under the state dir, renames it into place and
 * only then inserts the record: a failure at any step leaves nothing
 * registered and nothing half-copied (leftovers of a crash are swept at
 * the next start). */
#define _GNU_SOURCE
#include "catalog.h"

#include "disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

#define MANIFEST_MAX (64 * 1024)

static const char *const image_builtin[] = { "debian-bookworm", "debian-bookworm-mini" };
static const char *const kernel_builtin[] = { "debian-cloud-amd64" };

/* What images/build.sh makes (docs/images.md). */
static const struct catalog_known recipes[] = {
	{ "debian-bookworm", "image", "buildable", "images/build.sh --golden", "debian-cloud-amd64" },
	{ "debian-bookworm-mini", "image", "buildable", "images/build.sh", "debian-cloud-amd64" },
};

/* Names of images and kernels: like VM names but '.' and '_' allowed. */
static int bundle_name_validate(const char *name, struct berr *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63)
		return berr_set(err, EINVAL, "bundle name must be 1-63 characters");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_'))
			return berr_set(err, EINVAL,
					"bundle name '%.63s' may only use a-z, 0-9, '-', '.' and '_'",
					name);
	}
	if (name[0] == '.' || name[0] == '-')
		return berr_set(err, EINVAL, "bundle name '%s' cannot start with '%c'", name,
				name[0]);
	return 0;
}

static int sha256_file(const char *path, char out[65], int64_t *ret_size, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	static char buf[1 << 20];
	static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
	int64_t total = 0;
	int r = 0;

	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return berr_set(err, ENOMEM, "cannot initialise sha256");
	}
	pthread_mutex_lock(&buf_lock);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = berr_set(err, errno, "reading %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += n;
	}
	pthread_mutex_unlock(&buf_lock);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	if (ret_size)
		*ret_size = total;
	return 0;
}

/* Link src to dst; clone when they live on different filesystems. */
static int place_file(const char *src, const char *dst, struct berr *err)
{
	if (link(src, dst) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return berr_set(err, errno, "cannot link %s: %s", src, strerror(errno));
	return disk_clone(src, dst, NULL, err);
}

static const char *kind_dir(const char *kind)
{
	return strcmp(kind, "kernel") == 0 ? "kernels" : "images";
}

int catalog_import(struct catalog *b, const char *dir, char *ret_name, size_t len,
		   struct berr *err)
{
	_cleanup_free_ char *mpath = path_join(dir, "manifest.json");
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *final = NULL, *tmp = NULL;
	json_t *m = NULL;
	json_error_t jerr;
	struct image_rec rec = { 0 };
	const char *main_file;
	char sha[65] = "";
	int64_t size = 0;
	int r;

	if (dir[0] != '/')
		return berr_set(err, EINVAL, "import needs an absolute path, not '%.200s'", dir);
	r = read_file(mpath, MANIFEST_MAX, &text, NULL);
	if (r < 0)
		return berr_set(err, -r, "cannot read %s: %s", mpath, strerror(-r));
	m = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!m || !json_is_object(m)) {
		r = berr_set(err, EINVAL, "%s:%d: invalid manifest: %s", mpath, jerr.line,
			     m ? "not a JSON object" : jerr.text);
		goto out;
	}
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *kind = json_string_value(json_object_get(m, "kind"));
	const char *want_sha = json_string_value(json_object_get(m, "sha256"));
	if (!name || !kind) {
		r = berr_set(err, EINVAL, "%s: manifest needs string fields name and kind", mpath);
		goto out;
	}
	if (strcmp(kind, "kernel") && strcmp(kind, "image")) {
		r = berr_set(err, EINVAL, "%s: kind must be kernel or image, not '%.32s'", mpath,
			     kind);
		goto out;
	}
	if ((r = bundle_name_validate(name, err)) < 0)
		goto out;
	main_file = strcmp(kind, "kernel") == 0 ? "vmlinux" : "rootfs.ext4";
	if (store_image_get_by_name(b->store, kind, name, &rec, NULL) == 0) {
		r = berr_set(err, EEXIST, "%s '%s' is already registered", kind, name);
		goto out;
	}
	{
		_cleanup_free_ char *src = path_join(dir, main_file);
		r = sha256_file(src, sha, &size, err);
		if (r < 0)
			goto out;
		if (want_sha && strcmp(want_sha, sha) != 0) {
			r = berr_set(err, EBADMSG, "%s: sha256 is %s but the manifest says %.64s",
				     src, sha, want_sha);
			goto out;
		}
	}

	final = xasprintf("%s/%s/%s", b->state_dir, kind_dir(kind), name);
	tmp = xasprintf("%s/%s/.import-%s", b->state_dir, kind_dir(kind), name);
	rm_rf(tmp);
	if (access(final, F_OK) == 0)
		rm_rf(final); /* unregistered leftover */
	if (mkdir(tmp, 0700) < 0) {
		r = berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	const char *files[] = { main_file, "initrd.img", "config" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *src = path_join(dir, files[i]);
		_cleanup_free_ char *dst = path_join(tmp, files[i]);
		if (i > 0 && access(src, F_OK) < 0)
			continue;
		if (i > 0 && strcmp(kind, "kernel") != 0)
			continue;
		if ((r = place_file(src, dst, err)) < 0)
			goto fail;
	}
	json_object_set_new(m, "imported_at", json_integer(now_ms() / 1000));
	json_object_set_new(m, "imported_from", json_string(dir));
	{
		_cleanup_free_ char *dump = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
		_cleanup_free_ char *dst = path_join(tmp, "manifest.json");
		if (!dump || (r = write_file_atomic(dst, dump, strlen(dump), 0600)) < 0) {
			r = berr_set(err, EIO, "cannot write %s", dst);
			goto fail;
		}
		if (rename(tmp, final) < 0) {
			r = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
			goto fail;
		}
		image_rec_clear(&rec);
		snprintf(rec.name, sizeof(rec.name), "%s", name);
		snprintf(rec.kind, sizeof(rec.kind), "%s", kind);
		snprintf(rec.state, sizeof(rec.state), "ready");
		snprintf(rec.sha256, sizeof(rec.sha256), "%s", sha);
		rec.dir = xstrdup(final);
		rec.manifest = xstrdup(dump);
		rec.size = size;
		rec.imported_at = now_ms();
		r = store_image_insert(b->store, &rec, err);
		if (r < 0) {
			rm_rf(final);
			goto out;
		}
	}
	if (ret_name)
		snprintf(ret_name, len, "%s", name);
	blog("%s %s imported from %s", kind, name, dir);
	r = 0;
	goto out;
fail:
	rm_rf(tmp);
out:
	json_decref(m);
	image_rec_clear(&rec);
	return r;
}

/* Remove directories under state/{images,kernels} that no record names. */
static void sweep(struct catalog *b, const char *kind)
{
	_cleanup_free_ char *d = xasprintf("%s/%s", b->state_dir, kind_dir(kind));
	DIR *dir = opendir(d);
	struct dirent *de;
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		struct image_rec rec = { 0 };
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_name[0] != '.' &&
		    store_image_get_by_name(b->store, kind, de->d_name, &rec, NULL) == 0) {
			image_rec_clear(&rec);
			continue;
		}
		_cleanup_free_ char *p = path_join(d, de->d_name);
		blog("removing unregistered %s directory %s", kind, p);
		rm_rf(p);
	}
	closedir(dir);
}

void catalog_scan(struct catalog *b)
{
	const char *kinds[] = { "kernel", "image" };
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		sweep(b, kinds[k]);
		_cleanup_free_ char *d = xasprintf("%s/%s", b->image_cache,
						   kind_dir(kinds[k]));
		DIR *dir = opendir(d);
		struct dirent *de;
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			struct image_rec rec = { 0 };
			struct berr e = { 0 };
			if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
				continue;
			if (store_image_get_by_name(b->store, kinds[k], de->d_name, &rec, NULL) == 0) {
				image_rec_clear(&rec);
				continue;
			}
			_cleanup_free_ char *p = path_join(d, de->d_name);
			_cleanup_free_ char *mf = path_join(p, "manifest.json");
			if (access(mf, F_OK) < 0)
				continue;
			if (catalog_import(b, p, NULL, 0, &e) < 0)
				blog("not importing %s: %s", p, e.msg);
		}
		closedir(dir);
	}
}

int catalog_default(struct catalog *b, const char *kind, char *ret, size_t len,
		    const char **ret_prov)
{
	const char *cfg = strcmp(kind, "image") == 0 ? b->default_image
						       : b->default_kernel;
	const char *const *chain = strcmp(kind, "image") == 0 ? image_builtin : kernel_builtin;
	size_t n = strcmp(kind, "image") == 0 ? ARRAY_SIZE(image_builtin)
					       : ARRAY_SIZE(kernel_builtin);
	if (cfg && *cfg) {
		snprintf(ret, len, "%s", cfg);
		*ret_prov = "config";
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct image_rec rec = { 0 };
		if (store_image_get_by_name(b->store, kind, chain[i], &rec, NULL) == 0) {
			image_rec_clear(&rec);
			snprintf(ret, len, "%s", chain[i]);
			*ret_prov = "builtin";
			return 0;
		}
	}
	/* Nothing registered: the first of the chain, which a recipe builds. */
	snprintf(ret, len, "%s", chain[0]);
	*ret_prov = "recipe";
	return 0;
}

static bool registered(struct catalog *c, const char *kind, const char *name)
{
	struct image_rec rec = { 0 };
	bool yes = store_image_get_by_name(c->store, kind, name, &rec, NULL) == 0;
	image_rec_clear(&rec);
	return yes;
}

size_t catalog_known(struct catalog *c, const char *kind, const struct catalog_known **ret,
		     int64_t *ret_ids, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(recipes) && n < cap; i++) {
		if (strcmp(recipes[i].kind, kind) != 0 || registered(c, kind, recipes[i].name))
			continue;
		ret[n] = &recipes[i];
		ret_ids[n] = CATALOG_KNOWN_ID + (int64_t)i;
		n++;
	}
	return n;
}

const struct catalog_known *catalog_known_get(struct catalog *c, const char *kind, int64_t id)
{
	int64_t i = id - CATALOG_KNOWN_ID;
	if (i < 0 || i >= (int64_t)ARRAY_SIZE(recipes) || strcmp(recipes[i].kind, kind) != 0 ||
	    registered(c, kind, recipes[i].name))
		return NULL;
	return &recipes[i];
}

int catalog_delete(struct catalog *b, int64_t id, struct berr *err)
{
	struct image_rec rec = { 0 };
	struct vm_rec *vms = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(b->lock);
	r = store_image_get(b->store, id, &rec, err);
	if (r < 0)
		goto out;
	r = store_vm_list(b->store, &vms, &n, err);
	if (r < 0)
		goto out;
	struct sbuf users;
	sbuf_init(&users);
	bool is_kernel = strcmp(rec.kind, "kernel") == 0;
	for (size_t i = 0; i < n; i++) {
		const char *ref = is_kernel ? vms[i].kernel : vms[i].image;
		if (strcmp(ref, rec.name) == 0)
			sbuf_printf(&users, "%s%s", users.len ? ", " : "", vms[i].name);
	}
	if (users.len) {
		r = berr_set(err, EBUSY, "%s '%s' is used by vm %s", rec.kind, rec.name, users.buf);
		sbuf_free(&users);
		goto out;
	}
	sbuf_free(&users);
	r = store_image_delete(b->store, id, err);
	if (r == 0) {
		rm_rf(rec.dir);
		blog("%s %s removed", rec.kind, rec.name);
	}
out:
	pthread_mutex_unlock(b->lock);
	vm_rec_array_free(vms, n);
	image_rec_clear(&rec);
	return r;
}
