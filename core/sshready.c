/* core/sshready.c: connections to a guest's sshd with libssh: the host key
 * fetch and the readiness wait, cancellable (see sshready.h).
 *
 * libssh sessions are configured so they never touch the user's OpenSSH
 * files: no ~/.ssh/config or /etc/ssh/ssh_config processing, known_hosts
 * pointed at /dev/null (we check host keys ourselves, against banger's own
 * file), no agent, no default identities.  The TCP connection is made here
 * (so waiting for it can be cancelled) and handed to libssh. */
#define _GNU_SOURCE
#include "sshready.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "knownhosts.h"
#include "sshkeys.h"
#include "sshkeys_int.h"
#include "util.h"

#define READY_RETRY_MS 250
/* The last attempt starts at least this long before the deadline. */
#define READY_LAST_ATTEMPT_MS 50
/* One attempt gets at most this long, so a server that accepted TCP but
 * hangs does not eat the whole bound. */
#define READY_ATTEMPT_MAX_MS 10000

/* Host key algorithms we ask for; a pinned type is moved to the front so a
 * server with several host keys shows us the one we pinned. */
static const char *const hostkey_algos[] = {
    "ssh-ed25519",	   "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp256", "rsa-sha2-512",	  "rsa-sha2-256",
};

/* ---- cancellation ------------------------------------------------------ */

int ssh_cancel_init(struct ssh_cancel *c, struct berr *err)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0)
		return berr_set(err, errno, "eventfd: %s", strerror(errno));
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void ssh_cancel_fire(struct ssh_cancel *c)
{
	uint64_t one = 1;
	pthread_mutex_lock(&c->lock);
	if (!c->cancelled) {
		c->cancelled = true;
		ssize_t k = write(c->efd, &one, sizeof(one));
		(void)k;
		/* libssh is blocked on this socket (key exchange, login): make
		 * its read fail now instead of at its timeout. */
		if (c->sock >= 0)
			shutdown(c->sock, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->lock);
}

bool ssh_cancelled(struct ssh_cancel *c)
{
	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	bool v = c->cancelled;
	pthread_mutex_unlock(&c->lock);
	return v;
}

void ssh_cancel_destroy(struct ssh_cancel *c)
{
	if (c->efd >= 0)
		close(c->efd);
	c->efd = -1;
	pthread_mutex_destroy(&c->lock);
}

/* ---- sessions ---------------------------------------------------------- */

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - mono_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Bound every blocking libssh call by what is left of the deadline. */
static int set_deadline(ssh_session s, int64_t deadline)
{
	long usec = (long)remaining_ms(deadline) * 1000L;
	long sec = 0;

	if (usec <= 0)
		return -ETIMEDOUT;
	if (ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec) < 0)
		return -EINVAL;
	return 0;
}

static int check_target(const char *ip, int port, struct berr *err)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!ip || (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1))
		return berr_set(err, EINVAL, "'%.64s' is not an IP address", ip ? ip : "(null)");
	if (port < 1 || port > 65535)
		return berr_set(err, EINVAL, "port %d is out of range", port);
	return 0;
}

/* A libssh failure: -ETIMEDOUT once the deadline has passed, else -EIO. */
static int session_error(ssh_session s, int64_t deadline, struct ssh_cancel *c, struct berr *err,
			 const char *what, const char *ip, int port)
{
	if (ssh_cancelled(c))
		return berr_set(err, ECANCELED, "waiting for %s port %d was cancelled", ip, port);
	int code = remaining_ms(deadline) == 0 ? ETIMEDOUT : EIO;
	return berr_set(err, code, "%s %s port %d: %s", what, ip, port, ssh_get_error(s));
}

/* A TCP connection to ip:port within the deadline, given up at once when
 * c is cancelled.  The socket is registered in c so a cancel during the
 * key exchange or the login shuts it down under libssh's feet. */
static int tcp_connect(const char *ip, int port, int64_t deadline, struct ssh_cancel *c,
		       int *ret_fd, struct berr *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		return berr_set(err, EINVAL, "'%.64s' is not an IP address", ip);
	}
	_cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		return berr_set(err, errno, "cannot connect to %s port %d: %s", ip, port,
				strerror(errno));
	struct pollfd pf[2] = {{.fd = fd, .events = POLLOUT}, {.fd = c ? c->efd : -1, .events = POLLIN}};
	for (;;) {
		int left = remaining_ms(deadline);
		if (left == 0)
			return berr_set(err, ETIMEDOUT, "cannot connect to %s port %d: timed out", ip,
					port);
		int n = poll(pf, 2, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "poll: %s", strerror(errno));
		if (pf[1].revents)
			return berr_set(err, ECANCELED, "waiting for %s port %d was cancelled", ip, port);
		if (pf[0].revents)
			break;
	}
	int soerr = 0;
	socklen_t el = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) < 0)
		soerr = errno;
	if (soerr)
		return berr_set(err, soerr, "cannot connect to %s port %d: %s", ip, port,
				strerror(soerr));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return berr_set(err, errno, "fcntl: %s", strerror(errno));
	if (c) {
		pthread_mutex_lock(&c->lock);
		bool gone = c->cancelled;
		if (!gone)
			c->sock = fd;
		pthread_mutex_unlock(&c->lock);
		if (gone)
			return berr_set(err, ECANCELED, "waiting for %s port %d was cancelled", ip, port);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* The socket handed to libssh is libssh's to close (ssh_free): forget it
 * in c first, so a late cancel never shuts down a reused descriptor. */
static void session_release(struct ssh_cancel *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->sock = -1;
	pthread_mutex_unlock(&c->lock);
}
static void session_releasep(struct ssh_cancel **c)
{
	session_release(*c);
}

/* New session to ip:port, connected (key exchange done) within the
 * deadline.  pinned_type, if given, is asked for first. */
static int session_connect(const char *ip, int port, int64_t deadline, const char *pinned_type,
			   struct ssh_cancel *c, ssh_session *ret, struct berr *err)
{
	_cleanup_ssh_session_ ssh_session s = ssh_new();
	/* Declared after s, so it runs before s is freed. */
	__attribute__((cleanup(session_releasep))) struct ssh_cancel *rel = c;
	struct sbuf algos;
	int verbosity = SSH_LOG_NOLOG;
	bool no = false;
	int nodelay = 1;
	int fd = -1;
	int r;

	if (!s)
		return berr_set(err, ENOMEM, "cannot create an ssh session");
	sbuf_init(&algos);
	if (pinned_type)
		sbuf_puts(&algos, strcmp(pinned_type, "ssh-rsa") == 0
				      ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa"
				      : pinned_type);
	for (size_t i = 0; i < ARRAY_SIZE(hostkey_algos); i++) {
		if (pinned_type && strcmp(hostkey_algos[i], pinned_type) == 0)
			continue;
		sbuf_printf(&algos, "%s%s", algos.len ? "," : "", hostkey_algos[i]);
	}
	r = 0;
	if (ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, ip) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_USER, "root") < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, algos.buf) < 0)
		r = berr_set(err, EINVAL, "cannot configure the ssh session for %s: %s", ip,
			     ssh_get_error(s));
	sbuf_free(&algos);
	if (r < 0)
		return r;
	if ((r = tcp_connect(ip, port, deadline, c, &fd, err)) < 0)
		return r;
	if (ssh_options_set(s, SSH_OPTIONS_FD, &fd) < 0) {
		session_release(c);
		close(fd);
		return berr_set(err, EINVAL, "cannot hand the socket to libssh: %s", ssh_get_error(s));
	}
	if (set_deadline(s, deadline) < 0)
		return berr_set(err, ETIMEDOUT, "no time left to connect to %s port %d", ip, port);
	if (ssh_connect(s) != SSH_OK)
		return session_error(s, deadline, c, err, "cannot connect to", ip, port);
	rel = NULL; /* the session lives on, its socket still cancellable */
	*ret = TAKE_PTR(s);
	return 0;
}

static int session_hostkey(ssh_session s, const char *ip, int port, char **ret, struct berr *err)
{
	_cleanup_ssh_key_ ssh_key key = NULL;

	if (ssh_get_server_publickey(s, &key) != SSH_OK || !key)
		return berr_set(err, EPROTO, "%s port %d sent no host key: %s", ip, port,
				ssh_get_error(s));
	return ssh_key_line(key, NULL, ret, err);
}

int ssh_fetch_hostkey(const char *ip, int port, int timeout_ms, char **ret_hostkey_line,
		      struct berr *err)
{
	_cleanup_ssh_session_ ssh_session s = NULL;
	int r;

	r = check_target(ip, port, err);
	if (r < 0)
		return r;
	if (timeout_ms <= 0)
		return berr_set(err, EINVAL, "timeout must be positive, got %d ms", timeout_ms);
	r = session_connect(ip, port, mono_ms() + timeout_ms, NULL, NULL, &s, err);
	if (r < 0)
		return r;
	return session_hostkey(s, ip, port, ret_hostkey_line, err);
}

/* ---- readiness --------------------------------------------------------- */

/* One attempt.  *fatal is set when retrying cannot help. */
static int ready_attempt(const char *ip, int port, ssh_key privkey, const char *key_path,
			 const char *known_hosts, const char *alias, int64_t deadline,
			 struct ssh_cancel *c, bool *fatal, struct berr *err)
{
	_cleanup_ssh_session_ ssh_session s = NULL;
	__attribute__((cleanup(session_releasep))) struct ssh_cancel *rel = c;
	_cleanup_free_ char *pinned = NULL, *hostkey = NULL;
	char *type_end;
	bool first_use;
	int r;

	*fatal = true;
	r = kh_lookup(known_hosts, alias, &pinned, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (pinned && (type_end = strchr(pinned, ' ')))
		*type_end = '\0';

	*fatal = false;
	r = session_connect(ip, port, deadline, pinned, c, &s, err);
	if (r < 0)
		return r;
	r = session_hostkey(s, ip, port, &hostkey, err);
	if (r < 0)
		return r;

	*fatal = true;
	r = kh_check(known_hosts, alias, ip, hostkey, &first_use, err);
	if (r < 0)
		return r;

	*fatal = false;
	if (set_deadline(s, deadline) < 0)
		return berr_set(err, ETIMEDOUT, "no time left to log in to %s port %d", ip, port);
	r = ssh_userauth_publickey(s, NULL, privkey);
	if (r == SSH_AUTH_DENIED || r == SSH_AUTH_PARTIAL)
		return berr_set(err, EACCES, "%s port %d refused key %s for root", ip, port,
				key_path);
	if (r != SSH_AUTH_SUCCESS)
		return session_error(s, deadline, c, err, "cannot log in to", ip, port);
	/* Ready: the key is pinned and root's key is accepted.  No command is
	 * run here: a session costs about a second on a TCG guest and the
	 * user's own ssh pays it right after (docs/benchmarks.md). */
	return 0;
}

/* Sleep until when_mono, or less when c is cancelled. */
static void sleep_until(int64_t when_mono, struct ssh_cancel *c)
{
	struct pollfd pf = {.fd = c ? c->efd : -1, .events = POLLIN};
	for (;;) {
		int left = remaining_ms(when_mono);
		if (left <= 0 || ssh_cancelled(c))
			return;
		if (poll(&pf, 1, left) > 0)
			return;
	}
}

int ssh_wait_ready(const char *ip, int port, const char *key_path, const char *known_hosts,
		   const char *host_alias, int timeout_ms, struct ssh_cancel *c, struct berr *err)
{
	_cleanup_ssh_key_ ssh_key privkey = NULL;
	struct berr last = {0}, telling = {0};
	int64_t start = mono_ms(), deadline;
	int attempts = 0, r;

	r = check_target(ip, port, err);
	if (r < 0)
		return r;
	if (timeout_ms <= 0)
		return berr_set(err, EINVAL, "timeout must be positive, got %d ms", timeout_ms);
	if (!known_hosts || !*known_hosts || !host_alias || !*host_alias)
		return berr_set(err, EINVAL,
				"waiting for ssh needs a known_hosts file and a host alias");
	r = ssh_load_private_key(key_path ? key_path : "", &privkey, err);
	if (r < 0)
		return r;
	deadline = start + timeout_ms;

	for (;;) {
		int64_t t0 = mono_ms();
		int64_t attempt_deadline = t0 + READY_ATTEMPT_MAX_MS;
		bool fatal = false;

		if (attempt_deadline > deadline)
			attempt_deadline = deadline;
		attempts++;
		berr_clear(&last);
		if (ssh_cancelled(c))
			return berr_set(err, ECANCELED, "waiting for ssh on %s was cancelled", ip);
		r = ready_attempt(ip, port, privkey, key_path, known_hosts, host_alias,
				  attempt_deadline, c, &fatal, &last);
		if (r == 0) {
			berr_clear(err);
			return 0;
		}
		if (r == -ECANCELED || ssh_cancelled(c))
			return berr_set(err, ECANCELED, "waiting for ssh on %s was cancelled", ip);
		if (fatal) {
			if (err)
				*err = last;
			return r;
		}
		/* An attempt cut short by the deadline says less than one that
		 * got an answer ("refused key"): report the latter. */
		if (r != -ETIMEDOUT)
			telling = last;
		/* Next attempt 250 ms after this one started, or a last one just
		 * before the deadline so a server that comes up late is seen. */
		int64_t next = t0 + READY_RETRY_MS;
		if (next > deadline - READY_LAST_ATTEMPT_MS)
			next = deadline - READY_LAST_ATTEMPT_MS;
		if (next <= t0 || mono_ms() >= deadline - READY_LAST_ATTEMPT_MS)
			break;
		sleep_until(next, c);
	}
	return berr_set(
	    err, ETIMEDOUT,
	    "ssh to root@%s port %d was not ready after %d ms (%d attempt%s); last error: %s", ip,
	    port, timeout_ms, attempts, attempts == 1 ? "" : "s",
	    telling.msg[0] ? telling.msg : last.msg[0] ? last.msg : "none");
}
