/* core/vm.c: VM lifecycle: create, delete, start, stop, kill, settings,
 * re-adoption after a daemon restart and the monitor's exit handling.
 *
 * Locking: every read-modify-write of a VM record happens under b->lock.
 * Slow work (cloning disks, launching or waiting for the VMM) runs without
 * the lock; the record's state (starting, stopping) keeps other verbs out
 * meanwhile. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "ctl.h"
#include "util.h"
#include "vmdisk.h"
#include "workspace.h"

#define VM_MAX 1024
#define KILL_WAIT_MS 15000

static char *vm_dir(struct banger *b, const char *name)
{
	return vmf_dir(b->paths.state_dir, name);
}

static char *vm_file(struct banger *b, const char *name, const char *file)
{
	return vmf_path(b->paths.state_dir, name, file);
}

static char *vm_run_dir(struct banger *b, const char *name)
{
	return vmf_run_dir(b->paths.runtime_dir, name);
}

#define vm_log(b, name, ...) vmf_note((b)->paths.state_dir, name, __VA_ARGS__)

void vm_record_error(struct banger *b, int64_t id, const struct berr *err)
{
	store_vm_set_error(b->store, id, err->msg, NULL);
	events_touch(b->events, id);
}

static enum vm_state rec_state(const struct vm_rec *r)
{
	enum vm_state s = VM_FAILED;
	vm_state_parse(r->state, &s);
	return s;
}

/* Every state change goes through here and is checked against the state
 * machine (vmstate.c).  Verbs are refused before anything happens, so an
 * illegal transition here is a bug in this file: it is logged loudly, and
 * the change is still recorded so a VM never wedges in a stale state. */
static void rec_set_state(struct vm_rec *r, enum vm_state s)
{
	enum vm_state from;
	struct berr e = { 0 };
	if (r->state[0] && vm_state_parse(r->state, &from) == 0 &&
	    vm_transition_check(r->name, from, s, &e) < 0)
		blog("internal error: %s", e.msg);
	snprintf(r->state, sizeof(r->state), "%s", vm_state_name(s));
}

static void rec_set_error(struct vm_rec *r, const char *msg)
{
	free(r->last_error);
	r->last_error = msg ? xstrdup(msg) : NULL;
}

/* Every write of a record goes through here: once it is stored, the
 * events log hears of its state (a line when it changed, a touch in any
 * case: core/events.h).  The adapters are told by banger_changed(),
 * called by each public function after it drops b->lock. */
static int rec_save(struct banger *b, const struct vm_rec *r, struct berr *err)
{
	int ret = store_vm_update(b->store, r, err);
	if (ret == 0)
		events_state(b->events, r->id, r->name, r->state);
	return ret;
}

/* A VM receiving its workspace (b->lock held): every other change waits. */
static bool is_busy(struct banger *b, int64_t id)
{
	for (size_t i = 0; i < b->n_busy; i++)
		if (b->busy[i] == id)
			return true;
	return false;
}

static int busy_refuse(struct banger *b, const struct vm_rec *r, struct berr *err)
{
	if (!is_busy(b, r->id))
		return 0;
	return berr_set(err, EBUSY, "vm '%s' is receiving its workspace; try again when that "
			"write returns", r->name);
}

void vm_effective(struct banger *b, const struct vm_rec *r, struct vm_eff *e)
{
	memset(e, 0, sizeof(*e));
	e->vcpu = r->vcpu ? r->vcpu : b->defaults.vcpu;
	e->vcpu_prov = r->vcpu ? PROV_VM : b->defaults.vcpu_prov;
	e->memory_mib = r->memory_mib ? r->memory_mib : b->defaults.memory_mib;
	e->memory_prov = r->memory_mib ? PROV_VM : b->defaults.memory_prov;
	e->disk_size = r->disk_size ? (uint64_t)r->disk_size : b->defaults.disk_size;
	e->disk_prov = r->disk_size ? PROV_VM : b->defaults.disk_prov;

	if (r->image[0]) {
		snprintf(e->image, sizeof(e->image), "%s", r->image);
		e->image_prov = "vm";
	} else {
		catalog_default(&b->cat, "image", e->image, sizeof(e->image), &e->image_prov);
	}
	if (r->kernel[0]) {
		snprintf(e->kernel, sizeof(e->kernel), "%s", r->kernel);
		e->kernel_prov = "vm";
		return;
	}
	/* The image may name the kernel it was built for. */
	struct image_rec img = { 0 };
	if (e->image[0] && store_image_get_by_name(b->store, "image", e->image, &img, NULL) == 0) {
		json_error_t jerr;
		json_t *m = img.manifest ? json_loads(img.manifest, 0, &jerr) : NULL;
		const char *k = m ? json_string_value(json_object_get(m, "kernel")) : NULL;
		if (k && *k && strlen(k) < sizeof(e->kernel)) {
			struct image_rec kr = { 0 };
			if (store_image_get_by_name(b->store, "kernel", k, &kr, NULL) == 0) {
				snprintf(e->kernel, sizeof(e->kernel), "%s", k);
				e->kernel_prov = "image";
			}
			image_rec_clear(&kr);
		}
		json_decref(m);
		image_rec_clear(&img);
		if (e->kernel[0])
			return;
	}
	catalog_default(&b->cat, "kernel", e->kernel, sizeof(e->kernel), &e->kernel_prov);
}

int vm_create(struct banger *b, const char *name, const struct vm_owner *own, int64_t *ret_id,
	      struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vm_rec *all = NULL;
	size_t n = 0;
	int ret;

	ret = vm_name_validate(name, err);
	if (ret < 0)
		return ret;
	if (strcmp(name, "clone") == 0)
		return berr_set(err, EINVAL, "'clone' is vms/clone, the file that makes VMs; "
				"choose another name");
	pthread_mutex_lock(&b->lock);
	ret = store_vm_list(b->store, &all, &n, err);
	if (ret < 0)
		goto out;
	vm_rec_array_free(all, n);
	if (n >= VM_MAX) {
		ret = berr_set(err, ENOSPC, "too many VMs (limit %d); delete some first", VM_MAX);
		goto out;
	}
	snprintf(r.name, sizeof(r.name), "%s", name);
	rec_set_state(&r, VM_CREATED);
	/* The daemon's own VMs keep "unset" (its uid and gid, vm_mode). */
	r.owner_uid = own && own->uid != b->owner_uid ? (int64_t)own->uid : -1;
	r.owner_gid = own && own->uid != b->owner_uid ? (int64_t)own->gid : -1;
	r.mode = -1;
	r.ephemeral = own && own->ephemeral;
	ret = store_vm_insert(b->store, &r, err);
	if (ret < 0)
		goto out;
	{
		_cleanup_free_ char *dir = vm_dir(b, name);
		rm_rf(dir); /* a leftover from a crash before its record was removed */
		int q = mkdir_p(dir, 0700);
		if (q < 0) {
			store_vm_delete(b->store, r.id, NULL);
			ret = berr_set(err, -q, "cannot create %s: %s", dir, strerror(-q));
			goto out;
		}
	}
	events_state(b->events, r.id, r.name, r.state);
	blog("vm %s created%s", name, r.ephemeral ? " (lives as long as its clone file)" : "");
	if (ret_id)
		*ret_id = r.id;
out:
	pthread_mutex_unlock(&b->lock);
	vm_rec_clear(&r);
	if (ret == 0)
		banger_changed(b);
	return ret;
}

int vm_delete(struct banger *b, int64_t id, struct berr *err)
{
	struct vm_rec r = { 0 };
	_cleanup_free_ char *dir = NULL, *run = NULL;
	int ret;

	pthread_mutex_lock(&b->lock);
	ret = store_vm_get(b->store, id, &r, err);
	if (ret < 0)
		goto out;
	enum vm_state s = rec_state(&r);
	if (vm_state_live(s)) {
		ret = berr_set(err, EBUSY, "vm '%s' is %s; stop it before deleting it", r.name,
			       vm_state_name(s));
		goto out;
	}
	if ((ret = busy_refuse(b, &r, err)) < 0)
		goto out;
	ret = store_vm_delete(b->store, id, err);
	if (ret < 0)
		goto out;
	vmnet_down(b->vmnet, &r);
	vmssh_forget(b->vmssh, &r);
	vmssh_write_config(b->vmssh);
	vmports_vm_gone(b->ports, id);
	events_line(b->events, id, r.name, "deleted");
	events_unlink(b->events, 1 /* NK_VMS: core/tree.h */, 0, r.name);
	dir = vm_dir(b, r.name);
	run = vm_run_dir(b, r.name);
	{
		/* Its dm snapshot, when it has one (core/vmdisk.h). */
		struct berr e = { 0 };
		if (vmdisk_forget(b->priv, b->paths.state_dir, r.name, &e) < 0)
			blog("vm %s: %s", r.name, e.msg);
	}
	rm_rf(dir);
	rm_rf(run);
	/* What a driver keeps elsewhere (Firecracker's jail). */
	for (size_t i = 0; vmm_drivers[i]; i++) {
		struct berr e = { 0 };
		if (vmm_drivers[i]->forget && vmm_drivers[i]->forget(&b->vmm_host, r.name, &e) < 0)
			blog("vm %s: %s", r.name, e.msg);
	}
	blog("vm %s deleted", r.name);
out:
	pthread_mutex_unlock(&b->lock);
	vm_rec_clear(&r);
	if (ret == 0)
		banger_changed(b);
	return ret;
}

int vm_image_path(struct banger *b, const char *kind, const char *name, const char *file,
		  char **ret, struct berr *err)
{
	struct image_rec img = { 0 };
	int r;

	if (!name[0])
		return berr_set(err, ENOENT, "no %s is configured and none of the built-in defaults "
				"is registered: run 'make images' or import one", kind);
	r = store_image_get_by_name(b->store, kind, name, &img, NULL);
	if (r < 0) /* which command pulls or builds it */
		return catalog_missing(&b->cat, kind, name, err);
	*ret = path_join(img.dir, file);
	image_rec_clear(&img);
	if (access(*ret, R_OK) < 0) {
		int e = errno;
		r = berr_set(err, e, "%s '%s' is missing %s: %s", kind, name, file, strerror(e));
		free(*ret);
		*ret = NULL;
		return r;
	}
	return 0;
}

static const struct vmm_driver *pick_driver(struct banger *b, const struct vm_rec *r,
					    struct berr *err)
{
	return vmm_of_vm(&b->choice, r, err);
}

int vm_load_proc(const struct vm_rec *r, struct vmm_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = (pid_t)r->pid;
	p->pid_start = r->pid_start;
	p->runtime = r->runtime ? xstrdup(r->runtime) : NULL;
	return r->pid > 0 ? 0 : -ESRCH;
}

static int do_start(struct banger *b, int64_t id, struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vm_eff e;
	struct vmm_proc proc = { 0 };
	struct vm_snap_plan plan = { 0 };
	_cleanup_free_ char *image_path = NULL, *kernel_path = NULL, *initrd = NULL;
	_cleanup_free_ char *netargs = NULL;
	const struct vmm_driver *drv;
	char ip[16] = "";
	bool watch = false;
	int ret;

	pthread_mutex_lock(&b->lock);
	ret = store_vm_get(b->store, id, &r, err);
	if (ret < 0)
		goto unlock;
	ret = vm_verb_check(r.name, rec_state(&r), VERB_START, err);
	if (ret == 0)
		ret = busy_refuse(b, &r, err);
	if (ret < 0)
		goto unlock;
	vm_effective(b, &r, &e);
	drv = pick_driver(b, &r, err);
	if (!drv) {
		ret = -err->code;
		goto unlock;
	}
	ret = vm_image_path(b, "image", e.image, "rootfs.ext4", &image_path, err);
	if (ret < 0)
		goto unlock;
	ret = vm_image_path(b, "kernel", e.kernel, "vmlinux", &kernel_path, err);
	if (ret < 0)
		goto unlock;
	if (vm_image_path(b, "kernel", e.kernel, "initrd.img", &initrd, NULL) < 0)
		initrd = NULL;
	{
		_cleanup_free_ char *run = vm_run_dir(b, r.name);
		_cleanup_free_ char *sock = path_join(run, "qmp.sock");
		if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			ret = berr_set(err, ENAMETOOLONG,
				       "socket path %s is too long; use a shorter runtime dir", sock);
			goto unlock;
		}
	}
	if ((ret = vmnet_alloc(b->vmnet, &r, err)) < 0)
		goto unlock;
	/* Freeze the image choice: the root disk is a clone of it. */
	snprintf(r.image, sizeof(r.image), "%s", e.image);
	rec_set_state(&r, VM_STARTING);
	rec_set_error(&r, NULL);
	ret = rec_save(b, &r, err);
	if (ret < 0)
		goto unlock;
	pthread_cond_broadcast(&b->changed);
	pthread_mutex_unlock(&b->lock);
	banger_changed(b);

	/* Slow part, unlocked: the state "starting" keeps other verbs out. */
	bool first = false;
	char tap[16] = "", mac[18];
	_cleanup_close_ int tap_fd = -1;
	netargs = vmnet_on(b->vmnet) ? netplan_cmdline(&b->plan, r.net_slot, r.name) : xstrdup("");
	{
		/* A container image boots with banger's init (docs/oci.md). */
		char init[160];
		catalog_image_init(&b->cat, e.image, init, sizeof(init));
		if (init[0]) {
			char *with = xasprintf("%s%sinit=%s", netargs, netargs[0] ? " " : "", init);
			free(netargs);
			netargs = with;
		}
	}
	netplan_addr(&b->plan, r.net_slot, ip, mac);
	int64_t t_disks = mono_ms(), t_net = 0, t_vmm = 0;
	struct vmdisk_req dq = { .state_dir = b->paths.state_dir, .name = r.name,
				 .image_path = image_path, .disk_size = e.disk_size,
				 .pubkey = vmssh_pubkey(b->vmssh), .file_sync = b->cfg.file_sync,
				 .n_file_sync = b->cfg.n_file_sync, .home = b->home,
				 /* disk_clone, resolved at open (vmdisk_clone_choose) */
				 .clone = b->clone_method, .priv = b->priv };
	/* Snapshots (vmsnap.c): a first start may restore; the root disk is
	 * then a clone of the snapshot's, which nothing may write into. */
	vm_snap_plan(b, &r, &e, drv, &plan);
	if (plan.restore) {
		struct berr ce = { 0 };
		if (vm_snap_clone_root(b, &r, &plan, drv, &ce) < 0)
			vm_snap_fall_back(b, &r, &plan, &ce);
	}
	/* A VM restored under QEMU has an overlay as its root disk; a VMM
	 * that cannot open one gets the disk as one file first. */
	ret = drv->root_overlay ? 0 : vmroot_flatten(b->paths.state_dir, r.name, err);
	if (ret == 0)
		ret = vmdisk_prepare(&dq, &first, err);
	t_net = mono_ms();
	if (ret == 0)
		ret = vmnet_up(b->vmnet, &r, drv->tap_by_fd ? &tap_fd : NULL, tap, err);
	if (ret == 0 && tap[0])
		vm_log(b, r.name, "network: tap %s on %s, %s", tap, b->plan.bridge,
		       drv->tap_by_fd ? "its descriptor handed to the VMM" : "opened by the VMM by name");
	t_vmm = mono_ms();
	if (ret == 0) {
		_cleanup_free_ char *run = vm_run_dir(b, r.name);
		_cleanup_free_ char *console = vm_file(b, r.name, "console.log");
		_cleanup_free_ char *log = vm_file(b, r.name, "vmm.log");
		_cleanup_free_ char *root = vmroot_path(b->paths.state_dir, r.name);
		_cleanup_free_ char *work = vm_file(b, r.name, "work.ext4");
		int q = mkdir_p(run, 0700);
		if (q < 0) {
			ret = berr_set(err, -q, "cannot create %s: %s", run, strerror(-q));
		} else {
			struct vmm_spec spec = {
				.name = r.name, .kernel = kernel_path, .initrd = initrd,
				.rootfs = root, .workdisk = work, .vcpu = e.vcpu,
				.memory_mib = e.memory_mib, .console_path = console,
				.log_path = log, .run_dir = run,
				.cmdline_extra = netargs[0] ? netargs : NULL,
				.tap = tap[0] ? tap : NULL, .mac = tap[0] ? mac : NULL,
				.tap_fd = tap_fd,
				/* ids are never reused (AUTOINCREMENT): a unique CID */
				.vsock_cid = (uint32_t)(r.id + 2),
				/* QEMU: memory a snapshot can copy (docs/snapshots.md) */
				.snapshottable = vm_snapshots_on(b),
			};
			vm_log(b, r.name, "starting: vcpu %lld memory_mib %lld image %s kernel %s accel %s",
			       (long long)e.vcpu, (long long)e.memory_mib, e.image, e.kernel,
			       b->vmm_host.accel);
			if (plan.restore)
				ret = vm_snap_restore(b, &r, &plan, drv, &spec, &dq, netargs, &proc, err);
			else
				ret = drv->start(&b->vmm_host, &spec, &proc, err);
			if (ret == 0)
				vm_log(b, r.name, "timing: disks %lld ms, network %lld ms, vmm %lld ms",
				       (long long)(t_net - t_disks), (long long)(t_vmm - t_net),
				       (long long)(mono_ms() - t_vmm));
		}
	}

	/* The VMM has its own copy now (or failed): the tap lives as long
	 * as the VMM holds it. */
	if (tap_fd >= 0)
		close(TAKE_FD(tap_fd));

	pthread_mutex_lock(&b->lock);
	struct vm_rec cur = { 0 };
	if (store_vm_get(b->store, id, &cur, NULL) < 0) {
		/* Cannot happen: delete refuses a starting VM. */
		if (ret == 0)
			drv->kill(&b->vmm_host, &proc, NULL);
		ret = ret < 0 ? ret : berr_set(err, ENOENT, "vm vanished while starting");
		goto unlock;
	}
	if (ret < 0) {
		vmnet_down(b->vmnet, &r);
		berr_wrap(err, "starting vm '%s'", r.name);
		rec_set_state(&cur, VM_FAILED);
		rec_set_error(&cur, err->msg);
		vm_log(b, r.name, "start failed: %s", err->msg);
		rec_save(b, &cur, NULL);
		/* Logged once, by the tree that reports it. */
	} else if (rec_state(&cur) != VM_STARTING) {
		/* A kill arrived while we were starting. */
		drv->kill(&b->vmm_host, &proc, NULL);
		proc_reap(proc.pid, NULL);
		vmnet_down(b->vmnet, &r);
		rec_set_state(&cur, VM_STOPPED);
		cur.pid = 0;
		cur.stopped_at = now_ms();
		rec_save(b, &cur, NULL);
		ret = berr_set(err, ECANCELED, "vm '%s' was killed while starting", r.name);
	} else {
		rec_set_state(&cur, VM_RUNNING);
		cur.pid = proc.pid;
		cur.pid_start = proc.pid_start;
		cur.started_at = now_ms();
		free(cur.runtime);
		cur.runtime = runtime_with_driver(proc.runtime, drv->name);
		ret = rec_save(b, &cur, err);
		if (ret < 0) {
			drv->kill(&b->vmm_host, &proc, NULL);
		} else {
			_cleanup_free_ char *console = vm_file(b, r.name, "console.log");
			struct berr we = { 0 };
			/* A VMM that died already is reported by the monitor too. */
			if (monitor_watch(b->monitor, id, proc.pid, proc.pid_start, console, &we) < 0)
				blog("vm %s: %s", r.name, we.msg);
			vmssh_write_config(b->vmssh);
			watch = true;
			blog("vm %s running (pid %d%s%s)", r.name, (int)proc.pid, ip[0] ? ", ip " : "",
			     ip);
		}
	}
	if (watch) {
		vmssh_watch(b->vmssh, &cur, t_vmm);
		if (plan.agent)
			vm_agent_watch(b, &cur, &plan, plan.restore, false, t_vmm);
	}
	if (plan.why[0] && !plan.restore)
		vm_log(b, r.name, "snapshot: %s", plan.why);
	if (plan.serious && ret == 0) {
		/* A snapshot refused on the way: worth the VM's err. */
		rec_set_error(&cur, plan.why);
		store_vm_update(b->store, &cur, NULL);
	}
	vm_rec_clear(&cur);
	pthread_cond_broadcast(&b->changed);
unlock:
	pthread_mutex_unlock(&b->lock);
	banger_changed(b);
	vm_snap_plan_clear(b, &plan);
	vmm_proc_clear(&proc);
	vm_rec_clear(&r);
	return ret;
}

/* Wait (b->lock held) until the VM leaves `s` or deadline passes: every
 * state change broadcasts b->changed.  Returns the state it is in. */
static enum vm_state wait_leave(struct banger *b, int64_t id, enum vm_state s,
				int64_t deadline_ms)
{
	for (;;) {
		struct vm_rec r = { 0 };
		enum vm_state cur = VM_STOPPED;
		if (store_vm_get(b->store, id, &r, NULL) == 0)
			cur = rec_state(&r);
		vm_rec_clear(&r);
		int64_t left = deadline_ms - mono_ms();
		if (cur != s || left <= 0)
			return cur;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->changed, &b->lock, &ts);
	}
}

/* stop (graceful) or kill.  Returns once the VM has stopped. */
static int do_stop(struct banger *b, int64_t id, bool graceful, struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vmm_proc proc = { 0 };
	const struct vmm_driver *drv;
	int ret;

	pthread_mutex_lock(&b->lock);
	ret = store_vm_get(b->store, id, &r, err);
	if (ret < 0)
		goto unlock;
	enum vm_state s = rec_state(&r);
	ret = vm_verb_check(r.name, s, graceful ? VERB_STOP : VERB_KILL, err);
	if (ret < 0)
		goto unlock;
	drv = pick_driver(b, &r, NULL);
	if (!drv)
		drv = &vmm_qemu_driver;
	if (s == VM_FAILED) {
		/* Nothing should be running; make sure and settle. */
		if (vm_load_proc(&r, &proc) == 0 && proc_alive(proc.pid, proc.pid_start))
			drv->kill(&b->vmm_host, &proc, NULL);
		vmnet_down(b->vmnet, &r);
		rec_set_state(&r, VM_STOPPED);
		r.pid = 0;
		r.stopped_at = now_ms();
		ret = rec_save(b, &r, err);
		goto unlock;
	}
	rec_set_state(&r, VM_STOPPING);
	ret = rec_save(b, &r, err);
	if (ret < 0)
		goto unlock;
	pthread_cond_broadcast(&b->changed);
	/* The guest is going: nobody waits for its sshd or agent any more. */
	vmssh_cancel(b->vmssh, id);
	vmagent_cancel(b->vmagent, id);
	if (s == VM_STARTING) {
		/* The starting thread sees "stopping" and kills what it made. */
		wait_leave(b, id, VM_STOPPING, mono_ms() + KILL_WAIT_MS * 4);
		goto unlock;
	}
	vm_load_proc(&r, &proc);
	pthread_mutex_unlock(&b->lock);
	banger_changed(b); /* "stopping" reaches readers of wait and events now */

	bool killed = !graceful;
	if (graceful) {
		struct berr e2 = { 0 };
		vm_log(b, r.name, "stop: asking the guest to power off");
		if (drv->shutdown(&b->vmm_host, &proc, &e2) < 0) {
			vm_log(b, r.name, "stop: %s; killing instead", e2.msg);
			killed = true;
		}
	}
	if (killed) {
		vm_log(b, r.name, "kill");
		drv->kill(&b->vmm_host, &proc, NULL);
	}

	pthread_mutex_lock(&b->lock);
	int64_t limit = killed ? KILL_WAIT_MS : b->cfg.stop_timeout_s * 1000;
	enum vm_state now = wait_leave(b, id, VM_STOPPING, mono_ms() + limit);
	if (now == VM_STOPPING && !killed) {
		pthread_mutex_unlock(&b->lock);
		vm_log(b, r.name, "stop: guest did not power off within %llds; killing",
		       (long long)b->cfg.stop_timeout_s);
		drv->kill(&b->vmm_host, &proc, NULL);
		pthread_mutex_lock(&b->lock);
		now = wait_leave(b, id, VM_STOPPING, mono_ms() + KILL_WAIT_MS);
	}
	if (now == VM_STOPPING)
		ret = berr_set(err, ETIMEDOUT, "vm '%s' (pid %d) did not exit after kill",
				r.name, (int)proc.pid);
unlock:
	pthread_mutex_unlock(&b->lock);
	banger_changed(b);
	vmm_proc_clear(&proc);
	vm_rec_clear(&r);
	return ret;
}

int vm_verb(struct banger *b, int64_t id, enum vm_verb v, struct berr *err)
{
	switch (v) {
	case VERB_START:
		return do_start(b, id, err);
	case VERB_STOP:
		return do_stop(b, id, true, err);
	case VERB_KILL:
		return do_stop(b, id, false, err);
	case VERB_RESTART: {
		struct vm_rec r = { 0 };
		int ret = store_vm_get(b->store, id, &r, err);
		enum vm_state s = rec_state(&r);
		if (ret == 0)
			ret = vm_verb_check(r.name, s, VERB_RESTART, err);
		vm_rec_clear(&r);
		if (ret < 0)
			return ret;
		if (s == VM_RUNNING && (ret = do_stop(b, id, true, err)) < 0)
			return ret;
		return do_start(b, id, err);
	}
	case VERB_SNAPSHOT:
		return vm_snapshot(b, id, err);
	case VERB_WORKSPACE: /* takes a directory: vm_workspace() */
	case VERB_COUNT:
		break;
	}
	return berr_set(err, EINVAL, "unknown verb");
}

void vm_exited(struct banger *b, int64_t id, bool have_status, int status)
{
	struct vm_rec r = { 0 };
	char how[96];

	/* Its readiness waits end now, whatever the record says. */
	vmssh_cancel(b->vmssh, id);
	vmagent_cancel(b->vmagent, id);
	pthread_mutex_lock(&b->lock);
	if (store_vm_get(b->store, id, &r, NULL) < 0)
		goto out;
	enum vm_state s = rec_state(&r);
	if (!vm_state_live(s) || s == VM_STARTING)
		goto out;
	if (!have_status)
		snprintf(how, sizeof(how), "exited (not a child of this daemon: status unknown)");
	else if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "ended");

	bool clean = !have_status || (WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (s == VM_STOPPING || clean) {
		rec_set_state(&r, VM_STOPPED);
	} else {
		struct berr e = { 0 };
		berr_set(&e, EIO, "vm '%s': the VMM %s unexpectedly (see log)", r.name, how);
		rec_set_state(&r, VM_FAILED);
		rec_set_error(&r, e.msg);
	}
	r.pid = 0;
	r.pid_start = 0;
	r.stopped_at = now_ms();
	rec_save(b, &r, NULL);
	vmnet_down(b->vmnet, &r);
	vm_log(b, r.name, "vmm %s; vm is %s", how, r.state);
	blog("vm %s: vmm %s; now %s", r.name, how, r.state);
	pthread_cond_broadcast(&b->changed);
out:
	pthread_mutex_unlock(&b->lock);
	vm_rec_clear(&r);
	banger_changed(b);
}

void vm_adopt_all(struct banger *b)
{
	struct vm_rec *all = NULL;
	size_t n = 0;

	if (store_vm_list(b->store, &all, &n, NULL) < 0)
		return;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		struct vm_rec *r = &all[i];
		enum vm_state s = rec_state(r);
		struct vmm_proc proc = { 0 };
		if (!vm_state_live(s))
			continue;
		const struct vmm_driver *drv = pick_driver(b, r, NULL);
		if (drv && vm_load_proc(r, &proc) == 0 &&
		    drv->adopt(&b->vmm_host, &proc, NULL) == 0) {
			if (s == VM_STARTING)
				rec_set_state(r, VM_RUNNING);
			rec_save(b, r, NULL);
			_cleanup_free_ char *console = vm_file(b, r->name, "console.log");
			struct berr e = { 0 };
			if (monitor_watch(b->monitor, r->id, proc.pid, proc.pid_start, console, &e) < 0)
				blog("vm %s: %s", r->name, e.msg);
			if (b->n_adopted < ADOPT_MAX)
				b->adopted[b->n_adopted++] = r->id;
			vm_log(b, r->name, "adopted by a new daemon (pid %d)", (int)proc.pid);
			blog("vm %s adopted (pid %d, %s)", r->name, (int)proc.pid, r->state);
		} else {
			if (s == VM_STOPPING || s == VM_RUNNING) {
				rec_set_state(r, VM_STOPPED);
			} else {
				rec_set_state(r, VM_FAILED);
				rec_set_error(r, "the daemon stopped while this VM was starting");
			}
			r->pid = 0;
			r->stopped_at = now_ms();
			rec_save(b, r, NULL);
			vmnet_down(b->vmnet, r);
			vm_log(b, r->name, "vmm gone while the daemon was down; vm is %s", r->state);
			blog("vm %s: vmm gone while the daemon was down; now %s", r->name, r->state);
		}
		vmm_proc_clear(&proc);
	}
	vmssh_write_config(b->vmssh);
	pthread_mutex_unlock(&b->lock);
	vm_rec_array_free(all, n);
}

static int parse_setting(const char *key, const char *value, int64_t lo, int64_t hi,
			 int64_t *ret, struct berr *err)
{
	int64_t v;
	if (parse_i64(value, &v) < 0)
		return berr_set(err, EINVAL, "%s must be a whole number, not '%.64s'", key, value);
	if (v < lo || v > hi)
		return berr_set(err, ERANGE, "%s must be between %lld and %lld, not %lld", key,
				(long long)lo, (long long)hi, (long long)v);
	*ret = v;
	return 0;
}

/* Apply one setting to r (a copy of the record): validation only, nothing
 * is written.  work is the VM's work disk; a setting may depend on its
 * disks existing (core/vmroot.h for the root disk). */
static int apply_setting(struct banger *b, struct vm_rec *r, const char *key, const char *value,
			 const char *work, struct berr *err)
{
	bool dflt = strcmp(value, "default") == 0;
	int ret;

	if (strcmp(key, "vcpu") == 0) {
		int64_t v = 0;
		if (!dflt && (ret = parse_setting(key, value, 1, 32, &v, err)) < 0)
			return ret;
		r->vcpu = v;
	} else if (strcmp(key, "memory_mib") == 0) {
		int64_t v = 0;
		if (!dflt && (ret = parse_setting(key, value, 128, 1048576, &v, err)) < 0)
			return ret;
		r->memory_mib = v;
	} else if (strcmp(key, "disk_size") == 0) {
		uint64_t v = 0;
		if (access(work, F_OK) == 0)
			return berr_set(err, EBUSY, "vm '%s' already has its work disk; "
					"disk_size applies before the first start", r->name);
		if (!dflt) {
			if (parse_size(value, &v) < 0)
				return berr_set(err, EINVAL,
						"disk_size must be a size like 8G or 512M, not '%.64s'",
						value);
			if (v < (64ULL << 20) || v > (16ULL << 40))
				return berr_set(err, ERANGE, "disk_size must be between 64M and 16T");
		}
		r->disk_size = (int64_t)v;
	} else if (strcmp(key, "image") == 0 || strcmp(key, "kernel") == 0) {
		bool is_image = key[0] == 'i';
		char *field = is_image ? r->image : r->kernel;
		if (is_image && vmroot_made(b->paths.state_dir, r->name))
			return berr_set(err, EBUSY, "vm '%s' already has a root disk cloned from image "
					"'%s'; create a new VM to use another image", r->name, r->image);
		if (!dflt) {
			struct image_rec img = { 0 };
			if (strlen(value) >= STORE_NAME_MAX ||
			    store_image_get_by_name(b->store, key, value, &img, NULL) < 0)
				return berr_set(err, ENOENT, "no %s named '%.64s' is registered", key,
						value);
			image_rec_clear(&img);
		}
		snprintf(field, STORE_NAME_MAX, "%s", dflt ? "" : value);
	} else if (strcmp(key, "vmm") == 0) {
		if (!dflt && !vmm_driver_named(value) && strcmp(value, "auto") != 0)
			return berr_set(err, EINVAL, "vmm must be auto, qemu or firecracker");
		snprintf(r->vmm, sizeof(r->vmm), "%s", dflt ? "" : value);
	} else {
		return berr_set(err, EINVAL, "unknown setting '%.64s' (settable: vcpu memory_mib "
				"disk_size image kernel vmm)", key);
	}
	return 0;
}

int vm_set(struct banger *b, int64_t id, const struct kv *kv, size_t n, struct berr *err)
{
	struct vm_rec r = { 0 };
	_cleanup_free_ char *work = NULL;
	int ret;

	pthread_mutex_lock(&b->lock);
	ret = store_vm_get(b->store, id, &r, err);
	if (ret < 0)
		goto out;
	enum vm_state s = rec_state(&r);
	if (vm_state_live(s)) {
		ret = berr_set(err, EBUSY, "vm '%s' is %s; stop it to change %s", r.name,
			       vm_state_name(s), n ? kv[0].key : "its settings");
		goto out;
	}
	if ((ret = busy_refuse(b, &r, err)) < 0)
		goto out;
	work = vm_file(b, r.name, "work.ext4");
	/* Every line against the copy first; the record is written once, so
	 * a bad line leaves every setting as it was. */
	for (size_t i = 0; i < n; i++) {
		ret = apply_setting(b, &r, kv[i].key, kv[i].value, work, err);
		if (ret < 0) {
			if (n > 1)
				berr_wrap(err, "line %zu (nothing was changed)", i + 1);
			goto out;
		}
	}
	ret = rec_save(b, &r, err);
out:
	pthread_mutex_unlock(&b->lock);
	vm_rec_clear(&r);
	if (ret == 0)
		banger_changed(b);
	return ret;
}

static void ws_warn(void *ctx, const char *line)
{
	struct vmdisk_req *q = ctx;
	vmf_note(q->state_dir, q->name, "workspace: %s", line);
}

int vm_workspace(struct banger *b, int64_t id, const char *dir, const struct ws_ident *who,
		 struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vm_eff e;
	_cleanup_free_ char *work = NULL, *vdir = NULL;
	int ret;

	if (dir[0] != '/')
		return berr_set(err, EINVAL, "workspace needs an absolute directory, not '%.200s'",
				dir);
	pthread_mutex_lock(&b->lock);
	ret = store_vm_get(b->store, id, &r, err);
	if (ret == 0)
		ret = vm_verb_check(r.name, rec_state(&r), VERB_WORKSPACE, err);
	if (ret == 0)
		ret = busy_refuse(b, &r, err);
	if (ret == 0) {
		work = vm_file(b, r.name, "work.ext4");
		if (vmroot_made(b->paths.state_dir, r.name) || access(work, F_OK) == 0)
			ret = berr_set(err, EBUSY, "vm '%s' has booted before (it has its disks): a "
				       "workspace goes into a new VM's work disk", r.name);
	}
	if (ret == 0 && b->n_busy == ARRAY_SIZE(b->busy))
		ret = berr_set(err, EAGAIN, "%zu workspaces are being written; try again",
			       b->n_busy);
	if (ret < 0) {
		pthread_mutex_unlock(&b->lock);
		vm_rec_clear(&r);
		return ret;
	}
	b->busy[b->n_busy++] = id;
	vm_effective(b, &r, &e);
	pthread_mutex_unlock(&b->lock);

	/* Unlocked: the copy takes seconds; the busy mark keeps start,
	 * delete and settings away.  Made under a temporary name, so a
	 * failure leaves no work disk (the next start makes a fresh one). */
	struct vmdisk_req dq = { .state_dir = b->paths.state_dir, .name = r.name,
				 .disk_size = e.disk_size, .file_sync = b->cfg.file_sync,
				 .n_file_sync = b->cfg.n_file_sync, .home = b->home };
	struct ws_stats st = { 0 };
	int64_t t0 = mono_ms();
	vdir = vm_dir(b, r.name);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", work);
	ret = mkdir_p(vdir, 0700);
	if (ret < 0)
		berr_set(err, -ret, "cannot create %s: %s", vdir, strerror(-ret));
	if (ret == 0) {
		unlink(tmp);
		ret = workdisk_create(tmp, e.disk_size, "work", err);
	}
	if (ret == 0)
		ret = workspace_write(tmp, dir, who, ws_warn, &dq, &st, err);
	if (ret == 0)
		ret = vmdisk_file_sync(&dq, tmp, err);
	if (ret == 0 && rename(tmp, work) < 0)
		ret = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (ret < 0) {
		unlink(tmp);
		berr_wrap(err, "workspace for vm '%s'", r.name);
		vm_log(b, r.name, "workspace failed: %s", err->msg);
	} else {
		vm_log(b, r.name, "workspace: %llu files, %llu directories, %llu symlinks, %.1f MiB of "
		       "data, %llu skipped, in %lld ms", (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
		       (double)st.bytes / (1 << 20),
		       (unsigned long long)st.skipped, (long long)(mono_ms() - t0));
	}

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n_busy; i++)
		if (b->busy[i] == id) {
			b->busy[i] = b->busy[--b->n_busy];
			break;
		}
	pthread_mutex_unlock(&b->lock);
	vm_rec_clear(&r);
	return ret;
}

/* ---- clone: VMs that live as long as a file is open (docs/tree.md) ---- */

int vm_keep(struct banger *b, int64_t id, struct berr *err)
{
	pthread_mutex_lock(&b->lock);
	int ret = store_vm_set_ephemeral(b->store, id, false, err);
	pthread_mutex_unlock(&b->lock);
	if (ret == 0)
		events_touch(b->events, id);
	return ret;
}

int vm_destroy(struct banger *b, int64_t id, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = store_vm_get(b->store, id, &r, err);
	enum vm_state s = rec_state(&r);
	bool ephemeral = r.ephemeral;
	vm_rec_clear(&r);
	if (ret < 0)
		return ret;
	if (!ephemeral)
		return 0; /* kept meanwhile */
	if (vm_state_live(s) || s == VM_FAILED) {
		ret = do_stop(b, id, false, err);
		if (ret < 0 && ret != -EBUSY)
			return ret;
	}
	return vm_delete(b, id, err);
}

void vm_reap_ephemeral(struct banger *b)
{
	struct vm_rec *all = NULL;
	size_t n = 0;
	if (store_vm_list(b->store, &all, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct berr e = { 0 };
		if (!all[i].ephemeral)
			continue;
		/* Its clone file belonged to the daemon that stopped: nobody can
		 * hold it any more. */
		if (vm_destroy(b, all[i].id, &e) < 0)
			blog("vm %s: its clone file is gone, but it cannot be destroyed: %s",
			     all[i].name, e.msg);
		else
			blog("vm %s destroyed: its clone file was closed when the daemon stopped",
			     all[i].name);
	}
	vm_rec_array_free(all, n);
}

int vm_chown(struct banger *b, int64_t id, int64_t uid, int64_t gid, int64_t mode,
	     struct berr *err)
{
	pthread_mutex_lock(&b->lock);
	int ret = store_vm_set_owner(b->store, id, uid, gid, mode, err);
	pthread_mutex_unlock(&b->lock);
	if (ret == 0) {
		events_touch(b->events, id);
		banger_changed(b);
	}
	return ret;
}

/* ---- snapshots (docs/snapshots.md): the verb and the automatic one --------- */

/* Settings, kernel files and process of a running VM, for vm_snap_make. */
static int snap_of(struct banger *b, const struct vm_rec *r, struct agent *a,
		   const atomic_bool *cancel, bool only_if_missing, char *name, struct berr *err)
{
	struct vm_eff e;
	struct vmm_proc proc = { 0 };
	_cleanup_free_ char *kernel = NULL, *initrd = NULL;
	vm_effective(b, r, &e);
	int ret = vm_image_path(b, "kernel", e.kernel, "vmlinux", &kernel, err);
	if (ret < 0)
		return ret;
	if (vm_image_path(b, "kernel", e.kernel, "initrd.img", &initrd, NULL) < 0)
		initrd = NULL;
	vm_load_proc(r, &proc);
	ret = vm_snap_make(b, r, &e, kernel, initrd, &proc, a, cancel, only_if_missing, name, err);
	vmm_proc_clear(&proc);
	return ret;
}

/* vmagent's prepare: the first cold boot of a VM whose kind has no
 * snapshot makes it, before the VM is ready (nothing of the user's runs
 * yet, so letting go of /root and the network costs nobody anything). */
void vm_agent_prepare(struct banger *b, int64_t id, struct agent *a, const atomic_bool *cancel)
{
	struct vm_rec r = { 0 };
	struct berr err = { 0 };
	char name[SNAP_NAME_MAX] = "";
	if (store_vm_get(b->store, id, &r, NULL) < 0)
		return;
	if (rec_state(&r) == VM_RUNNING) {
		int ret = snap_of(b, &r, a, cancel, true, name, &err);
		if (ret == 0)
			vm_log(b, r.name, "snapshot: made %s for the next VMs of this kind", name);
		else if (ret != -EEXIST)
			vm_log(b, r.name, "snapshot: none made: %s", err.msg);
	}
	vm_rec_clear(&r);
}

/* echo snapshot > vms/NAME/ctl */
int vm_snapshot(struct banger *b, int64_t id, struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vmagent_ref *ref = NULL;
	struct agent *a = NULL;
	char name[SNAP_NAME_MAX];
	int ret = store_vm_get(b->store, id, &r, err);
	if (ret == 0)
		ret = vm_verb_check(r.name, rec_state(&r), VERB_SNAPSHOT, err);
	if (ret == 0 && !vm_snapshots_on(b))
		ret = berr_set(err, EPERM, "snapshots are off (snapshot = off in config.toml)");
	if (ret == 0 && (ret = vmagent_hold(b->vmagent, id, &ref, &a, err)) < 0)
		berr_wrap(err, "a snapshot needs the guest agent");
	if (ret == 0)
		ret = snap_of(b, &r, a, NULL, false, name, err);
	vmagent_release(ref);
	if (ret == 0)
		vm_log(b, r.name, "snapshot: made %s", name);
	else if (r.name[0])
		berr_wrap(err, "snapshot of vm '%s'", r.name);
	vm_rec_clear(&r);
	return ret;
}
