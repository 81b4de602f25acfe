/* core/vmm_qemu.c: the QEMU driver (-M microvm, QMP on a Unix socket).
 *
 * start() builds the command line, spawns QEMU in its own session and
 * returns once QMP answers.  Everything needed later goes into the runtime
 * JSON the core stores:
 *   {"qmp": SOCK, "agent": SOCK, "log": PATH, "accel": "tcg", "argv": [...]}
 * "agent" is the guest agent's virtio-serial port (docs/agent.md).  A VM
 * restored from a snapshot (vmm_qemu_snap.c) also has "snapshot": DIR. */
#define _GNU_SOURCE
#include "vmm.h"
#include "disk.h"
#include "vmm_common.h"
#include "vmm_qemu_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "qmp.h"
#include "util.h"

extern char **environ;

#define START_TIMEOUT_MS 10000 /* spawn -> QMP answers */
#define QMP_TRY_MS 500         /* one connection attempt while starting */
#define QMP_CTL_MS 3000        /* shutdown / adopt */
#define QMP_QUIT_MS 1000       /* kill: best-effort quit */
#define QUIT_WAIT_MS 2000      /* kill: grace after a successful quit */

/* Append one "banger: ..." line to the VMM log.  Best effort: a note that
 * cannot be written must not fail the operation it describes. */

/* A value inside a QEMU option list: a ',' is written ",,". */
static char *opt_escape(const char *v)
{
	struct sbuf s;
	sbuf_init(&s);
	sbuf_puts(&s, "");
	for (const char *p = v; *p; p++) {
		if (*p == ',')
			sbuf_puts(&s, ",,");
		else
			sbuf_add(&s, p, 1);
	}
	return sbuf_steal(&s);
}

struct argv {
	char **v;
	size_t n, cap;
};

static void argv_add(struct argv *a, char *owned)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = owned;
	a->v[a->n] = NULL;
}

static void argv_addf(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_addf(struct argv *a, const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	argv_add(a, p);
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static int check_spec(const struct vmm_host *h, const struct vmm_spec *s, struct berr *err)
{
	struct sockaddr_un sa;

	if (!h || !s)
		return berr_set(err, EINVAL, "the qemu driver was called without a host or VM description");
	if (!h->accel || (strcmp(h->accel, "kvm") != 0 && strcmp(h->accel, "tcg") != 0))
		return berr_set(err, EINVAL, "qemu accelerator must be kvm or tcg, not \"%s\"",
				h->accel ? h->accel : "");
	if (!s->kernel || !s->rootfs || !s->console_path || !s->log_path || !s->run_dir)
		return berr_set(err, EINVAL,
				"a kernel, root image, console path, log path and run dir are required");
	if (s->vcpu < 1 || s->vcpu > 255)
		return berr_set(err, EINVAL, "vcpu must be between 1 and 255, not %lld",
				(long long)s->vcpu);
	if (s->memory_mib < 64 || s->memory_mib > 1024 * 1024)
		return berr_set(err, EINVAL, "memory_mib must be between 64 and 1048576, not %lld",
				(long long)s->memory_mib);
	if (s->tap && !vmm_valid_ifname(s->tap))
		return berr_set(err, EINVAL, "tap device name \"%s\" is not a valid interface name",
				s->tap);
	if (s->tap && s->tap_fd <= 2)
		return berr_set(err, EBADF, "tap %s comes without its descriptor", s->tap);
	if (s->tap && (!s->mac || !vmm_valid_mac(s->mac)))
		return berr_set(err, EINVAL, "a network device needs a MAC like 52:54:00:12:34:56, not \"%s\"",
				s->mac ? s->mac : "");
	/* "/qmp.sock" is the longest name we put in run_dir. */
	if (strlen(s->run_dir) + strlen("/agent.sock") >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG,
				"run dir %s is too long for a Unix socket path (limit %zu bytes)",
				s->run_dir, sizeof(sa.sun_path) - strlen("/agent.sock") - 1);
	return 0;
}

static void build_argv(const struct vmm_host *h, const struct vmm_spec *s, const char *qmp_sock,
		       const char *agent_sock, const char *restore_mem, struct argv *a)
{
	bool tcg = strcmp(h->accel, "tcg") == 0;
	struct sbuf cmd;
	char *e, *e2;

	argv_add(a, xstrdup(h->qemu_bin && *h->qemu_bin ? h->qemu_bin : "qemu-system-x86_64"));
	argv_add(a, xstrdup("-M"));
	if (!s->snapshottable && !restore_mem) {
		argv_add(a, xstrdup("microvm,acpi=on"));
	} else {
		/* Guest memory a snapshot can copy (a shared memfd), or a
		 * snapshot's memory file mapped privately (docs/snapshots.md).
		 * The backend's id is the RAM block's name either way. */
		argv_add(a, xstrdup("microvm,acpi=on,memory-backend=microvm.ram"));
		argv_add(a, xstrdup("-object"));
		if (restore_mem) {
			e = opt_escape(restore_mem);
			argv_addf(a, "memory-backend-file,id=microvm.ram,size=%lldM,mem-path=%s,share=off",
				  (long long)s->memory_mib, e);
			free(e);
		} else {
			argv_addf(a, "memory-backend-memfd,id=microvm.ram,size=%lldM,share=on",
				  (long long)s->memory_mib);
		}
	}
	argv_add(a, xstrdup("-accel"));
	argv_add(a, xstrdup(h->accel));
	argv_add(a, xstrdup("-cpu"));
	argv_add(a, xstrdup(tcg ? "max" : "host"));
	argv_add(a, xstrdup("-smp"));
	argv_addf(a, "%lld", (long long)s->vcpu);
	argv_add(a, xstrdup("-m"));
	argv_addf(a, "%lldM", (long long)s->memory_mib);
	argv_add(a, xstrdup("-nodefaults"));
	argv_add(a, xstrdup("-no-user-config"));
	argv_add(a, xstrdup("-nographic"));
	argv_add(a, xstrdup("-no-reboot"));
	argv_add(a, xstrdup("-kernel"));
	argv_add(a, xstrdup(s->kernel));
	if (s->initrd) {
		argv_add(a, xstrdup("-initrd"));
		argv_add(a, xstrdup(s->initrd));
	}
	sbuf_init(&cmd);
	sbuf_puts(&cmd, "console=ttyS0 root=/dev/vda rw panic=-1 reboot=k");
	if (tcg && h->tsc_khz > 0)
		sbuf_printf(&cmd, " tsc_early_khz=%lld", (long long)h->tsc_khz);
	if (s->cmdline_extra && *s->cmdline_extra)
		sbuf_printf(&cmd, " %s", s->cmdline_extra);
	argv_add(a, xstrdup("-append"));
	argv_add(a, sbuf_steal(&cmd));

	/* Disks: vda (root) then vdb (work), in -device order. */
	e = opt_escape(s->rootfs);
	argv_add(a, xstrdup("-drive"));
	argv_addf(a, "id=root,file=%s,format=%s,if=none,cache=writeback,discard=unmap", e,
		  disk_is_overlay(s->rootfs) ? "qcow2" : "raw");
	free(e);
	argv_add(a, xstrdup("-device"));
	argv_add(a, xstrdup("virtio-blk-device,drive=root"));
	if (s->workdisk) {
		e = opt_escape(s->workdisk);
		argv_add(a, xstrdup("-drive"));
		argv_addf(a, "id=work,file=%s,format=raw,if=none,cache=writeback,discard=unmap", e);
		free(e);
		argv_add(a, xstrdup("-device"));
		argv_add(a, xstrdup("virtio-blk-device,drive=work"));
	}

	/* The tap arrives open as descriptor 3 (vmm_spawn), so QEMU needs no
	 * access to /dev/net/tun. */
	if (s->tap) {
		argv_add(a, xstrdup("-netdev"));
		argv_add(a, xstrdup("tap,id=n0,fd=3"));
		argv_add(a, xstrdup("-device"));
		argv_addf(a, "virtio-net-device,netdev=n0,mac=%s", s->mac);
	}

	/* Entropy, so the guest's sshd and systemd do not wait for it. */
	argv_add(a, xstrdup("-object"));
	argv_add(a, xstrdup("rng-random,id=rng0,filename=/dev/urandom"));
	argv_add(a, xstrdup("-device"));
	argv_add(a, xstrdup("virtio-rng-device,rng=rng0"));

	/* Serial console to a file (QEMU truncates it). */
	e = opt_escape(s->console_path);
	argv_add(a, xstrdup("-chardev"));
	argv_addf(a, "file,id=con,path=%s", e);
	free(e);
	argv_add(a, xstrdup("-serial"));
	argv_add(a, xstrdup("chardev:con"));

	/* QMP; a chardev (not -qmp unix:...) so a ',' in the path can be escaped. */
	e = opt_escape(qmp_sock);
	argv_add(a, xstrdup("-chardev"));
	argv_addf(a, "socket,id=qmp,path=%s,server=on,wait=off", e);
	free(e);
	argv_add(a, xstrdup("-mon"));
	argv_add(a, xstrdup("chardev=qmp,mode=control"));

	/* A virtio-serial port for a future guest agent (/dev/virtio-ports/banger.agent). */
	e2 = opt_escape(agent_sock);
	argv_add(a, xstrdup("-device"));
	argv_add(a, xstrdup("virtio-serial-device"));
	argv_add(a, xstrdup("-chardev"));
	argv_addf(a, "socket,id=agent,path=%s,server=on,wait=off", e2);
	free(e2);
	argv_add(a, xstrdup("-device"));
	argv_add(a, xstrdup("virtserialport,chardev=agent,name=banger.agent"));
	if (restore_mem) {
		/* The device state comes over QMP (migrate-incoming). */
		argv_add(a, xstrdup("-incoming"));
		argv_add(a, xstrdup("defer"));
	}
}

static char *runtime_json(const char *qmp_sock, const char *agent_sock, const char *log_path,
			  const char *accel, const struct argv *a)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < a->n; i++)
		json_array_append_new(arr, json_string(a->v[i]));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "qmp", qmp_sock, "agent", agent_sock,
			      "log", log_path, "accel", accel, "argv", arr);
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* See vmm_qemu_int.h: the body of start, shared with restore. */
int qemu_launch(const struct vmm_host *h, const struct vmm_spec *s, const char *restore_mem,
		struct vmm_proc *ret, struct berr *err)
{
	_cleanup_free_ char *qmp_sock = NULL, *agent_sock = NULL, *runtime = NULL;
	_cleanup_close_ int logfd = -1;
	struct argv a = { 0 };
	struct sbuf line;
	pid_t pid = -1;
	int r;

	r = check_spec(h, s, err);
	if (r < 0)
		return r;
	qmp_sock = path_join(s->run_dir, "qmp.sock");
	agent_sock = path_join(s->run_dir, "agent.sock");
	if (unlink(qmp_sock) < 0 && errno != ENOENT)
		return berr_set(err, errno, "cannot remove the stale QMP socket %s: %s", qmp_sock,
				strerror(errno));
	if (unlink(agent_sock) < 0 && errno != ENOENT)
		return berr_set(err, errno, "cannot remove the stale agent socket %s: %s",
				agent_sock, strerror(errno));

	/* Create the console file 0600 ourselves: QEMU opens it with O_TRUNC,
	 * which keeps the mode, so serial output is never world-readable. */
	{
		_cleanup_close_ int cfd = open(s->console_path,
					       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (cfd < 0)
			return berr_set(err, errno, "cannot create the console file %s: %s",
					s->console_path, strerror(errno));
	}

	logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return berr_set(err, errno, "cannot open the VMM log %s: %s", s->log_path,
				strerror(errno));
	if (logfd <= 2) {
		/* dup2 onto itself would keep O_CLOEXEC: move it above stderr. */
		int fd = fcntl(logfd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return berr_set(err, errno, "cannot duplicate the log fd: %s", strerror(errno));
		close(logfd);
		logfd = fd;
	}

	build_argv(h, s, qmp_sock, agent_sock, restore_mem, &a);
	sbuf_init(&line);
	sbuf_puts(&line, "banger: exec");
	for (size_t i = 0; i < a.n; i++) {
		sbuf_puts(&line, " ");
		sbuf_shquote(&line, a.v[i]);
	}
	sbuf_puts(&line, "\n");
	ssize_t wn = write(logfd, line.buf, line.len);
	(void)wn;
	sbuf_free(&line);

	runtime = runtime_json(qmp_sock, agent_sock, s->log_path, h->accel, &a);
	if (!runtime) {
		argv_free(&a);
		return berr_set(err, ENOMEM, "cannot encode the qemu runtime description");
	}

	r = vmm_spawn(a.v, logfd, logfd, s->tap ? s->tap_fd : -1, s->log_path, &pid, err);
	argv_free(&a);
	if (r < 0)
		return r;

	int64_t start = 0;
	int64_t deadline = mono_ms() + START_TIMEOUT_MS;
	struct berr qerr = { 0 };
	for (;;) {
		int st;
		r = proc_reap(pid, &st);
		if (r > 0) {
			char how[64];
			vmm_describe_status(st, how, sizeof(how));
			_cleanup_free_ char *tail = vmm_log_tail(s->log_path);
			log_note(s->log_path, "qemu exited during start with %s", how);
			return berr_set(err, ECHILD, "qemu exited with %s: %s", how,
					*tail ? tail : "(nothing in its log)");
		}
		if (start == 0 && proc_start_time(pid, &start) < 0)
			start = 0; /* exited meanwhile: the next reap sees it */
		if (start != 0) {
			struct qmp *q = NULL;
			int64_t left = deadline - mono_ms();
			int t = left < QMP_TRY_MS ? (int)(left > 50 ? left : 50) : QMP_TRY_MS;
			if (qmp_open(qmp_sock, t, &q, &qerr) == 0) {
				qmp_close(q);
				break;
			}
		}
		if (mono_ms() >= deadline) {
			vmm_kill_and_reap(pid);
			_cleanup_free_ char *tail = vmm_log_tail(s->log_path);
			log_note(s->log_path, "QMP did not answer within %d s; killed qemu (pid %d)",
				 START_TIMEOUT_MS / 1000, (int)pid);
			return berr_set(err, ETIMEDOUT,
					"qemu did not answer on its QMP socket within %d s (%s); killed it: %s",
					START_TIMEOUT_MS / 1000, qerr.msg[0] ? qerr.msg : "no error recorded",
					*tail ? tail : "(nothing in its log)");
		}
		vmm_sleep_ms(5);
	}

	log_note(s->log_path, "qemu running as pid %d (accel %s)", (int)pid, h->accel);
	ret->pid = pid;
	ret->pid_start = start;
	ret->runtime = TAKE_PTR(runtime);
	return 0;
}

static int qemu_start(const struct vmm_host *h, const struct vmm_spec *s, struct vmm_proc *ret,
		      struct berr *err)
{
	return qemu_launch(h, s, NULL, ret, err);
}

static int qemu_shutdown(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "qemu (pid %d) is not running", p ? (int)p->pid : 0);
	_cleanup_free_ char *sock = vmm_runtime_get(p, "qmp");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	if (!sock)
		return berr_set(err, EINVAL, "the stored qemu runtime has no QMP socket path");
	int r = qmp_call(sock, QMP_CTL_MS, "system_powerdown", NULL, NULL, err);
	if (r < 0)
		return berr_wrap(err, "asking qemu (pid %d) to power down", (int)p->pid);
	log_note(log, "sent system_powerdown (ACPI power button)");
	return 0;
}

static int qemu_kill(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || p->pid <= 0)
		return berr_set(err, EINVAL, "no qemu process to kill");
	if (!proc_alive(p->pid, p->pid_start))
		return 0;
	_cleanup_free_ char *sock = vmm_runtime_get(p, "qmp");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	struct berr qerr = { 0 };
	/* QEMU may close the socket before its reply arrives: that is a quit too. */
	if (sock && (qmp_call(sock, QMP_QUIT_MS, "quit", NULL, NULL, &qerr) == 0 ||
		     qerr.code == ECONNRESET)) {
		int64_t deadline = mono_ms() + QUIT_WAIT_MS;
		while (proc_alive(p->pid, p->pid_start) && mono_ms() < deadline)
			vmm_sleep_ms(10);
		if (!proc_alive(p->pid, p->pid_start)) {
			log_note(log, "qemu quit on request");
			return 0;
		}
	} else if (sock) {
		log_note(log, "QMP quit failed (%s); using SIGKILL", qerr.msg);
	}
	int r = vmm_kill_exact(p->pid, p->pid_start, "qemu", err);
	if (r == 0)
		log_note(log, "killed qemu (pid %d) with SIGKILL", (int)p->pid);
	return r;
}

static int qemu_adopt(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "qemu (pid %d) is gone", p ? (int)p->pid : 0);
	_cleanup_free_ char *sock = vmm_runtime_get(p, "qmp");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	struct berr qerr = { 0 };
	json_t *st = NULL;
	if (!sock) {
		log_note(log, "adopted qemu (pid %d) without a QMP socket path", (int)p->pid);
		return 0;
	}
	if (qmp_call(sock, QMP_CTL_MS, "query-status", NULL, &st, &qerr) < 0) {
		log_note(log, "adopted qemu (pid %d) but QMP does not answer: %s", (int)p->pid,
			 qerr.msg);
		return 0;
	}
	const char *status = json_string_value(json_object_get(st, "status"));
	log_note(log, "adopted qemu (pid %d), status %s", (int)p->pid, status ? status : "unknown");
	json_decref(st);
	return 0;
}

const struct vmm_driver vmm_qemu_driver = {
	.name = "qemu",
	.tap_by_fd = true,
	.root_overlay = true,
	.start = qemu_start,
	.shutdown = qemu_shutdown,
	.kill = qemu_kill,
	.adopt = qemu_adopt,
	.snap_machine = qemu_snap_machine,
	.snap_possible = qemu_snap_possible,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.snap_save = qemu_snap_save,
	.restore = qemu_restore,
};
