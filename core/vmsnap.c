/* core/vmsnap.c: vm.c's half for snapshots and the guest agent
 * (docs/snapshots.md, docs/agent.md): whether a start restores, what a
 * snapshot's key is, the automatic snapshot after a first cold boot, the
 * snapshot verb, and the agent watch of a VM that runs.  The same room as
 * vm.c (it takes struct banger, and only vm.c, banger.c and the tree call
 * it); everything it uses is below it: snapshot.c, vmagent.c, vmssh.c and
 * the drivers. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"
#include "vmdisk.h"

#define vm_log(b, name, ...) vmf_note((b)->paths.state_dir, name, __VA_ARGS__)

bool vm_snapshots_on(struct banger *b)
{
	return b->cfg.snapshot && strcmp(b->cfg.snapshot, "off") != 0;
}

/* The image's manifest (NULL: no such image, or none). */
static json_t *image_manifest(struct banger *b, const char *image)
{
	struct image_rec img = { 0 };
	json_t *m = NULL;
	if (image[0] && store_image_get_by_name(b->store, "image", image, &img, NULL) == 0 &&
	    img.manifest) {
		json_error_t je;
		m = json_loads(img.manifest, 0, &je);
	}
	image_rec_clear(&img);
	return m;
}

/* The image's manifest names the guest agent it carries (banger's images,
 * and container images with the agent injected: docs/oci.md). */
bool vm_image_has_agent(struct banger *b, const char *image)
{
	json_t *m = image_manifest(b, image);
	const char *sha = json_string_value(json_object_get(m, "agent_sha256"));
	bool yes = sha && *sha;
	json_decref(m);
	return yes;
}

/* A restored guest becomes itself through the agent running the quiesce
 * script, mount, ip and ssh-keygen and rewriting /etc (vmagent.c): what
 * banger's own images have.  A container image booted by banger's init
 * (its manifest names an "init") may have no /bin/sh, ip, mount or
 * ssh-keygen, and its sshd's host key is where that init put it: no
 * snapshot is made of its VMs or restored into them, so none keeps a
 * snapshot's identity.  NULL when it can; else why not, one sentence. */
static const char *image_no_restore(struct banger *b, const char *image)
{
	json_t *m = image_manifest(b, image);
	bool container = json_string_value(json_object_get(m, "init")) != NULL;
	json_decref(m);
	return container ? "it is a container image booted by banger's init, whose guest may lack "
			   "the /bin/sh, ip, mount and ssh-keygen a restored VM needs to take its own "
			   "host key, address and machine-id"
			 : NULL;
}

static const char *sha_of(struct banger *b, const char *kind, const char *name, char out[65])
{
	struct image_rec img = { 0 };
	out[0] = 0;
	if (name[0] && store_image_get_by_name(b->store, kind, name, &img, NULL) == 0)
		snprintf(out, 65, "%s", img.sha256);
	image_rec_clear(&img);
	return out[0] ? out : "-";
}

/* The work disk's size: the file's when it exists (a workspace made it),
 * else what the start will make. */
static uint64_t work_size_of(struct banger *b, const struct vm_rec *r, const struct vm_eff *e)
{
	_cleanup_free_ char *work = vmf_path(b->paths.state_dir, r->name, "work.ext4");
	struct stat st;
	return stat(work, &st) == 0 ? (uint64_t)st.st_size : e->disk_size;
}

int vm_snap_key_text(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		     const struct vmm_driver *drv, struct sbuf *out, struct berr *err)
{
	char sha[65];
	if (!drv->snap_machine)
		return berr_set(err, ENOTSUP, "the %s driver cannot make snapshots", drv->name);
	bool net = vmnet_on(b->vmnet);
	/* How a snapshot leaves the guest (vmagent.c's quiesce script): a
	 * restore depends on it. */
	sbuf_printf(out, "guest_prep %d\n", VMAGENT_PREP_VERSION);
	sbuf_printf(out, "image %s %s\n", e->image, sha_of(b, "image", e->image, sha));
	sbuf_printf(out, "kernel %s %s\n", e->kernel, sha_of(b, "kernel", e->kernel, sha));
	sbuf_printf(out, "vcpu %lld\nmemory_mib %lld\nwork_size %llu\nnetwork %s\n",
		    (long long)e->vcpu, (long long)e->memory_mib,
		    (unsigned long long)work_size_of(b, r, e), net ? "yes" : "no");
	/* What the driver's machine looks like to the guest. */
	struct vmm_spec probe = { .name = r->name, .vcpu = e->vcpu, .memory_mib = e->memory_mib,
				  .workdisk = "work", .tap = net ? "tap" : NULL };
	return drv->snap_machine(&b->vmm_host, &probe, out, err);
}

/* Is line (len bytes) one of text's lines? */
static bool has_line(const char *text, const char *line, size_t len)
{
	for (const char *t = text; t && *t;) {
		const char *nl = strchr(t, '\n');
		size_t tl = nl ? (size_t)(nl - t) : strlen(t);
		if (tl == len && strncmp(t, line, len) == 0)
			return true;
		t = nl ? nl + 1 : NULL;
	}
	return false;
}

/* The first line of mine that theirs lacks, in words: "KEY is A here, B in
 * the snapshot" ("" when they hold the same lines). */
static void first_difference(const char *mine, const char *theirs, char *out, size_t len)
{
	out[0] = 0;
	for (const char *m = mine; m && *m;) {
		const char *nl = strchr(m, '\n');
		size_t ml = nl ? (size_t)(nl - m) : strlen(m);
		size_t kl = strcspn(m, " \n");
		if (ml && !has_line(theirs, m, ml)) {
			const char *other = "nothing";
			size_t ol = strlen(other);
			for (const char *t = theirs; t && *t;) {
				const char *tn = strchr(t, '\n');
				size_t tl = tn ? (size_t)(tn - t) : strlen(t);
				if (tl > kl && strncmp(t, m, kl) == 0 && t[kl] == ' ') {
					other = t + kl + 1;
					ol = tl - kl - 1;
					break;
				}
				t = tn ? tn + 1 : NULL;
			}
			size_t vl = ml > kl ? ml - kl - 1 : 0;
			snprintf(out, len, "%.*s is %.*s here, %.*s in the snapshot", (int)kl, m, (int)vl,
				 m + kl + (ml > kl ? 1 : 0), (int)ol, other);
			return;
		}
		m = nl ? nl + 1 : NULL;
	}
}

/* Why no snapshot matches: one of the image's differs (say how), or none. */
static void no_match_reason(struct banger *b, const struct vm_eff *e, const char *key_text,
			    const char key[65], char *out, size_t len)
{
	struct snap_info *all = NULL;
	size_t n = 0;
	snapstore_list(b->snaps, &all, &n, NULL);
	for (size_t i = 0; i < n; i++) {
		char diff[256];
		if (strcmp(all[i].meta.image, e->image) != 0)
			continue;
		first_difference(key_text, all[i].meta.key_text, diff, sizeof(diff));
		if (diff[0]) {
			snprintf(out, len, "snapshot %s of image %s does not match this VM: %s; cold boot",
				 all[i].meta.name, e->image, diff);
			snap_info_array_free(all, n);
			return;
		}
	}
	snap_info_array_free(all, n);
	snprintf(out, len, "no snapshot of image %s with kernel %s, %lld vCPUs, %lld MiB yet "
		 "(key %.12s); cold boot", e->image, e->kernel, (long long)e->vcpu,
		 (long long)e->memory_mib, key);
}

void vm_snap_plan(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		  const struct vmm_driver *drv, struct vm_snap_plan *p)
{
	memset(p, 0, sizeof(*p));
	bool first = !vmroot_made(b->paths.state_dir, r->name);
	bool agent = vm_image_has_agent(b, e->image);
	p->agent = agent;
	if (!vm_snapshots_on(b)) {
		snprintf(p->why, sizeof(p->why), "snapshots are off (snapshot = off); cold boot");
		return;
	}
	if (!drv->restore || !drv->snap_machine) {
		snprintf(p->why, sizeof(p->why), "the %s driver cannot restore snapshots; cold boot",
			 drv->name);
		return;
	}
	if (!first) {
		snprintf(p->why, sizeof(p->why), "not the VM's first start (its root disk is its own "
			 "now); cold boot");
		return;
	}
	if (!agent) {
		snprintf(p->why, sizeof(p->why), "image %s has no guest agent, which a restored VM needs "
			 "to become itself; cold boot", e->image);
		return;
	}
	const char *no = image_no_restore(b, e->image);
	if (no) {
		snprintf(p->why, sizeof(p->why), "image %s takes no snapshots: %s; cold boot", e->image,
			 no);
		return;
	}
	struct sbuf kt;
	sbuf_init(&kt);
	struct berr err = { 0 };
	if (vm_snap_key_text(b, r, e, drv, &kt, &err) < 0) {
		snprintf(p->why, sizeof(p->why), "%.480s; cold boot", err.msg);
		sbuf_free(&kt);
		return;
	}
	char key[65];
	snap_key(kt.buf, key);
	int q = snapstore_find(b->snaps, key, &p->use, &err);
	if (q == 0) {
		p->restore = true;
	} else if (q == -ENOENT) {
		p->auto_snapshot = true; /* nothing with this key: make it after the boot */
		no_match_reason(b, e, kt.buf, key, p->why, sizeof(p->why));
	} else {
		snprintf(p->why, sizeof(p->why), "%.480s; cold boot", err.msg);
		p->serious = true;
	}
	sbuf_free(&kt);
}

void vm_snap_plan_clear(struct banger *b, struct vm_snap_plan *p)
{
	if (p->restore)
		snapstore_release(b->snaps, &p->use);
	memset(p, 0, sizeof(*p));
}

/* ---- the agent watch -------------------------------------------------------- */

static void random_hex(char *out, size_t nbytes)
{
	unsigned char buf[32];
	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	if (getrandom(buf, nbytes, 0) != (ssize_t)nbytes) {
		uint64_t t = (uint64_t)mono_ms() ^ (uint64_t)now_ms() << 20;
		for (size_t i = 0; i < nbytes; i++)
			buf[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)i;
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
}

/* The channel of a running VM (its runtime JSON); false if it has none. */
static bool chan_of(const struct vm_rec *r, struct vmagent_chan *ch)
{
	json_error_t je;
	json_t *rt = r->runtime ? json_loads(r->runtime, 0, &je) : NULL;
	const char *agent = json_string_value(json_object_get(rt, "agent"));
	const char *vsock = json_string_value(json_object_get(rt, "vsock"));
	const char *qmp = json_string_value(json_object_get(rt, "qmp"));
	memset(ch, 0, sizeof(*ch));
	bool ok = false;
	if (agent && strlen(agent) < sizeof(ch->path)) {
		snprintf(ch->path, sizeof(ch->path), "%s", agent);
		if (qmp && strlen(qmp) < sizeof(ch->qmp))
			snprintf(ch->qmp, sizeof(ch->qmp), "%s", qmp);
		ok = true;
	} else if (vsock && strlen(vsock) < sizeof(ch->path)) {
		ch->fc_vsock = true;
		snprintf(ch->path, sizeof(ch->path), "%s", vsock);
		ok = true;
	}
	json_decref(rt);
	return ok;
}

bool vm_agent_watch(struct banger *b, const struct vm_rec *r, const struct vm_snap_plan *p,
		    bool restored, bool adopted, int64_t vmm_started_mono)
{
	struct vmagent_chan ch;
	if (!chan_of(r, &ch))
		return false;
	struct vmagent_identity id = { 0 }, *idp = NULL;
	if (restored) {
		char ip[16], mac[18], gw[16];
		netplan_addr(&b->plan, r->net_slot, ip, mac);
		snprintf(id.hostname, sizeof(id.hostname), "%s", r->name);
		random_hex(id.machine_id, 16);
		if (ip[0]) {
			netplan_gateway(&b->plan, gw);
			snprintf(id.mac, sizeof(id.mac), "%s", mac);
			snprintf(id.addr, sizeof(id.addr), "%s/%d", ip, b->plan.prefix);
			snprintf(id.gw, sizeof(id.gw), "%s", gw);
			_cleanup_free_ char *args = netplan_cmdline(&b->plan, r->net_slot, r->name);
			const char *d = strstr(args, "banger.dns=");
			if (d)
				snprintf(id.dns, sizeof(id.dns), "%.*s", (int)strcspn(d + 11, " "), d + 11);
		}
		id.work_disk = true;
		idp = &id;
	}
	bool prepare = !adopted && !restored && p && p->auto_snapshot;
	vmagent_watch(b->vmagent, r->id, r->name, &ch, idp, prepare, vmm_started_mono);
	return true;
}

/* vmagent's pin_hostkey: the key a restored guest just made. */
int vm_agent_pin(struct banger *b, int64_t id, const char *pubkey, struct berr *err)
{
	struct vm_rec r = { 0 };
	int ret = store_vm_get(b->store, id, &r, err);
	if (ret == 0)
		ret = vmssh_pin(b->vmssh, &r, pubkey, err);
	if (ret == 0)
		vm_log(b, r.name, "ssh: pinned the host key the guest made after its restore");
	vm_rec_clear(&r);
	return ret;
}

/* ---- making snapshots ---------------------------------------------------------- */

static int quiesce(void *ctx, struct berr *err)
{
	return vmagent_guest_quiesce(ctx, err);
}

static int thaw(void *ctx, struct berr *err)
{
	return vmagent_guest_thaw(ctx, err);
}

int vm_snap_make(struct banger *b, const struct vm_rec *r, const struct vm_eff *e,
		 const char *kernel, const char *initrd, const struct vmm_proc *proc,
		 struct agent *a, const atomic_bool *cancel, bool only_if_missing, char *ret_name,
		 struct berr *err)
{
	_cleanup_free_ char *run = NULL, *console = NULL, *log = NULL, *root = NULL, *work = NULL;
	_cleanup_free_ char *netargs = NULL;
	const struct vmm_driver *drv = vmm_of_vm(&b->choice, r, err);
	int ret;

	if (!drv)
		return -err->code;
	const char *no = image_no_restore(b, e->image);
	if (no)
		return berr_set(err, ENOTSUP, "image %s takes no snapshots: %s", e->image, no);
	struct sbuf kt;
	sbuf_init(&kt);
	if ((ret = vm_snap_key_text(b, r, e, drv, &kt, err)) < 0)
		goto out;
	char key[65];
	snap_key(kt.buf, key);
	if (only_if_missing && snapstore_has(b->snaps, key)) {
		ret = -EEXIST;
		goto out;
	}
	run = vmf_run_dir(b->paths.runtime_dir, r->name);
	console = vmf_path(b->paths.state_dir, r->name, "console.log");
	log = vmf_path(b->paths.state_dir, r->name, "vmm.log");
	root = vmroot_path(b->paths.state_dir, r->name);
	work = vmf_path(b->paths.state_dir, r->name, "work.ext4");
	netargs = vmnet_on(b->vmnet) ? netplan_cmdline(&b->plan, r->net_slot, r->name) : xstrdup("");
	char ip[16], mac[18], tap[16];
	netplan_addr(&b->plan, r->net_slot, ip, mac);
	netplan_tap_name(r->id, tap);
	struct vmm_spec spec = {
		.name = r->name, .kernel = kernel, .initrd = initrd, .rootfs = root, .workdisk = work,
		.vcpu = e->vcpu, .memory_mib = e->memory_mib, .console_path = console,
		.log_path = log, .run_dir = run, .cmdline_extra = netargs[0] ? netargs : NULL,
		.tap = ip[0] ? tap : NULL, .mac = ip[0] ? mac : NULL, .tap_fd = -1,
		.vsock_cid = (uint32_t)(r->id + 2),
	};
	struct snap_source src = {
		.drv = drv, .host = &b->vmm_host, .proc = proc, .spec = &spec, .key_text = kt.buf,
		.image = e->image, .kernel = e->kernel, .vm = r->name, .cmdline = netargs,
		.work_size = work_size_of(b, r, e),
		.state_dir = b->paths.state_dir, .guest_quiesce = quiesce, .guest_thaw = thaw,
		.ctx = a, .cancel = cancel,
	};
	ret = snapstore_create(b->snaps, &src, ret_name, err);
out:
	sbuf_free(&kt);
	return ret;
}

/* ---- restoring ----------------------------------------------------------------- */

void vm_snap_fall_back(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		       const struct berr *why)
{
	snprintf(p->why, sizeof(p->why), "restore from snapshot %s failed: %.400s; cold boot",
		 p->use.meta.name, why->msg);
	blog("vm %s: %s", r->name, p->why);
	/* the snapshot's disk: the cold boot clones the image */
	vmroot_drop(b->paths.state_dir, r->name);
	snapstore_release(b->snaps, &p->use);
	p->restore = false;
	p->serious = true;
}

int vm_snap_clone_root(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		       const struct vmm_driver *drv, struct berr *err)
{
	_cleanup_free_ char *root = vmf_path(b->paths.state_dir, r->name, "rootfs.ext4");
	_cleanup_free_ char *dir = vmf_dir(b->paths.state_dir, r->name);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", root);
	enum clone_method m;
	int ret = mkdir_p(dir, 0700);
	if (ret < 0)
		return berr_set(err, -ret, "cannot create %s: %s", dir, strerror(-ret));
	unlink(tmp);
	/* A VMM that opens qcow2: an overlay over the snapshot's disk, no
	 * copy (as a floor restore by hand would: -drive snapshot=on). */
	if (drv->root_overlay) {
		struct berr oe = { 0 };
		int64_t t0 = mono_ms();
		if (vmroot_overlay(b->paths.state_dir, r->name, p->use.rootfs, &oe) == 0) {
			vm_log(b, r->name, "root disk: an overlay of snapshot %s's (%s over %s, "
			       "%lld ms)", p->use.meta.name, VMROOT_OVERLAY, VMROOT_BASE,
			       (long long)(mono_ms() - t0));
			return 0;
		}
		vm_log(b, r->name, "root disk: no overlay (%s); copying the snapshot's", oe.msg);
	}
	/* As disk_clone says, but always a file (reflink or sparse copy): a
	 * restore's root disk is made here, not through vmdisk.c's dm path. */
	ret = disk_clone_as(p->use.rootfs, tmp,
			    b->clone_method == CLONE_DM_SNAPSHOT ? CLONE_AUTO : b->clone_method, &m,
			    err);
	if (ret == 0 && rename(tmp, root) < 0)
		ret = berr_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (ret < 0) {
		unlink(tmp);
		return berr_wrap(err, "cloning the snapshot's root disk");
	}
	vm_log(b, r->name, "root disk cloned from snapshot %s (%s)", p->use.meta.name,
	       clone_method_name(m));
	return 0;
}

int vm_snap_restore(struct banger *b, const struct vm_rec *r, struct vm_snap_plan *p,
		    const struct vmm_driver *drv, struct vmm_spec *spec,
		    const struct vmdisk_req *dq, const char *netargs, struct vmm_proc *ret,
		    struct berr *err)
{
	struct vmm_snap sn = { .dir = p->use.dir, .state = p->use.state, .mem = p->use.mem };
	struct vmm_spec rs = *spec;
	/* The command line the guest booted with (the new identity comes
	 * through the agent). */
	rs.cmdline_extra = p->use.meta.cmdline[0] ? p->use.meta.cmdline : NULL;
	vm_log(b, r->name, "restoring from snapshot %s", p->use.meta.name);
	int64_t t0 = mono_ms();
	int q = drv->restore(&b->vmm_host, &rs, &sn, ret, err);
	if (q == 0) {
		vm_log(b, r->name, "timing: restore %lld ms", (long long)(mono_ms() - t0));
		return 0;
	}
	vm_snap_fall_back(b, r, p, err);
	vm_log(b, r->name, "snapshot: %s", p->why);
	berr_clear(err);
	bool first = false;
	q = vmdisk_prepare(dq, &first, err);
	if (q < 0)
		return q;
	spec->cmdline_extra = netargs && netargs[0] ? netargs : NULL;
	return drv->start(&b->vmm_host, spec, ret, err);
}

/* ---- doctor -------------------------------------------------------------------- */

void vm_snap_doctor(struct banger *b, struct sbuf *out)
{
	char why[256] = "", image[STORE_NAME_MAX];
	const char *prov;
	const struct vmm_driver *drv = vmm_select(&b->choice, NULL, why, sizeof(why), NULL);
	size_t n = snapstore_count(b->snaps);
	catalog_default(&b->cat, "image", image, sizeof(image), &prov);
	const char *no = image[0] ? image_no_restore(b, image) : NULL;
	if (!vm_snapshots_on(b))
		sbuf_printf(out, "warn snapshot off (snapshot = off in config.toml): every start is a "
			    "cold boot\n");
	else if (!drv)
		sbuf_printf(out, "warn snapshot no usable VMM here, so nothing can be restored\n");
	else if (!drv->restore || !drv->snap_save)
		sbuf_printf(out, "warn snapshot the %s driver cannot make or restore snapshots: every "
			    "start is a cold boot\n", drv->name);
	else if (image[0] && !vm_image_has_agent(b, image))
		sbuf_printf(out, "warn snapshot the default image %s has no guest agent, which a "
			    "restored VM needs: its VMs boot cold (rebuild it: banger image build)\n",
			    image);
	else if (no)
		sbuf_printf(out, "warn snapshot the default image %s takes no snapshots: %s; its VMs "
			    "boot cold\n", image, no);
	else {
		_cleanup_free_ char *qimg = drv->root_overlay ? find_program("qemu-img") : NULL;
		sbuf_printf(out, "ok snapshot restore possible with %s: %zu snapshot%s in %s; a VM's "
			    "first start restores from the one matching its image, kernel, vcpu, "
			    "memory, disk size and devices, and the first cold boot of a kind makes "
			    "it; a restored VM's root disk is %s\n", drv->name, n, n == 1 ? "" : "s",
			    snapstore_dir(b->snaps),
			    qimg ? "a qcow2 overlay of the snapshot's (qemu-img)"
			    : drv->root_overlay ? "a copy of the snapshot's (no qemu-img: install "
			    "qemu-utils for overlays)" : "a copy of the snapshot's");
	}
}
