/* Private-range addresses here are known_hosts data only; the test sshd
 * listens on 127.0.0.1, so no netns/unshare is needed. */
/* tests/unit/test_ssh.c: core/sshkeys.c and core/knownhosts.c against
 * OpenSSH's own tools (ssh-keygen, ssh) and a real sshd on 127.0.0.1.
 *
 * Each test gets a temp dir with an identity, two host keys and an sshd
 * config; the sshd tests start /usr/sbin/sshd -D -e on a free loopback port
 * (skipped when openssh-server is not installed).  sshd needs its
 * privilege separation dir /run/sshd; the group setup creates it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "knownhosts.h"
#include "sshkeys.h"
#include "sshready.h"
#include "util.h"

extern char **environ;

#define SSHD "/usr/sbin/sshd"
#define ALIAS "sandbox.vm"

struct fx {
	char dir[64];
	char *key;	       /* banger identity */
	char *publine;	       /* its public key line */
	char *kh;	       /* banger known_hosts */
	char *hk_a, *hk_b;     /* sshd host keys; ".pub" next to them */
	char *line_a, *line_b; /* "TYPE BASE64" of each */
	char *authkeys, *conf, *log;
	int port;
	pid_t sshd;
	bool have_sshd;
};

/* ---- helpers ----------------------------------------------------------- */

/* Run argv, stdout to out (or /dev/null), stderr to /dev/null; exit status. */
static int run(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run and return stdout (caller frees), asserting exit status want_rc. */
static char *run_out(struct fx *f, char *const argv[], int want_rc)
{
	_cleanup_free_ char *out = path_join(f->dir, "cmd.out");
	char *text = NULL;

	assert_int_equal(run(argv, out), want_rc);
	assert_int_equal(read_file(out, 1 << 20, &text, NULL), 0);
	return text;
}

static char *chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* "TYPE BASE64" of an OpenSSH .pub file (comment dropped). */
static char *pub_line(const char *pubpath)
{
	char *text = NULL;
	assert_int_equal(read_file(pubpath, 65536, &text, NULL), 0);
	char *sp = strchr(text, ' ');
	assert_non_null(sp);
	char *sp2 = strchr(sp + 1, ' ');
	if (sp2)
		*sp2 = '\0';
	return chomp(text);
}

static void keygen(const char *path)
{
	char *argv[] = {"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f",
			(char *)path,	       NULL};
	assert_int_equal(run(argv, NULL), 0);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_sshd_config(struct fx *f, const char *hostkey)
{
	_cleanup_free_ char *conf = xasprintf("ListenAddress 127.0.0.1\n"
					      "Port %d\n"
					      "HostKey %s\n"
					      "AuthorizedKeysFile %s\n"
					      "StrictModes no\n"
					      "UsePAM no\n"
					      "PidFile none\n"
					      "PermitRootLogin prohibit-password\n"
					      "PubkeyAuthentication yes\n"
					      "PasswordAuthentication no\n"
					      "KbdInteractiveAuthentication no\n"
					      "AllowUsers root\n"
					      "AllowTcpForwarding no\n"
					      "X11Forwarding no\n"
					      "PrintMotd no\n"
					      "LogLevel VERBOSE\n",
					      f->port, hostkey, f->authkeys);
	write_text(f->conf, conf, 0600);
}

/* Start sshd with hostkey on f->port, after delay_ms (0: wait for it). */
static void start_sshd(struct fx *f, const char *hostkey, int delay_ms)
{
	posix_spawn_file_actions_t fa;
	_cleanup_free_ char *sleep_s = xasprintf("sleep %d.%03d; exec " SSHD " -D -e -f '%s'",
						 delay_ms / 1000, delay_ms % 1000, f->conf);
	char *direct[] = {SSHD, "-D", "-e", "-f", f->conf, NULL};
	char *delayed[] = {"/bin/sh", "-c", sleep_s, NULL};

	write_sshd_config(f, hostkey);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawn(&f->sshd, delay_ms ? delayed[0] : direct[0], &fa, NULL,
				     delay_ms ? delayed : direct, environ),
			 0);
	posix_spawn_file_actions_destroy(&fa);
	if (delay_ms)
		return;
	for (int i = 0; i < 500 && !port_open(f->port); i++) {
		int st;
		if (waitpid(f->sshd, &st, WNOHANG) == f->sshd) {
			_cleanup_free_ char *log = NULL;
			read_file(f->log, 1 << 20, &log, NULL);
			f->sshd = 0;
			fail_msg("sshd exited: %s", log ? log : "");
		}
		usleep(10000);
	}
	assert_true(port_open(f->port));
}

static void stop_sshd(struct fx *f)
{
	if (f->sshd > 0) {
		kill(f->sshd, SIGTERM);
		waitpid(f->sshd, NULL, 0);
		f->sshd = 0;
	}
}

static void need_sshd(struct fx *f)
{
	if (!f->have_sshd) {
		print_message("openssh-server (" SSHD ") is not installed\n");
		skip();
	}
}

/* ---- fixtures ---------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	/* sshd refuses to start without its privilege separation dir. */
	if (access(SSHD, X_OK) == 0 && mkdir("/run/sshd", 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct berr err = {0};

	strcpy(f->dir, "/tmp/banger-ssh-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->key = path_join(f->dir, "state/ssh/id_ed25519");
	f->kh = path_join(f->dir, "state/ssh/known_hosts");
	f->hk_a = path_join(f->dir, "hostkey_a");
	f->hk_b = path_join(f->dir, "hostkey_b");
	f->authkeys = path_join(f->dir, "authorized_keys");
	f->conf = path_join(f->dir, "sshd_config");
	f->log = path_join(f->dir, "sshd.log");
	f->have_sshd = access(SSHD, X_OK) == 0;
	*state = f;

	if (ssh_identity_ensure(f->key, &f->publine, &err) < 0) {
		print_error("ssh_identity_ensure: %s\n", err.msg);
		return -1;
	}
	keygen(f->hk_a);
	keygen(f->hk_b);
	_cleanup_free_ char *pa = xasprintf("%s.pub", f->hk_a), *pb = xasprintf("%s.pub", f->hk_b);
	f->line_a = pub_line(pa);
	f->line_b = pub_line(pb);
	_cleanup_free_ char *ak = xasprintf("%s\n", f->publine);
	write_text(f->authkeys, ak, 0600);
	f->port = free_port();
	return 0;
}

static int setup_sshd(void **state)
{
	if (setup(state) < 0)
		return -1;
	struct fx *f = *state;
	if (f->have_sshd)
		start_sshd(f, f->hk_a, 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	stop_sshd(f);
	rm_rf(f->dir);
	free(f->key);
	free(f->publine);
	free(f->kh);
	free(f->hk_a);
	free(f->hk_b);
	free(f->line_a);
	free(f->line_b);
	free(f->authkeys);
	free(f->conf);
	free(f->log);
	free(f);
	return 0;
}

/* ---- identity ---------------------------------------------------------- */

static void test_identity_generate(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *pub = xasprintf("%s.pub", f->key);
	_cleanup_free_ char *pubtext = NULL, *priv = NULL, *dir = path_join(f->dir, "state/ssh");
	struct stat st;

	/* setup generated it */
	assert_int_equal(stat(f->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(strncmp(f->publine, "ssh-ed25519 AAAA", 16), 0);
	assert_int_equal(strcmp(f->publine + strlen(f->publine) - 7, " banger"), 0);
	assert_int_equal(read_file(pub, 65536, &pubtext, NULL), 0);
	_cleanup_free_ char *want = xasprintf("%s\n", f->publine);
	assert_string_equal(pubtext, want);
	assert_int_equal(read_file(f->key, 65536, &priv, NULL), 0);
	assert_int_equal(strncmp(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36), 0);

	/* OpenSSH reads the private key and derives the same public key */
	char *argv[] = {"/usr/bin/ssh-keygen", "-y", "-f", f->key, NULL};
	_cleanup_free_ char *derived = chomp(run_out(f, argv, 0));
	assert_int_equal(strncmp(f->publine, derived, strlen(derived)), 0);
	assert_int_equal(f->publine[strlen(derived)], ' ');
}

static void test_identity_load_existing(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *again = NULL, *third = NULL, *pub = xasprintf("%s.pub", f->key);
	struct berr err = {0};
	struct stat st1, st2;

	assert_int_equal(stat(f->key, &st1), 0);
	assert_int_equal(ssh_identity_ensure(f->key, &again, &err), 0);
	assert_string_equal(again, f->publine);
	assert_int_equal(stat(f->key, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino); /* not regenerated */

	/* a lost .pub is recreated from the private key */
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(ssh_identity_ensure(f->key, &third, &err), 0);
	assert_string_equal(third, f->publine);
	assert_int_equal(access(pub, F_OK), 0);

	/* a key made by ssh-keygen loads too */
	_cleanup_free_ char *ours = NULL, *kg_pub = xasprintf("%s.pub", f->hk_a);
	_cleanup_free_ char *kg = pub_line(kg_pub);
	assert_int_equal(ssh_identity_ensure(f->hk_a, &ours, &err), 0);
	_cleanup_free_ char *want = xasprintf("%s banger", kg);
	assert_string_equal(ours, want);
}

static void test_identity_refuse_open_mode(void **state)
{
	struct fx *f = *state;
	char *line = NULL;
	struct berr err = {0};

	assert_int_equal(chmod(f->key, 0644), 0);
	assert_int_equal(ssh_identity_ensure(f->key, &line, &err), -EPERM);
	assert_null(line);
	assert_non_null(strstr(err.msg, "0644"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	/* the wait refuses it as well, before any network traffic */
	assert_int_equal(ssh_wait_ready("127.0.0.1", 1, f->key, f->kh, ALIAS, 1000, NULL, &err), -EPERM);

	/* garbage is refused with a sentence, not loaded as an empty key */
	assert_int_equal(chmod(f->key, 0600), 0);
	write_text(f->key, "not a key\n", 0600);
	assert_int_equal(ssh_identity_ensure(f->key, &line, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cannot load private key"));
}

static void test_fingerprint(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *pa = xasprintf("%s.pub", f->hk_a);
	char *argv[] = {"/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f", pa, NULL};
	_cleanup_free_ char *out = run_out(f, argv, 0);
	char fp[SSH_FINGERPRINT_MAX];
	struct berr err = {0};

	assert_int_equal(ssh_fingerprint(f->line_a, fp, &err), 0);
	assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
	assert_non_null(strstr(out, fp)); /* "256 SHA256:... test (ED25519)" */

	/* a type that does not match the blob, junk base64, unknown types */
	_cleanup_free_ char *wrongtype = xasprintf("ssh-rsa %s", strchr(f->line_a, ' ') + 1);
	assert_int_equal(ssh_fingerprint(wrongtype, fp, &err), -EINVAL);
	assert_int_equal(ssh_fingerprint("ssh-ed25519 AAAA!!!!", fp, &err), -EINVAL);
	assert_int_equal(ssh_fingerprint("ssh-foo AAAA", fp, &err), -EINVAL);
	assert_int_equal(ssh_fingerprint("ssh-ed25519", fp, &err), -EINVAL);
}

/* ---- known hosts ------------------------------------------------------- */

static void test_kh_tofu(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};
	bool first = false;
	struct stat st;
	char fpa[SSH_FINGERPRINT_MAX], fpb[SSH_FINGERPRINT_MAX];

	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_a, &first, &err), 0);
	assert_true(first);
	assert_int_equal(stat(f->kh, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_a, &first, &err), 0);
	assert_false(first);

	/* the pinned line is what OpenSSH expects */
	_cleanup_free_ char *text = NULL, *want = xasprintf(ALIAS ",10.0.0.2 %s\n", f->line_a);
	assert_int_equal(read_file(f->kh, 65536, &text, NULL), 0);
	assert_string_equal(text, want);
	char *by_alias[] = {"/usr/bin/ssh-keygen", "-F", ALIAS, "-f", f->kh, NULL};
	_cleanup_free_ char *found = run_out(f, by_alias, 0);
	assert_non_null(strstr(found, f->line_a));
	char *by_ip[] = {"/usr/bin/ssh-keygen", "-F", "10.0.0.2", "-f", f->kh, NULL};
	free(run_out(f, by_ip, 0));

	/* a different key: loud, names both fingerprints, file unchanged */
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_b, &first, &err),
			 -EKEYREJECTED);
	assert_int_equal(ssh_fingerprint(f->line_a, fpa, NULL), 0);
	assert_int_equal(ssh_fingerprint(f->line_b, fpb, NULL), 0);
	print_message("MITM message: %s\n", err.msg);
	assert_int_equal(
	    strncmp(err.msg, "possible MITM: the host key of " ALIAS " (10.0.0.2) changed", 52), 0);
	_cleanup_free_ char *exp = xasprintf("expected %s, got %s", fpa, fpb);
	assert_non_null(strstr(err.msg, exp));
	assert_non_null(strstr(err.msg, "banger vm delete sandbox'"));
	_cleanup_free_ char *after = NULL;
	assert_int_equal(read_file(f->kh, 65536, &after, NULL), 0);
	assert_string_equal(after, want);

	/* removal, then a new pin */
	assert_int_equal(kh_remove(f->kh, ALIAS, &err), 0);
	char *again[] = {"/usr/bin/ssh-keygen", "-F", ALIAS, "-f", f->kh, NULL};
	free(run_out(f, again, 1));
	assert_int_equal(kh_remove(f->kh, ALIAS, &err), 0); /* idempotent */
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_b, &first, &err), 0);
	assert_true(first);
	_cleanup_free_ char *pinned = NULL;
	assert_int_equal(kh_lookup(f->kh, ALIAS, &pinned, &err), 0);
	assert_string_equal(pinned, f->line_b);
	assert_int_equal(kh_lookup(f->kh, "other.vm", &pinned, &err), -ENOENT);
}

static void test_kh_file_rules(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};
	bool first;
	_cleanup_free_ char *dir = path_join(f->dir, "state/ssh");

	assert_int_equal(mkdir_p(dir, 0700), 0);
	/* comments, blank lines and other hosts are kept as they are */
	_cleanup_free_ char *base =
	    xasprintf("# banger known hosts\n\n   \nother.vm,10.0.0.3 %s # note\n", f->line_b);
	write_text(f->kh, base, 0600);
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_a, &first, &err), 0);
	assert_true(first);
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *want = xasprintf("%s" ALIAS ",10.0.0.2 %s\n", base, f->line_a);
	assert_int_equal(read_file(f->kh, 65536, &text, NULL), 0);
	assert_string_equal(text, want);

	/* same key, new IP: the entry follows the IP */
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.9", f->line_a, &first, &err), 0);
	assert_false(first);
	free(text);
	assert_int_equal(read_file(f->kh, 65536, &text, NULL), 0);
	assert_non_null(strstr(text, ALIAS ",10.0.0.9 "));
	assert_null(strstr(text, ALIAS ",10.0.0.2 "));

	/* remove keeps everything else */
	assert_int_equal(kh_remove(f->kh, ALIAS, &err), 0);
	free(text);
	assert_int_equal(read_file(f->kh, 65536, &text, NULL), 0);
	assert_string_equal(text, base);

	/* strict: junk, hashed names, wildcards, markers */
	char *bad[] = {
	    xstrdup("garbage\n"),
	    xstrdup("|1|abc=|def= ssh-ed25519 AAAA\n"),
	    xasprintf("*.vm %s\n", f->line_a),
	    xasprintf("@revoked x.vm %s\n", f->line_a),
	    xstrdup("x.vm ssh-ed25519\n"),
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *line = bad[i];
		_cleanup_free_ char *content = xasprintf("# c\n\n%s", line);
		write_text(f->kh, content, 0600);
		assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_a, &first, &err),
				 -EBADMSG);
		assert_non_null(strstr(err.msg, "line 3"));
		assert_int_equal(kh_remove(f->kh, ALIAS, &err), -EBADMSG);
	}

	/* a file others can write is not trusted */
	write_text(f->kh, base, 0666);
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", f->line_a, &first, &err), -EPERM);
	assert_non_null(strstr(err.msg, "chmod 600"));

	/* bad arguments */
	write_text(f->kh, base, 0600);
	assert_int_equal(kh_check(f->kh, "a,b", "10.0.0.2", f->line_a, &first, &err), -EINVAL);
	assert_int_equal(kh_check(f->kh, "*", "10.0.0.2", f->line_a, &first, &err), -EINVAL);
	assert_int_equal(kh_check(f->kh, ALIAS, "not-an-ip", f->line_a, &first, &err), -EINVAL);
	assert_int_equal(kh_check(f->kh, ALIAS, "10.0.0.2", "ssh-ed25519 AAAA", &first, &err),
			 -EINVAL);
	assert_int_equal(kh_remove(f->kh, "", &err), -EINVAL);
}

/* Many processes pinning at once: the lock keeps every entry. */
static void test_kh_concurrent(void **state)
{
	struct fx *f = *state;
	enum { PROCS = 6, EACH = 8 };
	pid_t pids[PROCS];

	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			for (int i = 0; i < EACH; i++) {
				char alias[32];
				bool first;
				snprintf(alias, sizeof(alias), "vm%d-%d.vm", p, i);
				if (kh_check(f->kh, alias, "10.0.0.2",
					     i % 2 ? f->line_a : f->line_b, &first, NULL) < 0 ||
				    !first)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int p = 0; p < PROCS; p++)
		for (int i = 0; i < EACH; i++) {
			char alias[32];
			_cleanup_free_ char *k = NULL;
			snprintf(alias, sizeof(alias), "vm%d-%d.vm", p, i);
			assert_int_equal(kh_lookup(f->kh, alias, &k, NULL), 0);
			assert_string_equal(k, i % 2 ? f->line_a : f->line_b);
		}
}

/* ---- against sshd ------------------------------------------------------ */

static void test_fetch_hostkey(void **state)
{
	struct fx *f = *state;
	_cleanup_free_ char *line = NULL;
	struct berr err = {0};
	struct stat before, after;
	bool had = stat("/root/.ssh/known_hosts", &before) == 0;

	need_sshd(f);
	int r = ssh_fetch_hostkey("127.0.0.1", f->port, 5000, &line, &err);
	if (r < 0)
		fail_msg("ssh_fetch_hostkey: %s", err.msg);
	assert_string_equal(line, f->line_a);

	/* the user's known_hosts was neither created nor touched */
	bool has = stat("/root/.ssh/known_hosts", &after) == 0;
	assert_int_equal(had, has);
	if (has)
		assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
			    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
			    before.st_size == after.st_size);

	assert_int_equal(ssh_fetch_hostkey("localhost", f->port, 5000, &line, &err), -EINVAL);
	assert_int_equal(ssh_fetch_hostkey("127.0.0.1", 0, 5000, &line, &err), -EINVAL);
}

static void test_wait_ready(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};

	need_sshd(f);
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err);
	if (r < 0)
		fail_msg("ssh_wait_ready: %s", err.msg);
	_cleanup_free_ char *pinned = NULL;
	assert_int_equal(kh_lookup(f->kh, ALIAS, &pinned, &err), 0);
	assert_string_equal(pinned, f->line_a);
	/* second time: pinned key matches */
	assert_int_equal(ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err),
			 0);

	/* OpenSSH itself accepts our file and our key, strictly */
	_cleanup_free_ char *port = xasprintf("%d", f->port);
	_cleanup_free_ char *ukh = xasprintf("UserKnownHostsFile=%s", f->kh);
	char *argv[] = {"/usr/bin/ssh",
			"-F",
			"/dev/null",
			"-o",
			"BatchMode=yes",
			"-o",
			"StrictHostKeyChecking=yes",
			"-o",
			ukh,
			"-o",
			"GlobalKnownHostsFile=/dev/null",
			"-o",
			"HostKeyAlias=" ALIAS,
			"-o",
			"IdentitiesOnly=yes",
			"-i",
			f->key,
			"-p",
			port,
			"root@127.0.0.1",
			"echo",
			"openssh-ok",
			NULL};
	_cleanup_free_ char *out = run_out(f, argv, 0);
	assert_string_equal(out, "openssh-ok\n");
}

static void test_wait_ready_mitm(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};
	char fpa[SSH_FINGERPRINT_MAX], fpb[SSH_FINGERPRINT_MAX];

	need_sshd(f);
	assert_int_equal(ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err),
			 0);
	stop_sshd(f);
	start_sshd(f, f->hk_b, 0);

	int64_t t0 = mono_ms();
	assert_int_equal(ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err),
			 -EKEYREJECTED);
	int64_t took = mono_ms() - t0;
	assert_true(took < 3000); /* failed at once, no retries to the bound */
	assert_int_equal(ssh_fingerprint(f->line_a, fpa, NULL), 0);
	assert_int_equal(ssh_fingerprint(f->line_b, fpb, NULL), 0);
	assert_non_null(strstr(err.msg, "possible MITM"));
	assert_non_null(strstr(err.msg, fpa));
	assert_non_null(strstr(err.msg, fpb));

	/* the VM was "recreated": forget the key and it pins the new one */
	assert_int_equal(kh_remove(f->kh, ALIAS, &err), 0);
	assert_int_equal(ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err),
			 0);
	_cleanup_free_ char *pinned = NULL;
	assert_int_equal(kh_lookup(f->kh, ALIAS, &pinned, &err), 0);
	assert_string_equal(pinned, f->line_b);
}

static void test_wait_ready_timeout(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};

	/* nothing listens on f->port in this fixture */
	int64_t t0 = mono_ms();
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 1500, NULL, &err);
	int64_t took = mono_ms() - t0;
	print_message("timeout after %lld ms: %s\n", (long long)took, err.msg);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= 1400 && took <= 2000);
	assert_non_null(strstr(err.msg, "not ready after 1500 ms"));
	assert_non_null(strstr(err.msg, "last error: cannot connect to 127.0.0.1"));
	assert_int_equal(access(f->kh, F_OK), -1); /* nothing pinned */
}

/* A server that accepts TCP but never speaks SSH: every libssh wait is
 * bounded by what is left of the deadline. */
static void test_wait_ready_silent_server(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)f->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	_cleanup_close_ int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_free_ char *line = NULL;

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0); /* never accepted, never answered */

	int64_t t0 = mono_ms();
	assert_int_equal(ssh_fetch_hostkey("127.0.0.1", f->port, 700, &line, &err), -ETIMEDOUT);
	int64_t took = mono_ms() - t0;
	print_message("fetch: %lld ms: %s\n", (long long)took, err.msg);
	assert_true(took >= 600 && took <= 1200);

	t0 = mono_ms();
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 1500, NULL, &err);
	took = mono_ms() - t0;
	print_message("wait: %lld ms: %s\n", (long long)took, err.msg);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= 1400 && took <= 2000);
}

static void *fire_after(void *arg)
{
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	ssh_cancel_fire(arg);
	return NULL;
}

/* A cancel ends a wait at once: in the retry loop (nothing listens), and
 * in the middle of a key exchange with a server that never speaks (the
 * socket is shut down under libssh). */
static void test_wait_ready_cancel(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};
	struct ssh_cancel c;
	pthread_t t;

	assert_int_equal(ssh_cancel_init(&c, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, fire_after, &c), 0);
	int64_t t0 = mono_ms();
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 20000, &c, &err);
	int64_t took = mono_ms() - t0;
	pthread_join(t, NULL);
	print_message("no listener, cancelled after %lld ms: %s\n", (long long)took, err.msg);
	assert_int_equal(r, -ECANCELED);
	assert_true(took >= 250 && took <= 900);
	/* Once fired it stays fired: a new wait on it ends before it starts. */
	assert_int_equal(ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 20000, &c, &err),
			 -ECANCELED);
	ssh_cancel_destroy(&c);

	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)f->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	_cleanup_close_ int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0); /* connects, never speaks */
	assert_int_equal(ssh_cancel_init(&c, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, fire_after, &c), 0);
	t0 = mono_ms();
	r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 20000, &c, &err);
	took = mono_ms() - t0;
	pthread_join(t, NULL);
	print_message("silent server, cancelled after %lld ms: %s\n", (long long)took, err.msg);
	assert_int_equal(r, -ECANCELED);
	assert_true(took >= 250 && took <= 900);
	ssh_cancel_destroy(&c);
}

static void test_wait_ready_late_server(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};

	need_sshd(f);
	start_sshd(f, f->hk_a, 800);
	int64_t t0 = mono_ms();
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 10000, NULL, &err);
	if (r < 0)
		fail_msg("ssh_wait_ready: %s", err.msg);
	assert_true(mono_ms() - t0 >= 500);
}

static void test_wait_ready_key_refused(void **state)
{
	struct fx *f = *state;
	struct berr err = {0};

	need_sshd(f);
	write_text(f->authkeys, "# nobody\n", 0600);
	/* 4 s: the last attempt must get as far as auth; on a loaded machine
	 * (an ASan build beside booting guests) 1.5 s once ended in a connect
	 * timeout instead. */
	int r = ssh_wait_ready("127.0.0.1", f->port, f->key, f->kh, ALIAS, 4000, NULL, &err);
	print_message("refused: %s\n", err.msg);
	assert_int_equal(r, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "refused key"));
	/* the host key was still pinned (TOFU happens before auth) */
	_cleanup_free_ char *pinned = NULL;
	assert_int_equal(kh_lookup(f->kh, ALIAS, &pinned, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_generate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_load_existing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_refuse_open_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fingerprint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kh_tofu, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kh_file_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kh_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_hostkey, setup_sshd, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready, setup_sshd, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_mitm, setup_sshd, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_silent_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_late_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_ready_key_refused, setup_sshd, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
