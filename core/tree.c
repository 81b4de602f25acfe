/* core/tree.c: the files of the control tree (DESIGN §3).
 *
 * Each directory kind is a table of files; renderers produce the text a
 * read returns, writers parse what was written and call the VM/catalog
 * operations.  Failures are recorded here, once, in the nearest err file. */
#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "catview.h"
#include "ctl.h"
#include "defaults.h"
#include "treeimg.h"
#include "workspace.h"
#include "internal.h"
#include "tree_int.h"

/* ---- helpers ---------------------------------------------------------- */

static int get_vm(struct banger *b, int64_t id, struct vm_rec *r, struct berr *err)
{
	return store_vm_get(b->store, id, r, err);
}

static void set_global_err(struct banger *b, const struct berr *err)
{
	pthread_mutex_lock(&b->lock);
	snprintf(b->global_err, sizeof(b->global_err), "%s", err->msg);
	pthread_mutex_unlock(&b->lock);
}

/* ---- root files ------------------------------------------------------- */

static const char readme_text[] =
	"banger control tree\n"
	"\n"
	"  ctl        global verbs; read it to list them\n"
	"  doctor     host checks: ok|warn|fail NAME DETAIL\n"
	"  defaults   effective VM sizing and where each value comes from\n"
	"  err        the last error of a global operation (mkdir, import)\n"
	"  vms/       mkdir vms/NAME creates a VM, rmdir deletes a stopped one\n"
	"  images/    root filesystem images: registered, pulling, offered by a catalog\n"
	"             (echo pull > images/NAME/ctl), buildable; images/ctl: refresh,\n"
	"             import, pull-oci, import-oci; images/catalogs: each catalog\n"
	"  kernels/   kernel bundles, the same way\n"
	"  execs/     mkdir execs/NAME, then run a command in a VM through its agent\n"
	"  snapshots/ what new VMs are restored from; rmdir removes one\n"
	"\n"
	"A VM directory holds: ctl (write start|stop|kill|restart), state, status,\n"
	"config, vcpu, memory_mib, disk_size, image, kernel, vmm, console (follows\n"
	"while the VM runs), log, err.  Writing a value file or 'key value' lines to\n"
	"config changes a stopped VM.  Failed writes return an errno and leave the\n"
	"reason in the VM's err file.  See docs/tree.md for the full contract.\n";

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
	{ "README", 0444, 0, root_readme, NULL, NULL },
	{ "ctl", 0644, 0, root_ctl_read, root_ctl_write, NULL },
	{ "doctor", 0444, 0, root_doctor, NULL, NULL },
	{ "defaults", 0444, 0, root_defaults, NULL, NULL },
	{ "err", 0444, 0, root_err, NULL, NULL },
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
	struct ctl_req *req = xmalloc(sizeof(*req));
	int r = ctl_parse(data, len, vm_verb_cmds, VERB_COUNT, req, err);
	if (r == 0 && req->cmd->id == VERB_WORKSPACE) {
		struct ws_ident ident = { .uid = who->uid, .gid = who->gid,
					  .groups = who->groups, .ngroups = who->ngroups };
		r = vm_workspace(b, id, req->argv[0], &ident, err);
	} else if (r == 0) {
		r = vm_verb(b, id, (enum vm_verb)req->cmd->id, err);
	}
	free(req);
	return r;
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
	if (s == VM_RUNNING && r.started_at)
		fmt_uptime(now_ms() - r.started_at, up, sizeof(up));
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

static const struct tree_file vm_files[] = {
	{ "ctl", 0644, 0, vm_ctl_read, vm_ctl_write, NULL },
	{ "state", 0444, 0, vm_state_read, NULL, NULL },
	{ "status", 0444, 0, vm_status_read, NULL, NULL },
	{ "config", 0644, 0, vm_config_read, vm_config_write, NULL },
	{ "vcpu", 0644, 0, vm_vcpu_read, vm_vcpu_write, NULL },
	{ "memory_mib", 0644, 0, vm_memory_mib_read, vm_memory_mib_write, NULL },
	{ "disk_size", 0644, 0, vm_disk_size_read, vm_disk_size_write, NULL },
	{ "image", 0644, 0, vm_image_read, vm_image_write, NULL },
	{ "kernel", 0644, 0, vm_kernel_read, vm_kernel_write, NULL },
	{ "vmm", 0644, 0, vm_vmm_read, vm_vmm_write, NULL },
	{ "ip", 0444, 0, vm_ip_read, NULL, NULL },
	{ "mac", 0444, 0, vm_mac_read, NULL, NULL },
	{ "ssh", 0444, 0, vm_ssh_read, NULL, NULL },
	{ "hostkey", 0444, 0, vm_hostkey_read, NULL, NULL },
	{ "console", 0444, TF_STREAM, NULL, NULL, vm_console_stream },
	{ "log", 0444, TF_STREAM, NULL, NULL, vm_log_stream },
	{ "err", 0444, 0, vm_err_read, NULL, NULL },
	{ "agent", 0444, TF_STREAM, NULL, NULL, tree_vm_agent_stream },
};

/* ---- the tables -------------------------------------------------------- */

static const struct tree_subdir subdirs[] = {
	{ "vms", NK_VMS, NK_VM, true },
	{ "images", NK_IMAGES, NK_IMAGE, false },
	{ "kernels", NK_KERNELS, NK_KERNEL, false },
	{ "execs", NK_EXECS, NK_EXEC, true },
	{ "snapshots", NK_SNAPSHOTS, NK_SNAPSHOT, false },
};

const struct tree_subdir *tree_subdirs(size_t *n)
{
	*n = ARRAY_SIZE(subdirs);
	return subdirs;
}

const struct tree_file *tree_files(enum node_kind k, size_t *n)
{
	switch (k) {
	case NK_ROOT:
		*n = ARRAY_SIZE(root_files);
		return root_files;
	case NK_VM:
		*n = ARRAY_SIZE(vm_files);
		return vm_files;
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

static const char *coll_kind(enum node_kind dir)
{
	return dir == NK_KERNELS || dir == NK_KERNEL ? "kernel" : "image";
}

int tree_list(struct banger *b, enum node_kind dir, struct tree_entry **ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (dir == NK_VMS) {
		struct vm_rec *all;
		size_t n;
		int r = store_vm_list(b->store, &all, &n, NULL);
		if (r < 0)
			return r;
		*ret = xcalloc(n, sizeof(**ret));
		for (size_t i = 0; i < n; i++) {
			(*ret)[i].id = all[i].id;
			snprintf((*ret)[i].name, sizeof((*ret)[i].name), "%s", all[i].name);
		}
		*ret_n = n;
		vm_rec_array_free(all, n);
		return 0;
	}
	if (dir == NK_IMAGES || dir == NK_KERNELS) {
		struct cv_entry *all;
		size_t n;
		int r = catview_list(&b->cat, coll_kind(dir), &all, &n);
		if (r < 0)
			return r;
		*ret = xcalloc(n ? n : 1, sizeof(**ret));
		for (size_t i = 0; i < n; i++) {
			(*ret)[i].id = all[i].id;
			snprintf((*ret)[i].name, sizeof((*ret)[i].name), "%s", all[i].name);
		}
		*ret_n = n;
		free(all);
		return 0;
	}
	if (dir == NK_EXECS) {
		struct vmexec_ent *all;
		size_t n;
		vmexec_list(b->vmexec, &all, &n);
		*ret = xcalloc(n ? n : 1, sizeof(**ret));
		for (size_t i = 0; i < n; i++) {
			(*ret)[i].id = all[i].id;
			snprintf((*ret)[i].name, sizeof((*ret)[i].name), "%s", all[i].name);
		}
		*ret_n = n;
		free(all);
		return 0;
	}
	if (dir == NK_SNAPSHOTS) {
		struct snap_info *all;
		size_t n;
		snapstore_list(b->snaps, &all, &n, NULL);
		*ret = xcalloc(n ? n : 1, sizeof(**ret));
		for (size_t i = 0; i < n; i++) {
			(*ret)[i].id = tree_snap_id(all[i].meta.key);
			snprintf((*ret)[i].name, sizeof((*ret)[i].name), "%s", all[i].meta.name);
		}
		*ret_n = n;
		snap_info_array_free(all, n);
		return 0;
	}
	return -ENOTDIR;
}

int tree_lookup(struct banger *b, enum node_kind dir, const char *name, int64_t *ret_id)
{
	if (strlen(name) >= STORE_NAME_MAX)
		return -ENOENT;
	if (dir == NK_VMS) {
		struct vm_rec r = { 0 };
		int ret = store_vm_get_by_name(b->store, name, &r, NULL);
		if (ret == 0)
			*ret_id = r.id;
		vm_rec_clear(&r);
		return ret < 0 ? -ENOENT : 0;
	}
	if (dir == NK_IMAGES || dir == NK_KERNELS)
		return catview_lookup(&b->cat, coll_kind(dir), name, ret_id) < 0 ? -ENOENT : 0;
	if (dir == NK_EXECS)
		return vmexec_lookup(b->vmexec, name, ret_id);
	if (dir == NK_SNAPSHOTS) {
		struct snap_info si;
		if (snapstore_get(b->snaps, name, &si, NULL) < 0)
			return -ENOENT;
		*ret_id = tree_snap_id(si.meta.key);
		snap_meta_clear(&si.meta);
		return 0;
	}
	return -ENOENT;
}

int tree_exists(struct banger *b, enum node_kind k, int64_t id)
{
	if (k == NK_VM) {
		struct vm_rec r = { 0 };
		int ret = store_vm_get(b->store, id, &r, NULL);
		vm_rec_clear(&r);
		return ret < 0 ? -ENOENT : 0;
	}
	if (k == NK_IMAGE || k == NK_KERNEL)
		return catview_exists(&b->cat, coll_kind(k), id);
	if (k == NK_EXEC)
		return vmexec_exists(b->vmexec, id) ? 0 : -ENOENT;
	if (k == NK_SNAPSHOT) {
		struct snap_info si;
		if (tree_snap_by_id(b, id, &si) < 0)
			return -ENOENT;
		snap_meta_clear(&si.meta);
		return 0;
	}
	return 0;
}

int tree_read(struct banger *b, enum node_kind k, int64_t id, const struct tree_file *f,
	      struct sbuf *out)
{
	struct berr err = { 0 };
	(void)k;
	if (!f->read)
		return -EACCES;
	return f->read(b, id, out, &err);
}

int tree_write(struct banger *b, enum node_kind k, int64_t id, const struct tree_file *f,
	       const char *data, size_t len, const struct tree_caller *who)
{
	struct berr err = { 0 };
	int r;
	if (!f->write) {
		berr_set(&err, EACCES, "%s is read-only", f->name);
		r = -EACCES;
	} else {
		r = f->write(b, id, data, len, who, &err);
	}
	if (r < 0) {
		if (!err.msg[0])
			berr_set(&err, -r, "%s: %s", f->name, strerror(-r));
		if (k == NK_VM) {
			vm_record_error(b, id, &err);
		} else if (k == NK_EXEC) {
			vmexec_set_err(b->vmexec, id, &err);
		} else {
			if (k == NK_IMAGE || k == NK_KERNEL)
				catview_set_err(&b->cat, coll_kind(k), id, err.msg);
			set_global_err(b, &err);
		}
		blog("write to %s failed: %s", f->name, err.msg);
	}
	return r;
}

int tree_mkdir(struct banger *b, enum node_kind dir, const char *name, int64_t *ret_id)
{
	struct berr err = { 0 };
	int r;
	if (dir == NK_EXECS) {
		r = vmexec_create(b->vmexec, name, ret_id, &err);
	} else if (dir != NK_VMS) {
		berr_set(&err, EPERM, "mkdir is only for vms/ and execs/ (images and kernels are "
			 "imported, snapshots made with 'echo snapshot > vms/NAME/ctl')");
		r = -EPERM;
	} else {
		r = vm_create(b, name, ret_id, &err);
	}
	if (r < 0) {
		set_global_err(b, &err);
		blog("mkdir %s: %s", name, err.msg);
	}
	return r;
}

int tree_rmdir(struct banger *b, enum node_kind dir, const char *name)
{
	struct berr err = { 0 };
	int64_t id;
	int r = tree_lookup(b, dir, name, &id);
	if (r < 0)
		return r;
	if (dir == NK_EXECS || dir == NK_SNAPSHOTS) {
		r = dir == NK_EXECS ? vmexec_remove(b->vmexec, name, &err)
				    : snapstore_remove(b->snaps, name, &err);
		if (r < 0) {
			set_global_err(b, &err);
			blog("rmdir %s: %s", name, err.msg);
		}
		return r;
	}
	if (dir == NK_VMS)
		r = vm_delete(b, id, &err);
	else
		r = catview_remove(&b->cat, coll_kind(dir), name, &err);
	if (r == 0 && dir != NK_VMS)
		banger_changed(b);
	if (r < 0) {
		if (dir == NK_VMS)
			vm_record_error(b, id, &err);
		else
			catview_set_err(&b->cat, coll_kind(dir), id, err.msg);
		set_global_err(b, &err);
		blog("rmdir %s: %s", name, err.msg);
	}
	return r;
}
