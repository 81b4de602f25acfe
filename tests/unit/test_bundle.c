/* Unit tests: .tar.zst bundles (extraction, every refusal of the issue,
 * sparse output) and publishing (pack, index, signature). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>

#include "bundle.h"
#include "catindex.h"
#include "cattest.h"
#include "publish.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = ct_tmpdir("bundle");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	free(dir);
	return 0;
}

static const struct bundle_limits nosync = { .no_sync = true };

/* A manifest listing (path, data) pairs as regular files. */
static char *manifest_for(const char *kind, const char *name, const char *const *paths,
			  const char *const *datas, size_t n, const char *extra)
{
	struct sbuf s;
	char sha[65];
	sbuf_init(&s);
	sbuf_printf(&s, "{\"name\":\"%s\",\"kind\":\"%s\",\"files\":[", name, kind);
	for (size_t i = 0; i < n; i++) {
		ct_sha(datas[i], strlen(datas[i]), sha);
		sbuf_printf(&s, "%s{\"path\":\"%s\",\"size\":%zu,\"sha256\":\"%s\"}", i ? "," : "",
			    paths[i], strlen(datas[i]), sha);
	}
	sbuf_printf(&s, "%s]}", extra ? extra : "");
	return sbuf_steal(&s);
}

/* Extract archive a.tar.zst into out; expect failure with want, and
 * nothing left behind. */
static void extract_refused(const char *want)
{
	struct berr err = { 0 };
	_cleanup_free_ char *out = xstrdup(p("%s/out", dir));
	int r = bundle_extract_file(p("%s/a.tar.zst", dir), out, &nosync, NULL, &err);
	if (r == 0 || !strstr(err.msg, want))
		fail_msg("got %d '%s', wanted an error with '%s'", r, err.msg, want);
	assert_int_equal(access(out, F_OK), -1);
}

static void test_extract_ok(void **state)
{
	(void)state;
	const char *paths[] = { "vmlinux", "modules/6.1/a.ko", "initrd.img" };
	const char *datas[] = { "kernel!", "module", "" };
	char sha[65];
	ct_sha("module", 6, sha);
	/* b.ko is a hard link to a.ko: the same sum */
	_cleanup_free_ char *extra = xasprintf(",{\"path\":\"modules/latest\",\"symlink\":\"6.1\"},"
					       "{\"path\":\"modules/6.1/b.ko\",\"size\":6,\"sha256\":\"%s\"}",
					       sha);
	char *full = manifest_for("kernel", "k", paths, datas, 3, extra);
	const struct ct_entry v[] = {
		{ CT_FILE, "manifest.json", full, strlen(full), NULL, 0 },
		{ CT_FILE, "vmlinux", "kernel!", 7, NULL, 0 },
		{ CT_DIR, "modules/", NULL, 0, NULL, 0 },
		{ CT_FILE, "./modules/6.1/a.ko", "module", 6, NULL, 0 },
		{ CT_HARDLINK, "modules/6.1/b.ko", NULL, 0, "modules/6.1/a.ko", 0 },
		{ CT_SYMLINK, "modules/latest", NULL, 0, "6.1", 0 },
		{ CT_FILE, "initrd.img", "", 0, NULL, 0 },
	};
	ct_archive(p("%s/a.tar.zst", dir), ARCHIVE_FILTER_ZSTD, v, ARRAY_SIZE(v));
	struct bundle_manifest *man = NULL;
	struct berr err = { 0 };
	_cleanup_free_ char *out = xstrdup(p("%s/out", dir));
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &nosync, &man, &err), 0);
	assert_string_equal(man->name, "k");
	assert_int_equal(man->n_files, 5);
	manifest_free(man);
	char *text = NULL;
	assert_int_equal(read_file(p("%s/vmlinux", out), 100, &text, NULL), 0);
	assert_string_equal(text, "kernel!");
	free(text);
	struct stat a, b;
	assert_int_equal(stat(p("%s/modules/6.1/a.ko", out), &a), 0);
	assert_int_equal(stat(p("%s/modules/6.1/b.ko", out), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mode & 07777, 0644);
	char t[16] = "";
	assert_int_equal(readlink(p("%s/modules/latest", out), t, sizeof(t)), 3);
	/* the result is a valid directory bundle */
	assert_int_equal(bundle_verify_dir(out, &man, &err), 0);
	manifest_free(man);
	free(full);
	/* extracting onto an existing directory is refused and leaves it alone */
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &nosync, NULL, &err),
			 -EEXIST);
	assert_int_equal(access(p("%s/vmlinux", out), F_OK), 0);
}

static void test_extract_sparse(void **state)
{
	(void)state;
	/* 8 MiB: 4 KiB of data, zeros, 4 KiB of data at 6 MiB, zeros */
	size_t size = 8u << 20;
	unsigned char *img = xcalloc(1, size);
	memset(img, 0xab, 4096);
	memset(img + (6u << 20), 0xcd, 4096);
	char sha[65];
	ct_sha(img, size, sha);
	char *m = xasprintf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\","
			    "\"size\":%zu,\"sha256\":\"%s\"}]}",
			    size, sha);
	const struct ct_entry v[] = {
		{ CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
		{ CT_FILE, "rootfs.ext4", img, size, NULL, 0 },
	};
	ct_archive(p("%s/a.tar.zst", dir), ARCHIVE_FILTER_ZSTD, v, ARRAY_SIZE(v));
	struct berr err = { 0 };
	struct bundle_limits lim = { .kind = "image", .name = "img", .max_unpacked = size };
	_cleanup_free_ char *out = xstrdup(p("%s/out", dir));
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &lim, NULL, &err), 0);
	struct stat st;
	assert_int_equal(stat(p("%s/rootfs.ext4", out), &st), 0);
	assert_int_equal(st.st_size, size);
	assert_true(st.st_blocks * 512 <= 64 * 1024); /* holes kept: 8 KiB of data */
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(p("%s/rootfs.ext4", out), size, &text, &len), 0);
	assert_int_equal(len, size);
	assert_memory_equal(text, img, size);
	free(text);
	rm_rf(out);
	/* limits: kind, name, unpacked size */
	lim.kind = "kernel";
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &lim, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bundle is an image, not a kernel"));
	lim.kind = "image";
	lim.name = "other";
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &lim, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "named 'img', not 'other'"));
	lim.name = NULL;
	lim.max_unpacked = size - 1;
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &lim, NULL, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "more than the 8388607 allowed"));
	assert_int_equal(access(out, F_OK), -1);
	/* cancel */
	atomic_bool stop;
	atomic_init(&stop, true);
	lim.max_unpacked = 0;
	lim.cancel = &stop;
	assert_int_equal(bundle_extract_file(p("%s/a.tar.zst", dir), out, &lim, NULL, &err),
			 -ECANCELED);
	assert_int_equal(access(out, F_OK), -1);
	free(m);
	free(img);
}

/* Each malicious archive of the issue is refused with its own sentence. */
static void test_extract_refusals(void **state)
{
	(void)state;
	const char *paths[] = { "rootfs.ext4" };
	const char *datas[] = { "root" };
	_cleanup_free_ char *m = manifest_for("image", "img", paths, datas, 1, NULL);
	const struct ct_entry head[] = { { CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
					 { CT_FILE, "rootfs.ext4", "root", 4, NULL, 0 } };
	_cleanup_free_ char *a = xstrdup(p("%s/a.tar.zst", dir));
#define ARCH(...)                                                                     \
	do {                                                                          \
		const struct ct_entry v_[] = { head[0], head[1], __VA_ARGS__ };       \
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v_, ARRAY_SIZE(v_));               \
	} while (0)
	ARCH({ CT_FILE, "../x", "x", 1, NULL, 0 });
	extract_refused("bundle archive entry refused: path '../x' contains '..'");
	ARCH({ CT_FILE, "/etc/cron.d/x", "x", 1, NULL, 0 });
	extract_refused("path '/etc/cron.d/x' is absolute");
	ARCH({ CT_SYMLINK, "passwd", NULL, 0, "/etc/passwd", 0 });
	extract_refused("'passwd' is not listed in manifest.json");
	ARCH({ CT_HARDLINK, "h", NULL, 0, "../../etc/passwd", 0 });
	extract_refused("'h' is a hard link to '../../etc/passwd', outside the bundle");
	ARCH({ CT_HARDLINK, "h", NULL, 0, "/etc/passwd", 0 });
	extract_refused("is a hard link to '/etc/passwd', outside the bundle");
	ARCH({ CT_CHR, "null", NULL, 0, NULL, 0 });
	extract_refused("'null' is a character device (refused)");
	ARCH({ CT_FIFO, "fifo", NULL, 0, NULL, 0 });
	extract_refused("'fifo' is a fifo (refused)");
	ARCH({ CT_FILE, "extra", "x", 1, NULL, 0 });
	extract_refused("'extra' is not listed in manifest.json");
	ARCH({ CT_FILE, "rootfs.ext4", "root", 4, NULL, 0 });
	extract_refused("holds 'rootfs.ext4' twice");
	ARCH({ CT_DIR, "d", NULL, 0, NULL, 0 });
	extract_refused("'d' is a directory manifest.json does not imply");
#undef ARCH
	/* a symlink listed in the manifest that leads out */
	{
		char *mm = xasprintf("%.*s,{\"path\":\"passwd\",\"symlink\":\"../etc/passwd\"}]}",
				     (int)strlen(m) - 2, m);
		const struct ct_entry v[] = { { CT_FILE, "manifest.json", mm, strlen(mm), NULL, 0 },
					      { CT_FILE, "rootfs.ext4", "root", 4, NULL, 0 } };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		extract_refused("symlink 'passwd' points outside the bundle");
		free(mm);
	}
	/* a symlink whose target differs from the listed one */
	{
		char *mm = xasprintf("%.*s,{\"path\":\"l\",\"symlink\":\"rootfs.ext4\"}]}",
				     (int)strlen(m) - 2, m);
		const struct ct_entry v[] = { { CT_FILE, "manifest.json", mm, strlen(mm), NULL, 0 },
					      { CT_FILE, "rootfs.ext4", "root", 4, NULL, 0 },
					      { CT_SYMLINK, "l", NULL, 0, "/etc/passwd", 0 } };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 3);
		extract_refused("'l' is a symlink to '/etc/passwd', which manifest.json does not list");
		free(mm);
	}
	/* wrong content */
	{
		const struct ct_entry v[] = { head[0], { CT_FILE, "rootfs.ext4", "r00t", 4, NULL, 0 } };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		extract_refused("bundle file 'rootfs.ext4' has sha256");
	}
	/* a 10 GiB sparse file claimed as 1 MiB: refused before a byte is written */
	{
		char sha[65];
		ct_sha("root", 4, sha);
		char *mm = xasprintf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\","
				     "\"size\":1048576,\"sha256\":\"%s\"}]}",
				     sha);
		const struct ct_entry v[] = { { CT_FILE, "manifest.json", mm, strlen(mm), NULL, 0 },
					      { CT_SPARSE, "rootfs.ext4", "root", 4, NULL,
						10LL << 30 } };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		struct stat st;
		assert_int_equal(stat(a, &st), 0);
		assert_true(st.st_size < 4096); /* the bomb itself is tiny */
		extract_refused("'rootfs.ext4' holds 10737418240 bytes, the manifest says 1048576 (refused)");
		free(mm);
	}
	/* a manifest naming a file that is absent */
	{
		const char *p2[] = { "rootfs.ext4", "initrd.img" };
		const char *d2[] = { "root", "x" };
		char *mm = manifest_for("image", "img", p2, d2, 2, NULL);
		const struct ct_entry v[] = { { CT_FILE, "manifest.json", mm, strlen(mm), NULL, 0 },
					      head[1] };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		extract_refused("manifest.json names 'initrd.img', which is absent from the archive");
		free(mm);
	}
	/* a manifest without sha256 */
	{
		const char *mm = "{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\",\"size\":4}]}";
		const struct ct_entry v[] = { { CT_FILE, "manifest.json", mm, strlen(mm), NULL, 0 },
					      head[1] };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		extract_refused("file 'rootfs.ext4' has no sha256");
		const char *legacy = "{\"name\":\"img\",\"kind\":\"image\",\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}";
		const struct ct_entry w[] = { { CT_FILE, "manifest.json", legacy, strlen(legacy), NULL, 0 },
					      head[1] };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, w, 2);
		extract_refused("manifest.json has no files list");
	}
	/* the manifest must come first; the archive must be zstd */
	{
		const struct ct_entry v[] = { head[1], head[0] };
		ct_archive(a, ARCHIVE_FILTER_ZSTD, v, 2);
		extract_refused("starts with 'rootfs.ext4', not manifest.json");
		ct_archive(a, ARCHIVE_FILTER_GZIP, head, 2);
		extract_refused("not a zstd-compressed tar");
		ct_archive(a, ARCHIVE_FILTER_NONE, head, 2);
		extract_refused("not zstd-compressed");
		ct_write(a, "garbage", 7);
		extract_refused("not a zstd-compressed tar");
		ct_write(a, "", 0);
		extract_refused("not a zstd-compressed tar");
	}
	/* truncated archives */
	{
		ct_archive(a, ARCHIVE_FILTER_ZSTD, head, 2);
		char *all = NULL;
		size_t len = 0;
		assert_int_equal(read_file(a, 1 << 20, &all, &len), 0);
		for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
			ct_write(a, all, cut);
			struct berr err = { 0 };
			_cleanup_free_ char *out = xstrdup(p("%s/out", dir));
			assert_true(bundle_extract_file(a, out, &nosync, NULL, &err) < 0);
			assert_int_equal(access(out, F_OK), -1);
		}
		free(all);
	}
}

/* ---- publishing ---------------------------------------------------- */

static void make_bundle(const char *bdir, const char *name, const char *kind, const char *data)
{
	char sha[65];
	assert_int_equal(mkdir_p(bdir, 0755), 0);
	ct_write(p("%s/%s", bdir, bundle_main_file(kind)), data, strlen(data));
	ct_write(p("%s/.recipe", bdir), "x", 1);
	ct_sha(data, strlen(data), sha);
	char *m = xasprintf("{\"name\":\"%s\",\"kind\":\"%s\",\"arch\":\"x86_64\",\"distro\":\"d\","
			    "\"sha256\":\"%s\",\"kernel\":\"k\",\"built_at\":\"2026-12-07T02:43:43Z\"}",
			    name, kind, sha);
	ct_write(p("%s/manifest.json", bdir), m, strlen(m));
	free(m);
}

static void test_pack_roundtrip(void **state)
{
	(void)state;
	_cleanup_free_ char *b = xstrdup(p("%s/src/kernels/k", dir));
	make_bundle(b, "k", "kernel", "vmlinux!");
	ct_write(p("%s/config", b), "CONFIG_X=y\n", 11);
	assert_int_equal(mkdir(p("%s/modules", b), 0755), 0);
	ct_write(p("%s/modules/a.ko", b), "ko", 2);
	assert_int_equal(symlink("modules/a.ko", p("%s/latest", b)), 0);
	char sha[65];
	uint64_t size = 0;
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	_cleanup_free_ char *out = xstrdup(p("%s/k.tar.zst", dir));
	if (bundle_pack(b, out, 3, 1, sha, &size, &m, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(m->n_files, 4); /* config, latest, modules/a.ko, vmlinux; not .recipe */
	assert_string_equal(manifest_find(m, "latest")->symlink, "modules/a.ko");
	manifest_free(m);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, size);
	int fd = open(out, O_RDONLY | O_CLOEXEC);
	char again[65];
	assert_int_equal(sha256_fd(fd, again, NULL, &err), 0);
	close(fd);
	assert_string_equal(again, sha);
	_cleanup_free_ char *x = xstrdup(p("%s/x", dir));
	assert_int_equal(bundle_extract_file(out, x, &nosync, &m, &err), 0);
	manifest_free(m);
	assert_int_equal(bundle_verify_dir(x, &m, &err), 0);
	assert_int_equal(m->n_files, 4);
	manifest_free(m);
	/* a corrupt source is not published */
	ct_write(p("%s/vmlinux", b), "vmlinuX!", 8);
	assert_int_equal(bundle_pack(b, p("%s/bad.tar.zst", dir), 3, 1, sha, &size, NULL, &err),
			 -EBADMSG);
	assert_int_equal(access(p("%s/bad.tar.zst", dir), F_OK), -1);
	/* nor one holding a fifo */
	ct_write(p("%s/vmlinux", b), "vmlinux!", 8);
	assert_int_equal(mkfifo(p("%s/fifo", b), 0644), 0);
	assert_int_equal(bundle_pack(b, p("%s/bad.tar.zst", dir), 3, 1, sha, &size, NULL, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "a bundle cannot hold it"));
}

static void test_publish(void **state)
{
	(void)state;
	_cleanup_free_ char *src = xstrdup(p("%s/src", dir)), *out = xstrdup(p("%s/catalog", dir));
	char *key = xstrdup(p("%s/key", dir)), *pub = xstrdup(p("%s/key.pub", dir));
	ct_keypair(key, pub);
	make_bundle(p("%s/kernels/k", src), "k", "kernel", "vmlinux!");
	make_bundle(p("%s/images/img", src), "img", "image", "rootfs!!");
	const char *sources[] = { src };
	_cleanup_free_ char *more_src = xstrdup(p("%s/more/img2", dir));
	struct publish_opts o = { .out_dir = out, .sources = sources, .n_sources = 1, .level = 3 };
	struct berr err = { 0 };
	assert_int_equal(catalog_publish(&o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a signing key is needed"));
	o.key_path = key;
	if (catalog_publish(&o, &err) < 0)
		fail_msg("%s", err.msg);
	char *text = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	assert_int_equal(read_file(p("%s/index.json", out), 1 << 20, &text, &len), 0);
	assert_int_equal(read_file(p("%s/index.json.sig", out), 1024, &sig, &siglen), 0);
	void *pk = NULL;
	bool verified = false;
	assert_int_equal(cat_pubkey_load(pub, &pk, &err), 0);
	char *url = xasprintf("file://%s/index.json", out);
	assert_int_equal(cat_index_trust(url, text, len, sig, siglen, pk, false, &verified, &err), 0);
	assert_true(verified);
	struct cat_index *ix = NULL;
	assert_int_equal(cat_index_parse(text, len, url, &ix, &err), 0);
	assert_int_equal(ix->n_entries, 2);
	const struct cat_entry *e = cat_index_find(ix, "image", "img", "x86_64");
	assert_non_null(e);
	assert_string_equal(e->version, "20261207T024343Z");
	assert_string_equal(e->kernel, "k");
	assert_int_equal(e->min_disk_size, 8);
	assert_string_equal(e->url, p("file://%s/images/img-20261207T024343Z.tar.zst", out));
	/* the entry's archive extracts, with its size and sum */
	char *path = cat_url_file_path(e->url);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, e->size);
	struct bundle_limits lim = { .kind = "image", .name = "img", .max_unpacked = e->unpacked_size,
				     .no_sync = true };
	assert_int_equal(bundle_extract_file(path, p("%s/x", dir), &lim, NULL, &err), 0);
	/* publishing the same versions again keeps the archives as they are */
	struct stat again;
	assert_int_equal(catalog_publish(&o, &err), 0);
	assert_int_equal(stat(path, &again), 0);
	assert_int_equal(again.st_ino, st.st_ino);
	assert_int_equal(again.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	free(path);
	cat_index_free(ix);
	free(text);
	free(sig);
	/* publishing one bundle again keeps the other entry */
	make_bundle(more_src, "img2", "image", "other");
	const char *more[] = { more_src };
	o.sources = more;
	assert_int_equal(catalog_publish(&o, &err), 0);
	assert_int_equal(read_file(p("%s/index.json", out), 1 << 20, &text, &len), 0);
	assert_int_equal(cat_index_parse(text, len, url, &ix, &err), 0);
	assert_int_equal(ix->n_entries, 3);
	assert_string_equal(ix->entries[0].name, "img");
	assert_string_equal(ix->entries[1].name, "img2");
	assert_string_equal(ix->entries[2].kind, "kernel");
	cat_index_free(ix);
	free(text);
	/* unsigned on request: the old signature goes */
	o.key_path = NULL;
	o.allow_unsigned = true;
	assert_int_equal(catalog_publish(&o, &err), 0);
	assert_int_equal(access(p("%s/index.json.sig", out), F_OK), -1);
	/* a source that is no bundle */
	_cleanup_free_ char *nothing = xstrdup(p("%s/nothing", dir));
	const char *none[] = { nothing };
	o.sources = none;
	assert_int_equal(catalog_publish(&o, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "is neither a bundle"));
	cat_pubkey_free(pk);
	free(url);
	free(key);
	free(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_extract_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extract_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extract_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pack_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
	};
	return cmocka_run_group_tests_name("bundle", tests, NULL, NULL);
}
