/* core/doctor.c: host checks, one per line: ok|warn|fail NAME DETAIL. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#include "defaults.h"
#include "hostarch.h"
#include "util.h"
#include "vmdisk.h"

/* "/dev/fuse 0600 root:root" or "/dev/kvm missing". */
static void device_mode(struct sbuf *out, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		sbuf_printf(out, "%s missing", path);
		return;
	}
	struct passwd pwb, *pw = NULL;
	struct group grb, *gr = NULL;
	char buf[4096];
	sbuf_printf(out, "%s %04o ", path, (unsigned)(st.st_mode & 07777));
	if (getpwuid_r(st.st_uid, &pwb, buf, sizeof(buf), &pw) != 0)
		pw = NULL;
	if (pw)
		sbuf_puts(out, pw->pw_name);
	else
		sbuf_printf(out, "%u", (unsigned)st.st_uid);
	if (getgrgid_r(st.st_gid, &grb, buf, sizeof(buf), &gr) != 0)
		gr = NULL;
	if (gr)
		sbuf_printf(out, ":%s", gr->gr_name);
	else
		sbuf_printf(out, ":%u", (unsigned)st.st_gid);
}

/* Which device nodes this daemon relies on, and through whom. */
static void doctor_devices(struct banger *b, struct sbuf *out)
{
	enum priv_mode mode = priv_mode(b->priv);

	sbuf_puts(out, "ok devices ");
	device_mode(out, "/dev/fuse");
	sbuf_puts(out, ", ");
	device_mode(out, "/dev/net/tun");
	sbuf_puts(out, ", ");
	device_mode(out, "/dev/kvm");
	sbuf_puts(out, "\n");
	if (mode == PRIV_NONE)
		sbuf_printf(out, "warn privileges %s: start bangerd-root ('banger system install "
			    "--owner USER') or run bangerd as root for networking\n",
			    priv_why(b->priv));
	else
		sbuf_printf(out, "ok privileges %s: /dev/fuse and /dev/net/tun are opened %s\n",
			    priv_why(b->priv),
			    mode == PRIV_LOCAL ? "by bangerd itself" : "by bangerd-root and handed over");
	sbuf_printf(out, "ok tree mounted %s\n", b->mount_how ? b->mount_how : "(not yet)");
	/* Firecracker opens its tap by name (the jailer makes /dev/net/tun in
	 * its chroot); unjailed and unprivileged, it needs the host's node. */
	bool jailed = b->cfg.jailer_bin && *b->cfg.jailer_bin;
	if (mode != PRIV_LOCAL && !jailed && vmnet_on(b->vmnet) &&
	    access("/dev/net/tun", R_OK | W_OK) < 0)
		sbuf_printf(out, "warn firecracker-tap unjailed firecracker as uid %u cannot open "
			    "/dev/net/tun to reach its tap: set jailer_bin (bangerd-root "
			    "--jailer/--firecracker), or make /dev/net/tun 0666 (a udev rule); QEMU "
			    "is not affected (it gets its tap as a descriptor)\n",
			    (unsigned)getuid());
	if (access("/dev/kvm", F_OK) == 0 && access("/dev/kvm", R_OK | W_OK) < 0)
		sbuf_printf(out, "warn kvm-access /dev/kvm exists but uid %u cannot open it: add "
			    "the owner to group kvm (or a udev rule) to use KVM\n",
			    (unsigned)getuid());
}

void doctor_render(struct banger *b, struct sbuf *out)
{
	struct stat st;
	char machine[65], why_arch[200];

	if (host_arch_check(machine, sizeof(machine), why_arch, sizeof(why_arch)))
		sbuf_printf(out, "ok arch %s\n", machine);
	else
		sbuf_printf(out, "fail arch %s\n", why_arch);

	if (b->cfg.path)
		sbuf_printf(out, "ok config %s\n", b->cfg.path);
	else
		sbuf_printf(out, "ok config none: built-in defaults (%s absent)\n",
			    b->paths.config_path);

	if (stat("/dev/kvm", &st) < 0)
		sbuf_printf(out, "warn kvm /dev/kvm missing: guests run under tcg (slow)\n");
	else if (strcmp(b->vmm_host.accel, "kvm") == 0)
		sbuf_printf(out, "ok kvm /dev/kvm usable\n");
	else
		sbuf_printf(out, "warn kvm %s\n", b->accel_why);
	sbuf_printf(out, "ok accel %s (qemu_accel %s)\n", b->vmm_host.accel, b->cfg.qemu_accel);
	if (b->vmm_host.tsc_khz)
		sbuf_printf(out, "ok tsc %lld kHz (tsc_early_khz under tcg)\n",
			    (long long)b->vmm_host.tsc_khz);
	else
		sbuf_printf(out, "warn tsc host TSC frequency unknown: tcg boots may stall calibrating\n");

	_cleanup_free_ char *qemu = find_program(b->cfg.qemu_bin);
	if (qemu)
		sbuf_printf(out, "ok qemu %s\n", qemu);
	else
		sbuf_printf(out, "fail qemu %s not found: apt-get install qemu-system-x86\n",
			    b->cfg.qemu_bin);
	char why[256];
	const struct vmm_driver *d = vmm_select(&b->choice, "auto", why, sizeof(why), NULL);
	sbuf_printf(out, "ok vmm %s (%s%s%s)\n", d ? d->name : "-", why,
		    strcmp(b->cfg.vmm, "auto") ? "; config overrides: " : "",
		    strcmp(b->cfg.vmm, "auto") ? b->cfg.vmm : "");

	/* The jailer (docs/firecracker.md): who runs it, and whether it can. */
	if (b->cfg.jailer_bin && *b->cfg.jailer_bin) {
		_cleanup_free_ char *jailer = find_program(b->cfg.jailer_bin);
		if (priv_mode(b->priv) == PRIV_HELPER)
			sbuf_printf(out, "ok jailer through bangerd-root (its --jailer and "
				    "--firecracker), jails in %s/jail\n", b->paths.state_dir);
		else if (priv_mode(b->priv) == PRIV_NONE)
			sbuf_printf(out, "fail jailer jailer_bin is set, but bangerd is not root and "
				    "bangerd-root is not reachable: firecracker VMs cannot start\n");
		else if (!jailer)
			sbuf_printf(out, "fail jailer %s not found\n", b->cfg.jailer_bin);
		else
			sbuf_printf(out, "ok jailer %s (in-process: bangerd is root), jails in %s/jail\n",
				    jailer, b->paths.state_dir);
	} else {
		sbuf_printf(out, "ok jailer none: jailer_bin is not set, firecracker runs unjailed\n");
	}

	doctor_devices(b, out);
	/* disk_clone against this host, asked afresh (core/vmdisk.h). */
	enum clone_method cm;
	char cwhy[400];
	bool jailed = b->cfg.jailer_bin && *b->cfg.jailer_bin;
	int cr = vmdisk_clone_choose(b->cfg.disk_clone, b->priv, b->paths.state_dir, jailed, &cm,
				     cwhy, sizeof(cwhy));
	sbuf_printf(out, "%s disk-clone %s (%s)\n",
		    cr < 0 ? "fail" : cm == CLONE_SPARSE_COPY ? "warn" : "ok",
		    clone_method_name(cm), cwhy);
	vmnet_doctor(b->vmnet, out);
	vmssh_doctor(b->vmssh, out);
	/* Snapshots (docs/snapshots.md): can a start restore here? */
	vm_snap_doctor(b, out);
	hostnet_doctor(b->hostnet, out);
	if (access("/dev/mapper/control", F_OK) == 0)
		sbuf_printf(out, "ok device-mapper /dev/mapper/control present\n");
	else
		sbuf_printf(out, "warn device-mapper absent: no dm-snapshot clones\n");
	if (b->inject_dir)
		sbuf_printf(out, "ok oci-inject %s (banger's init, agent and sshd for OCI images)\n",
			    b->inject_dir);
	else
		sbuf_printf(out, "warn oci-inject none: OCI images cannot be imported (make builds "
			    "build/guest/inject, make install LIBEXECDIR/banger/inject; or set "
			    "oci_inject_dir)\n");

	const char *kinds[] = { "kernel", "image" };
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		struct image_rec *all = NULL;
		size_t n = 0;
		store_image_list(b->store, kinds[k], &all, &n, NULL);
		if (n)
			sbuf_printf(out, "ok %ss %zu registered\n", kinds[k], n);
		else
			sbuf_printf(out, "fail %ss none registered: run 'make images' or write "
				    "'import DIR' to ctl\n", kinds[k]);
		image_rec_array_free(all, n);
	}
	catalog_doctor(&b->cat, out);
	defaults_doctor(b, out);
}
