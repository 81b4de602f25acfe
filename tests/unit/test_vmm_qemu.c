/* tests/unit/test_vmm_qemu.c: process helpers, accelerator choice, the QMP
 * client against a fake server, and (when the kernel and image have been
 * built) a real boot, power-down and kill through vmm_qemu_driver. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "qmp.h"
#include "util.h"
#include "vmm.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *make_tmpdir(void)
{
	char *d = xstrdup("/tmp/banger-test-qemu.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
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
		sleep_ms(10);
	}
}

/* ---- proc helpers ---- */

static void test_proc_self(void **state)
{
	(void)state;
	int64_t st = 0;
	assert_int_equal(proc_start_time(getpid(), &st), 0);
	assert_true(st > 0);
	assert_true(proc_alive(getpid(), st));
	assert_false(proc_alive(getpid(), st + 1));
	assert_int_equal(proc_start_time(0, &st), -ESRCH);
	assert_false(proc_alive(-1, st));
}

static void test_proc_child(void **state)
{
	(void)state;
	int pipefd[2];
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		/* A comm with spaces and parentheses. */
		prctl(PR_SET_NAME, "a) (b c) x", 0, 0, 0);
		close(pipefd[1]);
		while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(3);
	}
	close(pipefd[0]);
	/* Let the child rename itself. */
	char comm[64] = "";
	_cleanup_free_ char *commpath = xasprintf("/proc/%d/comm", (int)pid);
	for (int i = 0; i < 200 && !strstr(comm, "(b c"); i++) {
		_cleanup_close_ int fd = open(commpath, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
		comm[n > 0 ? n : 0] = '\0';
		if (!strstr(comm, "(b c"))
			sleep_ms(5);
	}
	assert_non_null(strstr(comm, "(b c"));

	int64_t st = 0, self = 0;
	assert_int_equal(proc_start_time(pid, &st), 0);
	assert_int_equal(proc_start_time(getpid(), &self), 0);
	assert_true(st >= self);
	assert_true(proc_alive(pid, st));
	int status = -1;
	assert_int_equal(proc_reap(pid, &status), 0);

	close(pipefd[1]);
	/* After exit it is a zombie: not alive, but still reapable. */
	int64_t deadline = mono_ms() + 5000;
	while (proc_alive(pid, st) && mono_ms() < deadline)
		sleep_ms(5);
	assert_false(proc_alive(pid, st));
	assert_int_equal(proc_reap(pid, &status), 1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	/* Gone: not our child any more, no /proc entry. */
	assert_int_equal(proc_reap(pid, &status), 0);
	assert_int_equal(proc_start_time(pid, &st), -ESRCH);
}

static void test_vmm_proc_clear(void **state)
{
	(void)state;
	struct vmm_proc p = { .pid = 5, .pid_start = 7, .runtime = xstrdup("{}") };
	vmm_proc_clear(&p);
	assert_null(p.runtime);
	assert_int_equal(p.pid, 0);
	vmm_proc_clear(NULL);
}

/* ---- accelerator ---- */

static void test_accel_explicit(void **state)
{
	(void)state;
	struct berr err = { 0 };
	const char *acc = NULL;
	char why[256];
	assert_int_equal(accel_resolve("tcg", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "tcg");
	acc = NULL;
	assert_int_equal(accel_resolve("hvf", &acc, why, sizeof(why), &err), -EINVAL);
	assert_null(acc);
	assert_non_null(strstr(err.msg, "hvf"));
	assert_int_equal(accel_resolve("", &acc, NULL, 0, &err), -EINVAL);
}

static void test_accel_auto_host(void **state)
{
	(void)state;
	struct berr err = { 0 };
	const char *acc = NULL;
	char why[256];
	struct stat st;
	assert_int_equal(accel_resolve("auto", &acc, why, sizeof(why), &err), 0);
	assert_non_null(acc);
	/* The expectation is this host's, whatever it is (hosts of this kind
	 * differ: no /dev/kvm, a root-only one, PVM, a real KVM). */
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int open_errno = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	if (open_errno) {
		char want[160];
		snprintf(want, sizeof(want), "/dev/kvm cannot be opened (%s); using tcg",
			 strerror(open_errno));
		assert_string_equal(acc, "tcg");
		assert_string_equal(why, want);
	} else if (stat("/sys/module/kvm_pvm", &st) == 0) {
		assert_string_equal(acc, "tcg");
		assert_string_equal(why, "kvm is PVM (kvm_pvm): standard kernels hang; using tcg");
	} else {
		assert_string_equal(acc, "kvm");
		assert_string_equal(why, "/dev/kvm is usable; using kvm");
	}
	assert_int_equal(accel_resolve(NULL, &acc, NULL, 0, &err), 0);
}

static void write_str(const char *path, const char *s)
{
	assert_int_equal(write_file_atomic(path, s, strlen(s), 0644), 0);
}

static void test_accel_fake_roots(void **state)
{
	(void)state;
	_cleanup_free_ char *root = make_tmpdir();
	_cleanup_free_ char *dev = path_join(root, "dev");
	_cleanup_free_ char *kvm = path_join(root, "dev/kvm");
	_cleanup_free_ char *mod = path_join(root, "sys/module/kvm_pvm");
	_cleanup_free_ char *proc = path_join(root, "proc");
	_cleanup_free_ char *mods = path_join(root, "proc/modules");
	struct berr err = { 0 };
	const char *acc = NULL;
	char why[256];

	/* No /dev/kvm: auto -> tcg, explicit kvm -> error. */
	assert_int_equal(accel_resolve_in(root, "auto", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "tcg");
	assert_non_null(strstr(why, "cannot be opened"));
	assert_int_equal(accel_resolve_in(root, "kvm", &acc, why, sizeof(why), &err), -ENODEV);
	assert_non_null(strstr(err.msg, "kvm was requested"));

	/* A usable /dev/kvm and no PVM: kvm. */
	assert_int_equal(mkdir_p(dev, 0755), 0);
	write_str(kvm, "");
	assert_int_equal(accel_resolve_in(root, "auto", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "kvm");
	assert_int_equal(accel_resolve_in(root, "kvm", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "kvm");

	/* kvm_pvm in /proc/modules only. */
	assert_int_equal(mkdir_p(proc, 0755), 0);
	write_str(mods, "kvm_intel 1 0 - Live 0x0\nkvm_pvm 12345 0 - Live 0x0\n");
	assert_int_equal(accel_resolve_in(root, "auto", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "tcg");
	assert_non_null(strstr(why, "kvm_pvm"));

	/* kvm_pvm in /sys/module. */
	write_str(mods, "kvm 1 0 - Live 0x0\n");
	assert_int_equal(accel_resolve_in(root, "auto", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "kvm");
	assert_int_equal(mkdir_p(mod, 0755), 0);
	assert_int_equal(accel_resolve_in(root, "auto", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "tcg");
	/* Explicit kvm on a PVM host is honoured, with a note. */
	assert_int_equal(accel_resolve_in(root, "kvm", &acc, why, sizeof(why), &err), 0);
	assert_string_equal(acc, "kvm");
	assert_non_null(strstr(why, "PVM"));

	assert_int_equal(rm_rf(root), 0);
}

static void test_tsc_khz(void **state)
{
	(void)state;
	int64_t khz = host_tsc_khz();
	print_message("host_tsc_khz: %lld\n", (long long)khz);
	/* Every x86 Linux host we run on reports cpu MHz. */
	assert_true(khz > 100000 && khz < 10000000);
}

/* ---- QMP against a fake server ---- */

enum fake_mode { FAKE_OK, FAKE_ERROR, FAKE_SILENT, FAKE_HUGE, FAKE_SPLIT, FAKE_NOT_QMP };

static void fake_send(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			_exit(10);
		s += w;
		n -= (size_t)w;
	}
}

/* Read one line; returns its "id" (or -1) and copies "execute" into cmd. */
static json_int_t fake_read_cmd(int fd, char *cmd, size_t cmdlen)
{
	char line[4096];
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r <= 0)
			_exit(11);
		if (c == '\n')
			break;
		if (n + 1 < sizeof(line))
			line[n++] = c;
	}
	line[n] = '\0';
	json_t *o = json_loads(line, 0, NULL);
	if (!o)
		_exit(12);
	const char *e = json_string_value(json_object_get(o, "execute"));
	snprintf(cmd, cmdlen, "%s", e ? e : "");
	json_int_t id = json_is_integer(json_object_get(o, "id"))
				? json_integer_value(json_object_get(o, "id"))
				: -1;
	json_decref(o);
	return id;
}

static const char greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, "
	"\"capabilities\": []}}\r\n";

static void fake_serve(int cfd, enum fake_mode mode)
{
	char cmd[64], buf[256];
	json_int_t id;

	if (mode == FAKE_SILENT) {
		sleep(30);
		_exit(0);
	}
	if (mode == FAKE_NOT_QMP) {
		fake_send(cfd, "{\"hello\": 1}\n");
		sleep(30);
		_exit(0);
	}
	if (mode == FAKE_SPLIT) {
		for (const char *p = greeting; *p; p++) {
			char one[2] = { *p, 0 };
			fake_send(cfd, one);
			if ((p - greeting) % 16 == 0)
				usleep(1000);
		}
	} else {
		fake_send(cfd, greeting);
	}
	id = fake_read_cmd(cfd, cmd, sizeof(cmd));
	if (strcmp(cmd, "qmp_capabilities") != 0)
		_exit(13);
	snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\n", (long long)id);
	fake_send(cfd, buf);

	id = fake_read_cmd(cfd, cmd, sizeof(cmd));
	switch (mode) {
	case FAKE_OK:
	case FAKE_SPLIT:
		fake_send(cfd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
			       "\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}}\n");
		/* A late reply to some earlier command: must be skipped. */
		snprintf(buf, sizeof(buf), "{\"return\": {\"status\": \"stale\"}, \"id\": %lld}\n",
			 (long long)(id + 100));
		fake_send(cfd, buf);
		snprintf(buf, sizeof(buf),
			 "{\"return\": {\"status\": \"running\", \"cmd\": \"%s\"}, \"id\": %lld}\n", cmd,
			 (long long)id);
		fake_send(cfd, buf);
		break;
	case FAKE_ERROR:
		snprintf(buf, sizeof(buf),
			 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command %s has "
			 "not been found\"}, \"id\": %lld}\n",
			 cmd, (long long)id);
		fake_send(cfd, buf);
		break;
	case FAKE_HUGE: {
		char *big = xmalloc(70000 + 32);
		memcpy(big, "{\"return\": \"", 12);
		memset(big + 12, 'x', 70000);
		memcpy(big + 12 + 70000, "\"}\n", 4);
		fake_send(cfd, big);
		free(big);
		break;
	}
	default:
		break;
	}
	sleep(2); /* keep the connection open while the client reads */
	_exit(0);
}

struct fake {
	char *dir, *sock;
	pid_t pid;
};

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	f->dir = make_tmpdir();
	f->sock = path_join(f->dir, "qmp.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			_exit(14);
		fake_serve(cfd, mode);
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
}

static void run_ok(enum fake_mode mode)
{
	struct fake f;
	struct berr err = { 0 };
	struct qmp *q = NULL;
	json_t *ret = NULL;

	fake_start(&f, mode);
	assert_int_equal(qmp_open(f.sock, 2000, &q, &err), 0);
	assert_int_equal(qmp_exec(q, "query-status", NULL, &ret, &err), 0);
	assert_non_null(ret);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	assert_string_equal(json_string_value(json_object_get(ret, "cmd")), "query-status");
	json_decref(ret);
	qmp_close(q);
	fake_stop(&f);
}

static void test_qmp_ok(void **state)
{
	(void)state;
	run_ok(FAKE_OK);
}

static void test_qmp_split_reads(void **state)
{
	(void)state;
	run_ok(FAKE_SPLIT);
}

static void test_qmp_error_desc(void **state)
{
	(void)state;
	struct fake f;
	struct berr err = { 0 };
	json_t *ret = NULL;
	json_t *args = json_pack("{s:b}", "force", 1);

	fake_start(&f, FAKE_ERROR);
	assert_int_equal(qmp_call(f.sock, 2000, "frobnicate", args, &ret, &err), -EIO);
	assert_null(ret);
	assert_non_null(strstr(err.msg, "The command frobnicate has not been found"));
	json_decref(args);
	fake_stop(&f);
}

static void test_qmp_timeout(void **state)
{
	(void)state;
	struct fake f;
	struct berr err = { 0 };
	struct qmp *q = NULL;

	fake_start(&f, FAKE_SILENT);
	int64_t t0 = mono_ms();
	assert_int_equal(qmp_open(f.sock, 300, &q, &err), -ETIMEDOUT);
	int64_t took = mono_ms() - t0;
	assert_null(q);
	assert_true(took >= 250 && took < 2000);
	assert_non_null(strstr(err.msg, "did not answer in time"));
	fake_stop(&f);
}

static void test_qmp_oversized(void **state)
{
	(void)state;
	struct fake f;
	struct berr err = { 0 };
	json_t *ret = NULL;

	fake_start(&f, FAKE_HUGE);
	assert_int_equal(qmp_call(f.sock, 2000, "query-status", NULL, &ret, &err), -EMSGSIZE);
	assert_null(ret);
	assert_non_null(strstr(err.msg, "longer than"));
	fake_stop(&f);
}

static void test_qmp_not_qmp(void **state)
{
	(void)state;
	struct fake f;
	struct berr err = { 0 };
	struct qmp *q = NULL;

	fake_start(&f, FAKE_NOT_QMP);
	assert_int_equal(qmp_open(f.sock, 1000, &q, &err), -EPROTO);
	fake_stop(&f);
}

static void test_qmp_no_socket(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct qmp *q = NULL;
	assert_int_equal(qmp_open("/nonexistent/banger/qmp.sock", 100, &q, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot connect"));
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(qmp_open(longp, 100, &q, &err), -ENAMETOOLONG);
}

/* ---- the driver ---- */

static bool have_qemu(void)
{
	return system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
}

/* kill() must never signal a process whose start time does not match. */
static void test_kill_wrong_start(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct vmm_host h = { .accel = "tcg" };
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sleep(30);
		_exit(0);
	}
	int64_t st = 0;
	assert_int_equal(proc_start_time(pid, &st), 0);
	struct vmm_proc p = { .pid = pid, .pid_start = st + 1, .runtime = NULL };
	assert_int_equal(vmm_qemu_driver.kill(&h, &p, &err), 0);
	sleep_ms(50);
	assert_true(proc_alive(pid, st));
	assert_int_equal(vmm_qemu_driver.adopt(&h, &p, &err), -ESRCH);
	/* The right start time: SIGKILL (no QMP in its runtime). */
	p.pid_start = st;
	assert_int_equal(vmm_qemu_driver.adopt(&h, &p, &err), 0);
	assert_int_equal(vmm_qemu_driver.kill(&h, &p, &err), 0);
	int status = reap_within(pid, 5000);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_start_bad_input(void **state)
{
	(void)state;
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	struct vmm_host h = { .qemu_bin = "qemu-system-x86_64", .accel = "auto" };
	struct vmm_spec s = { .name = "x", .kernel = "/k", .rootfs = "/r", .vcpu = 1,
			      .memory_mib = 256, .console_path = "/tmp/c", .log_path = "/tmp/l",
			      .run_dir = "/tmp" };
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -EINVAL);
	h.accel = "tcg";
	s.vcpu = 0;
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -EINVAL);
	s.vcpu = 1;
	s.tap = "tap0,script=/bin/evil";
	s.mac = "52:54:00:12:34:56";
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -EINVAL);
	/* A tap comes as an open descriptor, never as a name QEMU opens. */
	s.tap = "tap0";
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -EBADF);
	s.tap_fd = 10;
	s.mac = "52:54:00:12:34:5";
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -EINVAL);
	s.tap = NULL;
	char longdir[120];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	s.run_dir = longdir;
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -ENAMETOOLONG);
	assert_null(p.runtime);
}

/* QEMU that exits at once (missing kernel): start fails with its words. */
static void test_start_qemu_exits(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	_cleanup_free_ char *dir = make_tmpdir();
	_cleanup_free_ char *con = path_join(dir, "console");
	_cleanup_free_ char *log = path_join(dir, "vmm.log");
	_cleanup_free_ char *root = path_join(dir, "root, with comma.ext4");
	_cleanup_free_ char *kernel = path_join(dir, "no-such-vmlinux");
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };
	struct vmm_host h = { .qemu_bin = "qemu-system-x86_64", .accel = "tcg", .tsc_khz = 1234 };
	struct vmm_spec s = { .name = "x", .kernel = kernel, .rootfs = root, .vcpu = 1,
			      .memory_mib = 128, .console_path = con, .log_path = log,
			      .run_dir = dir };
	write_str(root, "");
	h.qemu_bin = "/nonexistent/qemu-system-x86_64";
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot start /nonexistent/qemu-system-x86_64"));
	assert_int_equal(unlink(log), 0);
	h.qemu_bin = "qemu-system-x86_64";
	assert_int_equal(vmm_qemu_driver.start(&h, &s, &p, &err), -ECHILD);
	print_message("start error: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "qemu exited with status 1"));
	assert_non_null(strstr(err.msg, "no-such-vmlinux"));
	assert_null(p.runtime);

	_cleanup_free_ char *text = NULL;
	assert_int_equal(read_file(log, 1 << 20, &text, NULL), 0);
	assert_true(strncmp(text, "banger: exec qemu-system-x86_64 -M microvm,acpi=on -accel tcg -cpu max",
			    strlen("banger: exec qemu-system-x86_64 -M microvm,acpi=on -accel tcg -cpu max")) == 0);
	assert_non_null(strstr(text, "tsc_early_khz=1234"));
	assert_non_null(strstr(text, "'id=root,file="));
	assert_non_null(strstr(text, "root,, with comma.ext4"));
	struct stat st;
	assert_int_equal(stat(con, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(rm_rf(dir), 0);
}

/* ---- real boots (need the built kernel and image) ---- */

struct vmfix {
	char *dir, *rootfs, *work, *con, *log;
	const char *kernel, *initrd;
	char *kbuf, *ibuf, *img;
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
	f->kbuf = xasprintf("%s/kernels/debian-cloud-amd64/vmlinux", build_dir());
	f->ibuf = xasprintf("%s/kernels/debian-cloud-amd64/initrd.img", build_dir());
	f->img = xasprintf("%s/images/debian-bookworm-mini/rootfs.ext4", build_dir());
	*state = f;
	if (stat(f->kbuf, &st) < 0 || stat(f->ibuf, &st) < 0 || stat(f->img, &st) < 0 ||
	    !have_qemu())
		return 0; /* the test skips */
	f->kernel = f->kbuf;
	f->initrd = f->ibuf;
	f->dir = make_tmpdir();
	f->rootfs = path_join(f->dir, "rootfs.ext4");
	f->work = path_join(f->dir, "work.ext4");
	f->con = path_join(f->dir, "console");
	f->log = path_join(f->dir, "vmm.log");
	_cleanup_free_ char *cmd = xasprintf(
		"cp --sparse=always '%s' '%s' && truncate -s 1G '%s' && mkfs.ext4 -q -F '%s'",
		f->img, f->rootfs, f->work, f->work);
	if (system(cmd) != 0)
		return -1;
	const char *acc = NULL;
	char why[256];
	struct berr err = { 0 };
	if (accel_resolve("auto", &acc, why, sizeof(why), &err) < 0)
		return -1;
	f->h = (struct vmm_host){ .qemu_bin = "qemu-system-x86_64", .accel = acc,
				  .tsc_khz = host_tsc_khz() };
	f->s = (struct vmm_spec){ .name = "t", .kernel = f->kernel, .initrd = f->initrd,
				  .rootfs = f->rootfs, .workdisk = f->work, .vcpu = 2,
				  .memory_mib = 1024, .console_path = f->con, .log_path = f->log,
				  .run_dir = f->dir };
	return 0;
}

static int vm_teardown(void **state)
{
	struct vmfix *f = *state;
	if (f->dir) {
		rm_rf(f->dir);
		free(f->dir);
	}
	free(f->rootfs);
	free(f->work);
	free(f->con);
	free(f->log);
	free(f->kbuf);
	free(f->ibuf);
	free(f->img);
	free(f);
	return 0;
}

static bool console_has(const char *path, const char *needle)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	/* By length: read_file of an empty file may not NUL-terminate (util.c). */
	if (read_file(path, 16 << 20, &text, &len) < 0)
		return false;
	return memmem(text, len, needle, strlen(needle)) != NULL;
}

static void dump_tail(const char *path)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (read_file(path, 16 << 20, &text, &len) < 0 || len == 0)
		return;
	print_message("--- last of %s ---\n%s\n---\n", path, len > 3000 ? text + len - 3000 : text);
}

static void test_boot_login_powerdown(void **state)
{
	struct vmfix *f = *state;
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };

	if (!f->kernel) {
		print_message("SKIP: no kernel/image under %s (run `make test`, which builds them)\n",
			      build_dir());
		skip();
	}
	int64_t t0 = mono_ms();
	int r = vmm_qemu_driver.start(&f->h, &f->s, &p, &err);
	if (r < 0)
		fail_msg("start: %s", err.msg);
	int64_t t1 = mono_ms();
	assert_true(p.pid > 0);
	assert_non_null(p.runtime);
	json_t *rt = json_loads(p.runtime, 0, NULL);
	assert_non_null(rt);
	assert_string_equal(json_string_value(json_object_get(rt, "accel")), f->h.accel);
	assert_true(json_array_size(json_object_get(rt, "argv")) > 10);
	json_decref(rt);

	bool login = false;
	while (mono_ms() - t1 < 120000) {
		if (console_has(f->con, "login:")) {
			login = true;
			break;
		}
		if (!proc_alive(p.pid, p.pid_start))
			break;
		sleep_ms(100);
	}
	int64_t t2 = mono_ms();
	if (!login) {
		dump_tail(f->con);
		dump_tail(f->log);
		vmm_qemu_driver.kill(&f->h, &p, &err);
		reap_within(p.pid, 10000);
		vmm_proc_clear(&p);
		fail_msg("no login: prompt within 120 s");
	}
	assert_int_equal(vmm_qemu_driver.adopt(&f->h, &p, &err), 0);
	/* Disk order: the 1 GiB work disk is vdb. */
	assert_true(console_has(f->con, "[vdb] 2097152 512-byte logical blocks"));

	r = vmm_qemu_driver.shutdown(&f->h, &p, &err);
	if (r < 0)
		fail_msg("shutdown: %s", err.msg);
	int64_t t3 = mono_ms();
	int st = 0;
	bool exited = false;
	while (mono_ms() - t3 < 60000) {
		if (proc_reap(p.pid, &st) == 1) {
			exited = true;
			break;
		}
		sleep_ms(20);
	}
	int64_t t4 = mono_ms();
	if (!exited) {
		dump_tail(f->con);
		vmm_qemu_driver.kill(&f->h, &p, &err);
		reap_within(p.pid, 10000);
		vmm_proc_clear(&p);
		fail_msg("qemu did not exit within 60 s of system_powerdown");
	}
	print_message("timing: start() %lld ms; start() return -> login: %lld ms; "
		      "shutdown() -> exit %lld ms\n",
		      (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t4 - t3));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		dump_tail(f->log);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(console_has(f->con, "reboot: Power down"));
	assert_int_equal(vmm_qemu_driver.adopt(&f->h, &p, &err), -ESRCH);
	/* kill of a gone VM is a no-op. */
	assert_int_equal(vmm_qemu_driver.kill(&f->h, &p, &err), 0);
	vmm_proc_clear(&p);
}

static void test_boot_kill(void **state)
{
	struct vmfix *f = *state;
	struct berr err = { 0 };
	struct vmm_proc p = { 0 };

	if (!f->kernel) {
		print_message("SKIP: no kernel/image under %s (run `make test`, which builds them)\n",
			      build_dir());
		skip();
	}
	int r = vmm_qemu_driver.start(&f->h, &f->s, &p, &err);
	if (r < 0)
		fail_msg("start: %s", err.msg);
	/* Let the kernel get going, then stop it hard. */
	int64_t t0 = mono_ms();
	while (mono_ms() - t0 < 3000 && !console_has(f->con, "Linux version"))
		sleep_ms(50);
	int64_t t1 = mono_ms();
	assert_int_equal(vmm_qemu_driver.kill(&f->h, &p, &err), 0);
	int st = reap_within(p.pid, 5000);
	print_message("timing: kill() -> exit %lld ms (%s)\n", (long long)(mono_ms() - t1),
		      WIFEXITED(st) ? "quit" : "SIGKILL");
	assert_true((WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
		    (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL));
	assert_false(proc_alive(p.pid, p.pid_start));
	assert_int_equal(vmm_qemu_driver.adopt(&f->h, &p, &err), -ESRCH);
	assert_int_equal(vmm_qemu_driver.shutdown(&f->h, &p, &err), -ESRCH);
	vmm_proc_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_self),
		cmocka_unit_test(test_proc_child),
		cmocka_unit_test(test_vmm_proc_clear),
		cmocka_unit_test(test_accel_explicit),
		cmocka_unit_test(test_accel_auto_host),
		cmocka_unit_test(test_accel_fake_roots),
		cmocka_unit_test(test_tsc_khz),
		cmocka_unit_test(test_qmp_ok),
		cmocka_unit_test(test_qmp_split_reads),
		cmocka_unit_test(test_qmp_error_desc),
		cmocka_unit_test(test_qmp_timeout),
		cmocka_unit_test(test_qmp_oversized),
		cmocka_unit_test(test_qmp_not_qmp),
		cmocka_unit_test(test_qmp_no_socket),
		cmocka_unit_test(test_kill_wrong_start),
		cmocka_unit_test(test_start_bad_input),
		cmocka_unit_test(test_start_qemu_exits),
		cmocka_unit_test_setup_teardown(test_boot_login_powerdown, vm_setup, vm_teardown),
		cmocka_unit_test_setup_teardown(test_boot_kill, vm_setup, vm_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
