/* core/vmm_qemu_snap.c: the QEMU driver's snapshots (docs/snapshots.md).
 *
 * A VM that may be snapshotted boots with its memory in a shared memfd
 * (spec->snapshottable: memory-backend-memfd,share=on).  Save, while the VM
 * is paused (QMP stop): the x-ignore-shared migration capability, then
 * migrate "exec:cat > DIR/state.tmp": shared memory is left out, so the
 * stream is the device state alone (tens of KiB); then the memfd itself
 * (found in /proc/PID/fd) is copied to DIR/mem, holes kept: pages the guest
 * never touched cost nothing.
 *
 * Restore: a new QEMU maps DIR/mem privately (memory-backend-file
 * share=off: MAP_PRIVATE, so every restore of a snapshot shares the file's
 * page cache and the file is never written), with -incoming defer;
 * x-ignore-shared again, migrate-incoming "exec:cat DIR/state", cont.  QEMU
 * writes no ROM image into guest memory while a migration is incoming, so
 * the kernel it is given does not overwrite the restored guest.  QEMU 7.2
 * opens a memory-backend file read-write even when it maps it privately
 * (readonly=on would map it read-only, and the guest could not write its
 * own memory); QEMU 8.2's rom=off lifts that.
 *
 * A restored VM's memory is that private mapping, not a memfd: it cannot
 * be snapshotted again (snapshot a VM that booted). */
#define _GNU_SOURCE
#include "vmm_qemu_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "disk.h"
#include "qmp.h"
#include "util.h"
#include "vmm_common.h"

#define QMP_MS 5000                 /* one command */
#define MIGRATE_MS (5 * 60 * 1000)  /* a whole save or load */
#define POLL_MS 5

/* "exec:cat > 'PATH'" or "exec:cat 'PATH'" (QEMU runs it with /bin/sh -c). */
static char *exec_uri(const char *prefix, const char *path)
{
	struct sbuf b;
	sbuf_init(&b);
	sbuf_puts(&b, prefix);
	sbuf_shquote(&b, path);
	return sbuf_steal(&b);
}

static int qmp_sock_of(const struct vmm_proc *p, char **ret, struct berr *err)
{
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "qemu (pid %d) is not running", p ? (int)p->pid : 0);
	*ret = vmm_runtime_get(p, "qmp");
	if (!*ret)
		return berr_set(err, EINVAL, "the stored qemu runtime has no QMP socket path");
	return 0;
}

int qemu_pause(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	_cleanup_free_ char *sock = NULL;
	(void)h;
	int r = qmp_sock_of(p, &sock, err);
	if (r == 0)
		r = qmp_call(sock, QMP_MS, "stop", NULL, NULL, err);
	return r < 0 ? berr_wrap(err, "pausing qemu (pid %d)", p ? (int)p->pid : 0) : 0;
}

int qemu_resume(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	_cleanup_free_ char *sock = NULL;
	(void)h;
	int r = qmp_sock_of(p, &sock, err);
	if (r == 0)
		r = qmp_call(sock, QMP_MS, "cont", NULL, NULL, err);
	return r < 0 ? berr_wrap(err, "resuming qemu (pid %d)", p ? (int)p->pid : 0) : 0;
}

static int set_ignore_shared(struct qmp *q, struct berr *err)
{
	json_t *args = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared",
				 "state", 1);
	int r = qmp_exec(q, "migrate-set-capabilities", args, NULL, err);
	json_decref(args);
	return r < 0 ? berr_wrap(err, "setting x-ignore-shared") : 0;
}

/* Poll query-migrate until the outgoing migration on q ends. */
static int migrate_wait(struct qmp *q, pid_t pid, int64_t pid_start, struct berr *err)
{
	int64_t deadline = mono_ms() + MIGRATE_MS;
	for (;;) {
		json_t *st = NULL;
		int r = qmp_exec(q, "query-migrate", NULL, &st, err);
		if (r < 0)
			return r;
		const char *status = json_string_value(json_object_get(st, "status"));
		if (status && strcmp(status, "completed") == 0) {
			json_decref(st);
			return 0;
		}
		if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
			const char *desc = json_string_value(json_object_get(st, "error-desc"));
			r = berr_set(err, EIO, "the migration %s%s%s", status, desc ? ": " : "",
				     desc ? desc : "");
			json_decref(st);
			return r;
		}
		json_decref(st);
		if (!proc_alive(pid, pid_start))
			return berr_set(err, ECHILD, "qemu exited");
		if (mono_ms() > deadline)
			return berr_set(err, ETIMEDOUT, "the migration did not end within %d s",
					MIGRATE_MS / 1000);
		vmm_sleep_ms(POLL_MS);
	}
}

/* "/proc/PID/fd/N" of QEMU's guest memory memfd, or NULL. */
static char *memfd_of(pid_t pid)
{
	_cleanup_free_ char *dir = xasprintf("/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	char *found = NULL;
	if (!d)
		return NULL;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char target[256];
		_cleanup_free_ char *p = path_join(dir, de->d_name);
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "/memfd:memory-backend-memfd", 27) == 0)
			found = TAKE_PTR(p);
	}
	closedir(d);
	return found;
}

int qemu_snap_possible(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "qemu (pid %d) is not running", p ? (int)p->pid : 0);
	_cleanup_free_ char *memfd = memfd_of(p->pid);
	if (!memfd)
		return berr_set(err, ENOTSUP, "this VM's memory is not in a shared memfd (it was "
				"restored from a snapshot, or started with snapshot = off): only a VM "
				"that booted can be snapshotted");
	return 0;
}

int qemu_snap_save(const struct vmm_host *h, const struct vmm_proc *p, const struct vmm_spec *s,
		   const struct vmm_snap *sn, struct berr *err)
{
	_cleanup_free_ char *sock = NULL, *memfd = NULL;
	_cleanup_free_ char *state_tmp = xasprintf("%s.tmp", sn->state);
	_cleanup_free_ char *mem_tmp = xasprintf("%s.tmp", sn->mem);
	struct qmp *q = NULL;
	(void)h, (void)s;

	int r = qmp_sock_of(p, &sock, err);
	if (r < 0)
		return r;
	memfd = memfd_of(p->pid);
	if (!memfd)
		return berr_set(err, ENOTSUP, "this VM's memory is not in a shared memfd (it was "
				"restored from a snapshot, or started with snapshot = off): only a VM "
				"that booted can be snapshotted");
	unlink(state_tmp);
	unlink(mem_tmp);
	r = qmp_open(sock, QMP_MS, &q, err);
	if (r == 0)
		r = set_ignore_shared(q, err);
	if (r == 0) {
		_cleanup_free_ char *uri = exec_uri("exec:cat > ", state_tmp);
		json_t *args = json_pack("{s:s}", "uri", uri);
		r = qmp_exec(q, "migrate", args, NULL, err);
		json_decref(args);
	}
	if (r == 0)
		r = migrate_wait(q, p->pid, p->pid_start, err);
	if (q)
		qmp_close(q);
	if (r < 0) {
		unlink(state_tmp);
		return berr_wrap(err, "saving the device state");
	}
	/* The guest's memory as it is now (paused): holes stay holes. */
	r = disk_clone(memfd, mem_tmp, NULL, err);
	if (r == 0 && (rename(state_tmp, sn->state) < 0 || rename(mem_tmp, sn->mem) < 0))
		r = berr_set(err, errno, "cannot rename the snapshot's files in %s: %s", sn->dir,
			     strerror(errno));
	if (r < 0) {
		unlink(state_tmp);
		unlink(mem_tmp);
		return berr_wrap(err, "copying the guest's memory");
	}
	return 0;
}

/* Wait until the incoming state is loaded: the run state leaves
 * "inmigrate" (for "paused": the source was paused when it was saved). */
static int incoming_wait(struct qmp *q, pid_t pid, int64_t pid_start, const char *log_path,
			 struct berr *err)
{
	int64_t deadline = mono_ms() + MIGRATE_MS;
	for (;;) {
		json_t *st = NULL;
		int r = qmp_exec(q, "query-status", NULL, &st, err);
		if (r < 0) {
			if (!proc_alive(pid, pid_start)) {
				_cleanup_free_ char *tail = vmm_log_tail(log_path);
				return berr_set(err, ECHILD, "qemu exited: %s",
						*tail ? tail : "(nothing in its log)");
			}
			return r;
		}
		const char *status = json_string_value(json_object_get(st, "status"));
		char shown[32];
		snprintf(shown, sizeof(shown), "%s", status ? status : "?");
		json_decref(st);
		if (strcmp(shown, "paused") == 0 || strcmp(shown, "postmigrate") == 0)
			return 0;
		if (strcmp(shown, "inmigrate") != 0)
			return berr_set(err, EIO, "qemu is %s after the load, not paused", shown);
		if (mono_ms() > deadline)
			return berr_set(err, ETIMEDOUT, "the load did not end within %d s",
					MIGRATE_MS / 1000);
		vmm_sleep_ms(POLL_MS);
	}
}

int qemu_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		 struct vmm_proc *ret, struct berr *err)
{
	struct vmm_proc proc = { 0 };
	struct qmp *q = NULL;
	_cleanup_free_ char *sock = path_join(s->run_dir, "qmp.sock");
	struct vmm_spec rs = *s;
	int r;

	rs.snapshottable = false;
	if (access(sn->mem, R_OK) < 0 || access(sn->state, R_OK) < 0)
		return berr_set(err, errno, "snapshot %s: %s", sn->dir, strerror(errno));
	r = qemu_launch(h, &rs, sn->mem, &proc, err);
	if (r < 0)
		return r;
	r = qmp_open(sock, QMP_MS, &q, err);
	if (r == 0)
		r = set_ignore_shared(q, err);
	if (r == 0) {
		_cleanup_free_ char *uri = exec_uri("exec:cat ", sn->state);
		json_t *args = json_pack("{s:s}", "uri", uri);
		r = qmp_exec(q, "migrate-incoming", args, NULL, err);
		json_decref(args);
	}
	if (r == 0)
		r = incoming_wait(q, proc.pid, proc.pid_start, s->log_path, err);
	if (r == 0)
		r = qmp_exec(q, "cont", NULL, NULL, err);
	if (q)
		qmp_close(q);
	if (r < 0) {
		berr_wrap(err, "loading the snapshot");
		if (proc_alive(proc.pid, proc.pid_start))
			vmm_kill_and_reap(proc.pid);
		else
			proc_reap(proc.pid, NULL);
		log_note(s->log_path, "restore from %s failed: %s", sn->dir, err->msg);
		vmm_proc_clear(&proc);
		return r;
	}
	/* The runtime says where the VM came from. */
	json_error_t je;
	json_t *rt = proc.runtime ? json_loads(proc.runtime, 0, &je) : NULL;
	if (rt) {
		json_object_set_new(rt, "snapshot", json_string(sn->dir));
		char *t = json_dumps(rt, JSON_COMPACT);
		if (t) {
			free(proc.runtime);
			proc.runtime = t;
		}
		json_decref(rt);
	}
	log_note(s->log_path, "restored from snapshot %s", sn->dir);
	*ret = proc;
	return 0;
}

/* What a restore needs to match beyond the core's key: the binary (an
 * upgrade may change the migration format), the accelerator and CPU model,
 * the machine and the devices in the order the guest saw them. */
int qemu_snap_machine(const struct vmm_host *h, const struct vmm_spec *s, struct sbuf *out,
		      struct berr *err)
{
	const char *bin = h->qemu_bin && *h->qemu_bin ? h->qemu_bin : "qemu-system-x86_64";
	_cleanup_free_ char *path = strchr(bin, '/') ? xstrdup(bin) : find_program(bin);
	_cleanup_free_ char *real = path ? realpath(path, NULL) : NULL;
	struct stat st;
	if (!real || stat(real, &st) < 0)
		return berr_set(err, ENOENT, "cannot find the qemu binary %s", bin);
	bool tcg = strcmp(h->accel, "tcg") == 0;
	sbuf_printf(out, "vmm qemu\n");
	sbuf_printf(out, "binary %s %lld %lld\n", real, (long long)st.st_size,
		    (long long)st.st_mtim.tv_sec);
	sbuf_printf(out, "accel %s\ncpu %s\n", h->accel, tcg ? "max" : "host");
	sbuf_printf(out, "machine microvm,acpi=on\n");
	sbuf_printf(out, "devices blk:root%s%s rng virtio-serial:banger.agent\n",
		    s->workdisk ? " blk:work" : "", s->tap ? " net:tap" : "");
	return 0;
}
