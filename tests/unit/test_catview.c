#define _GNU_SOURCE
/* Unit tests: images/ and kernels/ as the daemon shows them, without a
 * daemon: catalog_register through a directory import and an archive
 * import (the checks issue 11 lists, nothing left behind on refusal),
 * catview's states and ids (registered, available from a signed file://
 * catalog, pulling, failed, buildable), catpull through a real pull
 * engine, cancel, rmdir, and catalog_default's provenance. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>

#include "catalog.h"
#include "catjobs.h"
#include "catpull.h"
#include "catsync.h"
#include "cattest.h"
#include "catview.h"
#include "publish.h"
#include "pull.h"
#include "testutil.h"

static char *dir;
static struct store *st;
static pthread_mutex_t vmlock = PTHREAD_MUTEX_INITIALIZER;
static struct catalog cat;
static char rsum[65];
static int changes;

static void on_changed(void *ctx)
{
	(void)ctx;
	__atomic_add_fetch(&changes, 1, __ATOMIC_SEQ_CST);
}

/* A directory bundle at DIR/src/NAME: rootfs.ext4 of 64 KiB, a files list. */
static const char *bundle_dir(const char *name)
{
	char root[65536];
	memset(root, 0, sizeof(root));
	memcpy(root, name, strlen(name));
	ct_sha(root, sizeof(root), rsum);
	const char *d = p("%s/src/%s", dir, name);
	assert_int_equal(mkdir_p(d, 0755), 0);
	ct_write(p("%s/rootfs.ext4", d), root, sizeof(root));
	char *m = xasprintf("{\"name\":\"%s\",\"kind\":\"image\",\"kernel\":\"k1\",\"files\":[{\"path\":"
			    "\"rootfs.ext4\",\"size\":%zu,\"sha256\":\"%s\"}]}",
			    name, sizeof(root), rsum);
	ct_write(p("%s/manifest.json", d), m, strlen(m));
	free(m);
	return d;
}

/* Nothing but registered names under STATE/images (no dot-directory). */
static int leftovers(void)
{
	DIR *d = opendir(p("%s/state/images", dir));
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	struct berr err = { 0 };
	dir = ct_tmpdir("catview");
	assert_int_equal(mkdir_p(p("%s/state/images", dir), 0700), 0);
	assert_int_equal(mkdir_p(p("%s/state/kernels", dir), 0700), 0);
	assert_int_equal(store_open(&st, p("%s/state/banger.db", dir), &err), 0);
	memset(&cat, 0, sizeof(cat));
	cat.store = st;
	cat.state_dir = xstrdup(p("%s/state", dir));
	cat.image_cache = xstrdup(p("%s/nocache", dir));
	cat.lock = &vmlock;
	cat.jobs = catjobs_new();
	cat.trusted = true;
	cat.cache_dir = xstrdup(p("%s/cache", dir));
	cat.changed = on_changed;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cat.engine = pull_engine_free(cat.engine);
	cat.sync = catsync_free(cat.sync);
	cat.jobs = catjobs_free(cat.jobs);
	free((char *)cat.state_dir);
	free((char *)cat.image_cache);
	free((char *)cat.cache_dir);
	store_close(st);
	rm_rf(dir);
	free(dir);
	return 0;
}

static void test_import_dir(void **state)
{
	(void)state;
	struct berr err = { 0 };
	char name[64];
	const char *d = bundle_dir("img1");
	assert_int_equal(catalog_import(&cat, d, name, sizeof(name), &err), 0);
	assert_string_equal(name, "img1");
	assert_true(catalog_registered(&cat, "image", "img1"));
	assert_int_equal(access(p("%s/state/images/img1/rootfs.ext4", dir), F_OK), 0);
	struct image_rec rec = { 0 };
	assert_int_equal(store_image_get_by_name(st, "image", "img1", &rec, NULL), 0);
	assert_string_equal(rec.sha256, rsum);
	assert_non_null(strstr(rec.manifest, "\"imported_from\""));
	image_rec_clear(&rec);
	assert_int_equal(catalog_import(&cat, d, NULL, 0, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "already registered"));

	/* a symlinked rootfs.ext4 is refused, not followed; a wrong sum too */
	const char *s = bundle_dir("img2");
	unlink(p("%s/rootfs.ext4", s));
	assert_int_equal(symlink(p("%s/rootfs.ext4", d), p("%s/rootfs.ext4", s)), 0);
	berr_clear(&err);
	assert_true(catalog_import(&cat, s, NULL, 0, &err) < 0);
	assert_non_null(strstr(err.msg, "symlink"));
	const char *w = bundle_dir("img3");
	ct_write(p("%s/rootfs.ext4", w), "changed", 7);
	berr_clear(&err);
	assert_true(catalog_import(&cat, w, NULL, 0, &err) < 0);
	/* a reserved name, a relative path */
	const char *r = bundle_dir("ctl");
	berr_clear(&err);
	assert_int_equal(catalog_import(&cat, r, NULL, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the tree's own file"));
	assert_int_equal(catalog_import(&cat, "src/img1", NULL, 0, &err), -EINVAL);
	assert_false(catalog_registered(&cat, "image", "img2"));
	assert_false(catalog_registered(&cat, "image", "img3"));
	assert_int_equal(leftovers(), 0);
}

static void test_import_archive(void **state)
{
	(void)state;
	struct berr err = { 0 };
	char name[64];
	char root[8192];
	memset(root, 5, sizeof(root));
	ct_sha(root, sizeof(root), rsum);
	char *m = xasprintf("{\"name\":\"arch1\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\","
			    "\"size\":%zu,\"sha256\":\"%s\"}]}", sizeof(root), rsum);
	const struct ct_entry ok[] = { { CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
				       { CT_FILE, "vmlinux", root, sizeof(root), NULL, 0 } };
	ct_archive(p("%s/a.tar.zst", dir), ARCHIVE_FILTER_ZSTD, ok, 2);
	assert_int_equal(catalog_import_path(&cat, p("%s/a.tar.zst", dir), name, sizeof(name), &err), 0);
	assert_string_equal(name, "arch1");
	assert_true(catalog_registered(&cat, "kernel", "arch1"));
	assert_int_equal(access(p("%s/state/kernels/arch1/vmlinux", dir), F_OK), 0);
	/* a hard link out of the bundle: refused, nothing left */
	const struct ct_entry bad[] = { { CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
					{ CT_FILE, "vmlinux", root, sizeof(root), NULL, 0 },
					{ CT_HARDLINK, "h", NULL, 0, "../../etc/passwd", 0 } };
	ct_archive(p("%s/b.tar.zst", dir), ARCHIVE_FILTER_ZSTD, bad, 3);
	berr_clear(&err);
	assert_true(catalog_import_path(&cat, p("%s/b.tar.zst", dir), NULL, 0, &err) < 0);
	assert_non_null(strstr(err.msg, "outside the bundle"));
	assert_int_equal(leftovers(), 0);
	free(m);
}

/* A signed file:// catalog listing image img1 (built from bundle_dir). */
static void make_catalog(void)
{
	struct berr err = { 0 };
	const char *src = bundle_dir("img1");
	const char *srcs[] = { src };
	ct_keypair(p("%s/key", dir), p("%s/key.pub", dir));
	struct publish_opts o = { .out_dir = p("%s/www", dir), .sources = srcs, .n_sources = 1,
				  .key_path = p("%s/key", dir), .level = 3, .threads = 1 };
	assert_int_equal(catalog_publish(&o, &err), 0);
	struct pull_config pc = { .cache_dir = cat.cache_dir, .no_sync = true };
	assert_int_equal(pull_engine_new(&pc, &cat.engine, &err), 0);
	char *url = xasprintf("file://%s/www/", dir);
	const char *urls[] = { url };
	struct catsync_config cc = { .urls = urls, .n_urls = 1, .pubkey = p("%s/key.pub", dir),
				     .state_dir = cat.state_dir };
	assert_int_equal(catsync_new(&cc, cat.engine, &cat.sync, &err), 0);
	free(url);
	catsync_refresh(cat.sync, true);
	assert_int_equal(catsync_wait(cat.sync, 30000), 0);
}

static const char *state_of(const char *kind, const char *name)
{
	static char buf[16];
	struct cv_info i;
	int64_t id;
	if (catview_lookup(&cat, kind, name, &id) < 0)
		return "-";
	assert_int_equal(catview_get(&cat, kind, id, &i), 0);
	snprintf(buf, sizeof(buf), "%s", cv_state_name(i.state));
	cv_info_clear(&i);
	return buf;
}

static void wait_state(const char *name, const char *want)
{
	for (int i = 0; i < 600 && strcmp(state_of("image", name), want); i++)
		usleep(50 * 1000);
	assert_string_equal(state_of("image", name), want);
}

static void test_views_and_pull(void **state)
{
	(void)state;
	struct berr err = { 0 };
	make_catalog();
	const char *prov;
	char name[64];
	/* nothing registered: the catalog's, the recipes' */
	assert_string_equal(state_of("image", "img1"), "available");
	assert_string_equal(state_of("image", "debian-bookworm"), "buildable");
	assert_string_equal(state_of("image", "nosuch"), "-");
	assert_string_equal(state_of("image", "ctl"), "-");
	catalog_default(&cat, "image", name, sizeof(name), &prov);
	assert_string_equal(prov, "recipe");
	struct cv_entry *v = NULL;
	size_t n = 0;
	assert_int_equal(catview_list(&cat, "image", &v, &n), 0);
	assert_int_equal(n, 3); /* debian-bookworm, debian-bookworm-mini, img1 (sorted) */
	assert_string_equal(v[2].name, "img1");
	int64_t vid = v[2].id;
	assert_true(vid >= CATALOG_VIRT_ID);
	assert_int_equal(catview_exists(&cat, "image", vid), 0);
	assert_int_equal(catview_exists(&cat, "kernel", vid), -ENOENT);
	free(v);
	int64_t again;
	assert_int_equal(catview_lookup(&cat, "image", "img1", &again), 0);
	assert_int_equal(again, vid); /* stable */
	struct cv_info i;
	assert_int_equal(catview_get(&cat, NULL, vid, &i), 0);
	assert_true(i.listed && !i.registered);
	assert_string_equal(i.ent.kernel, "k1");
	cv_info_clear(&i);
	/* rmdir of an entry only listed: nothing to remove */
	assert_int_equal(catview_remove(&cat, "image", "img1", &err), -EPERM);
	assert_int_equal(catview_cancel(&cat, "image", "img1", &err), -ENOENT);

	/* pull: at once, then ready under the same id (a path walked meanwhile
	 * keeps working) */
	assert_int_equal(catpull_start(&cat, "image", "img1", &err), 0);
	assert_int_equal(catpull_start(&cat, "image", "img1", &err), 0); /* joins */
	wait_state("img1", "ready");
	int64_t rid;
	assert_int_equal(catview_lookup(&cat, "image", "img1", &rid), 0);
	assert_int_equal(rid, vid);
	assert_int_equal(catview_exists(&cat, "image", vid), 0);
	assert_int_equal(catview_get(&cat, "image", rid, &i), 0);
	assert_true(i.registered);
	assert_non_null(strstr(i.rec.manifest, "file://"));
	struct sbuf prog;
	sbuf_init(&prog);
	catview_progress(&i, &prog);
	assert_int_equal(prog.len, 0); /* nothing in flight */
	sbuf_free(&prog);
	cv_info_clear(&i);
	assert_true(__atomic_load_n(&changes, __ATOMIC_SEQ_CST) > 0);
	assert_int_equal(catpull_start(&cat, "image", "img1", &err), -EEXIST);
	assert_int_equal(leftovers(), 0);

	/* rmdir: registered -> removed, available again */
	assert_int_equal(catview_remove(&cat, "image", "img1", &err), 0);
	assert_string_equal(state_of("image", "img1"), "available");
	assert_int_equal(access(p("%s/state/images/img1", dir), F_OK), -1);

	/* a failed pull shows failed with its sentence; rmdir forgets it */
	struct catjob *jr = catjobs_get(cat.jobs, "image", "img2");
	pthread_mutex_lock(&cat.jobs->lock);
	jr->type = CJ_OCI;
	jr->state = CJS_FAILED;
	snprintf(jr->err, sizeof(jr->err), "layer sha256:00: broken");
	pthread_mutex_unlock(&cat.jobs->lock);
	assert_string_equal(state_of("image", "img2"), "failed");
	assert_int_equal(catview_remove(&cat, "image", "img2", &err), 0);
	assert_string_equal(state_of("image", "img2"), "-");

	/* a registered image makes the default "builtin"-free: the config wins */
	cat.default_image = "img1";
	catalog_default(&cat, "image", name, sizeof(name), &prov);
	assert_string_equal(prov, "config");
	cat.default_image = NULL;
	/* catalog provenance: the chain's names are not in this catalog */
	catalog_default(&cat, "kernel", name, sizeof(name), &prov);
	assert_string_equal(prov, "recipe");
	struct sbuf s;
	sbuf_init(&s);
	catpull_status(&cat, &s);
	assert_non_null(strstr(s.buf, "state ok entries 1"));
	sbuf_free(&s);
	assert_int_equal(catpull_refresh(&cat, 30000, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_views_and_pull, setup, teardown),
	};
	return cmocka_run_group_tests_name("catview", tests, NULL, NULL);
}
