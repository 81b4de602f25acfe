/* core/vmnet.c: addresses, taps, NAT, guest SSH (see vmnet.h). */
#define _GNU_SOURCE
#include "vmnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "disk.h"
#include "internal.h"
#include "net.h"
#include "sshkeys.h"

#define SSH_WAIT_TOTAL_MS (300 * 1000)
/* One ssh_wait_ready call: long enough for a slow guest's sshd to finish a
 * login under load (it retries inside), short enough to notice a stopped VM
 * or a closing daemon soon. */
#define SSH_WAIT_STEP_MS 20000

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

int vmnet_init(struct banger *b, struct berr *err)
{
	int r;

	b->ssh_key = b->cfg.ssh_key_path ? xstrdup(b->cfg.ssh_key_path)
					 : xasprintf("%s/ssh/id_ed25519", b->paths.state_dir);
	b->known_hosts = xasprintf("%s/ssh/known_hosts", b->paths.state_dir);
	b->ssh_config = config_dir_file(b->paths.config_path, "ssh_config");
	r = ssh_identity_ensure(b->ssh_key, &b->pubkey, err);
	if (r < 0)
		return berr_wrap(err, "ssh identity %s", b->ssh_key);

	r = net_subnet_parse(b->cfg.bridge_subnet, &b->net_gw, &b->net_net, &b->net_prefix, err);
	if (r < 0)
		return berr_wrap(err, "bridge_subnet");
	enum priv_mode mode = priv_mode(b->priv);
	if (mode == PRIV_NONE) {
		snprintf(b->net_why, sizeof(b->net_why), "%s: VMs get no network", priv_why(b->priv));
		return 0;
	}
	if (access("/dev/net/tun", F_OK) < 0) {
		snprintf(b->net_why, sizeof(b->net_why),
			 "/dev/net/tun is missing (module tun): VMs get no network");
		return 0;
	}
	b->net_on = true;
	snprintf(b->net_why, sizeof(b->net_why), "bridge %s %s, taps %s*, NAT (%s)",
		 b->cfg.bridge_name, b->cfg.bridge_subnet, NET_TAP_PREFIX,
		 mode == PRIV_HELPER ? "through bangerd-root" : "in-process, root");

	/* Taps of VMs that are not running are leftovers of a crash. */
	char **taps = NULL;
	size_t n = 0;
	if (priv_tap_list(b->priv, &taps, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			int64_t id;
			char *end;
			id = strtoll(taps[i] + strlen(NET_TAP_PREFIX), &end, 10);
			struct vm_rec rec = { 0 };
			bool keep = *end == '\0' && store_vm_get(b->store, id, &rec, NULL) == 0 &&
				    (strcmp(rec.state, "running") == 0 ||
				     strcmp(rec.state, "stopping") == 0 ||
				     strcmp(rec.state, "starting") == 0);
			vm_rec_clear(&rec);
			if (!keep) {
				blog("removing orphaned tap %s", taps[i]);
				priv_tap_delete(b->priv, taps[i], NULL);
			}
		}
		priv_strv_free(taps);
	}
	return 0;
}

int vmnet_alloc(struct banger *b, struct vm_rec *r, struct berr *err)
{
	struct vm_rec *all = NULL;
	size_t n = 0;
	unsigned cap = net_guest_capacity(b->net_prefix);
	int ret;

	if (r->net_slot > 0)
		return 0;
	ret = store_vm_list(b->store, &all, &n, err);
	if (ret < 0)
		return ret;
	for (int64_t slot = 1; slot <= (int64_t)cap; slot++) {
		bool used = false;
		for (size_t i = 0; i < n && !used; i++)
			used = all[i].net_slot == slot;
		if (!used) {
			r->net_slot = slot;
			break;
		}
	}
	vm_rec_array_free(all, n);
	if (r->net_slot == 0)
		return berr_set(err, ENOSPC, "no free address in %s (%u in use)",
				b->cfg.bridge_subnet, cap);
	return 0;
}

void vmnet_addr(struct banger *b, const struct vm_rec *r, char ip[16], char mac[18])
{
	uint32_t a;
	ip[0] = mac[0] = '\0';
	if (r->net_slot <= 0 ||
	    net_addr_for_index_gw(b->net_net, b->net_prefix, b->net_gw,
				  (unsigned)(r->net_slot - 1), &a) < 0)
		return;
	net_addr_str(a, ip);
	net_mac_for_addr(a, mac);
}

void vmnet_tap_name(const struct vm_rec *r, char out[16])
{
	snprintf(out, 16, "%s%lld", NET_TAP_PREFIX, (long long)r->id);
}

int vmnet_up(struct banger *b, const struct vm_rec *r, int *ret_fd, char tap[16],
	     struct berr *err)
{
	char gw[16], cidr[40];
	int ret;

	tap[0] = '\0';
	if (ret_fd)
		*ret_fd = -1;
	if (!b->net_on || r->net_slot <= 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	bool ready = b->net_ready;
	pthread_mutex_unlock(&b->lock);
	if (!ready) {
		net_addr_str(b->net_gw, gw);
		snprintf(cidr, sizeof(cidr), "%s/%d", gw, b->net_prefix);
		if ((ret = priv_net_ensure(b->priv, b->cfg.bridge_name, cidr, err)) < 0)
			return ret;
		pthread_mutex_lock(&b->lock);
		b->net_ready = true;
		pthread_mutex_unlock(&b->lock);
		vmdns_start(b);
	}
	char name[16];
	vmnet_tap_name(r, name);
	ret = ret_fd ? priv_tap_open(b->priv, name, b->cfg.bridge_name, ret_fd, err)
		     : priv_tap_create(b->priv, name, b->cfg.bridge_name, err);
	if (ret < 0)
		return berr_wrap(err, "tap %s", name);
	memcpy(tap, name, 16);
	return 0;
}

void vmnet_down(struct banger *b, const struct vm_rec *r)
{
	char name[16];
	if (!b->net_on)
		return;
	vmnet_tap_name(r, name);
	priv_tap_delete(b->priv, name, NULL);
}

/* Up to three nameservers from the host's resolv.conf, loopback excluded
 * (the guest cannot reach the host's stub resolver). */
static void host_dns(struct sbuf *out)
{
	_cleanup_free_ char *text = NULL;
	int n = 0;
	if (read_file("/etc/resolv.conf", 64 * 1024, &text, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && n < 3;
	     line = strtok_r(NULL, "\n", &save)) {
		char addr[64];
		struct in_addr in;
		if (sscanf(line, "nameserver %63s", addr) != 1 || inet_pton(AF_INET, addr, &in) != 1)
			continue;
		if ((ntohl(in.s_addr) >> 24) == 127)
			continue;
		sbuf_printf(out, "%s%s", n ? "," : " banger.dns=", addr);
		n++;
	}
}

char *vmnet_cmdline(struct banger *b, const struct vm_rec *r)
{
	char ip[16], mac[18], gw[16], mask[16];
	struct sbuf s;

	vmnet_addr(b, r, ip, mac);
	if (!b->net_on || !ip[0])
		return xstrdup("");
	net_addr_str(b->net_gw, gw);
	net_addr_str(b->net_prefix ? 0xffffffffu << (32 - b->net_prefix) : 0, mask);
	sbuf_init(&s);
	sbuf_printf(&s, "ip=%s::%s:%s:%s:eth0:off", ip, gw, mask, r->name);
	host_dns(&s);
	return sbuf_steal(&s);
}

int vmnet_seed_disks(struct banger *b, const struct vm_rec *r, const char *rootfs,
		     const char *workdisk, bool first_boot, struct berr *err)
{
	_cleanup_free_ char *keys = xasprintf("%s\n", b->pubkey);
	struct workdisk_file ak = {
		.guest_path = "/.ssh/authorized_keys", .data = keys, .len = strlen(keys),
		.mode = 0600, .uid = 0, .gid = 0,
	};
	int ret = workdisk_mkdir(workdisk, "/.ssh", 0700, 0, 0, err);
	if (ret == 0)
		ret = workdisk_write_files(workdisk, &ak, 1, 0700, err);
	if (ret < 0 && first_boot)
		return berr_wrap(err, "writing authorized_keys to the work disk");
	if (ret < 0)
		blog("vm %s: authorized_keys not refreshed (%s); the previous one stays", r->name,
		     err->msg);
	if (first_boot) {
		_cleanup_free_ char *hn = xasprintf("%s\n", r->name);
		struct workdisk_file f = {
			.guest_path = "/etc/hostname", .data = hn, .len = strlen(hn),
			.mode = 0644, .uid = 0, .gid = 0,
		};
		ret = workdisk_write_files(rootfs, &f, 1, 0755, err);
		if (ret < 0)
			return berr_wrap(err, "writing /etc/hostname to the root disk");
	}
	return 0;
}

/* ---- ssh state and the readiness waiter ---- */

static void ssh_set(struct banger *b, int64_t id, enum ssh_state st)
{
	for (size_t i = 0; i < b->n_ssh; i++)
		if (b->ssh[i].id == id) {
			if (st == SSH_NONE)
				b->ssh[i] = b->ssh[--b->n_ssh];
			else
				b->ssh[i].st = st;
			return;
		}
	if (st != SSH_NONE && b->n_ssh < LIVE_MAX) {
		b->ssh[b->n_ssh].id = id;
		b->ssh[b->n_ssh].st = st;
		b->n_ssh++;
	}
}

enum ssh_state vmnet_ssh_state(struct banger *b, int64_t id)
{
	enum ssh_state st = SSH_NONE;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n_ssh; i++)
		if (b->ssh[i].id == id)
			st = b->ssh[i].st;
	pthread_mutex_unlock(&b->lock);
	return st;
}

struct waiter {
	struct banger *b;
	int64_t id;
	int64_t started;   /* mono_ms when the VMM came up */
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct banger *b = w->b;
	int64_t deadline = mono_ms() + SSH_WAIT_TOTAL_MS;
	struct berr err = { 0 };
	int ret = -ETIMEDOUT;

	for (;;) {
		struct vm_rec r = { 0 };
		char ip[16], mac[18], alias[80];
		pthread_mutex_lock(&b->lock);
		bool stop = b->closing;
		pthread_mutex_unlock(&b->lock);
		if (stop || store_vm_get(b->store, w->id, &r, NULL) < 0 ||
		    strcmp(r.state, "running") != 0) {
			vm_rec_clear(&r);
			ret = -ECANCELED;
			break;
		}
		vmnet_addr(b, &r, ip, mac);
		snprintf(alias, sizeof(alias), "%s.vm", r.name);
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			vm_rec_clear(&r);
			break;
		}
		berr_clear(&err);
		ret = ssh_wait_ready(ip, 22, b->ssh_key, b->known_hosts, alias,
				     (int)(left < SSH_WAIT_STEP_MS ? left : SSH_WAIT_STEP_MS), &err);
		if (ret == 0) {
			char *key = NULL;
			pthread_mutex_lock(&b->lock);
			if (kh_lookup(b->known_hosts, alias, &key, NULL) == 0) {
				struct vm_rec cur = { 0 };
				if (store_vm_get(b->store, w->id, &cur, NULL) == 0) {
					free(cur.hostkey);
					cur.hostkey = key;
					key = NULL;
					store_vm_update(b->store, &cur, NULL);
				}
				vm_rec_clear(&cur);
			}
			free(key);
			ssh_set(b, w->id, SSH_READY);
			pthread_mutex_unlock(&b->lock);
			blog("vm %s: ssh ready at %s", r.name, ip);
			_cleanup_free_ char *logp = vm_file(b, r.name, "vmm.log");
			FILE *lf = fopen(logp, "ae");
			if (lf) {
				fprintf(lf, "banger: timing: ssh ready %lld ms after the vmm started\n",
					(long long)(mono_ms() - w->started));
				fclose(lf);
			}
			vm_rec_clear(&r);
			break;
		}
		vm_rec_clear(&r);
		if (ret != -ETIMEDOUT)
			break; /* host key mismatch, bad key file: no point retrying */
	}
	pthread_mutex_lock(&b->lock);
	if (ret < 0 && ret != -ECANCELED) {
		ssh_set(b, w->id, SSH_FAILED);
		if (ret == -ETIMEDOUT && !strstr(err.msg, "timed out"))
			berr_wrap(&err, "ssh did not become ready within %d s",
				  SSH_WAIT_TOTAL_MS / 1000);
		store_vm_set_error(b->store, w->id, err.msg, NULL);
		blog("vm %lld: %s", (long long)w->id, err.msg);
	} else if (ret == -ECANCELED) {
		ssh_set(b, w->id, SSH_NONE);
	}
	b->n_waiters--;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	free(w);
	return NULL;
}

void vmnet_watch(struct banger *b, int64_t id)
{
	struct waiter *w;
	pthread_t t;
	pthread_attr_t attr;

	if (!b->net_on)
		return;
	w = xcalloc(1, sizeof(*w));
	w->b = b;
	w->id = id;
	w->started = mono_ms();
	pthread_mutex_lock(&b->lock);
	ssh_set(b, id, SSH_WAITING);
	b->n_waiters++;
	pthread_mutex_unlock(&b->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, waiter_main, w) != 0) {
		pthread_mutex_lock(&b->lock);
		b->n_waiters--;
		ssh_set(b, id, SSH_FAILED);
		pthread_mutex_unlock(&b->lock);
		free(w);
	}
	pthread_attr_destroy(&attr);
}

void vmnet_stopped(struct banger *b, int64_t id)
{
	ssh_set(b, id, SSH_NONE);
}

void vmnet_forget(struct banger *b, const struct vm_rec *r)
{
	_cleanup_free_ char *alias = xasprintf("%s.vm", r->name);
	vmnet_down(b, r);
	kh_remove(b->known_hosts, alias, NULL);
	ssh_set(b, r->id, SSH_NONE);
}

void vmnet_write_ssh_config(struct banger *b)
{
	struct vm_rec *all = NULL;
	size_t n = 0;
	struct sbuf s;

	if (store_vm_list(b->store, &all, &n, NULL) < 0)
		return;
	sbuf_init(&s);
	sbuf_printf(&s, "# Written by bangerd; do not edit.  Use it with\n"
			"#   ssh -F %s NAME.vm\n"
			"# or add 'Include %s' to ~/.ssh/config.\n",
		    b->ssh_config, b->ssh_config);
	for (size_t i = 0; i < n; i++) {
		char ip[16], mac[18];
		vmnet_addr(b, &all[i], ip, mac);
		if (!ip[0])
			continue;
		sbuf_printf(&s,
			    "\nHost %s.vm\n"
			    "  HostName %s\n"
			    "  User root\n"
			    "  IdentityFile \"%s\"\n"
			    "  IdentitiesOnly yes\n"
			    "  UserKnownHostsFile \"%s\"\n"
			    "  StrictHostKeyChecking yes\n"
			    "  HostKeyAlias %s.vm\n"
			    "  LogLevel ERROR\n",
			    all[i].name, ip, b->ssh_key, b->known_hosts, all[i].name);
	}
	vm_rec_array_free(all, n);
	_cleanup_free_ char *copy = xstrdup(b->ssh_config);
	mkdir_p(dirname(copy), 0700);
	if (write_file_atomic(b->ssh_config, s.buf, s.len, 0600) < 0)
		blog("cannot write %s", b->ssh_config);
	sbuf_free(&s);
}

void vmnet_ssh_command(struct banger *b, const struct vm_rec *r, struct sbuf *out)
{
	char ip[16], mac[18];
	vmnet_addr(b, r, ip, mac);
	if (!ip[0])
		return;
	sbuf_puts(out, "ssh -F ");
	sbuf_shquote(out, b->ssh_config);
	sbuf_printf(out, " %s.vm\n", r->name);
}

void vmnet_close(struct banger *b)
{
	vmdns_stop(b);
	pthread_mutex_lock(&b->lock);
	b->closing = true;
	while (b->n_waiters > 0)
		pthread_cond_wait(&b->changed, &b->lock);
	pthread_mutex_unlock(&b->lock);
	free(b->ssh_key);
	free(b->known_hosts);
	free(b->ssh_config);
	free(b->pubkey);
}

void vmnet_doctor(struct banger *b, struct sbuf *out)
{
	sbuf_printf(out, "%s network %s\n", b->net_on ? "ok" : "warn", b->net_why);
	sbuf_printf(out, "ok ssh-key %s\n", b->ssh_key ? b->ssh_key : "-");
	sbuf_printf(out, "ok ssh-config %s\n", b->ssh_config ? b->ssh_config : "-");
	vmdns_doctor(b, out);
}
