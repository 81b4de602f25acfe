/* tests/unit/test_vmm_firecracker.c: the Firecracker API client (response
 * parsing, a fake server, the API double tests/fc-double/firecracker) and
 * vmm_firecracker_driver with real boots through the double (when the
 * kernel and image have been built and QEMU is installed).
 *
 * FC_DOUBLE_BIN overrides the double's path (default
 * tests/fc-double/firecracker relative to the working directory). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "fc_api.h"
#include "jail.h"
#include "util.h"
#include "vmm.h"
#include "vmm_common.h"

#define BOOT_LOGIN_MS 180000
#define SHUTDOWN_MS 60000

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *make_tmpdir(void)
{
	char *d = xstrdup("/tmp/banger-test-fc.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static char *double_bin(void)
{
	const char *e = getenv("FC_DOUBLE_BIN");
	char *p = realpath(e && *e ? e : "tests/fc-double/firecracker", NULL);
	return p;
}

static bool have_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0;
}

static bool path_exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Wait (bounded) for our child to exit and return its raw status. */
static int reap_within(pid_t pid, int ms)
{
	int64_t deadline = mono_ms() + ms;
	int st = 0;
	for (;;) {
		int r = proc_reap(pid, &st);
		assert_true(r >= 0);
		if (r == 1)
			return st;
		if (mono_ms() > deadline)
			fail_msg("pid %d did not exit within %d ms", (int)pid, ms);
		sleep_ms(20);
	}
}

/* ---- pure parsing ---- */

static void test_version_parse(void **state)
{
	(void)state;
	struct fc_version v;
	assert_int_equal(fc_version_parse("1.16.1", &v), 0);
	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 16);
	assert_int_equal(v.patch, 1);
	assert_true(fc_version_at_least(&v, 1, 14, 0));
	assert_true(fc_version_at_least(&v, 1, 16, 1));
	assert_false(fc_version_at_least(&v, 1, 16, 2));
	assert_false(fc_version_at_least(&v, 2, 0, 0));
	assert_int_equal(fc_version_parse("v1.17.0-dev", &v), 0);
	assert_int_equal(v.minor, 17);
	assert_int_equal(fc_version_parse("1.13", &v), 0);
	assert_false(fc_version_at_least(&v, 1, 14, 0));
	assert_int_equal(fc_version_parse("", &v), -EINVAL);
	assert_int_equal(fc_version_parse("1.", &v), -EINVAL);
	assert_int_equal(fc_version_parse("1.2.3 junk", &v), -EINVAL);
	assert_int_equal(fc_version_parse("one.two", &v), -EINVAL);
	assert_int_equal(fc_version_parse("1.99999999999.0", &v), -EINVAL);
	assert_int_equal(fc_version_parse(NULL, &v), -EINVAL);
}

static void test_error_text(void **state)
{
	(void)state;
	char out[256];
	const char *fm = "{\"fault_message\":\"A root block device already exists!\"}";
	assert_true(fc_api_error_text(fm, strlen(fm), out, sizeof(out)));
	assert_string_equal(out, "A root block device already exists!");
	/* micro-http: a raw LF inside the JSON string. */
	const char *mh = "{ \"error\": \"Request payload with size 60000 is larger than the limit of "
			 "51200 allowed by server.\nAll previous unanswered requests will be dropped.\" }";
	assert_true(fc_api_error_text(mh, strlen(mh), out, sizeof(out)));
	assert_string_equal(out, "Request payload with size 60000 is larger than the limit of 51200 "
				 "allowed by server. All previous unanswered requests will be dropped.");
	/* Plain text (500), with control characters. */
	const char *pt = "socket\tread\r\nerror\x01";
	assert_false(fc_api_error_text(pt, strlen(pt), out, sizeof(out)));
	assert_string_equal(out, "socket read error");
	/* Truncation keeps a NUL. */
	char small[8];
	assert_true(fc_api_error_text(fm, strlen(fm), small, sizeof(small)));
	assert_string_equal(small, "A root"); /* trailing space dropped */
	assert_false(fc_api_error_text("", 0, out, sizeof(out)));
	assert_string_equal(out, "");
	/* Not NUL-terminated input is read only up to len. */
	assert_false(fc_api_error_text("abcdef", 3, out, sizeof(out)));
	assert_string_equal(out, "abc");
}

static void test_parse_response(void **state)
{
	(void)state;
	struct berr err = { 0 };
	json_t *o = (json_t *)1;
	assert_int_equal(fc_api_parse_response(204, "", 0, "PUT /x", &o, &err), 0);
	assert_null(o);
	const char *v = "{\"firecracker_version\":\"1.16.1\"}";
	assert_int_equal(fc_api_parse_response(200, v, strlen(v), "GET /version", &o, &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "firecracker_version")), "1.16.1");
	json_decref(o);
	assert_int_equal(fc_api_parse_response(200, "[1]", 3, "GET /", &o, &err), -EPROTO);
	assert_null(o);
	assert_int_equal(fc_api_parse_response(200, "", 0, "GET /", &o, &err), -EPROTO);
	const char *f = "{\"fault_message\":\"The kernel file cannot be opened\"}";
	assert_int_equal(fc_api_parse_response(400, f, strlen(f), "PUT /boot-source", &o, &err),
			 -EREMOTEIO);
	assert_string_equal(err.msg,
			    "firecracker refused PUT /boot-source: The kernel file cannot be opened");
	assert_int_equal(fc_api_parse_response(413, f, strlen(f), "PUT /mmds", NULL, &err),
			 -EREMOTEIO);
	const char *busy = "{ \"error\": \"Too many open connections\" }";
	assert_int_equal(fc_api_parse_response(503, busy, strlen(busy), "GET /", NULL, &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "Too many open connections"));
	assert_int_equal(fc_api_parse_response(404, "nope", 4, "GET /", NULL, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "404"));
	assert_int_equal(fc_api_parse_response(400, "", 0, "GET /", NULL, &err), -EREMOTEIO);
	assert_non_null(strstr(err.msg, "(no message)"));
}

/* ---- a fake server for the transport edge cases ---- */

enum fake_mode { FAKE_HUGE, FAKE_NO_REASON, FAKE_SILENT, FAKE_CAPTURE };

struct fake {
	char *dir, *sock, *capture;
	pid_t pid;
};

static void fake_send(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			_exit(10);
		s += w;
		n -= (size_t)w;
	}
}

/* Read one request (headers + Content-Length body) into buf. */
static size_t fake_read_req(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			_exit(11);
		n += (size_t)r;
		buf[n] = '\0';
		char *e = strstr(buf, "\r\n\r\n");
		if (!e)
			continue;
		const char *cl = strcasestr(buf, "Content-Length:");
		size_t want = (size_t)(e + 4 - buf);
		if (cl && cl < e)
			want += strtoul(cl + 15, NULL, 10);
		if (n >= want)
			return n;
	}
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	f->dir = make_tmpdir();
	f->sock = path_join(f->dir, "api.sock");
	f->capture = path_join(f->dir, "capture");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		static char req[8192];
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			_exit(14);
		if (mode == FAKE_SILENT) {
			sleep(30);
			_exit(0);
		}
		size_t n = fake_read_req(cfd, req, sizeof(req));
		if (mode == FAKE_CAPTURE) {
			int o = open(f->capture, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			fake_send(o, req, n);
			close(o);
			const char *r = "HTTP/1.1 204 \r\nServer: Firecracker API\r\n"
					"Connection: keep-alive\r\n\r\n";
			fake_send(cfd, r, strlen(r));
		} else if (mode == FAKE_NO_REASON) {
			const char *r = "HTTP/1.1 200 \r\nServer: Firecracker API\r\nConnection: "
					"keep-alive\r\nContent-Type: application/json\r\n"
					"Content-Length: 11\r\n\r\n{\"id\":\"x\"}\n";
			fake_send(cfd, r, strlen(r));
		} else {
			size_t big = FC_API_MAX_RESPONSE + 4096;
			char *h = xasprintf("HTTP/1.1 200 \r\nContent-Type: application/json\r\n"
					    "Content-Length: %zu\r\n\r\n",
					    big);
			fake_send(cfd, h, strlen(h));
			char *b = xmalloc(big);
			memset(b, ' ', big);
			b[0] = '{';
			b[big - 1] = '}';
			fake_send(cfd, b, big);
		}
		sleep(2); /* keep the connection open: the client closes */
		_exit(0);
	}
	close(lfd);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
		;
	rm_rf(f->dir);
	free(f->dir);
	free(f->sock);
	free(f->capture);
}

static void test_api_transport(void **state)
{
	(void)state;
	struct fake f;
	struct berr err = { 0 };
	json_t *o = NULL;

	/* The request on the wire: PUT, Content-Length, JSON headers, no Expect. */
	fake_start(&f, FAKE_CAPTURE);
	json_t *b = json_pack("{s:s}", "action_type", "InstanceStart");
	assert_int_equal(fc_api_call(f.sock, "PUT", "/actions", b, 2000, &o, &err), 0);
	json_decref(b);
	assert_null(o);
	_cleanup_free_ char *req = NULL;
	assert_int_equal(read_file(f.capture, 65536, &req, NULL), 0);
	assert_true(strncmp(req, "PUT /actions HTTP/1.1\r\n", 23) == 0);
	assert_non_null(strcasestr(req, "\r\nContent-Length: 31\r\n"));
	assert_non_null(strcasestr(req, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strcasestr(req, "\r\nAccept: application/json\r\n"));
	assert_null(strcasestr(req, "Expect:"));
	assert_null(strcasestr(req, "chunked"));
	assert_non_null(strstr(req, "\r\n\r\n{\"action_type\":\"InstanceStart\"}"));
	fake_stop(&f);

	/* A status line without a reason phrase. */
	fake_start(&f, FAKE_NO_REASON);
	assert_int_equal(fc_api_call(f.sock, "GET", "/", NULL, 2000, &o, &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "x");
	json_decref(o);
	fake_stop(&f);

	/* Responses are bounded. */
	fake_start(&f, FAKE_HUGE);
	assert_int_equal(fc_api_call(f.sock, "GET", "/", NULL, 2000, &o, &err), -EMSGSIZE);
	assert_null(o);
	assert_non_null(strstr(err.msg, "larger than"));
	fake_stop(&f);

	/* A server that never answers. */
	fake_start(&f, FAKE_SILENT);
	int64_t t0 = mono_ms();
	assert_int_equal(fc_api_call(f.sock, "GET", "/", NULL, 300, &o, &err), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 2000);
	fake_stop(&f);

	/* Nothing there at all. */
	assert_int_equal(fc_api_call("/nonexistent/banger/fc.sock", "GET", "/", NULL, 300, &o,
				     &err),
			 -ENOENT);
	assert_int_equal(fc_api_call("/x", "GET", "no-slash", NULL, 300, &o, &err), -EINVAL);
}

/* ---- the API double, without booting ---- */

struct dbl {
	char *dir, *sock, *reqlog, *out;
	pid_t pid;
};

static void double_start(struct dbl *d, const char *version)
{
	_cleanup_free_ char *bin = double_bin();
	assert_non_null(bin);
	d->dir = make_tmpdir();
	d->sock = path_join(d->dir, "fc.sock");
	d->reqlog = path_join(d->dir, "requests.jsonl");
	d->out = path_join(d->dir, "out");
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		int fd = open(d->out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("FC_DOUBLE_LOG", d->reqlog, 1);
		if (version)
			setenv("FC_DOUBLE_VERSION", version, 1);
		else
			unsetenv("FC_DOUBLE_VERSION");
		unsetenv("FC_DOUBLE_FAIL");
		execl(bin, bin, "--api-sock", d->sock, "--id", "unit-1", (char *)NULL);
		_exit(127);
	}
	int64_t deadline = mono_ms() + 10000;
	struct berr err = { 0 };
	json_t *o = NULL;
	while (fc_api_call(d->sock, "GET", "/version", NULL, 500, &o, &err) < 0) {
		if (mono_ms() > deadline)
			fail_msg("the double did not answer: %s", err.msg);
		sleep_ms(20);
	}
	json_decref(o);
}

static void double_stop(struct dbl *d)
{
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
		;
	rm_rf(d->dir);
	free(d->dir);
	free(d->sock);
	free(d->reqlog);
	free(d->out);
}

static int put(const char *sock, const char *path, const char *body, struct berr *err)
{
	json_error_t je;
	json_t *b = json_loads(body, 0, &je);
	assert_non_null(b);
	int r = fc_api_call(sock, "PUT", path, b, 3000, NULL, err);
	json_decref(b);
	return r;
}

static void test_api_double(void **state)
{
	(void)state;
	if (!have_python())
		skip();
	struct dbl d;
	struct berr err = { 0 };
	json_t *o = NULL;

	double_start(&d, NULL);
	assert_int_equal(fc_api_call(d.sock, "GET", "/version", NULL, 2000, &o, &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "firecracker_version")), "1.16.1");
	json_decref(o);
	assert_int_equal(fc_api_call(d.sock, "GET", "/", NULL, 2000, &o, &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "app_name")), "Firecracker");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "unit-1");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "Not started");
	json_decref(o);

	/* 204 */
	assert_int_equal(put(d.sock, "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":256}",
			     &err),
			 0);
	assert_int_equal(fc_api_call(d.sock, "GET", "/machine-config", NULL, 2000, &o, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "vcpu_count")), 2);
	json_decref(o);

	/* 400 fault_message: a bad value and an unknown field. */
	assert_int_equal(put(d.sock, "/machine-config", "{\"vcpu_count\":33,\"mem_size_mib\":256}",
			     &err),
			 -EREMOTEIO);
	assert_string_equal(err.msg, "firecracker refused PUT /machine-config: The vCPU number is "
				     "invalid: it can only be 1 or an even number when SMT is enabled.");
	assert_int_equal(put(d.sock, "/machine-config",
			     "{\"vcpu_count\":1,\"mem_size_mib\":256,\"vcpus\":1}", &err),
			 -EREMOTEIO);
	print_message("unknown field: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "An error occurred when deserializing the json body of a "
					"request: unknown field `vcpus`, expected one of `vcpu_count`"));
	/* Resource id charset. */
	assert_int_equal(put(d.sock, "/drives/root-fs",
			     "{\"drive_id\":\"root-fs\",\"is_root_device\":true}", &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "API Resource IDs can only contain alphanumeric characters "
					"and underscores."));
	/* Post-boot-only call before boot. */
	assert_int_equal(put(d.sock, "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "The requested operation is not supported before starting "
					"the microVM."));
	/* GET with a body; unknown path. */
	json_t *e = json_object();
	assert_int_equal(fc_api_call(d.sock, "GET", "/version", e, 2000, &o, &err), -EREMOTEIO);
	assert_non_null(strstr(err.msg, "GET request cannot have a body."));
	json_decref(e);
	assert_int_equal(fc_api_call(d.sock, "GET", "/nope/x", NULL, 2000, &o, &err), -EREMOTEIO);
	assert_non_null(strstr(err.msg, "Invalid request method and/or path: GET nope."));
	/* A bad kernel path fails at PUT /boot-source. */
	assert_int_equal(put(d.sock, "/boot-source", "{\"kernel_image_path\":\"/nonexistent/vmlinux\"}",
			     &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "The kernel file cannot be opened"));
	/* micro-http's error shape (raw LF) for a body over 51200 bytes. */
	{
		struct sbuf s;
		sbuf_init(&s);
		sbuf_puts(&s, "{\"k\":\"");
		for (int i = 0; i < 6000; i++)
			sbuf_puts(&s, "0123456789");
		sbuf_puts(&s, "\"}");
		json_error_t je;
		json_t *big = json_loads(s.buf, 0, &je);
		assert_non_null(big);
		assert_int_equal(fc_api_call(d.sock, "PUT", "/mmds", big, 3000, NULL, &err),
				 -EREMOTEIO);
		print_message("too big: %s\n", err.msg);
		assert_non_null(strstr(err.msg, "is larger than the limit of 51200 allowed by server. "
						"All previous unanswered requests will be dropped."));
		json_decref(big);
		sbuf_free(&s);
	}
	/* The double is still serving. */
	assert_int_equal(fc_api_call(d.sock, "GET", "/version", NULL, 2000, &o, &err), 0);
	json_decref(o);
	/* Every request was logged, in order. */
	_cleanup_free_ char *log = NULL;
	assert_int_equal(read_file(d.reqlog, 1 << 20, &log, NULL), 0);
	assert_non_null(strstr(log, "\"method\": \"PUT\", \"path\": \"/drives/root-fs\""));
	double_stop(&d);

	/* Before 1.14.0 there is no PUT /serial. */
	double_start(&d, "1.13.1");
	assert_int_equal(put(d.sock, "/serial", "{\"serial_out_path\":\"/dev/null\"}", &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "Invalid request method and/or path: PUT serial."));
	double_stop(&d);
	double_start(&d, NULL);
	assert_int_equal(put(d.sock, "/serial", "{\"serial_out_path\":\"/dev/null\"}", &err), 0);
	double_stop(&d);
}


/* Snapshot loads in the double, without a guest: only a fresh process,
 * exactly one memory backend, a broken state file ends the process. */
static void test_double_snapshot_rules(void **state)
{
	(void)state;
	if (!have_python())
		skip();
	struct dbl d;
	struct berr err = { 0 };
	json_t *o = NULL;

	/* post-boot only: create, PATCH /vm */
	double_start(&d, NULL);
	assert_int_equal(put(d.sock, "/snapshot/create",
			     "{\"snapshot_path\":\"/tmp/x\",\"mem_file_path\":\"/tmp/y\"}", &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "not supported before starting the microVM"));
	/* neither or both memory sources */
	assert_int_equal(put(d.sock, "/snapshot/load", "{\"snapshot_path\":\"/tmp/x\"}", &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "either `mem_backend` or `mem_file_path`"));
	assert_int_equal(put(d.sock, "/snapshot/load",
			     "{\"snapshot_path\":\"/tmp/x\",\"mem_file_path\":\"/tmp/y\","
			     "\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"/tmp/y\"}}",
			     &err),
			 -EREMOTEIO);
	assert_non_null(strstr(err.msg, "exclusively"));
	/* after a boot-specific resource: refused, and the process goes on */
	assert_int_equal(put(d.sock, "/machine-config", "{\"vcpu_count\":1,\"mem_size_mib\":128}",
			     &err),
			 0);
	assert_int_equal(put(d.sock, "/snapshot/load",
			     "{\"snapshot_path\":\"/tmp/x\",\"mem_backend\":{\"backend_type\":\"File\","
			     "\"backend_path\":\"/tmp/y\"}}", &err),
			 -EREMOTEIO);
	assert_string_equal(err.msg, "firecracker refused PUT /snapshot/load: Load microVM snapshot "
				     "error: Loading a microVM snapshot not allowed after configuring "
				     "boot-specific resources.");
	assert_int_equal(fc_api_call(d.sock, "GET", "/version", NULL, 2000, &o, &err), 0);
	json_decref(o);
	double_stop(&d);

	/* logger and metrics do not count; a truncated state file is fatal */
	double_start(&d, NULL);
	_cleanup_free_ char *trunc = path_join(d.dir, "state");
	_cleanup_free_ char *mem = path_join(d.dir, "mem");
	_cleanup_free_ char *lg = path_join(d.dir, "fc.log");
	assert_int_equal(write_file_atomic(trunc, "{\"f", 3, 0600), 0);
	assert_int_equal(write_file_atomic(mem, "", 0, 0600), 0);
	_cleanup_free_ char *body = xasprintf("{\"log_path\":\"%s\"}", lg);
	assert_int_equal(put(d.sock, "/logger", body, &err), 0);
	free(body);
	body = xasprintf("{\"snapshot_path\":\"%s\",\"mem_backend\":{\"backend_type\":\"File\","
			 "\"backend_path\":\"%s\"},\"resume_vm\":true}", trunc, mem);
	assert_int_equal(put(d.sock, "/snapshot/load", body, &err), -EREMOTEIO);
	assert_non_null(strstr(err.msg, "Snapshot file is smaller than CRC length."));
	int st = 0;
	for (int i = 0; i < 300 && waitpid(d.pid, &st, WNOHANG) == 0; i++)
		sleep_ms(10);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	d.pid = fork(); /* double_stop kills and reaps: give it something harmless */
	if (d.pid == 0)
		_exit(0);
	double_stop(&d);
}

/* The double refuses an existing socket and the `--name=value` syntax. */
static void test_double_cli(void **state)
{
	(void)state;
	if (!have_python())
		skip();
	_cleanup_free_ char *bin = double_bin();
	_cleanup_free_ char *dir = make_tmpdir();
	_cleanup_free_ char *sock = path_join(dir, "fc.sock");
	write_file_atomic(sock, "", 0, 0600);
	_cleanup_free_ char *c1 = xasprintf("'%s' --api-sock '%s' >'%s/o1' 2>&1", bin, sock, dir);
	int st = system(c1);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	_cleanup_free_ char *c2 = xasprintf("'%s' --api-sock='%s' >/dev/null 2>&1", bin, sock);
	st = system(c2);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 153);
	_cleanup_free_ char *c3 = xasprintf("'%s' --version >/dev/null", bin);
	st = system(c3);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	_cleanup_free_ char *o1 = path_join(dir, "o1"), *text = NULL;
	assert_int_equal(read_file(o1, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, "Failed to open the API socket at: "));
	assert_true(path_exists(sock)); /* never removed by the double */
	rm_rf(dir);
}

/* ---- the driver ---- */

static void test_start_bad_input(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	struct vmm_host h = { .firecracker_bin = "/nonexistent/firecracker" };
	struct vmm_spec s = { .name = "x", .kernel = "/k", .rootfs = "/r", .vcpu = 33,
			      .memory_mib = 256, .console_path = "/tmp/c", .log_path = "/tmp/l",
			      .run_dir = "/tmp", .vsock_cid = 3 };
	assert_int_equal(vmm_firecracker_driver.start(NULL, &s, &p, &err), -EINVAL);
	s.kernel = NULL;
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -EINVAL);
	s.kernel = "/k";
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -ERANGE);
	s.vcpu = 1;
	s.name = "a_b";
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -EINVAL);
	s.name = "x";
	s.vsock_cid = 2;
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -EINVAL);
	s.vsock_cid = 3;
	s.tap = "tap0,evil";
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -EINVAL);
	s.tap = NULL;
	char longdir[120];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	s.run_dir = longdir;
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -ENAMETOOLONG);
	assert_null(p.runtime);

	/* A binary that does not exist. */
	_cleanup_free_ char *dir = make_tmpdir();
	_cleanup_free_ char *con = path_join(dir, "console"), *log = path_join(dir, "vmm.log");
	s.run_dir = dir;
	s.console_path = con;
	s.log_path = log;
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/firecracker"));
	/* No firecracker_bin: "firecracker" from PATH (none here). */
	h.firecracker_bin = NULL;
	char *path = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
	setenv("PATH", "/nonexistent", 1);
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot run firecracker"));
	if (path)
		setenv("PATH", path, 1);
	free(path);
	/* A binary that is not Firecracker. */
	h.firecracker_bin = "/bin/true";
	assert_int_equal(vmm_firecracker_driver.start(&h, &s, &p, &err), -ENOEXEC);
	assert_null(p.runtime);
	rm_rf(dir);
}

/* kill() never signals a process whose start time does not match. */
static void test_kill_wrong_start(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct vmm_host h = { .firecracker_bin = "firecracker" };
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sleep(30);
		_exit(0);
	}
	int64_t st = 0;
	assert_int_equal(proc_start_time(pid, &st), 0);
	struct vmm_proc p = { .pid = pid, .pid_start = st + 1, .runtime = NULL };
	assert_int_equal(vmm_firecracker_driver.kill(&h, &p, &err), 0);
	sleep_ms(50);
	assert_true(proc_alive(pid, st));
	assert_int_equal(vmm_firecracker_driver.adopt(&h, &p, &err), -ESRCH);
	assert_int_equal(vmm_firecracker_driver.shutdown(&h, &p, &err), -ESRCH);
	p.pid_start = st;
	/* Alive but no API: adopted all the same. */
	p.runtime = xstrdup("{\"api\":\"/nonexistent/fc.sock\"}");
	assert_int_equal(vmm_firecracker_driver.adopt(&h, &p, &err), 0);
	assert_int_equal(vmm_firecracker_driver.kill(&h, &p, &err), 0);
	int status = reap_within(pid, 5000);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	vmm_proc_clear(&p);
}

/* ---- real boots through the double ---- */

struct vmfix {
	char *dir, *run, *rootfs, *work, *con, *log, *reqlog, *bin;
	char *kbuf, *ibuf, *img;
	bool ok;
	pid_t live; /* a started VMM, killed by teardown if a test failed */
	struct vmm_host h;
	struct vmm_spec s;
};

static const char *build_dir(void)
{
	const char *d = getenv("BANGER_BUILD_DIR");
	return d && *d ? d : "/var/cache/banger/build";
}

static int vm_setup(void **state)
{
	struct vmfix *f = xcalloc(1, sizeof(*f));
	struct stat st;
	*state = f;
	f->kbuf = xasprintf("%s/kernels/debian-cloud-amd64/vmlinux", build_dir());
	f->ibuf = xasprintf("%s/kernels/debian-cloud-amd64/initrd.img", build_dir());
	f->img = xasprintf("%s/images/debian-bookworm-mini/rootfs.ext4", build_dir());
	f->bin = double_bin();
	if (stat(f->kbuf, &st) < 0 || stat(f->ibuf, &st) < 0 || stat(f->img, &st) < 0 ||
	    !f->bin || !have_python() ||
	    system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0)
		return 0; /* the test skips */
	f->dir = make_tmpdir();
	f->run = path_join(f->dir, "run");
	assert_int_equal(mkdir(f->run, 0700), 0);
	f->rootfs = path_join(f->dir, "rootfs.ext4");
	f->work = path_join(f->dir, "work.ext4");
	f->con = path_join(f->dir, "console");
	f->log = path_join(f->dir, "vmm.log");
	f->reqlog = path_join(f->dir, "requests.jsonl");
	_cleanup_free_ char *cmd = xasprintf(
		"cp --sparse=always '%s' '%s' && truncate -s 1G '%s' && mkfs.ext4 -q -F '%s'",
		f->img, f->rootfs, f->work, f->work);
	if (system(cmd) != 0)
		return -1;
	setenv("FC_DOUBLE_LOG", f->reqlog, 1);
	unsetenv("FC_DOUBLE_FAIL");
	unsetenv("FC_DOUBLE_VERSION");
	f->h = (struct vmm_host){ .firecracker_bin = f->bin };
	f->s = (struct vmm_spec){ .name = "fc-unit", .kernel = f->kbuf, .initrd = f->ibuf,
				  .rootfs = f->rootfs, .workdisk = f->work, .vcpu = 2,
				  .memory_mib = 1024, .console_path = f->con, .log_path = f->log,
				  .run_dir = f->run, .vsock_cid = 42,
				  .cmdline_extra = "systemd.show_status=1" };
	f->ok = true;
	return 0;
}

static int vm_teardown(void **state)
{
	struct vmfix *f = *state;
	if (f->live > 0) {
		kill(f->live, SIGKILL);
		while (waitpid(f->live, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (f->dir && !getenv("KEEP")) {
		rm_rf(f->dir);
	}
	free(f->dir);
	free(f->run);
	free(f->rootfs);
	free(f->work);
	free(f->con);
	free(f->log);
	free(f->reqlog);
	free(f->bin);
	free(f->kbuf);
	free(f->ibuf);
	free(f->img);
	free(f);
	unsetenv("FC_DOUBLE_LOG");
	unsetenv("FC_DOUBLE_FAIL");
	unsetenv("FC_DOUBLE_VERSION");
	return 0;
}


/* Snapshot and restore through the double: pause, create, resume in the
 * first process; in a fresh one the logger, the metrics, then the load
 * (nothing else before it), with this VM's vsock socket; the drives by the
 * relative paths the first recorded, so the second opens its own. */
static void test_snapshot_restore(void **state)
{
	struct vmfix *f = *state;
	if (!f->ok)
		skip();
	struct vmm_proc p = { 0 }, p2 = { 0 };
	struct berr err = { 0 };
	f->s.snapshottable = true;
	if (vmm_firecracker_driver.start(&f->h, &f->s, &p, &err) < 0)
		fail_msg("start: %s", err.msg);
	f->live = p.pid;
	_cleanup_free_ char *sd = path_join(f->dir, "snap");
	_cleanup_free_ char *sst = path_join(sd, "state");
	_cleanup_free_ char *smem = path_join(sd, "mem");
	assert_int_equal(mkdir(sd, 0700), 0);
	struct vmm_snap sn = { .dir = sd, .state = sst, .mem = smem };
	sleep_ms(2000); /* let the guest run a little */
	assert_int_equal(vmm_firecracker_driver.pause(&f->h, &p, &err), 0);
	if (vmm_firecracker_driver.snap_save(&f->h, &p, &f->s, &sn, &err) < 0)
		fail_msg("snap_save: %s", err.msg);
	assert_int_equal(vmm_firecracker_driver.resume(&f->h, &p, &err), 0);
	struct stat st;
	assert_int_equal(stat(sst, &st), 0);
	assert_int_equal(stat(smem, &st), 0);
	assert_true(st.st_size > 0);
	_cleanup_free_ char *log1 = NULL;
	assert_int_equal(read_file(f->reqlog, 1 << 20, &log1, NULL), 0);
	char *a = strstr(log1, "\"body\": {\"state\": \"Paused\"}, \"method\": \"PATCH\", \"path\": \"/vm\"");
	char *b = strstr(log1, "\"path\": \"/snapshot/create\", \"status\": 204");
	char *c = strstr(log1, "\"body\": {\"state\": \"Resumed\"}, \"method\": \"PATCH\", \"path\": \"/vm\"");
	if (!a || !b || !c || !(a < b && b < c))
		fail_msg("pause, create, resume not in order: %s", log1);
	/* the drives went in by relative paths (the VM's own directory) */
	assert_non_null(strstr(log1, "\"path_on_host\": \"rootfs.ext4\""));
	assert_non_null(strstr(log1, "\"path_on_host\": \"work.ext4\""));
	assert_int_equal(vmm_firecracker_driver.kill(&f->h, &p, &err), 0);
	reap_within(p.pid, 5000);
	f->live = 0;

	/* a second VM of its own, restored from the snapshot */
	_cleanup_free_ char *d2 = path_join(f->dir, "vm2");
	_cleanup_free_ char *run2 = path_join(d2, "run");
	_cleanup_free_ char *root2 = path_join(d2, "rootfs.ext4");
	_cleanup_free_ char *work2 = path_join(d2, "work.ext4");
	_cleanup_free_ char *con2 = path_join(d2, "console");
	_cleanup_free_ char *lg2 = path_join(d2, "vmm.log");
	_cleanup_free_ char *req2 = path_join(d2, "requests.jsonl");
	assert_int_equal(mkdir(d2, 0700), 0);
	assert_int_equal(mkdir(run2, 0700), 0);
	_cleanup_free_ char *cmd = xasprintf("cp --sparse=always '%s' '%s' && cp --sparse=always "
					     "'%s' '%s'", f->rootfs, root2, f->work, work2);
	assert_int_equal(system(cmd), 0);
	setenv("FC_DOUBLE_LOG", req2, 1);
	struct vmm_spec s2 = f->s;
	s2.name = "fc-unit2";
	s2.rootfs = root2;
	s2.workdisk = work2;
	s2.console_path = con2;
	s2.log_path = lg2;
	s2.run_dir = run2;
	s2.snapshottable = false; /* restore needs no flag: it uses the recorded paths */
	if (vmm_firecracker_driver.restore(&f->h, &s2, &sn, &p2, &err) < 0)
		fail_msg("restore: %s", err.msg);
	f->live = p2.pid;
	_cleanup_free_ char *api = vmm_runtime_get(&p2, "api");
	_cleanup_free_ char *from = vmm_runtime_get(&p2, "snapshot");
	assert_string_equal(from, sd);
	json_t *info = NULL;
	assert_int_equal(fc_api_call(api, "GET", "/", NULL, 2000, &info, &err), 0);
	assert_string_equal(json_string_value(json_object_get(info, "state")), "Running");
	json_decref(info);
	/* the fresh process: GETs, then logger, metrics, load, nothing else */
	_cleanup_free_ char *log2 = NULL;
	assert_int_equal(read_file(req2, 1 << 20, &log2, NULL), 0);
	struct sbuf seq;
	sbuf_init(&seq);
	for (char *l = log2; l && *l;) {
		char *nl = strchr(l, '\n');
		json_error_t je;
		json_t *rq = json_loadb(l, nl ? (size_t)(nl - l) : strlen(l), 0, &je);
		const char *m = json_string_value(json_object_get(rq, "method"));
		const char *pa = json_string_value(json_object_get(rq, "path"));
		if (m && strcmp(m, "GET") != 0)
			sbuf_printf(&seq, "%s %s;", m, pa);
		if (pa && strcmp(pa, "/snapshot/load") == 0) {
			json_t *bd = json_object_get(rq, "body");
			assert_string_equal(json_string_value(json_object_get(bd, "snapshot_path")), sst);
			json_t *mb = json_object_get(bd, "mem_backend");
			assert_string_equal(json_string_value(json_object_get(mb, "backend_type")), "File");
			assert_string_equal(json_string_value(json_object_get(mb, "backend_path")), smem);
			assert_true(json_is_true(json_object_get(bd, "resume_vm")));
			_cleanup_free_ char *vs = path_join(run2, "vsock.sock");
			assert_string_equal(json_string_value(json_object_get(
						    json_object_get(bd, "vsock_override"), "uds_path")),
					    vs);
			assert_null(json_object_get(bd, "network_overrides")); /* no tap here */
			assert_int_equal(json_integer_value(json_object_get(rq, "status")), 204);
		}
		json_decref(rq);
		l = nl ? nl + 1 : NULL;
	}
	assert_string_equal(seq.buf, "PUT /logger;PUT /metrics;PUT /snapshot/load;");
	sbuf_free(&seq);
	assert_int_equal(vmm_firecracker_driver.kill(&f->h, &p2, &err), 0);
	reap_within(p2.pid, 5000);
	f->live = 0;
	vmm_proc_clear(&p);
	vmm_proc_clear(&p2);
}

static bool file_has(const char *path, const char *needle)
{
	_cleanup_free_ char *t = NULL;
	if (read_file(path, 64 << 20, &t, NULL) < 0)
		return false;
	return strstr(t, needle) != NULL;
}

static bool wait_file_has(const char *path, const char *needle, int ms)
{
	int64_t deadline = mono_ms() + ms;
	while (mono_ms() < deadline) {
		if (file_has(path, needle))
			return true;
		sleep_ms(250);
	}
	return false;
}

/* Parse the request log into an array of {method, path, body, status}. */
static json_t *read_reqlog(const char *path)
{
	_cleanup_free_ char *t = NULL;
	assert_int_equal(read_file(path, 1 << 20, &t, NULL), 0);
	json_t *arr = json_array();
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		assert_non_null(o);
		json_array_append_new(arr, o);
	}
	return arr;
}

/* Assert that entry i is METHOD PATH with exactly the body `want` (JSON
 * text; NULL for none) and a 2xx status. */
static void expect_req(json_t *arr, size_t i, const char *method, const char *path,
		       const char *want)
{
	json_t *o = json_array_get(arr, i);
	assert_non_null(o);
	const char *m = json_string_value(json_object_get(o, "method"));
	const char *p = json_string_value(json_object_get(o, "path"));
	if (!m || !p || strcmp(m, method) != 0 || strcmp(p, path) != 0)
		fail_msg("request %zu is %s %s, expected %s %s", i, m ? m : "?", p ? p : "?", method,
			 path);
	json_int_t st = json_integer_value(json_object_get(o, "status"));
	if (st != 200 && st != 204)
		fail_msg("%s %s got status %lld", method, path, (long long)st);
	json_t *body = json_object_get(o, "body");
	if (!want) {
		assert_true(json_is_null(body));
		return;
	}
	json_error_t je;
	json_t *w = json_loads(want, 0, &je);
	assert_non_null(w);
	if (!json_equal(w, body)) {
		char *got = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("%s %s body %s, expected %s", method, path, got, want);
	}
	json_decref(w);
}

static void test_boot_shutdown(void **state)
{
	struct vmfix *f = *state;
	if (!f->ok)
		skip();
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	_cleanup_free_ char *api = path_join(f->run, "fc.sock");
	_cleanup_free_ char *vs = path_join(f->run, "vsock.sock");

	/* A stale API socket from an earlier run is removed. */
	write_file_atomic(api, "", 0, 0600);
	int64_t t0 = mono_ms();
	if (vmm_firecracker_driver.start(&f->h, &f->s, &p, &err) < 0)
		fail_msg("start: %s", err.msg);
	f->live = p.pid;
	print_message("start returned after %lld ms (pid %d)\n", (long long)(mono_ms() - t0),
		      (int)p.pid);
	assert_true(p.pid > 0);
	assert_true(proc_alive(p.pid, p.pid_start));
	assert_non_null(p.runtime);
	json_error_t je;
	json_t *rt = json_loads(p.runtime, 0, &je);
	assert_non_null(rt);
	assert_string_equal(json_string_value(json_object_get(rt, "api")), api);
	assert_string_equal(json_string_value(json_object_get(rt, "vsock")), vs);
	assert_int_equal(json_integer_value(json_object_get(rt, "cid")), 42);
	assert_string_equal(json_string_value(json_object_get(rt, "version")), "1.16.1");
	assert_string_equal(json_string_value(json_object_get(rt, "serial")), "api");
	assert_string_equal(json_string_value(json_object_get(rt, "log")), f->log);
	json_decref(rt);
	assert_true(path_exists(vs)); /* bound on PUT /vsock */

	/* The calls, in order, with exact bodies. */
	json_t *reqs = read_reqlog(f->reqlog);
	_cleanup_free_ char *fclog = path_join(f->run, "fc.log");
	_cleanup_free_ char *metrics = path_join(f->run, "fc.metrics");
	_cleanup_free_ char *b_logger = xasprintf(
		"{\"log_path\":\"%s\",\"level\":\"Info\",\"show_level\":true}", fclog);
	_cleanup_free_ char *b_metrics = xasprintf("{\"metrics_path\":\"%s\"}", metrics);
	_cleanup_free_ char *b_boot = xasprintf(
		"{\"kernel_image_path\":\"%s\",\"initrd_path\":\"%s\",\"boot_args\":\"console=ttyS0 "
		"reboot=k panic=1 pci=off root=/dev/vda rw systemd.show_status=1\"}",
		f->kbuf, f->ibuf);
	_cleanup_free_ char *b_root = xasprintf(
		"{\"drive_id\":\"rootfs\",\"is_root_device\":true,\"path_on_host\":\"%s\","
		"\"is_read_only\":false}",
		f->rootfs);
	_cleanup_free_ char *b_work = xasprintf(
		"{\"drive_id\":\"work\",\"is_root_device\":false,\"path_on_host\":\"%s\","
		"\"is_read_only\":false}",
		f->work);
	_cleanup_free_ char *b_vsock = xasprintf("{\"guest_cid\":42,\"uds_path\":\"%s\"}", vs);
	_cleanup_free_ char *b_serial = xasprintf("{\"serial_out_path\":\"%s\"}", f->con);
	size_t i = 0;
	/* GET /version may have been tried more than once while the socket came up. */
	while (i < json_array_size(reqs) &&
	       strcmp(json_string_value(json_object_get(json_array_get(reqs, i), "path")),
		      "/version") == 0)
		expect_req(reqs, i++, "GET", "/version", NULL);
	assert_true(i >= 1);
	expect_req(reqs, i++, "PUT", "/logger", b_logger);
	expect_req(reqs, i++, "PUT", "/metrics", b_metrics);
	expect_req(reqs, i++, "PUT", "/boot-source", b_boot);
	expect_req(reqs, i++, "PUT", "/machine-config", "{\"vcpu_count\":2,\"mem_size_mib\":1024}");
	expect_req(reqs, i++, "PUT", "/drives/rootfs", b_root);
	expect_req(reqs, i++, "PUT", "/drives/work", b_work);
	expect_req(reqs, i++, "PUT", "/vsock", b_vsock);
	expect_req(reqs, i++, "PUT", "/serial", b_serial);
	expect_req(reqs, i++, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
	assert_int_equal(json_array_size(reqs), i);
	json_decref(reqs);

	/* The guest boots to a login prompt on the console file. */
	t0 = mono_ms();
	bool login = wait_file_has(f->con, "login:", BOOT_LOGIN_MS);
	print_message("login prompt %s after %lld ms\n", login ? "seen" : "NOT seen",
		      (long long)(mono_ms() - t0));
	assert_true(login);
	assert_true(file_has(f->con, "Linux version"));
	assert_true(file_has(f->log, "banger: exec "));
	assert_true(file_has(fclog, "Successfully started microvm"));

	/* adopt: alive, and GET / answers. */
	assert_int_equal(vmm_firecracker_driver.adopt(&f->h, &p, &err), 0);
	assert_true(file_has(f->log, "adopted firecracker"));
	assert_true(file_has(f->log, "state Running"));

	/* shutdown: Ctrl-Alt-Del, the guest reboots, the VMM exits 0. */
	t0 = mono_ms();
	if (vmm_firecracker_driver.shutdown(&f->h, &p, &err) < 0)
		fail_msg("shutdown: %s", err.msg);
	int st = reap_within(p.pid, SHUTDOWN_MS);
	f->live = 0;
	print_message("exited %lld ms after SendCtrlAltDel\n", (long long)(mono_ms() - t0));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(file_has(f->con, "reboot: Restarting system") ||
		    file_has(f->con, "reboot: Power down"));
	/* Gone: adopt says so; kill() cleans the sockets Firecracker leaves. */
	assert_int_equal(vmm_firecracker_driver.adopt(&f->h, &p, &err), -ESRCH);
	assert_int_equal(vmm_firecracker_driver.shutdown(&f->h, &p, &err), -ESRCH);
	assert_int_equal(vmm_firecracker_driver.kill(&f->h, &p, &err), 0);
	assert_false(path_exists(api));
	assert_false(path_exists(vs));
	vmm_proc_clear(&p);
}

/* Is any process's command line mentioning needle alive? */
static bool any_process_mentions(const char *needle)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;
	assert_non_null(d);
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		char buf[8192];
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n <= 0)
			continue;
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] == '\0')
				buf[k] = ' ';
		buf[n] = '\0';
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		_cleanup_free_ char *stat = NULL;
		if (read_file(path, 4096, &stat, NULL) == 0) {
			char *rp = strrchr(stat, ')');
			if (rp && rp[1] == ' ' && rp[2] == 'Z')
				continue; /* a zombie is not running */
		}
		found = strstr(buf, needle) != NULL;
	}
	closedir(d);
	return found;
}

/* Before 1.14.0: no PUT /serial, the console comes from stdout; then kill. */
static void test_old_version_kill(void **state)
{
	struct vmfix *f = *state;
	if (!f->ok)
		skip();
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	_cleanup_free_ char *api = path_join(f->run, "fc.sock");
	_cleanup_free_ char *vs = path_join(f->run, "vsock.sock");

	setenv("FC_DOUBLE_VERSION", "1.13.0", 1);
	unlink(f->reqlog);
	if (vmm_firecracker_driver.start(&f->h, &f->s, &p, &err) < 0)
		fail_msg("start: %s", err.msg);
	unsetenv("FC_DOUBLE_VERSION");
	f->live = p.pid;
	assert_non_null(strstr(p.runtime, "\"serial\":\"stdout\""));
	assert_non_null(strstr(p.runtime, "\"version\":\"1.13.0\""));
	assert_false(file_has(f->reqlog, "/serial"));
	assert_true(file_has(f->reqlog, "InstanceStart"));
	int64_t t0 = mono_ms();
	bool banner = wait_file_has(f->con, "Linux version", 60000);
	print_message("kernel banner on stdout-console after %lld ms\n",
		      (long long)(mono_ms() - t0));
	assert_true(banner);

	assert_int_equal(vmm_firecracker_driver.kill(&f->h, &p, &err), 0);
	int st = reap_within(p.pid, 5000);
	f->live = 0;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_false(path_exists(api));
	assert_false(path_exists(vs));
	/* QEMU went with it (PR_SET_PDEATHSIG in the double). */
	int64_t deadline = mono_ms() + 5000;
	while (any_process_mentions(f->rootfs) && mono_ms() < deadline)
		sleep_ms(50);
	assert_false(any_process_mentions(f->rootfs));
	/* kill of a gone process is fine. */
	assert_int_equal(vmm_firecracker_driver.kill(&f->h, &p, &err), 0);
	vmm_proc_clear(&p);
}

/* Error injection: a refused call fails start with the fault_message,
 * kills the process and leaves no socket. */
static void test_start_refused(void **state)
{
	struct vmfix *f = *state;
	if (!f->ok)
		skip();
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	_cleanup_free_ char *api = path_join(f->run, "fc.sock");
	_cleanup_free_ char *vs = path_join(f->run, "vsock.sock");

	setenv("FC_DOUBLE_FAIL", "PUT /drives/work", 1);
	unlink(f->reqlog);
	int r = vmm_firecracker_driver.start(&f->h, &f->s, &p, &err);
	unsetenv("FC_DOUBLE_FAIL");
	print_message("refused start: %s\n", err.msg);
	assert_int_equal(r, -EREMOTEIO);
	assert_string_equal(err.msg, "firecracker refused PUT /drives/work: fc-double: injected "
				     "failure for PUT /drives/work (FC_DOUBLE_FAIL)");
	assert_int_equal(p.pid, 0);
	assert_null(p.runtime);
	assert_false(path_exists(api));
	assert_false(path_exists(vs));
	assert_false(any_process_mentions(api));
	assert_false(file_has(f->reqlog, "/vsock"));
	assert_false(file_has(f->reqlog, "InstanceStart"));
	assert_true(file_has(f->log, "firecracker refused PUT /drives/work"));

	/* A refusal of the final call as well (the double has bound vsock). */
	setenv("FC_DOUBLE_FAIL", "PUT /actions", 1);
	r = vmm_firecracker_driver.start(&f->h, &f->s, &p, &err);
	unsetenv("FC_DOUBLE_FAIL");
	assert_int_equal(r, -EREMOTEIO);
	assert_non_null(strstr(err.msg, "firecracker refused PUT /actions: "));
	assert_false(path_exists(api));
	assert_false(path_exists(vs));
	assert_false(any_process_mentions(api));
}

/* ---- the jailer: pure parts (helper/jail.c) ---- */

static void test_jail_id(void **state)
{
	(void)state;
	struct berr err = { 0 };
	char s65[66];
	memset(s65, 'a', 65);
	s65[65] = '\0';
	assert_int_equal(jail_id_validate("vm-1", &err), 0);
	assert_int_equal(jail_id_validate("A-b-9", &err), 0);
	assert_int_equal(jail_id_validate(s65 + 1, &err), 0); /* 64 */
	assert_int_equal(jail_id_validate(s65, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 64"));
	assert_int_equal(jail_id_validate("", &err), -EINVAL);
	assert_int_equal(jail_id_validate(NULL, &err), -EINVAL);
	const char *bad[] = { "a/b", "..", ".", "a_b", "a b", "a\nb", "é", "a.b" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(jail_id_validate(bad[i], &err), -EINVAL);
}

static void test_jail_paths(void **state)
{
	(void)state;
	assert_string_equal(jail_exec_name("/usr/bin/firecracker-v1.16.1"), "firecracker-v1.16.1");
	assert_string_equal(jail_exec_name("firecracker"), "firecracker");
	_cleanup_free_ char *r = jail_root_dir("/var/lib/banger", "vm1");
	_cleanup_free_ char *v = jail_vm_dir("/var/lib/banger", "vm1");
	assert_string_equal(r, "/var/lib/banger/jail/vm1/root");
	assert_string_equal(v, "/var/lib/banger/jail/vm1");
}

static char *join_argv(char *const *argv)
{
	struct sbuf b;
	sbuf_init(&b);
	for (size_t i = 0; argv[i]; i++)
		sbuf_printf(&b, "%s%s", i ? " " : "", argv[i]);
	return sbuf_steal(&b);
}

static void test_jail_argv(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct jail_argv ja;
	struct jail_conf c = { .jailer = "/usr/bin/jailer", .exec_file = "/usr/bin/firecracker",
			       .state_dir = "/var/lib/banger", .uid = 1000, .gid = 1001 };
	assert_int_equal(jail_build_argv(&c, "vm1", true, &ja, &err), 0);
	_cleanup_free_ char *a = join_argv(ja.argv);
	assert_string_equal(a, "/usr/bin/jailer --id vm1 --exec-file /usr/bin/firecracker --uid 1000 "
			       "--gid 1001 --chroot-base-dir /srv/jailer --daemonize -- "
			       "--api-sock /run/firecracker.socket");
	assert_int_equal(jail_build_argv(&c, "vm1", false, &ja, &err), 0);
	_cleanup_free_ char *b = join_argv(ja.argv);
	assert_string_equal(b, "/usr/bin/jailer --id vm1 --exec-file /usr/bin/firecracker --uid 1000 "
			       "--gid 1001 --chroot-base-dir /srv/jailer -- "
			       "--api-sock /run/firecracker.socket");
	/* The id is never passed through unchecked, and never after "--". */
	assert_int_equal(jail_build_argv(&c, "a b", true, &ja, &err), -EINVAL);
	assert_int_equal(jail_build_argv(&c, "--id", true, &ja, &err), 0);
	size_t dd = 0;
	for (size_t i = 0; ja.argv[i]; i++)
		if (strcmp(ja.argv[i], "--") == 0)
			dd = i;
	for (size_t i = dd; ja.argv[i]; i++)
		assert_string_not_equal(ja.argv[i], "--id");
}

/* A state dir with one jail root, as bangerd prepares it. */
static char *jail_fixture(const char *id, char **ret_root)
{
	char *st = make_tmpdir();
	_cleanup_free_ char *real = realpath(st, NULL);
	free(st);
	st = xstrdup(real);
	*ret_root = jail_root_dir(st, id);
	assert_int_equal(mkdir_p(*ret_root, 0700), 0);
	return st;
}

static void test_jail_check(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct jail_target t;
	_cleanup_free_ char *root = NULL;
	_cleanup_free_ char *st = jail_fixture("ok", &root);
	struct jail_conf c = { .jailer = "/bin/false", .exec_file = "/usr/bin/firecracker",
			       .state_dir = st, .uid = getuid(), .gid = getgid() };

	assert_int_equal(jail_check(&c, "ok", &t, &err), 0);
	struct stat sb;
	assert_int_equal(stat(root, &sb), 0);
	assert_true(t.dev == sb.st_dev && t.ino == sb.st_ino);
	/* Refusals. */
	assert_int_equal(jail_check(&c, "a/b", &t, &err), -EINVAL);
	assert_int_equal(jail_check(&c, "missing", &t, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "the jail root must exist"));
	_cleanup_free_ char *lvm = path_join(st, "jail/lnk");
	_cleanup_free_ char *lroot = path_join(lvm, "root");
	assert_int_equal(mkdir(lvm, 0700), 0);
	assert_int_equal(symlink(root, lroot), 0);
	assert_int_equal(jail_check(&c, "lnk", &t, &err), -ELOOP);
	_cleanup_free_ char *fvm = path_join(st, "jail/file");
	_cleanup_free_ char *froot = path_join(fvm, "root");
	assert_int_equal(mkdir(fvm, 0700), 0);
	assert_int_equal(close(open(froot, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(jail_check(&c, "file", &t, &err), -ENOTDIR);
	c.uid = getuid() + 1;
	assert_int_equal(jail_check(&c, "ok", &t, &err), -EPERM);
	assert_non_null(strstr(err.msg, "is owned by uid"));
	c.uid = getuid();
	/* A pid file already there: stale or planted. */
	_cleanup_free_ char *pf = path_join(root, "firecracker.pid");
	assert_int_equal(symlink("/etc/passwd", pf), 0);
	assert_int_equal(jail_check(&c, "ok", &t, &err), -EEXIST);
	unlink(pf);
	assert_int_equal(jail_check(&c, "ok", &t, &err), 0);

	/* The outputs of a jailer without --daemonize. */
	int fd = -1;
	_cleanup_free_ char *con = path_join(root, "console.log");
	_cleanup_free_ char *lnk = path_join(root, "vmm.log");
	assert_int_equal(close(open(con, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(jail_open_output(&c, "ok", "console.log", &fd, &err), 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_int_equal(symlink(con, lnk), 0);
	assert_int_equal(jail_open_output(&c, "ok", "vmm.log", &fd, &err), -ELOOP);
	assert_int_equal(jail_open_output(&c, "ok", "../ok/root/console.log", &fd, &err), -EINVAL);
	assert_int_equal(jail_open_output(&c, "ok", "dev", &fd, &err), -ENOENT);
	rm_rf(st);
}

static void test_jail_binary_check(void **state)
{
	(void)state;
	struct berr err = { 0 };
	char *ret = NULL;
	if (geteuid() != 0)
		skip();
	_cleanup_free_ char *d = make_tmpdir(); /* root's, 0700, in sticky /tmp */
	_cleanup_free_ char *f = path_join(d, "jailer");
	assert_int_equal(close(open(f, O_CREAT | O_WRONLY, 0755)), 0);
	assert_int_equal(chmod(f, 0755), 0);
	assert_int_equal(jail_binary_check(f, &ret, &err), 0);
	_cleanup_free_ char *real = realpath(f, NULL);
	assert_string_equal(ret, real);
	free(ret);
	assert_int_equal(jail_binary_check("jailer", &ret, &err), -EINVAL);
	assert_int_equal(chmod(f, 0775), 0);
	assert_int_equal(jail_binary_check(f, &ret, &err), -EPERM);
	assert_int_equal(chmod(f, 0644), 0);
	assert_int_equal(jail_binary_check(f, &ret, &err), -EINVAL);
	assert_int_equal(chmod(f, 0755), 0);
	assert_int_equal(chown(f, 1, 1), 0);
	assert_int_equal(jail_binary_check(f, &ret, &err), -EPERM);
	assert_int_equal(chown(f, 0, 0), 0);
	assert_int_equal(chmod(d, 0777), 0); /* a directory others may change */
	assert_int_equal(jail_binary_check(f, &ret, &err), -EPERM);
	assert_non_null(strstr(err.msg, "which someone other than root may change"));
	assert_int_equal(chmod(d, 01777), 0); /* sticky, like /tmp: fine */
	assert_int_equal(jail_binary_check(f, &ret, &err), 0);
	free(ret);
	rm_rf(d);
}

static char *jailer_double(void)
{
	return realpath("tests/fc-double/jailer", NULL);
}

/* jail_launch with the doubles, no guest: the jailer's work is observable
 * in the jail, and the jailed Firecracker double resolves every path
 * below the jail root, refusing one that leaves it. */
static void test_jail_launch_double(void **state)
{
	(void)state;
	struct berr err = { 0 };
	_cleanup_free_ char *jl = jailer_double(), *fc = double_bin();
	if (geteuid() != 0 || !have_python() || !jl || !fc)
		skip();
	_cleanup_free_ char *root = NULL;
	_cleanup_free_ char *st = jail_fixture("unit-j", &root);
	struct jail_conf c = { .jailer = jl, .exec_file = fc, .state_dir = st, .uid = 0, .gid = 0 };
	struct jail_target t;
	struct jail_io io = { .daemonize = true };
	pid_t pid = 0;
	assert_int_equal(jail_check(&c, "unit-j", &t, &err), 0);
	int r = jail_launch(&c, "unit-j", &t, &io, &pid, &err);
	if (r < 0)
		fail_msg("jail_launch: %s", err.msg);
	assert_true(pid > 0);
	/* §4's layout. */
	_cleanup_free_ char *pidf = path_join(root, "firecracker.pid"), *txt = NULL;
	assert_int_equal(read_file(pidf, 64, &txt, NULL), 0);
	char want[16];
	snprintf(want, sizeof(want), "%d", (int)pid);
	assert_string_equal(txt, want);
	struct stat sb;
	_cleanup_free_ char *kvm = path_join(root, "dev/kvm"), *tun = path_join(root, "dev/net/tun");
	assert_int_equal(stat(kvm, &sb), 0);
	assert_true(S_ISCHR(sb.st_mode) && major(sb.st_rdev) == 10 && minor(sb.st_rdev) == 232);
	assert_int_equal(stat(tun, &sb), 0);
	assert_true(S_ISCHR(sb.st_mode) && major(sb.st_rdev) == 10 && minor(sb.st_rdev) == 200);
	_cleanup_free_ char *exe = path_join(root, "firecracker");
	assert_int_equal(stat(exe, &sb), 0);
	assert_true(S_ISREG(sb.st_mode) && sb.st_nlink == 1);
	/* The API socket is in the jail; the double maps paths into it. */
	_cleanup_free_ char *sock = xasprintf("%s%s", root, JAIL_API_SOCK);
	json_t *o = NULL;
	int64_t deadline = mono_ms() + 10000;
	while (fc_api_call(sock, "GET", "/", NULL, 500, &o, &err) < 0) {
		if (mono_ms() > deadline)
			fail_msg("the jailed double did not answer: %s", err.msg);
		sleep_ms(20);
	}
	assert_string_equal(json_string_value(json_object_get(o, "id")), "unit-j");
	json_decref(o);
	_cleanup_free_ char *k = path_join(root, "vmlinux"), *evil = path_join(root, "evil");
	assert_int_equal(close(open(k, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(symlink("/etc/hostname", evil), 0);
	assert_int_equal(put(sock, "/boot-source", "{\"kernel_image_path\":\"/vmlinux\"}", &err), 0);
	assert_int_equal(put(sock, "/boot-source", "{\"kernel_image_path\":\"vmlinux\"}", &err), 0);
	assert_int_equal(put(sock, "/boot-source", "{\"kernel_image_path\":\"/run/../vmlinux\"}",
			     &err), 0);
	const char *out[] = { "/../../../../etc/hostname", "/evil", "../etc/hostname" };
	for (size_t i = 0; i < ARRAY_SIZE(out); i++) {
		_cleanup_free_ char *b = xasprintf("{\"kernel_image_path\":\"%s\"}", out[i]);
		assert_int_equal(put(sock, "/boot-source", b, &err), -EREMOTEIO);
		assert_non_null(strstr(err.msg, "leaves the jail"));
	}
	/* Logger and metrics land in the jail. */
	assert_int_equal(put(sock, "/logger", "{\"log_path\":\"/fc.log\"}", &err), 0);
	_cleanup_free_ char *fclog = path_join(root, "fc.log");
	assert_true(path_exists(fclog));
	/* The resend of a launch whose reply got lost is refused. */
	assert_int_equal(jail_check(&c, "unit-j", &t, &err), -EEXIST);
	/* The strays of a jail are found and killed. */
	assert_int_equal(jail_kill_strays(root, "unit-j"), 1);
	deadline = mono_ms() + 5000;
	char stbuf[64];
	snprintf(stbuf, sizeof(stbuf), "/proc/%d/stat", (int)pid);
	for (;;) {
		_cleanup_free_ char *pst = NULL;
		if (read_file(stbuf, 4096, &pst, NULL) < 0 || strstr(pst, ") Z "))
			break;
		if (mono_ms() > deadline)
			fail_msg("pid %d survived jail_kill_strays", (int)pid);
		sleep_ms(20);
	}
	rm_rf(st);
}

/* A jailer that fails: the error carries its words, nothing runs. */
static void test_jail_launch_fails(void **state)
{
	(void)state;
	struct berr err = { 0 };
	_cleanup_free_ char *fc = double_bin();
	if (geteuid() != 0 || !fc)
		skip();
	_cleanup_free_ char *root = NULL;
	_cleanup_free_ char *st = jail_fixture("unit-f", &root);
	_cleanup_free_ char *bad = path_join(st, "jailer");
	const char *sh = "#!/bin/sh\necho 'Jailer error: no\nway' >&2\nexit 3\n";
	assert_int_equal(write_file_atomic(bad, sh, strlen(sh), 0755), 0);
	struct jail_conf c = { .jailer = bad, .exec_file = fc, .state_dir = st, .uid = 0, .gid = 0 };
	struct jail_target t;
	pid_t pid = 0;
	struct jail_io io = { .daemonize = true };
	assert_int_equal(jail_check(&c, "unit-f", &t, &err), 0);
	assert_int_equal(jail_launch(&c, "unit-f", &t, &io, &pid, &err), -ECHILD);
	assert_non_null(strstr(err.msg, "the jailer exited with status 3: Jailer error: no way"));
	/* The jail root changed since the check: the launch refuses it. */
	_cleanup_free_ char *old = xasprintf("%s.old", root);
	assert_int_equal(rename(root, old), 0); /* keeps its inode busy */
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_equal(jail_launch(&c, "unit-f", &t, &io, &pid, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "changed since it was checked"));
	rm_rf(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_parse_response),
		cmocka_unit_test(test_api_transport),
		cmocka_unit_test(test_api_double),
		cmocka_unit_test(test_double_cli),
		cmocka_unit_test(test_double_snapshot_rules),
		cmocka_unit_test(test_start_bad_input),
		cmocka_unit_test(test_kill_wrong_start),
		cmocka_unit_test(test_jail_id),
		cmocka_unit_test(test_jail_paths),
		cmocka_unit_test(test_jail_argv),
		cmocka_unit_test(test_jail_check),
		cmocka_unit_test(test_jail_binary_check),
		cmocka_unit_test(test_jail_launch_double),
		cmocka_unit_test(test_jail_launch_fails),
		cmocka_unit_test_setup_teardown(test_start_refused, vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_boot_shutdown, vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_restore, vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_old_version_kill, vm_setup, vm_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
