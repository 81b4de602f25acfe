/* core/vmexec.c: see vmexec.h.
 *
 * An exec is reference-counted (the list, its waiter thread, every call in
 * progress); its agent request and its hold on the VM's connection are
 * freed with it, so a stdin write never races with the command's end.  The
 * waiter waits in one-second slices, so closing the daemon ends it within a
 * second whatever the guest does. */
#define _GNU_SOURCE
#include "vmexec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "log.h"
#include "vmagent.h"

#define START_MS 30000       /* the agent starts the command */
#define STDIN_MS 300000      /* a stdin write waits for the command to read */
#define WAIT_SLICE_MS 1000
#define CLOSE_WAIT_MS 5000

enum xstate { XS_NEW, XS_RUNNING, XS_EXITED, XS_FAILED };
static const char *const xstate_names[] = { "new", "running", "exited", "failed" };

struct xo {
	struct vmexec *x;
	int64_t id;
	char name[EXEC_NAME_MAX];
	char *dir;
	pthread_mutex_t in_lock;        /* one stdin write or eof at a time */
	/* under x->lock: */
	enum xstate st;
	bool starting, removed, eof_sent, stdin_pipe;
	int refs;
	struct sbuf parts[2];           /* argv, env: NUL-terminated entries */
	char *cwd;
	char vm[64];
	pid_t pid;
	int status;
	char err[BERR_MSG_MAX];
	int fd[3];                      /* [1] stdout, [2] stderr spool files */
	uint64_t len[3];
	bool dropped[3];
	struct vmagent_ref *ref;
	struct agent_exec *ax;
	struct xo *next;
};

struct vmexec {
	struct vmexec_conf c;
	pthread_mutex_t lock;
	pthread_cond_t cv;              /* waiters ending */
	struct xo *list;
	size_t n;
	int64_t next_id;
	int waiters;
	bool closing;
};

int vmexec_new(const struct vmexec_conf *c, struct vmexec **ret, struct berr *err)
{
	rm_rf(c->dir);
	int r = mkdir_p(c->dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create %s: %s", c->dir, strerror(-r));
	struct vmexec *x = xcalloc(1, sizeof(*x));
	x->c = *c;
	x->c.dir = xstrdup(c->dir);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cv, NULL);
	*ret = x;
	return 0;
}

static void changed(struct vmexec *x)
{
	if (x->c.changed)
		x->c.changed(x->c.ctx);
}

static void xo_free(struct xo *o)
{
	if (!o)
		return;
	if (o->ax)
		agent_exec_free(o->ax); /* kills it if it still runs */
	vmagent_release(o->ref);
	for (int i = 1; i <= 2; i++)
		if (o->fd[i] >= 0)
			close(o->fd[i]);
	sbuf_free(&o->parts[0]);
	sbuf_free(&o->parts[1]);
	pthread_mutex_destroy(&o->in_lock);
	free(o->cwd);
	free(o->dir);
	free(o);
}

/* x->lock held; the caller frees what is returned after unlocking. */
static struct xo *put_locked(struct xo *o)
{
	return --o->refs == 0 ? o : NULL;
}

static void put(struct xo *o)
{
	struct vmexec *x = o->x;
	pthread_mutex_lock(&x->lock);
	struct xo *f = put_locked(o);
	pthread_mutex_unlock(&x->lock);
	xo_free(f);
}

static struct xo *find_locked(struct vmexec *x, int64_t id)
{
	for (struct xo *o = x->list; o; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

/* The exec with a reference taken, or NULL. */
static struct xo *get(struct vmexec *x, int64_t id, struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o)
		o->refs++;
	pthread_mutex_unlock(&x->lock);
	if (!o)
		berr_set(err, ENOENT, "no such exec");
	return o;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= EXEC_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

int vmexec_create(struct vmexec *x, const char *name, int64_t *ret_id, struct berr *err)
{
	if (!name_ok(name))
		return berr_set(err, EINVAL, "exec name '%.64s' must be 1-63 of a-z, 0-9 and '-' (not "
				"first or last)", name);
	pthread_mutex_lock(&x->lock);
	for (struct xo *o = x->list; o; o = o->next)
		if (strcmp(o->name, name) == 0) {
			pthread_mutex_unlock(&x->lock);
			return berr_set(err, EEXIST, "exec '%s' exists already", name);
		}
	if (x->n >= EXEC_MAX || x->closing) {
		pthread_mutex_unlock(&x->lock);
		return berr_set(err, ENOSPC, "too many execs (limit %d); rmdir finished ones", EXEC_MAX);
	}
	struct xo *o = xcalloc(1, sizeof(*o));
	o->x = x;
	o->id = ++x->next_id;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->dir = path_join(x->c.dir, name);
	o->fd[0] = o->fd[1] = o->fd[2] = -1;
	o->refs = 1;
	sbuf_init(&o->parts[0]);
	sbuf_init(&o->parts[1]);
	pthread_mutex_init(&o->in_lock, NULL);
	o->next = x->list;
	x->list = o;
	x->n++;
	pthread_mutex_unlock(&x->lock);
	*ret_id = o->id;
	return 0;
}

int vmexec_remove(struct vmexec *x, const char *name, struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = NULL;
	for (struct xo **pp = &x->list; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			o = *pp;
			*pp = o->next;
			x->n--;
			break;
		}
	if (!o) {
		pthread_mutex_unlock(&x->lock);
		return berr_set(err, ENOENT, "no exec named '%.64s'", name);
	}
	o->removed = true;
	struct agent_exec *ax = o->st == XS_RUNNING ? o->ax : NULL;
	if (ax)
		o->refs++; /* for the kill below */
	pthread_mutex_unlock(&x->lock);
	if (ax) {
		struct berr e = { 0 };
		agent_exec_kill(ax, SIGKILL, &e);
		put(o);
	}
	rm_rf(o->dir);
	put(o); /* the list's */
	changed(x);
	return 0;
}

void vmexec_list(struct vmexec *x, struct vmexec_ent **ret, size_t *ret_n)
{
	pthread_mutex_lock(&x->lock);
	struct vmexec_ent *a = xcalloc(x->n ? x->n : 1, sizeof(*a));
	size_t n = 0;
	for (struct xo *o = x->list; o && n < x->n; o = o->next) {
		a[n].id = o->id;
		snprintf(a[n].name, sizeof(a[n].name), "%s", o->name);
		n++;
	}
	pthread_mutex_unlock(&x->lock);
	*ret = a;
	*ret_n = n;
}

int vmexec_lookup(struct vmexec *x, const char *name, int64_t *ret_id)
{
	int r = -ENOENT;
	pthread_mutex_lock(&x->lock);
	for (struct xo *o = x->list; o; o = o->next)
		if (strcmp(o->name, name) == 0) {
			*ret_id = o->id;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&x->lock);
	return r;
}

bool vmexec_exists(struct vmexec *x, int64_t id)
{
	pthread_mutex_lock(&x->lock);
	bool yes = find_locked(x, id) != NULL;
	pthread_mutex_unlock(&x->lock);
	return yes;
}

void vmexec_set_err(struct vmexec *x, int64_t id, const struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o)
		snprintf(o->err, sizeof(o->err), "%s", err->msg);
	pthread_mutex_unlock(&x->lock);
}

/* ---- before run ------------------------------------------------------------ */

int vmexec_append(struct vmexec *x, int64_t id, enum exec_part part, const char *data, size_t len,
		  struct berr *err)
{
	int r = 0;
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (!o)
		r = berr_set(err, ENOENT, "no such exec");
	else if (o->st != XS_NEW || o->starting)
		r = berr_set(err, EBUSY, "exec %s has run already; make another", o->name);
	else if (o->parts[0].len + o->parts[1].len + len > EXEC_ARGS_MAX)
		r = berr_set(err, E2BIG, "arguments and environment of exec %s are over %d bytes",
			     o->name, EXEC_ARGS_MAX);
	else
		sbuf_add(&o->parts[part], data, len);
	pthread_mutex_unlock(&x->lock);
	return r;
}

int vmexec_set_cwd(struct vmexec *x, int64_t id, const char *data, size_t len, struct berr *err)
{
	while (len && data[len - 1] == '\n')
		len--;
	if (len == 0 || len > 4095 || data[0] != '/' || memchr(data, 0, len) || memchr(data, '\n', len))
		return berr_set(err, EINVAL, "cwd must be one absolute guest path");
	int r = 0;
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (!o)
		r = berr_set(err, ENOENT, "no such exec");
	else if (o->st != XS_NEW || o->starting)
		r = berr_set(err, EBUSY, "exec %s has run already; make another", o->name);
	else {
		free(o->cwd);
		o->cwd = xasprintf("%.*s", (int)len, data);
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}

/* NUL-terminated entries -> a NULL-terminated vector pointing into s. */
static const char **split(struct sbuf *s, size_t *ret_n, struct berr *err, const char *what)
{
	size_t n = 0;
	for (size_t i = 0; i < s->len; i++)
		n += s->buf[i] == 0;
	if (s->len && s->buf[s->len - 1] != 0) {
		berr_set(err, EINVAL, "the %s file must end with a NUL byte (printf '%%s\\0' ...)", what);
		return NULL;
	}
	const char **v = xcalloc(n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < s->len; i += strlen(s->buf + i) + 1)
		v[k++] = s->buf + i;
	*ret_n = n;
	return v;
}

/* ---- running ------------------------------------------------------------- */

static void on_output(void *ctx, int stream, const void *data, size_t len)
{
	struct xo *o = ctx;
	struct vmexec *x = o->x;
	if (stream != 1 && stream != 2)
		return;
	pthread_mutex_lock(&x->lock);
	/* The spool file comes with the first output (most commands of a
	 * round trip have none). */
	if (o->fd[stream] < 0 && !o->dropped[stream] && !o->removed) {
		_cleanup_free_ char *p = path_join(o->dir, stream == 1 ? "stdout" : "stderr");
		if (mkdir(o->dir, 0700) < 0 && errno != EEXIST)
			o->dropped[stream] = true;
		else
			o->fd[stream] = open(p, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (o->fd[stream] < 0 && !o->dropped[stream]) {
			o->dropped[stream] = true;
			snprintf(o->err, sizeof(o->err), "cannot create %s: %s", p, strerror(errno));
		}
	}
	if (o->fd[stream] < 0) {
		pthread_mutex_unlock(&x->lock);
		return;
	}
	if (o->len[stream] + len > EXEC_SPOOL_MAX) {
		o->dropped[stream] = true;
		len = o->len[stream] < EXEC_SPOOL_MAX ? (size_t)(EXEC_SPOOL_MAX - o->len[stream]) : 0;
	}
	while (len > 0) {
		ssize_t w = write(o->fd[stream], data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->dropped[stream] = true;
			break;
		}
		o->len[stream] += (uint64_t)w;
		data = (const char *)data + w;
		len -= (size_t)w;
	}
	pthread_mutex_unlock(&x->lock);
	changed(x);
}

static void *waiter_main(void *arg)
{
	struct xo *o = arg;
	struct vmexec *x = o->x;
	struct berr e = { 0 };
	int status = 0, r;
	for (;;) {
		berr_clear(&e);
		r = agent_exec_wait(o->ax, WAIT_SLICE_MS, &status, &e);
		if (r != -ETIMEDOUT || !strstr(e.msg, "did not end"))
			break;
		pthread_mutex_lock(&x->lock);
		bool stop = x->closing;
		pthread_mutex_unlock(&x->lock);
		if (stop) {
			r = berr_set(&e, ECANCELED, "the daemon stopped");
			break;
		}
	}
	pthread_mutex_lock(&x->lock);
	if (r == 0) {
		o->st = XS_EXITED;
		o->status = status;
	} else {
		o->st = XS_FAILED;
		snprintf(o->err, sizeof(o->err), "%s", e.msg);
	}
	for (int i = 1; i <= 2; i++)
		if (o->dropped[i] && o->fd[i] >= 0 && !o->err[0])
			snprintf(o->err, sizeof(o->err), "%s went over %llu bytes: the rest was dropped",
				 i == 1 ? "stdout" : "stderr", (unsigned long long)EXEC_SPOOL_MAX);
	struct xo *f = put_locked(o);
	x->waiters--;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->lock);
	changed(x);
	xo_free(f);
	return NULL;
}

int vmexec_run(struct vmexec *x, int64_t id, int64_t vm_id, const char *vm, bool stdin_pipe,
	       struct berr *err)
{
	struct xo *o = get(x, id, err);
	if (!o)
		return -ENOENT;
	int r = 0;
	pthread_mutex_lock(&x->lock);
	if (o->st != XS_NEW || o->starting)
		r = berr_set(err, EBUSY, "exec %s has run already; make another", o->name);
	else if (!o->parts[EXEC_ARGV].len)
		r = berr_set(err, EINVAL, "exec %s has no arguments: write them to its argv file "
			     "first (printf '%%s\\0' ARG...)", o->name);
	else
		o->starting = true;
	pthread_mutex_unlock(&x->lock);
	if (r < 0) {
		put(o);
		return r;
	}

	struct vmagent_ref *ref = NULL;
	struct agent *a = NULL;
	struct agent_exec *ax = NULL;
	const char **argv = NULL, **env = NULL;
	size_t na = 0, ne = 0;
	r = vmagent_hold(x->c.ag, vm_id, &ref, &a, err);
	if (r < 0)
		berr_wrap(err, "vm '%s'", vm);
	/* The parts are frozen while starting: read without the lock. */
	if (r == 0 && !(argv = split(&o->parts[EXEC_ARGV], &na, err, "argv")))
		r = -EINVAL;
	if (r == 0 && !(env = split(&o->parts[EXEC_ENV], &ne, err, "env")))
		r = -EINVAL;
	if (r == 0 && (!argv[0] || !argv[0][0]))
		r = berr_set(err, EINVAL, "the first argument (the program) is empty");
	if (r == 0) {
		struct agent_exec_spec spec = { .argv = argv, .env = ne ? env : NULL, .cwd = o->cwd,
						.stdin_pipe = stdin_pipe, .on_output = on_output,
						.ctx = o };
		r = agent_exec_start(a, &spec, START_MS, &ax, err);
		/* The guest's agent went and came back (a restart, a session
		 * the guest forgot): once more on a new connection. */
		if (r < 0 && agent_broken(a, NULL)) {
			vmagent_release(TAKE_PTR(ref));
			struct berr e2 = { 0 };
			if (vmagent_hold(x->c.ag, vm_id, &ref, &a, &e2) == 0) {
				berr_clear(err);
				r = agent_exec_start(a, &spec, START_MS, &ax, err);
			}
		}
	}
	free(argv);
	free(env);

	pthread_mutex_lock(&x->lock);
	o->starting = false;
	if (r == 0) {
		o->st = XS_RUNNING;
		o->ax = ax;
		o->ref = TAKE_PTR(ref);
		o->pid = agent_exec_pid(ax);
		o->stdin_pipe = stdin_pipe;
		o->err[0] = 0;
		snprintf(o->vm, sizeof(o->vm), "%s", vm);
		o->refs++; /* the waiter's */
		x->waiters++;
		if (o->removed) /* rmdir raced with the start */
			agent_exec_kill(ax, SIGKILL, NULL);
	}
	pthread_mutex_unlock(&x->lock);
	vmagent_release(ref);
	if (r < 0) {
		put(o);
		return r;
	}
	pthread_t t;
	pthread_attr_t at;
	sigset_t all, old;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int pr = pthread_create(&t, &at, waiter_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (pr != 0) /* wait here instead: slow, but right */
		waiter_main(o);
	changed(x);
	put(o);
	return 0;
}

/* The running command's request with a reference on o, or an error. */
static struct agent_exec *running(struct xo *o, bool need_stdin, struct berr *err)
{
	struct vmexec *x = o->x;
	struct agent_exec *ax = NULL;
	pthread_mutex_lock(&x->lock);
	if (o->st != XS_RUNNING)
		berr_set(err, o->st == XS_NEW ? EAGAIN : EPIPE, "exec %s is %s", o->name,
			 xstate_names[o->st]);
	else if (need_stdin && !o->stdin_pipe)
		berr_set(err, EPIPE, "exec %s was run without stdin ('run VM stdin' gives it one)",
			 o->name);
	else if (need_stdin && o->eof_sent)
		berr_set(err, EPIPE, "exec %s: its stdin is closed", o->name);
	else
		ax = o->ax;
	pthread_mutex_unlock(&x->lock);
	return ax;
}

int vmexec_stdin(struct vmexec *x, int64_t id, const char *data, size_t len, struct berr *err)
{
	struct xo *o = get(x, id, err);
	if (!o)
		return -ENOENT;
	int r;
	pthread_mutex_lock(&o->in_lock);
	struct agent_exec *ax = running(o, true, err);
	r = ax ? agent_exec_stdin(ax, data, len, STDIN_MS, err) : -err->code;
	pthread_mutex_unlock(&o->in_lock);
	put(o);
	return r;
}

int vmexec_eof(struct vmexec *x, int64_t id, struct berr *err)
{
	struct xo *o = get(x, id, err);
	if (!o)
		return -ENOENT;
	int r;
	pthread_mutex_lock(&o->in_lock);
	struct agent_exec *ax = running(o, true, err);
	r = ax ? agent_exec_stdin_close(ax, err) : -err->code;
	if (r == 0) {
		pthread_mutex_lock(&x->lock);
		o->eof_sent = true;
		pthread_mutex_unlock(&x->lock);
	}
	pthread_mutex_unlock(&o->in_lock);
	put(o);
	return r;
}

int vmexec_kill(struct vmexec *x, int64_t id, int sig, struct berr *err)
{
	struct xo *o = get(x, id, err);
	if (!o)
		return -ENOENT;
	struct agent_exec *ax = running(o, false, err);
	int r = ax ? agent_exec_kill(ax, sig, err) : -err->code;
	put(o);
	return r;
}

/* ---- reads ------------------------------------------------------------- */

ssize_t vmexec_stream(struct vmexec *x, int64_t id, enum exec_stream s, off_t off, char *buf,
		      size_t len, bool *live)
{
	ssize_t n = 0;
	*live = false;
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (!o) {
		pthread_mutex_unlock(&x->lock);
		return -ENOENT;
	}
	bool going = o->st == XS_NEW || o->st == XS_RUNNING;
	if (s == EXEC_STATUS) {
		char line[32] = "";
		if (o->st == XS_EXITED)
			snprintf(line, sizeof(line), "%d\n", o->status);
		else if (o->st == XS_FAILED)
			snprintf(line, sizeof(line), "error\n");
		size_t l = strlen(line);
		if ((size_t)off < l) {
			n = (ssize_t)(l - (size_t)off < len ? l - (size_t)off : len);
			memcpy(buf, line + off, (size_t)n);
		}
	} else if ((uint64_t)off < o->len[s] && o->fd[s] >= 0) {
		size_t want = o->len[s] - (uint64_t)off < len ? (size_t)(o->len[s] - (uint64_t)off) : len;
		n = pread(o->fd[s], buf, want, off);
		if (n < 0)
			n = -errno;
	}
	*live = going;
	pthread_mutex_unlock(&x->lock);
	return n;
}

int vmexec_render_state(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o) {
		sbuf_printf(out, "state %s\n", xstate_names[o->st]);
		sbuf_printf(out, "vm %s\n", o->vm[0] ? o->vm : "-");
		if (o->pid > 0)
			sbuf_printf(out, "pid %d\n", (int)o->pid);
		else
			sbuf_puts(out, "pid -\n");
		if (o->st == XS_EXITED)
			sbuf_printf(out, "status %d\n", o->status);
		else
			sbuf_puts(out, "status -\n");
		sbuf_printf(out, "stdout_bytes %llu\nstderr_bytes %llu\n", (unsigned long long)o->len[1],
			    (unsigned long long)o->len[2]);
	}
	pthread_mutex_unlock(&x->lock);
	return o ? 0 : berr_set(err, ENOENT, "no such exec");
}

int vmexec_render_part(struct vmexec *x, int64_t id, enum exec_part part, struct sbuf *out,
		       struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o && o->parts[part].len)
		sbuf_add(out, o->parts[part].buf, o->parts[part].len);
	pthread_mutex_unlock(&x->lock);
	return o ? 0 : berr_set(err, ENOENT, "no such exec");
}

int vmexec_render_cwd(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o)
		sbuf_printf(out, "%s\n", o->cwd ? o->cwd : "/root");
	pthread_mutex_unlock(&x->lock);
	return o ? 0 : berr_set(err, ENOENT, "no such exec");
}

int vmexec_render_err(struct vmexec *x, int64_t id, struct sbuf *out, struct berr *err)
{
	pthread_mutex_lock(&x->lock);
	struct xo *o = find_locked(x, id);
	if (o && o->err[0])
		sbuf_printf(out, "%s\n", o->err);
	pthread_mutex_unlock(&x->lock);
	return o ? 0 : berr_set(err, ENOENT, "no such exec");
}

void vmexec_free(struct vmexec *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->closing = true;
	for (struct xo *o = x->list; o; o = o->next)
		if (o->st == XS_RUNNING && o->ax)
			agent_exec_kill(o->ax, SIGKILL, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += CLOSE_WAIT_MS / 1000 + 1;
	while (x->waiters > 0)
		if (pthread_cond_timedwait(&x->cv, &x->lock, &ts) == ETIMEDOUT)
			break;
	bool stuck = x->waiters > 0;
	struct xo *all = x->list;
	x->list = NULL;
	pthread_mutex_unlock(&x->lock);
	while (all) {
		struct xo *o = all;
		all = o->next;
		put(o);
	}
	rm_rf(x->c.dir);
	if (stuck) {
		/* A waiter still in a call (a guest that does not answer): it
		 * and x stay; the process is exiting. */
		blog("execs: a command's waiter did not end within %d s", CLOSE_WAIT_MS / 1000);
		return;
	}
	pthread_cond_destroy(&x->cv);
	pthread_mutex_destroy(&x->lock);
	free((char *)x->c.dir);
	free(x);
}
