/* core/vmm_firecracker.c: the Firecracker driver (HTTP API over a Unix
 * socket, see core/fc_api.h and docs/firecracker.md).
 *
 * start() asks the binary for its version (`--version`), spawns
 *   FIRECRACKER_BIN --api-sock RUN/fc.sock --id NAME
 * in its own session, waits for GET /version to answer and configures the
 * microVM with one PUT per resource, then PUT /actions InstanceStart.
 * Serial output goes to the console file through PUT /serial (1.14.0+) or,
 * for older versions, through Firecracker's stdout.  The runtime JSON:
 *   {"api": SOCK, "vsock": UDS, "cid": N, "version": "1.16.1",
 *    "serial": "api"|"stdout", "log": PATH, "fc_log": PATH, "argv": [...]}
 *
 * With jailer_bin set, start() instead prepares a jail root below the
 * state dir (hard links of the VM's files), launches Firecracker through
 * the jailer (helper/jail.c in-process when the daemon is root, else
 * bangerd-root's JAIL_LAUNCH), and gives every API call a path relative to
 * the jail.  The runtime JSON then also has "jail", "jail_dir", "jail_id",
 * "jailer", "daemonized" and "jail_paths" (docs/firecracker.md). */
#define _GNU_SOURCE
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "priv.h"
#include "disk.h"
#include "fc_api.h"
#include "jail.h"
#include "vmm_common.h"
#include "util.h"

extern char **environ;

#define VERSION_TIMEOUT_MS 5000 /* `firecracker --version` */
#define START_TIMEOUT_MS 10000  /* spawn -> the API answers */
#define API_TRY_MS 500          /* one GET /version attempt while starting */
#define API_PUT_MS 5000         /* one configuration call */
#define API_BOOT_MS 30000       /* InstanceStart (synchronous: builds the VM) */
#define API_CTL_MS 3000         /* shutdown / adopt */
#define KILL_WAIT_MS 2000       /* kill: wait for the process to be gone */
#define FC_ID_MAX 64
#define FC_VCPU_MAX 32
#define FC_CMDLINE_MAX 2048

#define FC_BOOT_ARGS "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw"

/* Append one "banger: ..." line to the VMM log (best effort). */

/* --id: 1-64 characters, alphanumerics and '-' (FIRECRACKER.md §3, §4).
 * VM names are DNS labels (a-z 0-9 -, at most 63), so they pass as is. */
static bool valid_fc_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FC_ID_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/* firecracker_bin, else "firecracker" looked up in PATH. */
static const char *fc_bin(const struct vmm_host *h)
{
	return h->firecracker_bin && *h->firecracker_bin ? h->firecracker_bin : "firecracker";
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int check_spec(const struct vmm_host *h, const struct vmm_spec *s, struct berr *err)
{
	struct sockaddr_un sa;

	if (!h || !s)
		return berr_set(err, EINVAL,
				"the firecracker driver was called without a host or VM description");
	if (!s->name || !valid_fc_id(s->name))
		return berr_set(err, EINVAL,
				"vm name \"%s\" is not a valid firecracker id (1-64 letters, digits, '-')",
				s->name ? s->name : "");
	if (!s->kernel || !s->rootfs || !s->console_path || !s->log_path || !s->run_dir)
		return berr_set(err, EINVAL,
				"a kernel, root image, console path, log path and run dir are required");
	if (s->vcpu < 1 || s->vcpu > FC_VCPU_MAX)
		return berr_set(err, ERANGE, "firecracker supports 1 to %d vCPUs, not %lld",
				FC_VCPU_MAX, (long long)s->vcpu);
	if (s->memory_mib < 64 || s->memory_mib > 1024 * 1024)
		return berr_set(err, ERANGE, "memory_mib must be between 64 and 1048576, not %lld",
				(long long)s->memory_mib);
	if (s->vsock_cid < 3)
		return berr_set(err, EINVAL, "the vsock guest CID must be 3 or more, not %u",
				(unsigned)s->vsock_cid);
	if (s->tap && !vmm_valid_ifname(s->tap))
		return berr_set(err, EINVAL, "tap device name \"%s\" is not a valid interface name",
				s->tap);
	if (s->tap && s->mac && !vmm_valid_mac(s->mac))
		return berr_set(err, EINVAL, "guest MAC \"%s\" is not like 06:00:ac:10:00:02", s->mac);
	if (s->cmdline_extra && has_ctl(s->cmdline_extra))
		return berr_set(err, EINVAL, "kernel arguments contain control characters");
	if (strlen(FC_BOOT_ARGS) + 1 + (s->cmdline_extra ? strlen(s->cmdline_extra) : 0) >=
	    FC_CMDLINE_MAX - 256 /* room for what Firecracker appends */)
		return berr_set(err, E2BIG, "kernel arguments are too long for firecracker");
	/* "/vsock.sock" is the longest socket name we put in run_dir. */
	if (strlen(s->run_dir) + strlen("/vsock.sock") >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG,
				"run dir %s is too long for a Unix socket path (limit %zu bytes)",
				s->run_dir, sizeof(sa.sun_path) - strlen("/vsock.sock") - 1);
	return 0;
}

/* Run `bin --version` and parse "Firecracker v1.16.1".  Bounded in time
 * and output; the child is always reaped. */
static int probe_version(const char *bin, const char *log_path, char *ret, size_t retlen,
			 struct fc_version *ret_v, struct berr *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char out[256];
	size_t n = 0;
	int p[2], r, st = 0;
	pid_t pid;
	char *const argv[] = { (char *)bin, (char *)"--version", NULL };

	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set(err, errno, "cannot create a pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	if (strchr(bin, '/'))
		r = posix_spawn(&pid, bin, &fa, &attr, argv, environ);
	else
		r = posix_spawnp(&pid, bin, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		log_note(log_path, "cannot run %s --version: %s", bin, strerror(r));
		return berr_set(err, r, "cannot run %s: %s", bin, strerror(r));
	}
	int64_t deadline = mono_ms() + VERSION_TIMEOUT_MS;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			break;
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int pr = poll(&pf, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		ssize_t k = read(p[0], out + n, sizeof(out) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == sizeof(out) - 1)
			break;
	}
	close(p[0]);
	out[n] = '\0';
	/* Reap within the same deadline, else kill it. */
	while ((r = proc_reap(pid, &st)) == 0 && mono_ms() < deadline)
		vmm_sleep_ms(10);
	if (r == 0) {
		vmm_kill_and_reap(pid);
		return berr_set(err, ETIMEDOUT, "%s --version did not finish within %d s", bin,
				VERSION_TIMEOUT_MS / 1000);
	}
	out[strcspn(out, "\r\n")] = '\0';
	const char *v = strstr(out, "Firecracker v");
	struct fc_version fv;
	if (!v || fc_version_parse(v + strlen("Firecracker "), &fv) < 0)
		return berr_set(err, ENOEXEC,
				"%s --version printed \"%.80s\", not \"Firecracker vX.Y.Z\"", bin, out);
	snprintf(ret, retlen, "%s", v + strlen("Firecracker v"));
	*ret_v = fv;
	return 0;
}

/* Open (create) a file for the VMM to write, 0600, emptied. */
static int make_empty(const char *path, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				      0600);
	if (fd < 0)
		return berr_set(err, errno, "cannot create %s: %s", path, strerror(errno));
	return 0;
}

/* An fd >= 3 (so dup2 onto 1/2 drops O_CLOEXEC), O_APPEND. */
static int open_out(const char *path, struct berr *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	if (fd <= 2) {
		int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		int e = errno;
		close(fd);
		if (fd2 < 0)
			return berr_set(err, e, "cannot duplicate an fd: %s", strerror(e));
		fd = fd2;
	}
	return fd;
}

static void unlink_quiet(const char *path)
{
	if (path)
		(void)unlink(path);
}

/* One configuration call; the body is consumed. */
static int fc_put(const char *sock, const char *log_path, const char *path, json_t *body,
		  int timeout_ms, struct berr *err)
{
	if (!body)
		return berr_set(err, ENOMEM, "cannot build the body of PUT %s", path);
	int r = fc_api_call(sock, "PUT", path, body, timeout_ms, NULL, err);
	json_decref(body);
	if (r < 0)
		log_note(log_path, "%s", err ? err->msg : "PUT failed");
	return r;
}

/* Where things are.  The host paths are the daemon's; the "fc_" paths are
 * what Firecracker is told, which under the jailer are relative to the
 * jail root ("/rootfs.ext4"), and otherwise the host paths. */
struct fc_paths {
	char *api, *vsock, *fc_log, *metrics; /* host paths */
	char *jail_vm, *jail_root;	      /* NULL when not jailed */
	char *cwd;			      /* unjailed snapshottable: the VM's dir */
	const char *fc_kernel, *fc_initrd, *fc_rootfs, *fc_work, *fc_console, *fc_log_in,
	    *fc_metrics, *fc_vsock;
};

static void fc_paths_init(struct fc_paths *p, const struct vmm_spec *s)
{
	p->api = path_join(s->run_dir, "fc.sock");
	p->vsock = path_join(s->run_dir, "vsock.sock");
	p->fc_log = path_join(s->run_dir, "fc.log");
	p->metrics = path_join(s->run_dir, "fc.metrics");
	p->fc_kernel = s->kernel;
	p->fc_initrd = s->initrd;
	p->fc_rootfs = s->rootfs;
	p->fc_work = s->workdisk;
	p->fc_console = s->console_path;
	p->fc_log_in = p->fc_log;
	p->fc_metrics = p->metrics;
	p->fc_vsock = p->vsock;
	/* A snapshot records the drives' paths and every restore opens them
	 * again: relative to the VM's directory (Firecracker's working
	 * directory), each restore opens its own (docs/snapshots.md). */
	if (s->snapshottable && s->rootfs && strrchr(s->rootfs, '/')) {
		const char *rb = strrchr(s->rootfs, '/') + 1;
		const char *wb = s->workdisk && strrchr(s->workdisk, '/') ? strrchr(s->workdisk, '/') + 1
									   : NULL;
		size_t dl = (size_t)(rb - s->rootfs);
		if (!s->workdisk || (wb && (size_t)(wb - s->workdisk) == dl &&
				     strncmp(s->workdisk, s->rootfs, dl) == 0)) {
			p->cwd = xasprintf("%.*s", (int)(dl > 1 ? dl - 1 : dl), s->rootfs);
			p->fc_rootfs = rb;
			p->fc_work = wb;
		}
	}
}

static void fc_paths_free(struct fc_paths *p)
{
	free(p->cwd);
	free(p->api);
	free(p->vsock);
	free(p->fc_log);
	free(p->metrics);
	free(p->jail_vm);
	free(p->jail_root);
}

/* ---- the jailer (docs/firecracker.md "The jailer"; helper/jail.h) ---- */

/* Names inside the jail root, and what Firecracker is told. */
#define J_KERNEL "vmlinux"
#define J_INITRD "initrd.img"
#define J_ROOTFS "rootfs.ext4"
#define J_WORK "work.ext4"
#define J_CONSOLE "console.log"
#define J_VMMLOG "vmm.log"
#define J_FCLOG "fc.log"
#define J_METRICS "fc.metrics"
#define J_VSOCK "/run/vsock.sock"

static bool jailed(const struct vmm_host *h)
{
	return h && h->jailer_bin && *h->jailer_bin;
}

/* The daemon's state dir, canonical (the helper's is: its paths must be
 * the same strings). */
static char *state_real(const struct vmm_host *h, struct berr *err)
{
	char *r = h->state_dir ? realpath(h->state_dir, NULL) : NULL;
	if (!r)
		berr_set(err, h->state_dir ? errno : EINVAL, "state dir %s: %s",
			 h->state_dir ? h->state_dir : "(unset)",
			 h->state_dir ? strerror(errno) : "the jailer needs one");
	return r;
}

static int jail_paths_init(const struct vmm_host *h, const struct vmm_spec *s,
			   struct fc_paths *p, struct berr *err)
{
	struct sockaddr_un sa;
	int r;

	if ((r = jail_id_validate(s->name, err)) < 0)
		return r;
	_cleanup_free_ char *st = state_real(h, err);
	if (!st)
		return -err->code;
	p->jail_vm = jail_vm_dir(st, s->name);
	p->jail_root = jail_root_dir(st, s->name);
	p->api = xasprintf("%s%s", p->jail_root, JAIL_API_SOCK);
	p->vsock = xasprintf("%s%s", p->jail_root, J_VSOCK);
	p->fc_log = xasprintf("%s/%s", p->jail_root, J_FCLOG);
	p->metrics = xasprintf("%s/%s", p->jail_root, J_METRICS);
	p->fc_kernel = "/" J_KERNEL;
	p->fc_initrd = s->initrd ? "/" J_INITRD : NULL;
	p->fc_rootfs = "/" J_ROOTFS;
	p->fc_work = s->workdisk ? "/" J_WORK : NULL;
	p->fc_console = "/" J_CONSOLE;
	p->fc_log_in = "/" J_FCLOG;
	p->fc_metrics = "/" J_METRICS;
	p->fc_vsock = J_VSOCK;
	/* The daemon reaches both sockets by their host path. */
	if (strlen(p->api) >= sizeof(sa.sun_path) || strlen(p->vsock) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG,
				"the jail's API socket %s is longer than a Unix socket path may be "
				"(%zu bytes); use a shorter VM name or state dir",
				p->api, sizeof(sa.sun_path) - 1);
	return 0;
}

/* Put src into the jail as dst.  A hard link: the jailed Firecracker
 * writes the VM's own files.  Read-only inputs on another filesystem (or
 * not ours to link, fs.protected_hardlinks) are copied instead; writable
 * ones cannot be, and that is an error. */
static int link_into(const char *src, const char *dst, bool writable, const char *log,
		     struct berr *err)
{
	if (link(src, dst) == 0)
		return 0;
	int e = errno;
	if (writable || (e != EXDEV && e != EPERM && e != EMLINK))
		return berr_set(err, e,
				"cannot hard-link %s into the jail as %s: %s%s", src, dst, strerror(e),
				writable && e == EXDEV
					? " (the VM's writable files must be on the filesystem of "
					  "the state dir, where the jails are)"
					: "");
	enum clone_method m;
	if (disk_clone(src, dst, &m, err) < 0)
		return berr_wrap(err, "copying %s into the jail", src);
	log_note(log, "%s copied into the jail (%s; a hard link failed: %s)", src,
		     clone_method_name(m), strerror(e));
	return 0;
}

/* A fresh jail root holding the VM's files (as the owner: the jailer
 * chowns "/" of the jail to the same uid anyway). */
static int jail_prepare(const struct vmm_spec *s, const struct fc_paths *p, bool link_log,
			struct berr *err)
{
	_cleanup_free_ char *base = xstrdup(p->jail_vm);
	int r;

	*strrchr(base, '/') = '\0';
	/* A Firecracker of an earlier run that lost its daemon's reply. */
	if (jail_kill_strays(p->jail_root, s->name) > 0)
		log_note(s->log_path, "killed a Firecracker left in %s", p->jail_root);
	if ((r = rm_rf(p->jail_vm)) < 0)
		return berr_set(err, -r, "cannot remove the old jail %s: %s", p->jail_vm,
				strerror(-r));
	if ((r = mkdir_p(base, 0700)) < 0 || (r = mkdir_p(p->jail_root, 0700)) < 0)
		return berr_set(err, -r, "cannot create %s: %s", p->jail_root, strerror(-r));
	if ((r = make_empty(s->console_path, err)) < 0)
		return r;
	struct {
		const char *src, *name;
		bool writable;
	} files[] = {
		{s->kernel, J_KERNEL, false},	{s->initrd, J_INITRD, false},
		{s->rootfs, J_ROOTFS, true},	{s->workdisk, J_WORK, true},
		{s->console_path, J_CONSOLE, true}, {link_log ? s->log_path : NULL, J_VMMLOG, true},
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (!files[i].src)
			continue;
		_cleanup_free_ char *dst = path_join(p->jail_root, files[i].name);
		if ((r = link_into(files[i].src, dst, files[i].writable, s->log_path, err)) < 0)
			return r;
	}
	if ((r = make_empty(p->fc_log, err)) < 0 || (r = make_empty(p->metrics, err)) < 0)
		return r;
	return 0;
}

/* Launch through the jailer (core/priv.h: in-process when the daemon is
 * root, else bangerd-root).  *ret_child tells whether the pid is our child
 * (reaped by the core) or not (the jailer daemonized it, or bangerd-root
 * detached it). */
static int jail_start(const struct vmm_host *h, const struct vmm_spec *s, bool serial_api,
		      int outfd, int logfd, char **ret_via, pid_t *ret_pid, bool *ret_child,
		      struct berr *err)
{
	struct priv_jail j = {.id = s->name, .serial_api = serial_api,
			      .jailer_bin = h->jailer_bin, .firecracker_bin = fc_bin(h),
			      .state_dir = h->state_dir, .outfd = outfd, .errfd = logfd};
	int r = priv_jail_launch(h->priv, &j, ret_pid, ret_child, ret_via, err);
	return r < 0 ? berr_wrap(err, "launching firecracker through the jailer") : 0;
}

/* Configure the microVM and start it (the calls are in docs/firecracker.md). */
static int configure(const struct vmm_host *h, const struct vmm_spec *s,
		     const struct fc_paths *fp, bool serial_api, struct berr *err)
{
	const char *lp = s->log_path;
	int r;
	(void)h;

	r = fc_put(fp->api, lp, "/logger",
		   json_pack("{s:s, s:s, s:b}", "log_path", fp->fc_log_in, "level", "Info",
			     "show_level", 1),
		   API_PUT_MS, err);
	if (r < 0)
		return r;
	r = fc_put(fp->api, lp, "/metrics", json_pack("{s:s}", "metrics_path", fp->fc_metrics),
		   API_PUT_MS, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *args = NULL;
	if (s->cmdline_extra && *s->cmdline_extra)
		args = xasprintf("%s %s", FC_BOOT_ARGS, s->cmdline_extra);
	else
		args = xstrdup(FC_BOOT_ARGS);
	json_t *boot =
		json_pack("{s:s, s:s}", "kernel_image_path", fp->fc_kernel, "boot_args", args);
	if (boot && fp->fc_initrd)
		json_object_set_new(boot, "initrd_path", json_string(fp->fc_initrd));
	r = fc_put(fp->api, lp, "/boot-source", boot, API_PUT_MS, err);
	if (r < 0)
		return r;

	r = fc_put(fp->api, lp, "/machine-config",
		   json_pack("{s:I, s:I}", "vcpu_count", (json_int_t)s->vcpu, "mem_size_mib",
			     (json_int_t)s->memory_mib),
		   API_PUT_MS, err);
	if (r < 0)
		return r;

	/* Drive ids: letters, digits and '_' only (checked_id). */
	r = fc_put(fp->api, lp, "/drives/rootfs",
		   json_pack("{s:s, s:b, s:s, s:b}", "drive_id", "rootfs", "is_root_device", 1,
			     "path_on_host", fp->fc_rootfs, "is_read_only", 0),
		   API_PUT_MS, err);
	if (r < 0)
		return r;
	if (fp->fc_work) {
		r = fc_put(fp->api, lp, "/drives/work",
			   json_pack("{s:s, s:b, s:s, s:b}", "drive_id", "work", "is_root_device", 0,
				     "path_on_host", fp->fc_work, "is_read_only", 0),
			   API_PUT_MS, err);
		if (r < 0)
			return r;
	}
	if (s->tap) {
		json_t *net = json_pack("{s:s, s:s}", "iface_id", "eth0", "host_dev_name", s->tap);
		if (net && s->mac)
			json_object_set_new(net, "guest_mac", json_string(s->mac));
		r = fc_put(fp->api, lp, "/network-interfaces/eth0", net, API_PUT_MS, err);
		if (r < 0)
			return r;
	}
	r = fc_put(fp->api, lp, "/vsock",
		   json_pack("{s:I, s:s}", "guest_cid", (json_int_t)s->vsock_cid, "uds_path",
			     fp->fc_vsock),
		   API_PUT_MS, err);
	if (r < 0)
		return r;
	if (serial_api) {
		r = fc_put(fp->api, lp, "/serial",
			   json_pack("{s:s}", "serial_out_path", fp->fc_console), API_PUT_MS, err);
		if (r < 0)
			return r;
	}
	return fc_put(fp->api, lp, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"),
		      API_BOOT_MS, err);
}

static char *runtime_json(const struct fc_paths *fp, const struct vmm_spec *s,
			  const char *version, bool serial_api, char *const argv[],
			  const char *jail_via, bool child)
{
	json_t *arr = json_array();
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(arr, json_string(argv[i]));
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:o}", "api", fp->api, "vsock",
			      fp->vsock, "cid", (json_int_t)s->vsock_cid, "version", version,
			      "serial", serial_api ? "api" : "stdout", "log", s->log_path, "fc_log",
			      fp->fc_log, "argv", arr);
	if (o && fp->jail_root) {
		json_t *in = json_pack(
			"{s:s, s:s?, s:s, s:s?, s:s, s:s, s:s, s:s, s:s}", "kernel", fp->fc_kernel,
			"initrd", fp->fc_initrd, "rootfs", fp->fc_rootfs, "work", fp->fc_work,
			"console", fp->fc_console, "log", fp->fc_log_in, "metrics", fp->fc_metrics,
			"vsock", fp->fc_vsock, "api", JAIL_API_SOCK);
		json_object_set_new(o, "jail", json_string(fp->jail_root));
		json_object_set_new(o, "jail_dir", json_string(fp->jail_vm));
		json_object_set_new(o, "jail_id", json_string(s->name));
		json_object_set_new(o, "jailer", json_string(jail_via));
		json_object_set_new(o, "daemonized", json_boolean(!child && serial_api));
		json_object_set_new(o, "jail_paths", in ? in : json_null());
	}
	if (!o)
		return NULL;
	char *r = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return r;
}

/* Kill what fc_start started: reap our child, or wait (bounded) for
 * another's to go. */
static void kill_started(pid_t pid, int64_t start, bool child)
{
	if (child) {
		vmm_kill_and_reap(pid);
		return;
	}
	if (start == 0 && proc_start_time(pid, &start) < 0)
		return;
	vmm_kill_exact(pid, start, "firecracker", NULL);
	int64_t deadline = mono_ms() + KILL_WAIT_MS;
	while (proc_alive(pid, start) && mono_ms() < deadline)
		vmm_sleep_ms(10);
}

static int load_snapshot(const struct vmm_host *h, const struct vmm_spec *s,
			 const struct fc_paths *fp, const struct fc_version *fv,
			 const struct vmm_snap *sn, struct berr *err);

/* A boot (sn NULL) or a restore from snapshot sn in a fresh process. */
static int fc_launch(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		     struct vmm_proc *ret, struct berr *err)
{
	struct fc_paths fp = { 0 };
	_cleanup_free_ char *runtime = NULL, *via = NULL;
	_cleanup_close_ int logfd = -1, outfd = -1;
	char version[64];
	struct fc_version fv;
	struct jail_argv ja;
	bool serial_api, child = true, jail = jailed(h);
	pid_t pid = -1;
	int64_t start = 0;
	int r;

	r = check_spec(h, s, err);
	if (r < 0)
		return r;
	if (jail) {
		r = jail_paths_init(h, s, &fp, err);
		if (r < 0)
			goto out;
	} else {
		fc_paths_init(&fp, s);
		/* Firecracker refuses an existing API socket, and binds
		 * uds_path on PUT /vsock: both must be gone. */
		if ((unlink(fp.api) < 0 && errno != ENOENT) ||
		    (unlink(fp.vsock) < 0 && errno != ENOENT)) {
			r = berr_set(err, errno, "cannot remove a stale socket in %s: %s",
				     s->run_dir, strerror(errno));
			goto out;
		}
		/* Files Firecracker opens O_CREAT without O_TRUNC: create them
		 * 0600 and empty, so old bytes never trail new ones. */
		if ((r = make_empty(s->console_path, err)) < 0 ||
		    (r = make_empty(fp.fc_log, err)) < 0 || (r = make_empty(fp.metrics, err)) < 0)
			goto out;
	}
	logfd = open_out(s->log_path, err);
	if (logfd < 0) {
		r = logfd;
		goto out;
	}

	r = probe_version(fc_bin(h), s->log_path, version, sizeof(version), &fv, err);
	if (r < 0)
		goto out;
	/* PUT /serial exists since 1.14.0; before, serial output is stdout.
	 * A restore may configure nothing but the logger and metrics before
	 * its load: its serial output is stdout too. */
	serial_api = fc_version_at_least(&fv, 1, 14, 0) && !sn;
	if (sn && !fc_version_at_least(&fv, 1, 16, 0)) {
		r = berr_set(err, ENOTSUP, "firecracker %s cannot restore banger's snapshots "
			     "(vsock_override needs 1.16.0)", version);
		goto out;
	}
	/* Under the jailer the jail is made afresh, with the VM's files in it
	 * (the console emptied first); through bangerd-root without PUT
	 * /serial, the helper also needs the VM log there for stderr. */
	if (jail && (r = jail_prepare(s, &fp, !serial_api && priv_mode(h->priv) == PRIV_HELPER,
				       err)) < 0)
		goto out;
	if (!serial_api) {
		outfd = open_out(s->console_path, err);
		if (outfd < 0) {
			r = outfd;
			goto out;
		}
	}

	char *argv[] = { (char *)fc_bin(h), (char *)"--api-sock", fp.api, (char *)"--id",
			 (char *)s->name, NULL };
	char *const *argvp = argv;
	if (jail) {
		struct jail_conf jc = { .jailer = h->jailer_bin, .exec_file = fc_bin(h),
					.uid = getuid(), .gid = getgid() };
		if (jail_build_argv(&jc, s->name, serial_api, &ja, err) < 0) {
			r = -err->code;
			goto out;
		}
		argvp = ja.argv;
		log_note(s->log_path,
			     "jailed in %s through %s (firecracker %s, serial %s%s)", fp.jail_root,
			     priv_mode(h->priv) == PRIV_HELPER ? "bangerd-root" : h->jailer_bin,
			     version,
			     serial_api ? "via PUT /serial" : "on stdout",
			     serial_api ? ", --daemonize" : "");
		r = jail_start(h, s, serial_api, outfd, logfd, &via, &pid, &child, err);
		if (r < 0) {
			/* Without --daemonize the jailer's complaints went to the
			 * VM log: quote them. */
			_cleanup_free_ char *tail = serial_api ? NULL : vmm_log_tail(s->log_path);
			if (tail && *tail) {
				char m[BERR_MSG_MAX];
				snprintf(m, sizeof(m), "%s", err->msg);
				berr_set(err, err->code, "%s: %s", m, tail);
			}
			pid = -1;
			goto out;
		}
	} else {
		struct sbuf line;
		sbuf_init(&line);
		sbuf_printf(&line, "banger: exec %s --api-sock %s --id %s (firecracker %s, serial %s%s%s)\n",
			    argv[0], fp.api, s->name, version,
			    serial_api ? "via PUT /serial" : "on stdout", fp.cwd ? ", in " : "",
			    fp.cwd ? fp.cwd : "");
		ssize_t wn = write(logfd, line.buf, line.len);
		(void)wn;
		sbuf_free(&line);
		/* With PUT /serial, stdout only carries Firecracker's own early
		 * log lines: both go to the VM log. */
		/* In its directory, argv[0] must not be relative. */
		_cleanup_free_ char *abs = fp.cwd && strchr(argv[0], '/') && argv[0][0] != '/'
						   ? realpath(argv[0], NULL) : NULL;
		if (abs)
			argv[0] = abs;
		r = vmm_spawn_in(fp.cwd, argv, serial_api ? logfd : outfd, logfd, -1, s->log_path, &pid,
				 err);
		argv[0] = (char *)fc_bin(h);
		if (r < 0)
			goto out;
	}
	runtime = runtime_json(&fp, s, version, serial_api, argvp, via, child);
	if (!runtime) {
		r = berr_set(err, ENOMEM, "cannot encode the firecracker runtime description");
		goto out;
	}

	/* Wait for the API to answer GET /version. */
	int64_t deadline = mono_ms() + START_TIMEOUT_MS;
	struct berr aerr = { 0 };
	for (;;) {
		int st;
		if (child && proc_reap(pid, &st) > 0) {
			char how[64];
			vmm_describe_status(st, how, sizeof(how));
			_cleanup_free_ char *tail = vmm_log_tail(s->log_path);
			log_note(s->log_path, "firecracker exited during start with %s", how);
			pid = -1;
			r = berr_set(err, ECHILD, "firecracker exited with %s: %s", how,
				     *tail ? tail : "(nothing in its log)");
			goto out;
		}
		if (start == 0 && proc_start_time(pid, &start) < 0)
			start = 0;
		if (!child && (start == 0 || !proc_alive(pid, start))) {
			_cleanup_free_ char *tail = vmm_log_tail(fp.fc_log);
			log_note(s->log_path, "firecracker (pid %d) exited during start", (int)pid);
			pid = -1;
			r = berr_set(err, ECHILD, "firecracker exited during start: %s",
				     *tail ? tail : "(nothing in its log)");
			goto out;
		}
		if (start != 0) {
			json_t *vo = NULL;
			int64_t left = deadline - mono_ms();
			int t = left < API_TRY_MS ? (int)(left > 50 ? left : 50) : API_TRY_MS;
			if (access(fp.api, F_OK) == 0 &&
			    fc_api_call(fp.api, "GET", "/version", NULL, t, &vo, &aerr) == 0) {
				const char *av = json_string_value(json_object_get(vo, "firecracker_version"));
				struct fc_version apiv;
				if (av && fc_version_parse(av, &apiv) == 0 &&
				    (apiv.major != fv.major || apiv.minor != fv.minor))
					log_note(s->log_path,
						 "the API reports version %s but --version said %s", av,
						 version);
				json_decref(vo);
				break;
			}
		}
		if (mono_ms() >= deadline) {
			_cleanup_free_ char *tail = vmm_log_tail(s->log_path);
			log_note(s->log_path, "the API did not answer within %d s; killing pid %d",
				 START_TIMEOUT_MS / 1000, (int)pid);
			r = berr_set(err, ETIMEDOUT,
				     "firecracker did not answer on %s within %d s (%s): %s", fp.api,
				     START_TIMEOUT_MS / 1000,
				     aerr.msg[0] ? aerr.msg : "no socket", *tail ? tail : "(nothing in its log)");
			goto out;
		}
		vmm_sleep_ms(20);
	}

	r = sn ? load_snapshot(h, s, &fp, &fv, sn, err) : configure(h, s, &fp, serial_api, err);
	if (r < 0)
		goto out;
	if (!proc_alive(pid, start)) {
		r = berr_set(err, ECHILD, "firecracker exited right after %s",
			     sn ? "the snapshot load" : "InstanceStart");
		goto out;
	}
	if (sn) {
		/* The runtime says where the VM came from. */
		json_error_t je;
		json_t *rt = json_loads(runtime, 0, &je);
		if (rt) {
			json_object_set_new(rt, "snapshot", json_string(sn->dir));
			char *t = json_dumps(rt, JSON_COMPACT);
			if (t) {
				free(runtime);
				runtime = t;
			}
			json_decref(rt);
		}
	}
	log_note(s->log_path, "firecracker %s running as pid %d (api %s, vsock cid %u)%s%s", version,
		 (int)pid, fp.api, (unsigned)s->vsock_cid, sn ? ", restored from " : "",
		 sn ? sn->dir : "");
	ret->pid = pid;
	ret->pid_start = start;
	ret->runtime = TAKE_PTR(runtime);
	pid = -1;
	r = 0;
out:
	if (pid > 0) {
		kill_started(pid, start, child);
		log_note(s->log_path, "start failed; killed firecracker (pid %d)", (int)pid);
	}
	if (r < 0 && fp.jail_vm) {
		/* Nothing of a failed start stays in the jail (fc.log's last
		 * words are in the error and the VM log). */
		if (jail_kill_strays(fp.jail_root, s->name) > 0)
			log_note(s->log_path, "killed a Firecracker left in %s", fp.jail_root);
		_cleanup_free_ char *tail = vmm_log_tail(fp.fc_log);
		if (*tail)
			log_note(s->log_path, "firecracker's log in the jail ended: %s", tail);
		int q = rm_rf(fp.jail_vm);
		if (q < 0)
			log_note(s->log_path, "cannot remove the jail %s: %s", fp.jail_vm,
				     strerror(-q));
	} else if (r < 0) {
		unlink_quiet(fp.api);
		unlink_quiet(fp.vsock);
	}
	fc_paths_free(&fp);
	return r;
}

static int fc_start(const struct vmm_host *h, const struct vmm_spec *s, struct vmm_proc *ret,
		    struct berr *err)
{
	return fc_launch(h, s, NULL, ret, err);
}

static int fc_shutdown(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "firecracker (pid %d) is not running", p ? (int)p->pid : 0);
	_cleanup_free_ char *sock = vmm_runtime_get(p, "api");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	if (!sock)
		return berr_set(err, EINVAL, "the stored firecracker runtime has no API socket path");
	json_t *body = json_pack("{s:s}", "action_type", "SendCtrlAltDel");
	int r = fc_api_call(sock, "PUT", "/actions", body, API_CTL_MS, NULL, err);
	json_decref(body);
	if (r < 0)
		return berr_wrap(err, "asking firecracker (pid %d) to shut down", (int)p->pid);
	log_note(log, "sent SendCtrlAltDel (the guest reboots; firecracker then exits)");
	return 0;
}

static void remove_sockets(const struct vmm_proc *p)
{
	_cleanup_free_ char *api = vmm_runtime_get(p, "api");
	_cleanup_free_ char *vsock = vmm_runtime_get(p, "vsock");
	unlink_quiet(api);
	unlink_quiet(vsock);
}

static int fc_kill(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || p->pid <= 0)
		return berr_set(err, EINVAL, "no firecracker process to kill");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	if (proc_alive(p->pid, p->pid_start)) {
		/* Firecracker has no quit call: SIGKILL is its way to stop. */
		int r = vmm_kill_exact(p->pid, p->pid_start, "firecracker", err);
		if (r < 0)
			return r;
		log_note(log, "killed firecracker (pid %d) with SIGKILL", (int)p->pid);
		int64_t deadline = mono_ms() + KILL_WAIT_MS;
		while (proc_alive(p->pid, p->pid_start) && mono_ms() < deadline)
			vmm_sleep_ms(10);
	}
	/* Nobody unlinks them on exit (FIRECRACKER.md §2). */
	if (!proc_alive(p->pid, p->pid_start))
		remove_sockets(p);
	return 0;
}

static int fc_adopt(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "firecracker (pid %d) is gone", p ? (int)p->pid : 0);
	_cleanup_free_ char *sock = vmm_runtime_get(p, "api");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	struct berr aerr = { 0 };
	json_t *info = NULL;
	if (!sock) {
		log_note(log, "adopted firecracker (pid %d) without an API socket path", (int)p->pid);
		return 0;
	}
	if (fc_api_call(sock, "GET", "/", NULL, API_CTL_MS, &info, &aerr) < 0) {
		log_note(log, "adopted firecracker (pid %d) but its API does not answer: %s",
			 (int)p->pid, aerr.msg);
		return 0;
	}
	const char *state = json_string_value(json_object_get(info, "state"));
	const char *ver = json_string_value(json_object_get(info, "vmm_version"));
	log_note(log, "adopted firecracker (pid %d), state %s, version %s", (int)p->pid,
		 state ? state : "unknown", ver ? ver : "unknown");
	json_decref(info);
	return 0;
}

/* The VM is deleted: its jail goes too.  Everything in it is the owner's
 * (the jailer chowns what it creates to the jail's uid) except the pid
 * file, which the jailer writes as root; the jail root is the owner's
 * directory, so the owner may unlink that as well. */
static int fc_forget(const struct vmm_host *h, const char *name, struct berr *err)
{
	int r;
	if (!h || !h->state_dir)
		return 0;
	if ((r = jail_id_validate(name, err)) < 0)
		return r;
	_cleanup_free_ char *st = state_real(h, err);
	if (!st)
		return -err->code;
	_cleanup_free_ char *vm = jail_vm_dir(st, name);
	_cleanup_free_ char *root = jail_root_dir(st, name);
	jail_kill_strays(root, name);
	r = rm_rf(vm);
	if (r < 0)
		return berr_set(err, -r, "cannot remove the jail %s: %s", vm, strerror(-r));
	return 0;
}


/* ---- snapshots (docs/snapshots.md; FIRECRACKER.md §1.3) -------------------- */

#define API_SNAP_MS (5 * 60 * 1000) /* /snapshot/create and /load: the whole memory */
#define J_SNAP_STATE "snapshot.state"
#define J_SNAP_MEM "snapshot.mem"

/* In a fresh process, nothing but the logger and metrics before the load
 * ("Loading a microVM snapshot not allowed after configuring
 * boot-specific resources"); the load reopens the drives by the paths the
 * snapshot recorded (relative: this VM's own), binds the vsock socket
 * where vsock_override says, and takes this VM's tap. */
static int load_snapshot(const struct vmm_host *h, const struct vmm_spec *s,
			 const struct fc_paths *fp, const struct fc_version *fv,
			 const struct vmm_snap *sn, struct berr *err)
{
	const char *lp = s->log_path;
	const char *state = sn->state, *mem = sn->mem;
	int r;
	(void)h, (void)fv;

	r = fc_put(fp->api, lp, "/logger",
		   json_pack("{s:s, s:s, s:b}", "log_path", fp->fc_log_in, "level", "Info",
			     "show_level", 1),
		   API_PUT_MS, err);
	if (r < 0)
		return r;
	r = fc_put(fp->api, lp, "/metrics", json_pack("{s:s}", "metrics_path", fp->fc_metrics),
		   API_PUT_MS, err);
	if (r < 0)
		return r;
	if (fp->jail_root) {
		/* Read-only inputs: hard links, else copies. */
		_cleanup_free_ char *js = path_join(fp->jail_root, J_SNAP_STATE);
		_cleanup_free_ char *jm = path_join(fp->jail_root, J_SNAP_MEM);
		if ((r = link_into(sn->state, js, false, lp, err)) < 0 ||
		    (r = link_into(sn->mem, jm, false, lp, err)) < 0)
			return r;
		state = "/" J_SNAP_STATE;
		mem = "/" J_SNAP_MEM;
	}
	json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:b, s:{s:s}}", "snapshot_path", state,
				 "mem_backend", "backend_type", "File", "backend_path", mem,
				 "resume_vm", 1, "vsock_override", "uds_path", fp->fc_vsock);
	if (body && s->tap)
		json_object_set_new(body, "network_overrides",
				    json_pack("[{s:s, s:s}]", "iface_id", "eth0", "host_dev_name",
					      s->tap));
	return fc_put(fp->api, lp, "/snapshot/load", body, API_SNAP_MS, err);
}

static int fc_restore(const struct vmm_host *h, const struct vmm_spec *s, const struct vmm_snap *sn,
		      struct vmm_proc *ret, struct berr *err)
{
	struct vmm_spec rs = *s;
	/* The drives must be opened by the paths the snapshot recorded. */
	rs.snapshottable = true;
	int r = fc_launch(h, &rs, sn, ret, err);
	return r < 0 ? berr_wrap(err, "restoring from %s", sn->dir) : 0;
}

static int vm_state(const struct vmm_proc *p, const char *state, struct berr *err)
{
	if (!p || !proc_alive(p->pid, p->pid_start))
		return berr_set(err, ESRCH, "firecracker (pid %d) is not running", p ? (int)p->pid : 0);
	_cleanup_free_ char *sock = vmm_runtime_get(p, "api");
	if (!sock)
		return berr_set(err, EINVAL, "the stored firecracker runtime has no API socket path");
	json_t *body = json_pack("{s:s}", "state", state);
	int r = fc_api_call(sock, "PATCH", "/vm", body, API_CTL_MS, NULL, err);
	json_decref(body);
	return r;
}

static int fc_pause(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	return vm_state(p, "Paused", err);
}

static int fc_resume(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err)
{
	(void)h;
	return vm_state(p, "Resumed", err);
}

/* Paused: PUT /snapshot/create.  Under the jailer Firecracker writes in
 * its jail (the same filesystem as the snapshots: both are below the state
 * dir), and the files are moved out. */
static int fc_snap_save(const struct vmm_host *h, const struct vmm_proc *p, const struct vmm_spec *s,
			const struct vmm_snap *sn, struct berr *err)
{
	_cleanup_free_ char *sock = vmm_runtime_get(p, "api");
	_cleanup_free_ char *jail = vmm_runtime_get(p, "jail");
	_cleanup_free_ char *log = vmm_runtime_get(p, "log");
	_cleanup_free_ char *version = vmm_runtime_get(p, "version");
	_cleanup_free_ char *st_tmp = NULL, *mem_tmp = NULL;
	const char *fc_state, *fc_mem;
	struct fc_version fv;
	(void)h, (void)s;

	if (!sock)
		return berr_set(err, EINVAL, "the stored firecracker runtime has no API socket path");
	if (!version || fc_version_parse(version, &fv) < 0 || !fc_version_at_least(&fv, 1, 16, 0))
		return berr_set(err, ENOTSUP, "firecracker %s cannot make banger's snapshots (a "
				"restore needs vsock_override, 1.16.0)", version ? version : "?");
	if (jail) {
		st_tmp = path_join(jail, J_SNAP_STATE);
		mem_tmp = path_join(jail, J_SNAP_MEM);
		fc_state = "/" J_SNAP_STATE;
		fc_mem = "/" J_SNAP_MEM;
	} else {
		st_tmp = xasprintf("%s.tmp", sn->state);
		mem_tmp = xasprintf("%s.tmp", sn->mem);
		fc_state = st_tmp;
		fc_mem = mem_tmp;
	}
	unlink(st_tmp);
	unlink(mem_tmp);
	json_t *body = json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path", fc_state,
				 "mem_file_path", fc_mem);
	int r = fc_api_call(sock, "PUT", "/snapshot/create", body, API_SNAP_MS, NULL, err);
	json_decref(body);
	if (r == 0 && (rename(st_tmp, sn->state) < 0 || rename(mem_tmp, sn->mem) < 0))
		r = berr_set(err, errno, "cannot move the snapshot's files to %s: %s", sn->dir,
			     strerror(errno));
	if (r < 0) {
		unlink(st_tmp);
		unlink(mem_tmp);
		log_note(log, "snapshot: %s", err->msg);
		return r;
	}
	return 0;
}

/* What a restore must match: the binary (and so the version), whether
 * jailed, the devices in the order they are configured. */
static int fc_snap_machine(const struct vmm_host *h, const struct vmm_spec *s, struct sbuf *out,
			   struct berr *err)
{
	const char *bin = fc_bin(h);
	_cleanup_free_ char *path = strchr(bin, '/') ? xstrdup(bin) : find_program(bin);
	_cleanup_free_ char *real = path ? realpath(path, NULL) : NULL;
	struct stat st;
	if (!real || stat(real, &st) < 0)
		return berr_set(err, ENOENT, "cannot find the firecracker binary %s", bin);
	sbuf_printf(out, "vmm firecracker\n");
	sbuf_printf(out, "binary %s %lld %lld\n", real, (long long)st.st_size,
		    (long long)st.st_mtim.tv_sec);
	sbuf_printf(out, "jailed %s\n", jailed(h) ? "yes" : "no");
	sbuf_printf(out, "devices drive:rootfs%s%s vsock\n", s->workdisk ? " drive:work" : "",
		    s->tap ? " net:eth0" : "");
	return 0;
}

const struct vmm_driver vmm_firecracker_driver = {
	.name = "firecracker",
	.start = fc_start,
	.shutdown = fc_shutdown,
	.kill = fc_kill,
	.adopt = fc_adopt,
	.forget = fc_forget,
	.snap_machine = fc_snap_machine,
	.pause = fc_pause,
	.resume = fc_resume,
	.snap_save = fc_snap_save,
	.restore = fc_restore,
};
