/* core/tree.c: the files of the control tree (DESIGN §3).
 *
 * Each directory kind is a table of files; renderers produce the text a
 * read returns, writers parse what was written and call the VM/catalog
 * operations.  Failures are recorded here, once, in the nearest err file.
 * Rendered text is kept (core/treecache.h) until the next change; nodes,
 * handles and access live in treenode.c and treeaccess.c. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catview.h"
#include "ctl.h"
#include "defaults.h"
#include "treeimg.h"
#include "treeint.h"
#include "treelive.h"
#include "tree_int.h"

/* ---- helpers ---------------------------------------------------------- */

static int get_vm(struct banger *b, int64_t id, struct vm_rec *r, struct berr *err)
{
	return store_vm_get(b->store, id, r, err);
}

/* ---- root files ------------------------------------------------------- */

static const char readme_text[] =
	"banger control tree\n"
	"\n"
	"  ctl        global verbs; read it to list them\n"
	"  doctor     host checks: ok|warn|fail NAME DETAIL\n"
	"  defaults   effective VM sizing and where each value comes from\n"
	"  err        the last error of a global operation (mkdir, import)\n"
	"  events     one line per change while you read it: 'web running'\n"
	"  vms/       mkdir vms/NAME creates a VM, rmdir deletes a stopped one;\n"
	"             open vms/clone for a VM that lives as long as the open file\n"
	"  images/    root filesystem images: registered, pulling, offered by a catalog\n"
	"             (echo pull > images/NAME/ctl), buildable; images/ctl: refresh,\n"
	"             import, pull-oci, import-oci; images/catalogs: each catalog\n"
	"  kernels/   kernel bundles, the same way\n"
	"  execs/     mkdir execs/NAME, then run a command in a VM through its agent\n"
	"  snapshots/ what new VMs are restored from; rmdir removes one\n"
	"\n"
	"A VM directory holds: ctl (write start|stop|kill|restart), state, status,\n"
	"config, vcpu, memory_mib, disk_size, image, kernel, vmm, ready and wait\n"
	"(block until ssh is ready, until the next state change), console (follows\n"
	"while the VM runs), console.log (the console so far), log, err, and ports/\n"
	"(mkdir ports/8080 forwards 127.0.0.1:8080 to the guest).  Writing a value\n"
	"file or 'key value' lines to config changes a stopped VM.  Failed writes\n"
	"return an errno and leave the reason in the VM's err file.  See\n"
	"docs/tree.md for the full contract.\n";

static int root_readme(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	(void)b, (void)id, (void)err;
	sbuf_puts(out, readme_text);
	return 0;
}

enum { RC_IMPORT, RC_RESCAN };
static const struct ctl_cmd root_cmds[] = {
	{ RC_IMPORT, "import", 1, 1, "import DIR|FILE.tar.zst (a bundle directory with manifest.json, or its archive)" },
	{ RC_RESCAN, "rescan", 0, 0, "rescan (import new bundles from the image cache)" },
};

static void ctl_render(const struct ctl_cmd *tab, size_t n, struct sbuf *out)
{
	for (size_t i = 0; i < n; i++)
		sbuf_printf(out, "%s\n", tab[i].usage);
}

static int root_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	(void)b, (void)id, (void)err;
	ctl_render(root_cmds, ARRAY_SIZE(root_cmds), out);
	return 0;
}

static int root_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			  const struct tree_caller *who, struct berr *err)
{
	struct ctl_req *req = xmalloc(sizeof(*req));
	int r;
	(void)id;
	r = ctl_parse(data, len, root_cmds, ARRAY_SIZE(root_cmds), req, err);
	if (r == 0) {
		switch (req->cmd->id) {
		case RC_IMPORT:
			r = catalog_import_path(&b->cat, req->argv[0], NULL, 0, err);
			break;
		case RC_RESCAN:
			if (catalog_scan(&b->cat, err) > 0)
				r = -(err->code ? err->code : EIO);
			break;
		}
	}
	free(req);
	return r;
}

static int root_doctor(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	(void)id, (void)err;
	doctor_render(b, out);
	return 0;
}

static int root_defaults(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct default_row rows[DEFAULTS_MAX];
	size_t n = defaults_rows(b, rows);
	(void)id, (void)err;
	/* The same rows doctor explains (core/defaults.c). */
	for (size_t i = 0; i < n; i++)
		sbuf_printf(out, "%s %s %s\n", rows[i].key, rows[i].value, rows[i].prov);
	return 0;
}

static int root_err(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	(void)id, (void)err;
	if (b->global_err[0])
		sbuf_printf(out, "%s\n", b->global_err);
	return 0;
}

static const struct tree_file root_files[] = {
	{ "README", 0444, 0, .read = root_readme },
	{ "ctl", 0644, 0, .read = root_ctl_read, .write = root_ctl_write },
	{ "doctor", 0444, TF_NOCACHE, .read = root_doctor },
	{ "defaults", 0444, TF_NOCACHE, .read = root_defaults },
	{ "err", 0444, 0, .read = root_err },
	{ "events", 0444, TF_HANDLE | TF_BLOCKS | TF_SEQ, .open = live_events_open,
	  .hread = live_events_read, .hready = live_events_ready, .release = live_release },
};

/* ---- VM files --------------------------------------------------------- */

static int vm_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	enum vm_state s = VM_FAILED;
	char verbs[64];
	int ret = get_vm(b, id, &r, err);
	if (ret < 0)
		return ret;
	vm_state_parse(r.state, &s);
	vm_verbs_valid(s, verbs, sizeof(verbs));
	for (char *p = verbs; *p; p++)
		if (*p == ' ')
			*p = '\n';
	if (verbs[0])
		sbuf_printf(out, "%s\n", verbs);
	vm_rec_clear(&r);
	return 0;
}

static int vm_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			const struct tree_caller *who, struct berr *err)
{
	return tree_vm_ctl(b, id, data, len, who, err);
}

static int vm_state_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = get_vm(b, id, &r, err);
	if (ret == 0)
		sbuf_printf(out, "%s\n", r.state);
	vm_rec_clear(&r);
	return ret;
}

static void fmt_uptime(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;
	snprintf(buf, len, "%lldd%02lldh%02lldm%02llds", (long long)(s / 86400),
		 (long long)(s / 3600 % 24), (long long)(s / 60 % 60), (long long)(s % 60));
}

static int vm_status_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vm_eff e;
	enum vm_state s = VM_FAILED;
	char sz[32], up[32] = "-";
	int ret = get_vm(b, id, &r, err);
	if (ret < 0)
		return ret;
	vm_state_parse(r.state, &s);
	vm_effective(b, &r, &e);
	format_size(e.disk_size, sz, sizeof(sz));
	/* Whole wall-clock seconds, so the text changes only when the second
	 * does (TF_CLOCK: cached for that second). */
	if (s == VM_RUNNING && r.started_at)
		fmt_uptime(((int64_t)time(NULL) - r.started_at / 1000) * 1000, up, sizeof(up));
	sbuf_printf(out, "name %s\n", r.name);
	sbuf_printf(out, "state %s\n", r.state);
	char ip[16], mac[18];
	netplan_addr(&b->plan, r.net_slot, ip, mac);
	sbuf_printf(out, "ip %s\n", ip[0] ? ip : "-");
	sbuf_printf(out, "mac %s\n", mac[0] ? mac : "-");
	if (r.pid)
		sbuf_printf(out, "pid %lld\n", (long long)r.pid);
	else
		sbuf_printf(out, "pid -\n");
	sbuf_printf(out, "vcpu %lld\n", (long long)e.vcpu);
	sbuf_printf(out, "memory_mib %lld\n", (long long)e.memory_mib);
	sbuf_printf(out, "disk_size %s\n", sz);
	sbuf_printf(out, "image %s\n", e.image[0] ? e.image : "-");
	sbuf_printf(out, "kernel %s\n", e.kernel[0] ? e.kernel : "-");
	{
		char why[256] = "";
		const struct vmm_driver *d = vmm_of_vm(&b->choice, &r, NULL);
		vmm_select(&b->choice, r.vmm, why, sizeof(why), NULL);
		sbuf_printf(out, "vmm %s\n", d ? d->name : "-");
		sbuf_printf(out, "vmm_reason %s\n", why[0] ? why : "-");
	}
	{
		/* The jail of a VM started under the jailer (its runtime JSON). */
		json_error_t je;
		json_t *rt = r.runtime && vm_state_live(s) ? json_loads(r.runtime, 0, &je) : NULL;
		const char *jail = json_string_value(json_object_get(rt, "jail"));
		sbuf_printf(out, "jail %s\n", jail ? jail : "-");
		json_decref(rt);
	}
	sbuf_printf(out, "accel %s\n", b->vmm_host.accel);
	sbuf_printf(out, "disk_clone %s\n", clone_method_name(b->clone_method));
	sbuf_printf(out, "uptime %s\n", up);
	/* Not ready while the agent still changes the guest under it (its
	 * identity, the snapshot): a session would see the network go. */
	enum ssh_state ss = vmssh_state(b->vmssh, id);
	if (ss == SSH_READY && vmagent_busy(b->vmagent, id))
		ss = SSH_WAITING;
	sbuf_printf(out, "ssh %s\n", ssh_state_name(ss));
	/* The guest agent and where the VM came from (docs/snapshots.md). */
	sbuf_printf(out, "agent %s\n", agent_state_name(vmagent_state(b->vmagent, id, NULL, 0)));
	{
		json_error_t je;
		json_t *rt = r.runtime && vm_state_live(s) ? json_loads(r.runtime, 0, &je) : NULL;
		const char *snap = json_string_value(json_object_get(rt, "snapshot"));
		const char *base = snap ? strrchr(snap, '/') : NULL;
		sbuf_printf(out, "boot %s%s\n", !vm_state_live(s) ? "-" : snap ? "restored " : "cold",
			    snap ? (base ? base + 1 : snap) : "");
		json_decref(rt);
	}
	vm_rec_clear(&r);
	return 0;
}

static int vm_net_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err,
		       bool want_mac)
{
	struct vm_rec r = { 0 };
	char ip[16], mac[18];
	int ret = get_vm(b, id, &r, err);
	if (ret < 0)
		return ret;
	netplan_addr(&b->plan, r.net_slot, ip, mac);
	sbuf_printf(out, "%s\n", want_mac ? (mac[0] ? mac : "-") : (ip[0] ? ip : "-"));
	vm_rec_clear(&r);
	return 0;
}

static int vm_ip_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vm_net_read(b, id, out, err, false);
}

static int vm_mac_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vm_net_read(b, id, out, err, true);
}

static int vm_ssh_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = get_vm(b, id, &r, err);
	if (ret == 0)
		vmssh_command(b->vmssh, &r, out);
	vm_rec_clear(&r);
	return ret;
}

static int vm_hostkey_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = get_vm(b, id, &r, err);
	if (ret == 0 && r.hostkey && r.hostkey[0])
		sbuf_printf(out, "%s\n", r.hostkey);
	vm_rec_clear(&r);
	return ret;
}

static int vm_config_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	struct vm_eff e;
	char sz[32];
	int ret = get_vm(b, id, &r, err);
	if (ret < 0)
		return ret;
	vm_effective(b, &r, &e);
	format_size(e.disk_size, sz, sizeof(sz));
	sbuf_printf(out, "vcpu %lld\n", (long long)e.vcpu);
	sbuf_printf(out, "memory_mib %lld\n", (long long)e.memory_mib);
	sbuf_printf(out, "disk_size %s\n", sz);
	sbuf_printf(out, "image %s\n", e.image[0] ? e.image : "default");
	sbuf_printf(out, "kernel %s\n", e.kernel[0] ? e.kernel : "default");
	sbuf_printf(out, "vmm %s\n", r.vmm[0] ? r.vmm : "default");
	vm_rec_clear(&r);
	return 0;
}

static int vm_config_write(struct banger *b, int64_t id, const char *data, size_t len,
			   const struct tree_caller *who, struct berr *err)
{
	struct kv_req *req = xmalloc(sizeof(*req));
	int r = kv_parse(data, len, NULL, req, err);
	/* All lines or none (vm_set). */
	if (r == 0)
		r = vm_set(b, id, req->kv, req->n, err);
	free(req);
	return r;
}

/* Single-value files: one per setting. */
#define VALUE_FILE(key)                                                              \
	static int vm_##key##_read(struct banger *b, int64_t id, struct sbuf *out,  \
				   struct berr *err)                                 \
	{                                                                            \
		return value_read(b, id, #key, out, err);                            \
	}                                                                            \
	static int vm_##key##_write(struct banger *b, int64_t id, const char *data, \
				    size_t len, const struct tree_caller *who,       \
				    struct berr *err)                                \
	{                                                                            \
		return value_write(b, id, #key, data, len, err);                     \
	}

static int value_read(struct banger *b, int64_t id, const char *key, struct sbuf *out,
		      struct berr *err)
{
	struct sbuf all;
	int r;
	sbuf_init(&all);
	r = vm_config_read(b, id, &all, err);
	if (r == 0) {
		size_t kl = strlen(key);
		for (char *line = all.buf; line && *line;) {
			char *nl = strchr(line, '\n');
			if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
				sbuf_add(out, line + kl + 1, (size_t)(nl - line) - kl);
				break;
			}
			line = nl ? nl + 1 : NULL;
		}
	}
	sbuf_free(&all);
	return r;
}

static int value_write(struct banger *b, int64_t id, const char *key, const char *data,
		       size_t len, struct berr *err)
{
	struct kv_req *req = xmalloc(sizeof(*req));
	int r = kv_parse(data, len, key, req, err);
	if (r == 0)
		r = vm_set(b, id, req->kv, 1, err);
	free(req);
	return r;
}

VALUE_FILE(vcpu)
VALUE_FILE(memory_mib)
VALUE_FILE(disk_size)
VALUE_FILE(image)
VALUE_FILE(kernel)
VALUE_FILE(vmm)

static int vm_err_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = get_vm(b, id, &r, err);
	if (ret == 0 && r.last_error && r.last_error[0])
		sbuf_printf(out, "%s\n", r.last_error);
	vm_rec_clear(&r);
	return ret;
}

static ssize_t vm_file_stream(struct banger *b, int64_t id, const char *file, bool follow,
			      off_t off, char *buf, size_t len, bool *live)
{
	struct vm_rec r = { 0 };
	enum vm_state s = VM_FAILED;
	ssize_t n;

	*live = false;
	if (get_vm(b, id, &r, NULL) < 0)
		return -ENOENT;
	vm_state_parse(r.state, &s);
	_cleanup_free_ char *path = vmf_path(b->paths.state_dir, r.name, file);
	vm_rec_clear(&r);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		n = errno == ENOENT ? 0 : -errno;
	else
		n = pread(fd, buf, len, off);
	if (n < 0)
		n = -errno;
	*live = follow && vm_state_live(s);
	return n;
}

static ssize_t vm_console_stream(struct banger *b, int64_t id, off_t off, char *buf,
				 size_t len, bool *live)
{
	return vm_file_stream(b, id, "console.log", true, off, buf, len, live);
}

static ssize_t vm_log_stream(struct banger *b, int64_t id, off_t off, char *buf,
			     size_t len, bool *live)
{
	return vm_file_stream(b, id, "vmm.log", false, off, buf, len, live);
}

/* console.log: the console so far, then the end, whatever the VM does. */
static ssize_t vm_console_log_stream(struct banger *b, int64_t id, off_t off, char *buf,
				     size_t len, bool *live)
{
	return vm_file_stream(b, id, "console.log", false, off, buf, len, live);
}

static int vm_file_size(struct banger *b, int64_t id, const char *file, uint64_t *ret)
{
	struct vm_rec r = { 0 };
	struct stat st;
	*ret = 0;
	if (get_vm(b, id, &r, NULL) < 0)
		return -ENOENT;
	_cleanup_free_ char *path = vmf_path(b->paths.state_dir, r.name, file);
	vm_rec_clear(&r);
	if (stat(path, &st) == 0)
		*ret = (uint64_t)st.st_size;
	return 0;
}

static int vm_console_size(struct banger *b, int64_t id, uint64_t *ret)
{
	return vm_file_size(b, id, "console.log", ret);
}

static int vm_log_size(struct banger *b, int64_t id, uint64_t *ret)
{
	return vm_file_size(b, id, "vmm.log", ret);
}

static const struct tree_file vm_files[] = {
	{ "ctl", 0644, 0, .read = vm_ctl_read, .write = vm_ctl_write },
	{ "state", 0444, 0, .read = vm_state_read },
	{ "status", 0444, TF_CLOCK, .read = vm_status_read },
	{ "config", 0644, 0, .read = vm_config_read, .write = vm_config_write },
	{ "vcpu", 0644, 0, .read = vm_vcpu_read, .write = vm_vcpu_write },
	{ "memory_mib", 0644, 0, .read = vm_memory_mib_read, .write = vm_memory_mib_write },
	{ "disk_size", 0644, 0, .read = vm_disk_size_read, .write = vm_disk_size_write },
	{ "image", 0644, 0, .read = vm_image_read, .write = vm_image_write },
	{ "kernel", 0644, 0, .read = vm_kernel_read, .write = vm_kernel_write },
	{ "vmm", 0644, 0, .read = vm_vmm_read, .write = vm_vmm_write },
	{ "ip", 0444, 0, .read = vm_ip_read },
	{ "mac", 0444, 0, .read = vm_mac_read },
	{ "ssh", 0444, 0, .read = vm_ssh_read },
	{ "hostkey", 0444, 0, .read = vm_hostkey_read },
	{ "console", 0444, TF_STREAM | TF_BLOCKS, .stream = vm_console_stream },
	{ "console.log", 0444, TF_STREAM | TF_SIZED, .stream = vm_console_log_stream,
	  .size = vm_console_size },
	{ "log", 0444, TF_STREAM | TF_SIZED, .stream = vm_log_stream, .size = vm_log_size },
	{ "err", 0444, 0, .read = vm_err_read },
	{ "ready", 0444, TF_HANDLE | TF_BLOCKS, .open = live_ready_open,
	  .hread = live_text_read, .hready = live_text_ready, .release = live_release },
	{ "wait", 0444, TF_HANDLE | TF_BLOCKS, .open = live_wait_open, .hread = live_text_read,
	  .hready = live_text_ready, .release = live_release },
	/* "ready", "failed" or "none" once the agent settled: a read waits till then */
	{ "agent", 0444, TF_STREAM | TF_BLOCKS, .stream = tree_vm_agent_stream },
};

/* ---- vms/: the clone file --------------------------------------------------- */

static const struct tree_file vms_files[] = {
	{ "clone", 0666, TF_HANDLE | TF_RDWR, .open = live_clone_open, .hread = live_clone_read,
	  .hwrite = live_clone_write, .hready = live_clone_ready,
	  .release = live_clone_release },
};

/* ---- vms/NAME/ports/PORT/ --------------------------------------------------- */

static int port_addr_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmports_addr(b->ports, id, out, err);
}

static const struct tree_file port_files[] = {
	{ "addr", 0444, 0, .read = port_addr_read },
};

/* ---- the tables -------------------------------------------------------- */

/* vm.c reports a deleted VM's name as gone from directory kind 1. */
_Static_assert(NK_VMS == 1, "vm_delete's events_unlink names vms/ as 1");

static const struct tree_subdir subdirs[] = {
	{ "vms", NK_VMS, NK_VM, true },
	{ "images", NK_IMAGES, NK_IMAGE, false },
	{ "kernels", NK_KERNELS, NK_KERNEL, false },
	{ "execs", NK_EXECS, NK_EXEC, true },
	{ "snapshots", NK_SNAPSHOTS, NK_SNAPSHOT, false },
};

static const struct tree_subdir vm_subdirs[] = {
	{ "ports", NK_PORTS, NK_PORT, true },
};

const struct tree_subdir *tree_subdirs(size_t *n)
{
	*n = ARRAY_SIZE(subdirs);
	return subdirs;
}

const struct tree_subdir *tree_obj_subdirs(enum node_kind k, size_t *n)
{
	if (k == NK_VM) {
		*n = ARRAY_SIZE(vm_subdirs);
		return vm_subdirs;
	}
	*n = 0;
	return NULL;
}

const struct tree_file *tree_files(enum node_kind k, size_t *n)
{
	switch (k) {
	case NK_ROOT:
		*n = ARRAY_SIZE(root_files);
		return root_files;
	case NK_VMS:
		*n = ARRAY_SIZE(vms_files);
		return vms_files;
	case NK_VM:
		*n = ARRAY_SIZE(vm_files);
		return vm_files;
	case NK_PORT:
		*n = ARRAY_SIZE(port_files);
		return port_files;
	case NK_IMAGE:
	case NK_KERNEL:
		return treeimg_entry_files(k == NK_IMAGE, n);
	case NK_IMAGES:
		return treeimg_dir_files(true, n);
	case NK_KERNELS:
		return treeimg_dir_files(false, n);
	case NK_EXEC:
		*n = n_exec_files;
		return exec_files;
	case NK_SNAPSHOT:
		*n = n_snap_files;
		return snap_files;
	default:
		*n = 0;
		return NULL;
	}
}

const struct tree_file *tree_node_file(const struct tree_node *n)
{
	size_t cnt;
	if (n->file < 0)
		return NULL;
	const struct tree_file *f = tree_files(n->kind, &cnt);
	return f && (size_t)n->file < cnt ? &f[n->file] : NULL;
}

/* ---- reading and writing ---------------------------------------------------- */

int tree_read(struct banger *b, const struct tree_node *n, struct sbuf *out)
{
	struct berr err = { 0 };
	const struct tree_file *f = tree_node_file(n);
	if (!f || !f->read)
		return -EACCES;
	if (f->flags & TF_NOCACHE)
		return f->read(b, n->id, out, &err);
	/* The generation is read before rendering: a change stored meanwhile
	 * bumps it past this entry's (core/treecache.h). */
	struct tcache_key key = { (unsigned)n->kind, n->id, (unsigned)n->file };
	uint64_t gen = events_gen(b->events);
	int64_t sec = f->flags & TF_CLOCK ? (int64_t)time(NULL) : -1;
	if (tcache_get(b->tcache, &key, gen, sec, out))
		return 0;
	size_t start = out->len;
	int r = f->read(b, n->id, out, &err);
	if (r == 0)
		tcache_put(b->tcache, &key, gen, sec, out->buf ? out->buf + start : "",
			   out->len - start);
	return r;
}

/* The VM a node's failures belong to (0: none). */
static int64_t vm_of(struct banger *b, const struct tree_node *n)
{
	struct objmeta m;
	if (n->kind == NK_VM || n->kind == NK_PORTS)
		return n->id;
	if (n->kind == NK_PORT && tree_meta(b, NK_PORT, n->id, &m) == 0)
		return m.parent;
	return 0;
}

int tree_write(struct banger *b, const struct tree_node *n, const char *data, size_t len,
	       const struct tree_caller *who)
{
	struct berr err = { 0 };
	const struct tree_file *f = tree_node_file(n);
	int r;
	if (!f)
		return -EISDIR;
	if (!f->write) {
		berr_set(&err, EACCES, "%s is read-only", f->name);
		r = -EACCES;
	} else {
		r = f->write(b, n->id, data, len, who, &err);
	}
	if (n->kind == NK_ROOT || n->kind == NK_IMAGES || n->kind == NK_KERNELS ||
	    n->kind == NK_IMAGE || n->kind == NK_KERNEL)
		events_touch(b->events, 0); /* imports, pulls, builds: images, kernels, defaults */
	if (r < 0) {
		char what[96];
		if (!err.msg[0])
			berr_set(&err, -r, "%s: %s", f->name, strerror(-r));
		if (n->kind == NK_IMAGE || n->kind == NK_KERNEL)
			catview_set_err(&b->cat, n->kind == NK_KERNEL ? "kernel" : "image", n->id,
					err.msg);
		snprintf(what, sizeof(what), "write to %s failed", f->name);
		if (n->kind == NK_EXEC) { /* an exec's own err */
			vmexec_set_err(b->vmexec, n->id, &err);
			blog("%s: %s", what, err.msg);
		} else {
			tree_fail(b, n->kind, vm_of(b, n), &err, what);
		}
	}
	banger_changed(b);
	return r;
}
