/* tests/unit/test_vmagent.c: the daemon's side of the guest agents
 * (core/vmagent.c) and the execs built on it (core/vmexec.c), against the
 * real agent (banger-agent-host --fd, started for each connection to a
 * Unix socket as QEMU's chardev would take it) and against hostile peers:
 * garbage, a 1 GiB line, silence.  Bounded errors, nothing left behind. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "util.h"
#include "vmagent.h"
#include "vmexec.h"

extern char **environ;

static char agent_bin[PATH_MAX];
static char dir[48], root[96], sock[100];

/* ---- a chardev stand-in: a Unix socket, one peer per connection ---------- */

enum peer { P_REAL, P_GARBAGE, P_LONGLINE, P_SILENT };

struct server {
	int lfd;
	enum peer mode;
	pthread_t t;
	int stop[2];
	pid_t kids[64];
	int nkids;
	int accepted;
	pthread_mutex_t mu;
};
static struct server S;

static void serve_hostile(int fd, enum peer mode)
{
	char buf[65536];
	if (mode == P_GARBAGE) {
		/* lines that are not frames, then hellos with the wrong nonce */
		for (int i = 0; i < 2000; i++) {
			const char *l = i % 2 ? "hello 0 1 0123456789abcdef banger-agent-evil\n"
					      : "\x01\x02 garbage %% not a frame\n";
			if (send(fd, l, strlen(l), MSG_NOSIGNAL) < 0)
				break;
			usleep(1000);
		}
	} else if (mode == P_LONGLINE) {
		memset(buf, 'x', sizeof(buf));
		for (size_t sent = 0; sent < (1ULL << 30);) {
			ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
			if (n <= 0)
				break;
			sent += (size_t)n;
		}
	} else {
		/* silent: read and drop until the client leaves */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	close(fd);
}

static void *server_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pf[2] = { { .fd = S.lfd, .events = POLLIN },
					{ .fd = S.stop[0], .events = POLLIN } };
		if (poll(pf, 2, -1) < 0 || pf[1].revents)
			return NULL;
		int fd = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&S.mu);
		S.accepted++;
		enum peer mode = S.mode;
		pthread_mutex_unlock(&S.mu);
		if (mode != P_REAL) {
			serve_hostile(fd, mode);
			continue;
		}
		posix_spawn_file_actions_t fa;
		pid_t pid;
		char *argv[] = { agent_bin, "--fd", "3", "--test-root", root, NULL };
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fd, 3);
		if (posix_spawn(&pid, agent_bin, &fa, NULL, argv, environ) == 0) {
			pthread_mutex_lock(&S.mu);
			if (S.nkids < 64)
				S.kids[S.nkids++] = pid;
			pthread_mutex_unlock(&S.mu);
		}
		posix_spawn_file_actions_destroy(&fa);
		close(fd);
	}
}

static void server_start(enum peer mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.mu, NULL);
	S.mode = mode;
	unlink(sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	S.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(S.lfd >= 0);
	assert_int_equal(bind(S.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(S.lfd, 4), 0);
	assert_int_equal(pipe2(S.stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&S.t, NULL, server_main, NULL), 0);
}

static void kill_kids(void)
{
	pthread_mutex_lock(&S.mu);
	for (int i = 0; i < S.nkids; i++) {
		kill(S.kids[i], SIGKILL);
		waitpid(S.kids[i], NULL, 0);
	}
	S.nkids = 0;
	pthread_mutex_unlock(&S.mu);
}

static void server_stop(void)
{
	ssize_t w = write(S.stop[1], "x", 1);
	(void)w;
	pthread_join(S.t, NULL);
	kill_kids();
	close(S.lfd);
	close(S.stop[0]);
	close(S.stop[1]);
	unlink(sock);
}

/* ---- the module under test ------------------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int changes, prepared;

static void on_changed(void *ctx, int64_t id)
{
	(void)ctx, (void)id;
	pthread_mutex_lock(&mu);
	changes++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void on_prepare(void *ctx, int64_t id, struct agent *a, const atomic_bool *cancel)
{
	struct berr err = { 0 };
	(void)ctx, (void)id, (void)cancel;
	/* the hook gets the connection before anyone else */
	if (agent_ping(a, 5000, NULL, &err) == 0)
		prepared++;
}

static void on_exec_changed(void *ctx)
{
	on_changed(ctx, 0);
}

static struct vmagent *ag_new(int wait_ms)
{
	struct vmagent *ag;
	struct berr err = { 0 };
	struct vmagent_conf c = { .state_dir = dir, .wait_ms = wait_ms, .changed = on_changed,
				  .prepare = on_prepare };
	assert_int_equal(vmagent_new(&c, &ag, &err), 0);
	return ag;
}

static void watch(struct vmagent *ag, int64_t id, bool prepare)
{
	struct vmagent_chan ch = { 0 };
	snprintf(ch.path, sizeof(ch.path), "%s", sock);
	vmagent_watch(ag, id, "t", &ch, NULL, prepare, mono_ms());
}

/* Wait (bounded) until id leaves "waiting"; returns the state. */
static enum agent_state settle(struct vmagent *ag, int64_t id, int ms)
{
	int64_t deadline = mono_ms() + ms;
	for (;;) {
		enum agent_state st = vmagent_state(ag, id, NULL, 0);
		if (st != AGENT_WAITING || mono_ms() > deadline)
			return st;
		usleep(20000);
	}
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* the agent makes its own namespaces */
}

/* ---- readiness ---------------------------------------------------------------- */

static void test_ready_prepare_hold(void **state)
{
	(void)state;
	need_root();
	server_start(P_REAL);
	struct vmagent *ag = ag_new(20000);
	struct vmagent_ref *ref = NULL;
	struct agent *a = NULL;
	struct berr err = { 0 };
	prepared = 0;
	/* not watched: no agent */
	assert_int_equal(vmagent_hold(ag, 1, &ref, &a, &err), -ENOENT);
	assert_int_equal(vmagent_state(ag, 1, NULL, 0), AGENT_NONE);
	watch(ag, 1, true);
	assert_int_equal(settle(ag, 1, 20000), AGENT_READY);
	assert_int_equal(prepared, 1);
	assert_int_equal(vmagent_hold(ag, 1, &ref, &a, &err), 0);
	assert_int_equal(agent_ping(a, 5000, NULL, &err), 0);
	/* a holder keeps the connection while the VM goes */
	vmagent_cancel(ag, 1);
	assert_int_equal(vmagent_state(ag, 1, NULL, 0), AGENT_NONE);
	assert_int_equal(agent_ping(a, 5000, NULL, &err), 0);
	vmagent_release(ref);
	vmagent_free(ag);
	server_stop();
}

/* The agent dies: the next hold connects again (one connection per VM). */
static void test_reconnect(void **state)
{
	(void)state;
	need_root();
	server_start(P_REAL);
	struct vmagent *ag = ag_new(20000);
	struct vmagent_ref *ref = NULL;
	struct agent *a = NULL;
	struct berr err = { 0 };
	watch(ag, 2, false);
	assert_int_equal(settle(ag, 2, 20000), AGENT_READY);
	assert_int_equal(S.accepted, 1);
	kill_kids();
	usleep(200000);
	assert_int_equal(vmagent_hold(ag, 2, &ref, &a, &err), 0);
	assert_int_equal(agent_ping(a, 5000, NULL, &err), 0);
	assert_int_equal(S.accepted, 2);
	vmagent_release(ref);
	vmagent_free(ag);
	server_stop();
}

/* ---- hostile peers: a failed state within the bound, with a reason ---------- */

static void hostile(enum peer mode, const char *why_has)
{
	server_start(mode);
	struct vmagent *ag = ag_new(3000);
	char why[BERR_MSG_MAX];
	int64_t t0 = mono_ms();
	watch(ag, 3, false);
	assert_int_equal(settle(ag, 3, 15000), AGENT_FAILED);
	int64_t took = mono_ms() - t0;
	assert_true(took < 8000);
	vmagent_state(ag, 3, why, sizeof(why));
	if (!strstr(why, "did not answer within 3 s") || (why_has && !strstr(why, why_has)))
		fail_msg("why: '%s' (wanted '%s')", why, why_has);
	struct vmagent_ref *ref = NULL;
	struct agent *a = NULL;
	struct berr err = { 0 };
	assert_int_equal(vmagent_hold(ag, 3, &ref, &a, &err), -EIO);
	assert_non_null(strstr(err.msg, "failed"));
	vmagent_free(ag);
	server_stop();
}

static void test_garbage(void **state)
{
	(void)state;
	hostile(P_GARBAGE, "handshake");
}

static void test_long_line(void **state)
{
	(void)state;
	/* the last attempt's reason varies (the line, or the peer resetting
	 * the next connection while it still sends): bounded either way */
	hostile(P_LONGLINE, NULL);
}

static void test_silent(void **state)
{
	(void)state;
	hostile(P_SILENT, "handshake");
}

/* Cancel ends a watch at once (free returns within one attempt). */
static void test_cancel(void **state)
{
	(void)state;
	server_start(P_SILENT);
	struct vmagent *ag = ag_new(60000);
	watch(ag, 4, false);
	usleep(300000);
	int64_t t0 = mono_ms();
	vmagent_cancel(ag, 4);
	vmagent_free(ag);
	assert_true(mono_ms() - t0 < 3000);
	server_stop();
}

/* ---- execs ------------------------------------------------------------------ */

/* Read a stream to its end (bounded). */
static char *drain(struct vmexec *x, int64_t id, enum exec_stream s)
{
	struct sbuf b;
	sbuf_init(&b);
	int64_t deadline = mono_ms() + 20000;
	for (;;) {
		char buf[4096];
		bool live = false;
		ssize_t n = vmexec_stream(x, id, s, (off_t)b.len, buf, sizeof(buf), &live);
		assert_true(n >= 0);
		if (n > 0) {
			sbuf_add(&b, buf, (size_t)n);
			continue;
		}
		if (!live)
			break;
		assert_true(mono_ms() < deadline);
		pthread_mutex_lock(&mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
		pthread_mutex_unlock(&mu);
	}
	sbuf_add(&b, "", 1);
	return sbuf_steal(&b);
}

static int64_t make(struct vmexec *x, const char *name, const char *args, size_t len)
{
	int64_t id;
	struct berr err = { 0 };
	assert_int_equal(vmexec_create(x, name, &id, &err), 0);
	assert_int_equal(vmexec_append(x, id, EXEC_ARGV, args, len, &err), 0);
	return id;
}

#define ARGS(s) s, sizeof(s) - 1

static void test_execs(void **state)
{
	(void)state;
	need_root();
	server_start(P_REAL);
	struct vmagent *ag = ag_new(20000);
	struct vmexec *x;
	struct berr err = { 0 };
	char *xd = p("%s/execs", dir);
	struct vmexec_conf xc = { .dir = xd, .ag = ag, .changed = on_exec_changed };
	assert_int_equal(vmexec_new(&xc, &x, &err), 0);
	watch(ag, 5, false);
	assert_int_equal(settle(ag, 5, 20000), AGENT_READY);

	/* output, stderr apart, status */
	int64_t id = make(x, "one", ARGS("sh\0-c\0echo hi; echo err >&2; exit 3\0"));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), 0);
	char *out = drain(x, id, EXEC_STDOUT), *er = drain(x, id, EXEC_STDERR);
	char *st = drain(x, id, EXEC_STATUS);
	assert_string_equal(out, "hi\n");
	assert_string_equal(er, "err\n");
	assert_string_equal(st, "3\n");
	free(out), free(er), free(st);
	/* once run, it is done: no second run, no more arguments */
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), -EBUSY);
	assert_int_equal(vmexec_append(x, id, EXEC_ARGV, ARGS("x\0"), &err), -EBUSY);
	struct sbuf s;
	sbuf_init(&s);
	assert_int_equal(vmexec_render_state(x, id, &s, &err), 0);
	assert_non_null(strstr(s.buf, "state exited\n"));
	assert_non_null(strstr(s.buf, "status 3\n"));
	sbuf_free(&s);

	/* stdin, env, cwd */
	id = make(x, "two", ARGS("sh\0-c\0tr a-z A-Z; echo \"$X $PWD\"\0"));
	assert_int_equal(vmexec_append(x, id, EXEC_ENV, ARGS("X=env-ok\0"), &err), 0);
	assert_int_equal(vmexec_set_cwd(x, id, "/tmp\n", 5, &err), 0);
	assert_int_equal(vmexec_stdin(x, id, "abc", 3, &err), -EAGAIN); /* not running yet */
	assert_int_equal(vmexec_run(x, id, 5, "t", true, &err), 0);
	assert_int_equal(vmexec_stdin(x, id, "hello\n", 6, &err), 0);
	assert_int_equal(vmexec_eof(x, id, &err), 0);
	assert_int_equal(vmexec_stdin(x, id, "late", 4, &err), -EPIPE);
	out = drain(x, id, EXEC_STDOUT);
	st = drain(x, id, EXEC_STATUS);
	assert_string_equal(out, "HELLO\nenv-ok /tmp\n");
	assert_string_equal(st, "0\n");
	free(out), free(st);

	/* kill: the shell's status for the signal */
	id = make(x, "three", ARGS("sleep\0" "100\0"));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), 0);
	assert_int_equal(vmexec_kill(x, id, SIGTERM, &err), 0);
	st = drain(x, id, EXEC_STATUS);
	assert_string_equal(st, "143\n");
	free(st);

	/* rmdir while it runs: killed, gone */
	id = make(x, "four", ARGS("sleep\0" "100\0"));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), 0);
	assert_int_equal(vmexec_remove(x, "four", &err), 0);
	assert_false(vmexec_exists(x, id));
	assert_int_equal(access(p("%s/four", xd), F_OK), -1);

	/* refusals: a name, arguments without their NUL, a missing program,
	 * a VM without an agent, twice the same name */
	int64_t id2;
	assert_int_equal(vmexec_create(x, "Bad_Name", &id2, &err), -EINVAL);
	assert_int_equal(vmexec_create(x, "one", &id2, &err), -EEXIST);
	id = make(x, "five", ARGS("echo\0no-nul"));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));
	id = make(x, "six", ARGS("/no/such\0"));
	assert_true(vmexec_run(x, id, 5, "t", false, &err) < 0);
	assert_non_null(strstr(err.msg, "No such file"));
	id = make(x, "seven", ARGS("true\0"));
	assert_int_equal(vmexec_run(x, id, 99, "other", false, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "vm 'other'"));
	id = make(x, "eight", ARGS(""));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), -EINVAL);
	char big[EXEC_ARGS_MAX + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(vmexec_append(x, id, EXEC_ARGV, big, sizeof(big), &err), -E2BIG);
	assert_int_equal(vmexec_set_cwd(x, id, "relative", 8, &err), -EINVAL);

	/* the agent goes mid-command: the exec fails with a reason, bounded */
	id = make(x, "nine", ARGS("sleep\0" "100\0"));
	assert_int_equal(vmexec_run(x, id, 5, "t", false, &err), 0);
	kill_kids();
	st = drain(x, id, EXEC_STATUS);
	assert_string_equal(st, "error\n");
	free(st);
	sbuf_init(&s);
	vmexec_render_err(x, id, &s, &err);
	assert_true(s.len > 0);
	sbuf_free(&s);

	vmexec_free(x);
	vmagent_free(ag);
	server_stop();
}

static int setup(void **state)
{
	(void)state;
	ssize_t n = readlink("/proc/self/exe", agent_bin, sizeof(agent_bin) - 32);
	if (n <= 0)
		return -1;
	agent_bin[n] = '\0';
	strcpy(strrchr(agent_bin, '/') + 1, "banger-agent-host");
	strcpy(dir, "/tmp/banger-vmagent.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	mkdir(root, 0700);
	mkdir(p("%s/vms", dir), 0700);
	mkdir(p("%s/vms/t", dir), 0700);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_prepare_hold),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_silent),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_execs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
