/* guest/agent_session.c: one host connection, many requests in flight.
 *
 * One poll loop over the connection, the pipes and pidfds of the commands
 * the host started, and the files it is reading.  Nothing blocks except
 * the short identity/host key operations and regular-file writes.
 * Back-pressure: while more than OUT_HIGH bytes wait to go to the host,
 * command output and file reads pause (the commands then block on their
 * pipes); stdin and put data are bounded by the AGENT_WINDOW credit the
 * host must respect (acks give it back). */
#define _GNU_SOURCE
#include "agent_session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_HIGH (1024 * 1024) /* queued bytes to the host before output pauses */
#define DRAIN_IDLE_MS 200      /* after a command exits: close a pipe quiet this long */
#define AWAY_GRACE_MS 1000     /* virtio-serial: the host gone this long ends the session */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

enum req_kind { REQ_EXEC, REQ_PUT, REQ_GET };

struct req {
	uint32_t id;
	enum req_kind kind;
	/* exec */
	pid_t pid;
	int pidfd;
	int in_fd;              /* -1 once closed */
	int out_fd[2];          /* stdout, stderr; -1 once closed */
	struct sbuf inq;        /* stdin bytes not yet written */
	size_t inq_off;
	bool in_eof;            /* the host sent eof */
	bool exited;
	int wstatus;
	int64_t quiet_since[2]; /* after exit: last output per stream */
	/* put, get */
	int fd;
	char *path, *tmp;
	uint64_t size, done;
};

struct sess {
	int fd;
	enum agent_conn kind;
	const struct agent_opts *o;
	struct agent_lines in;
	struct sbuf out;
	size_t out_off;
	struct req *reqs[AGENT_REQS_MAX];
	bool hello;
	bool complained; /* one "expected hello" per un-greeted stretch */
	bool closing;    /* socket: flush, then end */
	bool gone;       /* the peer went away */
	bool away;       /* virtio-serial: no host connected since away_since */
	int64_t away_since;
	int shutdown;    /* 0, or 1 + (reboot) + 2 * (force) once acknowledged */
	struct agent_frame *fr;
	unsigned gen; /* bumped when an exec request is freed */
};

static int64_t now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t out_pending(const struct sess *s)
{
	return s->out.len - s->out_off;
}

/* ---- replies ---- */

static void send_err(struct sess *s, uint32_t id, int code, const char *msg)
{
	size_t b = agent_frame_begin(&s->out, AV_ERR, id);
	agent_put_num(&s->out, (uint64_t)(code > 0 && code < 4096 ? code : EIO));
	size_t n = strlen(msg);
	agent_put_str(&s->out, msg, n > AGENT_TEXT_MAX ? AGENT_TEXT_MAX : n);
	(void)agent_frame_end(&s->out, b);
}

static void send_ok(struct sess *s, uint32_t id, const char *field)
{
	size_t b = agent_frame_begin(&s->out, AV_OK, id);
	if (field)
		agent_put_cstr(&s->out, field);
	if (agent_frame_end(&s->out, b) < 0)
		send_err(s, id, E2BIG, "the reply does not fit in one frame");
}

static void send_num(struct sess *s, enum agent_verb v, uint32_t id, uint64_t n)
{
	size_t b = agent_frame_begin(&s->out, v, id);
	agent_put_num(&s->out, n);
	(void)agent_frame_end(&s->out, b);
}

/* ---- requests ---- */

static struct req **req_slot(struct sess *s, uint32_t id)
{
	for (size_t i = 0; i < AGENT_REQS_MAX; i++)
		if (s->reqs[i] && s->reqs[i]->id == id)
			return &s->reqs[i];
	return NULL;
}

static struct req *req_new(struct sess *s, uint32_t id, enum req_kind kind)
{
	for (size_t i = 0; i < AGENT_REQS_MAX; i++) {
		if (!s->reqs[i]) {
			struct req *r = xcalloc(1, sizeof(*r));
			r->id = id;
			r->kind = kind;
			r->pidfd = r->in_fd = r->out_fd[0] = r->out_fd[1] = r->fd = -1;
			sbuf_init(&r->inq);
			s->reqs[i] = r;
			return r;
		}
	}
	return NULL;
}

static void closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Free a request.  A command still running is killed (its whole process
 * group) and reaped; a put not finished loses its temporary file. */
static void req_free(struct sess *s, struct req *r)
{
	struct req **slot = req_slot(s, r->id);
	if (r->kind == REQ_EXEC)
		s->gen++;
	if (r->kind == REQ_EXEC && r->pid > 0 && !r->exited) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	closefd(&r->pidfd);
	closefd(&r->in_fd);
	closefd(&r->out_fd[0]);
	closefd(&r->out_fd[1]);
	closefd(&r->fd);
	if (r->tmp)
		unlink(r->tmp);
	free(r->tmp);
	free(r->path);
	sbuf_free(&r->inq);
	free(r);
	if (slot)
		*slot = NULL;
}

static void reset(struct sess *s)
{
	for (size_t i = 0; i < AGENT_REQS_MAX; i++)
		if (s->reqs[i])
			req_free(s, s->reqs[i]);
	s->hello = false;
	s->complained = false;
}

/* A host that broke the protocol after hello: say why, forget every
 * request.  A socket is then closed; a virtio-serial port waits for the
 * next hello. */
static void fatal(struct sess *s, int code, const char *msg)
{
	agent_log("session error: %s", msg);
	send_err(s, 0, code, msg);
	reset(s);
	if (s->kind == AGENT_CONN_SOCKET)
		s->closing = true;
}

/* ---- exec ---- */

static void child_fail(int fd, int e)
{
	ssize_t w = write(fd, &e, sizeof(e));
	(void)w;
	_exit(127);
}

static int spawn(struct sess *s, struct req *r, struct agent_frame *fr, struct berr *err)
{
	bool in_pipe = strcmp(fr->f[0].s, "pipe") == 0;
	size_t argc = fr->f[2].n, envc = fr->f[3].n;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 }, ep[2] = { -1, -1 };
	char **argv = xcalloc(argc + 1, sizeof(char *));
	char **envp = xcalloc(envc + 6, sizeof(char *));
	_cleanup_free_ char *cwd = NULL;
	size_t ne = 0;
	int rc = 0;

	for (size_t i = 0; i < argc; i++)
		argv[i] = fr->f[4 + i].s;
	/* The base environment, then the request's entries (which win). */
	static const char *const base[] = { "PATH=" DEFAULT_PATH, "HOME=/root", "USER=root",
					    "LOGNAME=root", "SHELL=/bin/sh" };
	for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
		size_t kl = (size_t)(strchr(base[i], '=') - base[i]) + 1;
		bool over = false;
		for (size_t j = 0; j < envc; j++)
			over = over || strncmp(fr->f[4 + argc + j].s, base[i], kl) == 0;
		if (!over)
			envp[ne++] = (char *)base[i];
	}
	for (size_t j = 0; j < envc; j++)
		envp[ne++] = fr->f[4 + argc + j].s;
	envp[ne] = NULL;

	if (fr->f[1].len > 0) {
		cwd = xstrdup(fr->f[1].s);
	} else {
		struct stat st;
		cwd = s->o->test ? xstrdup(s->o->root)
				 : xstrdup(stat("/root", &st) == 0 && S_ISDIR(st.st_mode) ? "/root" : "/");
	}

	if ((in_pipe && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		rc = berr_set(err, errno, "cannot make pipes: %s", strerror(errno));
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		rc = berr_set(err, errno, "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		setsid();
		int nul = -1;
		if (!in_pipe && (nul = open("/dev/null", O_RDONLY)) < 0)
			child_fail(ep[1], errno);
		if (dup2(in_pipe ? in[0] : nul, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
			child_fail(ep[1], errno);
		if (chdir(cwd) < 0)
			child_fail(ep[1], -errno); /* negative: the directory failed */
		environ = envp;
		execvp(argv[0], argv);
		child_fail(ep[1], errno);
	}
	closefd(&in[0]);
	closefd(&out[1]);
	closefd(&errp[1]);
	closefd(&ep[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		if (e < 0)
			rc = berr_set(err, -e, "cannot change to directory %s: %s", cwd, strerror(-e));
		else
			rc = berr_set(err, e, "cannot run %s: %s", argv[0], strerror(e));
		goto out;
	}
	r->pid = pid;
	r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->pidfd < 0) {
		int pe = errno;
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r->pid = 0;
		rc = berr_set(err, pe, "cannot watch the command (pidfd_open): %s", strerror(pe));
		goto out;
	}
	r->in_fd = TAKE_FD(in[1]);
	r->out_fd[0] = TAKE_FD(out[0]);
	r->out_fd[1] = TAKE_FD(errp[0]);
	for (int k = 0; k < 2; k++)
		fcntl(r->out_fd[k], F_SETFL, O_NONBLOCK);
	if (r->in_fd >= 0)
		fcntl(r->in_fd, F_SETFL, O_NONBLOCK);
	rc = 0;
out:
	closefd(&in[0]);
	closefd(&in[1]);
	closefd(&out[0]);
	closefd(&out[1]);
	closefd(&errp[0]);
	closefd(&errp[1]);
	closefd(&ep[0]);
	closefd(&ep[1]);
	free(argv);
	free(envp);
	return rc;
}

static void do_exec(struct sess *s, struct agent_frame *fr)
{
	struct berr err = { 0 };
	struct req *r = req_new(s, fr->id, REQ_EXEC);
	if (!r) {
		send_err(s, fr->id, EAGAIN, "too many requests in flight");
		return;
	}
	if (spawn(s, r, fr, &err) < 0) {
		send_err(s, fr->id, err.code, err.msg);
		req_free(s, r);
		return;
	}
	send_num(s, AV_STARTED, fr->id, (uint64_t)r->pid);
}

/* Write queued stdin; ack what the command took. */
static void stdin_flush(struct sess *s, struct req *r)
{
	size_t took = 0;
	while (r->in_fd >= 0 && r->inq_off < r->inq.len) {
		ssize_t n = write(r->in_fd, r->inq.buf + r->inq_off, r->inq.len - r->inq_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The command closed its stdin: what it will never read
			 * counts as taken, so the host's window is not stuck. */
			took += r->inq.len - r->inq_off;
			r->inq_off = r->inq.len;
			closefd(&r->in_fd);
			break;
		}
		r->inq_off += (size_t)n;
		took += (size_t)n;
	}
	if (r->inq_off == r->inq.len) {
		r->inq.len = r->inq_off = 0;
		if (r->in_eof)
			closefd(&r->in_fd);
	}
	while (took > 0) { /* an ack is at most AGENT_WINDOW */
		size_t a = took > AGENT_WINDOW ? AGENT_WINDOW : took;
		send_num(s, AV_ACK, r->id, a);
		took -= a;
	}
}

static void do_in(struct sess *s, struct agent_frame *fr, struct req *r)
{
	if (fr->v->verb == AV_EOF) {
		r->in_eof = true;
	} else {
		if (r->inq.len - r->inq_off + fr->f[0].len > AGENT_WINDOW) {
			fatal(s, EPROTO, "the host sent more stdin than the window allows");
			return;
		}
		if (r->in_fd < 0) { /* stdin already closed: ack and drop */
			send_num(s, AV_ACK, r->id, fr->f[0].len);
			return;
		}
		sbuf_add(&r->inq, fr->f[0].s, fr->f[0].len);
	}
	stdin_flush(s, r);
}

/* Read one chunk of a command's stdout/stderr into an out frame. */
static void output_read(struct sess *s, struct req *r, int k)
{
	static char buf[AGENT_DATA_MAX];
	ssize_t n;
	do
		n = read(r->out_fd[k], buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		closefd(&r->out_fd[k]);
		return;
	}
	size_t b = agent_frame_begin(&s->out, AV_OUT, r->id);
	agent_put_num(&s->out, (uint64_t)k + 1);
	agent_put_data(&s->out, buf, (size_t)n);
	(void)agent_frame_end(&s->out, b);
	if (r->exited)
		r->quiet_since[k] = now_mono();
}

static void reap(struct req *r)
{
	int st;
	pid_t p;
	do
		p = waitpid(r->pid, &st, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p != r->pid)
		return;
	r->exited = true;
	r->wstatus = st;
	r->quiet_since[0] = r->quiet_since[1] = now_mono();
	closefd(&r->pidfd);
	/* Nobody will read stdin any more. */
	r->inq.len = r->inq_off = 0;
	closefd(&r->in_fd);
}

/* A command is done once it exited and its output is drained: send exit. */
static void exec_maybe_done(struct sess *s, struct req *r)
{
	if (!r->exited || r->out_fd[0] >= 0 || r->out_fd[1] >= 0)
		return;
	size_t b = agent_frame_begin(&s->out, AV_EXIT, r->id);
	if (WIFSIGNALED(r->wstatus)) {
		agent_put_word(&s->out, "signal");
		agent_put_num(&s->out, (uint64_t)WTERMSIG(r->wstatus));
	} else {
		agent_put_word(&s->out, "code");
		agent_put_num(&s->out, (uint64_t)WEXITSTATUS(r->wstatus));
	}
	(void)agent_frame_end(&s->out, b);
	req_free(s, r);
}

/* ---- put / get ---- */

/* All bytes are in: sync, rename into place, answer. */
static void put_finish(struct sess *s, struct req *r)
{
	char msg[AGENT_TEXT_MAX + 1];
	if (fsync(r->fd) < 0 || rename(r->tmp, r->path) < 0) {
		int e = errno;
		snprintf(msg, sizeof(msg), "cannot put %s in place: %s", r->path, strerror(e));
		send_err(s, r->id, e, msg);
	} else {
		free(r->tmp);
		r->tmp = NULL;
		send_ok(s, r->id, NULL);
	}
	req_free(s, r);
}

static void do_put(struct sess *s, struct agent_frame *fr)
{
	struct req *r = req_new(s, fr->id, REQ_PUT);
	if (!r) {
		send_err(s, fr->id, EAGAIN, "too many requests in flight");
		return;
	}
	r->path = agent_path(s->o, fr->f[0].s);
	r->size = fr->f[2].n;
	const char *slash = strrchr(r->path, '/');
	r->tmp = xasprintf("%.*s/.%s.banger-XXXXXX", (int)(slash - r->path), r->path, slash + 1);
	if (slash[1] == '\0' || strlen(slash + 1) > NAME_MAX - 16) {
		free(r->tmp);
		r->tmp = NULL;
		send_err(s, fr->id, EINVAL, "put needs a file name that is not a directory and is short");
		req_free(s, r);
		return;
	}
	r->fd = mkostemp(r->tmp, O_CLOEXEC);
	if (r->fd < 0) {
		int e = errno;
		free(r->tmp);
		r->tmp = NULL;
		char msg[AGENT_TEXT_MAX + 1];
		snprintf(msg, sizeof(msg), "cannot create a file next to %s: %s", fr->f[0].s, strerror(e));
		send_err(s, fr->id, e, msg);
		req_free(s, r);
		return;
	}
	if (fchmod(r->fd, (mode_t)fr->f[1].n) < 0) {
		send_err(s, fr->id, errno, "cannot set the file's mode");
		req_free(s, r);
		return;
	}
	r->done = 0;
	if (r->size == 0)
		put_finish(s, r);
}

static void put_data(struct sess *s, struct agent_frame *fr, struct req *r)
{
	size_t n = fr->f[0].len;
	char msg[AGENT_TEXT_MAX + 1];
	if (n > r->size - r->done) {
		fatal(s, EPROTO, "put data runs past the announced size");
		return;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(r->fd, fr->f[0].s + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			snprintf(msg, sizeof(msg), "cannot write %s: %s", r->path, strerror(e));
			send_err(s, r->id, e, msg);
			req_free(s, r);
			return;
		}
		off += (size_t)w;
	}
	r->done += n;
	send_num(s, AV_ACK, r->id, n);
	if (r->done == r->size)
		put_finish(s, r);
}

static void do_get(struct sess *s, struct agent_frame *fr)
{
	char msg[AGENT_TEXT_MAX + 1];
	struct stat st;
	struct req *r = req_new(s, fr->id, REQ_GET);
	if (!r) {
		send_err(s, fr->id, EAGAIN, "too many requests in flight");
		return;
	}
	r->path = agent_path(s->o, fr->f[0].s);
	r->fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (r->fd < 0 || fstat(r->fd, &st) < 0) {
		int e = errno;
		snprintf(msg, sizeof(msg), "cannot open %s: %s", fr->f[0].s, strerror(e));
		send_err(s, fr->id, e, msg);
		req_free(s, r);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, sizeof(msg), "%s is not a regular file", fr->f[0].s);
		send_err(s, fr->id, EINVAL, msg);
		req_free(s, r);
		return;
	}
	if ((uint64_t)st.st_size > fr->f[1].n) {
		snprintf(msg, sizeof(msg), "%s is %llu bytes, more than the %llu asked for", fr->f[0].s,
			 (unsigned long long)st.st_size, (unsigned long long)fr->f[1].n);
		send_err(s, fr->id, EFBIG, msg);
		req_free(s, r);
		return;
	}
	r->size = (uint64_t)st.st_size; /* a file that grows meanwhile is cut here */
	r->done = 0;
}

/* One chunk of a get; the ok (with the byte count) after the last. */
static void get_step(struct sess *s, struct req *r)
{
	static char buf[AGENT_DATA_MAX];
	size_t want = r->size - r->done < sizeof(buf) ? (size_t)(r->size - r->done) : sizeof(buf);
	ssize_t n = 0;
	if (want > 0) {
		do
			n = read(r->fd, buf, want);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			char msg[AGENT_TEXT_MAX + 1];
			snprintf(msg, sizeof(msg), "cannot read %s: %s", r->path, strerror(errno));
			send_err(s, r->id, errno, msg);
			req_free(s, r);
			return;
		}
	}
	if (n > 0) {
		size_t b = agent_frame_begin(&s->out, AV_DATA, r->id);
		agent_put_data(&s->out, buf, (size_t)n);
		(void)agent_frame_end(&s->out, b);
		r->done += (uint64_t)n;
	}
	if (n == 0 || r->done == r->size) { /* shrank meanwhile, or all sent */
		char total[24];
		snprintf(total, sizeof(total), "%llu", (unsigned long long)r->done);
		send_ok(s, r->id, total);
		req_free(s, r);
	}
}

/* ---- dispatch ---- */

static void do_sync(struct sess *s, struct agent_frame *fr)
{
	struct berr err = { 0 };
	_cleanup_free_ char *pub = NULL;
	int r = 0;
	switch (fr->v->verb) {
	case AV_IDENT:
		r = agent_sys_ident(s->o, fr, &err);
		break;
	case AV_HOSTKEY:
		r = agent_sys_hostkey(s->o, &pub, &err);
		break;
	case AV_CLOCK:
		r = agent_sys_clock(s->o, fr->f[0].n, fr->f[1].n, &err);
		break;
	case AV_RNG:
		r = agent_sys_rng(s->o, fr->f[0].s, fr->f[0].len, &err);
		break;
	case AV_SHUTDOWN:
		r = agent_sys_shutdown_check(s->o, &err);
		if (r == 0)
			s->shutdown = 1 + (strcmp(fr->f[0].s, "reboot") == 0) + 2 * (fr->nf == 2);
		break;
	default:
		r = berr_set(&err, EPROTO, "internal: %s is not a synchronous operation", fr->v->name);
	}
	if (r < 0)
		send_err(s, fr->id, err.code, err.msg);
	else
		send_ok(s, fr->id, pub);
}

static void handle(struct sess *s, char *line, size_t len)
{
	struct agent_frame *fr = s->fr;
	struct berr err = { 0 };
	char msg[AGENT_TEXT_MAX + 1];

	if (s->o->verbose)
		agent_log("< %.60s%s", line, len > 60 ? "..." : "");
	if (agent_frame_decode(line, len, fr, &err) < 0) {
		if (!s->hello) {
			if (!s->complained)
				send_err(s, 0, EPROTO, err.msg);
			s->complained = true;
			return;
		}
		fatal(s, EPROTO, err.msg);
		return;
	}
	if (fr->v->verb == AV_HELLO) {
		if (fr->f[0].n != AGENT_PROTO_VERSION) {
			snprintf(msg, sizeof(msg), "the agent speaks protocol %d, not %llu",
				 AGENT_PROTO_VERSION, (unsigned long long)fr->f[0].n);
			send_err(s, 0, EPROTONOSUPPORT, msg);
			return;
		}
		reset(s); /* a new host session: whatever the last one left goes */
		s->hello = true;
		size_t b = agent_frame_begin(&s->out, AV_HELLO, 0);
		agent_put_num(&s->out, AGENT_PROTO_VERSION);
		agent_put_str(&s->out, fr->f[1].s, fr->f[1].len);
		agent_put_cstr(&s->out, AGENT_VERSION_STRING " " AGENT_FEATURES);
		(void)agent_frame_end(&s->out, b);
		return;
	}
	if (!s->hello) {
		if (!s->complained)
			send_err(s, 0, EPROTO, "expected hello first");
		s->complained = true;
		return;
	}
	struct req **slot = req_slot(s, fr->id);
	struct req *r = slot ? *slot : NULL;
	switch (fr->v->verb) {
	case AV_PING:
	case AV_EXEC:
	case AV_PUT:
	case AV_GET:
	case AV_IDENT:
	case AV_HOSTKEY:
	case AV_CLOCK:
	case AV_RNG:
	case AV_SHUTDOWN:
		if (r) {
			snprintf(msg, sizeof(msg), "request id %u is already in use", (unsigned)fr->id);
			fatal(s, EPROTO, msg);
			return;
		}
		break;
	case AV_IN:
	case AV_EOF:
	case AV_KILL:
	case AV_DATA:
		/* May race with the request's end: an unknown id is dropped. */
		if (!r)
			return;
		if ((fr->v->verb == AV_DATA) != (r->kind == REQ_PUT) ||
		    (fr->v->verb != AV_DATA && r->kind != REQ_EXEC)) {
			snprintf(msg, sizeof(msg), "%s does not apply to request %u", fr->v->name,
				 (unsigned)fr->id);
			fatal(s, EPROTO, msg);
			return;
		}
		break;
	default:
		snprintf(msg, sizeof(msg), "%s is not something the host sends", fr->v->name);
		fatal(s, EPROTO, msg);
		return;
	}
	switch (fr->v->verb) {
	case AV_PING: {
		struct timespec ts;
		char up[24];
		clock_gettime(CLOCK_BOOTTIME, &ts);
		snprintf(up, sizeof(up), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		send_ok(s, fr->id, up);
		break;
	}
	case AV_EXEC:
		do_exec(s, fr);
		break;
	case AV_IN:
	case AV_EOF:
		do_in(s, fr, r);
		break;
	case AV_KILL:
		if (!r->exited)
			kill(-r->pid, (int)fr->f[0].n);
		break;
	case AV_PUT:
		do_put(s, fr);
		break;
	case AV_DATA:
		put_data(s, fr, r);
		break;
	case AV_GET:
		do_get(s, fr);
		break;
	default:
		do_sync(s, fr);
		break;
	}
}

/* ---- the loop ---- */

bool agent_vport_connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
}

static void conn_read(struct sess *s)
{
	size_t room;
	char *p = agent_lines_space(&s->in, &room);
	ssize_t n;
	do
		n = read(s->fd, p, room);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 && s->kind == AGENT_CONN_VPORT) {
		/* The host left the port (read() says 0 while none is there).
		 * Not the end yet: the guest learns of a disconnect and a new
		 * connection (control messages) after the new host's first
		 * bytes may already have been read here, so the session lives
		 * on; a new hello resets it, and a host gone for
		 * AWAY_GRACE_MS ends it. */
		if (!s->away) {
			s->away = true;
			s->away_since = now_mono();
		}
		return;
	}
	if (n <= 0) {
		s->gone = true; /* socket EOF */
		return;
	}
	agent_lines_commit(&s->in, (size_t)n);
	char *line;
	size_t len;
	int r;
	while (!s->closing && (r = agent_lines_next(&s->in, &line, &len)) != 0) {
		if (r == 1) {
			handle(s, line, len);
		} else if (s->hello) {
			char msg[80];
			snprintf(msg, sizeof(msg), "line longer than %d bytes", AGENT_LINE_MAX - 1);
			fatal(s, E2BIG, msg);
		}
	}
}

static void conn_write(struct sess *s)
{
	while (out_pending(s) > 0) {
		ssize_t n = write(s->fd, s->out.buf + s->out_off, out_pending(s));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (s->o->verbose)
				agent_log("write to the host: %s", n < 0 ? strerror(errno) : "0 bytes");
			s->gone = true;
			return;
		}
		if (s->o->verbose)
			agent_log("> %zd bytes", n);
		s->out_off += (size_t)n;
	}
	if (s->out_off == s->out.len) {
		s->out.len = s->out_off = 0;
	} else if (s->out_off > OUT_HIGH) {
		memmove(s->out.buf, s->out.buf + s->out_off, out_pending(s));
		s->out.len -= s->out_off;
		s->out_off = 0;
	}
}

/* After a shutdown was acknowledged: get the ok out (bounded), then act. */
static void shutdown_now(struct sess *s)
{
	int64_t end = now_mono() + 2000;
	while (out_pending(s) > 0 && !s->gone && now_mono() < end) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };
		if (poll(&p, 1, 100) > 0)
			conn_write(s);
	}
	agent_log("shutdown (%s%s) requested by the host", (s->shutdown - 1) & 1 ? "reboot" : "poweroff",
		  (s->shutdown - 1) & 2 ? ", forced" : "");
	agent_sys_shutdown((s->shutdown - 1) & 1, (s->shutdown - 1) & 2);
	s->shutdown = 0;
}

void agent_session_run(int fd, enum agent_conn kind, const struct agent_opts *o)
{
	struct sess s = { .fd = fd, .kind = kind, .o = o };
	struct pollfd pf[1 + 4 * AGENT_REQS_MAX];
	struct req *who[1 + 4 * AGENT_REQS_MAX];
	int what[1 + 4 * AGENT_REQS_MAX];

	sigset_t unblock_io; /* ppoll's mask on a port: SIGIO wakes it */
	sigprocmask(SIG_SETMASK, NULL, &unblock_io);
	sigdelset(&unblock_io, SIGIO);
	agent_lines_init(&s.in);
	sbuf_init(&s.out);
	s.fr = xmalloc(sizeof(*s.fr));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	while (!s.gone && !(s.closing && out_pending(&s) == 0)) {
		if (s.shutdown)
			shutdown_now(&s);
		bool room = out_pending(&s) < OUT_HIGH;
		int timeout = -1;
		int64_t now = now_mono();
		nfds_t n = 0;

		if (s.away) {
			int64_t left = s.away_since + AWAY_GRACE_MS - now;
			if (left <= 0) {
				s.gone = true;
				break;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		/* while away the port only says POLLHUP: SIGIO tells of a return */
		pf[n] = (struct pollfd){ .fd = s.away ? -1 : fd,
					 .events = (short)((s.closing ? 0 : POLLIN) |
							   (out_pending(&s) ? POLLOUT : 0)) };
		who[n] = NULL;
		what[n++] = 0;
		for (size_t i = 0; i < AGENT_REQS_MAX; i++) {
			struct req *r = s.reqs[i];
			if (!r)
				continue;
			if (r->kind == REQ_GET) {
				if (room)
					timeout = 0;
				continue;
			}
			if (r->kind != REQ_EXEC)
				continue;
			if (r->in_fd >= 0 && r->inq_off < r->inq.len) {
				pf[n] = (struct pollfd){ .fd = r->in_fd, .events = POLLOUT };
				who[n] = r;
				what[n++] = 1;
			}
			for (int k = 0; k < 2; k++) {
				if (r->out_fd[k] < 0)
					continue;
				if (r->exited) {
					int64_t left = r->quiet_since[k] + DRAIN_IDLE_MS - now;
					if (left <= 0) {
						closefd(&r->out_fd[k]);
						continue;
					}
					if (timeout < 0 || left < timeout)
						timeout = (int)left;
				}
				if (room) {
					pf[n] = (struct pollfd){ .fd = r->out_fd[k], .events = POLLIN };
					who[n] = r;
					what[n++] = 2 + k;
				}
			}
			if (r->pidfd >= 0) {
				pf[n] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
				who[n] = r;
				what[n++] = 4;
			}
			if (r->exited && r->out_fd[0] < 0 && r->out_fd[1] < 0)
				timeout = 0;
		}
		struct timespec ts = { .tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000 };
		int pr = ppoll(pf, n, timeout < 0 ? NULL : &ts, kind == AGENT_CONN_VPORT ? &unblock_io : NULL);
		if (pr < 0 && errno != EINTR) {
			agent_log("poll: %s", strerror(errno));
			break;
		}
		if (s.away && agent_vport_connected(fd))
			s.away = false;
		if (pr > 0) {
			if (pf[0].revents & POLLOUT)
				conn_write(&s);
			unsigned gen = s.gen;
			if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(&s);
			/* A frame may have ended commands (hello, a protocol
			 * error): their events wait for the next poll. */
			for (nfds_t i = 1; i < n && gen == s.gen; i++) {
				struct req *r = who[i];
				if (!pf[i].revents)
					continue;
				if (what[i] == 1)
					stdin_flush(&s, r);
				else if (what[i] == 4)
					reap(r);
				else if (r->out_fd[what[i] - 2] >= 0)
					output_read(&s, r, what[i] - 2);
			}
		}
		for (size_t i = 0; i < AGENT_REQS_MAX; i++) {
			struct req *r = s.reqs[i];
			if (r && r->kind == REQ_EXEC)
				exec_maybe_done(&s, r);
			else if (r && r->kind == REQ_GET && out_pending(&s) < OUT_HIGH)
				get_step(&s, r);
		}
		if (out_pending(&s) && !s.gone)
			conn_write(&s);
	}
	reset(&s);
	agent_lines_free(&s.in);
	sbuf_free(&s.out);
	free(s.fr);
}
