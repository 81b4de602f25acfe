/* Unit tests: catalog index parsing, URLs, keys, signatures and the trust
 * policy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cattest.h"
#include "catindex.h"
#include "publish.h"
#include "testutil.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define BASE "https://cat.example/banger/index.json"

#define KERNEL "{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\"," \
	"\"url\":\"kernels/k-1.tar.zst\",\"size\":10,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":20}"
#define IMAGE "{\"name\":\"img\",\"kind\":\"image\",\"version\":\"2.0~rc1\",\"arch\":\"x86_64\"," \
	"\"description\":\"a test image\",\"url\":\"https://mirror.example/img.tar.zst\",\"size\":10," \
	"\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":20,\"kernel\":\"k\",\"min_disk_size\":1073741824}"
#define DOC(entries) "{\"format_version\":1,\"generated_at\":\"2026-12-07T00:00:00Z\",\"entries\":[" entries "]}"

static void refused(const char *text, const char *want)
{
	struct cat_index *ix = NULL;
	struct berr err = { 0 };
	int r = cat_index_parse(text, strlen(text), BASE, &ix, &err);
	if (r == 0 || !strstr(err.msg, want))
		fail_msg("'%s': got %d '%s', wanted an error with '%s'", text, r, err.msg, want);
	assert_null(ix);
}

static void test_parse_ok(void **state)
{
	struct cat_index *ix = NULL;
	struct berr err = { 0 };
	(void)state;
	const char *t = DOC(KERNEL "," IMAGE);
	assert_int_equal(cat_index_parse(t, strlen(t), BASE, &ix, &err), 0);
	assert_int_equal(ix->n_entries, 2);
	assert_string_equal(ix->generated_at, "2026-12-07T00:00:00Z");
	const struct cat_entry *k = cat_index_find(ix, "kernel", "k", "x86_64");
	assert_non_null(k);
	assert_string_equal(k->url, "https://cat.example/banger/kernels/k-1.tar.zst");
	assert_null(k->kernel);
	assert_int_equal(k->min_disk_size, 0);
	const struct cat_entry *i = cat_index_find(ix, "image", "img", NULL);
	assert_string_equal(i->url, "https://mirror.example/img.tar.zst");
	assert_string_equal(i->kernel, "k");
	assert_string_equal(i->version, "2.0~rc1");
	assert_int_equal(i->min_disk_size, 1073741824);
	assert_int_equal(i->size, 10);
	assert_int_equal(i->unpacked_size, 20);
	assert_null(cat_index_find(ix, "image", "img", "aarch64"));
	assert_null(cat_index_find(ix, "kernel", "img", NULL));
	struct cat_entry copy;
	cat_entry_copy(&copy, i);
	cat_index_free(ix);
	assert_string_equal(copy.description, "a test image");
	cat_entry_clear(&copy);
	/* empty catalogs are fine */
	assert_int_equal(cat_index_parse(DOC(""), strlen(DOC("")), BASE, &ix, &err), 0);
	assert_int_equal(ix->n_entries, 0);
	cat_index_free(ix);
}

static void test_parse_refusals(void **state)
{
	(void)state;
	const char *good = DOC(KERNEL);
	/* truncated at every length: never accepted, never a crash */
	for (size_t n = 0; n < strlen(good); n++) {
		struct cat_index *ix = NULL;
		struct berr err = { 0 };
		assert_int_equal(cat_index_parse(good, n, BASE, &ix, &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
	}
	refused("{\"format_version\":1,\"entries\":[", "invalid JSON");
	refused("[]", "not a JSON object");
	refused("{\"format_version\":2,\"entries\":[]}", "format_version 2; this banger reads 1");
	refused("{\"format_version\":\"1\",\"entries\":[]}", "no integer format_version");
	refused("{\"format_version\":1}", "no entries array");
	refused("{\"format_version\":1,\"entries\":[],\"signature\":\"x\"}", "unknown key 'signature'");
	refused("{\"format_version\":1,\"format_version\":1,\"entries\":[]}", "invalid JSON");
	refused(DOC("1"), "entries[0]: not an object");
	refused(DOC(KERNEL "," KERNEL), "lists kernel k for x86_64 twice");
#define E(json) DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\",\"size\":10,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":20," json "}")
	refused(E("\"url\":\"k.tar.zst\",\"extra\":1"), "unknown key 'extra'");
	refused(E("\"url\":\"../k.tar.zst\""), "'.' or '..' segment");
	refused(E("\"url\":\"/k.tar.zst\""), "neither absolute nor a plain relative path");
	refused(E("\"url\":\"a?b\""), "neither absolute");
	refused(E("\"url\":\"file:///etc/passwd\""), "a file URL in an index that is not");
	refused(E("\"url\":\"ftp://x/k\""), "not an http, https or file URL");
	refused(E("\"url\":\"https:///k\""), "has no host");
	refused(E("\"url\":\"k.tar.zst\",\"kernel\":\"x\""), "only an image names a kernel");
	refused(E("\"url\":\"k.tar.zst\",\"min_disk_size\":5"), "only an image has a min_disk_size");
	refused(E("\"url\":\"k.tar.zst\",\"description\":\"a\\nb\""), "control character");
	refused(E("\"url\":\"\""), "url must be 1-");
	refused(DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":0,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":20}"),
		"size must be an integer of at least 1");
	refused(DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\"}"),
		"unpacked_size is missing");
	refused(DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"abc\",\"unpacked_size\":1}"),
		"sha256 must be 64 lowercase hex digits");
	refused(DOC("{\"name\":\"K\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":1}"),
		"may only use a-z");
	refused(DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1 2\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":1}"),
		"version '1 2' may only use");
	refused(DOC("{\"name\":\"k\",\"kind\":\"kernel\",\"version\":\"1\",\"arch\":\"X86\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":1}"),
		"arch 'X86' may only use");
	refused(DOC("{\"name\":\"i\",\"kind\":\"image\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":1}"),
		"min_disk_size is missing");
	refused(DOC("{\"name\":\"i\",\"kind\":\"vm\",\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"k\",\"size\":1,\"sha256\":\"" SHA_ABC "\",\"unpacked_size\":1}"),
		"kind must be image or kernel");
#undef E
	struct cat_index *ix = NULL;
	struct berr err = { 0 };
	assert_int_equal(cat_index_parse(good, strlen(good), "ftp://x/index.json", &ix, &err), -EINVAL);
}

static void test_urls(void **state)
{
	struct berr err = { 0 };
	char *u;
	(void)state;
#define RES(base, ref, want)                                   \
	do {                                                   \
		u = cat_url_resolve(base, ref, &err);          \
		assert_non_null(u);                            \
		assert_string_equal(u, want);                  \
		free(u);                                       \
	} while (0)
	RES("https://h/a/index.json", "x/y.tar.zst", "https://h/a/x/y.tar.zst");
	RES("https://h/a/index.json?sig=1#f", "y", "https://h/a/y");
	RES("https://h", "y", "https://h/y");
	RES("https://h/", "y", "https://h/y");
	RES("file:///srv/cat/index.json", "images/i.tar.zst", "file:///srv/cat/images/i.tar.zst");
	RES("file:///srv/cat/index.json", "file:///elsewhere/i.tar.zst", "file:///elsewhere/i.tar.zst");
	RES("https://h/a/index.json", "http://mirror/i", "http://mirror/i");
	assert_null(cat_url_resolve("https://h/a/index.json", "./x", &err));
	assert_null(cat_url_resolve("https://h/a/index.json", "a//x", &err));
	assert_null(cat_url_resolve("https://h/a/index.json", "a b", &err));
	assert_null(cat_url_resolve("https://h/a/index.json", "c:x", &err));
#undef RES
	u = cat_index_url("https://h/cat/");
	assert_string_equal(u, "https://h/cat/index.json");
	free(u);
	u = cat_index_url("https://h/cat/main.json");
	assert_string_equal(u, "https://h/cat/main.json");
	free(u);
	u = cat_url_file_path("file:///srv/my%20cat/index.json");
	assert_string_equal(u, "/srv/my cat/index.json");
	free(u);
	u = cat_url_file_path("file://localhost/srv/x");
	assert_string_equal(u, "/srv/x");
	free(u);
	assert_null(cat_url_file_path("file://host/srv/x"));
	assert_null(cat_url_file_path("file:///a%00b"));
	assert_null(cat_url_file_path("https://h/x"));
	assert_int_equal(cat_url_check("HTTPS://h/x", &err), 0);
	assert_int_equal(cat_url_check("file://relative/x", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "file:///PATH"));
	assert_true(cat_url_is_file("FILE:///x"));
}

/* ---- keys and signatures ------------------------------------------- */

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = ct_tmpdir("catindex");
	ct_keypair(p("%s/key", dir), p("%s/key.pub", dir));
	ct_keypair(p("%s/other", dir), p("%s/other.pub", dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	free(dir);
	return 0;
}

static void test_keys(void **state)
{
	void *k = NULL;
	struct berr err = { 0 };
	char *pem = NULL;
	(void)state;
	/* a file */
	assert_int_equal(cat_pubkey_load(p("%s/key.pub", dir), &k, &err), 0);
	cat_pubkey_free(k);
	/* PEM text, and the base64 line alone */
	assert_int_equal(read_file(p("%s/key.pub", dir), 4096, &pem, NULL), 0);
	assert_int_equal(cat_pubkey_load(pem, &k, &err), 0);
	cat_pubkey_free(k);
	char *b64 = strchr(pem, '\n') + 1;
	*strchr(b64, '\n') = '\0';
	assert_int_equal(strlen(b64), 60);
	assert_int_equal(cat_pubkey_load(b64, &k, &err), 0);
	cat_pubkey_free(k);
	free(pem);
	/* refusals */
	assert_int_equal(cat_pubkey_load("", &k, &err), -EINVAL);
	assert_int_equal(cat_pubkey_load("not-a-key", &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither a PEM file"));
	assert_int_equal(cat_pubkey_load(p("%s/missing.pub", dir), &k, &err), -ENOENT);
	/* an RSA key is not an Ed25519 key */
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
	EVP_PKEY *rsa = NULL;
	assert_int_equal(EVP_PKEY_keygen_init(c), 1);
	EVP_PKEY_CTX_set_rsa_keygen_bits(c, 1024);
	assert_int_equal(EVP_PKEY_keygen(c, &rsa), 1);
	FILE *f = fopen(p("%s/rsa.pub", dir), "w");
	PEM_write_PUBKEY(f, rsa);
	fclose(f);
	f = fopen(p("%s/rsa", dir), "w");
	PEM_write_PrivateKey(f, rsa, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(rsa);
	EVP_PKEY_CTX_free(c);
	assert_int_equal(cat_pubkey_load(p("%s/rsa.pub", dir), &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not an Ed25519 key"));
	unsigned char sig[64];
	assert_int_equal(cat_sign(p("%s/rsa", dir), "x", 1, sig, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "openssl genpkey -algorithm ed25519"));
	assert_int_equal(cat_sign(p("%s/key.pub", dir), "x", 1, sig, &err), -EINVAL);
}

static void test_signatures(void **state)
{
	void *key = NULL, *other = NULL;
	struct berr err = { 0 };
	unsigned char sig[64];
	bool verified;
	const char *doc = DOC(KERNEL);
	size_t len = strlen(doc);
	(void)state;
	assert_int_equal(cat_pubkey_load(p("%s/key.pub", dir), &key, &err), 0);
	assert_int_equal(cat_pubkey_load(p("%s/other.pub", dir), &other, &err), 0);
	assert_int_equal(cat_sign(p("%s/key", dir), doc, len, sig, &err), 0);
	assert_int_equal(cat_sig_verify(doc, len, sig, 64, key, &err), 0);
	assert_int_equal(cat_sig_verify(doc, len, sig, 64, other, &err), -EBADMSG);
	assert_int_equal(cat_sig_verify(doc, len - 1, sig, 64, key, &err), -EBADMSG);
	assert_int_equal(cat_sig_verify(doc, len, sig, 63, key, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "63 bytes"));

	/* the trust policy */
	assert_int_equal(cat_index_trust(BASE, doc, len, sig, 64, key, false, &verified, &err), 0);
	assert_true(verified);
	assert_int_equal(cat_index_trust(BASE, doc, len, NULL, 0, key, false, &verified, &err), -EPERM);
	assert_non_null(strstr(err.msg, "is unsigned (no " BASE ".sig)"));
	assert_int_equal(cat_index_trust(BASE, doc, len, sig, 64, other, false, &verified, &err), -EPERM);
	assert_non_null(strstr(err.msg, "is badly signed: signature does not match catalog_pubkey"));
	assert_int_equal(cat_index_trust(BASE, doc, len, sig, 64, NULL, false, &verified, &err), -EPERM);
	assert_non_null(strstr(err.msg, "no catalog_pubkey is configured"));
	/* insecure matters only for file URLs */
	assert_int_equal(cat_index_trust(BASE, doc, len, NULL, 0, key, true, &verified, &err), -EPERM);
	assert_int_equal(cat_index_trust("file:///c/index.json", doc, len, NULL, 0, key, false,
					 &verified, &err),
			 -EPERM);
	assert_int_equal(cat_index_trust("file:///c/index.json", doc, len, NULL, 0, NULL, true,
					 &verified, &err),
			 0);
	assert_false(verified);
	assert_int_equal(cat_index_trust("file:///c/index.json", doc, len, sig, 64, other, true,
					 &verified, &err),
			 0);
	assert_false(verified);
	assert_int_equal(cat_index_trust("file:///c/index.json", doc, len, sig, 64, key, true,
					 &verified, &err),
			 0);
	assert_true(verified);
	cat_pubkey_free(key);
	cat_pubkey_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_urls),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signatures, setup, teardown),
	};
	return cmocka_run_group_tests_name("catindex", tests, NULL, NULL);
}
