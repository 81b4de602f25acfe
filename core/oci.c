/* core/oci.c: oci_pull and oci_import_layout (see oci.h).
 *
 * Both follow the same steps, with blobs coming either from a registry
 * (ociregistry.c) or from a layout's blobs/ directory:
 *   1. resolve: the manifest (HEAD by tag first; a manifest already in the
 *      cache is not fetched again), the index entry for linux/amd64, the
 *      config; every document checked against its digest;
 *   2. fetch: every layer into the blob cache (skipped when cached);
 *   3. scan: every layer read once for its diff_id and its size bounds
 *      (remembered in the cache by blob digest, so a warm pull skips it);
 *      diff_ids compared with the config's;
 *   4. apply: an ext4 sized from the scans is built in BUNDLE.tmp-XXXXXX,
 *      layers oldest first; should the bounds still prove short, it is
 *      built again twice as large (twice at most);
 *   5. manifest.json, then the rename to BUNDLE. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "ociint.h"
#include "util.h"

#define AUTH_FILE_MAX (1u << 20)
#define STATS_MAX 4096
#define BUILD_ATTEMPTS 3

const char *oci_phase_name(enum oci_phase p)
{
	static const char *const names[] = { "resolve", "fetch", "scan", "apply", "done" };

	return (unsigned)p < ARRAY_SIZE(names) ? names[p] : "?";
}

/* Where blobs come from. */
struct source {
	struct oci_registry *reg; /* a registry, or */
	const char *layout;       /* a layout directory */
};

struct job {
	const struct oci_opts *o;
	struct oci_cache cache;
	struct source src;
	char source_ref[700];     /* for manifest.json */
	char manifest_digest[OCI_DIGEST_LEN + 1];
	struct oci_manifest m;
	struct oci_config cfg;
	struct oci_layer_stats *stats;
	struct oci_progress p;
	uint64_t max_size;
	char agent_sha256[65];    /* of the agent injected as /.banger/agent, or "" */
};

static void report(struct job *j, enum oci_phase ph, unsigned layer, const char *digest,
		   uint64_t done, uint64_t total, bool cached)
{
	if (!j->o->progress)
		return;
	j->p.phase = ph;
	j->p.layer = layer;
	j->p.layers = (unsigned)(j->m.kind == OCI_M_IMAGE ? j->m.n : 0);
	j->p.digest = digest;
	j->p.done = done;
	j->p.total = total;
	j->p.cached = cached;
	j->o->progress(&j->p, j->o->progress_ctx);
}

static bool cancelled(const struct job *j)
{
	return j->o->cancel && atomic_load(j->o->cancel);
}

/* --- blobs --- */

static int copy_from_layout(struct job *j, const struct oci_desc *d, struct oci_blob_writer *w,
			    struct berr *err)
{
	_cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", j->src.layout, d->digest + 7);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = xmalloc(1 << 20);
	int64_t last = 0;

	if (fd < 0)
		return oci_err(err, errno, "the layout has no blob %s: %s", d->digest,
				strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return oci_err(err, errno, "reading %s failed: %s", path, strerror(errno));
		if (n == 0)
			return 0;
		int r = oci_blob_writer_write(w, buf, (size_t)n, err);
		if (r < 0)
			return r;
		if (cancelled(j))
			return oci_err(err, ECANCELED, "the import was cancelled");
		if (j->o->progress && mono_ms() - last >= 100) {
			last = mono_ms();
			j->p.done = oci_blob_writer_bytes(w);
			j->o->progress(&j->p, j->o->progress_ctx);
		}
	}
}

/* Make sure blob d is in the cache.  layer: its 1-based index for
 * progress, 0 for documents. */
static int ensure_blob(struct job *j, const struct oci_desc *d, unsigned layer, struct berr *err)
{
	_cleanup_free_ char *path = oci_blob_path(&j->cache, d->digest);
	struct oci_blob_writer *w = NULL;
	struct stat st;
	int lock, r;

	if (stat(path, &st) == 0 && (uint64_t)st.st_size == d->size) {
		report(j, OCI_PHASE_FETCH, layer, d->digest, d->size, d->size, true);
		return 0;
	}
	lock = oci_blob_lock(&j->cache, d->digest, j->o->cancel, err);
	if (lock < 0)
		return lock;
	/* Another import may have fetched it while we waited. */
	if (stat(path, &st) == 0 && (uint64_t)st.st_size == d->size) {
		unlock_close(lock);
		report(j, OCI_PHASE_FETCH, layer, d->digest, d->size, d->size, true);
		return 0;
	}
	report(j, OCI_PHASE_FETCH, layer, d->digest, 0, d->size, false);
	r = oci_blob_writer_open(&j->cache, d, &w, err);
	if (r == 0)
		r = j->src.reg ? oci_registry_blob(j->src.reg, d, w, &j->p, err)
			       : copy_from_layout(j, d, w, err);
	if (r == 0)
		r = oci_blob_writer_commit(w, err);
	oci_blob_writer_free(w);
	unlock_close(lock);
	if (r == 0)
		report(j, OCI_PHASE_FETCH, layer, d->digest, d->size, d->size, false);
	return r;
}

/* A manifest or config by descriptor, through the cache. */
static int get_document(struct job *j, const struct oci_desc *d, size_t max, char **ret,
			size_t *ret_len, struct berr *err)
{
	if (d->size > max)
		return oci_err(err, EFBIG, "%s is %llu bytes, more than the limit of %zu", d->digest,
				(unsigned long long)d->size, max);
	int r = ensure_blob(j, d, 0, err);
	return r < 0 ? r : oci_blob_read(&j->cache, d->digest, max, ret, ret_len, err);
}

/* --- resolving --- */

/* The manifest of reference (tag or digest) from the registry: HEAD
 * first, so a manifest already cached costs no GET. */
static int registry_manifest(struct job *j, const struct oci_ref *ref, char **ret, size_t *ret_len,
			     char ctype[128], struct berr *err)
{
	char want[OCI_DIGEST_LEN + 1] = "", got[OCI_DIGEST_LEN + 1];
	const char *reference = ref->digest[0] ? ref->digest : ref->tag;
	int r;

	ctype[0] = '\0';
	if (ref->digest[0]) {
		memcpy(want, ref->digest, sizeof(want));
	} else {
		r = oci_registry_head(j->src.reg, ref->tag, want, err);
		if (r < 0)
			return r;
	}
	if (want[0]) {
		_cleanup_free_ char *path = oci_blob_path(&j->cache, want);
		if (access(path, F_OK) == 0 &&
		    oci_blob_read(&j->cache, want, OCI_MANIFEST_MAX, ret, ret_len, err) == 0) {
			memcpy(j->manifest_digest, want, sizeof(want));
			return 0;
		}
	}
	r = oci_registry_manifest(j->src.reg, want[0] ? want : reference, ret, ret_len, ctype, got,
				  err);
	if (r < 0)
		return r;
	if (want[0] && strcmp(want, got)) {
		free(*ret);
		return oci_err(err, EBADMSG, "the registry sent a manifest with digest %s for %s", got,
				want);
	}
	struct oci_desc d = { .size = *ret_len };
	memcpy(d.digest, got, sizeof(got));
	memcpy(j->manifest_digest, got, sizeof(got));
	r = oci_blob_put(&j->cache, &d, *ret, *ret_len, err);
	if (r < 0)
		free(*ret);
	return r;
}

/* From an index (or an image manifest), the image manifest for
 * linux/amd64 into j->m. */
static int resolve_platform(struct job *j, char *body, size_t len, const char *ctype,
			    struct berr *err)
{
	struct oci_manifest idx;
	size_t i;
	int r = oci_manifest_parse(body, len, ctype, j->o->max_layers ? j->o->max_layers : OCI_MAX_LAYERS,
				   &idx, err);

	if (r < 0)
		return r;
	if (idx.kind == OCI_M_IMAGE) {
		j->m = idx;
		return 0;
	}
	r = oci_index_pick(&idx, "linux", "amd64", &i, err);
	if (r == 0) {
		struct oci_desc d = idx.items[i];
		_cleanup_free_ char *sub = NULL;
		size_t sublen = 0;
		r = get_document(j, &d, OCI_MANIFEST_MAX, &sub, &sublen, err);
		if (r == 0)
			r = oci_manifest_parse(sub, sublen, d.media_type,
					       j->o->max_layers ? j->o->max_layers : OCI_MAX_LAYERS,
					       &j->m, err);
		if (r == 0 && j->m.kind != OCI_M_IMAGE) {
			oci_manifest_free(&j->m);
			r = oci_err(err, ENOTSUP, "the image index points at another index");
		}
		if (r == 0)
			memcpy(j->manifest_digest, d.digest, sizeof(d.digest));
	}
	oci_manifest_free(&idx);
	return r;
}

static int resolve_config(struct job *j, struct berr *err)
{
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int r = get_document(j, &j->m.config, OCI_CONFIG_MAX, &body, &len, err);

	if (r < 0)
		return r;
	r = oci_config_parse(body, len, &j->cfg, err);
	if (r < 0)
		return r;
	if ((j->cfg.os[0] && strcmp(j->cfg.os, "linux")) ||
	    (j->cfg.arch[0] && strcmp(j->cfg.arch, "amd64")))
		return oci_err(err, ENOTSUP, "the image is for %s/%s; banger runs linux/amd64",
				j->cfg.os, j->cfg.arch);
	if (j->cfg.n_diff_ids != j->m.n)
		return oci_err(err, EINVAL,
				"the manifest has %zu layers but the image config lists %zu diff_ids",
				j->m.n, j->cfg.n_diff_ids);
	return 0;
}

/* --- scan results, cached by blob digest --- */

static int stats_load(struct job *j, const char *digest, struct oci_layer_stats *st)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.json", j->cache.stats, digest + 7);
	_cleanup_free_ char *text = NULL;
	json_t *o;
	int r = -ENOENT;

	if (read_file(path, STATS_MAX, &text, NULL) < 0)
		return -ENOENT;
	o = json_loads(text, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "diff_id"));
	json_t *v[4] = { json_object_get(o, "entries"), json_object_get(o, "inodes"),
			 json_object_get(o, "blocks"), json_object_get(o, "bytes") };
	if (json_integer_value(json_object_get(o, "version")) == 1 && id && oci_digest_valid(id) &&
	    json_is_integer(v[0]) && json_is_integer(v[1]) && json_is_integer(v[2]) &&
	    json_is_integer(v[3])) {
		memset(st, 0, sizeof(*st));
		memcpy(st->diff_id, id, OCI_DIGEST_LEN + 1);
		st->entries = (uint64_t)json_integer_value(v[0]);
		st->inodes = (uint64_t)json_integer_value(v[1]);
		st->blocks = (uint64_t)json_integer_value(v[2]);
		st->bytes = (uint64_t)json_integer_value(v[3]);
		r = 0;
	}
	json_decref(o);
	return r;
}

static void stats_save(struct job *j, const char *digest, const struct oci_layer_stats *st)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.json", j->cache.stats, digest + 7);
	json_t *o = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "version", 1, "diff_id", st->diff_id,
			      "entries", (json_int_t)st->entries, "inodes", (json_int_t)st->inodes,
			      "blocks", (json_int_t)st->blocks, "bytes", (json_int_t)st->bytes);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (text)
		(void)write_file_atomic(path, text, strlen(text), 0600); /* only a cache */
	free(text);
	json_decref(o);
}

struct tick_ctx {
	struct job *j;
	enum oci_phase ph;
	unsigned layer;
	const struct oci_desc *d;
};

static void tick(uint64_t done, void *ctx)
{
	struct tick_ctx *t = ctx;

	report(t->j, t->ph, t->layer, t->d->digest, done, t->d->size, false);
}

static int open_blob(struct job *j, const char *digest, struct berr *err)
{
	_cleanup_free_ char *path = oci_blob_path(&j->cache, digest);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return oci_err(err, errno, "cannot open cached blob %s: %s", digest, strerror(errno));
	return fd;
}

static int scan_layers(struct job *j, struct oci_layer_stats *total, struct berr *err)
{
	memset(total, 0, sizeof(*total));
	j->stats = xcalloc(j->m.n ? j->m.n : 1, sizeof(*j->stats));
	for (size_t i = 0; i < j->m.n; i++) {
		const struct oci_desc *d = &j->m.items[i];
		struct oci_layer_stats *st = &j->stats[i];
		struct tick_ctx tc = { j, OCI_PHASE_SCAN, (unsigned)i + 1, d };
		if (stats_load(j, d->digest, st) < 0) {
			int fd = open_blob(j, d->digest, err);
			if (fd < 0)
				return fd;
			int r = oci_layer_scan(fd, d->digest, j->max_size, j->o->cancel, tick, &tc, st, err);
			close(fd);
			if (r < 0)
				return r;
			stats_save(j, d->digest, st);
		}
		if (strcmp(st->diff_id, j->cfg.diff_ids[i]))
			return oci_err(err, EBADMSG,
					"layer %zu (%s) unpacks to %s, but the image config says %s", i + 1,
					d->digest, st->diff_id, j->cfg.diff_ids[i]);
		total->entries += st->entries;
		total->inodes += st->inodes;
		total->blocks += st->blocks;
		total->bytes += st->bytes;
		if (total->bytes > j->max_size)
			return oci_err(err, EFBIG,
					"the image unpacks to more than %llu bytes, the limit on its content",
					(unsigned long long)j->max_size);
	}
	return 0;
}

/* --- building --- */

static int apply_layers(struct job *j, struct oci_fs *f, struct berr *err)
{
	for (size_t i = 0; i < j->m.n; i++) {
		const struct oci_desc *d = &j->m.items[i];
		struct tick_ctx tc = { j, OCI_PHASE_APPLY, (unsigned)i + 1, d };
		int fd = open_blob(j, d->digest, err);
		if (fd < 0)
			return fd;
		report(j, OCI_PHASE_APPLY, (unsigned)i + 1, d->digest, 0, d->size, false);
		int r = oci_fs_apply(f, fd, d->digest, j->cfg.diff_ids[i], j->max_size, j->o->cancel,
				     tick, &tc, err);
		close(fd);
		if (r < 0)
			return r;
	}
	return 0;
}

#define INJECT_FILE_MAX (64u << 20)
#define INJECT_DEPTH 8

/* Blocks the injected tree needs (bounded walk; errors show up later). */
static uint64_t inject_blocks(const char *dir, int depth)
{
	DIR *d = depth <= INJECT_DEPTH ? opendir(dir) : NULL;
	struct dirent *de;
	uint64_t n = 1;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = path_join(dir, de->d_name);
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || lstat(p, &st) < 0)
			continue;
		n += S_ISDIR(st.st_mode) ? inject_blocks(p, depth + 1)
					 : (uint64_t)(st.st_size + 4095) / 4096 + 1;
	}
	if (d)
		closedir(d);
	return n;
}

/* Copy the host directory dir into the image at guest (regular files and
 * directories; anything else is refused: the tree is banger's own).  The
 * sha256 of the bytes written as GUEST/agent (the guest agent, at the top)
 * goes to agent_sha (left alone when there is none). */
static int inject_tree(struct oci_fs *f, const char *dir, const char *guest, int depth,
		       char agent_sha[65], struct berr *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return oci_err(err, errno, "cannot read %s: %s", dir, strerror(errno));
	if (depth > INJECT_DEPTH) {
		closedir(d);
		return oci_err(err, ELOOP, "%s is nested too deep", dir);
	}
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *src = NULL, *dst = NULL, *data = NULL;
		struct stat st;
		size_t len = 0;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		src = path_join(dir, de->d_name);
		dst = xasprintf("%s/%s", guest, de->d_name);
		if (lstat(src, &st) < 0) {
			r = oci_err(err, errno, "cannot stat %s: %s", src, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			r = inject_tree(f, src, dst, depth + 1, agent_sha, err);
		} else if (!S_ISREG(st.st_mode)) {
			r = oci_err(err, EINVAL, "%s is not a regular file or directory", src);
		} else if ((r = read_file(src, INJECT_FILE_MAX, &data, &len)) < 0) {
			r = oci_err(err, -r, "cannot read %s: %s", src, strerror(-r));
		} else {
			r = oci_fs_put_file(f, dst, data, len, st.st_mode & 07777, err);
			if (r == 0 && depth == 0 && !strcmp(de->d_name, "agent")) {
				unsigned char md[32];
				EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
				oci_hex(md, agent_sha);
			}
		}
	}
	closedir(d);
	return r;
}

/* What running a command in the image needs, for banger's init ("init
 * run -- CMD"): /.banger/env (the config's Env, each entry ended by a NUL
 * byte), /.banger/workdir and /.banger/user when the config sets them. */
static int put_run_config(struct job *j, struct oci_fs *f, struct berr *err)
{
	json_t *env = json_object_get(j->cfg.run, "Env"), *v;
	const char *wd = json_string_value(json_object_get(j->cfg.run, "WorkingDir"));
	const char *user = json_string_value(json_object_get(j->cfg.run, "User"));
	struct sbuf s;
	size_t i;
	int r = 0;

	sbuf_init(&s);
	json_array_foreach(env, i, v) sbuf_add(&s, json_string_value(v), json_string_length(v) + 1);
	if (s.len)
		r = oci_fs_put_file(f, "/.banger/env", s.buf, s.len, 0644, err);
	sbuf_free(&s);
	if (r == 0 && wd && *wd)
		r = oci_fs_put_file(f, "/.banger/workdir", wd, strlen(wd), 0644, err);
	if (r == 0 && user && *user)
		r = oci_fs_put_file(f, "/.banger/user", user, strlen(user), 0644, err);
	return r;
}

static int build_rootfs(struct job *j, const char *path, const struct oci_layer_stats *total,
			struct berr *err)
{
	uint64_t headroom = j->o->no_headroom ? 0 : j->o->headroom ? j->o->headroom
								  : OCI_DEFAULT_HEADROOM;
	struct oci_fs_geom g;
	int r = 0;

	struct oci_layer_stats t = *total;
	if (j->o->inject_dir) {
		t.blocks += inject_blocks(j->o->inject_dir, 0);
		t.inodes += 256;
	}
	oci_fs_size(&t, headroom, &g);
	for (int attempt = 1; attempt <= BUILD_ATTEMPTS; attempt++) {
		struct oci_fs *f = NULL;
		bool full;
		r = oci_fs_create(path, &g, j->o->label ? j->o->label : "rootfs", &f, err);
		if (r < 0)
			return r;
		r = apply_layers(j, f, err);
		if (r == 0 && j->o->inject_dir) {
			r = inject_tree(f, j->o->inject_dir, "/.banger", 0, j->agent_sha256, err);
			if (r == 0)
				r = put_run_config(j, f, err);
			if (r < 0)
				oci_wrap(err, "putting %s into the image", j->o->inject_dir);
		}
		full = r < 0 && oci_fs_full(f);
		r = oci_fs_close(f, r, err);
		if (r == 0 || !full)
			return r;
		/* The scan's bounds were short: grow and build again. */
		g.blocks *= 2;
		g.inodes *= 2;
	}
	return r;
}

static int write_bundle_manifest(struct job *j, const char *name, const char *tmp,
				 const char *rootfs, struct berr *err)
{
	_cleanup_free_ char *path = path_join(tmp, "manifest.json");
	char stamp[32];
	struct stat st;
	json_t *layers, *m;
	time_t now = time(NULL);
	uint64_t content = 0;
	char *text;
	int r;

	if (stat(rootfs, &st) < 0)
		return oci_err(err, errno, "cannot stat %s: %s", rootfs, strerror(errno));
	layers = json_array();
	for (size_t i = 0; i < j->m.n; i++)
		json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "digest", j->m.items[i].digest,
							"size", (json_int_t)j->m.items[i].size,
							"diff_id", j->cfg.diff_ids[i]));
	for (size_t i = 0; i < j->m.n; i++)
		content += j->stats[i].bytes;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	m = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:s, s:s, s:s, s:o, s:O, s:I}}",
		      "name", name, "kind", "image", "arch", "x86_64", "size", (json_int_t)st.st_size,
		      "disk_usage", (json_int_t)st.st_blocks * 512, "source", "oci", "built_at", stamp,
		      "oci", "reference", j->source_ref, "digest", j->manifest_digest, "config",
		      j->m.config.digest, "layers", layers, "run", j->cfg.run, "content_bytes",
		      (json_int_t)content);
	if (!m)
		return oci_err(err, EINVAL, "cannot make manifest.json (a field is not valid UTF-8)");
	if (j->o->inject_dir) {
		_cleanup_free_ char *init = path_join(j->o->inject_dir, "init");
		if (access(init, X_OK) == 0)
			json_object_set_new(m, "init", json_string("/.banger/init"));
		/* The init runs it: the daemon reaches this image's VMs through
		 * it (readiness, execs/), as it does banger's own images. */
		if (j->agent_sha256[0])
			json_object_set_new(m, "agent_sha256", json_string(j->agent_sha256));
	}
	text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(m);
	r = text ? write_file_atomic(path, text, strlen(text), 0644) : -ENOMEM;
	free(text);
	if (r < 0)
		return oci_err(err, -r, "cannot write %s: %s", path, strerror(-r));
	return 0;
}

static int build_bundle(struct job *j, const char *name, const char *bundle_dir, struct berr *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-XXXXXX", bundle_dir);
	_cleanup_free_ char *rootfs = NULL;
	struct oci_layer_stats total;
	int r;

	for (size_t i = 0; i < j->m.n; i++) {
		r = ensure_blob(j, &j->m.items[i], (unsigned)i + 1, err);
		if (r < 0)
			return r;
	}
	r = scan_layers(j, &total, err);
	if (r < 0)
		return r;
	if (!mkdtemp(tmp))
		return oci_err(err, errno, "cannot create %s: %s", tmp, strerror(errno));
	rootfs = path_join(tmp, "rootfs.ext4");
	r = build_rootfs(j, rootfs, &total, err);
	if (r == 0)
		r = write_bundle_manifest(j, name, tmp, rootfs, err);
	if (r == 0 && rename(tmp, bundle_dir) < 0)
		r = oci_err(err, errno, "cannot rename %s to %s: %s", tmp, bundle_dir,
			     strerror(errno));
	if (r < 0) {
		rm_rf(tmp);
		return r;
	}
	report(j, OCI_PHASE_DONE, 0, NULL, 0, 0, false);
	return 0;
}

/* --- entry points --- */

static int job_start(struct job *j, const struct oci_opts *o, const char *name,
		     const char *bundle_dir, struct berr *err)
{
	memset(j, 0, sizeof(*j));
	j->o = o;
	j->max_size = o->max_size ? o->max_size : OCI_DEFAULT_MAX_SIZE;
	if (!name || !*name || strlen(name) > 63 || strchr(name, '/'))
		return oci_err(err, EINVAL, "image name \"%.64s\" must be 1-63 characters without '/'",
				name ? name : "");
	if (access(bundle_dir, F_OK) == 0)
		return oci_err(err, EEXIST, "%s exists already", bundle_dir);
	return oci_cache_open(o->cache_dir, &j->cache, err);
}

static void job_end(struct job *j)
{
	oci_manifest_free(&j->m);
	oci_config_free(&j->cfg);
	free(j->stats);
	oci_cache_close(&j->cache);
	oci_registry_close(j->src.reg);
}

static int read_auth_file(const struct oci_opts *o, char **ret, size_t *ret_len, struct berr *err)
{
	_cleanup_free_ char *path = NULL;
	const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	int r;

	*ret = NULL;
	if (o->auth_file)
		path = xstrdup(o->auth_file);
	else if (dc && *dc)
		path = path_join(dc, "config.json");
	else if (home && *home)
		path = path_join(home, ".docker/config.json");
	else
		return 0;
	r = read_file(path, AUTH_FILE_MAX, ret, ret_len);
	if (r == -ENOENT && !o->auth_file)
		return 0;
	if (r < 0)
		return oci_err(err, -r, "cannot read the docker config %s: %s", path, strerror(-r));
	return 0;
}

int oci_pull(const char *ref_s, const char *name, const char *bundle_dir,
	     const struct oci_opts *o, struct berr *err)
{
	struct job j;
	struct oci_ref ref;
	_cleanup_free_ char *auth = NULL, *body = NULL;
	size_t auth_len = 0, len = 0;
	char ctype[128];
	int r;

	r = oci_ref_parse(ref_s, &ref, err);
	if (r < 0)
		return r;
	r = job_start(&j, o, name, bundle_dir, err);
	if (r < 0)
		goto out;
	oci_ref_format(&ref, j.source_ref, sizeof(j.source_ref));
	report(&j, OCI_PHASE_RESOLVE, 0, NULL, 0, 0, false);
	r = read_auth_file(o, &auth, &auth_len, err);
	if (r == 0)
		r = oci_registry_open(&ref, o, auth, auth_len, &j.src.reg, err);
	if (r == 0)
		r = registry_manifest(&j, &ref, &body, &len, ctype, err);
	if (r == 0)
		r = resolve_platform(&j, body, len, ctype, err);
	if (r == 0)
		r = resolve_config(&j, err);
	if (r == 0)
		r = build_bundle(&j, name, bundle_dir, err);
out:
	job_end(&j);
	if (r < 0)
		return oci_wrap(err, "pulling %s", ref_s);
	return 0;
}

/* "DIR" or "DIR:TAG": a tag only when DIR alone is not a directory. */
static void split_layout(const char *spec, char **ret_dir, char **ret_tag)
{
	struct stat st;
	const char *colon = strrchr(spec, ':');

	if (stat(spec, &st) == 0 || !colon || strchr(colon, '/')) {
		*ret_dir = xstrdup(spec);
		*ret_tag = NULL;
		return;
	}
	*ret_dir = xasprintf("%.*s", (int)(colon - spec), spec);
	*ret_tag = xstrdup(colon + 1);
}

/* The descriptor index.json names for tag (or its only image). */
static int layout_pick(const struct oci_manifest *idx, const char *tag, size_t *ret,
		       struct berr *err)
{
	struct sbuf tags;
	size_t found = SIZE_MAX;

	for (size_t i = 0; i < idx->n; i++)
		if (tag ? !strcmp(idx->items[i].ref_name, tag) : idx->n == 1)
			found = i;
	if (found != SIZE_MAX) {
		*ret = found;
		return 0;
	}
	if (!tag && oci_index_pick(idx, "linux", "amd64", ret, NULL) == 0)
		return 0; /* one image per platform */
	sbuf_init(&tags);
	for (size_t i = 0; i < idx->n && tags.len < 300; i++)
		if (idx->items[i].ref_name[0])
			sbuf_printf(&tags, "%s%s", tags.len ? ", " : "", idx->items[i].ref_name);
	int r = tag ? oci_err(err, ENOENT, "the layout has no image tagged \"%.100s\" (tags: %s)", tag,
			       tags.len ? tags.buf : "none")
		    : oci_err(err, EINVAL, "the layout has %zu images: name one as DIR:TAG (tags: %s)",
			       idx->n, tags.len ? tags.buf : "none");
	sbuf_free(&tags);
	return r;
}

int oci_import_layout(const char *spec, const char *name, const char *bundle_dir,
		      const struct oci_opts *o, struct berr *err)
{
	_cleanup_free_ char *dir = NULL, *tag = NULL, *text = NULL, *body = NULL;
	_cleanup_free_ char *marker = NULL, *index = NULL;
	struct oci_manifest idx = { 0 };
	struct job j;
	size_t len = 0, pick;
	int r;

	split_layout(spec, &dir, &tag);
	r = job_start(&j, o, name, bundle_dir, err);
	if (r < 0)
		goto out;
	j.src.layout = dir;
	snprintf(j.source_ref, sizeof(j.source_ref), "oci:%s%s%s", dir, tag ? ":" : "",
		 tag ? tag : "");
	report(&j, OCI_PHASE_RESOLVE, 0, NULL, 0, 0, false);
	marker = path_join(dir, "oci-layout");
	r = read_file(marker, 4096, &text, NULL);
	if (r < 0) {
		r = oci_err(err, -r, "%s is not an OCI image layout (no oci-layout file: %s)", dir,
			     strerror(-r));
		goto out;
	}
	index = path_join(dir, "index.json");
	r = read_file(index, OCI_MANIFEST_MAX, &body, &len);
	if (r < 0) {
		r = oci_err(err, -r, "cannot read %s: %s", index,
			     r == -EFBIG ? "it is larger than 4 MiB" : strerror(-r));
		goto out;
	}
	r = oci_manifest_parse(body, len, "application/vnd.oci.image.index.v1+json", OCI_MAX_LAYERS,
			       &idx, err);
	if (r == 0 && idx.kind != OCI_M_INDEX)
		r = oci_err(err, EINVAL, "%s is not an image index", index);
	if (r == 0)
		r = layout_pick(&idx, tag, &pick, err);
	if (r == 0) {
		struct oci_desc d = idx.items[pick];
		_cleanup_free_ char *doc = NULL;
		size_t doclen = 0;
		memcpy(j.manifest_digest, d.digest, sizeof(d.digest));
		r = get_document(&j, &d, OCI_MANIFEST_MAX, &doc, &doclen, err);
		if (r == 0)
			r = resolve_platform(&j, doc, doclen, d.media_type, err);
	}
	if (r == 0)
		r = resolve_config(&j, err);
	if (r == 0)
		r = build_bundle(&j, name, bundle_dir, err);
out:
	oci_manifest_free(&idx);
	job_end(&j);
	if (r < 0)
		return oci_wrap(err, "importing %s", spec);
	return 0;
}
