/* Unit tests: bundle manifests and directory bundle verification. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cattest.h"
#include "manifest.h"
#include "testutil.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int parse(const char *text, unsigned flags, struct bundle_manifest **m, struct berr *err)
{
	return manifest_parse(text, strlen(text), flags, m, err);
}

/* Parse must fail with a message containing want. */
static void refused(const char *text, unsigned flags, const char *want)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	int r = parse(text, flags, &m, &err);
	if (r == 0 || !strstr(err.msg, want))
		fail_msg("'%s': got %d '%s', wanted an error with '%s'", text, r, err.msg, want);
	assert_null(m);
}

static void test_parse_files(void **state)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	(void)state;
	const char *t = "{\"name\":\"k1\",\"kind\":\"kernel\",\"extra\":[1,2],\"files\":["
			"{\"path\":\"vmlinux\",\"size\":3,\"sha256\":\"" SHA_ABC "\"},"
			"{\"path\":\"modules/6.1/a.ko\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"},"
			"{\"path\":\"modules/latest\",\"symlink\":\"6.1\"},"
			"{\"path\":\"modules/6.1/up\",\"symlink\":\"../../vmlinux\"}]}";
	assert_int_equal(parse(t, 0, &m, &err), 0);
	assert_string_equal(m->name, "k1");
	assert_string_equal(m->kind, "kernel");
	assert_int_equal(m->n_files, 4);
	assert_int_equal(m->total_size, 3);
	assert_false(m->legacy);
	const struct bundle_file *f = manifest_find(m, "vmlinux");
	assert_non_null(f);
	assert_true(f->has_size);
	assert_string_equal(f->sha256, SHA_ABC);
	assert_string_equal(manifest_find(m, "modules/latest")->symlink, "6.1");
	assert_null(manifest_find(m, "modules"));
	assert_string_equal(m->text, t);
	manifest_free(m);
}

static void test_parse_legacy(void **state)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(parse("{\"name\":\"img\",\"kind\":\"image\",\"size\":3,\"sha256\":\"" SHA_ABC
			       "\"}",
			       MANIFEST_LEGACY, &m, &err),
			 0);
	assert_true(m->legacy);
	assert_int_equal(m->n_files, 1);
	assert_string_equal(m->files[0].path, "rootfs.ext4");
	assert_true(m->files[0].has_size);
	assert_int_equal(m->files[0].size, 3);
	manifest_free(m);
	assert_int_equal(parse("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC
			       "\",\"initrd_sha256\":\"" SHA_EMPTY "\",\"modules_sha256\":\"" SHA_ABC
			       "\"}",
			       MANIFEST_LEGACY, &m, &err),
			 0);
	assert_int_equal(m->n_files, 3);
	assert_string_equal(m->files[0].path, "vmlinux");
	assert_false(m->files[0].has_size);
	assert_string_equal(manifest_find(m, "initrd.img")->sha256, SHA_EMPTY);
	assert_non_null(manifest_find(m, "modules.tar.gz"));
	manifest_free(m);
	/* the real manifests of images/build.sh */
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC "\"}", 0, "no files list");
	refused("{\"name\":\"img\",\"kind\":\"image\",\"size\":3}", MANIFEST_LEGACY,
		"neither a files list nor a sha256 of rootfs.ext4");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC
		"\",\"initrd_sha256\":\"xyz\"}",
		MANIFEST_LEGACY, "initrd_sha256 is not 64 lowercase hex digits");
}

static void test_parse_refusals(void **state)
{
	(void)state;
#define F(extra) "{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"size\":3,\"sha256\":\"" SHA_ABC "\"}" extra "]}"
	refused("{", 0, "invalid JSON");
	refused("[1]", 0, "not a JSON object");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"name\":\"j\",\"files\":[]}", 0, "invalid JSON");
	refused("{\"kind\":\"kernel\",\"files\":[]}", 0, "needs string fields name and kind");
	refused("{\"name\":\"K!\",\"kind\":\"kernel\",\"files\":[]}", 0, "may only use");
	refused("{\"name\":\"k\",\"kind\":\"vm\",\"files\":[]}", 0, "kind must be image or kernel");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":{}}", 0, "files must be an array");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[]}", 0,
		"does not list vmlinux as a regular file");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"size\":3}]}", 0,
		"file 'vmlinux' has no sha256");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"sha256\":\"" SHA_ABC
		"\"}]}",
		0, "needs a size");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"size\":-1,\"sha256\":\"" SHA_ABC
		"\"}]}",
		0, "needs a size");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"size\":3,\"sha256\":\"" SHA_ABC
		"\",\"mode\":420}]}",
		0, "unknown key 'mode'");
	refused(F(",{\"path\":\"../x\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0, "contains '..'");
	refused(F(",{\"path\":\"/etc/passwd\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0, "is absolute");
	refused(F(",{\"path\":\"a//b\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0, "empty component");
	refused(F(",{\"path\":\"a/./b\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0, "contains '.'");
	refused(F(",{\"path\":\"a b\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0, "character outside");
	refused(F(",{\"path\":\"manifest.json\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0,
		"the manifest itself");
	refused(F(",{\"path\":\"vmlinux\",\"size\":3,\"sha256\":\"" SHA_ABC "\"}"), 0, "lists 'vmlinux' twice");
	refused(F(",{\"path\":\"vmlinux/x\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}"), 0,
		"below the file 'vmlinux'");
	refused(F(",{\"path\":\"l\",\"symlink\":\"/etc/passwd\"}"), 0, "points outside the bundle");
	refused(F(",{\"path\":\"a/l\",\"symlink\":\"../../etc/passwd\"}"), 0, "points outside the bundle");
	refused(F(",{\"path\":\"l\",\"symlink\":\"a/../../x\"}"), 0, "points outside the bundle");
	refused(F(",{\"path\":\"l\",\"symlink\":\"\"}"), 0, "points outside the bundle");
	refused(F(",{\"path\":\"l\",\"symlink\":\"x\",\"size\":1}"), 0, "no size or sha256");
	refused(F(",{\"path\":\"d\",\"symlink\":\"x\"},{\"path\":\"l\",\"symlink\":\"d/y\"}"), 0,
		"leads through the symlink 'd'");
	refused(F(",{\"path\":\"x\",\"size\":0,\"sha256\":\"" SHA_EMPTY "0\"}"), 0,
		"not 64 lowercase hex digits");
	refused(F(",{\"path\":\"x\",\"size\":0,\"sha256\":\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"}"),
		0, "not 64 lowercase hex digits");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"files\":[{\"path\":\"vmlinux\",\"symlink\":\"x\"}]}", 0,
		"does not list vmlinux as a regular file");
	refused("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_EMPTY
		"\",\"files\":[{\"path\":\"vmlinux\",\"size\":3,\"sha256\":\"" SHA_ABC "\"}]}",
		0, "sha256 disagrees");
#undef F
}

static void test_path_check(void **state)
{
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(manifest_path_check("modules/6.1.0-57-cloud-amd64/kernel/a_b+c,d=e@f~g:h.ko", &err), 0);
	assert_int_equal(manifest_path_check("", &err), -EINVAL);
	assert_int_equal(manifest_path_check("a/", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "ends with '/'"));
	assert_int_equal(manifest_path_check("..", &err), -EINVAL);
	assert_int_equal(manifest_path_check("a/..", &err), -EINVAL);
	assert_int_equal(manifest_path_check("a\\b", &err), -EINVAL);
	assert_int_equal(manifest_path_check("a\nb", &err), -EINVAL);
	assert_int_equal(manifest_path_check("1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", &err), 0);
	assert_int_equal(manifest_path_check("1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "deeper than 16"));
	char longp[MANIFEST_MAX_PATH + 2];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(manifest_path_check(longp, &err), -EINVAL);
	assert_int_equal(bundle_name_check("debian-bookworm-mini", &err), 0);
	assert_int_equal(bundle_name_check(".x", &err), -EINVAL);
	assert_int_equal(bundle_name_check("A", &err), -EINVAL);
	assert_string_equal(bundle_main_file("image"), "rootfs.ext4");
	assert_string_equal(bundle_main_file("kernel"), "vmlinux");
	assert_null(bundle_main_file("vm"));
}

/* ---- directory bundles --------------------------------------------- */

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = ct_tmpdir("manifest");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	free(dir);
	return 0;
}

static void mf(const char *text)
{
	ct_write(p("%s/manifest.json", dir), text, strlen(text));
}

static void verify_fails(const char *want)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	int r = bundle_verify_dir(dir, &m, &err);
	if (r == 0 || !strstr(err.msg, want))
		fail_msg("got %d '%s', wanted an error with '%s'", r, err.msg, want);
	assert_null(m);
}

static void test_verify_legacy_kernel(void **state)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	char sha_i[65];
	(void)state;
	ct_write(p("%s/vmlinux", dir), "abc", 3);
	ct_write(p("%s/initrd.img", dir), "initrd", 6);
	ct_write(p("%s/config", dir), "CONFIG_X=y", 10);
	ct_write(p("%s/.recipe", dir), "x", 1);
	ct_sha("initrd", 6, sha_i);
	/* an initrd without a sum in the manifest is refused, not copied unchecked */
	mf("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC "\"}");
	verify_fails("initrd.img has no sum in manifest.json");
	mf(p("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC "\",\"initrd_sha256\":\"%s\"}",
	     sha_i));
	assert_int_equal(bundle_verify_dir(dir, &m, &err), 0);
	assert_int_equal(m->n_files, 2);
	assert_null(manifest_find(m, "config")); /* not summed: not part of the bundle */
	manifest_free(m);
	/* the initrd's sum is checked */
	ct_write(p("%s/initrd.img", dir), "initrD", 6);
	verify_fails("initrd.img has sha256");
	ct_write(p("%s/initrd.img", dir), "initrd", 6);
	/* modules too */
	ct_write(p("%s/modules.tar.gz", dir), "mods", 4);
	verify_fails("modules.tar.gz has no sum");
	mf(p("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC
	     "\",\"initrd_sha256\":\"%s\",\"modules_sha256\":\"" SHA_ABC "\"}",
	     sha_i));
	verify_fails("modules.tar.gz has sha256");
	/* a manifest without sha256 */
	mf("{\"name\":\"k\",\"kind\":\"kernel\"}");
	verify_fails("neither a files list nor a sha256 of vmlinux");
	/* a named file that is absent */
	unlink(p("%s/modules.tar.gz", dir));
	mf(p("{\"name\":\"k\",\"kind\":\"kernel\",\"sha256\":\"" SHA_ABC
	     "\",\"initrd_sha256\":\"%s\",\"modules_sha256\":\"" SHA_ABC "\"}",
	     sha_i));
	verify_fails("names modules.tar.gz, which is absent");
}

static void test_verify_image_symlinks(void **state)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	(void)state;
	ct_write(p("%s/real.ext4", dir), "abc", 3);
	assert_int_equal(symlink("real.ext4", p("%s/rootfs.ext4", dir)), 0);
	mf("{\"name\":\"img\",\"kind\":\"image\",\"size\":3,\"sha256\":\"" SHA_ABC "\"}");
	verify_fails("rootfs.ext4 is reached through a symlink (refused, not followed)");
	unlink(p("%s/rootfs.ext4", dir));
	ct_write(p("%s/rootfs.ext4", dir), "abc", 3);
	assert_int_equal(bundle_verify_dir(dir, &m, &err), 0);
	m = manifest_free(m);
	/* size is checked (legacy "size" of an image) */
	mf("{\"name\":\"img\",\"kind\":\"image\",\"size\":4,\"sha256\":\"" SHA_ABC "\"}");
	verify_fails("has 3 bytes, the manifest says 4");
	/* a symlinked parent directory in a files list */
	assert_int_equal(mkdir(p("%s/realdir", dir), 0755), 0);
	ct_write(p("%s/realdir/x", dir), "", 0);
	assert_int_equal(symlink("realdir", p("%s/sub", dir)), 0);
	mf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\",\"size\":3,\"sha256\":\"" SHA_ABC
	   "\"},{\"path\":\"sub/x\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}]}");
	verify_fails("sub/x is reached through a symlink");
	/* a listed symlink must be one, with that target */
	mf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\",\"size\":3,\"sha256\":\"" SHA_ABC
	   "\"},{\"path\":\"sub\",\"symlink\":\"realdir\"},{\"path\":\"realdir/x\",\"size\":0,\"sha256\":\"" SHA_EMPTY "\"}]}");
	assert_int_equal(bundle_verify_dir(dir, &m, &err), 0);
	m = manifest_free(m);
	mf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\",\"size\":3,\"sha256\":\"" SHA_ABC
	   "\"},{\"path\":\"sub\",\"symlink\":\"other\"}]}");
	verify_fails("points to 'realdir', the manifest says 'other'");
	/* manifest.json itself may not be a symlink */
	assert_int_equal(rename(p("%s/manifest.json", dir), p("%s/m2", dir)), 0);
	assert_int_equal(symlink("m2", p("%s/manifest.json", dir)), 0);
	verify_fails("manifest.json is a symlink");
	/* a bundle directory given through a symlink is fine */
	unlink(p("%s/manifest.json", dir));
	mf("{\"name\":\"img\",\"kind\":\"image\",\"size\":3,\"sha256\":\"" SHA_ABC "\"}");
	const char *via = p("%s.link", dir);
	assert_int_equal(symlink(dir, via), 0);
	assert_int_equal(bundle_verify_dir(via, &m, &err), 0);
	unlink(via);
	manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_files),
		cmocka_unit_test(test_parse_legacy),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_path_check),
		cmocka_unit_test_setup_teardown(test_verify_legacy_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_image_symlinks, setup, teardown),
	};
	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
