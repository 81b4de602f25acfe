/* core/vmssh.c: see vmssh.h.
 *
 * A waiter is a joinable thread with its own cancel (core/sshready.h): a VM
 * that stops, fails or is killed ends its wait at once, and so does the
 * daemon's exit, which joins every waiter; nothing ever waits on a guest
 * that is gone. */
#define _GNU_SOURCE
#include "vmssh.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "knownhosts.h"
#include "log.h"
#include "netplan.h"
#include "sshkeys.h"
#include "sshready.h"
#include "vmfiles.h"

#define SSH_WAIT_TOTAL_MS (300 * 1000)

struct waiter {
	struct vmssh *s;
	int64_t id;
	char name[STORE_NAME_MAX];
	char ip[16];
	int64_t started;         /* mono_ms when the VMM came up */
	enum ssh_state st;       /* under s->lock */
	bool running;            /* the thread has not been joined (under s->lock) */
	pthread_t thread;
	struct ssh_cancel cancel;
	struct waiter *next;
};

struct vmssh {
	struct vmssh_conf c;
	char *key, *known_hosts, *ssh_config, *pubkey;
	pthread_mutex_t lock;    /* guards the list and every waiter's st/running */
	struct waiter *waiters;
	bool closing;
};

const char *ssh_state_name(enum ssh_state s)
{
	switch (s) {
	case SSH_WAITING: return "waiting";
	case SSH_READY: return "ready";
	case SSH_FAILED: return "failed";
	case SSH_NONE: break;
	}
	return "-";
}

static char *config_dir_file(const char *config_path, const char *name)
{
	_cleanup_free_ char *copy = xstrdup(config_path);
	return path_join(dirname(copy), name);
}

int vmssh_new(const struct vmssh_conf *c, struct vmssh **ret, struct berr *err)
{
	struct vmssh *s = xcalloc(1, sizeof(*s));
	s->c = *c;
	s->key = c->key_path ? xstrdup(c->key_path) : xasprintf("%s/ssh/id_ed25519", c->state_dir);
	s->known_hosts = xasprintf("%s/ssh/known_hosts", c->state_dir);
	s->ssh_config = config_dir_file(c->config_path, "ssh_config");
	pthread_mutex_init(&s->lock, NULL);
	int r = ssh_identity_ensure(s->key, &s->pubkey, err);
	if (r < 0) {
		berr_wrap(err, "ssh identity %s", s->key);
		vmssh_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

const char *vmssh_pubkey(const struct vmssh *s)
{
	return s->pubkey;
}

static struct waiter *find(struct vmssh *s, int64_t id)
{
	for (struct waiter *w = s->waiters; w; w = w->next)
		if (w->id == id)
			return w;
	return NULL;
}

static void set_state(struct waiter *w, enum ssh_state st)
{
	struct vmssh *s = w->s;
	pthread_mutex_lock(&s->lock);
	w->st = st;
	pthread_mutex_unlock(&s->lock);
	if (s->c.changed)
		s->c.changed(s->c.ctx, w->id);
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct vmssh *s = w->s;
	struct berr err = { 0 };
	char alias[80];

	snprintf(alias, sizeof(alias), "%s.vm", w->name);
	int r = ssh_wait_ready(w->ip, 22, s->key, s->known_hosts, alias, SSH_WAIT_TOTAL_MS,
			       &w->cancel, &err);
	if (r == -ECANCELED)
		return NULL; /* the canceller decides the state */
	if (r == 0) {
		char *key = NULL;
		if (kh_lookup(s->known_hosts, alias, &key, NULL) == 0)
			store_vm_set_hostkey(s->c.store, w->id, key, NULL);
		free(key);
		blog("vm %s: ssh ready at %s", w->name, w->ip);
		vmf_note(s->c.state_dir, w->name, "timing: ssh ready %lld ms after the vmm started",
			 (long long)(mono_ms() - w->started));
		set_state(w, SSH_READY);
		return NULL;
	}
	if (r == -ETIMEDOUT && !strstr(err.msg, "timed out"))
		berr_wrap(&err, "ssh did not become ready within %d s", SSH_WAIT_TOTAL_MS / 1000);
	store_vm_set_error(s->c.store, w->id, err.msg, NULL);
	blog("vm %s: %s", w->name, err.msg);
	set_state(w, SSH_FAILED);
	return NULL;
}

/* Take w off the list (s->lock held); the caller cancels and joins it. */
static void unlink_waiter(struct vmssh *s, struct waiter *w)
{
	for (struct waiter **pp = &s->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

static void end_waiter(struct waiter *w)
{
	ssh_cancel_fire(&w->cancel);
	if (w->running)
		pthread_join(w->thread, NULL);
	ssh_cancel_destroy(&w->cancel);
	free(w);
}

void vmssh_cancel(struct vmssh *s, int64_t id)
{
	pthread_mutex_lock(&s->lock);
	struct waiter *w = find(s, id);
	if (w)
		unlink_waiter(s, w);
	pthread_mutex_unlock(&s->lock);
	if (!w)
		return;
	end_waiter(w);
	if (s->c.changed)
		s->c.changed(s->c.ctx, id);
}

void vmssh_watch(struct vmssh *s, const struct vm_rec *r, int64_t vmm_started_mono)
{
	char ip[16], mac[18];

	netplan_addr(s->c.plan, r->net_slot, ip, mac);
	if (!ip[0])
		return;
	vmssh_cancel(s, r->id);
	struct waiter *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->id = r->id;
	w->st = SSH_WAITING;
	w->started = vmm_started_mono;
	snprintf(w->name, sizeof(w->name), "%s", r->name);
	memcpy(w->ip, ip, sizeof(w->ip));
	if (ssh_cancel_init(&w->cancel, NULL) < 0) {
		free(w);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		pthread_mutex_unlock(&s->lock);
		ssh_cancel_destroy(&w->cancel);
		free(w);
		return;
	}
	w->next = s->waiters;
	s->waiters = w;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	w->running = pthread_create(&w->thread, NULL, waiter_main, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!w->running)
		w->st = SSH_FAILED;
	pthread_mutex_unlock(&s->lock);
}

enum ssh_state vmssh_state(struct vmssh *s, int64_t id)
{
	pthread_mutex_lock(&s->lock);
	struct waiter *w = find(s, id);
	enum ssh_state st = w ? w->st : SSH_NONE;
	pthread_mutex_unlock(&s->lock);
	return st;
}

int vmssh_pin(struct vmssh *s, const struct vm_rec *r, const char *pubkey, struct berr *err)
{
	char ip[16], mac[18];
	_cleanup_free_ char *alias = xasprintf("%s.vm", r->name);
	bool first = false;
	netplan_addr(s->c.plan, r->net_slot, ip, mac);
	int ret = kh_remove(s->known_hosts, alias, err);
	if (ret == 0)
		ret = kh_check(s->known_hosts, alias, ip[0] ? ip : "0.0.0.0", pubkey, &first, err);
	if (ret == 0)
		store_vm_set_hostkey(s->c.store, r->id, pubkey, NULL);
	return ret;
}

void vmssh_forget(struct vmssh *s, const struct vm_rec *r)
{
	_cleanup_free_ char *alias = xasprintf("%s.vm", r->name);
	vmssh_cancel(s, r->id);
	kh_remove(s->known_hosts, alias, NULL);
}

void vmssh_write_config(struct vmssh *s)
{
	struct vm_rec *all = NULL;
	size_t n = 0;
	struct sbuf b;

	if (store_vm_list(s->c.store, &all, &n, NULL) < 0)
		return;
	sbuf_init(&b);
	sbuf_printf(&b, "# Written by bangerd; do not edit.  Use it with\n"
			"#   ssh -F %s NAME.vm\n"
			"# or add 'Include %s' to ~/.ssh/config.\n",
		    s->ssh_config, s->ssh_config);
	for (size_t i = 0; i < n; i++) {
		char ip[16], mac[18];
		netplan_addr(s->c.plan, all[i].net_slot, ip, mac);
		if (!ip[0])
			continue;
		sbuf_printf(&b,
			    "\nHost %s.vm\n"
			    "  HostName %s\n"
			    "  User root\n"
			    "  IdentityFile \"%s\"\n"
			    "  IdentitiesOnly yes\n"
			    "  UserKnownHostsFile \"%s\"\n"
			    "  StrictHostKeyChecking yes\n"
			    "  HostKeyAlias %s.vm\n"
			    "  LogLevel ERROR\n",
			    all[i].name, ip, s->key, s->known_hosts, all[i].name);
	}
	vm_rec_array_free(all, n);
	_cleanup_free_ char *copy = xstrdup(s->ssh_config);
	mkdir_p(dirname(copy), 0700);
	if (write_file_atomic(s->ssh_config, b.buf, b.len, 0600) < 0)
		blog("cannot write %s", s->ssh_config);
	sbuf_free(&b);
}

void vmssh_command(struct vmssh *s, const struct vm_rec *r, struct sbuf *out)
{
	char ip[16], mac[18];
	netplan_addr(s->c.plan, r->net_slot, ip, mac);
	if (!ip[0])
		return;
	sbuf_puts(out, "ssh -F ");
	sbuf_shquote(out, s->ssh_config);
	sbuf_printf(out, " %s.vm\n", r->name);
}

void vmssh_doctor(struct vmssh *s, struct sbuf *out)
{
	sbuf_printf(out, "ok ssh-key %s\n", s->key);
	sbuf_printf(out, "ok ssh-config %s\n", s->ssh_config);
}

void vmssh_free(struct vmssh *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	struct waiter *all = s->waiters;
	s->waiters = NULL;
	pthread_mutex_unlock(&s->lock);
	/* Fire every cancel first, then join: the waits end together. */
	for (struct waiter *w = all; w; w = w->next)
		ssh_cancel_fire(&w->cancel);
	while (all) {
		struct waiter *w = all;
		all = w->next;
		end_waiter(w);
	}
	pthread_mutex_destroy(&s->lock);
	free(s->key);
	free(s->known_hosts);
	free(s->ssh_config);
	free(s->pubkey);
	free(s);
}
