/* core/vmm.h: the VMM driver interface.
 *
 * A driver turns a fully resolved vmm_spec into a running VMM process and
 * knows how to ask it to stop, kill it, and re-attach to it after a daemon
 * restart.  It holds no state of its own between calls: everything needed
 * to find the process again lives in struct vmm_proc, which the core
 * persists (pid, pid_start, runtime JSON).  Waiting for a process to exit
 * and deciding what a VM's state is are the core's job (core/vm*.c). */
#ifndef BANGER_VMM_H
#define BANGER_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "util.h"

struct vmm_spec {
	const char *name;          /* VM name (DNS label) */
	const char *kernel;        /* ELF vmlinux */
	const char *initrd;        /* may be NULL */
	const char *cmdline_extra; /* appended to the driver's kernel args; may be NULL */
	const char *rootfs;        /* raw ext4 image, becomes /dev/vda */
	const char *workdisk;      /* raw ext4 image, becomes /dev/vdb; may be NULL */
	int64_t vcpu;
	int64_t memory_mib;
	const char *console_path;  /* serial output file (truncated at start) */
	const char *log_path;      /* VMM stdout/stderr and driver notes (appended) */
	const char *run_dir;       /* 0700 dir for this VM's sockets (exists) */
	const char *tap;           /* host tap device or NULL (no network) */
	int tap_fd;                /* for drivers with tap_by_fd: the open tap (> 2), which the
				      VMM inherits; the caller keeps and closes its own copy */
	const char *mac;           /* guest MAC or NULL */
	uint32_t vsock_cid;        /* guest CID (>= 3, unique per VM) for drivers with vsock */
	bool snapshottable;        /* the VM may be snapshotted (docs/snapshots.md): QEMU keeps
				      its memory in a shared memfd a snapshot can copy; an
				      unjailed Firecracker runs in the VM's directory and opens
				      its drives by relative paths, which a snapshot records, so
				      that every restore opens its own */
};

/* A snapshot's files, as a driver writes and reads them (docs/snapshots.md).
 * The core makes dir, copies the disks and checksums everything; the
 * driver only captures and restores the machine. */
struct vmm_snap {
	const char *dir;        /* the snapshot's directory (exists, 0700) */
	const char *state;      /* device state (the driver's format) */
	const char *mem;        /* guest memory: read-only, mapped privately by every restore */
};

struct priv; /* core/priv.h */

/* Host-wide driver settings, resolved from config by the core. */
struct vmm_host {
	const char *qemu_bin;      /* "qemu-system-x86_64" or a path */
	const char *accel;         /* "kvm" or "tcg": already resolved, never "auto" */
	int64_t tsc_khz;           /* host TSC kHz for tsc_early_khz= under TCG, 0 = omit */
	const char *firecracker_bin;
	/* The jailer (docs/firecracker.md "The jailer"): NULL or "" runs
	 * Firecracker directly.  Set, it is launched through priv (a root
	 * daemon runs this jailer itself; otherwise bangerd-root runs its own
	 * --jailer).  Jails are <state_dir>/jail/<vm>/root. */
	const char *jailer_bin;
	const char *state_dir;
	struct priv *priv;         /* the daemon's privileged operations (core/priv.h) */
};

/* What identifies a running VMM.  runtime is a driver-owned JSON object
 * (socket paths, argv, version...) that the core stores verbatim. */
struct vmm_proc {
	pid_t pid;
	int64_t pid_start;         /* /proc/PID/stat field 22 (starttime) */
	char *runtime;             /* malloc'ed JSON, may be NULL */
};
void vmm_proc_clear(struct vmm_proc *p);

struct vmm_driver {
	const char *name;          /* "qemu", "firecracker" */
	/* true: start() takes the tap as an open descriptor (spec->tap_fd,
	 * made by the daemon through core/priv.h), so the VMM needs no access
	 * to /dev/net/tun; false: the VMM opens the persistent tap spec->tap
	 * by name itself. */
	bool tap_by_fd;
	/* true: the VMM opens a qcow2 root disk (spec->rootfs ending in
	 * DISK_OVERLAY_SUFFIX), so a restore's root disk may be an overlay of
	 * the snapshot's (core/vmdisk.h). */
	bool root_overlay;
	/* Launch the VMM (in its own session, so it outlives the daemon)
	 * and return once it is running and its control socket answers.
	 * On failure nothing is left running and err says why (including
	 * the last lines of the VMM's log when it died). */
	int (*start)(const struct vmm_host *h, const struct vmm_spec *s,
		     struct vmm_proc *ret, struct berr *err);
	/* Ask the guest to shut down cleanly (ACPI power button,
	 * Ctrl-Alt-Del...).  Returns without waiting. */
	int (*shutdown)(const struct vmm_host *h, const struct vmm_proc *p,
			struct berr *err);
	/* Stop the VMM now (SIGKILL after the driver's quit attempt). */
	int (*kill)(const struct vmm_host *h, const struct vmm_proc *p,
		    struct berr *err);
	/* After a daemon restart: check that p still names our VMM (pid
	 * alive with the same start time, control socket answers). 0 if
	 * adopted, -ESRCH if the process is gone. */
	int (*adopt)(const struct vmm_host *h, const struct vmm_proc *p,
		     struct berr *err);
	/* The VM is being deleted: remove what the driver keeps for it
	 * outside the VM's state and run dirs (Firecracker's jail).  May be
	 * NULL. */
	int (*forget)(const struct vmm_host *h, const char *name, struct berr *err);

	/* ---- Snapshots (docs/snapshots.md); all NULL: the driver has none.
	 * The core calls pause, snap_save (while paused), copies the disks,
	 * resume, and writes the metadata. */
	/* Everything a restore needs to match beyond the core's own key
	 * (image, kernel, sizes): "key value" lines (binary, accelerator,
	 * machine, device set), appended to out. */
	int (*snap_machine)(const struct vmm_host *h, const struct vmm_spec *s,
			    struct sbuf *out, struct berr *err);
	/* May this running VM be snapshotted at all (before anything is
	 * touched)?  NULL: yes. */
	int (*snap_possible)(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
	int (*pause)(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
	int (*resume)(const struct vmm_host *h, const struct vmm_proc *p, struct berr *err);
	/* The VM is paused: write sn->state and sn->mem (complete files, or
	 * none).  s is the spec the VM was started with. */
	int (*snap_save)(const struct vmm_host *h, const struct vmm_proc *p,
			 const struct vmm_spec *s, const struct vmm_snap *sn, struct berr *err);
	/* Like start, from a snapshot: a fresh VMM process whose guest runs
	 * where the snapshot left it.  s describes the new VM (its disks,
	 * tap, sockets); what the guest saw at snapshot time (sizes, devices)
	 * must match, which the core checks through snap_machine. */
	int (*restore)(const struct vmm_host *h, const struct vmm_spec *s,
		       const struct vmm_snap *sn, struct vmm_proc *ret, struct berr *err);
};

extern const struct vmm_driver vmm_qemu_driver;
/* core/vmm_firecracker.c: Firecracker over its API socket (docs/firecracker.md). */
extern const struct vmm_driver vmm_firecracker_driver;

/* Process helpers shared by drivers and the core (core/proc.c). */
int proc_start_time(pid_t pid, int64_t *ret);  /* -ESRCH if gone */
/* true if pid is alive (not a zombie) and its start time matches. */
bool proc_alive(pid_t pid, int64_t start);
/* Reap pid if it is our exited child; returns 1 and sets *status when
 * reaped, 0 when still running or not our child, negative on error.
 * *status is the raw wait status (use WIFEXITED/WEXITSTATUS). */
int proc_reap(pid_t pid, int *status);

/* Accelerator for QEMU (core/accel.c).  want is "auto", "kvm" or "tcg"
 * (NULL means auto); *ret becomes "kvm" or "tcg" and why (may be NULL)
 * says in words how it was chosen.  auto never picks KVM where standard
 * guests cannot boot (no usable /dev/kvm, or a PVM nested host).
 * Explicit "kvm" without a usable /dev/kvm is an error. */
int accel_resolve(const char *want, const char **ret, char *why, size_t whylen,
		  struct berr *err);
/* The same with every host path (/dev/kvm, /sys/module, /proc/modules)
 * looked up under root (for tests; "" is the real host). */
int accel_resolve_in(const char *root, const char *want, const char **ret,
		     char *why, size_t whylen, struct berr *err);
/* Host TSC rate in kHz from /proc/cpuinfo "cpu MHz", 0 if unknown. */
int64_t host_tsc_khz(void);

#endif
