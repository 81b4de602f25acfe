/* p9/listen.c: the 9P export's sockets and threads.
 *
 * The Unix socket (0600, the owner's) and the optional TCP listener are
 * bound by p9_open() before the daemon detaches; p9_start() starts the
 * accept loop, the waker and (on demand) the workers afterwards, since a
 * fork keeps only the forking thread. */
#define _GNU_SOURCE
#include "p9.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "banger.h"
#include "log.h"
#include "server.h"
#include "tree.h"

/* "9p.sock" beside the mount point, absolute. */
static char *default_sock(const char *mountpoint)
{
	char cwd[PATH_MAX];
	char *abs = mountpoint[0] == '/' || !getcwd(cwd, sizeof(cwd))
			    ? xstrdup(mountpoint) : path_join(cwd, mountpoint);
	size_t n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = 0;
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	char *sock = path_join(abs, "9p.sock");
	free(abs);
	return sock;
}

static int listen_unix(struct p9_server *s, const char *path, struct berr *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		s->sock_path = xstrdup(path);
	else
		s->sock_path = path_join(cwd, path);
	if (strlen(s->sock_path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "9P socket path %s is too long", s->sock_path);
	strcpy(sa.sun_path, s->sock_path);

	_cleanup_free_ char *dir = xstrdup(s->sock_path);
	*strrchr(dir, '/') = 0;
	if (dir[0] && mkdir_p(dir, 0755) < 0)
		return berr_set(err, errno, "cannot create %s for the 9P socket: %s", dir,
				strerror(errno));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "9P socket: %s", strerror(errno));
	if (lstat(s->sock_path, &st) == 0) {
		/* Replace a stale socket; never a live one or another file. */
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return berr_set(err, EEXIST, "%s exists and is not a socket", s->sock_path);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return berr_set(err, EADDRINUSE, "another server answers on %s",
					s->sock_path);
		}
		close(fd);
		unlink(s->sock_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return berr_set(err, errno, "9P socket: %s", strerror(errno));
	}
	/* Born 0600; 0666 when other users may use the tree (allow_other:
	 * each connection acts as its peer's uid, docs/9p.md). */
	mode_t old = umask(tree_shared(s->b) ? 0111 : 0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0 || stat(s->sock_path, &st) < 0) {
		r = errno;
		close(fd);
		return berr_set(err, r, "cannot listen on %s: %s", s->sock_path, strerror(r));
	}
	s->sock_dev = st.st_dev;
	s->sock_ino = st.st_ino;
	s->unix_fd = fd;
	return 0;
}

static int listen_tcp(struct p9_server *s, const char *spec, struct berr *err)
{
	struct sockaddr_storage ss;
	unsigned len;
	int one = 1, r;

	if ((r = p9_parse_tcp(spec, &ss, &len, err)) < 0)
		return r;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "9P TCP socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		r = errno;
		close(fd);
		return berr_set(err, r, "cannot listen on %s: %s", spec, strerror(r));
	}
	s->tcp_fd = fd;
	return 0;
}

int p9_open(struct p9_server **ret, struct banger *b, const char *sock, const char *tcp,
	    const char *mountpoint, struct berr *err)
{
	struct p9_server *s = xcalloc(1, sizeof(*s));
	int r = 0;

	*ret = NULL;
	s->b = b;
	s->owner = getuid();
	s->group = getgid();
	s->start = time(NULL);
	s->unix_fd = s->tcp_fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	struct passwd *pw = getpwuid(s->owner);
	if (pw)
		snprintf(s->owner_name, sizeof(s->owner_name), "%s", pw->pw_name);
	else
		snprintf(s->owner_name, sizeof(s->owner_name), "%u", (unsigned)s->owner);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work_cond, NULL);
	pthread_cond_init(&s->kick_cond, NULL);
	pthread_cond_init(&s->conn_cond, NULL);

	if (!sock) {
		_cleanup_free_ char *def = default_sock(mountpoint);
		r = listen_unix(s, def, err);
	} else if (sock[0] && strcmp(sock, "none") != 0) {
		r = listen_unix(s, sock, err);
	}
	if (r == 0 && tcp && tcp[0])
		r = listen_tcp(s, tcp, err);
	if (r == 0 && pipe2(s->stop_pipe, O_CLOEXEC) < 0)
		r = berr_set(err, errno, "pipe: %s", strerror(errno));
	if (r < 0) {
		p9_stop(s);
		p9_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static void accept_one(struct p9_server *s, int lfd, bool is_unix)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	uid_t peer = (uid_t)-1;
	gid_t pgid = (gid_t)-1;
	gid_t groups[64];
	int ngroups = -1;
	if (fd < 0)
		return;
	struct timeval tv = { P9_SEND_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (is_unix) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
			peer = cr.uid;
			pgid = cr.gid;
			socklen_t glen = sizeof(groups);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
				ngroups = (int)(glen / sizeof(gid_t));
		} else {
			peer = (uid_t)-2;   /* unknown: never the owner */
		}
	} else {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (p9_conn_start(s, fd, peer, pgid, groups, ngroups) < 0)
		blog("9p: connection refused (%d connections at once at most)", P9_CONNS_MAX);
}

static void *accept_main(void *arg)
{
	struct p9_server *s = arg;
	for (;;) {
		struct pollfd p[3] = { { s->stop_pipe[0], POLLIN, 0 },
				       { s->unix_fd, POLLIN, 0 },
				       { s->tcp_fd, POLLIN, 0 } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			blog("9p: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[0].revents)
			return NULL;
		if (p[1].revents & POLLIN)
			accept_one(s, s->unix_fd, true);
		if (p[2].revents & POLLIN)
			accept_one(s, s->tcp_fd, false);
	}
}

int p9_start(struct p9_server *s, struct berr *err)
{
	int r;
	if ((r = p9_thread_start(&s->waker_thread, false, p9_waker_main, s)) != 0)
		return berr_set(err, r, "9p: cannot start a thread: %s", strerror(r));
	if ((r = p9_thread_start(&s->accept_thread, false, accept_main, s)) != 0) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->kick_cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->waker_thread, NULL);
		return berr_set(err, r, "9p: cannot start a thread: %s", strerror(r));
	}
	s->started = true;
	if (s->sock_path)
		blog("9p: serving the tree on %s", s->sock_path);
	if (s->tcp_fd >= 0)
		blog("9p: serving the tree on TCP too (no authentication: see docs/9p.md)");
	return 0;
}

void p9_stop(struct p9_server *s)
{
	struct stat st;
	if (!s)
		return;
	if (s->started) {
		if (write(s->stop_pipe[1], "x", 1) < 0)
			blog("9p: cannot stop the accept loop: %s", strerror(errno));
		pthread_join(s->accept_thread, NULL);
	}
	/* Connections end (their fids clunked) while workers still run. */
	p9_conns_shutdown(s);
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->kick_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->started)
		pthread_join(s->waker_thread, NULL);
	p9_workers_join(s);
	s->started = false;
	if (s->unix_fd >= 0) {
		close(s->unix_fd);
		s->unix_fd = -1;
		if (lstat(s->sock_path, &st) == 0 && st.st_dev == s->sock_dev &&
		    st.st_ino == s->sock_ino)
			unlink(s->sock_path);
	}
	if (s->tcp_fd >= 0) {
		close(s->tcp_fd);
		s->tcp_fd = -1;
	}
	for (int i = 0; i < 2; i++)
		if (s->stop_pipe[i] >= 0) {
			close(s->stop_pipe[i]);
			s->stop_pipe[i] = -1;
		}
}

void p9_free(struct p9_server *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work_cond);
	pthread_cond_destroy(&s->kick_cond);
	pthread_cond_destroy(&s->conn_cond);
	free(s->sock_path);
	free(s);
}
