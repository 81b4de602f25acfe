/* core/catalog.c: registering kernels and images (see catalog.h).
 *
 * Every bundle enters through catalog_register(): a directory import
 * (checked in place by bundle_verify_dir, its files linked or cloned), an
 * archive import (bundle_extract), a catalog pull (catpull.c) and an OCI
 * build (catoci.c) all leave a complete bundle in a temporary
 * dot-directory under the state dir first. */
#define _GNU_SOURCE
#include "catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "catindex.h"
#include "catjobs.h"
#include "catsync.h"
#include "disk.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

static const char *const image_builtin[] = { "debian-bookworm", "debian-bookworm-mini" };
static const char *const kernel_builtin[] = { "debian-cloud-amd64" };

/* What images/build.sh makes (docs/images.md). */
static const struct catalog_known recipes[] = {
	{ "debian-bookworm", "image", "buildable", "images/build.sh --golden", "debian-cloud-amd64" },
	{ "debian-bookworm-mini", "image", "buildable", "images/build.sh", "debian-cloud-amd64" },
};

/* One registration at a time: the check that a name is free, the rename
 * into place and the insert happen together. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint tmp_seq;

static const char *kind_dir(const char *kind)
{
	return strcmp(kind, "kernel") == 0 ? "kernels" : "images";
}

bool catalog_name_reserved(const char *name)
{
	return !strcmp(name, "ctl") || !strcmp(name, "catalogs") || !strcmp(name, "err");
}

static char *tmp_dir(struct catalog *c, const char *kind, const char *what)
{
	return xasprintf("%s/%s/.%s.%d.%u", c->state_dir, kind_dir(kind), what, (int)getpid(),
			 atomic_fetch_add(&tmp_seq, 1));
}

bool catalog_registered(struct catalog *c, const char *kind, const char *name)
{
	struct image_rec rec = { 0 };
	bool yes = store_image_get_by_name(c->store, kind, name, &rec, NULL) == 0;
	image_rec_clear(&rec);
	return yes;
}

bool catalog_listed(struct catalog *c, const char *kind, const char *name)
{
	struct cat_entry e = { 0 };
	bool yes = c->sync && catsync_lookup(c->sync, kind, name, &e, NULL) == 0;
	cat_entry_clear(&e);
	return yes;
}

/* ---- the one way in ------------------------------------------------- */

/* The record's sha256: the main file's from the files list, else the
 * legacy field, else none (an OCI image built here). */
static const char *main_sum(json_t *m, const char *main_file)
{
	json_t *files = json_object_get(m, "files"), *f;
	size_t i;
	json_array_foreach(files, i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		if (p && strcmp(p, main_file) == 0)
			return json_string_value(json_object_get(f, "sha256"));
	}
	return json_string_value(json_object_get(m, "sha256"));
}

int catalog_register(struct catalog *c, const char *dir, const char *from,
		     const char *want_kind, const char *want_name, char *ret_name, size_t len,
		     struct berr *err)
{
	_cleanup_free_ char *mpath = path_join(dir, MANIFEST_NAME);
	_cleanup_free_ char *text = NULL, *final = NULL, *dump = NULL, *main_path = NULL;
	struct image_rec rec = { 0 };
	json_error_t jerr;
	json_t *m = NULL;
	struct stat st;
	int r;

	{
		_cleanup_close_ int fd = open(mpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		char fdp[64];
		if (fd < 0)
			return berr_set(err, errno, "cannot open %s: %s", mpath, strerror(errno));
		snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
		if ((r = read_file(fdp, MANIFEST_MAX_BYTES, &text, NULL)) < 0)
			return berr_set(err, -r, "cannot read %s: %s", mpath, strerror(-r));
	}
	m = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!m || !json_is_object(m)) {
		r = berr_set(err, EINVAL, "%s:%d: invalid manifest: %s", mpath, jerr.line,
			     m ? "not a JSON object" : jerr.text);
		goto out;
	}
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *kind = json_string_value(json_object_get(m, "kind"));
	if (!name || !kind || !bundle_main_file(kind)) {
		r = berr_set(err, EINVAL, "%s: manifest needs a name and a kind (image or kernel)",
			     mpath);
		goto out;
	}
	if ((r = bundle_name_check(name, err)) < 0)
		goto out;
	if (catalog_name_reserved(name)) {
		r = berr_set(err, EINVAL, "'%s' cannot name an image or kernel (the tree's own file)",
			     name);
		goto out;
	}
	if ((want_kind && strcmp(want_kind, kind)) || (want_name && strcmp(want_name, name))) {
		r = berr_set(err, EINVAL, "%s: the bundle is %s '%s', not %s '%s'", mpath, kind, name,
			     want_kind ? want_kind : kind, want_name ? want_name : name);
		goto out;
	}
	main_path = path_join(dir, bundle_main_file(kind));
	if (lstat(main_path, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = berr_set(err, EINVAL, "%s is missing or not a regular file", main_path);
		goto out;
	}
	const char *sum = main_sum(m, bundle_main_file(kind));
	json_object_set_new(m, "imported_at", json_integer(now_ms() / 1000));
	json_object_set_new(m, "imported_from", json_string(from));
	dump = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!dump || (r = write_file_atomic(mpath, dump, strlen(dump), 0600)) < 0) {
		r = berr_set(err, EIO, "cannot write %s", mpath);
		goto out;
	}

	pthread_mutex_lock(&reg_lock);
	if (catalog_registered(c, kind, name)) {
		r = berr_set(err, EEXIST, "%s '%s' is already registered", kind, name);
		goto unlock;
	}
	final = xasprintf("%s/%s/%s", c->state_dir, kind_dir(kind), name);
	if (strcmp(final, dir) != 0) {
		if (access(final, F_OK) == 0)
			rm_rf(final); /* unregistered leftover: registrations hold reg_lock */
		if (rename(dir, final) < 0) {
			r = berr_set(err, errno, "cannot move %s to %s: %s", dir, final, strerror(errno));
			goto unlock;
		}
	}
	snprintf(rec.name, sizeof(rec.name), "%s", name);
	snprintf(rec.kind, sizeof(rec.kind), "%s", kind);
	snprintf(rec.state, sizeof(rec.state), "ready");
	snprintf(rec.sha256, sizeof(rec.sha256), "%s", sum && sha256_hex_valid(sum) ? sum : "");
	rec.dir = xstrdup(final);
	rec.manifest = xstrdup(dump);
	rec.size = st.st_size;
	rec.imported_at = now_ms();
	r = store_image_insert(c->store, &rec, err);
	if (r < 0)
		rm_rf(final);
unlock:
	pthread_mutex_unlock(&reg_lock);
	if (r == 0) {
		if (ret_name)
			snprintf(ret_name, len, "%s", name);
		blog("%s %s registered from %s", kind, name, from);
	}
out:
	json_decref(m);
	image_rec_clear(&rec);
	return r;
}

/* ---- directories and archives --------------------------------------- */

/* Link src to dst; clone when they live on different filesystems. */
static int place_file(const char *src, const char *dst, struct berr *err)
{
	if (link(src, dst) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return berr_set(err, errno, "cannot link %s: %s", src, strerror(errno));
	return disk_clone(src, dst, NULL, err);
}

/* The files m lists, from src into tmp; each placed copy is checked to be
 * the regular file of the listed size it was when verified. */
static int place_bundle(const char *src, const struct bundle_manifest *m, const char *tmp,
			struct berr *err)
{
	for (size_t i = 0; i < m->n_files; i++) {
		const struct bundle_file *f = &m->files[i];
		_cleanup_free_ char *from = path_join(src, f->path);
		_cleanup_free_ char *to = path_join(tmp, f->path);
		char *slash = strrchr(to, '/');
		struct stat st;
		int r;
		*slash = '\0';
		r = mkdir_p(to, 0755);
		*slash = '/';
		if (r < 0)
			return berr_set(err, -r, "cannot create the directory of %s: %s", to,
					strerror(-r));
		if (f->symlink) {
			if (symlink(f->symlink, to) < 0)
				return berr_set(err, errno, "cannot create %s: %s", to, strerror(errno));
			continue;
		}
		if ((r = place_file(from, to, err)) < 0)
			return r;
		if (lstat(to, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (f->has_size && (uint64_t)st.st_size != f->size))
			return berr_set(err, EBADMSG, "%s changed while it was being imported", from);
	}
	return 0;
}

int catalog_import(struct catalog *c, const char *dir, char *ret_name, size_t len,
		   struct berr *err)
{
	struct bundle_manifest *m = NULL;
	_cleanup_free_ char *tmp = NULL, *mpath = NULL;
	int r;

	if (dir[0] != '/')
		return berr_set(err, EINVAL, "import needs an absolute path, not '%.200s'", dir);
	if ((r = bundle_verify_dir(dir, &m, err)) < 0)
		return r;
	if (catalog_name_reserved(m->name)) {
		r = berr_set(err, EINVAL, "'%s' cannot name an image or kernel (the tree's own file)",
			     m->name);
		goto out;
	}
	if (catalog_registered(c, m->kind, m->name)) {
		r = berr_set(err, EEXIST, "%s '%s' is already registered", m->kind, m->name);
		goto out;
	}
	tmp = tmp_dir(c, m->kind, "import");
	if (mkdir(tmp, 0700) < 0) {
		r = berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	mpath = path_join(tmp, MANIFEST_NAME);
	if ((r = place_bundle(dir, m, tmp, err)) < 0 ||
	    (r = write_file_atomic(mpath, m->text, strlen(m->text), 0600)) < 0 ||
	    (r = catalog_register(c, tmp, dir, m->kind, m->name, ret_name, len, err)) < 0) {
		if (r < 0 && !err->msg[0])
			berr_set(err, -r, "cannot write %s: %s", mpath, strerror(-r));
		rm_rf(tmp);
	}
out:
	manifest_free(m);
	return r;
}

int catalog_import_archive(struct catalog *c, const char *file, char *ret_name, size_t len,
			   struct berr *err)
{
	struct bundle_limits lim = { 0 };
	_cleanup_free_ char *tmp = NULL;
	int r;

	if (file[0] != '/')
		return berr_set(err, EINVAL, "import needs an absolute path, not '%.200s'", file);
	/* The kind is known once the manifest is read: extract under images/
	 * (the same filesystem as kernels/), register moves it. */
	tmp = tmp_dir(c, "image", "import");
	if ((r = bundle_extract_file(file, tmp, &lim, NULL, err)) < 0)
		return berr_wrap(err, "%s", file);
	if ((r = catalog_register(c, tmp, file, NULL, NULL, ret_name, len, err)) < 0)
		rm_rf(tmp);
	return r;
}

int catalog_import_path(struct catalog *c, const char *path, char *ret_name, size_t len,
			struct berr *err)
{
	size_t n = strlen(path);
	if (n > 8 && strcmp(path + n - 8, ".tar.zst") == 0)
		return catalog_import_archive(c, path, ret_name, len, err);
	return catalog_import(c, path, ret_name, len, err);
}

/* ---- start: sweep, scan --------------------------------------------- */

/* Remove directories under state/{images,kernels} that no record names. */
static void sweep(struct catalog *c, const char *kind)
{
	_cleanup_free_ char *d = xasprintf("%s/%s", c->state_dir, kind_dir(kind));
	DIR *dir = opendir(d);
	struct dirent *de;
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_name[0] != '.' && catalog_registered(c, kind, de->d_name))
			continue;
		_cleanup_free_ char *p = path_join(d, de->d_name);
		blog("removing unregistered %s directory %s", kind, p);
		rm_rf(p);
	}
	closedir(dir);
}

void catalog_sweep(struct catalog *c)
{
	sweep(c, "kernel");
	sweep(c, "image");
}

/* The name a bundle directory of the image cache stands for: its own
 * name when it is a valid one (the manifest may be what is broken). */
static void scan_failed(struct catalog *c, const char *kind, const char *name,
			const char *dir, const struct berr *e)
{
	struct catjob *jr;
	if (bundle_name_check(name, NULL) < 0 || catalog_name_reserved(name) ||
	    !(jr = catjobs_get(c->jobs, kind, name)))
		return;
	pthread_mutex_lock(&c->jobs->lock);
	if (jr->state != CJS_RUNNING) { /* a pull or build of that name goes on */
		jr->type = CJ_IMPORT;
		jr->state = CJS_FAILED;
		jr->errnum = e->code > 0 ? e->code : EIO;
		snprintf(jr->source, sizeof(jr->source), "%s", dir);
		snprintf(jr->err, sizeof(jr->err), "%s", e->msg);
	}
	pthread_mutex_unlock(&c->jobs->lock);
}

/* A later scan imported it, or it is registered some other way. */
static void scan_settled(struct catalog *c, const char *kind, const char *name)
{
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	if (!jr)
		return;
	pthread_mutex_lock(&c->jobs->lock);
	if (jr->type == CJ_IMPORT && jr->state == CJS_FAILED) {
		jr->type = CJ_NONE;
		jr->state = CJS_IDLE;
		jr->err[0] = '\0';
	}
	pthread_mutex_unlock(&c->jobs->lock);
}

int catalog_scan(struct catalog *c, struct berr *err)
{
	const char *kinds[] = { "kernel", "image" };
	int failed = 0;
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", c->image_cache, kind_dir(kinds[k]));
		DIR *dir = opendir(d);
		struct dirent *de;
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			struct berr e = { 0 };
			if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp"))
				continue;
			if (catalog_registered(c, kinds[k], de->d_name)) {
				scan_settled(c, kinds[k], de->d_name);
				continue;
			}
			_cleanup_free_ char *p = path_join(d, de->d_name);
			_cleanup_free_ char *mf = path_join(p, MANIFEST_NAME);
			if (access(mf, F_OK) < 0)
				continue;
			int r = catalog_import(c, p, NULL, 0, &e);
			if (r == -EEXIST) { /* its manifest names a registered one */
				blog("not importing %s: %s", p, e.msg);
				continue;
			}
			if (r == 0) {
				scan_settled(c, kinds[k], de->d_name);
				continue;
			}
			if (!e.msg[0])
				berr_set(&e, EIO, "import failed");
			blog("not importing %s: %s", p, e.msg);
			scan_failed(c, kinds[k], de->d_name, p, &e);
			if (failed++ == 0)
				berr_set(err, e.code > 0 ? e.code : EIO,
					 "%s '%s' in the image cache was not imported: %s", kinds[k],
					 de->d_name, e.msg);
		}
		closedir(dir);
	}
	if (failed > 1)
		berr_wrap(err, "%d bundles of the image cache were not imported (see doctor)", failed);
	return failed;
}

void catalog_doctor(struct catalog *c, struct sbuf *out)
{
	pthread_mutex_lock(&c->jobs->lock);
	for (size_t i = 0; i < c->jobs->n; i++) {
		const struct catjob *jr = c->jobs->v[i];
		if (jr->type == CJ_IMPORT && jr->state == CJS_FAILED && !jr->hidden)
			sbuf_printf(out, "fail import %s '%s' from %s: %s (fix it, then echo rescan "
				    "> ctl)\n", jr->kind, jr->name, jr->source, jr->err);
	}
	pthread_mutex_unlock(&c->jobs->lock);
}

/* ---- defaults, recipes, what is missing ------------------------------ */

int catalog_default(struct catalog *c, const char *kind, char *ret, size_t len,
		    const char **ret_prov)
{
	bool image = strcmp(kind, "image") == 0;
	const char *cfg = image ? c->default_image : c->default_kernel;
	const char *const *chain = image ? image_builtin : kernel_builtin;
	size_t n = image ? ARRAY_SIZE(image_builtin) : ARRAY_SIZE(kernel_builtin);
	if (cfg && *cfg) {
		snprintf(ret, len, "%s", cfg);
		*ret_prov = "config";
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (catalog_registered(c, kind, chain[i])) {
			snprintf(ret, len, "%s", chain[i]);
			*ret_prov = "builtin";
			return 0;
		}
	}
	/* Nothing registered: the first a catalog offers, else the first of
	 * the chain, which a recipe builds. */
	for (size_t i = 0; i < n && c->sync; i++) {
		if (catalog_listed(c, kind, chain[i])) {
			snprintf(ret, len, "%s", chain[i]);
			*ret_prov = "catalog";
			return 0;
		}
	}
	snprintf(ret, len, "%s", chain[0]);
	*ret_prov = "recipe";
	return 0;
}

const struct catalog_known *catalog_recipe(const char *kind, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(recipes); i++)
		if (!strcmp(recipes[i].kind, kind) && !strcmp(recipes[i].name, name))
			return &recipes[i];
	return NULL;
}

size_t catalog_recipes(const char *kind, const struct catalog_known **ret, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(recipes) && n < cap; i++)
		if (strcmp(recipes[i].kind, kind) == 0)
			ret[n++] = &recipes[i];
	return n;
}

int catalog_missing(struct catalog *c, const char *kind, const char *name, struct berr *err)
{
	const struct catalog_known *k = catalog_recipe(kind, name);
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	struct catjob snap;
	if (jr) {
		catjobs_snapshot(c->jobs, jr, &snap);
		if (snap.type == CJ_IMPORT && snap.state == CJS_FAILED)
			return berr_set(err, snap.errnum, "%s '%s' is not registered: importing it "
					"from %s failed: %s", kind, name, snap.source, snap.err);
	}
	if (catalog_listed(c, kind, name))
		return berr_set(err, ENOENT, "%s '%s' is not pulled yet: run 'banger %s pull %s' "
				"(or echo pull > %ss/%s/ctl)", kind, name, kind, name, kind, name);
	if (k)
		return berr_set(err, ENOENT, "%s '%s' is not built yet: run 'banger image build %s' "
				"(or %s, then import it; see %ss/%s/status)",
				kind, name, name, k->build, kind, name);
	if (c->sync)
		return berr_set(err, ENOENT, "no %s named '%s' is registered, and no catalog lists "
				"it (see %ss/ and %s)", kind, name, kind, "images/catalogs");
	return berr_set(err, ENOENT, "no %s named '%s' is registered (see %ss/)", kind, name, kind);
}

void catalog_image_init(struct catalog *c, const char *name, char *ret, size_t len)
{
	struct image_rec rec = { 0 };
	ret[0] = '\0';
	if (store_image_get_by_name(c->store, "image", name, &rec, NULL) < 0)
		return;
	json_t *m = rec.manifest ? json_loads(rec.manifest, 0, NULL) : NULL;
	const char *init = json_string_value(json_object_get(m, "init"));
	bool ok = init && init[0] == '/' && strlen(init) < len && strlen(init) <= 128 &&
		  !strstr(init, "/../") && !strstr(init, "//");
	for (const char *p = init; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || strchr("/._-", *p);
	if (ok)
		snprintf(ret, len, "%s", init);
	else if (init)
		blog("image %s: ignoring its manifest's init '%.64s' (not a plain absolute path)",
		     name, init);
	json_decref(m);
	image_rec_clear(&rec);
}

int catalog_delete(struct catalog *c, int64_t id, struct berr *err)
{
	struct image_rec rec = { 0 };
	struct vm_rec *vms = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(c->lock);
	r = store_image_get(c->store, id, &rec, err);
	if (r < 0)
		goto out;
	r = store_vm_list(c->store, &vms, &n, err);
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
	r = store_image_delete(c->store, id, err);
	if (r == 0) {
		rm_rf(rec.dir);
		blog("%s %s removed", rec.kind, rec.name);
	}
out:
	pthread_mutex_unlock(c->lock);
	vm_rec_array_free(vms, n);
	image_rec_clear(&rec);
	return r;
}
