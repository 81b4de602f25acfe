/* core/vmagent.c: see vmagent.h.
 *
 * An entry per watched VM, reference-counted (the list, its watch thread,
 * every holder); its connection is a separate reference-counted object, so
 * a reconnect can replace it while earlier holders still finish their calls
 * on the old one.  The watch thread is detached: cancel only flags it and
 * wakes its sleeps; vmagent_free waits for the threads to end. */
#define _GNU_SOURCE
#include "vmagent.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent_proto.h"
#include "log.h"
#include "qmp.h"
#include "util.h"
#include "vmfiles.h"

#define WAIT_MS_DEFAULT (300 * 1000)
#define TRY_MS 2000           /* one connection attempt (handshake included) */
#define RETRY_MS 250          /* between attempts */
#define STEP_MS 30000         /* one identity or snapshot step in the guest */
/* Quiescing waits for the boot to settle (systemctl is-system-running
 * --wait), which on a slow TCG host can take longer than a step: the
 * guest's own bound, and the daemon's a little above it. */
#define QUIESCE_SETTLE_S "120"
#define QUIESCE_MS 150000
#define RECONNECT_MS 5000     /* a reconnect on hold */
#define QMP_MS 3000
#define SCRIPT_OUT_MAX 4096

const char *agent_state_name(enum agent_state s)
{
	switch (s) {
	case AGENT_WAITING: return "waiting";
	case AGENT_READY: return "ready";
	case AGENT_FAILED: return "failed";
	case AGENT_NONE: break;
	}
	return "-";
}

struct conn {
	struct agent *a;
	int refs;                 /* under ag->lock */
};

struct entry {
	struct vmagent *ag;
	int64_t id;
	char name[64];
	struct vmagent_chan ch;
	struct vmagent_identity ident;
	bool has_ident, do_prepare, reached;
	int64_t started;
	atomic_bool cancel;
	int efd;                  /* wakes the watch's sleeps on cancel */
	/* under ag->lock: */
	enum agent_state st;
	char why[BERR_MSG_MAX];
	struct conn *c;
	int refs;
	bool listed, reconnecting;
	bool busy;                /* connected, identity or prepare under way */
	unsigned gen;             /* chardev-change count (agent-N.sock) */
	struct entry *next;
};

struct vmagent_ref {
	struct entry *e;
	struct conn *c;
};

struct vmagent {
	struct vmagent_conf c;
	pthread_mutex_t lock;
	pthread_cond_t cv;        /* threads ending, reconnects ending */
	struct entry *list;
	int threads;
	bool closing;
};

int vmagent_new(const struct vmagent_conf *c, struct vmagent **ret, struct berr *err)
{
	(void)err;
	struct vmagent *ag = xcalloc(1, sizeof(*ag));
	ag->c = *c;
	if (ag->c.wait_ms <= 0)
		ag->c.wait_ms = WAIT_MS_DEFAULT;
	pthread_mutex_init(&ag->lock, NULL);
	pthread_cond_init(&ag->cv, NULL);
	*ret = ag;
	return 0;
}

/* ---- references (ag->lock held) ----------------------------------------- */

static void conn_put_locked(struct conn *c, struct conn **to_close)
{
	if (c && --c->refs == 0)
		*to_close = c;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	agent_close(c->a);
	free(c);
}

static void entry_put_locked(struct entry *e, struct entry **to_free)
{
	if (--e->refs == 0)
		*to_free = e;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	/* Its connection ref went with the last holder (entry_drop_conn). */
	if (e->efd >= 0)
		close(e->efd);
	free(e);
}

static struct entry *find_locked(struct vmagent *ag, int64_t id)
{
	for (struct entry *e = ag->list; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static void set_state(struct entry *e, enum agent_state st, const char *why)
{
	struct vmagent *ag = e->ag;
	pthread_mutex_lock(&ag->lock);
	e->st = st;
	if (st != AGENT_WAITING)
		e->busy = false;
	snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	pthread_mutex_unlock(&ag->lock);
	if (ag->c.changed)
		ag->c.changed(ag->c.ctx, e->id);
}

#define note(e, ...) vmf_note((e)->ag->c.state_dir, (e)->name, __VA_ARGS__)

/* Sleep ms unless cancelled; false when cancelled. */
static bool nap(struct entry *e, int ms)
{
	struct pollfd p = { .fd = e->efd, .events = POLLIN };
	if (atomic_load(&e->cancel))
		return false;
	poll(&p, 1, ms);
	return !atomic_load(&e->cancel);
}

/* ---- connecting ---------------------------------------------------------- */

static int connect_chan(const struct vmagent_chan *ch, int timeout_ms, struct agent **ret,
			struct berr *err)
{
	/* The reader thread agent_client starts inherits this mask: signals
	 * are for libfuse's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = ch->fc_vsock ? agent_connect_fc_vsock(ch->path, AGENT_VSOCK_PORT, timeout_ms, ret, err)
			     : agent_connect_unix(ch->path, timeout_ms, ret, err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* QEMU: point the agent chardev at a new socket (the old one may be
 * wedged on a client that left; docs/agent.md).  ch->path becomes it. */
static int chardev_change(struct entry *e, struct vmagent_chan *ch, struct berr *err)
{
	if (!ch->qmp[0] || ch->fc_vsock)
		return berr_set(err, ENOTSUP, "no QMP socket to move the agent's channel with");
	_cleanup_free_ char *copy = xstrdup(ch->path);
	char *dir = dirname(copy);
	unsigned gen;
	pthread_mutex_lock(&e->ag->lock);
	gen = ++e->gen;
	pthread_mutex_unlock(&e->ag->lock);
	_cleanup_free_ char *path = xasprintf("%s/agent-%u.sock", dir, gen);
	if (strlen(path) >= sizeof(ch->path))
		return berr_set(err, ENAMETOOLONG, "socket path %s is too long", path);
	unlink(path);
	json_t *args = json_pack("{s:s, s:{s:s, s:{s:{s:s, s:{s:s}}, s:b, s:b}}}", "id", "agent",
				 "backend", "type", "socket", "data", "addr", "type", "unix", "data",
				 "path", path, "server", 1, "wait", 0);
	int r = qmp_call(ch->qmp, QMP_MS, "chardev-change", args, NULL, err);
	json_decref(args);
	if (r < 0)
		return berr_wrap(err, "moving the agent's channel to %s", path);
	note(e, "agent: its channel moved to %s (QMP chardev-change)", path);
	snprintf(ch->path, sizeof(ch->path), "%s", path);
	return 0;
}

/* ---- scripts in the guest ---------------------------------------------- */

struct capture {
	struct sbuf out;
};

static void capture_out(void *ctx, int stream, const void *data, size_t len)
{
	struct capture *c = ctx;
	(void)stream;
	if (c->out.len + len > SCRIPT_OUT_MAX)
		len = c->out.len < SCRIPT_OUT_MAX ? SCRIPT_OUT_MAX - c->out.len : 0;
	sbuf_add(&c->out, data, len);
}

/* Run argv in / (stdin_text, may be NULL, as its stdin), waiting at most
 * wait_ms for it to end: 0 when it exits 0, else its last line of output
 * in err. */
static int run_cmd(struct agent *a, const char *what, const char *const *argv,
		   const char *stdin_text, int wait_ms, struct berr *err)
{
	struct capture c;
	sbuf_init(&c.out);
	struct agent_exec_spec spec = { .argv = argv, .cwd = "/", .stdin_pipe = stdin_text != NULL,
					.on_output = capture_out, .ctx = &c };
	struct agent_exec *x = NULL;
	int status = 0;
	int r = agent_exec_start(a, &spec, STEP_MS, &x, err);
	if (r == 0 && stdin_text)
		r = agent_exec_stdin(x, stdin_text, strlen(stdin_text), STEP_MS, err);
	if (r == 0 && stdin_text)
		r = agent_exec_stdin_close(x, err);
	if (r == 0)
		r = agent_exec_wait(x, wait_ms, &status, err);
	agent_exec_free(x);
	if (r == 0 && status != 0) {
		sbuf_add(&c.out, "", 1);
		char *s = c.out.buf ? c.out.buf : (char *)"";
		size_t l = strlen(s);
		while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
			s[--l] = 0;
		char *last = strrchr(s, '\n');
		r = berr_set(err, EIO, "%s failed (status %d)%s%.300s", what, status, l ? ": " : "",
			     last ? last + 1 : s);
	} else if (r < 0) {
		berr_wrap(err, "%s", what);
	}
	sbuf_free(&c.out);
	return r;
}

/* sh -c SCRIPT sh ARGS... (see run_cmd) */
static int run_script(struct agent *a, const char *what, const char *script,
		      const char *const *args, int wait_ms, struct berr *err)
{
	const char *argv[16] = { "/bin/sh", "-c", script, "sh" };
	size_t n = 4;
	for (size_t i = 0; args && args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return run_cmd(a, what, argv, NULL, wait_ms, err);
}

/* Wait for the boot to settle (systemd), flush, let go of /root, take eth0
 * down and out of systemd-networkd's hands (a restore sets its address
 * itself): the state every restore starts from. */
static const char quiesce_sh[] =
	"cd / || exit 1\n"
	"if command -v systemctl >/dev/null 2>&1; then timeout " QUIESCE_SETTLE_S " systemctl is-system-running "
	"--wait >/dev/null 2>&1; fi\n"
	"sync\n"
	"if grep -q ' /root ' /proc/mounts; then umount /root || exit 1; fi\n"
	"if [ -e /sys/class/net/eth0 ]; then\n"
	"  if [ -d /run/systemd/netif ] && command -v networkctl >/dev/null 2>&1; then\n"
	"    mkdir -p /run/systemd/network &&\n"
	"    printf '[Match]\\nName=eth0\\n\\n[Link]\\nUnmanaged=yes\\n' "
	">/run/systemd/network/10-banger-eth0.network && networkctl reload || exit 1\n"
	"  fi\n"
	"  ip link set eth0 down || exit 1\n"
	"fi\n"
	"sync\n";

/* The VM the snapshot was made of goes on as it was. */
static const char thaw_sh[] =
	"cd / || exit 1\n"
	"if [ -b /dev/vdb ] && ! grep -q ' /root ' /proc/mounts; then mount /root || exit 1; fi\n"
	"if [ -e /sys/class/net/eth0 ]; then\n"
	"  if [ -e /run/systemd/network/10-banger-eth0.network ]; then\n"
	"    rm -f /run/systemd/network/10-banger-eth0.network && networkctl reload || exit 1\n"
	"  fi\n"
	"  ip link set eth0 up || exit 1\n"
	"fi\n";

int vmagent_guest_quiesce(struct agent *a, struct berr *err)
{
	return run_script(a, "quiescing the guest", quiesce_sh, NULL, QUIESCE_MS, err);
}

int vmagent_guest_thaw(struct agent *a, struct berr *err)
{
	return run_script(a, "bringing the guest back", thaw_sh, NULL, STEP_MS, err);
}

/* A restored guest becomes itself in four jobs at once (every step waits
 * on the guest): entropy then the host key (made in the agent), pinned
 * before the network comes up; the MAC; the clock and the names; the work
 * disk.  Then the network.  None runs a program in the guest (an agent
 * older than ident's mac and mount keys: see job_mac, job_disk). */
struct idjob {
	struct entry *e;
	struct agent *a;
	int (*fn)(struct idjob *j);
	struct berr err;
	int r;
	int64_t ms;
	pthread_t t;
	bool threaded;
};

static int job_key(struct idjob *j)
{
	struct vmagent *ag = j->e->ag;
	char *key = NULL;
	int r = agent_reseed_rng(j->a, STEP_MS, &j->err);
	if (r < 0)
		return berr_wrap(&j->err, "reseeding the guest's RNG");
	r = agent_new_hostkey(j->a, STEP_MS, &key, &j->err);
	if (r < 0)
		return berr_wrap(&j->err, "making the guest's SSH host key");
	if (ag->c.pin_hostkey && (r = ag->c.pin_hostkey(ag->c.ctx, j->e->id, key, &j->err)) < 0)
		berr_wrap(&j->err, "pinning the guest's new SSH host key");
	free(key);
	return r;
}

static int job_names(struct idjob *j)
{
	const struct vmagent_identity *id = &j->e->ident;
	int r = agent_set_clock(j->a, NULL, STEP_MS, &j->err);
	if (r < 0)
		return berr_wrap(&j->err, "setting the guest's clock");
	struct agent_identity ai = {
		.hostname = id->hostname[0] ? id->hostname : NULL,
		.machine_id = id->machine_id[0] ? id->machine_id : NULL,
		.dns = id->dns[0] ? id->dns : NULL,
	};
	if ((ai.hostname || ai.machine_id || ai.dns) &&
	    (r = agent_set_identity(j->a, &ai, STEP_MS, &j->err)) < 0)
		berr_wrap(&j->err, "setting the guest's identity");
	return r;
}

/* Under TCG a restored guest translates every code path afresh, and each
 * new program costs 0.5-1 s: the agent mounts the work disk itself
 * (mount(2), as the guest's fstab says).  An agent from before that
 * (a snapshot of an older image) runs mount(8). */
static int job_disk(struct idjob *j)
{
	if (!j->e->ident.work_disk)
		return 0;
	if (agent_has_feature(j->a, "ident-mount")) {
		struct agent_identity ai = { .mount = "/root" };
		int r = agent_set_identity(j->a, &ai, STEP_MS, &j->err);
		return r < 0 ? berr_wrap(&j->err, "mounting the work disk on /root") : 0;
	}
	const char *mount[] = { "mount", "/root", NULL };
	return run_cmd(j->a, "mounting the work disk on /root", mount, NULL, STEP_MS, &j->err);
}

/* The snapshot left eth0 down: its MAC can change now, beside the rest
 * (the agent over netlink; an older agent runs ip(8)). */
static int job_mac(struct idjob *j)
{
	const struct vmagent_identity *id = &j->e->ident;
	if (!id->mac[0] || !id->addr[0])
		return 0;
	if (agent_has_feature(j->a, "ident-mac")) {
		struct agent_identity ai = { .iface = "eth0", .mac = id->mac };
		int r = agent_set_identity(j->a, &ai, STEP_MS, &j->err);
		return r < 0 ? berr_wrap(&j->err, "setting the guest's MAC") : 0;
	}
	const char *ip[] = { "ip", "link", "set", "dev", "eth0", "address", id->mac, NULL };
	return run_cmd(j->a, "setting the guest's MAC", ip, NULL, STEP_MS, &j->err);
}

static void *job_main(void *arg)
{
	struct idjob *j = arg;
	int64_t t0 = mono_ms();
	j->r = j->fn(j);
	j->ms = mono_ms() - t0;
	return NULL;
}

static void job_start(struct idjob *j)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	j->threaded = pthread_create(&j->t, NULL, job_main, j) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!j->threaded)
		job_main(j);
}

static int job_join(struct idjob *j, struct berr *err)
{
	if (j->threaded)
		pthread_join(j->t, NULL);
	j->threaded = false;
	if (j->r < 0)
		*err = j->err;
	return j->r;
}

static int apply_identity(struct entry *e, struct agent *a, struct berr *err)
{
	const struct vmagent_identity *id = &e->ident;
	struct idjob jobs[4] = {
		{ .e = e, .a = a, .fn = job_key },
		{ .e = e, .a = a, .fn = job_mac },
		{ .e = e, .a = a, .fn = job_names },
		{ .e = e, .a = a, .fn = job_disk },
	};
	int64_t t0 = mono_ms();
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
		job_start(&jobs[i]);
	/* The network waits for the pinned key and the MAC only. */
	r = job_join(&jobs[0], err);
	if (r == 0)
		r = job_join(&jobs[1], err);
	else
		job_join(&jobs[1], &(struct berr){ 0 });
	int64_t t1 = mono_ms();
	if (r == 0 && id->mac[0] && id->addr[0]) {
		/* eth0 came out of the snapshot down and unmanaged by
		 * systemd-networkd (quiesce_sh): the agent sets its address,
		 * brings it up and routes through the gateway (netlink, no
		 * process). */
		struct agent_identity net = { .iface = "eth0", .addr = id->addr,
					      .gw = id->gw[0] ? id->gw : NULL };
		if ((r = agent_set_identity(a, &net, STEP_MS, err)) < 0)
			berr_wrap(err, "setting the guest's network");
	}
	int64_t t2 = mono_ms();
	for (size_t i = 2; i < ARRAY_SIZE(jobs); i++) {
		struct berr e2 = { 0 };
		if (job_join(&jobs[i], &e2) < 0 && r == 0) {
			*err = e2;
			r = -e2.code;
		}
	}
	if (r == 0)
		note(e, "timing: identity %lld ms (all at once: rng and host key %lld ms, MAC %lld ms, "
			"clock and names %lld ms, work disk %lld ms; then the network %lld ms)",
		     (long long)(mono_ms() - t0), (long long)jobs[0].ms, (long long)jobs[1].ms,
		     (long long)jobs[2].ms, (long long)jobs[3].ms, (long long)(t2 - t1));
	return r;
}

/* ---- the watch ----------------------------------------------------------- */

static void thread_done(struct entry *e)
{
	struct vmagent *ag = e->ag;
	struct entry *to_free = NULL;
	pthread_mutex_lock(&ag->lock);
	entry_put_locked(e, &to_free);
	ag->threads--;
	pthread_cond_broadcast(&ag->cv);
	pthread_mutex_unlock(&ag->lock);
	entry_free(to_free);
}

static bool gone_locally(int code)
{
	return code == ENOENT || code == ECONNREFUSED || code == EAGAIN;
}

static void *watch_main(void *arg)
{
	struct entry *e = arg;
	struct vmagent *ag = e->ag;
	struct vmagent_chan ch = e->ch;
	struct berr err = { 0 };
	struct agent *a = NULL;
	int64_t deadline = mono_ms() + ag->c.wait_ms;
	int timeouts = 0;

	for (;;) {
		if (atomic_load(&e->cancel))
			goto out;
		berr_clear(&err);
		if (connect_chan(&ch, TRY_MS, &a, &err) == 0)
			break;
		timeouts = err.code == ETIMEDOUT ? timeouts + 1 : 0;
		if (mono_ms() > deadline) {
			char why[BERR_MSG_MAX];
			snprintf(why, sizeof(why), "the guest agent did not answer within %d s (%.400s)",
				 ag->c.wait_ms / 1000, err.msg);
			note(e, "agent: %s", why);
			blog("vm %s: %s", e->name, why);
			set_state(e, AGENT_FAILED, why);
			goto out;
		}
		/* A VM whose agent was reached before (adopted after a daemon
		 * restart), or a socket QEMU no longer serves: move the
		 * channel. */
		if (ch.qmp[0] && (gone_locally(err.code) || (e->reached && timeouts >= 2))) {
			struct berr e2 = { 0 };
			if (chardev_change(e, &ch, &e2) < 0)
				note(e, "agent: %s", e2.msg);
			timeouts = 0;
		}
		if (!nap(e, RETRY_MS))
			goto out;
	}
	note(e, "timing: agent answered %lld ms after the vmm started",
	     (long long)(mono_ms() - e->started));
	if (e->has_ident || e->do_prepare) {
		pthread_mutex_lock(&ag->lock);
		e->busy = true;
		pthread_mutex_unlock(&ag->lock);
	}
	if (e->has_ident && apply_identity(e, a, &err) < 0) {
		agent_close(a);
		note(e, "agent: %s", err.msg);
		blog("vm %s: %s", e->name, err.msg);
		set_state(e, AGENT_FAILED, err.msg);
		goto out;
	}
	/* The connection is the entry's now (one per VM). */
	struct conn *c = xcalloc(1, sizeof(*c));
	c->a = a;
	c->refs = 2; /* the entry's, and this thread's while it prepares */
	struct conn *old = NULL, *mine = NULL;
	pthread_mutex_lock(&ag->lock);
	bool keep = !atomic_load(&e->cancel) && e->listed;
	if (keep) {
		conn_put_locked(e->c, &old);
		e->c = c;
		e->ch = ch;
	}
	pthread_mutex_unlock(&ag->lock);
	conn_close(old);
	if (!keep) {
		conn_close(c);
		goto out;
	}
	if (e->do_prepare && ag->c.prepare)
		ag->c.prepare(ag->c.ctx, e->id, a, &e->cancel);
	pthread_mutex_lock(&ag->lock);
	conn_put_locked(c, &mine);
	pthread_mutex_unlock(&ag->lock);
	conn_close(mine);
	if (!atomic_load(&e->cancel)) {
		note(e, "timing: agent ready %lld ms after the vmm started",
		     (long long)(mono_ms() - e->started));
		set_state(e, AGENT_READY, NULL);
	}
out:
	thread_done(e);
	return NULL;
}

/* Take e off the list (ag->lock held); returns its conn to drop. */
static struct conn *unlist_locked(struct vmagent *ag, struct entry *e)
{
	for (struct entry **pp = &ag->list; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	e->listed = false;
	atomic_store(&e->cancel, true);
	uint64_t one = 1;
	ssize_t w = write(e->efd, &one, sizeof(one));
	(void)w;
	struct conn *c = e->c;
	e->c = NULL;
	return c;
}

void vmagent_cancel(struct vmagent *ag, int64_t id)
{
	struct conn *to_close = NULL;
	struct entry *to_free = NULL;
	pthread_mutex_lock(&ag->lock);
	struct entry *e = find_locked(ag, id);
	if (e) {
		conn_put_locked(unlist_locked(ag, e), &to_close);
		entry_put_locked(e, &to_free);
	}
	pthread_mutex_unlock(&ag->lock);
	conn_close(to_close);
	entry_free(to_free);
	if (e && ag->c.changed)
		ag->c.changed(ag->c.ctx, id);
}

void vmagent_watch(struct vmagent *ag, int64_t id, const char *name, const struct vmagent_chan *ch,
		   const struct vmagent_identity *ident, bool do_prepare, int64_t started_mono)
{
	vmagent_cancel(ag, id);
	struct entry *e = xcalloc(1, sizeof(*e));
	e->ag = ag;
	e->id = id;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ch = *ch;
	if (ident) {
		e->ident = *ident;
		e->has_ident = true;
	}
	e->do_prepare = do_prepare;
	e->reached = !ident && !do_prepare; /* an adopted VM: its agent answered before */
	e->started = started_mono;
	e->st = AGENT_WAITING;
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&e->cancel, false);
	e->refs = 2; /* the list, the thread */
	e->listed = true;

	pthread_mutex_lock(&ag->lock);
	if (ag->closing || e->efd < 0) {
		pthread_mutex_unlock(&ag->lock);
		entry_free(e);
		return;
	}
	e->next = ag->list;
	ag->list = e;
	ag->threads++;
	pthread_mutex_unlock(&ag->lock);

	pthread_t t;
	pthread_attr_t at;
	sigset_t all, old;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&t, &at, watch_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (r != 0) {
		set_state(e, AGENT_FAILED, "cannot start a thread to wait for the agent");
		thread_done(e);
	}
	if (ag->c.changed)
		ag->c.changed(ag->c.ctx, id);
}

enum agent_state vmagent_state(struct vmagent *ag, int64_t id, char *why, size_t len)
{
	pthread_mutex_lock(&ag->lock);
	struct entry *e = find_locked(ag, id);
	enum agent_state st = e ? e->st : AGENT_NONE;
	if (why && len)
		snprintf(why, len, "%s", e ? e->why : "");
	pthread_mutex_unlock(&ag->lock);
	return st;
}

bool vmagent_busy(struct vmagent *ag, int64_t id)
{
	pthread_mutex_lock(&ag->lock);
	struct entry *e = find_locked(ag, id);
	bool busy = e && e->busy;
	pthread_mutex_unlock(&ag->lock);
	return busy;
}

/* ---- holders ------------------------------------------------------------- */

/* The entry's connection broke: make a new one (one thread at a time). */
static int reconnect(struct entry *e, struct berr *err)
{
	struct vmagent *ag = e->ag;
	struct vmagent_chan ch;
	pthread_mutex_lock(&ag->lock);
	ch = e->ch;
	pthread_mutex_unlock(&ag->lock);
	struct agent *a = NULL;
	struct berr e1 = { 0 };
	int r = connect_chan(&ch, RECONNECT_MS, &a, &e1);
	if (r < 0 && ch.qmp[0] && !ch.fc_vsock) {
		struct berr e2 = { 0 };
		if (chardev_change(e, &ch, &e2) == 0)
			r = connect_chan(&ch, RECONNECT_MS, &a, &e1);
		else
			note(e, "agent: %s", e2.msg);
	}
	if (r < 0) {
		*err = e1;
		return berr_wrap(err, "the agent connection broke and could not be made again");
	}
	struct conn *c = xcalloc(1, sizeof(*c)), *old = NULL;
	c->a = a;
	c->refs = 1;
	pthread_mutex_lock(&ag->lock);
	if (e->listed) {
		conn_put_locked(e->c, &old);
		e->c = c;
		e->ch = ch;
		c = NULL;
	}
	pthread_mutex_unlock(&ag->lock);
	conn_close(old);
	if (c) {
		conn_close(c);
		return berr_set(err, ENOENT, "the VM is gone");
	}
	note(e, "agent: connected again");
	return 0;
}

int vmagent_hold(struct vmagent *ag, int64_t id, struct vmagent_ref **ret, struct agent **ret_a,
		 struct berr *err)
{
	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&ag->lock);
		struct entry *e = find_locked(ag, id);
		if (!e) {
			pthread_mutex_unlock(&ag->lock);
			return berr_set(err, ENOENT, "the VM is not running, or its image has no guest "
					"agent");
		}
		if (e->st != AGENT_READY) {
			enum agent_state st = e->st;
			char why[BERR_MSG_MAX];
			snprintf(why, sizeof(why), "%s", e->why);
			pthread_mutex_unlock(&ag->lock);
			if (st == AGENT_FAILED)
				return berr_set(err, EIO, "the guest agent failed: %s", why);
			return berr_set(err, EAGAIN, "the guest agent is not ready yet");
		}
		while (e->reconnecting)
			pthread_cond_wait(&ag->cv, &ag->lock);
		struct conn *c = e->c;
		struct berr why = { 0 };
		if (c && !agent_broken(c->a, &why)) {
			c->refs++;
			e->refs++;
			pthread_mutex_unlock(&ag->lock);
			struct vmagent_ref *ref = xcalloc(1, sizeof(*ref));
			ref->e = e;
			ref->c = c;
			*ret = ref;
			*ret_a = c->a;
			return 0;
		}
		if (attempt > 0 || !e->listed) {
			pthread_mutex_unlock(&ag->lock);
			return berr_set(err, EIO, "the agent connection broke: %s", why.msg);
		}
		e->reconnecting = true;
		e->refs++;
		pthread_mutex_unlock(&ag->lock);
		note(e, "agent: the connection broke (%s); connecting again", why.msg);
		int r = reconnect(e, err);
		struct entry *to_free = NULL;
		pthread_mutex_lock(&ag->lock);
		e->reconnecting = false;
		pthread_cond_broadcast(&ag->cv);
		entry_put_locked(e, &to_free);
		pthread_mutex_unlock(&ag->lock);
		entry_free(to_free);
		if (r < 0)
			return r;
	}
}

void vmagent_release(struct vmagent_ref *ref)
{
	if (!ref)
		return;
	struct vmagent *ag = ref->e->ag;
	struct conn *to_close = NULL;
	struct entry *to_free = NULL;
	pthread_mutex_lock(&ag->lock);
	conn_put_locked(ref->c, &to_close);
	entry_put_locked(ref->e, &to_free);
	pthread_mutex_unlock(&ag->lock);
	conn_close(to_close);
	entry_free(to_free);
	free(ref);
}

void vmagent_free(struct vmagent *ag)
{
	if (!ag)
		return;
	pthread_mutex_lock(&ag->lock);
	ag->closing = true;
	while (ag->list) {
		struct entry *e = ag->list;
		struct conn *to_close = NULL;
		struct entry *to_free = NULL;
		conn_put_locked(unlist_locked(ag, e), &to_close);
		entry_put_locked(e, &to_free);
		pthread_mutex_unlock(&ag->lock);
		conn_close(to_close);
		entry_free(to_free);
		pthread_mutex_lock(&ag->lock);
	}
	while (ag->threads > 0)
		pthread_cond_wait(&ag->cv, &ag->lock);
	pthread_mutex_unlock(&ag->lock);
	pthread_cond_destroy(&ag->cv);
	pthread_mutex_destroy(&ag->lock);
	free(ag);
}
