/* core/banger.c: opening the domain, the monitor thread, logging. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "util.h"

void blog(const char *fmt, ...)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ bangerd: ", ts, now.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

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

int banger_open(struct banger **ret, const struct banger_paths *p, struct berr *err)
{
	struct banger *b = xcalloc(1, sizeof(*b));
	_cleanup_free_ char *db = NULL;
	int r;

	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->changed, NULL);
	paths_copy(&b->paths, p);
	config_init(&b->cfg);

	r = config_load(&b->cfg, p->config_path, p->config_must_exist, err);
	if (r < 0)
		goto fail;
	hostinfo_read(&b->host);
	sizing_resolve(&b->cfg, &b->host, &b->defaults);

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

	b->priv = priv_open(p->root_socket);
	r = vmnet_init(b, err);
	if (r < 0)
		goto fail;

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
	if (disk_probe_clone(p->state_dir, &b->clone_method, NULL) < 0)
		b->clone_method = CLONE_SPARSE_COPY;

	catalog_scan(b);
	vm_adopt_all(b);
	*ret = b;
	return 0;
fail:
	banger_close(b);
	return r;
}

void live_add(struct banger *b, int64_t id, pid_t pid, int64_t start)
{
	for (size_t i = 0; i < b->n_live; i++)
		if (b->live[i].id == id) {
			b->live[i].pid = pid;
			b->live[i].pid_start = start;
			return;
		}
	if (b->n_live < LIVE_MAX)
		b->live[b->n_live++] = (struct live_vm){ id, pid, start };
}

void live_remove(struct banger *b, int64_t id)
{
	for (size_t i = 0; i < b->n_live; i++)
		if (b->live[i].id == id) {
			b->live[i] = b->live[--b->n_live];
			return;
		}
}

int banger_mount_tree(struct banger *b, const char *mountpoint, int *ret_fd, struct berr *err)
{
	struct berr e = {0};
	int r;

	/* A daemon killed with SIGKILL leaves its tree behind, disconnected
	 * (ENOTCONN): take it away first.  A tree served by a live daemon is
	 * refused below (EBUSY) and stays. */
	struct stat st;
	if (stat(mountpoint, &st) < 0 && errno == ENOTCONN &&
	    priv_tree_unmount(b->priv, mountpoint, &e) < 0)
		blog("cannot remove the stale tree at %s: %s", mountpoint, e.msg);
	r = mkdir_p(mountpoint, 0755);
	if (r < 0)
		return berr_set(err, -r, "cannot create mount point %s: %s", mountpoint,
				strerror(-r));
	r = priv_tree_mount(b->priv, mountpoint, ret_fd, &b->mount_how, err);
	if (r < 0)
		return berr_wrap(err, "mounting the tree");
	return 0;
}

void banger_unmount_tree(struct banger *b, const char *mountpoint)
{
	struct berr e = {0};
	if (priv_tree_unmount(b->priv, mountpoint, &e) < 0)
		blog("unmounting %s: %s", mountpoint, e.msg);
}

/* Every 100 ms: reap or notice exited VMMs, then let the adapter wake
 * readers waiting for console output. */
static void *monitor_main(void *arg)
{
	struct banger *b = arg;

	for (;;) {
		struct live_vm gone[LIVE_MAX];
		int status[LIVE_MAX];
		bool have[LIVE_MAX];
		size_t n_gone = 0;

		pthread_mutex_lock(&b->lock);
		if (b->monitor_stop) {
			pthread_mutex_unlock(&b->lock);
			break;
		}
		for (size_t i = 0; i < b->n_live; i++) {
			struct live_vm *l = &b->live[i];
			int st = 0;
			int r = proc_reap(l->pid, &st);
			if (r == 1) {
				have[n_gone] = true;
				status[n_gone] = st;
				gone[n_gone++] = *l;
			} else if (!proc_alive(l->pid, l->pid_start)) {
				have[n_gone] = false;
				status[n_gone] = 0;
				gone[n_gone++] = *l;
			}
		}
		pthread_mutex_unlock(&b->lock);

		for (size_t i = 0; i < n_gone; i++)
			vm_exited(b, gone[i].id, have[i], status[i]);
		if (b->notify)
			b->notify(b->notify_arg);

		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int banger_run(struct banger *b, void (*notify)(void *), void *arg)
{
	b->notify = notify;
	b->notify_arg = arg;
	int r = pthread_create(&b->monitor, NULL, monitor_main, b);
	if (r != 0)
		return -r;
	b->monitor_running = true;
	/* The bridge may be left from an earlier run, VMs with it. */
	vmdns_start(b);
	for (size_t i = 0; i < b->n_adopted; i++)
		vmnet_watch(b, b->adopted[i]);
	b->n_adopted = 0;
	return 0;
}

void banger_close(struct banger *b)
{
	if (!b)
		return;
	if (b->monitor_running) {
		pthread_mutex_lock(&b->lock);
		b->monitor_stop = true;
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->monitor, NULL);
	}
	vmnet_close(b);
	priv_close(b->priv);
	store_close(b->store);
	config_free(&b->cfg);
	banger_paths_free(&b->paths);
	pthread_cond_destroy(&b->changed);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
