#define _GNU_SOURCE
/* Unit tests: the pull engine against tests/unit/httpd.h (resume with
 * Range + If-Range, 200 restarts, 416 discards, retries, cancel, shared
 * downloads, lying servers) and catalogs (catsync: signed refresh, ETag,
 * offline, last good copy). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "bundle.h"
#include "catsync.h"
#include "cattest.h"
#include "httpd.h"
#include "publish.h"
#include "pull.h"
#include "testutil.h"

#define ROOT_SIZE (2u << 20)

static char *dir;
static struct httpd srv;
static unsigned char *arch; /* the bundle archive */
static size_t arch_len;
static char arch_sha[65];
static char url[256];

/* An image bundle of ROOT_SIZE incompressible bytes. */
static void make_archive(void)
{
	unsigned char *root = xmalloc(ROOT_SIZE);
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < ROOT_SIZE; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		root[i] = (unsigned char)x;
	}
	char sha[65];
	ct_sha(root, ROOT_SIZE, sha);
	char *m = xasprintf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\","
			    "\"size\":%u,\"sha256\":\"%s\"}]}",
			    ROOT_SIZE, sha);
	const struct ct_entry v[] = { { CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
				      { CT_FILE, "rootfs.ext4", root, ROOT_SIZE, NULL, 0 } };
	char *path = xasprintf("%s/img.tar.zst", dir);
	ct_archive(path, ARCHIVE_FILTER_ZSTD, v, 2);
	char *data = NULL;
	assert_int_equal(read_file(path, 8u << 20, &data, &arch_len), 0);
	arch = (unsigned char *)data;
	ct_sha(arch, arch_len, arch_sha);
	free(path);
	free(m);
	free(root);
}

static int setup(void **state)
{
	(void)state;
	dir = ct_tmpdir("pull");
	make_archive();
	httpd_start(&srv);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/img.tar.zst", srv.port);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	httpd_stop(&srv);
	rm_rf(dir);
	free(dir);
	free(arch);
	return 0;
}

static struct pull_engine *engine(int attempts)
{
	struct pull_engine *e = NULL;
	struct berr err = { 0 };
	struct pull_config c = { .cache_dir = p("%s/cache", dir), .max_attempts = attempts,
				 .backoff_ms = 20, .connect_timeout_s = 2, .stall_timeout_s = 5,
				 .no_sync = true };
	assert_int_equal(pull_engine_new(&c, &e, &err), 0);
	return e;
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls, result;
	struct berr err;
};

static void on_done(void *opaque, const char *dest, int result, const struct berr *err)
{
	struct waiter *w = opaque;
	pthread_mutex_lock(&w->lock);
	w->calls++;
	w->result = result;
	if (err)
		w->err = *err;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
}

/* Wait (bounded, so a bug fails instead of hanging) for n calls. */
static int wait_done(struct waiter *w, int n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	pthread_mutex_lock(&w->lock);
	while (w->calls < n)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) == ETIMEDOUT)
			fail_msg("pull did not end within 60 s");
	int r = w->result;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int pull(struct pull_engine *e, const char *u, const char *sha, uint64_t size,
		const char *dest, struct waiter *w)
{
	struct berr err = { 0 };
	struct pull_request r = { .url = u, .sha256 = sha, .size = size, .max_unpacked = ROOT_SIZE,
				  .kind = "image", .name = "img", .dest = dest, .done = on_done,
				  .opaque = w };
	return pull_start(e, &r, &err);
}

static char *dest_path(void)
{
	return xstrdup(p("%s/images/img", dir));
}

static off_t part_size(void)
{
	struct stat st;
	if (stat(p("%s/cache/blobs/sha256/%s.part", dir, arch_sha), &st) < 0)
		return -1;
	return st.st_size;
}

/* Nothing but dest (when ok) in the images directory: no .pull-* left. */
static void no_leftovers(bool ok)
{
	DIR *d = opendir(p("%s/images", dir));
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (strcmp(de->d_name, "img") != 0 || !ok)
			fail_msg("left behind: %s", de->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, ok ? 1 : 0);
}

static void check_dest(const char *dest)
{
	struct bundle_manifest *m = NULL;
	struct berr err = { 0 };
	assert_int_equal(bundle_verify_dir(dest, &m, &err), 0);
	assert_string_equal(m->name, "img");
	manifest_free(m);
}

static void test_pull_ok(void **state)
{
	(void)state;
	struct pull_engine *e = engine(3);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 1), 0);
	check_dest(dest);
	no_leftovers(true);
	assert_int_equal(part_size(), -1); /* the blob is gone once unpacked */
	assert_int_equal(srv.nlog, 1);
	assert_int_equal(srv.log[0].status, 200);
	struct pull_progress pr;
	char line[256];
	assert_int_equal(pull_get_progress(e, arch_sha, &pr), 0);
	assert_int_equal(pr.state, PULL_DONE);
	assert_int_equal(pr.done, arch_len);
	assert_int_equal(pr.total, arch_len);
	pull_progress_format(&pr, line, sizeof(line));
	assert_non_null(strstr(line, p("bytes %zu of %zu rate ", arch_len, arch_len)));
	assert_non_null(strstr(line, " eta 0s"));
	assert_int_equal(pull_get_progress(e, "0000000000000000000000000000000000000000000000000000000000000000", &pr),
			 -ENOENT);
	/* pulling onto an existing destination is refused at once */
	struct berr err = { 0 };
	struct pull_request r = { .url = url, .sha256 = arch_sha, .size = arch_len, .kind = "image",
				  .name = "img", .dest = dest };
	assert_int_equal(pull_start(e, &r, &err), -EEXIST);
	r.dest = "relative";
	assert_int_equal(pull_start(e, &r, &err), -EINVAL);
	pull_engine_free(e);
}

static void test_progress_format(void **state)
{
	(void)state;
	struct pull_progress pr = { .state = PULL_RUNNING, .done = 104857600, .total = 734003200,
				    .rate = 52100000, .eta_s = 12 };
	char line[256];
	pull_progress_format(&pr, line, sizeof(line));
	assert_string_equal(line, "bytes 104857600 of 734003200 rate 52.1MB/s eta 12s");
	pr.rate = 0;
	pr.eta_s = -1;
	pull_progress_format(&pr, line, sizeof(line));
	assert_string_equal(line, "bytes 104857600 of 734003200 rate - eta -");
	pr.rate = 999;
	pull_progress_format(&pr, line, sizeof(line));
	assert_string_equal(line, "bytes 104857600 of 734003200 rate 999B/s eta -");
	assert_string_equal(pull_state_name(PULL_VERIFYING), "verifying");
}

static void test_pull_file(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	char *fu = xasprintf("file://%s/img.tar.zst", dir);
	/* a wrong size is caught before anything is read */
	assert_int_equal(pull(e, fu, arch_sha, arch_len + 1, dest, &w), 0);
	assert_true(wait_done(&w, 1) < 0);
	assert_non_null(strstr(w.err.msg, "the catalog says"));
	assert_int_equal(pull(e, fu, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 2), 0);
	check_dest(dest);
	no_leftovers(true);
	assert_int_equal(access(p("%s/img.tar.zst", dir), F_OK), 0); /* a local source stays */
	free(fu);
	pull_engine_free(e);
}

/* Cut at ~30 %, no retry: the pull fails and keeps the partial file; the
 * next pull asks only for the rest (Range + If-Range) and gets a 206. */
static void test_resume_next_pull(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	int cut = (int)(arch_len * 3 / 10);
	d->cut_after[0] = cut;
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, 1) < 0);
	assert_non_null(strstr(w.err.msg, p("after %d of %zu bytes", cut, arch_len)));
	assert_non_null(strstr(w.err.msg, "giving up after 1 attempts"));
	assert_int_equal(part_size(), cut);
	no_leftovers(false);
	struct pull_progress pr;
	assert_int_equal(pull_get_progress(e, arch_sha, &pr), 0);
	assert_int_equal(pr.state, PULL_FAILED);
	pull_engine_free(e);
	/* a new engine (a restarted daemon) resumes */
	e = engine(1);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 2), 0);
	check_dest(dest);
	assert_int_equal(srv.nlog, 2);
	assert_int_equal(srv.log[1].from, cut);
	assert_string_equal(srv.log[1].if_range, "\"v1\"");
	assert_int_equal(srv.log[1].status, 206);
	assert_int_equal(srv.log[1].sent, arch_len - (size_t)cut);
	pull_engine_free(e);
}

/* Cut at ~30 % and ~60 %: one pull, three requests, each for the rest. */
static void test_resume_retry(void **state)
{
	(void)state;
	struct pull_engine *e = engine(3);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	int a = (int)(arch_len * 3 / 10), b = (int)(arch_len * 3 / 10);
	d->cut_after[0] = a;
	d->cut_after[1] = b;
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 1), 0);
	check_dest(dest);
	assert_int_equal(srv.nlog, 3);
	assert_int_equal(srv.log[0].from, -1);
	assert_int_equal(srv.log[1].from, a);
	assert_int_equal(srv.log[2].from, a + b);
	assert_int_equal(srv.log[0].sent + srv.log[1].sent + srv.log[2].sent, arch_len);
	struct pull_progress pr;
	assert_int_equal(pull_get_progress(e, arch_sha, &pr), 0);
	assert_int_equal(pr.attempts, 3);
	pull_engine_free(e);
}

/* The resource changed (If-Range no longer matches): 200, start over. */
static void test_resume_changed(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	d->cut_after[0] = (int)(arch_len / 2);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, 1) < 0);
	pthread_mutex_lock(&srv.lock);
	snprintf(d->etag, sizeof(d->etag), "\"v2\"");
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 2), 0);
	check_dest(dest);
	assert_int_equal(srv.nlog, 2);
	assert_string_equal(srv.log[1].if_range, "\"v1\"");
	assert_int_equal(srv.log[1].status, 200);
	assert_int_equal(srv.log[1].sent, arch_len);
	pull_engine_free(e);
}

/* 416 for the range: the partial file is discarded, the pull starts over. */
static void test_resume_416(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	d->cut_after[0] = (int)(arch_len / 3);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, 1) < 0);
	pthread_mutex_lock(&srv.lock);
	d->status_if_range = 416;
	pthread_mutex_unlock(&srv.lock);
	pull_engine_free(e);
	e = engine(2);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	if (wait_done(&w, 2) != 0) fail_msg("%s", w.err.msg);
	check_dest(dest);
	assert_int_equal(srv.nlog, 3);
	assert_int_equal(srv.log[1].status, 416);
	assert_int_equal(srv.log[2].from, -1);
	assert_int_equal(srv.log[2].status, 200);
	pull_engine_free(e);
}

/* A partial file from another URL (a mirror) is resumed with a plain
 * Range; when those kept bytes were wrong, the pull starts over once. */
static void test_resume_mirror(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	unsigned char *bad = xmalloc(arch_len);
	memcpy(bad, arch, arch_len);
	bad[arch_len / 10] ^= 0x55;
	struct httpd_doc *da = httpd_add(&srv, "/a/img.tar.zst", bad, arch_len, "\"a\"");
	httpd_add(&srv, "/b/img.tar.zst", arch, arch_len, "\"b\"");
	int cut = (int)(arch_len / 2);
	da->cut_after[0] = cut;
	char *ua = xasprintf("http://127.0.0.1:%d/a/img.tar.zst", srv.port);
	char *ub = xasprintf("http://127.0.0.1:%d/b/img.tar.zst", srv.port);
	assert_int_equal(pull(e, ua, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, 1) < 0);
	assert_int_equal(part_size(), cut);
	assert_int_equal(pull(e, ub, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, 2), 0);
	check_dest(dest);
	no_leftovers(true);
	assert_true(srv.nlog >= 2);
	assert_string_equal(srv.log[1].path, "/b/img.tar.zst");
	assert_int_equal(srv.log[1].from, cut);
	assert_string_equal(srv.log[1].if_range, "");
	/* the resumed bytes did not add up: from zero, once */
	assert_string_equal(srv.log[srv.nlog - 1].path, "/b/img.tar.zst");
	assert_int_equal(srv.log[srv.nlog - 1].from, -1);
	assert_int_equal(srv.log[srv.nlog - 1].sent, arch_len);
	free(ua);
	free(ub);
	free(bad);
	pull_engine_free(e);
}

/* Wrong sha256, wrong size, wrong bytes, too many bytes, 404, 500: each
 * fails with its sentence, nothing is published, no partial bundle. */
static void test_bad_servers(void **state)
{
	(void)state;
	struct pull_engine *e = engine(2);
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	char bad_sha[65];
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	int n = 0;

	memcpy(bad_sha, arch_sha, sizeof(bad_sha));
	bad_sha[0] = bad_sha[0] == '0' ? '1' : '0';
	assert_int_equal(pull(e, url, bad_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, ++n) < 0);
	assert_non_null(strstr(w.err.msg, p("has sha256 %s, the catalog says %s", arch_sha, bad_sha)));
	no_leftovers(false);

	assert_int_equal(pull(e, url, arch_sha, arch_len - 1, dest, &w), 0);
	assert_int_equal(wait_done(&w, ++n), -EBADMSG);
	assert_non_null(strstr(w.err.msg, p("has %zu bytes, the catalog says %zu", arch_len, arch_len - 1)));
	no_leftovers(false);

	/* the right length, one byte wrong near the end (the tar's zero
	 * padding: the archive still unpacks, only the sum catches it) */
	unsigned char *wrong = xmalloc(arch_len);
	memcpy(wrong, arch, arch_len);
	wrong[arch_len - 3] ^= 0x55;
	pthread_mutex_lock(&srv.lock);
	d->data = wrong;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, ++n) < 0);
	no_leftovers(false);
	assert_int_equal(part_size(), -1);

	/* more bytes than the catalog's size, with no Content-Length */
	pthread_mutex_lock(&srv.lock);
	d->data = arch;
	d->no_length = true;
	d->extra = 100;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, ++n), -EBADMSG);
	assert_non_null(strstr(w.err.msg, p("sent more than the %zu bytes", arch_len)));
	no_leftovers(false);
	assert_int_equal(part_size(), -1);

	pthread_mutex_lock(&srv.lock);
	d->no_length = false;
	d->status = 404;
	size_t before = srv.nlog;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_int_equal(wait_done(&w, ++n), -ENOENT);
	assert_non_null(strstr(w.err.msg, "server answered 404"));
	assert_int_equal(srv.nlog, before + 1); /* not retried */

	pthread_mutex_lock(&srv.lock);
	d->status = 503;
	before = srv.nlog;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, ++n) < 0);
	assert_non_null(strstr(w.err.msg, "giving up after 2 attempts: server answered 503"));
	assert_int_equal(srv.nlog, before + 2);
	no_leftovers(false);

	/* nobody listening */
	httpd_stop(&srv);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	assert_true(wait_done(&w, ++n) < 0);
	assert_non_null(strstr(w.err.msg, "giving up after 2 attempts"));
	httpd_start(&srv);
	free(wrong);
	pull_engine_free(e);
}

static void test_cancel_and_share(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w1, w2;
	_cleanup_free_ char *dest = dest_path();
	struct berr err = { 0 };
	waiter_init(&w1);
	waiter_init(&w2);
	mkdir_p(p("%s/images", dir), 0700);
	struct httpd_doc *d = httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	d->trickle_ms = 20;
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w1), 0);
	/* the same bundle again joins; to another place it is refused */
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w2), 1);
	struct pull_request r = { .url = url, .sha256 = arch_sha, .size = arch_len, .kind = "image",
				  .name = "img", .dest = p("%s/images/other", dir) };
	assert_int_equal(pull_start(e, &r, &err), -EBUSY);
	/* wait for some bytes, then cancel */
	struct pull_progress pr = { 0 };
	for (int i = 0; i < 500 && pr.done < 64 * 1024; i++) {
		usleep(10000);
		assert_int_equal(pull_get_progress(e, arch_sha, &pr), 0);
	}
	assert_true(pr.done >= 64 * 1024);
	assert_int_equal(pr.state, PULL_RUNNING);
	assert_int_equal(pull_cancel(e, arch_sha, &err), 0);
	assert_int_equal(wait_done(&w1, 1), -ECANCELED);
	assert_int_equal(wait_done(&w2, 1), -ECANCELED);
	assert_int_equal(pull_get_progress(e, arch_sha, &pr), 0);
	assert_int_equal(pr.state, PULL_CANCELLED);
	assert_int_equal(pull_cancel(e, arch_sha, &err), -ENOENT);
	assert_true(part_size() >= 64 * 1024); /* kept for the next pull */
	no_leftovers(false);
	/* two pulls, one download */
	pthread_mutex_lock(&srv.lock);
	d->trickle_ms = 0;
	size_t before = srv.nlog;
	pthread_mutex_unlock(&srv.lock);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w1), 0);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w2), 1);
	assert_int_equal(wait_done(&w1, 2), 0);
	assert_int_equal(wait_done(&w2, 2), 0);
	check_dest(dest);
	assert_int_equal(srv.nlog, before + 1);
	assert_int_equal(srv.log[before].status, 206);
	pull_engine_free(e);
}

/* The engine's threads run at the configured niceness. */
static int seen_nice = -100;
static void on_fetch_nice(void *opaque, struct pull_fetch_result *res)
{
	struct waiter *w = opaque;
	seen_nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	on_done(w, NULL, res->status == 200 ? 0 : -EIO, &res->err);
}

static void test_nice(void **state)
{
	(void)state;
	struct pull_engine *e = NULL;
	struct berr err = { 0 };
	struct waiter w;
	struct pull_config c = { .cache_dir = p("%s/cache", dir), .nice = 7, .no_sync = true };
	waiter_init(&w);
	assert_int_equal(pull_engine_new(&c, &e, &err), 0);
	assert_int_equal(pull_fetch(e, p("file://%s/img.tar.zst", dir), NULL, 8u << 20, on_fetch_nice,
				    &w, &err),
			 0);
	assert_int_equal(wait_done(&w, 1), 0);
	assert_int_equal(seen_nice, 7);
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), 0); /* not the caller */
	pull_engine_free(e);
}

/* A deferred engine queues work until pull_engine_start(); one freed
 * without ever starting ends what was queued (-ECANCELED). */
static void test_deferred(void **state)
{
	(void)state;
	struct pull_engine *e = NULL;
	struct berr err = { 0 };
	struct waiter w;
	_cleanup_free_ char *dest = dest_path();
	struct pull_config c = { .cache_dir = p("%s/cache", dir), .no_sync = true, .deferred = true };
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	httpd_add(&srv, "/img.tar.zst", arch, arch_len, "\"v1\"");
	assert_int_equal(pull_engine_new(&c, &e, &err), 0);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	usleep(200 * 1000);
	assert_int_equal(w.calls, 0);
	assert_int_equal(srv.nlog, 0); /* no thread, no request */
	assert_int_equal(pull_engine_start(e, &err), 0);
	assert_int_equal(pull_engine_start(e, &err), 0); /* once */
	assert_int_equal(wait_done(&w, 1), 0);
	check_dest(dest);
	pull_engine_free(e);
	rm_rf(dest);

	assert_int_equal(pull_engine_new(&c, &e, &err), 0);
	assert_int_equal(pull(e, url, arch_sha, arch_len, dest, &w), 0);
	pull_engine_free(e);
	assert_int_equal(wait_done(&w, 2), -ECANCELED);
	no_leftovers(false);
}

/* archive_trusted: the archive's sha256 (from a signed index) proves every
 * byte, so the files' sums are not computed again: a manifest whose file
 * sum is wrong passes, which shows the sum was not checked; without it
 * the same archive is refused; a wrong archive sha256 is refused either way. */
static void test_trusted(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct waiter w;
	struct berr err = { 0 };
	_cleanup_free_ char *dest = dest_path();
	waiter_init(&w);
	mkdir_p(p("%s/images", dir), 0700);
	char root[8192];
	memset(root, 7, sizeof(root));
	char *m = xasprintf("{\"name\":\"img\",\"kind\":\"image\",\"files\":[{\"path\":\"rootfs.ext4\","
			    "\"size\":%zu,\"sha256\":\"%064d\"}]}", sizeof(root), 0);
	const struct ct_entry v[] = { { CT_FILE, "manifest.json", m, strlen(m), NULL, 0 },
				      { CT_FILE, "rootfs.ext4", root, sizeof(root), NULL, 0 } };
	char *path = xasprintf("%s/lie.tar.zst", dir);
	ct_archive(path, ARCHIVE_FILTER_ZSTD, v, 2);
	char *data = NULL, sha[65];
	size_t len = 0;
	assert_int_equal(read_file(path, 1u << 20, &data, &len), 0);
	ct_sha(data, len, sha);
	char *fu = xasprintf("file://%s", path);
	struct pull_request r = { .url = fu, .sha256 = sha, .size = len, .kind = "image",
				  .name = "img", .dest = dest, .done = on_done, .opaque = &w };
	assert_int_equal(pull_start(e, &r, &err), 0);
	assert_int_equal(wait_done(&w, 1), -EBADMSG);
	assert_non_null(strstr(w.err.msg, "the manifest says"));
	no_leftovers(false);
	r.archive_trusted = true;
	assert_int_equal(pull_start(e, &r, &err), 0);
	assert_int_equal(wait_done(&w, 2), 0);
	no_leftovers(true);
	rm_rf(dest);
	sha[0] = sha[0] == 'a' ? 'b' : 'a';
	assert_int_equal(pull_start(e, &r, &err), 0);
	assert_int_equal(wait_done(&w, 3), -EBADMSG);
	assert_non_null(strstr(w.err.msg, "the catalog says"));
	no_leftovers(false);
	pull_engine_free(e);
	free(fu);
	free(path);
	free(data);
	free(m);
}

/* ---- catalogs ------------------------------------------------------ */

static int changes;
static void on_change(void *opaque)
{
	(void)opaque;
	__atomic_add_fetch(&changes, 1, __ATOMIC_SEQ_CST);
}

static void test_catsync(void **state)
{
	(void)state;
	struct pull_engine *e = engine(1);
	struct catsync *cs = NULL;
	struct berr err = { 0 };
	char *key = xstrdup(p("%s/key", dir)), *pub = xstrdup(p("%s/key.pub", dir));
	ct_keypair(key, pub);
	char *index = xasprintf("{\"format_version\":1,\"entries\":[{\"name\":\"img\",\"kind\":\"image\","
				"\"version\":\"1\",\"arch\":\"x86_64\",\"url\":\"img.tar.zst\",\"size\":%zu,"
				"\"sha256\":\"%s\",\"unpacked_size\":%u,\"min_disk_size\":%u}]}",
				arch_len, arch_sha, ROOT_SIZE, ROOT_SIZE);
	unsigned char sig[64], badsig[64];
	assert_int_equal(cat_sign(key, index, strlen(index), sig, &err), 0);
	memcpy(badsig, sig, 64);
	badsig[10] ^= 1;
	struct httpd_doc *di = httpd_add(&srv, "/cat/index.json", index, strlen(index), "\"i1\"");
	struct httpd_doc *ds = httpd_add(&srv, "/cat/index.json.sig", sig, 64, "\"s1\"");
	httpd_add(&srv, "/cat/img.tar.zst", arch, arch_len, "\"v1\"");
	char *curl_ = xasprintf("http://127.0.0.1:%d/cat/", srv.port);
	const char *urls[] = { "file:///nonexistent/index.json", curl_ };
	char *state_dir = xstrdup(p("%s/state", dir));
	struct catsync_config cc = { .urls = urls, .n_urls = 2, .pubkey = pub, .state_dir = state_dir,
				     .arch = "x86_64", .changed = on_change };

	assert_int_equal(catsync_new(&cc, e, &cs, &err), 0);
	struct cat_entry ent = { 0 };
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no catalog lists image 'img' for x86_64"));
	assert_int_equal(catsync_refresh(cs, false), 2);
	assert_int_equal(catsync_wait(cs, 30000), 0);
	assert_int_equal(changes, 1);
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), 0);
	assert_string_equal(ent.url, p("http://127.0.0.1:%d/cat/img.tar.zst", srv.port));
	assert_string_equal(ent.sha256, arch_sha);
	cat_entry_clear(&ent);
	size_t n = 0;
	char **names = catsync_names(cs, "image", &n);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "img");
	free(names[0]);
	free(names);
	char *st = catsync_status(cs);
	assert_non_null(strstr(st, "file:///nonexistent/index.json state failed entries 0 age - signed - error catalog index file:///nonexistent/index.json does not exist\n"));
	assert_non_null(strstr(st, p("http://127.0.0.1:%d/cat/index.json state ok entries 1 age 0s signed yes\n", srv.port)));
	free(st);
	/* within the TTL nothing is fetched; forced, the ETag makes it a 304 */
	assert_int_equal(catsync_refresh(cs, false), 1); /* only the failed one */
	assert_int_equal(catsync_wait(cs, 30000), 0);
	size_t before = srv.nlog;
	assert_int_equal(catsync_refresh(cs, true), 2);
	assert_int_equal(catsync_wait(cs, 30000), 0);
	assert_int_equal(srv.nlog, before + 1);
	assert_string_equal(srv.log[before].inm, "\"i1\"");
	assert_int_equal(srv.log[before].status, 304);
	assert_int_equal(changes, 1);
	/* a new index with a bad signature is refused; the last good stays */
	pthread_mutex_lock(&srv.lock);
	snprintf(di->etag, sizeof(di->etag), "\"i2\"");
	ds->data = badsig;
	pthread_mutex_unlock(&srv.lock);
	catsync_refresh(cs, true);
	assert_int_equal(catsync_wait(cs, 30000), 0);
	st = catsync_status(cs);
	assert_non_null(strstr(st, "state offline entries 1 age 0s signed yes error catalog index"));
	assert_non_null(strstr(st, "is badly signed: signature does not match catalog_pubkey"));
	free(st);
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), 0);
	cat_entry_clear(&ent);
	/* unsigned, truncated */
	pthread_mutex_lock(&srv.lock);
	ds->status = 404;
	pthread_mutex_unlock(&srv.lock);
	catsync_refresh(cs, true);
	catsync_wait(cs, 30000);
	st = catsync_status(cs);
	assert_non_null(strstr(st, "is unsigned (no http://"));
	free(st);
	pthread_mutex_lock(&srv.lock);
	ds->status = 0;
	ds->data = sig;
	di->len = strlen(index) - 5;
	pthread_mutex_unlock(&srv.lock);
	catsync_refresh(cs, true);
	catsync_wait(cs, 30000);
	st = catsync_status(cs);
	assert_non_null(strstr(st, "badly signed"));
	free(st);
	/* offline: the last good index, with its age */
	httpd_stop(&srv);
	catsync_refresh(cs, true);
	assert_int_equal(catsync_wait(cs, 30000), 0);
	st = catsync_status(cs);
	assert_non_null(strstr(st, "state offline entries 1 age "));
	assert_non_null(strstr(st, "cannot fetch http://"));
	free(st);
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), 0);
	cat_entry_clear(&ent);
	pull_engine_free(e);
	catsync_free(cs);
	/* a restart loads the last good copy from disk, checked again */
	e = engine(1);
	assert_int_equal(catsync_new(&cc, e, &cs, &err), 0);
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), 0);
	cat_entry_clear(&ent);
	pull_engine_free(e);
	catsync_free(cs);
	/* ... but not with another key */
	char *key2 = xstrdup(p("%s/key2", dir)), *pub2 = xstrdup(p("%s/key2.pub", dir));
	ct_keypair(key2, pub2);
	cc.pubkey = pub2;
	e = engine(1);
	assert_int_equal(catsync_new(&cc, e, &cs, &err), 0);
	assert_int_equal(catsync_lookup(cs, "image", "img", &ent, &err), -ENOENT);
	st = catsync_status(cs);
	assert_non_null(strstr(st, "state failed entries 0 age - signed - error the copy kept on disk was refused"));
	free(st);
	pull_engine_free(e);
	catsync_free(cs);
	/* a bad key is an error at once */
	cc.pubkey = "garbage";
	assert_int_equal(catsync_new(&cc, NULL, &cs, &err), -EINVAL);
	httpd_start(&srv);
	free(key);
	free(pub);
	free(key2);
	free(pub2);
	free(index);
	free(curl_);
	free(state_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_progress_format),
		cmocka_unit_test_setup_teardown(test_pull_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pull_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_next_pull, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_416, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catsync, setup, teardown),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests_name("pull", tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
