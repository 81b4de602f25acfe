/* Unit tests: the agent client (core/agent_client.c) against the real agent
 * (guest/agent*.c built for this host as banger-agent-host, run as a child
 * with --fd on a socketpair and --test-root: private UTS and network
 * namespaces, files under a temp dir), and against hostile peers played by
 * a thread: garbage, a 1 GiB line, silence, a dropped connection.  Also
 * Firecracker's vsock CONNECT handshake, against a stand-in for its Unix
 * socket (the wire facts of FIRECRACKER.md §5).  Needs root (namespaces). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent_client.h"
#include "agent_proto.h"
#include "testutil.h"
#include "util.h"

extern char **environ;

static char agent_bin[PATH_MAX];
static char root[64];

/* ---- the real agent on a socketpair ---- */

struct live {
	struct agent *a;
	pid_t pid;
	int raw; /* the host end when no client is opened */
};

static pid_t spawn_agent(int child_end)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	char *argv[] = { agent_bin, "--fd", "3", "--test-root", root, NULL };
	if (geteuid() != 0)
		skip(); /* the agent makes its own namespaces */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child_end, 3);
	assert_int_equal(posix_spawn(&pid, agent_bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Wait (bounded) for pid to exit; returns its status or -1. */
static int wait_exit(pid_t pid, int ms)
{
	int st;
	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static struct live start(bool open_client)
{
	struct live l = { .raw = -1 };
	int sv[2];
	struct berr err = { 0 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	l.pid = spawn_agent(sv[1]);
	close(sv[1]);
	if (!open_client) {
		l.raw = sv[0];
		return l;
	}
	if (agent_open_fd(sv[0], 5000, &l.a, &err) < 0)
		fail_msg("open: %s", err.msg);
	return l;
}

static void stop(struct live *l)
{
	if (l->a)
		agent_close(l->a);
	if (l->raw >= 0)
		close(l->raw);
	/* the agent ends its session on EOF and exits 0 (a sanitizer report
	 * in the ASan build would make it exit non-zero) */
	int st = wait_exit(l->pid, 5000);
	assert_int_not_equal(st, -1);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct capture {
	pthread_mutex_t mu;
	struct sbuf out[3];
};

static void cap_init(struct capture *c)
{
	pthread_mutex_init(&c->mu, NULL);
	for (int i = 0; i < 3; i++) {
		sbuf_init(&c->out[i]);
		sbuf_puts(&c->out[i], "");
	}
}

static void cap_free(struct capture *c)
{
	for (int i = 0; i < 3; i++)
		sbuf_free(&c->out[i]);
	pthread_mutex_destroy(&c->mu);
}

static void on_out(void *ctx, int stream, const void *data, size_t len)
{
	struct capture *c = ctx;
	pthread_mutex_lock(&c->mu);
	sbuf_add(&c->out[stream], data, len);
	pthread_mutex_unlock(&c->mu);
}

static int run(struct agent *a, struct capture *c, const char *const *argv, int *status, struct berr *err)
{
	struct agent_exec_spec s = { .argv = argv, .on_output = on_out, .ctx = c };
	return agent_exec(a, &s, -1, 5000, status, err);
}

static void test_ping_exec(void **state)
{
	(void)state;
	int fds = count_fds();
	struct live l = start(true);
	struct berr err = { 0 };
	struct capture c;
	int64_t up = -1;
	int st = -1;

	assert_int_equal(agent_ping(l.a, 2000, &up, &err), 0);
	assert_true(up > 0);

	cap_init(&c);
	const char *hi[] = { "sh", "-c", "echo hi; echo oops >&2; exit 3", NULL };
	assert_int_equal(run(l.a, &c, hi, &st, &err), 0);
	assert_int_equal(st, 3);
	assert_string_equal(c.out[1].buf, "hi\n");
	assert_string_equal(c.out[2].buf, "oops\n");
	cap_free(&c);

	cap_init(&c);
	const char *sig[] = { "sh", "-c", "kill -9 $$", NULL };
	assert_int_equal(run(l.a, &c, sig, &st, &err), 0);
	assert_int_equal(st, 128 + 9);
	cap_free(&c);

	/* env and cwd */
	cap_init(&c);
	const char *envp[] = { "GREETING=hello there", "PATH=/usr/bin:/bin", NULL };
	const char *pr[] = { "sh", "-c", "printf '%s|%s|%s' \"$GREETING\" \"$PWD\" \"$HOME\"", NULL };
	struct agent_exec_spec s = { .argv = pr, .env = envp, .cwd = "/tmp", .on_output = on_out, .ctx = &c };
	assert_int_equal(agent_exec(l.a, &s, -1, 5000, &st, &err), 0);
	assert_string_equal(c.out[1].buf, "hello there|/tmp|/root");
	cap_free(&c);

	/* an argument with every awkward byte survives */
	cap_init(&c);
	const char *odd[] = { "printf", "%s", "a b\n%~\t\x7f\xc3\xa9", NULL };
	assert_int_equal(run(l.a, &c, odd, &st, &err), 0);
	assert_string_equal(c.out[1].buf, "a b\n%~\t\x7f\xc3\xa9");
	cap_free(&c);

	/* what cannot run says why */
	const char *nope[] = { "/no/such/program", NULL };
	assert_int_equal(run(l.a, &c, nope, &st, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot run /no/such/program"));
	s = (struct agent_exec_spec){ .argv = hi, .cwd = "/no/such/dir" };
	assert_int_equal(agent_exec(l.a, &s, -1, 5000, &st, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot change to directory /no/such/dir"));

	stop(&l);
	assert_int_equal(count_fds(), fds);
}

/* stdin through a pipe larger than the window, both ways at once. */
static void test_stdin_flow(void **state)
{
	(void)state;
	struct live l = start(true);
	struct berr err = { 0 };
	struct capture c;
	struct agent_exec *x;
	size_t n = 3 << 20;
	char *data = malloc(n);
	int st;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 131 + (i >> 12));
	cap_init(&c);
	const char *cat[] = { "cat", NULL };
	struct agent_exec_spec s = { .argv = cat, .stdin_pipe = true, .on_output = on_out, .ctx = &c };
	assert_int_equal(agent_exec_start(l.a, &s, 5000, &x, &err), 0);
	assert_true(agent_exec_pid(x) > 0);
	assert_int_equal(agent_exec_stdin(x, data, n, 5000, &err), 0);
	assert_int_equal(agent_exec_stdin_close(x, &err), 0);
	assert_int_equal(agent_exec_wait(x, 10000, &st, &err), 0);
	assert_int_equal(st, 0);
	assert_int_equal(c.out[1].len, n);
	assert_memory_equal(c.out[1].buf, data, n);
	agent_exec_free(x);
	cap_free(&c);

	/* a command that never reads: the window fills, the write times out */
	const char *sl[] = { "sleep", "30", NULL };
	s = (struct agent_exec_spec){ .argv = sl, .stdin_pipe = true };
	assert_int_equal(agent_exec_start(l.a, &s, 5000, &x, &err), 0);
	int64_t t0 = mono_ms();
	assert_int_equal(agent_exec_stdin(x, data, n, 300, &err), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 3000);
	assert_non_null(strstr(err.msg, "did not read its stdin"));
	/* kill: SIGTERM to its process group */
	assert_int_equal(agent_exec_kill(x, SIGTERM, &err), 0);
	assert_int_equal(agent_exec_wait(x, 5000, &st, &err), 0);
	assert_int_equal(st, 128 + SIGTERM);
	agent_exec_free(x);

	/* a command ending while stdin is still being sent */
	const char *hd[] = { "head", "-c", "10", NULL };
	cap_init(&c);
	s = (struct agent_exec_spec){ .argv = hd, .on_output = on_out, .ctx = &c };
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t w = fork();
	if (w == 0) {
		close(p[0]);
		for (int i = 0; i < 64; i++)
			if (write(p[1], data, 65536) < 0)
				_exit(0);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(agent_exec(l.a, &s, p[0], 5000, &st, &err), 0);
	assert_int_equal(st, 0);
	assert_int_equal(c.out[1].len, 10);
	close(p[0]);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	cap_free(&c);
	free(data);
	stop(&l);
}

struct par {
	struct agent *a;
	int i, st, rc;
	struct capture c;
};

static void *par_run(void *arg)
{
	struct par *p = arg;
	struct berr err = { 0 };
	char script[64];
	snprintf(script, sizeof(script), "sleep 0.2; echo %d; exit %d", p->i, p->i);
	const char *argv[] = { "sh", "-c", script, NULL };
	p->rc = run(p->a, &p->c, argv, &p->st, &err);
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct live l = start(true);
	struct par ps[8];
	pthread_t t[8];
	int64_t t0 = mono_ms();
	for (int i = 0; i < 8; i++) {
		ps[i] = (struct par){ .a = l.a, .i = i + 1 };
		cap_init(&ps[i].c);
		pthread_create(&t[i], NULL, par_run, &ps[i]);
	}
	for (int i = 0; i < 8; i++) {
		char want[16];
		pthread_join(t[i], NULL);
		assert_int_equal(ps[i].rc, 0);
		assert_int_equal(ps[i].st, i + 1);
		snprintf(want, sizeof(want), "%d\n", i + 1);
		assert_string_equal(ps[i].c.out[1].buf, want);
		cap_free(&ps[i].c);
	}
	/* 8 x 0.2 s in parallel, not in series */
	assert_true(mono_ms() - t0 < 1500);
	stop(&l);
}

static void test_put_get(void **state)
{
	(void)state;
	struct live l = start(true);
	struct berr err = { 0 };
	size_t n = (1 << 20) + 12345;
	char *data = malloc(n);
	char tmp[] = "/tmp/agent-get.XXXXXX";
	uint64_t size;
	struct stat st;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + (i >> 9));
	assert_int_equal(agent_put(l.a, "/data.bin", data, n, 0640, 5000, &err), 0);
	assert_int_equal(stat(p("%s/data.bin", root), &st), 0);
	assert_int_equal(st.st_size, n);
	assert_int_equal(st.st_mode & 07777, 0640);

	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(agent_get(l.a, "/data.bin", fd, n, 5000, &size, &err), 0);
	assert_int_equal(size, n);
	char *back = malloc(n);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(back, data, n);
	free(back);

	/* empty files both ways */
	assert_int_equal(agent_put(l.a, "/empty", "", 0, 0600, 5000, &err), 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(agent_get(l.a, "/empty", fd, 10, 5000, &size, &err), 0);
	assert_int_equal(size, 0);

	/* refusals: clear errors, nothing left behind */
	assert_int_equal(agent_get(l.a, "/data.bin", fd, 100, 5000, &size, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "more than the 100 asked for"));
	assert_int_equal(agent_get(l.a, "/missing", fd, 100, 5000, &size, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot open /missing"));
	assert_int_equal(agent_get(l.a, "/", fd, 100, 5000, &size, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_int_equal(agent_put(l.a, "/no/dir/f", "x", 1, 0600, 5000, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot create a file next to /no/dir/f"));
	assert_int_equal(agent_put(l.a, "relative", "x", 1, 0600, 5000, &err), -EINVAL);
	close(fd);
	unlink(tmp);

	/* from a descriptor */
	fd = open(p("%s/data.bin", root), O_RDONLY);
	assert_int_equal(agent_put_fd(l.a, "/copy.bin", fd, 0600, 5000, &err), 0);
	close(fd);
	assert_int_equal(stat(p("%s/copy.bin", root), &st), 0);
	assert_int_equal(st.st_size, n);
	free(data);
	stop(&l);
	/* no temporary file is left in the directory */
	assert_int_equal(system(p("test -z \"$(ls -A %s | grep banger-)\"", root)), 0);
}

/* The file under the agent's test root holds exactly want. */
static void assert_file_is(const char *path, const char *want)
{
	char *text = NULL;
	size_t len;
	assert_int_equal(read_file(p("%s%s", root, path), 4096, &text, &len), 0);
	assert_string_equal(text, want);
	free(text);
}

/* Identity requests in flight at once (as a restore sends them,
 * core/vmagent.c): each gets its own answer. */
struct idpar {
	struct agent *a;
	int which, rc;
	char *key;
	struct berr err;
};

static void *id_par(void *arg)
{
	struct idpar *q = arg;
	switch (q->which) {
	case 0:
		q->rc = agent_new_hostkey(q->a, 20000, &q->key, &q->err);
		break;
	case 1: {
		struct agent_identity id = { .hostname = "vm-8",
					     .machine_id = "fedcba9876543210fedcba9876543210" };
		q->rc = agent_set_identity(q->a, &id, 20000, &q->err);
		break;
	}
	case 2:
		q->rc = agent_set_clock(q->a, NULL, 20000, &q->err);
		break;
	default: {
		struct agent_identity bad = { .iface = "eth0", .mac = "01:00:00:00:00:01" };
		q->rc = agent_set_identity(q->a, &bad, 20000, &q->err);
		break;
	}
	}
	return NULL;
}

static void test_identity_hostkey(void **state)
{
	(void)state;
	struct live l = start(true);
	struct berr err = { 0 };
	struct capture c;
	int st;

	/* the agent's private network namespace gets a veth "eth0" */
	cap_init(&c);
	const char *mk[] = { "sh", "-c", "ip link add eth0 type veth peer name p0 && ip link set p0 up", NULL };
	assert_int_equal(run(l.a, &c, mk, &st, &err), 0);
	if (st != 0)
		fail_msg("cannot make a veth in the agent's namespace: %s", c.out[2].buf);
	cap_free(&c);
	mkdir(p("%s/etc", root), 0755);
	assert_int_equal(system(p("printf '127.0.0.1 localhost\\n127.0.1.1 old\\n' > %s/etc/hosts", root)), 0);

	/* the MAC, over netlink while the link is down (as a restore has it) */
	struct agent_identity mac = { .iface = "eth0", .mac = "52:54:00:ab:cd:ef" };
	if (agent_set_identity(l.a, &mac, 5000, &err) < 0)
		fail_msg("mac: %s", err.msg);
	cap_init(&c);
	const char *link[] = { "ip", "-o", "link", "show", "eth0", NULL };
	assert_int_equal(run(l.a, &c, link, &st, &err), 0);
	assert_non_null(strstr(c.out[1].buf, "link/ether 52:54:00:ab:cd:ef"));
	assert_non_null(strstr(c.out[1].buf, "state DOWN")); /* a MAC alone leaves it down */
	cap_free(&c);
	/* refused before anything changes: multicast, short, all zero, junk */
	const char *badmacs[] = { "01:00:5e:00:00:01", "52:54:00:ab:cd", "00:00:00:00:00:00",
				  "52:54:00:ab:cd:eg", "52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef0" };
	for (size_t i = 0; i < ARRAY_SIZE(badmacs); i++) {
		struct agent_identity bm = { .hostname = "not-set", .mac = badmacs[i] };
		assert_int_equal(agent_set_identity(l.a, &bm, 5000, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "is not a unicast"));
	}
	assert_int_equal(access(p("%s/etc/hostname", root), F_OK), -1);
	struct agent_identity nomac = { .iface = "eth9", .mac = "52:54:00:ab:cd:ef" };
	assert_int_equal(agent_set_identity(l.a, &nomac, 5000, &err), -ENODEV);

	/* a mount as /etc/fstab says (mount(2) in the agent's private mount
	 * namespace): flags from the options, mount(8)'s own dropped, the
	 * rest for the filesystem; nofail forgives a missing device */
	mkdir(p("%s/root", root), 0700);
	mkdir(p("%s/mnt", root), 0755);
	mkdir(p("%s/srv", root), 0755);
	assert_int_equal(system(p("printf '# test\\n/dev/vda / ext4 rw 0 1\\n"
				  "tmpfs /root tmpfs defaults,noatime,nosuid,nofail,x-systemd.foo,mode=0750,size=1m 0 2\\n"
				  "/dev/banger-none /mnt ext4 defaults,nofail 0 2\\n"
				  "/dev/banger-none /srv ext4 defaults 0 2\\n' > %s/etc/fstab", root)), 0);
	struct agent_identity mnt = { .mount = "/root" };
	if (agent_set_identity(l.a, &mnt, 5000, &err) < 0)
		fail_msg("mount: %s", err.msg);
	cap_init(&c);
	const char *mounts[] = { "cat", "/proc/self/mounts", NULL };
	assert_int_equal(run(l.a, &c, mounts, &st, &err), 0);
	const char *line = strstr(c.out[1].buf, p("tmpfs %s/root tmpfs ", root));
	assert_non_null(line);
	char *eol = strchr(line, '\n');
	assert_non_null(eol);
	*eol = '\0';
	assert_non_null(strstr(line, "nosuid"));
	assert_non_null(strstr(line, "noatime"));
	assert_non_null(strstr(line, "mode=750"));
	assert_null(strstr(line, "x-systemd"));
	cap_free(&c);
	struct agent_identity mnt2 = { .mount = "/mnt" }; /* missing device, nofail */
	assert_int_equal(agent_set_identity(l.a, &mnt2, 5000, &err), 0);
	struct agent_identity mnt3 = { .mount = "/srv" };
	assert_int_equal(agent_set_identity(l.a, &mnt3, 5000, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot mount /dev/banger-none on /srv"));
	struct agent_identity mnt4 = { .hostname = "not-set", .mount = "/home" };
	assert_int_equal(agent_set_identity(l.a, &mnt4, 5000, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/etc/fstab has no entry for /home"));
	assert_int_equal(access(p("%s/etc/hostname", root), F_OK), -1);
	struct agent_identity mnt5 = { .mount = "root" };
	assert_int_equal(agent_set_identity(l.a, &mnt5, 5000, &err), -EINVAL);
	struct agent_identity id = { .hostname = "vm-7", .addr = "192.0.2.10/24", .gw = "192.0.2.1",
				     .dns = "192.0.2.53,2001:db8::53",
				     .machine_id = "0123456789abcdef0123456789abcdef" };
	if (agent_set_identity(l.a, &id, 5000, &err) < 0)
		fail_msg("identity: %s", err.msg);
	cap_init(&c);
	const char *show[] = { "sh", "-c", "hostname; ip -4 -o addr show eth0; ip route show default", NULL };
	assert_int_equal(run(l.a, &c, show, &st, &err), 0);
	assert_non_null(strstr(c.out[1].buf, "vm-7\n"));
	assert_non_null(strstr(c.out[1].buf, "inet 192.0.2.10/24"));
	assert_non_null(strstr(c.out[1].buf, "default via 192.0.2.1 dev eth0"));
	cap_free(&c);
	/* a second address replaces the first */
	struct agent_identity id2 = { .addr = "198.51.100.7/25" };
	assert_int_equal(agent_set_identity(l.a, &id2, 5000, &err), 0);
	cap_init(&c);
	const char *show2[] = { "ip", "-4", "-o", "addr", "show", "eth0", NULL };
	assert_int_equal(run(l.a, &c, show2, &st, &err), 0);
	assert_non_null(strstr(c.out[1].buf, "198.51.100.7/25"));
	assert_null(strstr(c.out[1].buf, "192.0.2.10"));
	cap_free(&c);

	char *text = NULL;
	size_t len;
	assert_file_is("/etc/hostname", "vm-7\n");
	assert_file_is("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1\tvm-7\n");
	assert_file_is("/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	assert_int_equal(read_file(p("%s/etc/resolv.conf", root), 1000, &text, &len), 0);
	assert_non_null(strstr(text, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n"));
	free(text);

	/* bad values: refused before anything changes */
	struct agent_identity bad = { .hostname = "ok-name", .addr = "10.0.0.1" };
	assert_int_equal(agent_set_identity(l.a, &bad, 5000, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not IPv4 A.B.C.D/N"));
	assert_file_is("/etc/hostname", "vm-7\n");
	struct agent_identity bad2 = { .machine_id = "00000000000000000000000000000000" };
	assert_int_equal(agent_set_identity(l.a, &bad2, 5000, &err), -EINVAL);
	struct agent_identity bad3 = { .hostname = "Upper_Case" };
	assert_int_equal(agent_set_identity(l.a, &bad3, 5000, &err), -EINVAL);
	struct agent_identity bad4 = { .iface = "eth9", .gw = "192.0.2.1" };
	assert_int_equal(agent_set_identity(l.a, &bad4, 5000, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "no network interface eth9"));
	struct agent_identity none = { 0 };
	assert_int_equal(agent_set_identity(l.a, &none, 5000, &err), -EINVAL);

	/* host key: made in the "guest", public half returned, installed */
	char *k1 = NULL, *k2 = NULL;
	if (agent_new_hostkey(l.a, 20000, &k1, &err) < 0)
		fail_msg("hostkey: %s", err.msg);
	assert_int_equal(strncmp(k1, "ssh-ed25519 AAAA", 16), 0);
	assert_int_equal(read_file(p("%s/etc/ssh/ssh_host_ed25519_key.pub", root), 1000, &text, &len), 0);
	assert_int_equal(strncmp(text, k1, strlen(k1)), 0);
	free(text);
	struct stat sst;
	assert_int_equal(stat(p("%s/etc/ssh/ssh_host_ed25519_key", root), &sst), 0);
	assert_int_equal(sst.st_mode & 07777, 0600);
	assert_int_equal(sst.st_uid, 0);
	assert_int_equal(stat(p("%s/etc/ssh/ssh_host_ed25519_key.pub", root), &sst), 0);
	assert_int_equal(sst.st_mode & 07777, 0644);
	/* as ssh-keygen -C "" writes it, and the real ssh-keygen reads the
	 * private key back to the same public key */
	assert_file_is("/etc/ssh/ssh_host_ed25519_key.pub", p("%s \n", k1));
	if (system("command -v ssh-keygen >/dev/null") == 0) {
		FILE *f = popen(p("ssh-keygen -y -f %s/etc/ssh/ssh_host_ed25519_key", root), "r");
		char got[256] = "";
		assert_non_null(f);
		assert_non_null(fgets(got, sizeof(got), f));
		assert_int_equal(pclose(f), 0);
		got[strcspn(got, "\n")] = '\0';
		size_t gl = strlen(got);
		while (gl && got[gl - 1] == ' ')
			got[--gl] = '\0';
		assert_string_equal(got, k1);
	}
	assert_int_equal(agent_new_hostkey(l.a, 20000, &k2, &err), 0);
	assert_string_not_equal(k1, k2);
	free(k1);
	free(k2);

	/* four at once, beside a command */
	struct idpar qs[4];
	pthread_t tq[4];
	for (int i = 0; i < 4; i++) {
		qs[i] = (struct idpar){ .a = l.a, .which = i };
		pthread_create(&tq[i], NULL, id_par, &qs[i]);
	}
	cap_init(&c);
	const char *echo[] = { "echo", "meanwhile", NULL };
	assert_int_equal(run(l.a, &c, echo, &st, &err), 0);
	assert_string_equal(c.out[1].buf, "meanwhile\n");
	cap_free(&c);
	for (int i = 0; i < 4; i++)
		pthread_join(tq[i], NULL);
	assert_int_equal(qs[0].rc, 0);
	assert_file_is("/etc/ssh/ssh_host_ed25519_key.pub", p("%s \n", qs[0].key));
	free(qs[0].key);
	assert_int_equal(qs[1].rc, 0);
	assert_file_is("/etc/hostname", "vm-8\n");
	assert_file_is("/etc/machine-id", "fedcba9876543210fedcba9876543210\n");
	assert_int_equal(qs[2].rc, -EPERM);
	assert_non_null(strstr(qs[2].err.msg, "setting the clock is disabled"));
	assert_int_equal(qs[3].rc, -EINVAL);
	assert_non_null(strstr(qs[3].err.msg, "is not a unicast"));

	/* --test-root refuses what would change this host */
	assert_int_equal(agent_set_clock(l.a, NULL, 5000, &err), -EPERM);
	assert_non_null(strstr(err.msg, "setting the clock is disabled"));
	assert_int_equal(agent_reseed_rng(l.a, 5000, &err), -EPERM);
	assert_int_equal(agent_shutdown(l.a, false, true, 5000, &err), -EPERM);
	/* and the session is still fine */
	assert_int_equal(agent_ping(l.a, 2000, NULL, &err), 0);
	stop(&l);
}

/* Closing the connection kills what it started. */
static void test_close_kills(void **state)
{
	(void)state;
	struct live l = start(true);
	struct berr err = { 0 };
	struct agent_exec *x;
	const char *sl[] = { "sleep", "60", NULL };
	struct agent_exec_spec s = { .argv = sl };
	assert_int_equal(agent_exec_start(l.a, &s, 5000, &x, &err), 0);
	pid_t pid = agent_exec_pid(x);
	assert_int_equal(kill(pid, 0), 0);
	agent_exec_free(x);
	agent_close(l.a);
	l.a = NULL;
	stop(&l);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* ---- a host that misbehaves, against the real agent ---- */

static void rd_until(int fd, const char *want, int ms, struct sbuf *got)
{
	int64_t end = mono_ms() + ms;
	char buf[4096];
	while (!got->buf || !strstr(got->buf, want)) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int64_t left = end - mono_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			fail_msg("no \"%s\" within %d ms; got \"%s\"", want, ms, got->buf ? got->buf : "");
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			fail_msg("EOF before \"%s\"; got \"%s\"", want, got->buf ? got->buf : "");
		sbuf_add(got, buf, (size_t)n);
	}
}

static void wr(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

struct flood {
	int fd;
	size_t bytes;
	char end[64];
};

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	static char chunk[1 << 16];
	memset(chunk, 'x', sizeof(chunk));
	for (size_t done = 0; done < f->bytes;) {
		ssize_t n = write(f->fd, chunk, sizeof(chunk));
		if (n <= 0)
			return NULL; /* the peer gave up: fine */
		done += (size_t)n;
	}
	if (f->end[0])
		(void)!write(f->fd, f->end, strlen(f->end));
	return NULL;
}

static void expect_eof(int fd, int ms)
{
	char buf[4096];
	int64_t end = mono_ms() + ms;
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int64_t left = end - mono_ms();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			fail_msg("the agent did not close the connection within %d ms", ms);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
	}
}

static void test_hostile_host(void **state)
{
	(void)state;
	struct sbuf got;
	pthread_t t;

	/* 1. garbage before hello: one complaint, then the hello works; then
	 * a 1 GiB line: E2BIG and the connection closed after the first
	 * AGENT_LINE_MAX bytes, not after the whole GiB */
	struct live l = start(false);
	sbuf_init(&got);
	wr(l.raw, "garbage \x01\x02\nmore garbage\nping 1\n");
	rd_until(l.raw, "err 0 ", 2000, &got);
	assert_null(strstr(strstr(got.buf, "err 0 ") + 1, "err 0 ")); /* only one */
	wr(l.raw, "hello 0 1 n1\n");
	rd_until(l.raw, "hello 0 1 n1 ", 2000, &got);
	struct flood f = { .fd = l.raw, .bytes = 1ULL << 30 };
	int64_t t0 = mono_ms();
	pthread_create(&t, NULL, flood_run, &f);
	rd_until(l.raw, "err 0 7 line%20longer%20than%20131071%20bytes", 5000, &got);
	expect_eof(l.raw, 5000);
	pthread_join(t, NULL);
	print_message("1 GiB line after hello: refused and closed in %lld ms\n",
		      (long long)(mono_ms() - t0));
	sbuf_free(&got);
	stop(&l);

	/* 2. a 1 GiB line before hello (a previous host's leftovers, as on a
	 * virtio-serial port): skipped in bounded memory, then hello works */
	l = start(false);
	sbuf_init(&got);
	f = (struct flood){ .fd = l.raw, .bytes = 1ULL << 30 };
	snprintf(f.end, sizeof(f.end), "\nhello 0 1 n2\nping 5\n");
	t0 = mono_ms();
	pthread_create(&t, NULL, flood_run, &f);
	rd_until(l.raw, "ok 5 ", 60000, &got);
	pthread_join(t, NULL);
	assert_non_null(strstr(got.buf, "hello 0 1 n2 "));
	print_message("1 GiB line before hello: skipped in %lld ms\n", (long long)(mono_ms() - t0));
	/* 3. a malformed frame after hello: err 0 EPROTO, then closed */
	wr(l.raw, "exec 9 pipe / 5 0 x\n");
	rd_until(l.raw, "err 0 71 ", 2000, &got);
	expect_eof(l.raw, 2000);
	sbuf_free(&got);
	stop(&l);

	/* 4. a duplicate request id is a protocol error too */
	l = start(false);
	sbuf_init(&got);
	wr(l.raw, "hello 0 1 n3\nexec 4 null ~ 2 0 sleep 5\nexec 4 null ~ 1 0 true\n");
	rd_until(l.raw, "already%20in%20use", 2000, &got);
	expect_eof(l.raw, 2000);
	sbuf_free(&got);
	stop(&l);
}

/* ---- a hostile agent, against the client ---- */

struct fake {
	int fd;
	int mode;
	size_t big;
};

enum { F_SILENT, F_HELLO_THEN_GARBAGE, F_HELLO_THEN_BIG, F_HELLO_THEN_SILENT, F_HELLO_THEN_CLOSE,
       F_OLD_PROTO };

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	char buf[256];
	size_t n = 0;
	/* read the hello line (after the leading LF) */
	while (n < sizeof(buf) - 1) {
		ssize_t k = read(f->fd, buf + n, 1);
		if (k <= 0)
			return NULL;
		if (buf[n] == '\n' && n > 0)
			break;
		if (buf[n] != '\n')
			n++;
	}
	buf[n] = '\0';
	if (f->mode == F_SILENT) {
		while (read(f->fd, buf, sizeof(buf)) > 0)
			;
		return NULL;
	}
	char nonce[80] = "";
	sscanf(buf, "hello 0 1 %79s", nonce);
	char reply[160];
	/* stale frames from a "previous session" come first: skipped */
	snprintf(reply, sizeof(reply), "out 3 1 aGkK\nhalf a li\nhello 0 %d %s x\n",
		 f->mode == F_OLD_PROTO ? 9 : 1, nonce);
	(void)!write(f->fd, reply, strlen(reply));
	if (f->mode == F_HELLO_THEN_GARBAGE) {
		(void)!read(f->fd, buf, sizeof(buf));
		(void)!write(f->fd, "ok 1 \x01\n", 7);
	} else if (f->mode == F_HELLO_THEN_BIG) {
		(void)!read(f->fd, buf, sizeof(buf));
		struct flood fl = { .fd = f->fd, .bytes = f->big };
		flood_run(&fl);
	} else if (f->mode == F_HELLO_THEN_CLOSE) {
		(void)!read(f->fd, buf, sizeof(buf)); /* the exec */
		(void)!write(f->fd, "started 1 99\nout 1 1 aGkK\n", 26);
		usleep(50000);
		shutdown(f->fd, SHUT_RDWR);
		return NULL;
	}
	while (read(f->fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void test_hostile_agent(void **state)
{
	(void)state;
	int fds = count_fds();
	for (int mode = F_SILENT; mode <= F_OLD_PROTO; mode++) {
		int sv[2];
		struct berr err = { 0 };
		struct agent *a = NULL;
		pthread_t t;
		struct fake f = { .mode = mode, .big = 1ULL << 30 };
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		f.fd = sv[1];
		pthread_create(&t, NULL, fake_run, &f);
		int64_t t0 = mono_ms();
		int r = agent_open_fd(sv[0], 400, &a, &err);
		if (mode == F_SILENT) {
			assert_int_equal(r, -ETIMEDOUT);
			assert_non_null(strstr(err.msg, "did not answer the handshake within 400 ms"));
			assert_true(mono_ms() - t0 < 2000);
		} else if (mode == F_OLD_PROTO) {
			assert_int_equal(r, -EPROTONOSUPPORT);
			assert_non_null(strstr(err.msg, "protocol 9"));
		} else {
			if (r < 0)
				fail_msg("mode %d: open: %s", mode, err.msg);
			if (mode == F_HELLO_THEN_CLOSE) {
				struct capture c;
				int st;
				cap_init(&c);
				const char *argv[] = { "true", NULL };
				assert_int_equal(run(a, &c, argv, &st, &err), -ECONNRESET);
				assert_non_null(strstr(err.msg, "closed the connection"));
				assert_string_equal(c.out[1].buf, "hi\n");
				cap_free(&c);
			} else {
				r = agent_ping(a, 500, NULL, &err);
				if (mode == F_HELLO_THEN_GARBAGE) {
					assert_int_equal(r, -EPROTO);
					assert_non_null(strstr(err.msg, "malformed frame"));
				} else if (mode == F_HELLO_THEN_BIG) {
					assert_int_equal(r, -E2BIG);
					assert_non_null(strstr(err.msg, "line longer than"));
				} else {
					assert_int_equal(r, -ETIMEDOUT);
					assert_non_null(strstr(err.msg, "did not answer within 500 ms"));
				}
				/* and every later call says why at once */
				if (mode != F_HELLO_THEN_SILENT) {
					assert_int_equal(agent_ping(a, 500, NULL, &err), r);
				}
			}
			assert_true(mono_ms() - t0 < 5000);
			agent_close(a);
			sv[0] = -1;
		}
		shutdown(sv[1], SHUT_RDWR);
		pthread_join(t, NULL);
		close(sv[1]);
	}
	assert_int_equal(count_fds(), fds);
}

/* ---- Firecracker's vsock socket: CONNECT <port> / OK <n> ---- */

struct fc {
	int lfd;
	bool refuse;
	pid_t agent;
};

static void *fc_run(void *arg)
{
	struct fc *f = arg;
	int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	char line[64];
	size_t n = 0;
	if (c < 0)
		return NULL;
	while (n < sizeof(line) - 1 && read(c, line + n, 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	if (f->refuse || strcmp(line, "CONNECT 52") != 0) {
		close(c); /* nothing listens on that port in the guest */
		return NULL;
	}
	(void)!write(c, "OK 1073741824\n", 14);
	f->agent = spawn_agent(c);
	close(c);
	return NULL;
}

static void test_fc_vsock(void **state)
{
	(void)state;
	for (int refuse = 0; refuse < 2; refuse++) {
		char path[128];
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct fc f = { .refuse = refuse };
		struct berr err = { 0 };
		struct agent *a;
		pthread_t t;
		snprintf(path, sizeof(path), "%s/v.sock", root);
		unlink(path);
		strcpy(sa.sun_path, path);
		f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(f.lfd, 1), 0);
		pthread_create(&t, NULL, fc_run, &f);
		int r = agent_connect_fc_vsock(path, AGENT_VSOCK_PORT, 3000, &a, &err);
		pthread_join(t, NULL);
		if (refuse) {
			assert_int_equal(r, -ECONNREFUSED);
			assert_non_null(strstr(err.msg, "nothing listens there"));
		} else {
			if (r < 0)
				fail_msg("fc connect: %s", err.msg);
			assert_int_equal(agent_ping(a, 2000, NULL, &err), 0);
			agent_close(a);
			assert_int_not_equal(wait_exit(f.agent, 5000), -1);
		}
		close(f.lfd);
		unlink(path);
	}
}

static int setup(void **state)
{
	(void)state;
	ssize_t n = readlink("/proc/self/exe", agent_bin, sizeof(agent_bin) - 32);
	if (n <= 0)
		return -1;
	agent_bin[n] = '\0';
	strcpy(strrchr(agent_bin, '/') + 1, "banger-agent-host");
	strcpy(root, "/tmp/banger-agent-test.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_exec),	cmocka_unit_test(test_stdin_flow),
		cmocka_unit_test(test_concurrent),	cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_identity_hostkey), cmocka_unit_test(test_close_kills),
		cmocka_unit_test(test_hostile_host),	cmocka_unit_test(test_hostile_agent),
		cmocka_unit_test(test_fc_vsock),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
