/* tests/unit/test_oci_meta.c: image references (Docker Hub rules),
 * manifests and indexes, image configs, WWW-Authenticate challenges,
 * docker config credentials, and the blob cache (digest and size checks,
 * concurrent writers of one digest). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "testutil.h"

#include "ociint.h"
#include "util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void digest_of(const void *data, size_t len, char out[OCI_DIGEST_LEN + 1])
{
	unsigned char md[32];

	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	oci_hex(md, out + 7);
}

static void test_ref_docker_hub(void **state)
{
	struct oci_ref r;
	struct berr err = { 0 };
	char buf[600];

	assert_int_equal(oci_ref_parse("debian", &r, &err), 0);
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.registry, "registry-1.docker.io");
	assert_string_equal(r.repo, "library/debian");
	assert_string_equal(r.tag, "latest");
	assert_string_equal(r.digest, "");
	oci_ref_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "docker.io/library/debian:latest");

	assert_int_equal(oci_ref_parse("docker.io/library/debian:bookworm", &r, &err), 0);
	assert_string_equal(r.repo, "library/debian");
	assert_string_equal(r.tag, "bookworm");
	assert_int_equal(oci_ref_parse("index.docker.io/acme/tool:1.2", &r, &err), 0);
	assert_string_equal(r.domain, "docker.io");
	assert_string_equal(r.repo, "acme/tool");
	assert_int_equal(oci_ref_parse("docker://acme/tool", &r, &err), 0);
	assert_string_equal(r.repo, "acme/tool");
	assert_string_equal(r.registry, "registry-1.docker.io");
}

static void test_ref_registries(void **state)
{
	struct oci_ref r;
	struct berr err = { 0 };

	assert_int_equal(oci_ref_parse("ghcr.io/owner/image@" D1, &r, &err), 0);
	assert_string_equal(r.registry, "ghcr.io");
	assert_string_equal(r.repo, "owner/image");
	assert_string_equal(r.tag, "");
	assert_string_equal(r.digest, D1);
	assert_int_equal(oci_ref_parse("127.0.0.1:5000/a/b/c:v1.0-rc_2", &r, &err), 0);
	assert_string_equal(r.registry, "127.0.0.1:5000");
	assert_string_equal(r.repo, "a/b/c");
	assert_string_equal(r.tag, "v1.0-rc_2");
	assert_int_equal(oci_ref_parse("localhost/x", &r, &err), 0);
	assert_string_equal(r.registry, "localhost");
	assert_string_equal(r.repo, "x");
	assert_int_equal(oci_ref_parse("[::1]:5000/x:t", &r, &err), 0);
	assert_string_equal(r.registry, "[::1]:5000");
	assert_int_equal(oci_ref_parse("reg.example:443/x:t@" D2, &r, &err), 0);
	assert_string_equal(r.tag, "t");
	assert_string_equal(r.digest, D2);
	/* a single component with a dot is a repository, not a registry */
	assert_int_equal(oci_ref_parse("my.image", &r, &err), 0);
	assert_string_equal(r.repo, "library/my.image");
}

static void test_ref_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"Debian",
		"a//b",
		"x:",
		"x@sha256:abc",
		"x@md5:0123",
		"has space",
		"x:t@" D1 "0",
		"-lead",
		"a/_b",
		"reg.io:/x",
		"reg.io:123456/x",
		"x:-tag",
		"x\n",
	};
	struct oci_ref r;
	struct berr err = { 0 };
	char big[700];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		berr_clear(&err);
		assert_int_equal(oci_ref_parse(bad[i], &r, &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(oci_ref_parse(big, &r, &err), -EINVAL);
	memset(big, 'a', 300);
	big[300] = '\0';
	assert_int_equal(oci_ref_parse(big, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "255"));
}

static const char *manifest_oci =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
	"\",\"size\":10},"
	"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2
	"\",\"size\":20},"
	"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3
	"\",\"size\":30}]}";

static void test_manifest_image(void **state)
{
	struct oci_manifest m;
	struct berr err = { 0 };
	const char *docker =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
		"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D1
		"\",\"size\":1},\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
		"\"digest\":\"" D2 "\",\"size\":2}]}";
	/* OCI allows leaving mediaType out: told by Content-Type or fields. */
	const char *bare = "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
			   "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
			   "\",\"size\":1},\"layers\":[]}";

	assert_int_equal(oci_manifest_parse(manifest_oci, strlen(manifest_oci), NULL, 128, &m, &err), 0);
	assert_int_equal(m.kind, OCI_M_IMAGE);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.items[1].size, 30);
	assert_int_equal(oci_layer_compression(m.items[0].media_type), OCI_COMP_GZIP);
	assert_int_equal(oci_layer_compression(m.items[1].media_type), OCI_COMP_ZSTD);
	oci_manifest_free(&m);
	assert_int_equal(oci_manifest_parse(docker, strlen(docker), NULL, 128, &m, &err), 0);
	assert_int_equal(m.n, 1);
	oci_manifest_free(&m);
	assert_int_equal(oci_manifest_parse(bare, strlen(bare), NULL, 128, &m, &err), 0);
	assert_int_equal(m.kind, OCI_M_IMAGE);
	assert_int_equal(m.n, 0);
	oci_manifest_free(&m);
}

static void expect_refused(const char *body, int code, const char *words)
{
	struct oci_manifest m;
	struct berr err = { 0 };

	assert_int_equal(oci_manifest_parse(body, strlen(body), NULL, 128, &m, &err), -code);
	if (!strstr(err.msg, words))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, words);
}

static void test_manifest_refused(void **state)
{
	struct sbuf s;
	struct oci_manifest m;
	struct berr err = { 0 };
	char *big;

	expect_refused("{\"schemaVersion\":1,\"name\":\"x\"}", ENOTSUP, "schema 1");
	expect_refused("[1]", EINVAL, "not a JSON object");
	expect_refused("{\"schemaVersion\":2,\"mediaType\":\"application/x\"}", ENOTSUP,
		       "unsupported manifest media type");
	expect_refused("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		       "\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\",\"digest\":\"" D1
		       "\",\"size\":1},\"layers\":[]}",
		       ENOTSUP, "not a container image");
	expect_refused("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		       "\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
		       EINVAL, "no sha256 digest");
	expect_refused("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		       "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
		       "\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"" D2
		       "\",\"size\":1}]}",
		       ENOTSUP, "foreign layer");
	expect_refused("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		       "\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
		       EINVAL, "no valid size");

	/* A manifest with 1000 layers. */
	sbuf_init(&s);
	sbuf_puts(&s, "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		      "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[");
	for (int i = 0; i < 1000; i++)
		sbuf_printf(&s, "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
			    "\",\"size\":1}", i ? "," : "");
	sbuf_puts(&s, "]}");
	expect_refused(s.buf, E2BIG, "1000 layers, more than the limit of 128");
	sbuf_free(&s);

	/* A 50 MiB manifest. */
	big = xmalloc(50u << 20);
	memset(big, ' ', 50u << 20);
	assert_int_equal(oci_manifest_parse(big, 50u << 20, NULL, 128, &m, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "more than the limit"));
	free(big);
	/* Docker schema 1 by Content-Type. */
	assert_int_equal(oci_manifest_parse("{}", 2,
					    "application/vnd.docker.distribution.manifest.v1+prettyjws",
					    128, &m, &err),
			 -ENOTSUP);
}

static void test_index_pick(void **state)
{
	const char *idx =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
		"\",\"size\":1,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2
		"\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3
		"\",\"size\":3,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
		"\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}";
	const char *list =
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
		"\"manifests\":[{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" D2
		"\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\"}},"
		"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
		"\",\"size\":1,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";
	struct oci_manifest m;
	struct berr err = { 0 };
	size_t i = 99;

	assert_int_equal(oci_manifest_parse(idx, strlen(idx), NULL, 128, &m, &err), 0);
	assert_int_equal(m.kind, OCI_M_INDEX);
	assert_int_equal(oci_index_pick(&m, "linux", "amd64", &i, &err), 0);
	assert_int_equal(i, 2);
	assert_string_equal(m.items[2].ref_name, "v1");
	oci_manifest_free(&m);
	assert_int_equal(oci_manifest_parse(list, strlen(list), NULL, 128, &m, &err), 0);
	assert_int_equal(oci_index_pick(&m, "linux", "amd64", &i, &err), -ENOENT);
	/* the attestation is not listed as a platform */
	assert_non_null(strstr(err.msg, "no linux/amd64 image (it has: linux/arm)"));
	oci_manifest_free(&m);
}

static void test_config(void **state)
{
	const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\",\"A=b\"],"
			  "\"Cmd\":[\"sh\"],\"Entrypoint\":null,\"WorkingDir\":\"/srv\",\"User\":\"1000:1000\","
			  "\"ExposedPorts\":{\"80/tcp\":{}}},"
			  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
			  "\"history\":[{\"created_by\":\"x\"}]}";
	struct oci_config c;
	struct berr err = { 0 };
	char *dump;

	assert_int_equal(oci_config_parse(cfg, strlen(cfg), &c, &err), 0);
	assert_string_equal(c.os, "linux");
	assert_string_equal(c.arch, "amd64");
	assert_int_equal(c.n_diff_ids, 2);
	assert_string_equal(c.diff_ids[1], D2);
	dump = json_dumps(c.run, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(dump, "{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/bin\",\"A=b\"],\"User\":\"1000:1000\","
				  "\"WorkingDir\":\"/srv\"}");
	free(dump);
	oci_config_free(&c);

	const char *bad_env = "{\"config\":{\"Env\":\"PATH=/bin\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	assert_int_equal(oci_config_parse(bad_env, strlen(bad_env), &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config.Env"));
	const char *no_rootfs = "{\"config\":{}}";
	assert_int_equal(oci_config_parse(no_rootfs, strlen(no_rootfs), &c, &err), -EINVAL);
	const char *bad_id = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:x\"]}}";
	assert_int_equal(oci_config_parse(bad_id, strlen(bad_id), &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "diff_id 1"));
}

static void test_challenge(void **state)
{
	struct oci_challenge c;
	struct berr err = { 0 };

	assert_int_equal(oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
					     "scope=\"repository:library/debian:pull\"",
					     &c, &err),
			 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/debian:pull");
	assert_int_equal(oci_challenge_parse("bearer  realm=http://h:1/t , service=s,extra=\"a\\\"b\"", &c, &err), 0);
	assert_string_equal(c.realm, "http://h:1/t");
	assert_string_equal(c.service, "s");
	assert_string_equal(c.scope, "");
	assert_int_equal(oci_challenge_parse("Basic realm=\"Registry Realm\"", &c, &err), 0);
	assert_string_equal(c.scheme, "basic");

	assert_int_equal(oci_challenge_parse(NULL, &c, &err), -EPROTO);
	assert_int_equal(oci_challenge_parse("Negotiate", &c, &err), -ENOTSUP);
	assert_int_equal(oci_challenge_parse("Bearer service=x", &c, &err), -EPROTO);
	assert_int_equal(oci_challenge_parse("Bearer realm=\"unterminated", &c, &err), -EPROTO);
	assert_int_equal(oci_challenge_parse("Bearer realm", &c, &err), -EPROTO);
	assert_int_equal(oci_challenge_parse("Bearer realm=\"a\x01\"", &c, &err), -EPROTO);
}

static void test_docker_auth(void **state)
{
	/* dXNlcjpwYTpzcw== is "user:pa:ss" */
	const char *cfg = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
			  "\"127.0.0.1:5000\":{\"username\":\"u2\",\"password\":\"p2\"},"
			  "\"http://reg.example:8080/path\":{\"auth\":\"YTpi\"},"
			  "\"bad.example\":{\"auth\":\"!!!!\"}},\"credsStore\":\"desktop\"}";
	char *u = NULL, *p = NULL;
	struct berr err = { 0 };

	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "registry-1.docker.io", &u, &p, &err), 0);
	assert_string_equal(u, "user");
	assert_string_equal(p, "pa:ss");
	free(u), free(p);
	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "127.0.0.1:5000", &u, &p, &err), 0);
	assert_string_equal(u, "u2");
	assert_string_equal(p, "p2");
	free(u), free(p);
	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "reg.example:8080", &u, &p, &err), 0);
	assert_string_equal(u, "a");
	assert_string_equal(p, "b");
	free(u), free(p);
	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "ghcr.io", &u, &p, &err), -ENOENT);
	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "127.0.0.1:5001", &u, &p, &err), -ENOENT);
	assert_int_equal(oci_docker_auth(cfg, strlen(cfg), "bad.example", &u, &p, &err), -EINVAL);
	assert_int_equal(oci_docker_auth("[", 1, "x", &u, &p, &err), -EINVAL);
}

/* --- blob cache --- */

struct cache_fixture {
	char dir[64];
	struct oci_cache c;
};

static int cache_setup(void **state)
{
	struct cache_fixture *f = xcalloc(1, sizeof(*f));
	struct berr err = { 0 };

	strcpy(f->dir, "/tmp/banger-test-ocimeta-XXXXXX");
	if (!mkdtemp(f->dir) || oci_cache_open(f->dir, &f->c, &err) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int cache_teardown(void **state)
{
	struct cache_fixture *f = *state;

	oci_cache_close(&f->c);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static size_t count_files(const char *dir)
{
	_cleanup_free_ char *cmd = xasprintf("ls -A %s | wc -l", dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	assert_non_null(p);
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static void test_blob_writer(void **state)
{
	struct cache_fixture *f = *state;
	struct oci_blob_writer *w;
	struct oci_desc d = { .size = 11 };
	struct berr err = { 0 };
	char *data = NULL;
	size_t len = 0;

	digest_of("hello world", 11, d.digest);
	assert_int_equal(oci_blob_writer_open(&f->c, &d, &w, &err), 0);
	assert_int_equal(oci_blob_writer_write(w, "hello ", 6, &err), 0);
	assert_int_equal(oci_blob_writer_write(w, "world", 5, &err), 0);
	assert_int_equal(oci_blob_writer_commit(w, &err), 0);
	oci_blob_writer_free(w);
	assert_int_equal(oci_blob_read(&f->c, d.digest, 100, &data, &len, &err), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(data, "hello world", 11);
	free(data);
	assert_int_equal(oci_blob_read(&f->c, d.digest, 5, &data, &len, &err), -EFBIG);

	/* Wrong content: refused, nothing left. */
	struct oci_desc bad = { .size = 11 };
	memcpy(bad.digest, D1, sizeof(D1));
	assert_int_equal(oci_blob_writer_open(&f->c, &bad, &w, &err), 0);
	assert_int_equal(oci_blob_writer_write(w, "hello world", 11, &err), 0);
	assert_int_equal(oci_blob_writer_commit(w, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "wrong content"));
	oci_blob_writer_free(w);
	/* More bytes than the descriptor: refused as they arrive. */
	assert_int_equal(oci_blob_writer_open(&f->c, &d, &w, &err), 0);
	assert_int_equal(oci_blob_writer_write(w, "hello world!", 12, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "larger than"));
	oci_blob_writer_free(w);
	/* Fewer. */
	assert_int_equal(oci_blob_writer_open(&f->c, &d, &w, &err), 0);
	assert_int_equal(oci_blob_writer_write(w, "hello", 5, &err), 0);
	assert_int_equal(oci_blob_writer_commit(w, &err), -EBADMSG);
	oci_blob_writer_free(w);
	assert_int_equal(count_files(f->c.blobs), 1);
	/* A tampered cache file is caught on read. */
	_cleanup_free_ char *path = oci_blob_path(&f->c, d.digest);
	assert_int_equal(write_file_atomic(path, "HELLO world", 11, 0600), 0);
	assert_int_equal(oci_blob_read(&f->c, d.digest, 100, &data, &len, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "corrupt"));
}

struct racer {
	struct oci_cache *c;
	struct oci_desc d;
	const char *data;
	int r;
	int wrote;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	struct berr err = { 0 };
	_cleanup_free_ char *path = oci_blob_path(x->c, x->d.digest);
	int lock = oci_blob_lock(x->c, x->d.digest, NULL, &err);

	if (lock < 0) {
		x->r = lock;
		return NULL;
	}
	if (access(path, F_OK) != 0) {
		struct oci_blob_writer *w;
		x->r = oci_blob_writer_open(x->c, &x->d, &w, &err);
		for (size_t i = 0; x->r == 0 && i < x->d.size; i += 4096) {
			size_t n = x->d.size - i < 4096 ? x->d.size - i : 4096;
			x->r = oci_blob_writer_write(w, x->data + i, n, &err);
			usleep(100);
		}
		if (x->r == 0)
			x->r = oci_blob_writer_commit(w, &err);
		oci_blob_writer_free(w);
		x->wrote = 1;
	}
	unlock_close(lock);
	return NULL;
}

static void test_blob_concurrent(void **state)
{
	struct cache_fixture *f = *state;
	struct racer r[4];
	pthread_t t[4];
	size_t n = 256 * 1024;
	char *data = xmalloc(n);
	struct oci_desc d = { .size = n };
	int wrote = 0;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7);
	digest_of(data, n, d.digest);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .c = &f->c, .d = d, .data = data };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].r, 0);
		wrote += r[i].wrote;
	}
	assert_int_equal(wrote, 1); /* the others found it cached */
	assert_int_equal(count_files(f->c.blobs), 1);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_docker_hub),
		cmocka_unit_test(test_ref_registries),
		cmocka_unit_test(test_ref_invalid),
		cmocka_unit_test(test_manifest_image),
		cmocka_unit_test(test_manifest_refused),
		cmocka_unit_test(test_index_pick),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_docker_auth),
		cmocka_unit_test_setup_teardown(test_blob_writer, cache_setup, cache_teardown),
		cmocka_unit_test_setup_teardown(test_blob_concurrent, cache_setup, cache_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
