/* core/banger.c: the daemon's composition: open (no threads, so the
 * adapter may fork afterwards), run (the threads), close.  It makes every
 * module and hands each the context it needs; docs/architecture.md. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fusemount.h"
#include "catjobs.h"
#include "catoci.h"
#include "catsync.h"
#include "pull.h"
#include "util.h"
#include "vmdisk.h"

/* $var if set, else base + suffix. */
static char *env_or(const char *var, const char *base, const char *suffix)
{
	const char *v = getenv(var);
	if (v && *v)
		return xstrdup(v);
	return xasprintf("%s%s", base, suffix);
}

void banger_paths_default(struct banger_paths *p)
{
	const char *home = getenv("HOME");
	const char *xdg;
	char uid[32];

	if (!home || !*home)
		home = "/root";
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	memset(p, 0, sizeof(*p));

	if ((xdg = getenv("XDG_STATE_HOME")) && *xdg)
		p->state_dir = env_or("BANGER_STATE_DIR", xdg, "/banger");
	else
		p->state_dir = env_or("BANGER_STATE_DIR", home, "/.local/state/banger");
	if ((xdg = getenv("XDG_CACHE_HOME")) && *xdg)
		p->cache_dir = env_or("BANGER_CACHE_DIR", xdg, "/banger");
	else
		p->cache_dir = env_or("BANGER_CACHE_DIR", home, "/.cache/banger");
	if ((xdg = getenv("XDG_CONFIG_HOME")) && *xdg)
		p->config_path = env_or("BANGER_CONFIG", xdg, "/banger/config.toml");
	else
		p->config_path = env_or("BANGER_CONFIG", home, "/.config/banger/config.toml");
	p->config_must_exist = getenv("BANGER_CONFIG") != NULL;
	if (getuid() == 0)
		p->runtime_dir = env_or("BANGER_RUNTIME_DIR", "/run/banger/run", "");
	else if ((xdg = getenv("XDG_RUNTIME_DIR")) && *xdg)
		p->runtime_dir = env_or("BANGER_RUNTIME_DIR", xdg, "/banger");
	else
		p->runtime_dir = env_or("BANGER_RUNTIME_DIR", "/tmp/banger-", uid);
	p->image_cache = env_or("BANGER_IMAGE_CACHE", "/var/cache/banger/build", "");
	p->root_socket = env_or("BANGER_ROOT_SOCKET", "/run/banger-root/root.sock", "");
}

void banger_paths_free(struct banger_paths *p)
{
	free(p->state_dir);
	free(p->runtime_dir);
	free(p->cache_dir);
	free(p->image_cache);
	free(p->config_path);
	free(p->root_socket);
	memset(p, 0, sizeof(*p));
}

static void paths_copy(struct banger_paths *dst, const struct banger_paths *src)
{
	dst->state_dir = xstrdup(src->state_dir);
	dst->runtime_dir = xstrdup(src->runtime_dir);
	dst->cache_dir = xstrdup(src->cache_dir);
	dst->image_cache = xstrdup(src->image_cache);
	dst->config_path = xstrdup(src->config_path);
	dst->root_socket = xstrdup(src->root_socket ? src->root_socket : "");
	dst->config_must_exist = src->config_must_exist;
}

/* The runtime dir holds sockets: it must be ours and 0700, never a
 * symlink planted by someone else. */
static int runtime_dir_check(const char *dir, struct berr *err)
{
	struct stat st;
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create runtime dir %s: %s", dir, strerror(-r));
	if (lstat(dir, &st) < 0)
		return berr_set(err, errno, "runtime dir %s: %s", dir, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return berr_set(err, EPERM, "runtime dir %s is a symlink; refusing to use it", dir);
	if (!S_ISDIR(st.st_mode))
		return berr_set(err, ENOTDIR, "runtime dir %s is not a directory", dir);
	if (st.st_uid != getuid())
		return berr_set(err, EPERM,
				"runtime dir %s belongs to uid %u, not to us (uid %u); refusing to use it",
				dir, (unsigned)st.st_uid, (unsigned)getuid());
	if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
		return berr_set(err, errno, "cannot chmod runtime dir %s to 0700", dir);
	return 0;
}

/* The owner's home: $HOME (systemd sets it for User=), else the passwd
 * entry's. */
static char *owner_home(void)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		return xstrdup(h);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir &&
	    res->pw_dir[0] == '/')
		return xstrdup(res->pw_dir);
	return NULL;
}

/* The monitor's callbacks (its thread). */
static void vmm_gone(void *ctx, int64_t id, bool have_status, int status)
{
	vm_exited(ctx, id, have_status, status);
}

/* The monitor: a console grew (readers of console wait for it). */
static void on_change(void *ctx, int64_t id)
{
	(void)id;
	banger_changed(ctx);
}

/* The guest agents' and the execs' hooks (vmagent.c, vmexec.c). */
static int agent_pin(void *ctx, int64_t id, const char *pubkey, struct berr *err)
{
	return vm_agent_pin(ctx, id, pubkey, err);
}

static void agent_prepare(void *ctx, int64_t id, struct agent *a, const atomic_bool *cancel)
{
	vm_agent_prepare(ctx, id, a, cancel);
}

static void exec_changed(void *ctx)
{
	banger_changed(ctx);
}


/* vmssh: a VM's ssh state changed: status shows it, ready answers, and
 * events says so. */
static void on_ssh(void *ctx, int64_t id)
{
	struct banger *b = ctx;
	enum ssh_state st = vmssh_state(b->vmssh, id);
	if (st == SSH_READY)
		events_line(b->events, id, NULL, "ready");
	else if (st == SSH_FAILED)
		events_line(b->events, id, NULL, "ssh-failed");
	else
		events_touch(b->events, id);
	banger_changed(b);
}

/* vm_group: a number, or a group of this host. */
static int group_resolve(const char *name, int64_t *ret, struct berr *err)
{
	uint64_t v;
	struct group gr, *res = NULL;
	char buf[8192];
	*ret = -1;
	if (!name)
		return 0;
	if (parse_u64(name, &v) == 0 && v < (gid_t)-1) {
		*ret = (int64_t)v;
		return 0;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return berr_set(err, ENOENT, "vm_group '%s' is not a group on this host", name);
	*ret = res->gr_gid;
	return 0;
}

/* The catalogs' and pulls' callback (the engine's or a worker's thread):
 * what images/ and kernels/ show changed (the render cache and the
 * kernel's caches forget it). */
static void on_catalog_change(void *ctx)
{
	struct banger *b = ctx;
	events_touch(b->events, 0);
	banger_changed(b);
}

/* banger's init and sshd for container images (guest/mkinject.sh): the
 * config's, else next to this binary: build/bin/bangerd ->
 * build/guest/inject, PREFIX/bin/bangerd -> PREFIX/libexec/banger/inject;
 * else the one the Debian package's postinst builds. */
static char *find_inject_dir(const char *cfg)
{
	char exe[4096];
	if (cfg)
		return xstrdup(cfg);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	const char *rel[] = { "../guest/inject", "../libexec/banger/inject",
			      "/var/lib/banger/inject" };
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		_cleanup_free_ char *d = rel[i][0] == '/' ? xstrdup(rel[i]) : path_join(exe, rel[i]);
		_cleanup_free_ char *init = path_join(d, "init");
		char *real = realpath(d, NULL);
		if (real && access(init, X_OK) == 0)
			return real;
		free(real);
	}
	return NULL;
}

/* Catalogs, the pull engine (its thread starts in banger_run) and what
 * OCI builds need. */
static int catalogs_open(struct banger *b, struct berr *err)
{
	int r;
	b->inject_dir = find_inject_dir(b->cfg.oci_inject_dir);
	b->cat.jobs = catjobs_new();
	b->cat.trusted = !b->cfg.catalog_insecure;
	b->cat.cache_dir = b->paths.cache_dir;
	b->cat.inject_dir = b->inject_dir;
	b->cat.docker_config = b->cfg.docker_config;
	b->cat.oci_headroom = b->cfg.oci_headroom;
	b->cat.changed = on_catalog_change;
	b->cat.ctx = b;
	if (!b->cfg.n_catalog_urls)
		return 0;
	if (b->paths.cache_dir[0] != '/')
		return berr_set(err, EINVAL, "the cache dir %s must be an absolute path",
				b->paths.cache_dir);
	struct pull_config pc = { .cache_dir = b->paths.cache_dir, .nice = 10, .deferred = true };
	if ((r = pull_engine_new(&pc, &b->cat.engine, err)) < 0)
		return r;
	struct catsync_config cc = {
		.urls = (const char *const *)b->cfg.catalog_urls, .n_urls = b->cfg.n_catalog_urls,
		.pubkey = b->cfg.catalog_pubkey, .insecure = b->cfg.catalog_insecure,
		.ttl_s = b->cfg.catalog_ttl, .state_dir = b->paths.state_dir,
		.changed = on_catalog_change, .opaque = b,
	};
	if ((r = catsync_new(&cc, b->cat.engine, &b->cat.sync, err)) < 0)
		return berr_wrap(err, "%s", b->cfg.path ? b->cfg.path : "config");
	return 0;
}

int banger_open(struct banger **ret, const struct banger_paths *p, struct berr *err)
{
	struct banger *b = xcalloc(1, sizeof(*b));
	_cleanup_free_ char *db = NULL;
	int r;

	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->changed, &ca);
	pthread_condattr_destroy(&ca);
	paths_copy(&b->paths, p);
	config_init(&b->cfg);

	r = config_load(&b->cfg, p->config_path, p->config_must_exist, err);
	if (r < 0)
		goto fail;
	b->owner_uid = getuid();
	b->owner_gid = getgid();
	r = group_resolve(b->cfg.vm_group, &b->vm_group, err);
	if (r < 0)
		goto fail;
	b->events = events_new();
	b->tcache = tcache_new();
	hostinfo_read(&b->host);
	b->home = owner_home();
	sizing_resolve(&b->cfg, &b->host, &b->defaults);
	r = netplan_init(&b->plan, b->cfg.bridge_name, b->cfg.bridge_subnet, err);
	if (r < 0)
		goto fail;

	const char *dirs[] = { "vms", "images", "kernels" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *d = path_join(p->state_dir, dirs[i]);
		r = mkdir_p(d, 0700);
		if (r < 0) {
			berr_set(err, -r, "cannot create %s: %s", d, strerror(-r));
			goto fail;
		}
	}
	r = runtime_dir_check(p->runtime_dir, err);
	if (r < 0)
		goto fail;

	db = path_join(p->state_dir, "banger.db");
	r = store_open(&b->store, db, err);
	if (r < 0)
		goto fail;

	/* What needs root, decided once (core/priv.h). */
	b->priv = priv_open(p->root_socket);

	const char *accel = NULL;
	r = accel_resolve(b->cfg.qemu_accel, &accel, b->accel_why, sizeof(b->accel_why), err);
	if (r < 0)
		goto fail;
	b->vmm_host.qemu_bin = b->cfg.qemu_bin;
	b->vmm_host.accel = accel;
	b->vmm_host.tsc_khz = host_tsc_khz();
	b->vmm_host.firecracker_bin = b->cfg.firecracker_bin;
	b->vmm_host.jailer_bin = b->cfg.jailer_bin;
	b->vmm_host.state_dir = b->paths.state_dir;
	b->vmm_host.priv = b->priv;
	b->choice = (struct vmm_choice){ .cfg_vmm = b->cfg.vmm,
					 .firecracker_bin = b->cfg.firecracker_bin,
					 .accel = accel, .accel_why = b->accel_why };
	/* disk_clone against this host (core/vmdisk.h); doctor says why. */
	(void)vmdisk_clone_choose(b->cfg.disk_clone, b->priv, p->state_dir,
				  b->cfg.jailer_bin && *b->cfg.jailer_bin, &b->clone_method, NULL, 0);

	b->cat = (struct catalog){ .store = b->store, .state_dir = b->paths.state_dir,
				   .image_cache = b->paths.image_cache,
				   .default_image = b->cfg.default_image_name,
				   .default_kernel = b->cfg.default_kernel_name, .lock = &b->lock };
	bool net_on = vmnet_possible(b->priv);
	b->hostnet = hostnet_new(b->priv, &b->plan, b->store, net_on, b->cfg.dns_port);
	b->vmnet = vmnet_new(b->priv, &b->plan, b->store, b->hostnet);
	struct vmssh_conf sc = { .state_dir = b->paths.state_dir,
				 .config_path = b->paths.config_path,
				 .key_path = b->cfg.ssh_key_path, .store = b->store,
				 .plan = &b->plan, .changed = on_ssh, .ctx = b };
	r = vmssh_new(&sc, &b->vmssh, err);
	if (r < 0)
		goto fail;
	struct monitor_ops mo = { .ctx = b, .exited = vmm_gone, .changed = on_change };
	r = monitor_new(&mo, &b->monitor, err);
	if (r < 0)
		goto fail;
	{
		/* Snapshots, the guest agents and the execs (docs/snapshots.md,
		 * docs/agent.md): made here, their threads start with the VMs. */
		_cleanup_free_ char *sd = path_join(p->state_dir, "snapshots");
		_cleanup_free_ char *xd = path_join(p->state_dir, "execs");
		struct vmagent_conf ac = { .state_dir = b->paths.state_dir, .changed = on_change,
					   .pin_hostkey = agent_pin, .prepare = agent_prepare,
					   .ctx = b };
		if ((r = snapstore_new(sd, &b->snaps, err)) < 0 ||
		    (r = vmagent_new(&ac, &b->vmagent, err)) < 0)
			goto fail;
		struct vmexec_conf xc = { .dir = xd, .ag = b->vmagent, .changed = exec_changed,
					  .ctx = b };
		if ((r = vmexec_new(&xc, &b->vmexec, err)) < 0)
			goto fail;
	}

	r = vmports_new(b->store, &b->plan, b->cfg.port_bind, &b->ports, err);
	if (r < 0)
		goto fail;

	r = catalogs_open(b, err);
	if (r < 0)
		goto fail;
	catalog_sweep(&b->cat);
	struct berr scan = { 0 };
	if (catalog_scan(&b->cat, &scan) > 0) /* the top err file says it */
		snprintf(b->global_err, sizeof(b->global_err), "%s", scan.msg);
	vm_adopt_all(b);
	/* dm snapshots of VMs that are gone: left by a daemon killed while
	 * it made or removed one (core/vmdisk.h). */
	{
		struct vm_rec *all = NULL;
		size_t n = 0;
		if (store_vm_list(b->store, &all, &n, NULL) == 0) {
			const char **live = xcalloc(n + 1, sizeof(*live));
			for (size_t i = 0; i < n; i++)
				live[i] = all[i].name;
			(void)vmdisk_sweep(b->priv, p->state_dir, live, n);
			free(live);
			vm_rec_array_free(all, n);
		}
	}
	/* Taps of VMs that are not running are leftovers of a crash. */
	vmnet_sweep(b->vmnet);
	/* The log knows every VM (so the first change of each is a line). */
	{
		struct vm_rec *all = NULL;
		size_t n = 0;
		if (store_vm_list(b->store, &all, &n, NULL) == 0)
			for (size_t i = 0; i < n; i++)
				events_known(b->events, all[i].id, all[i].name, all[i].state);
		vm_rec_array_free(all, n);
	}
	/* The forwards of vms/NAME/ports/ listen again (their threads start
	 * in banger_run). */
	vmports_restore(b->ports);
	*ret = b;
	return 0;
fail:
	banger_close(b);
	return r;
}

int banger_mount_tree(struct banger *b, const char *mountpoint, int *ret_fd, struct berr *err)
{
	struct berr e = {0};
	int r;

	/* A daemon killed with SIGKILL leaves its tree behind, disconnected
	 * (ENOTCONN): take it away first.  A tree served by a live daemon is
	 * refused below (EBUSY) and stays. */
	struct stat st;
	/* A tree the service manager handed over is mounted and waits for
	 * us to answer FUSE's INIT: a stat would wait for itself. */
	if (!priv_tree_handed(b->priv) && stat(mountpoint, &st) < 0 && errno == ENOTCONN &&
	    priv_tree_unmount(b->priv, mountpoint, &e) < 0)
		blog("cannot remove the stale tree at %s: %s", mountpoint, e.msg);
	r = mkdir_p(mountpoint, 0755);
	if (r < 0)
		return berr_set(err, -r, "cannot create mount point %s: %s", mountpoint,
				strerror(-r));
	r = priv_tree_mount(b->priv, mountpoint, b->cfg.allow_other, ret_fd, &b->mount_how, err);
	if (r < 0)
		return berr_wrap(err, "mounting the tree");
	/* bangerd-root adds allow_other only when /etc/fuse.conf allows it. */
	if (b->cfg.allow_other && fusemount_has_allow_other(mountpoint) == 0)
		blog("allow_other is set, but the tree at %s was mounted without it (%s): other "
		     "users cannot reach it; add user_allow_other to /etc/fuse.conf", mountpoint,
		     b->mount_how);
	return 0;
}

void banger_unmount_tree(struct banger *b, const char *mountpoint)
{
	struct berr e = {0};
	if (priv_tree_unmount(b->priv, mountpoint, &e) < 0)
		blog("unmounting %s: %s", mountpoint, e.msg);
}

int banger_run(struct banger *b, void (*notify)(void *), void *arg)
{
	struct berr err = { 0 };
	int r;

	b->notify = notify;
	b->notify_arg = arg;
	if ((r = monitor_start(b->monitor, &err)) < 0) {
		blog("%s", err.msg);
		return r;
	}
	if ((r = vmports_start(b->ports, &err)) < 0) {
		blog("%s", err.msg);
		return r;
	}
	if (b->cat.engine) {
		/* Its threads (and the unpackers and hashers it starts) block
		 * every signal, as the daemon's other threads do. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = pull_engine_start(b->cat.engine, &err);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (r < 0) {
			blog("%s", err.msg);
			return r;
		}
		catsync_refresh(b->cat.sync, false); /* those not confirmed within catalog_ttl */
	}
	/* The bridge may be left from an earlier run, VMs with it. */
	hostnet_start(b->hostnet);
	/* VMs of clone files that were open when the last daemon stopped. */
	vm_reap_ephemeral(b);
	for (size_t i = 0; i < b->n_adopted; i++) {
		struct vm_rec rec = { 0 };
		if (store_vm_get(b->store, b->adopted[i], &rec, NULL) == 0 &&
		    strcmp(rec.state, "running") == 0) {
			vmssh_watch(b->vmssh, &rec, mono_ms());
			if (vm_image_has_agent(b, rec.image))
				vm_agent_watch(b, &rec, NULL, false, true, mono_ms());
		}
		vm_rec_clear(&rec);
	}
	b->n_adopted = 0;
	return 0;
}

void banger_close(struct banger *b)
{
	if (!b)
		return;
	/* Threads first (their callbacks use the rest); none waits on a guest.
	 * The catalogs' callbacks tell nobody any more: the adapters are gone. */
	b->notify = NULL;
	catoci_stop(&b->cat);
	b->cat.engine = pull_engine_free(b->cat.engine);
	b->cat.sync = catsync_free(b->cat.sync);
	b->cat.jobs = catjobs_free(b->cat.jobs);
	free(b->inject_dir);
	monitor_free(b->monitor);
	vmports_free(b->ports);
	vmexec_free(b->vmexec);
	vmagent_free(b->vmagent);
	snapstore_free(b->snaps);
	vmssh_free(b->vmssh);
	hostnet_free(b->hostnet);
	vmnet_free(b->vmnet);
	priv_close(b->priv);
	store_close(b->store);
	config_free(&b->cfg);
	banger_paths_free(&b->paths);
	free(b->home);
	tcache_free(b->tcache);
	events_free(b->events);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
