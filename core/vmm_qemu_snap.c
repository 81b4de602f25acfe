/* core/vmm_qemu_snap.c: the QEMU driver's snapshots (docs/snapshots.md).
 *
 * Save: QMP stop, then migrate "exec:cat > DIR/qemu-stream" (the whole
 * machine, memory included, as QEMU's migration stream).  After the source
 * runs again (cont), snap_finish turns that stream into the two files a
 * restore reads, with a helper QEMU that never runs the guest: it maps a new
 * memory file shared (memory-backend-file share=on), loads the stream into
 * it (-incoming defer, migrate-incoming), then saves again with the
 * x-ignore-shared capability, which leaves shared memory out: DIR/state is
 * the device state alone (tens of KiB) and DIR/mem the guest's memory, as
 * sparse as the guest left it (pages it never touched stay holes).
 *
 * Restore: a new QEMU maps DIR/mem privately (share=off: MAP_PRIVATE, so
 * every restore of a snapshot shares the file's page cache and the file is
 * never written), gets -incoming defer, x-ignore-shared, migrate-incoming
 * "exec:cat DIR/state", and cont.  QEMU does not write ROM images into
 * guest memory while a migration is incoming, so the kernel QEMU is given
 * does not overwrite the restored guest.  QEMU 7.2 opens a memory-backend
 * file read-write even when it maps it privately (readonly=on would map it
 * read-only, so the guest could not write its own memory); 8.2's rom=off
 * lifts that. */
#define _GNU_SOURCE
#include "vmm_qemu_int.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "qmp.h"
#include "util.h"
#include "vmm_common.h"

#define QMP_MS 5000               /* one command */
#define MIGRATE_MS (10 * 60 * 1000) /* a whole migration (memory size, disk speed) */
#define POLL_MS 10

/* "exec:cat > 'PATH'" or "exec:cat 'PATH'" (QEMU runs it with /bin/sh -c). */
static char *exec_uri(const char *fmt_prefix, const char *path)
{
	struct sbuf b;
	sbuf_init(&b);
	sbuf_puts(&b, fmt_prefix);
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

/* Poll query-migrate until the migration on q ends: 0 when completed. */
static int migrate_wait(struct qmp *q, pid_t pid, int64_t pid_start, const char *what,
			struct berr *err)
{
	int64_t deadline = mono_ms() + MIGRATE_MS;
	for (;;) {
		json_t *st = NULL;
		int r = qmp_exec(q, "query-migrate", NULL, &st, err);
		if (r < 0)
			return berr_wrap(err, "%s", what);
		const char *status = json_string_value(json_object_get(st, "status"));
		if (status && strcmp(status, "completed") == 0) {
			json_decref(st);
			return 0;
		}
		if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
			const char *desc = json_string_value(json_object_get(st, "error-desc"));
			r = berr_set(err, EIO, "%s: the migration %s%s%s", what, status,
				     desc ? ": " : "", desc ? desc : "");
			json_decref(st);
			return r;
		}
		json_decref(st);
		if (pid > 0 && !proc_alive(pid, pid_start))
			return berr_set(err, ECHILD, "%s: qemu exited", what);
		if (mono_ms() > deadline)
			return berr_set(err, ETIMEDOUT, "%s: the migration did not end within %d s", what,
					MIGRATE_MS / 1000);
		vmm_sleep_ms(POLL_MS);
	}
}

/* Wait until an incoming migration has been loaded: the run state leaves
 * "inmigrate" (for "paused": the source was stopped when it was saved). */
static int incoming_wait(struct qmp *q, pid_t pid, int64_t pid_start, const char *log_path,
			 const char *what, struct berr *err)
{
	int64_t deadline = mono_ms() + MIGRATE_MS;
	for (;;) {
		json_t *st = NULL;
		int r = qmp_exec(q, "query-status", NULL, &st, err);
		if (r < 0) {
			if (!proc_alive(pid, pid_start)) {
				_cleanup_free_ char *tail = vmm_log_tail(log_path);
				return berr_set(err, ECHILD, "%s: qemu exited: %s", what,
						*tail ? tail : "(nothing in its log)");
			}
			return berr_wrap(err, "%s", what);
		}
		const char *status = json_string_value(json_object_get(st, "status"));
		bool loading = status && strcmp(status, "inmigrate") == 0;
		bool done = status && (strcmp(status, "paused") == 0 ||
				       strcmp(status, "postmigrate") == 0 ||
				       strcmp(status, "prelaunch") == 0);
		char shown[32];
		snprintf(shown, sizeof(shown), "%s", status ? status : "?");
		json_decref(st);
		if (done)
			return 0;
		if (!loading)
			return berr_set(err, EIO, "%s: qemu is %s after the load, not paused", what,
					shown);
		if (mono_ms() > deadline)
			return berr_set(err, ETIMEDOUT, "%s: the load did not end within %d s", what,
					MIGRATE_MS / 1000);
		vmm_sleep_ms(POLL_MS);
	}
}

static int set_ignore_shared(struct qmp *q, struct berr *err)
{
	json_t *args = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared",
				 "state", 1);
	int r = qmp_exec(q, "migrate-set-capabilities", args, NULL, err);
	json_decref(args);
	return r < 0 ? berr_wrap(err, "setting x-ignore-shared") : 0;
}

static int migrate_to(struct qmp *q, const char *path, struct berr *err)
{
	_cleanup_free_ char *uri = exec_uri("exec:cat > ", path);
	json_t *args = json_pack("{s:s}", "uri", uri);
	int r = qmp_exec(q, "migrate", args, NULL, err);
	json_decref(args);
	return r;
}

static int migrate_from(struct qmp *q, const char *path, struct berr *err)
{
	_cleanup_free_ char *uri = exec_uri("exec:cat ", path);
	json_t *args = json_pack("{s:s}", "uri", uri);
	int r = qmp_exec(q, "migrate-incoming", args, NULL, err);
	json_decref(args);
	return r;
}

static char *stream_path(const struct vmm_snap *sn)
{
	return path_join(sn->dir, "qemu-stream");
}

int qemu_snap_save(const struct vmm_host *h, const struct vmm_proc *p, const struct vmm_spec *s,
		   const struct vmm_snap *sn, struct berr *err)
{
	_cleanup_free_ char *sock = NULL, *stream = stream_path(sn);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", stream);
	struct qmp *q = NULL;
	(void)h, (void)s;
	int r = qmp_sock_of(p, &sock, err);
	if (r == 0)
		r = qmp_open(sock, QMP_MS, &q, err);
	if (r < 0)
		return berr_wrap(err, "saving the machine");
	unlink(tmp);
	r = migrate_to(q, tmp, err);
	if (r == 0)
		r = migrate_wait(q, p->pid, p->pid_start, "saving the machine", err);
	qmp_close(q);
	if (r == 0 && rename(tmp, stream) < 0)
		r = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

/* End the helper: quit over QMP, else SIGKILL; reap it. */
static void helper_end(struct qmp *q, pid_t pid)
{
	struct berr e = { 0 };
	if (q)
		qmp_exec(q, "quit", NULL, NULL, &e);
	for (int i = 0; i < 200; i++) {
		if (proc_reap(pid, NULL) != 0)
			return;
		vmm_sleep_ms(10);
	}
	vmm_kill_and_reap(pid);
}

int qemu_snap_finish(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		     struct berr *err)
{
	_cleanup_free_ char *stream = stream_path(sn);
	_cleanup_free_ char *mem_tmp = xasprintf("%s.tmp", sn->mem);
	_cleanup_free_ char *state_tmp = xasprintf("%s.tmp", sn->state);
	_cleanup_free_ char *console = path_join(sn->run_dir, "helper-console");
	_cleanup_free_ char *sock = path_join(sn->run_dir, "qmp.sock");
	struct vmm_spec hs = *s;
	struct vmm_proc proc = { 0 };
	struct qmp *q = NULL;
	int r;

	hs.rootfs = sn->rootfs;
	hs.workdisk = s->workdisk ? sn->workdisk : NULL;
	hs.console_path = console;
	hs.run_dir = sn->run_dir;
	hs.tap_fd = -1;
	unlink(mem_tmp);
	unlink(state_tmp);
	r = qemu_launch(h, &hs, QM_HELPER, mem_tmp, &proc, err);
	if (r < 0) {
		unlink(mem_tmp);
		return berr_wrap(err, "starting the snapshot helper");
	}
	r = qmp_open(sock, QMP_MS, &q, err);
	if (r == 0)
		r = migrate_from(q, stream, err);
	if (r == 0)
		r = incoming_wait(q, proc.pid, proc.pid_start, s->log_path, "loading the saved machine",
				  err);
	if (r == 0)
		r = set_ignore_shared(q, err);
	if (r == 0)
		r = migrate_to(q, state_tmp, err);
	if (r == 0)
		r = migrate_wait(q, proc.pid, proc.pid_start, "saving the device state", err);
	helper_end(q, proc.pid);
	if (q)
		qmp_close(q);
	vmm_proc_clear(&proc);
	unlink(console);
	if (r == 0 && (rename(state_tmp, sn->state) < 0 || rename(mem_tmp, sn->mem) < 0))
		r = berr_set(err, errno, "cannot rename the snapshot's files in %s: %s", sn->dir,
			     strerror(errno));
	if (r < 0) {
		unlink(state_tmp);
		unlink(mem_tmp);
		return berr_wrap(err, "making the memory file");
	}
	unlink(stream);
	return 0;
}

int qemu_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		 struct vmm_proc *ret, struct berr *err)
{
	struct vmm_proc proc = { 0 };
	struct qmp *q = NULL;
	_cleanup_free_ char *sock = path_join(s->run_dir, "qmp.sock");
	struct stat st;
	int r;

	if (stat(sn->mem, &st) < 0 || stat(sn->state, &st) < 0)
		return berr_set(err, errno, "snapshot %s: %s", sn->dir, strerror(errno));
	r = qemu_launch(h, s, QM_RESTORE, sn->mem, &proc, err);
	if (r < 0)
		return r;
	r = qmp_open(sock, QMP_MS, &q, err);
	if (r == 0)
		r = set_ignore_shared(q, err);
	if (r == 0)
		r = migrate_from(q, sn->state, err);
	if (r == 0)
		r = incoming_wait(q, proc.pid, proc.pid_start, s->log_path, "loading the snapshot", err);
	if (r == 0 && (r = qmp_exec(q, "cont", NULL, NULL, err)) < 0)
		berr_wrap(err, "resuming the restored machine");
	if (q)
		qmp_close(q);
	if (r < 0) {
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
		    s->workdisk ? " blk:work" : "", s->tap ? " net" : "");
	return 0;
}
