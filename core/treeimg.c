/* core/treeimg.c: the files of images/NAME/ and kernels/NAME/, and of
 * images/ and kernels/ themselves (docs/tree.md): what catview.c says an
 * entry is, rendered; the verbs that pull, cancel, refresh, import and
 * build OCI images, parsed and handed to catpull.c, catview.c, catoci.c
 * and catalog.c.  tree.c's tables point here. */
#define _GNU_SOURCE
#include "treeimg.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "catoci.h"
#include "catpull.h"
#include "catview.h"
#include "ctl.h"
#include "internal.h"
#include "tree_int.h"

/* ---- image and kernel files ------------------------------------------ */

/* A "key value" line whose value came from a manifest or an index: one
 * line, no control characters. */
static void put_kv(struct sbuf *out, const char *key, const char *v)
{
	sbuf_printf(out, "%s ", key);
	for (const char *p = v && *v ? v : "-"; *p; p++)
		sbuf_add(out, (unsigned char)*p < 0x20 || *p == 0x7f ? "?" : p, 1);
	sbuf_puts(out, "\n");
}

static int img_get(struct banger *b, int64_t id, struct cv_info *i)
{
	return catview_get(&b->cat, NULL, id, i);
}

static int img_manifest(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r < 0)
		return r;
	if (i.registered && i.rec.manifest) {
		sbuf_puts(out, i.rec.manifest);
		if (out->len && out->buf[out->len - 1] != '\n')
			sbuf_puts(out, "\n");
	} else if (i.listed) {
		/* Not pulled yet: what the catalog's index says of it. */
		const struct cat_entry *e = &i.ent;
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "name", e->name,
				      "kind", e->kind, "version", e->version, "arch", e->arch, "url",
				      e->url, "size", (json_int_t)e->size, "sha256", e->sha256,
				      "unpacked_size", (json_int_t)e->unpacked_size);
		if (j && e->description)
			json_object_set_new(j, "description", json_string(e->description));
		if (j && e->kernel)
			json_object_set_new(j, "kernel", json_string(e->kernel));
		if (j && e->min_disk_size)
			json_object_set_new(j, "min_disk_size", json_integer((json_int_t)e->min_disk_size));
		char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		if (text)
			sbuf_printf(out, "%s\n", text);
		free(text);
		json_decref(j);
	}
	cv_info_clear(&i);
	return 0;
}

static int img_state(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r == 0)
		sbuf_printf(out, "%s\n", cv_state_name(i.state));
	cv_info_clear(&i);
	return r;
}

/* What a registered bundle's manifest adds to its status: its kernel, its
 * source (an OCI image's reference, digest, layers) and how it boots. */
static void status_manifest(const char *text, struct sbuf *out)
{
	json_t *m = text ? json_loads(text, 0, NULL) : NULL;
	json_t *oci = json_object_get(m, "oci");
	const char *s;
	if ((s = json_string_value(json_object_get(m, "version"))))
		put_kv(out, "version", s);
	if ((s = json_string_value(json_object_get(m, "kernel"))))
		put_kv(out, "kernel", s);
	if ((s = json_string_value(json_object_get(m, "source"))))
		put_kv(out, "source", s);
	if ((s = json_string_value(json_object_get(m, "imported_from"))))
		put_kv(out, "from", s);
	if (json_is_object(oci)) {
		put_kv(out, "reference", json_string_value(json_object_get(oci, "reference")));
		put_kv(out, "digest", json_string_value(json_object_get(oci, "digest")));
		sbuf_printf(out, "layers %zu\n", json_array_size(json_object_get(oci, "layers")));
		sbuf_printf(out, "content_bytes %lld\n",
			    (long long)json_integer_value(json_object_get(oci, "content_bytes")));
	}
	json_decref(m);
}

static int img_status(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r < 0)
		return r;
	sbuf_printf(out, "name %s\nkind %s\nstate %s\n", i.name, i.kind, cv_state_name(i.state));
	if (i.registered) {
		char init[160];
		sbuf_printf(out, "size %lld\n", (long long)i.rec.size);
		put_kv(out, "sha256", i.rec.sha256);
		put_kv(out, "dir", i.rec.dir);
		status_manifest(i.rec.manifest, out);
		if (!strcmp(i.kind, "image")) {
			/* A container image boots with banger's init, and a
			 * command runs through it (docs/oci.md). */
			catalog_image_init(&b->cat, i.name, init, sizeof(init));
			if (init[0])
				sbuf_printf(out, "init %s\nrun %s run --\n", init, init);
		}
	} else if (i.job && i.job->type == CJ_OCI) {
		sbuf_puts(out, "source oci\n");
		put_kv(out, "reference", i.job->source);
	} else if (i.listed) {
		const struct cat_entry *e = &i.ent;
		put_kv(out, "version", e->version);
		sbuf_printf(out, "size %llu\n", (unsigned long long)e->size);
		put_kv(out, "sha256", e->sha256);
		sbuf_printf(out, "unpacked_size %llu\n", (unsigned long long)e->unpacked_size);
		put_kv(out, "url", e->url);
		if (e->kernel)
			put_kv(out, "kernel", e->kernel);
		if (e->min_disk_size)
			sbuf_printf(out, "min_disk_size %llu\n", (unsigned long long)e->min_disk_size);
		if (e->description)
			put_kv(out, "description", e->description);
	}
	if (!i.registered && i.recipe) {
		/* What a client runs to have it: the recipe, then import its
		 * kernel (if missing) and it (docs/images.md). */
		sbuf_printf(out, "build %s\n", i.recipe->build);
		if (!i.listed)
			sbuf_printf(out, "kernel %s\n", i.recipe->kernel);
	}
	cv_info_clear(&i);
	return 0;
}

static int img_progress(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r == 0)
		catview_progress(&i, out);
	cv_info_clear(&i);
	return r;
}

static int img_err(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r == 0 && i.job && i.job->err[0])
		sbuf_printf(out, "%s\n", i.job->err);
	cv_info_clear(&i);
	return r;
}

enum { IC_PULL, IC_CANCEL };
static const struct ctl_cmd img_cmds[] = {
	{ IC_PULL, "pull", 0, 0, "pull (from the first catalog listing it; returns at once)" },
	{ IC_CANCEL, "cancel", 0, 0, "cancel (stop a pull; the partial download is kept)" },
};

static int img_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r < 0)
		return r;
	if (i.state == CV_PULLING)
		sbuf_printf(out, "%s\n", img_cmds[IC_CANCEL].name);
	else if (i.listed && !i.registered)
		sbuf_printf(out, "%s\n", img_cmds[IC_PULL].name);
	cv_info_clear(&i);
	return 0;
}

static int img_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			 const struct tree_caller *who, struct berr *err)
{
	struct ctl_req *req = xmalloc(sizeof(*req));
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r == 0)
		r = ctl_parse(data, len, img_cmds, ARRAY_SIZE(img_cmds), req, err);
	if (r == 0 && req->cmd->id == IC_PULL)
		r = catpull_start(&b->cat, i.kind, i.name, err);
	else if (r == 0)
		r = catview_cancel(&b->cat, i.kind, i.name, err);
	if (r == 0)
		banger_changed(b);
	cv_info_clear(&i);
	free(req);
	return r;
}

/* images/NAME/snapshots: the snapshots of a registered image (issue 13,
 * docs/snapshots.md); kernels have none. */
static int img_snapshots(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct cv_info i;
	int r = img_get(b, id, &i);
	if (r < 0)
		return r;
	if (i.registered)
		tree_image_snapshots(b, i.name, out);
	cv_info_clear(&i);
	return 0;
}

/* The last one (snapshots) is images' only. */
static const struct tree_file entry_files[] = {
	{ "manifest", 0444, 0, .read = img_manifest },
	{ "state", 0444, 0, .read = img_state },
	{ "status", 0444, 0, .read = img_status },
	/* The engine's figures move without a report: rendered on every read. */
	{ "progress", 0444, TF_NOCACHE, .read = img_progress },
	{ "ctl", 0644, 0, .read = img_ctl_read, .write = img_ctl_write },
	{ "err", 0444, 0, .read = img_err },
	/* Made and removed by VMs' agents and snapshots/: read anew. */
	{ "snapshots", 0444, TF_NOCACHE, .read = img_snapshots },
};

/* ---- images/ and kernels/ themselves ------------------------------------ */

enum { CC_REFRESH, CC_IMPORT, CC_PULL_OCI, CC_IMPORT_OCI };
static const struct ctl_cmd coll_cmds[] = {
	{ CC_REFRESH, "refresh", 0, 0, "refresh (fetch every catalog's index again)" },
	{ CC_IMPORT, "import", 1, 1, "import DIR|FILE.tar.zst (register a bundle directory or archive)" },
	{ CC_PULL_OCI, "pull-oci", 2, 3, "pull-oci REF NAME [insecure] (an OCI image from a registry)" },
	{ CC_IMPORT_OCI, "import-oci", 2, 2, "import-oci DIR[:TAG] NAME (a local OCI image layout)" },
};
#define CATALOG_REFRESH_WAIT_MS 30000

static int coll_ctl_read(bool images, struct sbuf *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(coll_cmds); i++)
		if (images || coll_cmds[i].id <= CC_IMPORT)
			sbuf_printf(out, "%s\n", coll_cmds[i].usage);
	return 0;
}

static int coll_ctl_write(struct banger *b, bool images, const char *data, size_t len,
			  struct berr *err)
{
	struct ctl_req *req = xmalloc(sizeof(*req));
	int r = ctl_parse(data, len, coll_cmds, ARRAY_SIZE(coll_cmds), req, err);
	if (r == 0 && !images && req->cmd->id > CC_IMPORT)
		r = berr_set(err, EINVAL, "%s makes an image: write it to images/ctl", req->cmd->name);
	if (r == 0) {
		switch (req->cmd->id) {
		case CC_REFRESH:
			r = catpull_refresh(&b->cat, CATALOG_REFRESH_WAIT_MS, err);
			break;
		case CC_IMPORT:
			r = catalog_import_path(&b->cat, req->argv[0], NULL, 0, err);
			break;
		case CC_PULL_OCI:
		case CC_IMPORT_OCI:
			if (req->argc == 3 && strcmp(req->argv[2], "insecure") != 0) {
				r = berr_set(err, EINVAL, "usage: %s", req->cmd->usage);
				break;
			}
			r = catoci_start(&b->cat, req->cmd->id == CC_IMPORT_OCI, req->argv[0],
					 req->argv[1], req->argc == 3, err);
			break;
		}
	}
	if (r == 0)
		banger_changed(b);
	free(req);
	return r;
}

static int images_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return coll_ctl_read(true, out);
}

static int kernels_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return coll_ctl_read(false, out);
}

static int images_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			    const struct tree_caller *who, struct berr *err)
{
	return coll_ctl_write(b, true, data, len, err);
}

static int kernels_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			     const struct tree_caller *who, struct berr *err)
{
	return coll_ctl_write(b, false, data, len, err);
}

static int coll_catalogs(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	catpull_status(&b->cat, out);
	return 0;
}

static const struct tree_file images_files[] = {
	{ "ctl", 0644, 0, .read = images_ctl_read, .write = images_ctl_write },
	{ "catalogs", 0444, TF_NOCACHE, .read = coll_catalogs }, /* ages; a failed fetch is not reported */
};

static const struct tree_file kernels_files[] = {
	{ "ctl", 0644, 0, .read = kernels_ctl_read, .write = kernels_ctl_write },
	{ "catalogs", 0444, TF_NOCACHE, .read = coll_catalogs }, /* ages; a failed fetch is not reported */
};

const struct tree_file *treeimg_entry_files(bool images, size_t *n)
{
	*n = ARRAY_SIZE(entry_files) - (images ? 0 : 1);
	return entry_files;
}

const struct tree_file *treeimg_dir_files(bool images, size_t *n)
{
	*n = images ? ARRAY_SIZE(images_files) : ARRAY_SIZE(kernels_files);
	return images ? images_files : kernels_files;
}
